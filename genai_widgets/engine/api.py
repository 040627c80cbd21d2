"""`build_run` and `load_run` for any registered family: validate everything before a thread
starts, then hand over to `Run`. Errors here say what was given and what is accepted.

The family comes from the registry: the config's class names it for a new run, a run
directory's `config.json` for a reopened one. The package's `gw.train_gan` / `gw.train_vae`
(in `genai_widgets.families`) build a config and call `build_run`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from .checkpoint import list_checkpoints, load_checkpoint
from .config import RunConfig, build_config
from .distributed import in_worker
from .family import Family, NoWeights
from .registry import family_for_config, get_family
from .run import RUNS, Run, _default_name, resolve_device
from .store import RunReader


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
    """Everything `train_<family>` does except starting the thread: the config's class picks
    the registered family (`Family.build` makes its data, modules and optimizers)."""
    if not isinstance(config, RunConfig):
        raise TypeError(
            f"build_run takes a RunConfig (GANConfig, ...), got {type(config).__name__}"
        )
    family_class = family_for_config(config)
    if (config.nproc > 1 or config.nnodes > 1) and not in_worker():
        return _build_job(config, family_class)
    device = resolve_device(config.device)
    built = family_class.build(config, device)
    _check_name_free(built.config)
    run_dir, config = _prepare_run_dir(built.config)
    return Run(
        config,
        family=built.family,
        data_source=built.data,
        held_out=built.held_out,
        device=device,
        run_dir=run_dir,
    )


def _build_job(config: RunConfig, family_class: type[Family]) -> Any:
    """A torchrun job's handle (`launch.prepare_job`); its `start()` launches the job."""
    from .launch import prepare_job
    from .remote import refuse_live_job

    _check_name_free(config)
    if config.run_dir:
        run_dir = Path(config.run_dir).resolve()
        refuse_live_job(run_dir)
        config = config.replace(run_dir=str(run_dir))
    existed = Path(config.run_dir).exists() if config.run_dir else False
    run_dir, config = _prepare_run_dir(config)
    try:
        return prepare_job(config, family_class, run_dir.resolve())
    except BaseException:
        if not existed:  # a refused job leaves nothing behind
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


def start_run(config_class: type[RunConfig], arguments: dict[str, Any]) -> Run:
    """A `train_<family>(...)` entry point's body: `arguments` is its `locals()` (named
    parameters plus `**options`); builds and validates a `config_class` from them, builds the
    run and starts it. `train_gan`, `train_vae` and an outside family's own call this."""
    fields = {k: v for k, v in arguments.items() if k != "options"}
    fields.update(arguments.get("options") or {})
    return build_run(build_config(config_class, fields)).start()


