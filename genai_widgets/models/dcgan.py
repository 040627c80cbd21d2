"""DCGAN (Radford et al., 2015): all-convolutional generator and discriminator, sized by
`image_size` (any of `SIZES`: 16, 28, 32 and 64 among them), `channels`, `latent_dim` and
`width`. With `n_classes` the pair is class-conditional: G(z, y) reads a learned embedding of
the class beside z, D(x, y) is a projection discriminator (Miyato & Koyama 2018)."""

from __future__ import annotations

import torch
from torch import nn

from ._registry import GANModels, register_model

# The paper's nets start from a 4 x 4 map and double it per stride-2 stage. Starting from a
# base of 4 to 7 instead reaches every side base * 2**k: 28 (MNIST) is 7 x 4, 7 -> 14 -> 28. The
# bases span one octave, so each size has exactly one (base, stages) and the powers of two
# (16, 32, 64) keep the paper's layout and weights.
BASES = (4, 5, 6, 7)
MAX_SIZE = 256
SIZES: tuple[int, ...] = tuple(
    sorted(b * 2**k for b in BASES for k in range(1, 7) if b * 2**k <= MAX_SIZE)
)


def layout(image_size: int) -> tuple[int, int]:
    """(base, stages): the side of the smallest feature map and the number of stride-2 stages
    between it and `image_size`. ValueError naming the sizes that can be built otherwise."""
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size not in SIZES:
        raise ValueError(unsupported_size_message("dcgan", image_size))
    base = next(b for b in BASES if image_size % b == 0 and (image_size // b).bit_count() == 1)
    return base, (image_size // base).bit_length() - 1


def unsupported_size_message(model: str, image_size: object) -> str:
    """What a built-in convolutional model says about a side it cannot build."""
    hint = ""
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        nearest = min(SIZES, key=lambda s: (abs(s - image_size), s))
        hint = f" (the nearest is {nearest})"
    return (
        f"{model} builds square images of side {', '.join(map(str, SIZES))}; got "
        f"{image_size!r}. For data of another size, pass image_size= one of them{hint} to "
        "resample the data to it (--image-size in the magics and the CLI), or bring your own "
        "modules."
    )


def _check(image_size: int, channels: int, latent_dim: int, width: int) -> tuple[int, int]:
    base, stages = layout(image_size)
    for name, value in (("channels", channels), ("latent_dim", latent_dim), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"dcgan {name} must be a positive integer, got {value!r}")
    return base, stages


class DCGANGenerator(nn.Module):
    """z (N, latent_dim) -> images (N, channels, image_size, image_size) in [-1, 1]."""

    def __init__(
        self, latent_dim: int = 64, image_size: int = 32, channels: int = 1, width: int = 64
    ):
        super().__init__()
        base, stages = _check(image_size, channels, latent_dim, width)
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        feats = width * 2 ** (stages - 1)
        layers: list[nn.Module] = [  # z as a 1 x 1 map -> base x base
            nn.ConvTranspose2d(latent_dim, feats, base, 1, 0, bias=False),
            nn.BatchNorm2d(feats),
            nn.ReLU(True),
        ]
        for _ in range(stages - 1):
            layers += [
                nn.ConvTranspose2d(feats, feats // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(feats // 2),
                nn.ReLU(True),
            ]
            feats //= 2
        layers += [nn.ConvTranspose2d(feats, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    """images -> one logit per image. `norm="batch"` as in the paper; `"none"` or `"layer"` for
    WGAN-GP, whose per-sample gradient penalty batch norm would corrupt."""

    def __init__(
        self, image_size: int = 32, channels: int = 1, width: int = 64, norm: str = "batch"
    ):
        super().__init__()
        base, stages = _check(image_size, channels, 1, width)
        if norm not in ("batch", "layer", "none"):
            raise ValueError(f"norm must be 'batch', 'layer' or 'none', got {norm!r}")
        feats = width
        layers: list[nn.Module] = [
            nn.Conv2d(channels, feats, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, True),
        ]
        for _ in range(stages - 1):
            layers.append(nn.Conv2d(feats, feats * 2, 4, 2, 1, bias=False))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(feats * 2))
            elif norm == "layer":
                layers.append(nn.GroupNorm(1, feats * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            feats *= 2
        layers.append(nn.Conv2d(feats, 1, base, 1, 0, bias=False))  # base x base -> 1 x 1
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)


# The generator's class embedding's initial std (z is N(0, 1)); see ConditionalDCGANGenerator.
EMBED_STD = 0.1


class ConditionalDCGANGenerator(DCGANGenerator):
    """(z (N, latent_dim), y (N,) class ids) -> images: the DCGAN generator on z concatenated
    with a learned embedding of y (`latent_dim` values per class, as in the conditional GAN of
    Mirza & Osindero 2014 with the one-hot code learned). The embedding starts N(0, 0.1^2):
    started at z's scale, N(0, 1), it drowned z out (mean per-class FID on the digits 85
    against 30 at 1,500 steps, benchmarks/conditional.py, docs/benchmarks.md)."""

    conditional = True

    def __init__(
        self,
        n_classes: int,
        latent_dim: int = 64,
        image_size: int = 32,
        channels: int = 1,
        width: int = 64,
    ):
        _check_classes(n_classes)
        super().__init__(2 * latent_dim, image_size, channels, width)
        self.latent_dim, self.n_classes = latent_dim, n_classes
        self.embed = nn.Embedding(n_classes, latent_dim)
        nn.init.normal_(self.embed.weight, 0.0, EMBED_STD)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        h = torch.cat([z.reshape(z.shape[0], -1), self.embed(y)], dim=1)
        return self.net(h.view(h.shape[0], -1, 1, 1))


class ProjectionDCGANDiscriminator(DCGANDiscriminator):
    """(images, y class ids) -> one logit per image: the projection discriminator of Miyato &
    Koyama 2018 ("cGANs with Projection Discriminator", https://arxiv.org/abs/1802.05637),
    D(x, y) = psi(phi(x)) + <embed(y), sum over positions of phi(x)>, with phi the DCGAN
    discriminator up to its last convolution and psi that convolution."""

    conditional = True

    def __init__(
        self,
        n_classes: int,
        image_size: int = 32,
        channels: int = 1,
        width: int = 64,
        norm: str = "batch",
    ):
        _check_classes(n_classes)
        super().__init__(image_size, channels, width, norm)
        self.n_classes = n_classes
        last = self.net[-1]
        assert isinstance(last, nn.Conv2d)
        self.embed = nn.Embedding(n_classes, last.in_channels)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)  # the convolutions' scale

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        h = self.net[:-1](x)  # phi(x): (N, features, base, base)
        psi = self.net[-1](h).view(-1)
        return psi + (self.embed(y) * h.sum(dim=(2, 3))).sum(dim=1)


def _check_classes(n_classes: int) -> None:
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"dcgan n_classes must be an integer >= 2, got {n_classes!r}")


def init_weights(module: nn.Module) -> None:
    """The DCGAN paper's init: conv weights N(0, 0.02), batch-norm scale N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


@register_model("dcgan")
def dcgan(
    *,
    image_size: int = 32,
    channels: int = 1,
    latent_dim: int = 64,
    width: int = 64,
    norm: str = "batch",
    n_classes: int | None = None,
) -> GANModels:
    """The DCGAN pair; with `n_classes` the class-conditional one (`ConditionalDCGANGenerator`,
    `ProjectionDCGANDiscriminator`: G(z, y), D(x, y))."""
    if n_classes is None:
        generator: nn.Module = DCGANGenerator(latent_dim, image_size, channels, width)
        discriminator: nn.Module = DCGANDiscriminator(image_size, channels, width, norm)
    else:
        generator = ConditionalDCGANGenerator(n_classes, latent_dim, image_size, channels, width)
        discriminator = ProjectionDCGANDiscriminator(n_classes, image_size, channels, width, norm)
    init_weights(generator)
    init_weights(discriminator)
    return GANModels(generator, discriminator)
