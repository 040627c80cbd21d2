"""Starting a torchrun job from the notebook (`nproc=N`): check everything here, ship the
config with the user's own modules and data to the workers (cloudpickle, by value), and start
a real `torchrun` process tree on the package's worker (`distributed.py`). The kernel is never
forked: it has CUDA, ZMQ and widget threads.

`prepare_job` is what `build_run` does for a config with `nproc > 1` (or `nnodes > 1`); it
returns a `RemoteRun` whose `start()` launches the job."""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from .config import RunConfig
from .distributed import LAUNCH_FILE
from .store import RunStore

TORCHRUN_LOGS = "torchrun"  # torchrun's --log-dir inside the run directory
LAUNCHER_LOG = "launcher.log"  # the launcher's own stdout and stderr


def ship(config: RunConfig) -> bytes:
    """The config pickled by value (classes defined in a notebook travel with it). What cannot
    be pickled raises ValueError naming the field and why, before any process starts."""
    import cloudpickle

    try:
        return cloudpickle.dumps(config)
    except Exception as whole:
        for f in dataclasses.fields(config):
            value = getattr(config, f.name)
            try:
                cloudpickle.dumps(value)
            except Exception as exc:
                raise ValueError(
                    f"cannot ship {f.name}={_describe(value)} to the worker processes: "
                    f"{type(exc).__name__}: {exc}. Workers get your objects pickled by value "
                    "(cloudpickle); pass data as a tensor or a picklable Dataset, and a module "
                    "that holds no open files, locks or threads"
                ) from None
        raise ValueError(f"cannot ship the config to the worker processes: {whole}") from None


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"<{type(value).__name__}>"


def torchrun_command(config: RunConfig, run_dir: Path) -> list[str]:
    """The launcher's command line for this node: `python -m torch.distributed.run` with the
    config's rendezvous, running the package's worker on `run_dir`."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(config.nproc)]
    if config.nnodes == 1 and config.rdzv_endpoint is None:
        cmd.append("--standalone")
    else:
        cmd += ["--nnodes", str(config.nnodes), "--rdzv-backend", "c10d"]
        cmd += ["--rdzv-endpoint", str(config.rdzv_endpoint)]
        cmd += ["--rdzv-id", str(config.rdzv_id or run_dir.name)]
    cmd += ["--max-restarts", str(config.max_restarts)]
    cmd += ["--log-dir", str(run_dir / TORCHRUN_LOGS), "--redirects", "3"]
    cmd += ["-m", "genai_widgets.engine.distributed", str(run_dir)]
    return cmd


def node_command(config: RunConfig, run_dir: Path) -> str:
    """What to type on another node of a multi-node job (the run directory shared)."""
    cmd = torchrun_command(config, run_dir)
    cmd[0] = "python"
    return shlex.join(cmd)


def check_family_jobs(config: RunConfig, family_class: Any) -> None:
    """A family that trains in one process only refuses a job before anything starts."""
    reason = getattr(family_class, "single_process", None)
    if reason:
        raise ValueError(
            f"nproc={config.nproc}, nnodes={config.nnodes}: the {family_class.name} family "
            f"trains in one process ({reason}); use nproc=1"
        )


def check_world(config: RunConfig) -> None:
    if config.nnodes > 1 and config.rdzv_endpoint is None:
        raise ValueError(
            f"nnodes={config.nnodes} needs rdzv_endpoint='host:port' (the c10d rendezvous "
            "every node's launcher joins) and the same rdzv_id on every node"
        )
    world = config.nproc * config.nnodes
    if config.batch_size % world:
        lower = max(world, config.batch_size - config.batch_size % world)
        raise ValueError(
            f"batch_size={config.batch_size} is the global batch and must divide by the "
            f"{world} processes (nproc={config.nproc} x nnodes={config.nnodes}); use "
            f"{lower} or {lower + world}"
        )


def _write_launch(run_dir: Path, payload: bytes) -> None:
    """The shipped config, written atomically where the workers read it."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-launch-", dir=run_dir)
    with os.fdopen(fd, "wb") as f:
        f.write(payload)
    os.replace(tmp, run_dir / LAUNCH_FILE)


def prepare_job(config: RunConfig, family_class: Any, run_dir: Path) -> Any:
    """Validate and build the run here (on the CPU: the kernel keeps a copy of the family to
    sample from the weights rank 0 publishes), write the shipped config, and return the
    unstarted handle."""
    from .remote import RemoteRun, refuse_live_job

    check_family_jobs(config, family_class)
    refuse_live_job(run_dir)
    local = config.replace(device="cpu", nproc=1, nnodes=1)
    built = family_class.build(local, torch.device("cpu"))
    resolved = built.config.replace(
        device=config.device,
        nproc=config.nproc,
        nnodes=config.nnodes,
        run_dir=str(run_dir),
    )
    check_world(resolved)
    payload = ship(resolved)
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_launch(run_dir, payload)
    store = RunStore(run_dir)  # the tables exist before a worker starts: the handle reads them
    store.set_meta("family", family_class.name)
    store.flush()
    store.close()
    return RemoteRun(resolved, built.family, run_dir, command=torchrun_command(resolved, run_dir))


def prepare_resume(local: Any, job: dict[str, Any]) -> Any:
    """A saved run continued by a torchrun job of another world size (`gw.load_run(path,
    nproc=N)`): `local` is the run as `load_run` opened it here (its family, weights and
    config); `job` the torchrun fields (nproc, nnodes, rdzv_endpoint, rdzv_id,
    max_restarts). Returns the unstarted handle; rank 0 resumes from the last checkpoint."""
    from .config import check_launch
    from .remote import RemoteRun, refuse_live_job

    run_dir = Path(local.run_dir).resolve()
    config = local.config.replace(run_dir=str(run_dir), **job)
    check_family_jobs(config, type(getattr(local.family, "real", local.family)))
    refuse_live_job(run_dir)
    check_launch(config)
    check_world(config)
    payload = ship(config)
    local._store.close()  # the job's rank 0 writes the store from here on
    _write_launch(run_dir, payload)
    return RemoteRun(config, local.family, run_dir, command=torchrun_command(config, run_dir))


def start_launcher(command: list[str], run_dir: Path, env: dict[str, str] | None = None) -> Any:
    """Start the torchrun launcher in a session of its own (a kernel restart leaves the job
    running), its output in the run directory's launcher.log."""
    environment = dict(os.environ if env is None else env)
    # The workers import what this process imports (a module beside the notebook).
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    environment["PYTHONPATH"] = os.pathsep.join(
        dict.fromkeys([*paths, *environment.get("PYTHONPATH", "").split(os.pathsep)])
    ).strip(os.pathsep)
    environment.setdefault("PYTHONUNBUFFERED", "1")
    log = open(run_dir / LAUNCHER_LOG, "ab")  # noqa: SIM115 (the child holds it)
    log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(command)}\n".encode())
    log.flush()
    try:
        return subprocess.Popen(
            command,
            cwd=os.getcwd(),
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()


__all__ = [
    "check_world",
    "node_command",
    "prepare_job",
    "prepare_resume",
    "ship",
    "start_launcher",
    "torchrun_command",
]
