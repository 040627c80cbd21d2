"""Live widgets for a training run (anywidget): each usable alone, composed by `Dashboard`.

One `Flusher` thread per displayed run writes all widget state, at most ten times a second;
the trainer never calls into a widget."""

from .dashboard import Dashboard
from .data_space import DataSpace
from .flusher import Flusher
from .latent_explorer import LatentExplorer
from .loss_curve import LossCurve
from .sample_grid import SampleGrid

__all__ = ["Dashboard", "DataSpace", "Flusher", "LatentExplorer", "LossCurve", "SampleGrid"]
