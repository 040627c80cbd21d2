"""The trainer thread runs a few nice levels below the kernel's own threads (issue 18: a cell
answers at once while training), so that the scheduler gives a waking cell, comm message or
flusher a core first; its OpenMP workers, created by it afterwards, inherit the level."""

import os
import sys
import threading

import pytest

import genai_widgets as gw
from genai_widgets.engine import threads

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux nice levels")


def nice_of(native_id: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, native_id)


def test_a_training_run_s_thread_runs_below_the_main_thread(tiny):
    main = nice_of(threading.get_native_id())
    run = gw.train_gan(**tiny(max_steps=None))
    try:
        while run.step < 2:
            run.wait(0.05)
        assert nice_of(run._thread.native_id) == min(19, main + threads.TRAINER_NICE)
        assert nice_of(threading.get_native_id()) == main  # the caller's own level is kept
    finally:
        run.stop()
        run.wait(30)


def test_lowering_is_idempotent_and_can_be_turned_off(monkeypatch):
    seen = {}

    def body():
        seen["first"] = threads.lower_thread_priority()
        seen["again"] = threads.lower_thread_priority()
        seen["nice"] = nice_of(threading.get_native_id())

    worker = threading.Thread(target=body)
    worker.start()
    worker.join()
    base = nice_of(os.getpid())
    if base + threads.TRAINER_NICE <= 19:
        assert seen == {"first": True, "again": False, "nice": base + threads.TRAINER_NICE}

    monkeypatch.setenv("GENAI_WIDGETS_TRAINER_NICE", "0")
    worker = threading.Thread(target=body)
    worker.start()
    worker.join()
    assert seen == {"first": False, "again": False, "nice": base}
