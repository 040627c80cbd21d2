"""A plain Python script that shows widgets, or ends while a run trains, exits with 0.

Daemon threads inside torch at interpreter exit used to abort the process ("terminate called
without an active exception", exit code 134); see `stop_at_exit` in engine/threads.py."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import genai_widgets as gw

    kw = dict(data="digits", image_size=16, batch_size=16, latent_dim=8, device="cpu")
    done = gw.train_gan(max_steps=3, run_dir={done!r}, **kw)
    done.wait()
    dashboard = done.dashboard()          # its flusher starts computing the explorer at once
    explorer = gw.LatentExplorer(done)
    training = gw.train_gan(max_steps=100000, run_dir={training!r}, **kw)
    while training.step < 2:
        training.wait(timeout=0.05)
    print("leaving while", training.status, flush=True)
    """
)


def test_a_script_with_a_dashboard_and_a_training_run_exits_cleanly(tmp_path):
    script = tmp_path / "show.py"
    script.write_text(
        SCRIPT.format(done=str(tmp_path / "done"), training=str(tmp_path / "training"))
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert "terminate called" not in out.stderr, out.stderr
    assert out.returncode == 0, out.stderr[-2000:]
    assert "leaving while running" in out.stdout
    # The run still training at exit was stopped after its step, as run.stop() would.
    assert "stopped at step" in out.stdout + out.stderr
