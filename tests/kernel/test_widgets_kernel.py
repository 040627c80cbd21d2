"""The widgets in a real ipykernel, driven through jupyter_client as a frontend would: comm
messages press buttons while training runs, and thread output lands in the starting cell."""

from __future__ import annotations

import textwrap
import time

import pytest
from harness import KernelSession

pytestmark = pytest.mark.timeout(180)

START = textwrap.dedent(
    """
    import time, torch
    import genai_widgets as gw
    run = gw.train_gan(data="digits", image_size=16, width=8, batch_size=16, latent_dim=16,
                       max_steps=None, sample_every=10, n_samples=16, run_dir={run_dir!r})
    dash = run.dashboard()
    display(dash)
    """
)


def start_dashboard(kernel: KernelSession, tmp_path) -> str:
    r = kernel.execute(START.format(run_dir=str(tmp_path / "run")), timeout=120)
    bundles = [d for d in r.data if "application/vnd.jupyter.widget-view+json" in d]
    # The static picture is an output of its own, after the widget's (see widgets/_base.py).
    assert bundles and "image/png" not in bundles[0]
    pictures = [d for d in r.data if "image/png" in d]
    assert pictures and "gw-static-" in pictures[0]["text/html"], "no static picture output"
    model_id = bundles[0]["application/vnd.jupyter.widget-view+json"]["model_id"]
    assert model_id in kernel.widget_comm_ids("AnyModel")
    return model_id


def wait_for(kernel: KernelSession, expression: str, expected: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = kernel.evaluate(expression)
        if value == expected:
            return
        kernel.drain(0.2)
    raise AssertionError(f"{expression} stayed {value}, expected {expected}")


def steps(kernel: KernelSession) -> int:
    return int(kernel.evaluate("run.step"))


def test_pause_button_message_pauses_training_and_resume_restarts_it(kernel, tmp_path):
    comm = start_dashboard(kernel, tmp_path)
    wait_for(kernel, "run.step > 5", "True", 60)
    kernel.send_widget_custom(comm, {"type": "command", "action": "pause"})
    wait_for(kernel, "run.status", "'paused'", 5)
    paused_at = steps(kernel)
    kernel.drain(1.0)
    assert steps(kernel) <= paused_at + 1
    # The flusher told the frontend: a state update with status "paused" went out on IOPub.
    wait_for(kernel, "dash.status", "'paused'", 5)
    updates = [
        m
        for m in kernel.iopub_log
        if m["header"]["msg_type"] == "comm_msg"
        and m["content"]["data"].get("state", {}).get("status") == "paused"
    ]
    assert updates, "no status update reached IOPub"
    kernel.send_widget_custom(comm, {"type": "command", "action": "resume"})
    wait_for(kernel, "run.status", "'running'", 5)
    wait_for(kernel, f"run.step > {paused_at + 3}", "True", 30)
    kernel.execute("run.stop(); run.wait(10)")


def test_buttons_act_during_a_long_cell_through_a_subshell(kernel, tmp_path):
    """JupyterLab 4.4+ sends widget traffic on a subshell: a click lands while a cell blocks."""
    if kernel.kernel_name != "python3":
        pytest.skip("subshells arrived in ipykernel 7; 6.x queues clicks behind the busy cell")
    comm = start_dashboard(kernel, tmp_path)
    subshell = kernel.create_subshell()
    wait_for(kernel, "run.step > 3", "True", 60)
    busy = kernel.kc.execute("time.sleep(4)")  # the main shell is busy from here on
    time.sleep(0.5)
    kernel.send_widget_custom(
        comm, {"type": "command", "action": "pause"}, subshell_id=subshell, wait=False
    )
    r = kernel.execute("run.status", subshell_id=subshell)
    assert r.data[-1]["text/plain"] == "'paused'"
    # The click acted while the main shell was still blocked, not after the sleep ended.
    assert not kernel.result_for(busy).idle, "the click waited for the busy cell"
    kernel._wait_idle(busy, 20, "sleep cell")
    kernel.send_widget_custom(comm, {"type": "command", "action": "stop"})
    wait_for(kernel, "run.status", "'stopped'", 10)


def test_bad_value_typed_in_the_widget_is_refused_and_reported(kernel, tmp_path):
    comm = start_dashboard(kernel, tmp_path)
    kernel.send_widget_custom(comm, {"type": "set", "field": "lr", "value": "-3"})
    wait_for(kernel, "dash.control_feedback.get('ok')", "False", 5)
    assert "the run keeps lr=0.0002" in kernel.evaluate("dash.control_feedback['text']")
    assert kernel.evaluate("run.settings['lr']") == "0.0002"
    kernel.send_widget_custom(comm, {"type": "set", "field": "n_critic", "value": "2"})
    wait_for(kernel, "dash.n_critic", "2", 10)
    kernel.execute("run.stop(); run.wait(10)")


def test_loss_points_stream_as_binary_appends(kernel, tmp_path):
    comm = start_dashboard(kernel, tmp_path)
    wait_for(kernel, "run.step > 20", "True", 60)
    kernel.drain(1.0)
    appends = [
        m
        for m in kernel.iopub_log
        if m["header"]["msg_type"] == "comm_msg"
        and m["content"]["comm_id"] == comm
        and m["content"]["data"].get("method") == "custom"
        and m["content"]["data"]["content"].get("type") == "curve_append"
    ]
    assert len(appends) >= 2
    for m in appends:
        content = m["content"]["data"]["content"]
        assert len(m["buffers"]) == 1
        assert len(m["buffers"][0]) == 4 * content["rows"] * len(content["columns"])
    kernel.execute("run.stop(); run.wait(10)")


def test_thread_output_lands_in_the_starting_cell(kernel, tmp_path):
    """Text printed by the training thread (here: the user's generator) after its cell ended
    goes to the cell that started the run, not to the cell running now."""
    code = textwrap.dedent(
        f"""
        import torch.nn as nn
        import genai_widgets as gw
        pair = gw.get_model("dcgan", image_size=16, channels=1, latent_dim=16, width=8)

        class Chatty(nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner, self.calls = inner, 0

            def forward(self, z):
                self.calls += 1
                if self.calls == 60:
                    print("hello from the training thread", flush=True)
                return self.inner(z)

        run = gw.train_gan(data="digits", model=(Chatty(pair.generator), pair.discriminator),
                           image_size=16, latent_dim=16, batch_size=16, max_steps=80,
                           run_dir={str(tmp_path / "chatty")!r})
        display(run.dashboard())
        """
    )
    first = kernel.execute(code, timeout=120)
    later = kernel.execute("x = 1 + 1")
    kernel.wait_for_stream("hello from the training thread", timeout=60)
    assert "hello from the training thread" in first.stdout
    assert "hello from the training thread" not in later.stdout
    kernel.execute("run.wait(30)")
