"""Config fields the latent-variable families (GAN, VAE) share. No torch here: the magics'
flags and `python -m genai_widgets --help` read the configs without it."""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.config import RunConfig, positive_int


@dataclass(frozen=True)
class LatentConfig(RunConfig):
    """The fields of a family that decodes a latent vector into images (or 2-D points)."""

    latent_dim: int = 64  # size of z, the generator's input
    image_size: int | None = None  # side of the square images; None: the data's own, named sets 32
    channels: int | None = None  # image channels; None takes them from the data
    width: int = 64  # base number of feature maps in the dcgan convolutions
    n_samples: int = 64  # fixed-noise samples per snapshot (the grid)

    def validate(self, resolved: bool = False) -> None:
        super().validate(resolved)
        positive_int("latent_dim", self.latent_dim, allow_none=self.is_auto("latent_dim", resolved))
        positive_int("image_size", self.image_size, minimum=4, allow_none=True)  # None: the data's
        positive_int("channels", self.channels, allow_none=True)
        positive_int("width", self.width)
        positive_int("n_samples", self.n_samples, allow_none=self.is_auto("n_samples", resolved))
