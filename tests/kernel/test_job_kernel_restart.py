"""A kernel restart leaves a torchrun job running (its launcher has a session of its own), and
`gw.attach` in the new kernel picks it up: the step grows, pause and stop are acknowledged,
every process ends. One kernel line (the installed ipykernel): the job outlives the kernel
whatever its version."""

from __future__ import annotations

import ast
import time

from harness.kernel import KernelSession

from genai_widgets.engine.remote import _pid_alive

JOB = (
    "import genai_widgets as gw\n"
    "run = gw.train_gan(data='digits', max_steps=400, nproc=2, batch_size=16, "
    "step_delay=0.05, device='cpu', run_dir='job')\n"
)


def _until(kernel: KernelSession, expression: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while kernel.evaluate(expression) != "True":
        assert time.monotonic() < deadline, f"timed out on {expression}"
        time.sleep(0.25)


def test_kernel_restart_leaves_the_job_running_and_attach_picks_it_up(tmp_path):
    kernel = KernelSession(cwd=tmp_path)
    kernel.start()
    pids: list[int] = []
    try:
        kernel.execute(JOB, timeout=120)
        _until(kernel, "run.step >= 3 and bool(run.workers.get('ranks'))")
        workers = ast.literal_eval(kernel.evaluate("run.workers"))
        pids = [r["pid"] for r in workers["ranks"]] + [workers["launcher_pid"]]
        kernel.km.restart_kernel(now=True)
        kernel.kc.wait_for_ready(timeout=60)
        kernel.drain(0.2)
        assert all(_pid_alive(p) for p in pids)  # the job outlived the kernel
        kernel.execute("import genai_widgets as gw\nrun = gw.attach('job')", timeout=120)
        assert kernel.evaluate("type(run).__name__") == "'RemoteRun'"
        step = int(kernel.evaluate("run.step"))
        _until(kernel, f"run.step > {step}")
        kernel.execute("run.pause()")
        _until(kernel, "run.status == 'paused'")
        kernel.execute("run.stop()")
        assert kernel.evaluate("run.wait(90)") == "'stopped'"
        assert kernel.evaluate("[c['command'] for c in run.commands]") == "['pause', 'stop']"
        assert kernel.evaluate("all(c['applied_step'] is not None for c in run.commands)") == (
            "True"
        )
        deadline = time.monotonic() + 30
        while any(_pid_alive(p) for p in pids):
            assert time.monotonic() < deadline, "a process of the job is left"
            time.sleep(0.1)
    finally:
        if kernel.is_alive:
            kernel.execute("run.kill(timeout=5)", check=False, timeout=60)
        kernel.shutdown()
