"""The hmm family's panels: the snapshot panel (transition heatmap with the true matrix, the
emissions per state, the live sample and the restarts' leaderboard of the snapshot a step
slider picks; `snapshots.py`), and `HMMDashboard` that holds them with the controls and the
log-likelihood curves in one widget (`dashboard.py`)."""

from .dashboard import HMMDashboard

__all__ = ["HMMDashboard"]
