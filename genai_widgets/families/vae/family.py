"""The VAE as a `Family`: an encoder and a decoder trained together by one Adam optimizer on
the (beta-weighted) negative ELBO of `step.py`, the health checks that warn when the
posterior collapses or the reconstructions stop improving, and how a VAE run is built from its
config and rebuilt from a checkpoint. Encoding (`run.encode`, `run.reconstruct`, ...) is its
own capability (`encoding.py`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
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
from ..projection import PROJECTION, EncoderProjection
from .config import VAEConfig
from .encoding import ENCODING, EncodingMethods
from .step import VAE_METRICS, VAEParts, beta_at, elbo_terms, vae_step


class _Posterior(nn.Module):
    """Adapts a user's encoder to return (mu, logvar), each (N, latent_dim): it may return
    that pair, or one tensor whose 2 * latent_dim values per image are mu then logvar."""

    def __init__(self, inner: nn.Module, latent_dim: int):
        super().__init__()
        self.inner = inner
        self.latent_dim = latent_dim

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        out = self.inner(x)
        n = x.shape[0]
        if isinstance(out, (tuple, list)):
            if len(out) != 2:
                raise ValueError(
                    f"the encoder returned {len(out)} tensors; it must return (mu, logvar) or "
                    f"one tensor of 2 * latent_dim = {2 * self.latent_dim} values per image"
                )
            mu, logvar = out
            return mu.reshape(n, -1), logvar.reshape(n, -1)
        mu, logvar = out.reshape(n, -1).chunk(2, dim=1)
        return mu, logvar


class _DecoderOutput(nn.Module):
    """Adapts a user's decoder: z goes in the layout it accepts, and its output comes back in
    the form the likelihood scores (logits for bernoulli, pixel means in [-1, 1] units for
    gaussian). A decoder ending in Sigmoid (pixel probabilities, as in pytorch/examples' VAE)
    or Tanh (values in [-1, 1]) is converted back."""

    def __init__(self, inner: nn.Module, latent_shape: tuple[int, ...], likelihood: str):
        super().__init__()
        self.inner = inner
        self.latent_shape = tuple(latent_shape)
        self.likelihood = likelihood
        self.ends_in = (
            "sigmoid" if ends_in(inner, nn.Sigmoid) else "tanh" if ends_in(inner, nn.Tanh) else ""
        )

    def forward(self, z: Tensor) -> Tensor:
        out = self.inner(z.reshape(z.shape[0], *self.latent_shape))
        eps = 1e-6
        if self.likelihood == "bernoulli":
            if self.ends_in == "sigmoid":
                return torch.logit(out.clamp(eps, 1 - eps))
            if self.ends_in == "tanh":  # tanh(l / 2) = 2 sigmoid(l) - 1
                return 2 * torch.atanh(out.clamp(-1 + eps, 1 - eps))
            return out
        return 2 * out - 1 if self.ends_in == "sigmoid" else out


def _unique_parameters(*modules: nn.Module) -> list[nn.Parameter]:
    seen: dict[int, nn.Parameter] = {}
    for module in modules:
        for p in module.parameters():
            seen.setdefault(id(p), p)
    return list(seen.values())


class VAEFamily(EncoderProjection, EncodingMethods, NeighbourMethods, LatentFamily):
    """Encoder + decoder trained by `vae_step`.

    Health checks (class attributes, so a test or a person can tune them):
    posterior collapse when the mean KL over the last `collapse_steps` rows is under
    `collapse_kl` nats per image, judged only `collapse_after` steps after the warm-up ends
    (and with beta > 0); a reconstruction plateau when the mean `recon` of the last
    `plateau_window` steps is not at least `plateau_tolerance` (relative) below the mean of
    the `plateau_window` steps before."""

    name = "vae"
    config_class = VAEConfig
    module_names = ("encoder", "decoder")
    decoder_name = "decoder"
    capabilities = (
        LATENT_DECODING,
        LATENT_DIRECTIONS,
        ENCODING,
        TRAINING_NEIGHBOURS,
        PROJECTION,
    )
    dashboard = "genai_widgets.widgets.vae.dashboard:VAEDashboard"
    panels = ("controls", "curves", "samples", "reconstructions", "traversal", "latent scatter")
    description = "variational autoencoder: images"

    collapse_kl = 0.1
    collapse_steps = 100
    collapse_after = 500
    plateau_window = 500
    plateau_tolerance = 0.002

    def __init__(
        self,
        config: VAEConfig,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_shape: tuple[int, ...],
        device: torch.device,
        settings: dict[str, Any],
        sample_shape: tuple[int, ...],
    ):
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = config.likelihood
        self.likelihood_std = float(config.likelihood_std)
        self.sample_shape = tuple(sample_shape)
        self.init_latent(config, latent_shape)
        self.metric_names = VAE_METRICS
        posterior = (
            encoder if isinstance(encoder, _Posterior) else _Posterior(encoder, config.latent_dim)
        )
        output = (
            decoder
            if isinstance(decoder, _DecoderOutput)
            else _DecoderOutput(decoder, self.latent_shape, config.likelihood)
        )
        posterior.to(device).train()
        output.to(device).train()
        noise = torch.Generator(device=device)
        noise.manual_seed(config.seed + 1)
        self.parts = VAEParts(
            encoder=posterior,
            decoder=output,
            optimizer=torch.optim.Adam(
                _unique_parameters(posterior, output), lr=settings["lr"], betas=adam_betas(settings)
            ),
            likelihood=config.likelihood,
            likelihood_std=self.likelihood_std,
            noise=noise,
        )

    # ------------------------------------------------------------------ training
    def step(
        self, next_batch: NextBatch, settings: Settings, step: int, *, check_finite: bool
    ) -> Tensor:
        beta = beta_at(step, settings["beta"], settings["beta_warmup"])
        return vae_step(self.parts, next_batch, beta=beta, check_finite=check_finite)

    def apply_settings(self, settings: dict[str, Any]) -> None:
        set_lr(self.parts.optimizer, settings["lr"], adam_betas(settings))

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder.state_dict(),
            "decoder": self.decoder.state_dict(),
            "optimizer": self.parts.optimizer.state_dict(),
            "noise_rng": self.parts.noise.get_state(),
            **self.latent_state(),
        }

    def rank_streams(self, rank: int, seed: int) -> None:
        """A rank's own noise (z, augmentation, the penalty's mixing) in a torchrun job."""
        self.parts.noise.manual_seed(seed)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.encoder.load_state_dict(state["encoder"])
        self.decoder.load_state_dict(state["decoder"])
        self.parts.optimizer.load_state_dict(state["optimizer"])
        self.parts.noise.set_state(state["noise_rng"])
        self.load_latent_state(state)

    # ------------------------------------------------------------------ generation
    def modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder}

    def inference_modules(self) -> dict[str, nn.Module]:
        return {"encoder": self.parts.encoder, "decoder": self.parts.decoder}

    def result(self) -> Any:
        from ...models import VAEModels

        return VAEModels(self.encoder, self.decoder)

    def to_samples(self, raw: Tensor) -> Tensor:
        if self.likelihood == "bernoulli":
            return torch.tanh(raw / 2)  # = 2 sigmoid(logit) - 1: the pixel means in [-1, 1]
        return raw.clamp(-1, 1)

    def score(
        self, encoder: nn.Module, decoder: nn.Module, x: Tensor, noise: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        """(recon, kl) per image with the given (copies of the) modules: the step's terms."""
        return elbo_terms(encoder, decoder, x, noise, self.likelihood, self.likelihood_std)

    # ------------------------------------------------------------------ health
    def health(
        self, history: Columns, step: int, settings: Settings, evaluations: Columns | None = None
    ) -> Warnings:
        found: list[tuple[str, str]] = []
        kl = np.asarray(history.get("kl", ()), dtype=np.float64)
        recon = np.asarray(history.get("recon", ()), dtype=np.float64)
        judged_from = int(settings.get("beta_warmup") or 0) + self.collapse_after
        if settings.get("beta", 1.0) > 0 and step >= judged_from and len(kl):
            recent = kl[-self.collapse_steps :]
            mean_kl = float(np.nanmean(recent)) if np.isfinite(recent).any() else math.nan
            if mean_kl < self.collapse_kl:
                found.append(
                    (
                        "PosteriorCollapsed",
                        f"posterior collapse: the KL term is {mean_kl:.3g} nats per image (mean "
                        f"of the last {len(recent)} steps), so the code carries almost nothing "
                        f"about the input and the decoder ignores z. Lower beta (run.set("
                        f"beta=...)), warm it up (beta_warmup), or weaken the decoder.",
                    )
                )
        n = self.plateau_window
        if len(recon) >= 2 * n:
            before = float(np.nanmean(recon[-2 * n : -n]))
            after = float(np.nanmean(recon[-n:]))
            if before - after < self.plateau_tolerance * abs(before):
                found.append(
                    (
                        "ReconstructionPlateaued",
                        f"reconstructions stopped improving: the reconstruction term averaged "
                        f"{after:.4g} over the last {n} steps and {before:.4g} over the {n} "
                        f"before. Lower the learning rate (run.set(lr=...)), widen the model, "
                        f"or stop here.",
                    )
                )
        return found

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, config: VAEConfig, device: torch.device) -> Built:  # type: ignore[override]
        # The training part and the held-out part (`test_fraction`, drawn with seed + 4).
        data, held_out = build_data(config).split(config.test_fraction, seed=config.seed + 4)
        config = with_data_size(config, data)
        encoder, decoder = build_vae_modules(config, data)
        latent_shape = probe_vae(encoder, decoder, data, config, device)
        settings = settings_of(config)
        family = cls(
            config, encoder, decoder, latent_shape, device, settings, tuple(data.sample_shape)
        )
        return Built(family, config, data, held_out)

    @classmethod
    def load(  # type: ignore[override]
        cls, config: VAEConfig, state: dict[str, Any], device: torch.device, *, data: bool
    ) -> Built:
        from ...models import get_model

        source = held_out = None
        if data:  # the same split as when it trained (seeded)
            source, held_out = build_data(config).split(config.test_fraction, seed=config.seed + 4)
        if source is not None:
            sample_shape: tuple[int, ...] = tuple(source.sample_shape)
        elif isinstance(config.model, (tuple, list)):
            sample_shape = ()  # unknown without data: encode() then checks no shape
        else:  # no data given: the image shape from the decoder's last layer and the config
            last = [k for k in state["decoder"] if k.endswith("weight")][-1]
            channels = int(state["decoder"][last].shape[1])
            sample_shape = (channels, config.image_size, config.image_size)
        if isinstance(config.model, (tuple, list)):
            encoder, decoder = config.model
        else:
            encoder, decoder = get_model(
                config.model,
                image_size=sample_shape[-1],
                channels=sample_shape[0],
                latent_dim=config.latent_dim,
                width=config.width,
            )
        settings = settings_of(config)
        latent_shape = tuple(state.get("latent_shape", (config.latent_dim,)))
        family = cls(config, encoder, decoder, latent_shape, device, settings, sample_shape)
        return Built(family, config, source, held_out)


