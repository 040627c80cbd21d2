"""Semantic latent directions for the latent families (GANSpace, Härkönen et al. 2020): the
principal components of the decoding module's first-layer activations over a few thousand
prior samples, mapped back to directions in z by linear regression of z on the components'
coordinates (the paper's recipe for generators without a style network, such as BigGAN's or a
DCGAN's), then made orthonormal in order of variance.

    dirs = run.latent_directions(k=10)         # LatentDirections: k x latent_dim rows, shares
    strip = run.traverse_direction(z, 0)       # z moved -3 ... +3 sigma along direction 0
    moved = run.move_z(z, [1.5, 0, -2])        # several sliders at once -> latent codes

Each call recomputes from the current weights, on the eval-mode copy `run.sample` reads
(`Run.inference_copy`), never on the modules being trained; the result is matched to the
previous one (`match_directions`), so the direction at index 0 stays the same direction across
refreshes while training moves it. `run.last_directions` is the latest result (None before
the first)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from threadpoolctl import threadpool_limits
from torch import Tensor, nn

from ..engine.family import Capability
from ..engine.threads import foreground_torch

if TYPE_CHECKING:
    from ..engine.run import Run

LATENT_DIRECTIONS = Capability(
    "latent directions",
    "semantic latent directions",
    methods=("latent_directions", "traverse_direction", "move_z"),
    attributes=("last_directions",),
)

DEFAULT_SIGMAS = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
#: Layer types whose output counts as "the first layer" (affine in their input).
FIRST_LAYER_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.modules.conv._ConvNd)
_CHUNK = 1024  # prior samples per forward pass of the first layer
_OVERSAMPLE, _POWER_ITERATIONS = 10, 2  # randomized PCA (Halko et al. 2011)
_EXACT_RESIDUAL = 1e-6  # variance share the first basis may miss and still count as exact
# One BLAS thread for the PCA, held under a lock: threadpool_limits sets NumPy's OpenBLAS
# thread count for the whole process and restores it on exit, so two at once could leave it
# at 1.
_single_blas = threading.Lock()


@dataclasses.dataclass(frozen=True)
class LatentDirections:
    """Orthonormal directions in latent space, one per principal component of the decoding
    module's first-layer activations.

    directions: (k, latent_dim) float32 tensor on the CPU; orthonormal rows. Row i is the
        direction of slider i; moving z by `t * sigmas[i] * directions[i]` is "t sigma".
    variance: per row, the share of the first layer's total activation variance that its
        principal component explains (each >= 0, summing to at most 1). In descending order
        for a fresh result; after matching to a previous result the rows follow the previous
        result's order instead (`order` says where each came in this computation).
    sigmas: per row, the standard deviation of the prior samples' z projected on it (close to
        1 for z ~ N(0, I): the unit of the -3 ... +3 sigma strip).
    order: per row, the rank (0: most variance) of its component in this computation.
    step: the training step of the weights the activations came from.
    samples: how many prior samples were used; seed: their seed.
    layer: the name of the module whose output was analysed ("" for the whole module's
        output, when it has no Linear / convolution layer).
    """

    directions: Tensor
    variance: list[float]
    sigmas: list[float]
    order: list[int]
    step: int
    samples: int
    seed: int
    layer: str

    @property
    def k(self) -> int:
        return int(self.directions.shape[0])

    @property
    def latent_dim(self) -> int:
        return int(self.directions.shape[1])

    def __len__(self) -> int:
        return self.k


# ---------------------------------------------------------------------- the computation
class _Captured(Exception):
    """Raised by the forward hook to stop the forward pass once the first layer has run."""

    def __init__(self, output: Tensor):
        super().__init__()
        self.output = output


def first_layer_activations(
    module: nn.Module, z: Tensor, latent_shape: Sequence[int], y: Tensor | None = None
) -> tuple[Tensor, str]:
    """The output of the first Linear / convolution layer `module` runs on z (each sample's
    values flattened, float32 on the CPU), and that layer's name; the rest of the forward
    pass is skipped. A module without such a layer gives its whole output (name "").
    A class-conditional module is called as module(z, y) with the class ids `y`."""
    names = {m: name for name, m in module.named_modules()}
    candidates = [m for m in module.modules() if isinstance(m, FIRST_LAYER_TYPES)]
    fired: list[nn.Module] = []

    def hook(layer: nn.Module, inputs: Any, output: Any) -> None:
        fired.append(layer)
        raise _Captured(output[0] if isinstance(output, (tuple, list)) else output)

    handles = [m.register_forward_hook(hook) for m in candidates]
    device = next((p.device for p in module.parameters()), torch.device("cpu"))
    chunks, layer = [], ""
    try:
        labels = [None] * len(z.split(_CHUNK)) if y is None else list(y.split(_CHUNK))
        for part, part_y in zip(z.split(_CHUNK), labels, strict=True):
            x = part.to(device).view(part.shape[0], *latent_shape)
            try:
                out = module(x) if part_y is None else module(x, part_y.to(device))
            except _Captured as captured:
                out, layer = captured.output, names.get(fired[-1], "")
            if not isinstance(out, Tensor):
                raise TypeError(f"the first layer returned {type(out).__name__}, not a tensor")
            chunks.append(out.reshape(part.shape[0], -1).float().cpu())
    finally:
        for handle in handles:
            handle.remove()
    return torch.cat(chunks), layer


def principal_components(
    activations: Tensor, k: int, seed: int = 0, rank: int | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Top-`k` principal components of the rows of `activations` (n x D): the centered data's
    coordinates on them (n x k, float64), their variance shares (k, descending) and the total
    variance. Randomized subspace iteration (Halko et al. 2011) on a seeded basis of
    max(k, `rank`) + 10 columns, in float32 with the small SVD in float64: deterministic, and
    exact when the activations span at most that many dimensions (a first layer affine in z
    spans at most latent_dim: pass rank=latent_dim), which the basis then shows (it holds all
    the variance) and the power iterations are skipped; otherwise two refine it. When the basis
    would be as wide as the data, the exact SVD.

    In NumPy on one BLAS thread rather than in torch: next to a training thread, torch's
    OpenMP pools contend with the trainer's (engine/threads.py) and a multi-threaded BLAS's
    spinning workers with both. For the default DCGAN's 2000 x 4096 activations on 2 loaded
    CPU cores while it trained: torch 0.9-20 s, NumPy 2-4 s, NumPy on one thread 0.17-0.29 s
    (0.1 s with the machine to itself)."""
    with _single_blas, threadpool_limits(1, user_api="blas"):
        return _principal_components(activations, k, seed, rank)


