"""What the two latent-variable families (GAN, VAE) share: the image / latent config fields,
the latent-decoding capability (a decoder maps z to a sample: `run.sample(z=...)`,
`run.random_z`, `run.interpolate`, `run.traverse`, the fixed-noise grid) and the probe that
finds the z layout a user's module accepts. A family without a z (a language model, an HMM)
uses none of it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from ..engine.family import Capability, Family
from .directions import LATENT_DIRECTIONS, DirectionMethods

if TYPE_CHECKING:
    from ..engine.run import Run
    from .config import LatentConfig

DEFAULT_TRAVERSAL = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)

LATENT_DECODING = Capability(
    "latent decoding",
    "latent space",
    methods=("random_z", "interpolate", "traverse"),
    attributes=("latent_dim", "fixed_z"),
)


def build_data(config: LatentConfig):
    """The config's data; image_size None ("auto") keeps the size of data the user brings and
    gives the named sets theirs (`data.NAMED_IMAGE_SIZE`)."""
    from ..data import get_dataset

    size = "auto" if config.image_size is None else config.image_size
    return get_dataset(config.data, image_size=size, channels=config.channels, seed=config.seed)


def with_data_size(config: Any, data) -> Any:
    """`config` with image_size set to the side the data came at, so config.json records the
    size trained at and `load_run` rebuilds the same models (like the other "auto" fields)."""
    if config.image_size is None and data.kind == "images":
        return config.replace(image_size=int(data.sample_shape[-1]))
    return config


class LatentFamily(DirectionMethods, Family):
    """A family whose `decoder_name` module maps z ~ N(0, I) to samples (`to_samples` finishes
    its raw output). Subclasses call `init_latent` once their modules exist. Semantic
    directions (`run.latent_directions`, ...) come from `DirectionMethods`."""

    #: Role of the module that maps latent vectors to samples ("generator" / "decoder").
    decoder_name: ClassVar[str] = ""
    capabilities = (LATENT_DECODING, LATENT_DIRECTIONS)

    latent_dim: int = 0
    #: Latent shape per sample that the decoding module accepts: (d,) or (d, 1, 1).
    latent_shape: tuple[int, ...] = ()
    fixed_z: Tensor

    def init_latent(self, config: LatentConfig, latent_shape: tuple[int, ...]) -> None:
        self.latent_dim = int(config.latent_dim)
        self.latent_shape = tuple(latent_shape)
        fixed = torch.Generator().manual_seed(config.seed + 2)
        self.fixed_z = torch.randn(config.n_samples, self.latent_dim, generator=fixed)
        self.sample_kind = "images"  # type: ignore[misc]  # until the first output says otherwise

    # ------------------------------------------------------------------ state
    def latent_state(self) -> dict[str, Any]:
        return {"latent_shape": list(self.latent_shape), "fixed_z": self.fixed_z}

    def load_latent_state(self, state: dict[str, Any]) -> None:
        if "fixed_z" in state:
            self.fixed_z = state["fixed_z"]

    def store_meta(self) -> dict[str, Any]:
        return {"latent_shape": list(self.latent_shape)}

    # ------------------------------------------------------------------ decoding
    @property
    def decoder_module(self) -> nn.Module:
        """The module that maps latent vectors to raw outputs (`to_samples` finishes them)."""
        return self.inference_modules()[self.decoder_name]

    def to_samples(self, raw: Tensor) -> Tensor:
        """Raw output of the decoding module -> samples in [-1, 1] (images) or points."""
        return raw

    def check_z(self, z: Any, name: str = "z") -> Tensor:
        z = torch.as_tensor(z, dtype=torch.float32)
        if z.dim() == 1:
            z = z.unsqueeze(0)
        z = z.reshape(z.shape[0], -1)
        if z.shape[1] != self.latent_dim:
            raise ValueError(
                f"{name} must have {self.latent_dim} values per sample (latent_dim), got shape {tuple(z.shape)}"
            )
        return z

    def decode(self, run: Run, z: Tensor) -> Tensor:
        """Generator (decoder) copy in eval mode; never the live module mid-update."""
        with run.inference_copy(self.decoder_name) as decoder:
            out = decoder(z.to(run.device).view(z.shape[0], *self.latent_shape))
            return self.to_samples(out).float().cpu()

    def sample(self, run: Run, n: int = 16, z: Any = None) -> Tensor:
        """Samples from the current weights: NCHW (or N x 2 points) in [-1, 1], on the CPU."""
        if z is None:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"n must be a positive integer, got {n!r}")
            z = self.random_z(run, n)
        return self.decode(run, self.check_z(z))

    def snapshot(self, run: Run) -> Tensor | None:
        """The fixed-noise grid from the live decoding module (in eval mode for the call)."""
        G = self.decoder_module
        was_training = G.training
        G.eval()
        try:
            with torch.no_grad():
                z = self.fixed_z.to(run.device).view(len(self.fixed_z), *self.latent_shape)
                out = self.to_samples(G(z))
        finally:
            G.train(was_training)
        if out.dim() != 4:  # 2-D points have no image grid; the data-space view draws them
            self.sample_kind = "points"  # type: ignore[misc]
            return None
        return out

    # ------------------------------------------------------------------ the capability
    def random_z(self, run: Run, n: int, seed: int | None = None) -> Tensor:
        """n latent vectors from the prior, on the CPU (seeded if `seed` is given)."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        return torch.randn(n, self.latent_dim, generator=gen)

    def interpolate(
        self, run: Run, z0: Any, z1: Any, steps: int = 8, method: str = "slerp"
    ) -> Tensor:
        """Decode `steps` points from z0 to z1 (both ends included): lerp or slerp."""
        if method not in ("slerp", "lerp"):
            raise ValueError(f"method must be 'slerp' or 'lerp', got {method!r}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
        a, b = self.check_z(z0, "z0")[0], self.check_z(z1, "z1")[0]
        return self.decode(run, interpolate_latents(a, b, steps, method))

    def traverse(
        self, run: Run, z: Any = None, dims: Any = None, values: Any = DEFAULT_TRAVERSAL
    ) -> Tensor:
        """Latent traversal: starting from `z` (default: the prior's mean, zeros), set each
        dimension in `dims` (default: all) to each of `values` in turn and decode. Returns
        (len(dims) * len(values), C, H, W), one row of `values` per dimension."""
        base = torch.zeros(self.latent_dim) if z is None else self.check_z(z)[0]
        dims = list(range(self.latent_dim)) if dims is None else [int(d) for d in dims]
        for d in dims:
            if not 0 <= d < self.latent_dim:
                raise ValueError(f"dims must be in 0..{self.latent_dim - 1}, got {d}")
        values = torch.as_tensor(np.asarray(values, dtype=np.float32))
        zs = base.repeat(len(dims) * len(values), 1)
        for row, d in enumerate(dims):
            zs[row * len(values) : (row + 1) * len(values), d] = values
        return self.sample(run, z=zs)


def interpolate_latents(z0: Tensor, z1: Tensor, steps: int, method: str = "slerp") -> Tensor:
    """Points from z0 to z1 inclusive. Slerp follows the great circle, which keeps the norm
    typical of a Gaussian prior in high dimensions (White, 2016); lerp cuts through the
    low-norm interior."""
    t = torch.linspace(0.0, 1.0, steps, dtype=z0.dtype).unsqueeze(1)
    if method == "lerp":
        return (1 - t) * z0 + t * z1
    a, b = z0 / z0.norm(), z1 / z1.norm()
    omega = torch.arccos((a * b).sum().clamp(-1.0, 1.0))
    if omega.abs() < 1e-6:  # parallel vectors: slerp degenerates to lerp
        return (1 - t) * z0 + t * z1
    so = torch.sin(omega)
    return torch.sin((1 - t) * omega) / so * z0 + torch.sin(t * omega) / so * z1


def probe_latent_layout(
    module: nn.Module, latent_dim: int, device: torch.device, role: str
) -> tuple[Any, tuple[int, ...]]:
    """Call the latent-to-sample `module` ("generator", "decoder") on z of shape (2, d), then
    (2, d, 1, 1); returns its output and the layout it accepted, or a ValueError naming both."""
    d, errors = latent_dim, []
    for shape in ((d,), (d, 1, 1)):
        try:
            return module(torch.zeros((2, *shape), device=device)), shape
        except Exception as exc:  # try the other z layout
            errors.append(f"{type(exc).__name__}: {exc}")
    raise ValueError(
        f"the {role} rejected z of shape (N, {d}) and (N, {d}, 1, 1) (latent_dim={d}): {errors[0]}"
    )


@contextlib.contextmanager
def probing(device: torch.device, *modules: nn.Module) -> Iterator[None]:
    """For a shape check before training: `modules` on `device`, in eval mode, without
    gradients; their training modes come back afterwards."""
    modes = [m.to(device).training for m in modules]
    for m in modules:
        m.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, mode in zip(modules, modes, strict=True):
            m.train(mode)


def probe_decoding(
    module: nn.Module,
    latent_dim: int,
    device: torch.device,
    expected: tuple[int, ...],
    *,
    role: str,
    made: str,
    wanted: str,
) -> tuple[int, ...]:
    """`probe_latent_layout`, then a ValueError unless the `role` module's output per z has
    the data's shape `expected` ("the generator makes samples of shape ... but the data's
    samples are ..."). Returns the latent layout it accepted."""
    out, latent_shape = probe_latent_layout(module, latent_dim, device, role)
    if not isinstance(out, torch.Tensor) or tuple(out.shape[1:]) != expected:
        got = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"the {role} makes {made} of shape {got} but the data's {wanted} are "
            f"{expected}; match them with image_size= / channels= (image_size=None keeps "
            f"the data's own size), or change the {role}"
        )
    return latent_shape


def ends_in(module: nn.Module, kind: type[nn.Module]) -> bool:
    leaves = [m for m in module.modules() if not list(m.children())]
    return bool(leaves) and isinstance(leaves[-1], kind)