# ---------------------------------------------------------------------- building
def build_vae_modules(config: VAEConfig, data: Any) -> tuple[nn.Module, nn.Module]:
    """Registry name or user pair -> (encoder, decoder), seeded by config.seed."""
    from ...models import check_model_name, get_model, list_models

    model = config.model
    if isinstance(model, (tuple, list)) and len(model) == 2:
        for role, module in zip(("encoder", "decoder"), model, strict=True):
            if not isinstance(module, nn.Module):
                raise TypeError(
                    f"the {role} must be a torch.nn.Module, got {type(module).__name__}; "
                    f"pass model=(encoder, decoder) with two nn.Module instances"
                )
        return model[0], model[1]
    if not isinstance(model, str):
        raise TypeError(
            f"model must be a registered VAE name ({', '.join(list_models('vae'))}) or an "
            f"(encoder, decoder) pair of nn.Module; got {type(model).__name__}"
        )
    if data.kind == "points":
        raise ValueError(
            f"data {data.name!r} is 2-D points; the built-in VAE models are for images "
            f"(digits, mnist, a folder...), or pass your own model=(encoder, decoder)"
        )
    check_model_name(model, "vae")  # names the VAE models only
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        encoder, decoder = get_model(
            model,
            image_size=int(data.sample_shape[-1]),
            channels=int(data.sample_shape[0]),
            latent_dim=config.latent_dim,
            width=config.width,
        )
    return encoder, decoder


def probe_vae(
    encoder: nn.Module, decoder: nn.Module, data: Any, config: VAEConfig, device: torch.device
) -> tuple[int, ...]:
    """One small batch through both modules: shapes must fit before training starts. Returns
    the latent shape per sample the decoder accepts."""
    expected = tuple(data.sample_shape)
    d = config.latent_dim
    with probing(device, encoder, decoder):
        real = data.first_batch(min(4, config.batch_size)).to(device)
        try:
            mu, logvar = _Posterior(encoder, d)(real)
        except Exception as exc:
            raise ValueError(
                f"the encoder failed on a batch of real data of shape {tuple(real.shape)}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if mu.shape != (real.shape[0], d) or logvar.shape != mu.shape:
            raise ValueError(
                f"the encoder must give mu and logvar of latent_dim={d} values per image: for "
                f"{real.shape[0]} images it gave shapes {tuple(mu.shape)} and "
                f"{tuple(logvar.shape)}"
            )
        latent_shape = probe_decoding(
            decoder, d, device, expected, role="decoder", made="outputs", wanted="images"
        )
    return latent_shape


register_family(VAEFamily)
