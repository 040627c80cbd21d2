"""Live widgets for a training run (anywidget): each usable alone, composed by `Dashboard`.

One `Flusher` thread per displayed run writes all widget state, at most ten times a second;
the trainer never calls into a widget."""

from .controls import Controls
from .dashboard import Dashboard
from .flusher import Flusher
from .latent_explorer import LatentExplorer
from .loss_curve import LossCurve
from .sample_grid import SampleGrid

__all__ = ["Controls", "Dashboard", "Flusher", "LatentExplorer", "LossCurve", "SampleGrid"]
