"""What the two latent-variable families (GAN, VAE) share: the image / latent config fields,
the latent-decoding capability (a decoder maps z to a sample: `run.sample(z=...)`,
`run.random_z`, `run.interpolate`, `run.traverse`, the fixed-noise grid) and the probe that
finds the z layout a user's module accepts. A family without a z (a language model, an HMM)
uses none of it.

A class-conditional decoder (`n_classes` set: a GAN trained with conditional=True) takes
(z, y) with y the class ids: `sample`, `interpolate`, `traverse` and `decode` then take
`labels=`, and the fixed grid's labels (`fixed_labels`) give one class per grid row."""

from __future__ import annotations

import contextlib
import math
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
    #: Classes of a class-conditional decoder (it takes (z, y)); None: it takes z alone.
    n_classes: int | None = None
    #: The fixed grid's class ids (`grid_labels`: grid row r shows class r % n_classes), or None.
    fixed_labels: Tensor | None = None

    def init_latent(
        self, config: LatentConfig, latent_shape: tuple[int, ...], n_classes: int | None = None
    ) -> None:
        self.latent_dim = int(config.latent_dim)
        self.latent_shape = tuple(latent_shape)
        fixed = torch.Generator().manual_seed(config.seed + 2)
        self.fixed_z = torch.randn(config.n_samples, self.latent_dim, generator=fixed)
        self.n_classes = n_classes
        self.fixed_labels = grid_labels(config.n_samples, n_classes) if n_classes else None
        self.sample_kind = "images"  # type: ignore[misc]  # until the first output says otherwise

    # ------------------------------------------------------------------ state
    def latent_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"latent_shape": list(self.latent_shape), "fixed_z": self.fixed_z}
        if self.n_classes is not None:
            state["n_classes"] = self.n_classes
            state["fixed_labels"] = self.fixed_labels
        return state

    def load_latent_state(self, state: dict[str, Any]) -> None:
        if "fixed_z" in state:
            self.fixed_z = state["fixed_z"]
        if state.get("fixed_labels") is not None:
            self.fixed_labels = state["fixed_labels"]

    def store_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"latent_shape": list(self.latent_shape)}
        if self.n_classes is not None:
            meta["n_classes"] = self.n_classes
        return meta

    # ------------------------------------------------------------------ classes
    def check_labels(self, labels: Any, n: int, default: str = "grid") -> Tensor | None:
        """Class ids for `n` samples of a class-conditional decoder, as a LongTensor (None for
        an unconditional one). `labels`: one int (every sample), a list / tensor of ids
        (repeated to fill `n`), or None: `grid_labels` for `default` "grid", class 0 for
        "first". ValueError naming the labels given and the classes accepted."""
        k = self.n_classes
        if k is None:
            if labels is not None:
                raise ValueError(
                    f"labels={_short(labels)} was given, but this run is not class-conditional "
                    "(its generator takes z alone); train with conditional=True on labelled "
                    "data to sample by class"
                )
            return None
        if labels is None:
            return grid_labels(n, k) if default == "grid" else torch.zeros(n, dtype=torch.long)
        if isinstance(labels, bool) or (
            isinstance(labels, float) or (isinstance(labels, Tensor) and labels.is_floating_point())
        ):
            raise ValueError(f"labels must be class ids (ints in 0..{k - 1}), got {_short(labels)}")
        try:
            y = torch.as_tensor(np.asarray(labels) if isinstance(labels, list) else labels)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(
                f"labels must be an int, a list or a tensor of class ids in 0..{k - 1}, got "
                f"{_short(labels)}"
            ) from None
        if y.dtype.is_floating_point or y.dtype == torch.bool or y.dim() > 1 or y.numel() == 0:
            raise ValueError(
                f"labels must be an int or a 1-D list / tensor of class ids in 0..{k - 1}, "
                f"got {_short(labels)}"
            )
        y = y.long().reshape(-1).cpu()
        bad = sorted({int(v) for v in y if not 0 <= int(v) < k})
        if bad:
            raise ValueError(
                f"labels {bad} are outside the classes: this run has {k} classes, ids 0..{k - 1}"
            )
        if len(y) > n:
            raise ValueError(f"labels has {len(y)} entries for {n} samples; give at most {n}")
        return y.repeat(math.ceil(n / len(y)))[:n]

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

    def decode(self, run: Run, z: Tensor, labels: Any = None) -> Tensor:
        """Generator (decoder) copy in eval mode; never the live module mid-update. A
        class-conditional one gets `labels` (see `check_labels`; None: `grid_labels`)."""
        y = self.check_labels(labels, len(z))
        with run.inference_copy(self.decoder_name) as decoder:
            z = z.to(run.device).view(z.shape[0], *self.latent_shape)
            out = decoder(z) if y is None else decoder(z, y.to(run.device))
            return self.to_samples(out).float().cpu()

    def sample(self, run: Run, n: int = 16, z: Any = None, labels: Any = None) -> Tensor:
        """Samples from the current weights: NCHW (or N x 2 points) in [-1, 1], on the CPU.
        A class-conditional run takes `labels=`: one class id for all, or a list / tensor of
        ids repeated to fill n; None cycles the classes one grid row each (`grid_labels`:
        with n = n_classes ** 2, row i is class i)."""
        if z is None:
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"n must be a positive integer, got {n!r}")
            z = self.random_z(run, n)
        return self.decode(run, self.check_z(z), labels)

    def snapshot(self, run: Run) -> Tensor | None:
        """The fixed-noise grid from the live decoding module (in eval mode for the call)."""
        G = self.decoder_module
        was_training = G.training
        G.eval()
        try:
            with torch.no_grad():
                z = self.fixed_z.to(run.device).view(len(self.fixed_z), *self.latent_shape)
                y = self.fixed_labels
                out = self.to_samples(G(z) if y is None else G(z, y.to(run.device)))
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
        self,
        run: Run,
        z0: Any,
        z1: Any,
        steps: int = 8,
        method: str = "slerp",
        labels: Any = None,
    ) -> Tensor:
        """Decode `steps` points from z0 to z1 (both ends included): lerp or slerp. A
        class-conditional run draws them all of class `labels` (default 0; a list gives one
        class per point)."""
        if method not in ("slerp", "lerp"):
            raise ValueError(f"method must be 'slerp' or 'lerp', got {method!r}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
        a, b = self.check_z(z0, "z0")[0], self.check_z(z1, "z1")[0]
        y = self.check_labels(labels, steps, default="first")
        return self.decode(run, interpolate_latents(a, b, steps, method), y)

    def traverse(
        self,
        run: Run,
        z: Any = None,
        dims: Any = None,
        values: Any = DEFAULT_TRAVERSAL,
        labels: Any = None,
    ) -> Tensor:
        """Latent traversal: starting from `z` (default: the prior's mean, zeros), set each
        dimension in `dims` (default: all) to each of `values` in turn and decode. Returns
        (len(dims) * len(values), C, H, W), one row of `values` per dimension. A
        class-conditional run draws them of class `labels` (default 0)."""
        base = torch.zeros(self.latent_dim) if z is None else self.check_z(z)[0]
        dims = list(range(self.latent_dim)) if dims is None else [int(d) for d in dims]
        for d in dims:
            if not 0 <= d < self.latent_dim:
                raise ValueError(f"dims must be in 0..{self.latent_dim - 1}, got {d}")
        values = torch.as_tensor(np.asarray(values, dtype=np.float32))
        zs = base.repeat(len(dims) * len(values), 1)
        for row, d in enumerate(dims):
            zs[row * len(values) : (row + 1) * len(values), d] = values
        return self.sample(run, z=zs, labels=self.check_labels(labels, len(zs), default="first"))


def grid_labels(n: int, n_classes: int) -> Tensor:
    """Class ids for `n` samples shown as the run's square grid (ceil(sqrt(n)) columns, as
    the snapshots are laid out): grid row r is class r % n_classes, so with n = n_classes ** 2
    (100 for the digits) row i shows class i."""
    cols = max(1, math.ceil(math.sqrt(n)))
    return (torch.arange(n) // cols) % n_classes


def _short(value: Any) -> str:
    text = repr(value.tolist() if isinstance(value, Tensor) else value)
    return text if len(text) <= 60 else text[:57] + "..."


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
