"""The text family's panels: the sample strip and memorisation meter (`strip.py`), steering,
surprisal and attention (`views.py`), the baselines on the bits-per-character curves, and
`TextDashboard` that holds them all in one widget (`dashboard.py`)."""

from .dashboard import TextDashboard

__all__ = ["TextDashboard"]
