"""The headless engine: losses, the GAN step, the `Run` thread, its store and checkpoints.
Nothing here imports a widget library."""

from .api import build_run, load_run, train_gan
from .checkpoint import CheckpointError
from .config import GANConfig, make_config
from .evaluators import Evaluator, ModelCopies
from .gan_step import GANParts, NonFiniteLossError, gan_step
from .losses import GANLoss, HingeLoss, MinimaxLoss, NonSaturatingLoss, WGANGPLoss, get_loss
from .run import RUNS, Event, Run, interpolate_latents

__all__ = [
    "train_gan",
    "load_run",
    "build_run",
    "Run",
    "Event",
    "RUNS",
    "GANConfig",
    "make_config",
    "Evaluator",
    "ModelCopies",
    "GANParts",
    "gan_step",
    "NonFiniteLossError",
    "CheckpointError",
    "GANLoss",
    "MinimaxLoss",
    "NonSaturatingLoss",
    "WGANGPLoss",
    "HingeLoss",
    "get_loss",
    "interpolate_latents",
]
