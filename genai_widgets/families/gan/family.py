"""The GAN as a `Family`: a generator and a discriminator, two Adam optimizers, the loss, and
the two-phase step of `step.py`; how a GAN run is built from its config and rebuilt from a
checkpoint, and the live measures it asks for (mode coverage on the 2-D toys, FID / KID on
labelled images). With `conditional=True` G and D take the class (`conditional.py`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ...engine.config import settings_of
from ...engine.family import Built, Columns, NextBatch, Settings, Warnings, adam_betas, set_lr
from ...engine.registry import register_family
from ..directions import LATENT_DIRECTIONS
from ..latent import (
    LATENT_DECODING,
    LatentFamily,
    build_data,
    ends_in,
    probe_decoding,
    probing,
    with_data_size,
)
from ..memorisation import TRAINING_NEIGHBOURS, NeighbourMethods
from ..projection import PROJECTION, DescentProjection
from . import conditional as _conditional
from .augment import diff_augment, parse_policy
from .config import GANConfig, resolve_defaults
from .ema import GeneratorEMA
from .losses import get_loss
from .step import GANParts, gan_step, metric_names


class _FlatLogits(nn.Module):
    """Adapts a user's discriminator: flattens its output to (N,) and, when it ends in a
    Sigmoid (as in pytorch/examples' DCGAN), turns probabilities back into logits so every
    loss can use the numerically stable forms."""

    def __init__(self, inner: nn.Module, from_probabilities: bool):
        super().__init__()
        self.inner = inner
        self.from_probabilities = from_probabilities

    def forward(self, x: torch.Tensor, *labels: torch.Tensor) -> torch.Tensor:
        out = self.inner(x, *labels).reshape(x.shape[0], -1).mean(dim=1)
        if self.from_probabilities:
            out = torch.logit(out.clamp(1e-6, 1 - 1e-6))
        return out


def _ends_in_sigmoid(module: nn.Module) -> bool:
    return ends_in(module, nn.Sigmoid)


class GANFamily(DescentProjection, NeighbourMethods, LatentFamily):
    """Generator + discriminator trained by `gan_step` with the config's loss. Real images
    go into z by gradient descent (`run.project`, `projection.py`)."""

    name = "gan"
    config_class = GANConfig
    module_names = ("generator", "discriminator")
    decoder_name = "generator"
    capabilities = (
        LATENT_DECODING,
        LATENT_DIRECTIONS,
        TRAINING_NEIGHBOURS,
        _conditional.CLASS_CONDITIONING,
        PROJECTION,
    )
    dashboard = "genai_widgets.widgets.gan.dashboard:Dashboard"
    panels = ("controls", "curves", "samples", "latent explorer", "data space")
    description = "generative adversarial network: images or 2-D points"

    def __init__(
        self,
        config: GANConfig,
        generator: nn.Module,
        discriminator: nn.Module,
        latent_shape: tuple[int, ...],
        device: torch.device,
        settings: dict[str, Any],
        n_classes: int | None = None,
    ):
        self.generator = generator
        self.discriminator = discriminator
        self.loss = get_loss(config.loss)
        d_module = (
            discriminator
            if isinstance(discriminator, _FlatLogits)
            else _FlatLogits(discriminator, _ends_in_sigmoid(discriminator))
        )
        generator.to(device).train()
        d_module.to(device).train()
        lr_d = settings["lr_d"] or settings["lr"]
        betas = (config.beta1, config.beta2)
        noise = torch.Generator(device=device)
        noise.manual_seed(config.seed + 1)
        self.parts = GANParts(
            generator=generator,
            discriminator=d_module,
            opt_g=torch.optim.Adam(generator.parameters(), lr=settings["lr"], betas=betas),
            opt_d=torch.optim.Adam(d_module.parameters(), lr=lr_d, betas=betas),
            loss=self.loss,
            latent_shape=latent_shape,
            noise=noise,
            augment=_augmenter(parse_policy(config.augment), noise),
            conditional=n_classes is not None,
        )
        # Sampling reads the average of the generator's recent weights (config.ema), with
        # batch-norm statistics recomputed for it on fixed noise (GeneratorEMA.calibrate).
        self.ema = GeneratorEMA(generator, config.ema) if config.ema else None
        if self.ema is not None:
            calib = torch.Generator().manual_seed(config.seed + 11)
            self._calibration_z = torch.randn((512, *latent_shape), generator=calib).to(device)
            if n_classes is not None:  # batch norm calibrated over all the classes alike
                self._calibration_y = (torch.arange(512) % n_classes).to(device)
        self.init_latent(config, latent_shape, n_classes)
        self.metric_names = metric_names(self.loss)
        self.r1_every = config.r1_every
        self.quality_every = config.quality_every
        self.inception_weights = config.inception_weights
        self.seed = config.seed

    def step(
        self, next_batch: NextBatch, settings: Settings, step: int, *, check_finite: bool
    ) -> Tensor:
        values = gan_step(
            self.parts,
            next_batch,
            n_critic=settings["n_critic"],
            gp_weight=settings["gp_weight"],
            # Lazy R1: every r1_every-th step, weighted r1_every times (Karras et al. 2020).
            r1=settings["r1"] * self.r1_every,
            r1_now=step % self.r1_every == 0,
            check_finite=check_finite,
        )
        if self.ema is not None:
            self.ema.update(self.generator)
        return values

    def apply_settings(self, settings: dict[str, Any]) -> None:
        lr = settings["lr"]
        betas = adam_betas(settings)
        set_lr(self.parts.opt_g, lr, betas)
        set_lr(self.parts.opt_d, settings["lr_d"] or lr, betas)

    def batches_per_step(self, settings: dict[str, Any]) -> int:
        return settings["n_critic"]

    def state_dict(self) -> dict[str, Any]:
        # The key names are checkpoint format 1's, so older checkpoints load unchanged.
        return {
            "generator": self.generator.state_dict(),
            "discriminator": self.parts.discriminator.inner.state_dict(),
            "opt_g": self.parts.opt_g.state_dict(),
            "opt_d": self.parts.opt_d.state_dict(),
            "noise_rng": self.parts.noise.get_state(),
            **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
            **self.latent_state(),
        }

    def rank_streams(self, rank: int, seed: int) -> None:
        """A rank's own noise (z, augmentation, the penalty's mixing) in a torchrun job. The
        generator average lives on rank 0 alone (it samples and saves it): other ranks drop
        theirs rather than update a copy nobody reads."""
        self.parts.noise.manual_seed(seed)
        self.ema = None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.parts.discriminator.inner.load_state_dict(state["discriminator"])
        self.parts.opt_g.load_state_dict(state["opt_g"])
        self.parts.opt_d.load_state_dict(state["opt_d"])
        self.parts.noise.set_state(state["noise_rng"])
        self.load_latent_state(state)
        if self.ema is not None:
            if "ema" in state:
                self.ema.load_state_dict(state["ema"])
            else:  # a checkpoint from before the average existed: start it from these weights
                self.ema = GeneratorEMA(self.generator, self.ema.decay)

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def sync_batch_norm_modules(self) -> dict[str, nn.Module]:
        # D is differentiated twice by R1 and WGAN-GP (r1 can be set on mid-run), which
        # SyncBatchNorm cannot do: D's batch norm keeps per-rank statistics under a job.
        return {"generator": self.generator}

    def inference_modules(self) -> dict[str, nn.Module]:
        if self.ema is None:
            return self.modules()
        if self.n_classes is not None:
            self.ema.calibrate(
                self._calibration_z, max_age=CALIBRATE_EVERY, labels=self._calibration_y
            )
        else:
            self.ema.calibrate(self._calibration_z, max_age=CALIBRATE_EVERY)
        return {"generator": self.ema.module, "discriminator": self.discriminator}

    def evaluation_modules(self, live: bool = False) -> dict[str, nn.Module]:
        # The discriminator as the loss sees it (logits out); the generator sampling reads
        # (its weight average), or with `live` the one being trained.
        generator = self.generator if live else self.inference_modules()["generator"]
        if self.n_classes is not None:  # called with z alone by the evaluators: classes cycle
            generator = _conditional.GridLabelled(generator, self.n_classes)
        return {"generator": generator, "discriminator": self.parts.discriminator}

    def result(self) -> Any:
        from ...models import GANModels

        return GANModels(self.generator, self.discriminator)

    # ------------------------------------------------------------------ class conditioning
    def class_fid(self, run: Any, n_per_class: int = 200, seed: int = 0) -> dict[int, float]:
        """{class id: FID} of a conditional run's samples of each class against that class's
        real images (the quality measures' cached feature net). See `conditional.class_fid`."""
        return _conditional.class_fid(self, run, n_per_class=n_per_class, seed=seed)

    def label_accuracy(self, run: Any, n: int = 500, seed: int = 0) -> float:
        """Share of a conditional run's samples that the cached classifier assigns to the
        class they were drawn for (chance: 1 / n_classes)."""
        return _conditional.label_accuracy(self, run, n=n, seed=seed)

    # ------------------------------------------------------------------ measures
    def evaluators(self, run: Any) -> list[Any]:
        found = []
        data = run.data_source
        modes = getattr(data, "modes", None)
        if modes is not None and getattr(data, "mode_std", None):  # "ring", "grid"
            from ...quality.coverage import coverage_evaluator

            found.append(coverage_evaluator(modes, data.mode_std, seed=self.seed + 4))
        labels = getattr(data, "labels", None)
        images = getattr(data, "tensor", None)
        if self.quality_every and labels is not None and images is not None and images.dim() == 4:
            from ...quality.fid import quality_evaluator

            found.append(
                quality_evaluator(
                    images,
                    labels,
                    every_steps=self.quality_every,
                    seed=self.seed,
                    inception_weights=self.inception_weights,
                    **self.feature_net_options,
                )
            )
        return found

    def health(
        self, history: Columns, step: int, settings: Settings, evaluations: Columns | None = None
    ) -> Warnings:
        if evaluations is None or "fid" not in evaluations:
            return []
        from ...quality.fid import quality_warnings  # live quality: collapse, over-fitting

        return list(quality_warnings(evaluations))

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, config: GANConfig, device: torch.device) -> Built:  # type: ignore[override]
        data = build_data(config)
        n_classes = None
        if config.conditional:  # batches carry their labels; ValueError on unlabelled data
            data = data.labelled()
            n_classes = int(data.num_classes)
        config = with_data_size(config, data)
        config = resolve_defaults(config, data.kind, n_classes)  # "auto" latent_dim, lr, ...
        generator, discriminator, config = _build_models(config, data, n_classes)
        latent_shape = _probe(generator, discriminator, data, config, device)
        family = cls.from_modules(
            config, generator, discriminator, latent_shape, device, n_classes=n_classes
        )
        family.sample_kind = "points" if data.kind == "points" else "images"  # type: ignore[misc]
        return Built(family, config, data)

    @classmethod
    def from_modules(
        cls,
        config: GANConfig,
        generator: nn.Module,
        discriminator: nn.Module,
        latent_shape: tuple[int, ...],
        device: torch.device,
        n_classes: int | None = None,
    ) -> GANFamily:
        settings = settings_of(config)
        return cls(config, generator, discriminator, latent_shape, device, settings, n_classes)

    @classmethod
    def load(  # type: ignore[override]
        cls, config: GANConfig, state: dict[str, Any], device: torch.device, *, data: bool
    ) -> Built:
        source = build_data(config) if data else None
        n_classes = state.get("n_classes") if config.conditional else None
        if config.conditional and n_classes is None:
            raise ValueError("this conditional run's checkpoint records no n_classes")
        if source is not None and n_classes is not None:
            source = source.labelled()
        kind = (
            source.kind if source is not None else ("points" if config.model == "mlp" else "images")
        )
        config = resolve_defaults(config, kind, n_classes)
        if _is_pair(config.model):
            generator, discriminator = config.model
        else:
            from ...models import get_model

            if source is not None and source.kind == "points" or config.model == "mlp":
                dim = int(source.sample_shape[0]) if source is not None else 2
                generator, discriminator = get_model("mlp", latent_dim=config.latent_dim, dim=dim)
            else:
                channels = int(state["generator"][_last_weight(state["generator"])].shape[1])
                norm = "none" if config.loss == "wgan-gp" else "batch"
                generator, discriminator = get_model(
                    config.model,
                    image_size=config.image_size,
                    channels=channels,
                    latent_dim=config.latent_dim,
                    width=config.width,
                    norm=norm,
                    **({"n_classes": int(n_classes)} if n_classes is not None else {}),
                )
        latent_shape = tuple(state.get("latent_shape", (config.latent_dim,)))
        family = cls.from_modules(
            config,
            generator,
            discriminator,
            latent_shape,
            device,
            n_classes=None if n_classes is None else int(n_classes),
        )
        family.sample_kind = "points" if kind == "points" else "images"  # type: ignore[misc]
        return Built(family, config, source)


