"""Model registry and the built-in GAN architectures."""

from . import dcgan as _dcgan  # noqa: F401  (registers "dcgan")
from . import mlp as _mlp  # noqa: F401  (registers "mlp")
from ._registry import GANModels, get_model, list_models, register_model
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .mlp import MLPDiscriminator, MLPGenerator

__all__ = [
    "GANModels",
    "get_model",
    "list_models",
    "register_model",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "MLPGenerator",
    "MLPDiscriminator",
]
