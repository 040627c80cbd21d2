"""`train_gan`, `train_vae` and `load_run`: validate everything before a thread starts, then
hand over to `Run`. Errors here say what was given and what is accepted."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint import list_checkpoints, load_checkpoint
from .config import (
    CONFIGS,
    GANConfig,
    RunConfig,
    VAEConfig,
    build_config,
    make_config,
    resolve_defaults,
)
from .family import NoWeights, probe_latent_layout
from .gan_family import GANFamily
from .run import RUNS, Run, _default_name, resolve_device
from .store import RunReader
from .vae_family import VAEFamily, build_vae_modules, probe_vae


def _build_data(config: RunConfig):
    """The config's data; image_size None ("auto") keeps the size of data the user brings and
    gives the named sets theirs (`data.NAMED_IMAGE_SIZE`)."""
    from ..data import get_dataset

    size = "auto" if config.image_size is None else config.image_size
    return get_dataset(config.data, image_size=size, channels=config.channels, seed=config.seed)


def _with_data_size(config: Any, data) -> Any:
    """`config` with image_size set to the side the data came at, so config.json records the
    size trained at and `load_run` rebuilds the same models (like the other "auto" fields)."""
    if config.image_size is None and data.kind == "images":
        return config.replace(image_size=int(data.sample_shape[-1]))
    return config


def _is_pair(model: Any) -> bool:
    return isinstance(model, (tuple, list)) and len(model) == 2


def _build_models(config: GANConfig, data) -> tuple[nn.Module, nn.Module, GANConfig]:
    """Registry name or user pair -> (generator, discriminator); may adjust config.model."""
    from ..models import get_model, list_models

    model = config.model
    if _is_pair(model):
        generator, discriminator = model
        for role, module in (("generator", generator), ("discriminator", discriminator)):
            if not isinstance(module, nn.Module):
                raise TypeError(
                    f"the {role} must be a torch.nn.Module, got {type(module).__name__}; "
                    f"pass model=(generator, discriminator) with two nn.Module instances"
                )
        return generator, discriminator, config
    if not isinstance(model, str):
        raise TypeError(
            f"model must be a registered name ({', '.join(list_models('gan'))}) or a "
            f"(generator, discriminator) pair of nn.Module; got {type(model).__name__}"
        )
    from ..models import check_model_name

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
    generator.to(device)
    discriminator.to(device)
    modes = (generator.training, discriminator.training)
    generator.eval()
    discriminator.eval()
    try:
        with torch.no_grad():
            out, latent_shape = probe_latent_layout(
                generator, config.latent_dim, device, "generator"
            )
            if not isinstance(out, torch.Tensor) or tuple(out.shape[1:]) != expected:
                got = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else type(out).__name__
                raise ValueError(
                    f"the generator makes samples of shape {got} but the data's samples are "
                    f"{expected}; match them with image_size= / channels= (image_size=None keeps "
                    "the data's own size), or change the generator"
                )
            real = data.first_batch(min(4, config.batch_size)).to(device)
            try:
                scores = discriminator(real)
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
    finally:
        generator.train(modes[0])
        discriminator.train(modes[1])
    return latent_shape


def _prepare_run_dir(config: RunConfig) -> tuple[Path, Any]:
    if config.run_dir:
        run_dir = Path(config.run_dir)
        name = config.name or run_dir.name
    else:
        name = config.name or _default_name(config.family)
        run_dir = Path(os.getcwd()) / "runs" / name
    if (run_dir / "config.json").exists() or list_checkpoints(run_dir):
        raise FileExistsError(
            f"{run_dir} already holds a run; continue it with gw.load_run({str(run_dir)!r}) "
            f"or choose another run_dir / name"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir, config.replace(name=name)


def _check_name_free(config: RunConfig) -> None:
    if config.name in RUNS and RUNS[config.name].status in ("running", "paused"):
        raise ValueError(
            f"a run named {config.name!r} is still {RUNS[config.name].status}; stop it or pick another name"
        )


def build_run(config: RunConfig) -> Run:
    """Everything `train_gan` / `train_vae` does except starting the thread; the config's
    class (GANConfig, VAEConfig) picks the family."""
    if isinstance(config, VAEConfig):
        return build_vae_run(config)
    device = resolve_device(config.device)
    data = _build_data(config)
    config = _with_data_size(config, data)
    config = resolve_defaults(config, data.kind)  # "auto" latent_dim, batch_size, lr
    generator, discriminator, config = _build_models(config, data)
    latent_shape = _probe(generator, discriminator, data, config, device)
    _check_name_free(config)
    run_dir, config = _prepare_run_dir(config)
    return Run(
        config,
        generator=generator,
        discriminator=discriminator,
        data_source=data,
        device=device,
        latent_shape=latent_shape,
        run_dir=run_dir,
    )


def train_gan(
    data: Any = "digits",
    model: Any = "dcgan",
    loss: str = "nonsaturating",
    latent_dim: int | None = None,
    image_size: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    max_steps: int | None = None,
    epochs: float | None = None,
    device: str = "auto",
    seed: int = 0,
    name: str | None = None,
    run_dir: str | os.PathLike | None = None,
    **options: Any,
) -> Run:
    """Start training a GAN in a background thread and return its `Run` at once.

    `data`: "digits" (offline default), "mnist", "fashion-mnist", "cifar10", "ring", "grid",
    "spiral", "moons", an image folder path, a Dataset, a DataLoader or a tensor.
    `model`: "dcgan", "mlp" (2-D data) or a `(generator, discriminator)` pair of modules.
    `loss`: "nonsaturating", "minimax", "wgan-gp" or "hinge". `latent_dim`, `batch_size` and
    `lr` left at None suit the data: 64, 64, 2e-4 for images; 2, 256, 1e-3 for 2-D points.
    `image_size` None keeps the size of the data you bring (a DataLoader of 28 x 28 images
    trains at 28); the named sets come at 32. A number resamples the data to that side.
    Other options are the fields of `GANConfig` (n_critic, gp_weight, width, channels, beta1,
    sample_every, step_delay, ...)."""
    config = make_config(
        data=data,
        model=model,
        loss=loss,
        latent_dim=latent_dim,
        image_size=image_size,
        batch_size=batch_size,
        lr=lr,
        max_steps=max_steps,
        epochs=epochs,
        device=device,
        seed=seed,
        name=name,
        run_dir=run_dir,
        **options,
    )
    return build_run(config).start()


def _vae_data(config: VAEConfig):
    """The training part and the held-out part (`test_fraction`, drawn with seed + 4)."""
    return _build_data(config).split(config.test_fraction, seed=config.seed + 4)


def build_vae_run(config: VAEConfig) -> Run:
    """Everything `train_vae` does except starting the thread."""
    device = resolve_device(config.device)
    data, held_out = _vae_data(config)
    config = _with_data_size(config, data)
    encoder, decoder = build_vae_modules(config, data)
    latent_shape = probe_vae(encoder, decoder, data, config, device)
    _check_name_free(config)
    run_dir, config = _prepare_run_dir(config)
    settings = {k: getattr(config, k) for k in VAEConfig.settable}
    family = VAEFamily(
        config, encoder, decoder, latent_shape, device, settings, tuple(data.sample_shape)
    )
    return Run(
        config,
        family=family,
        data_source=data,
        held_out=held_out,
        device=device,
        run_dir=run_dir,
    )


def train_vae(
    data: Any = "digits",
    model: Any = "conv-vae",
    latent_dim: int = 16,
    beta: float = 1.0,
    image_size: int | None = None,
    batch_size: int = 64,
    lr: float = 1e-3,
    max_steps: int | None = None,
    epochs: float | None = None,
    device: str = "auto",
    seed: int = 0,
    name: str | None = None,
    run_dir: str | os.PathLike | None = None,
    **options: Any,
) -> Run:
    """Start training a VAE in a background thread and return its `Run` at once.

    `data`: as for `train_gan` (images); `test_fraction` of in-memory data is held out for
    the held-out ELBO (`run.evaluate()`) and the latent scatter. `model`: "conv-vae" or an
    `(encoder, decoder)` pair of modules (the encoder returns `(mu, logvar)` or one tensor of
    2 * latent_dim values per image; the decoder maps z to pixel logits, or to pixel means
    with `likelihood="gaussian"`). `beta` weights the KL term (`beta_warmup` steps of linear
    warm-up from 0). `image_size` None keeps the size of the data you bring (the named sets
    come at 32). Other options are the fields of `VAEConfig`."""
    config = build_config(
        VAEConfig,
        dict(
            data=data,
            model=model,
            latent_dim=latent_dim,
            beta=beta,
            image_size=image_size,
            batch_size=batch_size,
            lr=lr,
            max_steps=max_steps,
            epochs=epochs,
            device=device,
            seed=seed,
            name=name,
            run_dir=run_dir,
            **options,
        ),
    )
    return build_run(config).start()


def load_run(
    path: str | os.PathLike,
    *,
    model: Any = None,
    data: Any = None,
    device: str | None = None,
    checkpoint: str | os.PathLike | None = None,
) -> Run:
    """Open a run directory at its latest checkpoint. The run's status is how it ended
    ("finished", "failed", or "stopped": stopped, or its process was killed); `resume()`
    continues training from the saved step with optimizer, RNG and data position restored.
    The family (GAN, VAE) comes from the directory's `config.json`.

    Runs trained on your own modules or data objects need them again: `model=(generator,
    discriminator)` or `model=(encoder, decoder)` (same architecture) and `data=...` to
    continue training.

    A run whose process wrote no checkpoint before it ended, or one on your own modules
    opened without them, opens as a read-only view (`run.has_weights` is False): history,
    evaluations, snapshots, events and the dashboard work; `resume()`, `sample()` and the
    like raise a RuntimeError saying why there are no weights. No module is built."""
    run_dir = Path(path)
    config_file = run_dir / "config.json"
    if not config_file.exists():
        raise FileNotFoundError(f"{run_dir} is not a genai_widgets run directory (no config.json)")
    saved = json.loads(config_file.read_text())
    family = saved.pop("family", None) or "gan"  # runs from before families were recorded
    if family not in CONFIGS:
        raise ValueError(f"{config_file} names an unknown model family {family!r}")
    config_class = CONFIGS[family]
    ckpt_path = Path(checkpoint) if checkpoint else (list_checkpoints(run_dir) or [None])[-1]
    if ckpt_path is None:
        return _open_without_weights(run_dir, saved, config_class, device)

    def restored(key: str, given: Any) -> Any:
        if given is not None:
            return given
        value = saved.get(key)
        if isinstance(value, str) and value.startswith("<"):
            return None  # an object that was not saved
        return value

    data_arg = restored("data", data)
    model_arg = restored("model", model)
    if model_arg is None:  # its weights need the user's modules: a view until they are given
        pair = "encoder, decoder" if family == "vae" else "generator, discriminator"
        return _open_without_weights(
            run_dir,
            saved,
            config_class,
            device,
            why=f"it was trained on your own modules ({saved.get('model')}); to train or "
            f"sample, pass them again: gw.load_run({str(run_dir)!r}, model=({pair}))",
            summary="read-only: the run's own modules were not given (model=)",
        )
    state = load_checkpoint(ckpt_path)
    fields = {k: v for k, v in saved.items() if k not in ("data", "model")}
    fields.update(state.get("settings", {}))
    fields.update(run_dir=str(run_dir), device=device or saved.get("device", "auto"))
    config = build_config(
        config_class,
        dict(data=data_arg if data_arg is not None else "digits", model=model_arg, **fields),
    )
    if isinstance(config, VAEConfig):
        return _load_vae_run(config, state, run_dir, has_data=data_arg is not None)
    torch_device = resolve_device(config.device)
    source = None
    if data_arg is not None:
        source = _build_data(config)
    kind = source.kind if source is not None else ("points" if config.model == "mlp" else "images")
    config = resolve_defaults(config, kind)
    if _is_pair(config.model):
        generator, discriminator = config.model
    else:
        from ..models import get_model

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
            )
    run = Run(
        config,
        generator=generator,
        discriminator=discriminator,
        data_source=source,
        device=torch_device,
        latent_shape=tuple(state.get("latent_shape", (config.latent_dim,))),
        run_dir=run_dir,
        checkpoint=state,
    )
    return run


def _load_vae_run(config: VAEConfig, state: dict[str, Any], run_dir: Path, has_data: bool) -> Run:
    from ..models import get_model

    torch_device = resolve_device(config.device)
    source = held_out = None
    if has_data:
        source, held_out = _vae_data(config)  # the same split as when it trained (seeded)
    if source is not None:
        sample_shape: tuple[int, ...] = tuple(source.sample_shape)
    elif isinstance(config.model, (tuple, list)):
        sample_shape = ()  # unknown without data: encode() then checks no shape
    else:  # no data given: the image shape from the decoder's last layer and the config
        channels = int(state["decoder"][_last_weight(state["decoder"])].shape[1])
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
    settings = {k: getattr(config, k) for k in VAEConfig.settable}
    latent_shape = tuple(state.get("latent_shape", (config.latent_dim,)))
    family = VAEFamily(config, encoder, decoder, latent_shape, torch_device, settings, sample_shape)
    return Run(
        config,
        family=family,
        data_source=source,
        held_out=held_out,
        device=torch_device,
        run_dir=run_dir,
        checkpoint=state,
    )


def _open_without_weights(
    run_dir: Path,
    saved: dict[str, Any],
    config_class: type[RunConfig],
    device: str | None,
    why: str | None = None,
    summary: str | None = None,
) -> Run:
    """A view of a run directory without weights: the store's history, snapshots,
    evaluations and events, without building any module. By default for a run with no
    checkpoint (its process died before the first one); `why` / `summary` say otherwise."""
    family_class = VAEFamily if config_class is VAEConfig else GANFamily
    reader = RunReader(run_dir)  # FileNotFoundError when the directory has no store either
    try:
        meta = reader.meta()
        columns = reader.columns("metrics")
        last_step = reader.last_step()
    finally:
        reader.close()
    fields = dict(saved, run_dir=str(run_dir))
    config = build_config(config_class, fields)
    name = config.name or run_dir.name
    why = why or (
        f"no checkpoint was written before its process ended (metrics exist up to step {last_step})"
    )
    reason = f"run {name!r} has no weights to train or sample from: {why}"
    summary = summary or f"read-only: no checkpoint was written (metrics up to step {last_step})"
    metric_names = tuple(c for c in columns if c not in ("step", "time", "lr"))
    latent_shape = tuple(meta.get("latent_shape") or (config.latent_dim,))
    # Nothing runs on a device: the CPU, unless one is asked for.
    torch_device = resolve_device(device) if device else torch.device("cpu")
    return Run(
        config,
        family=NoWeights(family_class, metric_names, latent_shape, reason, summary),
        data_source=None,
        device=torch_device,
        run_dir=run_dir,
        reopen=True,
    )


def _last_weight(state_dict: dict[str, torch.Tensor]) -> str:
    keys = [k for k in state_dict if k.endswith("weight")]
    return keys[-1]
