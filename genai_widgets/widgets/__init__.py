"""Live widgets for a training run (anywidget): each usable alone, composed by `Dashboard` (a GAN)
and `VAEDashboard` (a VAE); `run.dashboard()` picks the one for the run's family.

One `Flusher` thread per displayed run writes all widget state, at most ten times a second;
the trainer never calls into a widget."""

from .controls import Controls
from .dashboard import Dashboard, dashboard_for
from .data_space import DataSpace
from .flusher import Flusher
from .latent_explorer import LatentExplorer
from .latent_scatter import LatentScatter
from .loss_curve import LossCurve
from .sample_grid import SampleGrid
from .vae_dashboard import VAEDashboard

__all__ = [
    "Controls",
    "Dashboard",
    "DataSpace",
    "Flusher",
    "LatentExplorer",
    "LatentScatter",
    "LossCurve",
    "SampleGrid",
    "VAEDashboard",
    "dashboard_for",
]
