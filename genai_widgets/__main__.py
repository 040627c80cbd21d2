"""usage: python -m genai_widgets [--family gan|vae|text|hmm] [--FLAG VALUE ...]

Train a GAN (or, with --family vae, a VAE; --family text, a char-level Transformer; --family
hmm, a hidden Markov model) from a
terminal, without Jupyter: the run's metrics, sample grids and checkpoints go to a run
directory that a notebook can open later, live or finished, with `gw.load_run(run_dir)`, or
watch and steer live with `gw.attach(run_dir)` (the same flags as the notebook's
`%gan_train` / `%vae_train` / `%text_train` magics). Progress prints every few seconds;
Ctrl-C stops after the current step and writes a checkpoint.

With --nproc N (or --nnodes M), the run is a torchrun job: this command launches it, tails it
here and ends it on Ctrl-C. Started by torchrun itself (`torchrun ... -m genai_widgets`),
each process runs as one rank of the job.

examples:
    python -m genai_widgets --data digits --max-steps 500 --run-dir runs/digits
    python -m genai_widgets --family vae --data digits --beta 1 --max-steps 500 --run-dir runs/vae
    python -m genai_widgets --nproc 2 --data digits --max-steps 500 --run-dir runs/ddp
    torchrun --standalone --nproc-per-node 2 -m genai_widgets --data digits --run-dir runs/ddp
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

PROGRESS_SECONDS = 5.0


def _pop_family(argv: list[str]) -> tuple[str, list[str]]:
    """The `--family NAME` / `--family=NAME` option, and the other arguments."""
    rest, family, i = [], "gan", 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--family" and i + 1 < len(argv):
            family, i = argv[i + 1], i + 2
            continue
        if arg.startswith("--family="):
            family = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    return family, rest


def _progress(
    step: int, max_steps: int | None, last: dict[str, float], shown: list[str], rate: float
) -> str:
    target = f"/{max_steps}" if max_steps else ""
    values = "  ".join(f"{k} {last[k]:.3f}" for k in shown if k in last)
    return f"step {step}{target}  {values}  {rate:.1f} steps/s"


def _shown(metric_names: list[str]) -> list[str]:
    metrics = [c for c in metric_names if c not in ("step", "time", "lr")]
    return [c for c in metrics if c.startswith("loss")] or metrics[:3]  # as %runs shows them


def main(argv: list[str] | None = None) -> int:
    from IPython.core.error import UsageError

    # Flags and help need no torch (about 0.7 s instead of 5-10 s); training imports it.
    from .magics import BUILTIN, env_defaults, flag_help_text, parse_gan_train

    trainers = {t.family: t for t in BUILTIN}  # the package's families (no torch to list them)
    argv = sys.argv[1:] if argv is None else argv
    family, argv = _pop_family(list(argv))
    if family not in trainers:
        names = ", ".join(trainers)
        print(f"error: --family expects one of {names}, got {family!r}", file=sys.stderr)
        return 2
    trainer = trainers[family]
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        print(f"options ({family}; every one is optional):")
        print(f"  {'--family ' + '|'.join(trainers):<28} the model family (default: gan)")
        print(flag_help_text(trainer, cli=True))
        return 0
    from .engine.distributed import in_worker
    from .families import build_run

    try:
        line = " ".join(shlex.quote(a) for a in argv)
        args = parse_gan_train(line, env_defaults(trainer=trainer), trainer)
        if in_worker():  # torchrun started this process: it is one rank of the job
            config = _rank_config(args.config)
        else:
            run = build_run(args.config)
    except (UsageError, ValueError, TypeError, FileExistsError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if in_worker():
        return _as_rank(config)
    from .engine.remote import RemoteRun

    if isinstance(run, RemoteRun):
        return _tail_job(run)
    return _train_here(run)


# ------------------------------------------------------------------------------ one process
def _train_here(run: Any) -> int:
    """Train in this process, with the control channel a torchrun job has (world size 1):
    `gw.attach(run_dir)` watches and steers this run from a notebook on this host."""
    from .engine.distributed import Control, _lock_writer

    lock = _lock_writer(run.run_dir)
    me = {"rank": 0, "pid": os.getpid(), "host": socket.gethostname()}
    control = Control(run.run_dir, 0, 1, None, [me])
    run._dist = control
    run._store.set_meta(
        "workers",
        {
            "world_size": 1,
            "ranks": [me],
            "launcher_pid": None,
            "attempt": 0,
            "started": time.time(),
        },
    )
    control.beat(run, "running")
    run.start()
    print(f"training {run.name!r} on {run.device} -> {run.run_dir}", flush=True)
    shown = _shown(run.metric_names)
    try:
        while run.wait(timeout=PROGRESS_SECONDS) in ("running", "paused"):
            rate = run.steps_per_second
            print(_progress(run.step, run.max_steps, run._history.last(), shown, rate), flush=True)
            if run.status == "paused" and run.message:
                print(run.message, file=sys.stderr, flush=True)
                run.stop()
    except KeyboardInterrupt:
        print("stopping after the current step...", file=sys.stderr, flush=True)
        run.stop()
        run.wait()
    finally:
        control.beat(run, run.status)
        run._store.flush()
        control.close()
        lock.close()
    time.sleep(0)  # let the trainer's final line print first
    if run.status == "failed":
        print(run.traceback_text, file=sys.stderr)
        return 1
    if run.status == "finished" and run.message:  # why it ended early (EM converged)
        print(run.message, flush=True)
    return 0


# ------------------------------------------------------------------------------ a torchrun job
def _tail_job(run: Any) -> int:
    """Launch the torchrun job and tail it here until it ends; Ctrl-C stops it (twice: kills)."""
    run.start()
    world = run.config.nproc * run.config.nnodes
    print(f"training {run.name!r} on {world} processes (torchrun) -> {run.run_dir}", flush=True)
    if run.config.nnodes > 1:
        print(f"start the other nodes with:\n  {run.node_command}", flush=True)
    shown = _shown(run.metric_names)
    try:
        try:
            while run.wait(timeout=PROGRESS_SECONDS) in ("running", "paused"):
                rate = run.steps_per_second
                last = run._history.last()
                print(_progress(run.step, run.max_steps, last, shown, rate), flush=True)
                if run.message:
                    print(run.message, file=sys.stderr, flush=True)
                    if run.status == "paused":
                        run.stop()
        except KeyboardInterrupt:
            print("stopping the job after the current step...", file=sys.stderr, flush=True)
            run.stop()
            run.wait()
    except KeyboardInterrupt:
        print("killing the job...", file=sys.stderr, flush=True)
        run.kill()
    print(f"[genai_widgets] run {run.name!r} {run.status} at step {run.step}", flush=True)
    if run.status == "failed":
        text = run.message or "the job failed"
        if run.failures and run.failures[0].get("traceback"):
            text += "\n\nworker traceback:\n" + run.failures[0]["traceback"]
        print(text, file=sys.stderr)
        print(f"(torchrun's logs: {run.run_dir / 'torchrun'})", file=sys.stderr)
        return 1
    return 0


def _rank_config(config: Any) -> Any:
    """The config of this rank of a job that torchrun started from a terminal: the job's
    world in `nproc` / `nnodes`, the run directory shared by every rank (torchrun's run id
    names one when --run-dir is not given)."""
    from .engine.launch import check_world

    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    run_dir = config.run_dir
    if not run_dir:
        run_id = os.environ.get("TORCHELASTIC_RUN_ID", "none")
        if run_id in ("", "none"):
            raise ValueError("under torchrun, give every rank the same --run-dir (the job's store)")
        run_dir = str(Path.cwd() / "runs" / f"torchrun-{run_id}")
    config = config.replace(
        nproc=local, nnodes=max(1, world // max(1, local)), run_dir=str(Path(run_dir).resolve())
    )
    check_world(config)
    first = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
    done = Path(config.run_dir) / "config.json"
    if first and os.environ.get("RANK", "0") == "0" and done.exists():
        # (A restarted attempt resumes from the directory's checkpoint instead.)
        raise FileExistsError(
            f"{config.run_dir} already holds a run; continue it with "
            f"gw.load_run({config.run_dir!r}) or choose another --run-dir"
        )
    Path(config.run_dir).mkdir(parents=True, exist_ok=True)
    return config


def _as_rank(config: Any) -> int:
    """Run this process as one rank of the job (`engine.distributed.worker_main`). Ctrl-C in
    the terminal (SIGINT to every process of the job, which torchrun passes on again) stops
    the job at a step boundary on every rank: rank 0 writes a stop command into the control
    channel, the other ranks ignore the signal (torchrun kills what is left after its 30 s
    grace). SIGTERM keeps its default: torchrun ends a failed group's ranks with it."""
    from .engine.distributed import worker_main
    from .engine.store import write_command

    rank = int(os.environ.get("RANK", "0"))
    run_dir = Path(config.run_dir)
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        if rank == 0 and not stopping.is_set():  # once: torchrun passes the signal on too
            stopping.set()
            print("stopping the job after the current step...", file=sys.stderr, flush=True)
            try:
                write_command(run_dir, "stop")
            except Exception as exc:  # no store yet: end as the signal says
                print(f"cannot stop through the store ({exc}); exiting", file=sys.stderr)
                raise SystemExit(128 + signum) from None

    signal.signal(signal.SIGINT, stop)
    if rank == 0:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        print(f"rank 0 of {world}: training -> {run_dir}", flush=True)
        threading.Thread(
            target=_print_progress, args=(run_dir, config.max_steps), daemon=True
        ).start()
    return worker_main(config)


def _print_progress(run_dir: Path, max_steps: int | None) -> None:
    """Rank 0's progress lines, read from the store it writes (a daemon thread)."""
    from .engine.store import RunReader

    cursor, last, step = 0, {}, -1
    while True:
        time.sleep(PROGRESS_SECONDS)
        try:
            reader = RunReader(run_dir)
        except FileNotFoundError:
            continue
        try:
            beat = reader.meta().get("heartbeat") or {}
            cursor, rows = reader.rows_after(cursor, "metrics")
        except Exception:
            continue
        finally:
            reader.close()
        if rows and len(rows.get("step", ())):
            last = {k: float(v[-1]) for k, v in rows.items()}
        if beat.get("status") not in ("running", "paused") or beat.get("step") == step:
            continue
        step = int(beat.get("step", 0))
        rate = float(beat.get("steps_per_second") or 0.0)
        print(_progress(step, max_steps, last, _shown(list(last)), rate), flush=True)


if __name__ == "__main__":
    sys.exit(main())
