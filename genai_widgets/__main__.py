"""usage: python -m genai_widgets [--family gan|vae] [--FLAG VALUE ...]

Train a GAN (or, with --family vae, a VAE) on images from a terminal, without Jupyter: the
run's metrics, sample grids and checkpoints go to a run directory that a notebook can open
later, live or finished, with `gw.load_run(run_dir)` (the same flags as the notebook's
`%gan_train` / `%vae_train` magics). Progress prints every few seconds; Ctrl-C stops after
the current step and writes a checkpoint.

examples:
    python -m genai_widgets --data digits --max-steps 500 --run-dir runs/digits
    python -m genai_widgets --family vae --data digits --beta 1 --max-steps 500 --run-dir runs/vae
"""

from __future__ import annotations

import shlex
import sys
import time


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
    from .families import build_run

    try:
        line = " ".join(shlex.quote(a) for a in argv)
        args = parse_gan_train(line, env_defaults(trainer=trainer), trainer)
        run = build_run(args.config)
    except (UsageError, ValueError, TypeError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run.start()
    print(f"training {run.name!r} on {run.device} -> {run.run_dir}", flush=True)
    metrics = [c for c in run.metric_names if c not in ("step", "time", "lr")]
    shown = [c for c in metrics if c.startswith("loss")] or metrics[:3]  # as %runs shows them
    try:
        while run.wait(timeout=5.0) in ("running", "paused"):
            last = run._history.last()
            target = f"/{run.max_steps}" if run.max_steps else ""
            values = "  ".join(f"{k} {last[k]:.3f}" for k in shown if k in last)
            rate = f"{run.steps_per_second:.1f} steps/s"
            print(f"step {run.step}{target}  {values}  {rate}", flush=True)
            if run.status == "paused" and run.message:
                print(run.message, file=sys.stderr, flush=True)
                run.stop()
    except KeyboardInterrupt:
        print("stopping after the current step...", file=sys.stderr, flush=True)
        run.stop()
        run.wait()
    time.sleep(0)  # let the trainer's final line print first
    if run.status == "failed":
        print(run.traceback_text, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
