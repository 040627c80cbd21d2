"""Class-conditional GANs (`conditional=True`): which modules take the class, and the measures
by class.

A module takes the class when it says so with a `conditional` attribute (True: it is called
`G(z, y)` / `D(x, y)`; False: never), or, without one, when its `forward` has two required
positional parameters besides `self` (`def forward(self, z, y)`). The built-in DCGAN's
conditional pair (`models.dcgan`) sets the attribute.

The measures use the feature classifier the quality measures train on the run's labelled
images and cache (`quality.fid.QualityMeter`): `run.class_fid()` is the FID of each class's
samples against that class's real images; `run.label_accuracy()` the share of samples that
classifier assigns to the class they were drawn for (chance: 1 / n_classes)."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from ...engine.family import Capability

if TYPE_CHECKING:
    from ...engine.run import Run
    from ...quality.fid import QualityMeter

CLASS_CONDITIONING = Capability(
    "class conditioning",
    "class conditioning",
    methods=("class_fid", "label_accuracy"),
    attributes=("n_classes", "fixed_labels"),
)


def accepts_labels(module: nn.Module) -> bool:
    """Whether `module` is called with the class: its `conditional` attribute, else whether
    its `forward` takes two required positional arguments (`forward(self, z, y)`)."""
    flag = getattr(module, "conditional", None)
    if isinstance(flag, bool):
        return flag
    try:
        params = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [p for p in params if p.kind in positional and p.default is p.empty]
    return len(required) >= 2


def check_pair(generator: nn.Module, discriminator: nn.Module, conditional: bool) -> None:
    """ValueError unless both modules take the class exactly when the run is conditional."""
    for role, module, call in (
        ("generator", generator, "G(z, y)"),
        ("discriminator", discriminator, "D(x, y)"),
    ):
        takes = accepts_labels(module)
        if conditional and not takes:
            raise ValueError(
                f"conditional=True needs a {role} called as {call}, but "
                f"{type(module).__name__}.forward takes one input; give it a second "
                "argument (the class ids) or set `conditional = True` on it"
            )
        if not conditional and takes:
            raise ValueError(
                f"the {role} {type(module).__name__} takes the class ({call}): train it with "
                "conditional=True on labelled data, or set `conditional = False` on it"
            )


class GridLabelled(nn.Module):
    """A conditional generator called with z alone (an evaluator's `ModelCopies.generate`,
    the live FID): the classes cycle over the samples, `arange(n) % n_classes`, so a large
    batch holds every class equally."""

    def __init__(self, inner: nn.Module, n_classes: int):
        super().__init__()
        self.inner, self.n_classes = inner, n_classes

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        if y is None:
            y = torch.arange(z.shape[0], device=z.device) % self.n_classes
        return self.inner(z, y)


# --------------------------------------------------------------------------- measures
def _meter(family: Any, run: Run) -> tuple[QualityMeter, Tensor, Tensor]:
    """The run's quality meter (trained or cached feature net) and its labelled images."""
    data = run.data_source
    images = getattr(data, "tensor", None)
    labels = getattr(data, "labels", None)
    if images is None or labels is None or images.dim() != 4:
        raise ValueError(
            "class_fid and label_accuracy need the run's labelled images in memory (the "
            f"digits, a torchvision set, a folder, a labelled tensor); data {_name(data)} "
            "has none"
        )
    cached = getattr(family, "_class_meter", None)
    if cached is None:
        from ...quality.fid import QualityMeter

        cached = family._class_meter = QualityMeter.for_data(images, labels, seed=family.seed)
    return cached, images, labels


def _name(data: Any) -> str:
    return repr(getattr(data, "name", None)) if data is not None else "(none: reopened without)"


def _require_conditional(family: Any, run: Run, what: str) -> int:
    if family.n_classes is None:
        raise ValueError(
            f"{what} is for a class-conditional run; run {run.name!r} is unconditional "
            "(train it with conditional=True on labelled data)"
        )
    return int(family.n_classes)


def _count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def draw_by_class(family: Any, run: Run, labels: Tensor, seed: int) -> Tensor:
    """Samples for `labels` (class ids) from the weights sampling reads, z drawn with `seed`."""
    z = torch.randn(len(labels), family.latent_dim, generator=torch.Generator().manual_seed(seed))
    parts = [
        family.sample(run, z=z[i : i + 250], labels=labels[i : i + 250])
        for i in range(0, len(z), 250)
    ]
    return torch.cat(parts)


def class_fid(family: Any, run: Run, n_per_class: int = 200, seed: int = 0) -> dict[int, float]:
    """{class id: FID} of `n_per_class` samples drawn for each class against the real images
    of that class, in the cached feature net's space (`quality.fid`). Lower is better;
    figures compare within one data set (a class has only its own real images: ~180 for
    each digit, so FIDs are larger than the whole set's)."""
    k = _require_conditional(family, run, "class_fid")
    n_per_class = _count("n_per_class", n_per_class, 2)
    meter, images, labels = _meter(family, run)
    y = torch.arange(k).repeat_interleave(n_per_class)
    fake = draw_by_class(family, run, y, seed)
    from ...quality.fid import class_frechet_distances

    return class_frechet_distances(meter, images, labels, fake, y)


def label_accuracy(family: Any, run: Run, n: int = 500, seed: int = 0) -> float:
    """The share of `n` samples (classes cycling) that the cached feature classifier assigns
    to the class they were drawn for; chance is 1 / n_classes."""
    k = _require_conditional(family, run, "label_accuracy")
    n = _count("n", n, 1)
    meter, _, _ = _meter(family, run)
    y = torch.arange(n) % k
    predicted = meter.predict(draw_by_class(family, run, y, seed))
    return float((predicted == y).double().mean())


def mean_fid(values: dict[int, float]) -> float:
    return float(np.mean(list(values.values()))) if values else float("nan")