# Updates after which the average's batch-norm statistics are recomputed when something
# samples (snapshots come every 50 steps by default). Measured on the default DCGAN, the
# average with its calibration cost about 5% of steps/s (3.04 vs 3.16, 4 rounds; noisy).
CALIBRATE_EVERY = 50


def _augmenter(
    policy: tuple[str, ...], noise: torch.Generator
) -> Callable[[Tensor], Tensor] | None:
    """DiffAugment for image batches with the step's own RNG (so runs stay reproducible and
    resume bit-for-bit); 2-D points pass through untouched."""
    if not policy:
        return None

    def augment(x: Tensor) -> Tensor:
        return diff_augment(x, policy, noise) if x.dim() == 4 else x

    return augment


# ---------------------------------------------------------------------- building
def _is_pair(model: Any) -> bool:
    return isinstance(model, (tuple, list)) and len(model) == 2


def _build_models(
    config: GANConfig, data, n_classes: int | None = None
) -> tuple[nn.Module, nn.Module, GANConfig]:
    """Registry name or user pair -> (generator, discriminator); may adjust config.model.
    With `n_classes` (a conditional run) the pair must take the class (`accepts_labels`)."""
    from ...models import get_model, list_models

    model = config.model
    if _is_pair(model):
        generator, discriminator = model
        for role, module in (("generator", generator), ("discriminator", discriminator)):
            if not isinstance(module, nn.Module):
                raise TypeError(
                    f"the {role} must be a torch.nn.Module, got {type(module).__name__}; "
                    f"pass model=(generator, discriminator) with two nn.Module instances"
                )
        _conditional.check_pair(generator, discriminator, n_classes is not None)
        return generator, discriminator, config
    if not isinstance(model, str):
        raise TypeError(
            f"model must be a registered name ({', '.join(list_models('gan'))}) or a "
            f"(generator, discriminator) pair of nn.Module; got {type(model).__name__}"
        )
    from ...models import check_model_name

    check_model_name(model, "gan")  # names the GAN models only
    if data.kind == "points":
        if model == "dcgan":  # the default: 2-D points need the MLP, not convolutions
            model = "mlp"
            config = config.replace(model="mlp")
        if model != "mlp":
            raise ValueError(f"data {data.name!r} is 2-D points; use model='mlp' (got {model!r})")
        dim = int(data.sample_shape[0])
        seed_models = lambda: get_model("mlp", latent_dim=config.latent_dim, dim=dim)  # noqa: E731
    else:
        if model == "mlp":
            raise ValueError(
                f"model 'mlp' is for 2-D point data; data {data.name!r} holds images: use 'dcgan'"
            )
        channels = int(data.sample_shape[0])
        size = int(data.sample_shape[-1])
        norm = "none" if config.loss == "wgan-gp" else "batch"
        seed_models = lambda: get_model(  # noqa: E731
            model,
            image_size=size,
            channels=channels,
            latent_dim=config.latent_dim,
            width=config.width,
            norm=norm,
            **({"n_classes": n_classes} if n_classes is not None else {}),
        )
        if n_classes is not None and model != "dcgan":
            raise ValueError(
                f"conditional=True builds the conditional 'dcgan'; model {model!r} has no "
                "class input (or pass your own (generator, discriminator) taking (z, y), (x, y))"
            )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator, discriminator = seed_models()
    return generator, discriminator, config


