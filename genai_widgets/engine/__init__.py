"""The headless engine: losses, the GAN and VAE steps, the `Run` thread that trains any model
family, its store and checkpoints. Nothing here imports a widget library."""

from .api import build_run, load_run, train_gan, train_vae
from .checkpoint import CheckpointError
from .config import GANConfig, RunConfig, VAEConfig, make_config, make_vae_config
from .evaluators import Evaluator, ModelCopies
from .family import Family
from .gan_family import GANFamily
from .gan_step import GANParts, NonFiniteLossError, gan_step
from .losses import GANLoss, HingeLoss, MinimaxLoss, NonSaturatingLoss, WGANGPLoss, get_loss
from .run import RUNS, Event, Run, interpolate_latents
from .vae_family import VAEFamily
from .vae_step import VAEParts, elbo_terms, vae_step

__all__ = [
    "train_gan",
    "train_vae",
    "load_run",
    "build_run",
    "Run",
    "Event",
    "RUNS",
    "RunConfig",
    "GANConfig",
    "VAEConfig",
    "make_config",
    "make_vae_config",
    "Family",
    "GANFamily",
    "VAEFamily",
    "Evaluator",
    "ModelCopies",
    "GANParts",
    "gan_step",
    "VAEParts",
    "vae_step",
    "elbo_terms",
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
