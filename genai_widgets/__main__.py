"""Headless training from a terminal, with the magic's flags:

    python -m genai_widgets --data digits --max-steps 500 --run-dir runs/digits

Prints progress every few seconds; Ctrl-C stops after the current step and writes a
checkpoint. A notebook can watch or continue the run with `gw.load_run(run_dir)`."""

from __future__ import annotations

import shlex
import sys
import time


def main(argv: list[str] | None = None) -> int:
    from IPython.core.error import UsageError

    from .engine.api import build_run
    from .magics import env_defaults, flag_help_text, parse_gan_train

    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        print(flag_help_text())
        return 0
    try:
        args = parse_gan_train(" ".join(shlex.quote(a) for a in argv), env_defaults())
        run = build_run(args.config)
    except (UsageError, ValueError, TypeError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run.start()
    print(f"training {run.name!r} on {run.device} -> {run.run_dir}", flush=True)
    try:
        while run.wait(timeout=5.0) in ("running", "paused"):
            last = run._history.last()
            target = f"/{run.max_steps}" if run.max_steps else ""
            losses = "  ".join(f"{k} {last[k]:.3f}" for k in ("loss_d", "loss_g") if k in last)
            print(
                f"step {run.step}{target}  {losses}  {run.steps_per_second:.1f} steps/s", flush=True
            )
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