def _probe(
    generator: nn.Module, discriminator: nn.Module, data, config: GANConfig, device: torch.device
):
    """Run one small batch through both models: shapes must fit before training starts.
    Returns the latent shape per sample the generator accepts."""
    expected = tuple(data.sample_shape)
    conditional = bool(getattr(data, "with_labels", False))
    with probing(device, generator, discriminator):
        decoder = _conditional.GridLabelled(generator, 1) if conditional else generator
        latent_shape = probe_decoding(
            decoder,
            config.latent_dim,
            device,
            expected,
            role="generator",
            made="samples",
            wanted="samples",
        )
        real = data.first_batch(min(4, config.batch_size)).to(device)
        labels = ()
        if conditional:
            real, labels = real.x, (real.y,)
        try:
            scores = discriminator(real, *labels)
        except Exception as exc:
            raise ValueError(
                f"the discriminator failed on a batch of real data of shape {tuple(real.shape)}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if scores.numel() != real.shape[0] and scores.shape[0] != real.shape[0]:
            raise ValueError(
                f"the discriminator must give one score per sample: for {real.shape[0]} samples "
                f"it returned shape {tuple(scores.shape)}"
            )
    return latent_shape


def _last_weight(state_dict: dict[str, torch.Tensor]) -> str:
    """The last convolution's weight (its output channels are the images'), past any class
    embedding registered after the convolutions."""
    keys = [k for k in state_dict if k.endswith("weight") and state_dict[k].dim() == 4]
    return keys[-1]


register_family(GANFamily)