def _principal_components(
    activations: Tensor, k: int, seed: int, rank: int | None
) -> tuple[Tensor, Tensor, Tensor]:
    data = activations.detach().cpu().numpy().astype(np.float32, copy=False)
    centered = data - data.mean(axis=0)
    n, width = centered.shape
    dof = max(n - 1, 1)
    energy = float(np.square(centered, dtype=np.float64).sum())
    q = max(k, rank or 0) + _OVERSAMPLE
    if q >= min(n, width):
        u, s, _ = np.linalg.svd(centered.astype(np.float64), full_matrices=False)
        coords = u[:, :k] * s[:k]
    else:
        rng = np.random.default_rng(seed)
        basis, _ = np.linalg.qr(centered @ rng.standard_normal((width, q), dtype=np.float32))
        small = (basis.T @ centered).astype(np.float64)  # q x D
        captured = float(np.square(small).sum())
        if energy > 0 and energy - captured > _EXACT_RESIDUAL * energy:
            for _ in range(_POWER_ITERATIONS):  # the data spans more than the basis: refine
                basis, _ = np.linalg.qr(centered.T @ basis)
                basis, _ = np.linalg.qr(centered @ basis)
            small = (basis.T @ centered).astype(np.float64)
        u, s, _ = np.linalg.svd(small, full_matrices=False)
        coords = (basis.astype(np.float64) @ u[:, :k]) * s[:k]  # U_k S_k of the data's SVD
    shares = np.square(s[:k]) / energy if energy > 0 else np.zeros(k)
    shares = shares / max(1.0, float(shares.sum()))  # float32 rounding can pass 1 at k = rank
    return torch.from_numpy(coords), torch.from_numpy(shares), torch.tensor(energy / dof)


