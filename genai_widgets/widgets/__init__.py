"""Live widgets for a training run (anywidget): shared panels (loss curve, controls, sample
grid, the flusher, static PNGs) here, each family's own panels in a folder of its own
(`gan/`, `vae/`, `text/`, `hmm/`). Each widget is usable alone; `run.dashboard()` builds the one its family
names (`Family.dashboard`), and a family without its own gets `RunDashboard`.

One `Flusher` thread per displayed run writes all widget state, at most ten times a second;
the trainer never calls into a widget."""

from .controls import Controls
from .flusher import Flusher
from .gan.dashboard import Dashboard
from .gan.data_space import DataSpace
from .gan.latent_explorer import LatentExplorer
from .hmm.dashboard import HMMDashboard
from .loss_curve import LossCurve
from .run_dashboard import RunDashboard, dashboard_for
from .sample_grid import SampleGrid
from .text.dashboard import TextDashboard
from .vae.dashboard import VAEDashboard
from .vae.latent_scatter import LatentScatter

__all__ = [
    "Controls",
    "Dashboard",
    "DataSpace",
    "Flusher",
    "HMMDashboard",
    "LatentExplorer",
    "LatentScatter",
    "LossCurve",
    "RunDashboard",
    "SampleGrid",
    "TextDashboard",
    "VAEDashboard",
    "dashboard_for",
]
