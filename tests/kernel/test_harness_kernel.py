"""Smoke tests of the kernel harness against a real ipykernel (they stay in the suite)."""

from __future__ import annotations

import textwrap

import pytest
from harness import KernelError, KernelSession


def test_print_from_cell(kernel: KernelSession) -> None:
    r = kernel.execute("print('hello from the cell')")
    assert r.status == "ok"
    assert r.stdout == "hello from the cell\n"
    assert r.error is None


def test_error_is_reported(kernel: KernelSession) -> None:
    r = kernel.execute("1 / 0", check=False)
    assert r.status == "error"
    assert r.error is not None and r.error["ename"] == "ZeroDivisionError"
    with pytest.raises(KernelError, match="ZeroDivisionError"):
        kernel.execute("raise ZeroDivisionError('again')")


def test_display_and_result_bundles(kernel: KernelSession) -> None:
    r = kernel.execute("from IPython.display import display, HTML\ndisplay(HTML('<b>x</b>'))\n41+1")
    assert r.data[0]["text/html"] == "<b>x</b>"
    assert r.data[-1]["text/plain"] == "42"
    assert kernel.evaluate("6 * 7") == "42"


@pytest.mark.parametrize("api", ["set_thread_parent", "set_parent"])
def test_thread_output_lands_in_starting_cell(kernel: KernelSession, api: str) -> None:
    """A thread started by cell A prints after A finished (and after cell B ran): with the
    parent captured in A and set in the thread, the text belongs to A, not to B.

    ipykernel 7.4: ``ip.set_thread_parent(parent)`` sets it for the calling thread only;
    ``ip.set_parent(parent)`` sets it for the thread and globally. Without either, the text
    goes to the latest cell (B)."""
    if api == "set_thread_parent" and kernel.kernel_name != "python3":
        pytest.skip("set_thread_parent arrived in ipykernel 7.4 (the engine uses set_parent there)")
    start = kernel.execute(
        textwrap.dedent(
            f"""
            import threading
            ip = get_ipython()
            parent = ip.get_parent()      # the starting cell's parent header
            go = threading.Event()

            def worker():
                ip.{api}(parent)
                go.wait(30)
                print("from the background thread", flush=True)

            t = threading.Thread(target=worker, daemon=True)
            t.start()
            print("cell A done")
            """
        )
    )
    assert start.stdout == "cell A done\n"
    later = kernel.execute("print('cell B'); go.set(); t.join(10)")
    kernel.wait_for_stream("from the background thread", timeout=15)
    assert "from the background thread" in start.stdout
    assert "from the background thread" not in later.stdout
    assert later.stdout == "cell B\n"


def test_comm_update_reaches_widget(kernel: KernelSession) -> None:
    r = kernel.execute("import ipywidgets as w\nslider = w.IntSlider(value=1)\nslider.model_id")
    comm_id = kernel.widget_comm_ids("IntSliderModel")[0]
    assert r.data[-1]["text/plain"].strip("'") == comm_id
    assert any(c["comm_id"] == comm_id for c in r.comm_opens)

    reply = kernel.send_widget_update(comm_id, {"value": 7})
    assert reply.error is None
    assert kernel.evaluate("slider.value") == "7"
    # ipywidgets 8 echoes the accepted update back to all frontends
    echoes = [m["content"]["data"] for m in reply.comm_msgs]
    assert any(d.get("method") == "echo_update" and d["state"] == {"value": 7} for d in echoes)


def test_custom_comm_message(kernel: KernelSession) -> None:
    kernel.execute(
        textwrap.dedent(
            """
            import ipywidgets as w
            box = w.Button(description="go")
            got = []
            box.on_msg(lambda widget, content, buffers: got.append((content, [bytes(b) for b in buffers])))
            """
        )
    )
    comm_id = kernel.widget_comm_ids("ButtonModel")[0]
    kernel.send_widget_custom(comm_id, {"event": "click"})  # what a real button click sends
    kernel.send_widget_custom(comm_id, {"kind": "blob"}, buffers=[b"\x00\x01"])
    assert (
        kernel.evaluate("got") == "[({'event': 'click'}, []), ({'kind': 'blob'}, [b'\\x00\\x01'])]"
    )
