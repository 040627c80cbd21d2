"""Run directories: save / load / resume, SIGKILL survival, safe checkpoint loading."""

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import genai_widgets as gw
from genai_widgets.engine.checkpoint import CheckpointError, list_checkpoints
from genai_widgets.engine.store import RunReader


def test_resume_continues_exactly_where_it_stopped(tiny):
    straight = gw.train_gan(**tiny(max_steps=20, seed=5))
    first = gw.train_gan(**tiny(max_steps=10, seed=5))
    assert straight.wait(60) == "finished" and first.wait(60) == "finished"
    path = first.save()
    loaded = gw.load_run(path)
    assert loaded.status == "finished" and loaded.step == 10  # as it ended, from the store
    assert np.array_equal(loaded.history["loss_d"], first.history["loss_d"])
    assert loaded.snapshot_count == first.snapshot_count
    loaded.set(max_steps=20)
    loaded.resume()
    assert loaded.wait(60) == "finished", loaded.traceback_text
    # Optimizer state, RNG and data position were restored: the same losses as one long run.
    for col in ("loss_d", "loss_g"):
        assert np.array_equal(loaded.history[col], straight.history[col]), col
    assert np.array_equal(loaded.history["step"], np.arange(1, 21))


def test_store_is_readable_while_training(tiny, wait_until):
    run = gw.train_gan(**tiny(sample_every=2))
    try:
        wait_until(lambda: run.step >= 6)
        wait_until(lambda: len(RunReader(run.run_dir).metrics()["step"]) >= 3, timeout=10)
        reader = RunReader(run.run_dir)
        m = reader.metrics()
        assert {"step", "time", "loss_d", "loss_g"} <= set(m)
        assert reader.snapshots()[0][1].startswith(b"\x89PNG")
        assert reader.events()[0]["kind"] == "RunStarted"
    finally:
        run.stop()
        run.wait(30)


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import genai_widgets as gw
    run = gw.train_gan(data="digits", image_size=16, width=8, batch_size=16, latent_dim=16,
                       device="cpu", run_dir=sys.argv[1], checkpoint_every=5, sample_every=3)
    while True:
        print(run.step, flush=True)
        time.sleep(0.05)
    """
)


def test_sigkill_loses_at_most_the_steps_since_the_last_checkpoint(tmp_path):
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(run_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len(list_checkpoints(run_dir)) >= 2:
                break
            assert proc.poll() is None, "trainer process died on its own"
            time.sleep(0.05)
        else:
            pytest.fail("no checkpoints within 120 s")
        time.sleep(0.3)  # kill mid-training, between checkpoints
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    latest = list_checkpoints(run_dir)[-1]
    saved_step = int(latest.stem.split("_")[1])
    reader = RunReader(run_dir)
    assert reader.metrics()["step"].max() >= saved_step  # the store opens cleanly
    reader.close()
    run = gw.load_run(run_dir)
    assert run.step == saved_step
    assert run.history["step"][-1] == saved_step  # rows past the checkpoint were rewound
    run.set(max_steps=saved_step + 3)
    run.resume()
    assert run.wait(60) == "finished", run.traceback_text
    assert run.step == saved_step + 3


# Two runs in one process, SIGKILLed before either reaches a step-based checkpoint: "none"
# keeps the default time checkpoints (60 s: none yet when it dies), "timed" writes one every
# second. The parent kills the process as soon as "timed" has a checkpoint on disk.
KILL_BEFORE_CHECKPOINT = textwrap.dedent(
    """
    import sys, time
    import genai_widgets as gw
    tiny = dict(data="digits", image_size=16, width=8, batch_size=16, latent_dim=16,
                device="cpu", checkpoint_every=10**6, sample_every=3)
    none = gw.train_gan(run_dir=sys.argv[1], **tiny)
    timed = gw.train_gan(run_dir=sys.argv[2], checkpoint_every_seconds=1, **tiny)
    while True:
        time.sleep(0.05)
    """
)


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """(run dir without a checkpoint, run dir with a time checkpoint) of a SIGKILLed process."""
    root = tmp_path_factory.mktemp("killed")
    none, timed = root / "none", root / "timed"
    proc = subprocess.Popen([sys.executable, "-c", KILL_BEFORE_CHECKPOINT, str(none), str(timed)])
    try:
        deadline = time.monotonic() + 120
        while not list_checkpoints(timed):
            assert proc.poll() is None, "trainer process died on its own"
            assert time.monotonic() < deadline, "no time checkpoint within 120 s"
            time.sleep(0.05)
        time.sleep(0.5)  # a few more steps, metrics and snapshots past the checkpoint
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return none, timed


def test_a_run_killed_before_any_checkpoint_opens_read_only(killed, wait_until):
    run_dir = killed[0]
    assert list_checkpoints(run_dir) == []
    run = gw.load_run(run_dir)
    assert not run.has_weights and run.status == "stopped"
    assert "no checkpoint was written" in run.message and "killed" in run.message
    steps = run.history["step"]
    assert len(steps) >= 3 and run.step == steps[-1]  # the curves up to the kill
    assert np.isfinite(run.history["loss_d"]).all()
    assert run.snapshot_count >= 1 and run.snapshot_png(0).startswith(b"\x89PNG")
    assert [e.kind for e in run.events_since(0)[1]][:1] == ["RunStarted"]
    dashboard = run.dashboard()  # a read-only view: builds and draws, computes nothing
    try:
        ticks = dashboard._flusher.ticks
        wait_until(lambda: dashboard._flusher.ticks >= ticks + 2)  # its panels were flushed
        assert dashboard.static_png().startswith(b"\x89PNG") and dashboard.widget_error == ""
    finally:
        dashboard.close()
    with pytest.raises(RuntimeError) as info:
        run.resume()
    message = str(info.value)
    assert "\n" not in message and "no checkpoint was written" in message
    assert f"metrics exist up to step {run.step}" in message
    for needs_weights in (run.step_once, lambda: run.sample(4), run.save, run.result):
        with pytest.raises(RuntimeError, match="no checkpoint was written"):
            needs_weights()
    with pytest.raises(AttributeError, match="no checkpoint was written"):
        run.generator  # noqa: B018 (never built)
    assert run.status == "stopped"


def test_a_time_checkpoint_survives_a_kill_and_resumes(killed):
    run_dir = killed[1]
    saved_step = int(list_checkpoints(run_dir)[-1].stem.split("_")[1])
    run = gw.load_run(run_dir)
    assert run.has_weights and run.step == saved_step and run.status == "stopped"
    assert "killed" in run.message
    assert run.history["step"][-1] == saved_step
    run.set(max_steps=saved_step + 3)
    run.resume()
    assert run.wait(60) == "finished", run.traceback_text
    assert run.step == saved_step + 3
    assert list(run.history["step"][-4:]) == list(range(saved_step, saved_step + 4))


def test_checkpoint_every_seconds_is_validated():
    assert gw.GANConfig().checkpoint_every_seconds == 60
    for bad in (-1, float("inf"), "60", True):
        with pytest.raises(ValueError, match="checkpoint_every_seconds must be a finite number"):
            gw.families.make_config(checkpoint_every_seconds=bad)


class ExplodingGenerator(torch.nn.Module):
    def __init__(self, after: int):
        super().__init__()
        self.lin, self.calls, self.after = torch.nn.Linear(16, 256), 0, after

    def forward(self, z):
        self.calls += 1
        if self.calls > self.after:
            raise RuntimeError("boom in the generator")
        return torch.tanh(self.lin(z.reshape(len(z), -1))).view(-1, 1, 16, 16)


def test_a_failed_run_reopens_as_failed_with_its_traceback(tiny):
    gen = ExplodingGenerator(after=20)
    disc = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 1))
    run = gw.train_gan(**dict(tiny(checkpoint_every=2), model=(gen, disc)))
    assert run.wait(60) == "failed"
    gen.calls = -(10**6)  # the modules work again for the reload
    loaded = gw.load_run(run.run_dir, model=(gen, disc))
    assert loaded.status == "failed" and "boom in the generator" in loaded.traceback_text
    assert loaded.message.startswith(f"failed after step {run.step}")
    assert loaded.step == int(list_checkpoints(run.run_dir)[-1].stem.split("_")[1])


class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {Evil.marker}",))


def test_malicious_checkpoint_is_refused(tiny, tmp_path):
    run = gw.train_gan(**tiny(max_steps=2))
    run.wait(30)
    Evil.marker = str(tmp_path / "pwned")
    bad = run.run_dir / "checkpoints" / "step_000000099.pt"
    torch.save({"generator": Evil()}, bad)
    with pytest.raises(CheckpointError, match="weights_only"):
        gw.load_run(run.run_dir)
    assert not Path(Evil.marker).exists()
    # A plain pickle (not even torch's format) is refused too.
    bad.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError):
        gw.load_run(run.run_dir)
    assert not Path(Evil.marker).exists()


def test_run_dir_is_not_overwritten(tiny):
    kw = tiny(max_steps=1)
    gw.train_gan(**kw).wait(30)
    with pytest.raises(FileExistsError, match="load_run"):
        gw.train_gan(**kw)


def test_checkpoints_are_pruned_and_atomic(tiny):
    run = gw.train_gan(**tiny(max_steps=12, checkpoint_every=2))
    run.wait(60)
    names = [p.name for p in list_checkpoints(run.run_dir)]
    assert names == ["step_000000008.pt", "step_000000010.pt", "step_000000012.pt"]
    assert not [p for p in (run.run_dir / "checkpoints").iterdir() if p.name.startswith(".tmp")]


def test_user_modules_must_be_passed_again(tiny):
    from torch import nn

    gen = nn.Sequential(nn.Linear(16, 256), nn.Tanh(), nn.Unflatten(1, (1, 16, 16)))
    disc = nn.Sequential(nn.Flatten(), nn.Linear(256, 1))
    run = gw.train_gan(**dict(tiny(max_steps=3), model=(gen, disc)))
    run.wait(30)
    view = gw.load_run(run.run_dir)  # opens without them: its curves, read-only
    assert not view.has_weights and view.status == "finished" and len(view.history["step"]) == 3
    assert "modules were not given" in view.message
    with pytest.raises(RuntimeError, match="model=\\(generator, discriminator\\)"):
        view.resume()
    loaded = gw.load_run(run.run_dir, model=(gen, disc))
    assert loaded.step == 3 and loaded.has_weights


def test_finished_run_holds_no_writer_thread(tiny, wait_until):
    run = gw.train_gan(**tiny(max_steps=3))
    run._store._idle_exit = 0.2
    assert run.wait(30) == "finished"
    wait_until(lambda: run._store._thread is None, timeout=10)
    run.set(max_steps=5)  # a later write starts a writer again, and it lands
    run._store.flush()
    assert any(e["kind"] == "HyperparametersChanged" for e in RunReader(run.run_dir).events())