def regress_directions(coords: Tensor, z: Tensor) -> Tensor:
    """Latent directions (k x latent_dim, orthonormal rows) of the components whose
    coordinates are `coords` (n x k): least squares `coords @ B ~ z` (the GANSpace mapping
    back to z), then Gram-Schmidt on B's rows in order (QR), each row's sign kept."""
    z = z.double()
    z = z - z.mean(dim=0)
    b = torch.linalg.lstsq(coords, z).solution  # k x latent_dim
    q, r = torch.linalg.qr(b.T)  # latent_dim x k
    signs = torch.sign(torch.diagonal(r))
    signs[signs == 0] = 1.0
    return (q * signs).T


def compute_directions(
    module: nn.Module,
    latent_shape: Sequence[int],
    latent_dim: int,
    *,
    k: int = 10,
    samples: int = 2000,
    seed: int = 0,
    step: int = 0,
) -> LatentDirections:
    """GANSpace directions of a decoding `module` (z of shape (N, *latent_shape) -> samples):
    `samples` z ~ N(0, I) drawn with `seed`, the first layer's activations, their top-`k`
    principal components, each mapped back to z (`regress_directions`). Run it on a copy of
    the weights under torch.no_grad (the Run methods do)."""
    check_direction_request(k, samples, seed, latent_dim)
    z = torch.randn(samples, latent_dim, generator=torch.Generator().manual_seed(seed))
    activations, layer = first_layer_activations(module, z, latent_shape)
    return directions_from_activations(activations, z, k, seed=seed, step=step, layer=layer)


def directions_from_activations(
    activations: Tensor, z: Tensor, k: int, *, seed: int = 0, step: int = 0, layer: str = ""
) -> LatentDirections:
    """The PCA -> regression -> orthonormalisation part of `compute_directions`, given the
    first-layer `activations` (n x D) of the latent codes `z` (n x latent_dim)."""
    width = activations.shape[1]
    if k > width:
        raise ValueError(
            f"k must be at most the first layer's width ({width} values per sample"
            f"{f' in {layer!r}' if layer else ''}), got {k}"
        )
    coords, shares, total = principal_components(activations, k, seed=seed, rank=z.shape[1])
    if not total > 0:
        raise ValueError(
            f"the first layer{f' ({layer!r})' if layer else ''} gives the same activations "
            "for every z: it does not depend on z, so it has no principal directions"
        )
    dirs = regress_directions(coords, z)
    sigmas = (z.double() @ dirs.T).std(dim=0)
    return LatentDirections(
        directions=dirs.float().contiguous(),
        variance=[float(v) for v in shares],
        sigmas=[float(s) for s in sigmas],
        order=list(range(k)),
        step=int(step),
        samples=int(z.shape[0]),
        seed=int(seed),
        layer=layer,
    )