def load_run(
    path: str | os.PathLike,
    *,
    model: Any = None,
    data: Any = None,
    device: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    nproc: int | None = None,
    **job: Any,
) -> Run:
    """Open a run directory at its latest checkpoint. The run's status is how it ended
    ("finished", "failed", or "stopped": stopped, or its process was killed); `resume()`
    continues training from the saved step with optimizer, RNG and data position restored.
    The family (GAN, VAE, or an outside one registered with `gw.register_family`) comes from
    the directory's `config.json`.

    Runs trained on your own modules or data objects need them again: `model=(generator,
    discriminator)` or `model=(encoder, decoder)` (same architecture) and `data=...` to
    continue training.

    A run whose process wrote no checkpoint before it ended, or one on your own modules
    opened without them, opens as a read-only view (`run.has_weights` is False): history,
    evaluations, snapshots, events and the dashboard work; `resume()`, `sample()` and the
    like raise a RuntimeError saying why there are no weights. No module is built.

    `nproc=N` (with `nnodes`, `rdzv_endpoint`, `rdzv_id`, `max_restarts` for more nodes)
    continues the run as a torchrun job of that size, whatever size trained it so far (one
    process too): a `RemoteRun`, whose `resume()` or `start()` launches it from the last
    checkpoint (`set(max_steps=...)` first to train further). Without `nproc` a run a job
    trained opens here, in this process."""
    unknown = sorted(set(job) - set(JOB_FIELDS))
    if unknown:
        raise TypeError(
            f"load_run() got unexpected keyword arguments {unknown}; the torchrun ones are "
            f"nproc, {', '.join(JOB_FIELDS)}"
        )
    if nproc is not None or job:
        if checkpoint is not None:
            raise ValueError("a job resumes from the run's last checkpoint; leave checkpoint=")
        from .launch import prepare_resume

        local = load_run(path, model=model, data=data, device="cpu")
        if not local.has_weights:
            local._store.close()
            raise ValueError(f"{path} cannot be continued by a job: {local.family.reason}")
        # The workers' device: the one asked for, else the run's own (opened here on the CPU).
        saved_device = json.loads((Path(path) / "config.json").read_text()).get("device")
        job = {"nproc": nproc or 1, **job, "device": device or saved_device or "auto"}
        return prepare_resume(local, job)
    run_dir = Path(path)
    config_file = run_dir / "config.json"
    if not config_file.exists():
        raise FileNotFoundError(f"{run_dir} is not a genai_widgets run directory (no config.json)")
    saved = json.loads(config_file.read_text())
    name = saved.pop("family", None) or "gan"  # runs from before families were recorded
    try:
        family_class = get_family(name)
    except KeyError as exc:
        raise ValueError(f"{config_file} names an unknown model family: {exc.args[0]}") from None
    ckpt_path = Path(checkpoint) if checkpoint else (list_checkpoints(run_dir) or [None])[-1]
    if ckpt_path is None:
        return _open_without_weights(run_dir, saved, family_class, device)

    def restored(key: str, given: Any) -> Any:
        if given is not None:
            return given
        value = saved.get(key)
        if isinstance(value, str) and value.startswith("<"):
            return None  # an object that was not saved
        return value

    data_arg = restored("data", data)
    model_arg = restored("model", model)
    own_modules = isinstance(saved.get("model"), str) and saved["model"].startswith("<")
    if model_arg is None and own_modules:  # needs the user's modules: a view until given
        roles = ", ".join(family_class.module_names) or "..."
        return _open_without_weights(
            run_dir,
            saved,
            family_class,
            device,
            why=f"it was trained on your own modules ({saved.get('model')}); to train or "
            f"sample, pass them again: gw.load_run({str(run_dir)!r}, model=({roles}))",
            summary="read-only: the run's own modules were not given (model=)",
        )
    state = load_checkpoint(ckpt_path)
    config_class = family_class.config_class
    assert config_class is not None
    fields = {k: v for k, v in saved.items() if k not in ("data", "model")}
    fields.update(state.get("settings", {}))
    fields.update(run_dir=str(run_dir), device=device or saved.get("device", "auto"))
    given = {} if data_arg is None else {"data": data_arg}  # None: the config's default
    if model_arg is not None:
        given["model"] = model_arg
    config = build_config(config_class, dict(**given, **fields))
    torch_device = resolve_device(config.device)
    built = family_class.load(config, state, torch_device, data=data_arg is not None)
    return Run(
        built.config,
        family=built.family,
        data_source=built.data,
        held_out=built.held_out,
        device=torch_device,
        run_dir=run_dir,
        checkpoint=state,
    )


JOB_FIELDS = ("nnodes", "rdzv_endpoint", "rdzv_id", "max_restarts")  # with nproc: load_run


def _open_without_weights(
    run_dir: Path,
    saved: dict[str, Any],
    family_class: type[Family],
    device: str | None,
    why: str | None = None,
    summary: str | None = None,
) -> Run:
    """A view of a run directory without weights: the store's history, snapshots,
    evaluations and events, without building any module. By default for a run with no
    checkpoint (its process died before the first one); `why` / `summary` say otherwise."""
    reader = RunReader(run_dir)  # FileNotFoundError when the directory has no store either
    try:
        meta = reader.meta()
        columns = reader.columns("metrics")
        last_step = reader.last_step()
    finally:
        reader.close()
    config_class = family_class.config_class
    assert config_class is not None
    fields = {k: v for k, v in saved.items() if k in {f for f in config_class.__dataclass_fields__}}
    fields["run_dir"] = str(run_dir)
    config = build_config(config_class, fields)
    name = config.name or run_dir.name
    why = why or (
        f"no checkpoint was written before its process ended (metrics exist up to step {last_step})"
    )
    reason = f"run {name!r} has no weights to train or sample from: {why}"
    summary = summary or f"read-only: no checkpoint was written (metrics up to step {last_step})"
    metric_names = tuple(c for c in columns if c not in ("step", "time", "lr"))
    meta = {k: v for k, v in meta.items() if k != "family"}
    # Nothing runs on a device: the CPU, unless one is asked for.
    torch_device = resolve_device(device) if device else torch.device("cpu")
    return Run(
        config,
        family=NoWeights(family_class, metric_names, meta, reason, summary, config),
        data_source=None,
        device=torch_device,
        run_dir=run_dir,
        reopen=True,
    )


def attach(run_dir: str | os.PathLike, *, timeout: float = 30.0) -> Any:
    """The handle on the torchrun job training in `run_dir` on this host (`remote.attach`)."""
    from .remote import attach as _attach

    return _attach(run_dir, timeout=timeout)


__all__ = ["attach", "build_run", "load_run", "start_run"]
