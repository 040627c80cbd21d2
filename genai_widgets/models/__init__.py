"""Model registry and the built-in architectures: GANs (dcgan, mlp), VAEs (conv-vae) and the
text family's char-gpt."""

from . import char_gpt as _char_gpt  # noqa: F401  (registers "char-gpt")
from . import dcgan as _dcgan  # noqa: F401  (registers "dcgan")
from . import mlp as _mlp  # noqa: F401  (registers "mlp")
from . import vae as _vae  # noqa: F401  (registers "conv-vae")
from ._registry import (
    GANModels,
    VAEModels,
    check_model_name,
    get_model,
    list_models,
    model_family,
    register_model,
)
from .char_gpt import CharGPT
from .dcgan import (
    ConditionalDCGANGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    ProjectionDCGANDiscriminator,
)
from .mlp import MLPDiscriminator, MLPGenerator
from .vae import ConvDecoder, ConvEncoder

__all__ = [
    "GANModels",
    "VAEModels",
    "check_model_name",
    "get_model",
    "list_models",
    "model_family",
    "register_model",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "ConditionalDCGANGenerator",
    "ProjectionDCGANDiscriminator",
    "MLPGenerator",
    "MLPDiscriminator",
    "ConvEncoder",
    "ConvDecoder",
    "CharGPT",
]