def check_direction_request(k: Any, samples: Any, seed: Any, latent_dim: int) -> None:
    """ValueError, one line, for a `k`, `samples` or `seed` that `latent_directions` cannot
    use: k in 1..latent_dim, samples an integer >= k (and >= 2)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= latent_dim:
        raise ValueError(
            f"k must be an integer from 1 to the latent size ({latent_dim}), got {k!r}"
        )
    if (
        isinstance(samples, bool)
        or not isinstance(samples, (int, np.integer))
        or samples < max(int(k), 2)
    ):
        raise ValueError(
            f"samples must be an integer of at least k ({k}) and at least 2, got {samples!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")


# ---------------------------------------------------------------------- matching
def match_directions(previous: LatentDirections, new: LatentDirections) -> LatentDirections:
    """`new` reordered and re-signed to line up with `previous`, so slider i stays slider i:
    the one-to-one assignment of new rows to previous rows that maximises the summed |cosine|
    (Hungarian algorithm), each row negated where its cosine with its partner is negative.
    With fewer new rows than previous ones, the new rows keep the relative order of their
    partners; with more, the unmatched ones follow in order of variance. ValueError when the
    two have different latent sizes."""
    if previous.latent_dim != new.latent_dim:
        raise ValueError(
            f"cannot match directions of latent size {new.latent_dim} to ones of latent size "
            f"{previous.latent_dim}"
        )
    cos = (previous.directions.double() @ new.directions.double().T).numpy()  # prev x new
    rows, cols = linear_sum_assignment(-np.abs(cos))
    matched = [int(c) for _, c in sorted(zip(rows, cols, strict=True))]
    rest = [j for j in range(new.k) if j not in set(matched)]
    picks = matched + rest
    signs = torch.ones(new.k, dtype=torch.float32)
    for r, c in zip(rows, cols, strict=True):
        if cos[r, c] < 0:
            signs[c] = -1.0
    index = torch.tensor(picks, dtype=torch.long)
    return dataclasses.replace(
        new,
        directions=(new.directions[index] * signs[index].unsqueeze(1)).contiguous(),
        variance=[new.variance[j] for j in picks],
        sigmas=[new.sigmas[j] for j in picks],
        order=[new.order[j] for j in picks],
    )


# ---------------------------------------------------------------------- the capability
class DirectionMethods:
    """Mixed into `LatentFamily`: the methods of `LATENT_DIRECTIONS`, each taking the run
    first (`run.latent_directions(...)` forwards to `family.latent_directions(run, ...)`).
    Uses the latent family's `decoder_name`, `latent_dim`, `latent_shape`, `check_z` and
    `sample`."""

    decoder_name: str
    latent_dim: int
    latent_shape: tuple[int, ...]
    check_z: Any
    sample: Any

    @property
    def last_directions(self) -> LatentDirections | None:
        """The latest `latent_directions` result (what matching lines the next one up with),
        or None before the first."""
        return self.__dict__.get("_last_directions")

    def _directions_lock(self) -> threading.Lock:
        return self.__dict__.setdefault("_directions_lock_", threading.Lock())

    def latent_directions(
        self, run: Run, k: int = 10, samples: int = 2000, seed: int = 0, match: bool = True
    ) -> LatentDirections:
        """GANSpace directions from the current weights: `samples` z ~ N(0, I) (drawn with
        `seed`) through the decoding module's first Linear / convolution layer, the top-`k`
        principal components of its activations, each mapped back to a direction in z by
        linear regression and made orthonormal in order of variance. With `match` (the
        default) the result is lined up with the previous one (`match_directions`): row i
        is the same direction as before, re-signed to point the same way, so a slider keeps
        its meaning across refreshes. Runs on the eval-mode copy `run.sample` reads, without
        gradients; training goes on meanwhile. The result becomes `run.last_directions`.

        k: 1 .. latent_dim; samples: >= k (and >= 2). A matched result's `variance` follows
        the slots, not descending order (`order` gives each slot's rank in this computation);
        `match=False` gives the plain PCA order and still becomes `last_directions`.

        Cost (default DCGAN, 2000 samples, 2 CPU cores): about 0.1 s on a quiet machine; next
        to its training on a loaded one 0.2-1 s, of which the trainer loses about 0.3 s (the
        copy's batch-norm recalibration under the step lock included), so a refresh every 100
        steps or more keeps >= 0.97 of its steps/s (benchmarks/latent_directions.py).
        """
        check_direction_request(k, samples, seed, self.latent_dim)
        z = torch.randn(samples, self.latent_dim, generator=torch.Generator().manual_seed(seed))
        with foreground_torch():  # off the trainer: leave no idle OpenMP pool behind
            with run.inference_copy(self.decoder_name) as decoder:
                step = run.step
                # A class-conditional decoder: the classes in turn, so every class's
                # variation counts (the directions themselves live in z).
                k_classes = getattr(self, "n_classes", None)
                y = None if not k_classes else torch.arange(samples) % int(k_classes)
                activations, layer = first_layer_activations(decoder, z, self.latent_shape, y)
            found = directions_from_activations(
                activations, z, int(k), seed=int(seed), step=step, layer=layer
            )
        with self._directions_lock():
            previous = self.last_directions
            if match and previous is not None and previous.latent_dim == found.latent_dim:
                found = match_directions(previous, found)
            self.__dict__["_last_directions"] = found
        return found

    def _directions_for(self, run: Run, directions: LatentDirections | None) -> LatentDirections:
        if directions is not None:
            if not isinstance(directions, LatentDirections):
                raise ValueError(
                    f"directions must be a LatentDirections (from run.latent_directions), got "
                    f"{type(directions).__name__}"
                )
            return directions
        return self.last_directions or self.latent_directions(run)

    def move_z(
        self, run: Run, z: Any, amounts: Any, directions: LatentDirections | None = None
    ) -> Tensor:
        """Latent codes `z` (one (latent_dim,) vector or (N, latent_dim)) moved along the
        directions: `amounts[i]` sigmas along direction i (a shorter list leaves the rest at
        0). `directions` defaults to `run.last_directions` (computed with the defaults if
        there is none yet). Returns (N, latent_dim) on the CPU; decode with `run.sample(z=)`.
        """
        dirs = self._directions_for(run, directions)
        base = self.check_z(z)
        a = torch.as_tensor(np.asarray(amounts, dtype=np.float32)).reshape(-1)
        if a.numel() > dirs.k:
            raise ValueError(
                f"amounts must have at most {dirs.k} values (one per direction), got {a.numel()}"
            )
        scale = a * torch.tensor(dirs.sigmas[: a.numel()], dtype=torch.float32)
        return base + scale @ dirs.directions[: a.numel()]

    def traverse_direction(
        self,
        run: Run,
        z: Any = None,
        index: int = 0,
        sigmas: Any = DEFAULT_SIGMAS,
        directions: LatentDirections | None = None,
        labels: Any = None,
    ) -> Tensor:
        """The -3 ... +3 sigma strip: each latent code in `z` (default: the prior's mean,
        zeros; one vector or (N, latent_dim)) moved by each of `sigmas` (multiples of the
        direction's sigma) along direction `index` (0: the first, most variance), decoded
        like `run.sample(z=...)`. Returns (N * len(sigmas), C, H, W) (or points), one row of
        `sigmas` per code. `directions` defaults to `run.last_directions` (computed with the
        defaults if there is none yet). A class-conditional run draws each code's strip in
        one class: `labels` (one id, or one per code in `z`; default class 0, as
        `interpolate` and `traverse` do)."""
        dirs = self._directions_for(run, directions)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise ValueError(f"index must be an integer in 0..{dirs.k - 1}, got {index!r}")
        if not 0 <= index < dirs.k:
            raise ValueError(f"index must be in 0..{dirs.k - 1} ({dirs.k} directions), got {index}")
        base = torch.zeros(1, self.latent_dim) if z is None else self.check_z(z)
        values = torch.as_tensor(np.asarray(sigmas, dtype=np.float32)).reshape(-1)
        if values.numel() < 1:
            raise ValueError("sigmas must hold at least one value, got none")
        offsets = values.unsqueeze(1) * (dirs.sigmas[index] * dirs.directions[index])
        zs = (base.unsqueeze(1) + offsets.unsqueeze(0)).reshape(-1, self.latent_dim)
        check_labels = self.check_labels  # type: ignore[attr-defined]
        if not getattr(self, "n_classes", None):
            if labels is not None:
                check_labels(labels, len(base))  # raises: this run takes no labels
            return self.sample(run, z=zs)
        per_code = check_labels(0 if labels is None else labels, len(base))
        return self.sample(run, z=zs, labels=per_code.repeat_interleave(values.numel()))
