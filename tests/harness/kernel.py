"""A real ipykernel driven through jupyter_client, for kernel-level tests.

`KernelSession` starts a ``python3`` kernel, runs code and records every IOPub message keyed by
the ``msg_id`` of the request that caused it (``parent_header.msg_id``). Output that a background
thread prints after its cell finished is picked up by `KernelSession.drain` and lands in the
`ExecResult` of the cell whose parent header the thread carried, so a test can assert where
thread output goes.

It also speaks the frontend's side of the widget protocol: `send_comm_msg` sends a ``comm_msg``
on the shell channel, exactly as JupyterLab does when a user moves a slider or clicks a button.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager

Message = dict[str, Any]

DEFAULT_TIMEOUT = 30.0


class KernelTimeout(TimeoutError):
    """The kernel did not answer in time."""


class KernelError(AssertionError):
    """Code executed with ``check=True`` raised in the kernel."""


@dataclass
class ExecResult:
    """Everything the kernel published for one request (an execution or a comm message).

    ``messages`` holds the IOPub messages whose ``parent_header.msg_id`` is ``msg_id``, in
    arrival order. Messages that arrive later (from background threads) are appended by
    `KernelSession.drain` / `KernelSession.execute`, so the properties below always reflect
    everything seen so far.
    """

    msg_id: str
    code: str = ""
    reply: Message | None = None
    messages: list[Message] = field(default_factory=list)
    idle: bool = False

    # -- raw access -----------------------------------------------------------------------
    def of_type(self, *msg_types: str) -> list[Message]:
        """The recorded IOPub messages of the given types."""
        return [m for m in self.messages if m["header"]["msg_type"] in msg_types]

    # -- convenience views ------------------------------------------------------------------
    @property
    def status(self) -> str | None:
        """The execute_reply status (``"ok"``, ``"error"``, ``"aborted"``), None if no reply."""
        return None if self.reply is None else self.reply["content"].get("status")

    def stream(self, name: str = "stdout") -> str:
        """All text of the stream ``name`` (``"stdout"`` or ``"stderr"``) concatenated."""
        return "".join(
            m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == name
        )

    @property
    def stdout(self) -> str:
        return self.stream("stdout")

    @property
    def stderr(self) -> str:
        return self.stream("stderr")

    @property
    def outputs(self) -> list[Message]:
        """display_data, update_display_data and execute_result contents (data/metadata)."""
        return [
            m["content"]
            for m in self.of_type("display_data", "update_display_data", "execute_result")
        ]

    @property
    def data(self) -> list[dict[str, Any]]:
        """The MIME bundles of `outputs`."""
        return [c.get("data", {}) for c in self.outputs]

    @property
    def error(self) -> dict[str, Any] | None:
        """The first ``error`` message's content (ename, evalue, traceback), or None."""
        errors = self.of_type("error")
        return errors[0]["content"] if errors else None

    @property
    def comm_opens(self) -> list[dict[str, Any]]:
        return [m["content"] for m in self.of_type("comm_open")]

    @property
    def comm_msgs(self) -> list[Message]:
        """comm_msg messages, whole (``buffers`` holds the binary buffers as bytes)."""
        return self.of_type("comm_msg")

    def traceback_text(self) -> str:
        err = self.error
        if err is None:
            return ""
        text = "\n".join(err.get("traceback", [])) or f"{err['ename']}: {err['evalue']}"
        return re.sub(r"\x1b\[[0-9;]*m", "", text)

    def raise_for_error(self) -> None:
        """Raise `KernelError` with the kernel's traceback if the code raised."""
        if self.error is not None or self.status == "error":
            raise KernelError(
                f"kernel raised while running:\n{self.code}\n---\n{self.traceback_text()}"
                f"\n--- stderr ---\n{self.stderr}"
            )


class KernelSession:
    """One running ``python3`` kernel plus a blocking client, for tests.

    >>> k = KernelSession(cwd=tmp_path); k.start()
    >>> r = k.execute("print(1 + 1)")
    >>> assert r.stdout == "2\\n"
    >>> k.shutdown()
    """

    def __init__(
        self,
        cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        kernel_name: str = "python3",
        startup_timeout: float = 60.0,
    ) -> None:
        self.cwd = Path(cwd) if cwd is not None else None
        self.extra_env = dict(env or {})
        self.kernel_name = kernel_name
        self.startup_timeout = startup_timeout
        self.km: KernelManager | None = None
        self.kc: Any = None
        #: every IOPub message seen, in order
        self.iopub_log: list[Message] = []
        #: parent msg_id -> ExecResult (created on demand for unknown parents, "" = no parent)
        self.results: dict[str, ExecResult] = {}
        #: comm_id -> comm_open content, for every comm the kernel opened
        self.comms: dict[str, dict[str, Any]] = {}

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> KernelSession:
        env = os.environ.copy()
        env.update(self.extra_env)
        env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        self.km = KernelManager(kernel_name=self.kernel_name)
        kwargs: dict[str, Any] = {"env": env}
        if self.cwd is not None:
            kwargs["cwd"] = str(self.cwd)
        self.km.start_kernel(**kwargs)
        self.kc = self.km.blocking_client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=self.startup_timeout)
        except RuntimeError as err:
            self.shutdown()
            raise KernelTimeout(f"kernel did not start: {err}") from err
        # wait_for_ready leaves the kernel_info traffic on IOPub: drop it.
        self.drain(0.2)
        self.iopub_log.clear()
        self.results.clear()
        return self

    def shutdown(self, now: bool = True) -> None:
        """Stop the kernel (killed at once by default: tests need no graceful exit)."""
        if self.kc is not None:
            with contextlib.suppress(Exception):
                self.kc.stop_channels()
            self.kc = None
        if self.km is not None:
            try:
                if self.km.has_kernel:
                    self.km.shutdown_kernel(now=now)
            finally:
                self.km.cleanup_resources()
                self.km = None

    def __enter__(self) -> KernelSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    @property
    def is_alive(self) -> bool:
        return self.km is not None and self.km.is_alive()

    # -- IOPub bookkeeping ------------------------------------------------------------------
    def result_for(self, msg_id: str) -> ExecResult:
        """The ExecResult for the request ``msg_id`` (created empty if nothing came yet)."""
        if msg_id not in self.results:
            self.results[msg_id] = ExecResult(msg_id=msg_id)
        return self.results[msg_id]

    def _record(self, msg: Message) -> None:
        self.iopub_log.append(msg)
        parent_id = (msg.get("parent_header") or {}).get("msg_id", "")
        res = self.result_for(parent_id)
        msg_type = msg["header"]["msg_type"]
        if msg_type == "status":
            if msg["content"].get("execution_state") == "idle":
                res.idle = True
            return
        res.messages.append(msg)
        if msg_type == "comm_open":
            self.comms[msg["content"]["comm_id"]] = msg["content"]

    def _pump(self, timeout: float) -> bool:
        """Record one IOPub message if one arrives within ``timeout``; True if one did."""
        try:
            msg = self.kc.get_iopub_msg(timeout=max(timeout, 0.0))
        except queue.Empty:
            return False
        self._record(msg)
        return True

    def drain(
        self,
        timeout: float = 1.0,
        until: Callable[[], bool] | None = None,
    ) -> dict[str, list[Message]]:
        """Collect IOPub messages for ``timeout`` seconds, or until ``until()`` is true.

        Returns the newly seen messages grouped by parent msg_id (they are also appended to the
        matching `ExecResult`). With ``until``, raises `KernelTimeout` if it never became true.
        """
        start = len(self.iopub_log)
        deadline = time.monotonic() + timeout
        while True:
            if until is not None and until():
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if until is not None:
                    raise KernelTimeout(
                        f"condition not met within {timeout}s; recent IOPub:\n"
                        + self.format_log(self.iopub_log[start:])
                    )
                break
            self._pump(min(remaining, 0.1))
        new: dict[str, list[Message]] = {}
        for msg in self.iopub_log[start:]:
            parent_id = (msg.get("parent_header") or {}).get("msg_id", "")
            new.setdefault(parent_id, []).append(msg)
        return new

    def wait_for_stream(
        self, text: str, msg_id: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> ExecResult:
        """Wait until ``text`` appears in stdout/stderr (of request ``msg_id``, or of any)."""

        def seen() -> ExecResult | None:
            if msg_id is None:
                candidates = list(self.results.values())
            else:
                candidates = [self.result_for(msg_id)]
            for res in candidates:
                if text in res.stdout or text in res.stderr:
                    return res
            return None

        try:
            self.drain(timeout, until=lambda: seen() is not None)
        except KernelTimeout:
            where = f"request {msg_id}" if msg_id is not None else "any request"
            report = [f"{text!r} not printed by {where} within {timeout}s."]
            for res in self.results.values():
                if res.stdout or res.stderr or res.error:
                    report.append(
                        f"--- {res.msg_id[:8]} {res.code[:60]!r}\nstdout: {res.stdout[-1500:]!r}"
                        f"\nstderr: {res.stderr[-1500:]!r}\n{res.traceback_text()[-1500:]}"
                    )
            alive = self.km is not None and self.km.is_alive()
            report.append(f"kernel alive: {alive}")
            raise KernelTimeout("\n".join(report)) from None
        found = seen()
        assert found is not None
        return found

    @staticmethod
    def format_log(messages: Sequence[Message]) -> str:
        lines = []
        for m in messages:
            parent = (m.get("parent_header") or {}).get("msg_id", "")[:8]
            content = m["content"]
            brief = content.get("text") or content.get("execution_state") or content
            lines.append(f"  [{parent}] {m['header']['msg_type']}: {str(brief)[:200]!r}")
        return "\n".join(lines) or "  (none)"

    def _wait_idle(self, msg_id: str, timeout: float, what: str) -> None:
        res = self.result_for(msg_id)
        deadline = time.monotonic() + timeout
        while not res.idle:
            if self.km is not None and not self.km.is_alive():
                raise KernelError(
                    f"the kernel died during {what}; IOPub so far:\n"
                    + self.format_log(res.messages)
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KernelTimeout(
                    f"{what} did not finish within {timeout}s; IOPub so far:\n"
                    + self.format_log(res.messages)
                )
            self._pump(min(remaining, 0.1))

    # -- requests ---------------------------------------------------------------------------
    def execute(
        self,
        code: str,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        check: bool = True,
        subshell_id: str | None = None,
        user_expressions: dict[str, str] | None = None,
    ) -> ExecResult:
        """Run ``code`` as a cell and wait until the kernel is idle again for it.

        With ``check`` (default), a Python error in the cell raises `KernelError` carrying the
        traceback. ``subshell_id`` sends the request to a kernel subshell (see `create_subshell`).
        """
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": user_expressions or {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        msg = self.kc.session.msg("execute_request", content)
        if subshell_id is not None:
            msg["header"]["subshell_id"] = subshell_id
        self.kc.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
        res = self.result_for(msg_id)
        res.code = code
        self._wait_idle(msg_id, timeout, f"cell {code[:60]!r}")
        res.reply = self._get_reply(msg_id, timeout)
        if check:
            res.raise_for_error()
        return res

    def _get_reply(self, msg_id: str, timeout: float) -> Message:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KernelTimeout(f"no shell reply for {msg_id} within {timeout}s")
            try:
                reply = self.kc.get_shell_msg(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply
            # a reply to something else (e.g. an earlier request we did not wait for)

    def evaluate(self, expression: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        """The ``repr`` (text/plain) of ``expression`` evaluated in the kernel's namespace."""
        res = self.execute("", timeout, user_expressions={"value": expression})
        assert res.reply is not None
        value = res.reply["content"]["user_expressions"]["value"]
        if value.get("status") != "ok":
            raise KernelError(f"{expression!r} raised {value.get('ename')}: {value.get('evalue')}")
        return value["data"]["text/plain"]

    def send_comm_msg(
        self,
        comm_id: str,
        data: dict[str, Any],
        buffers: Sequence[bytes | memoryview] | None = None,
        *,
        wait: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        subshell_id: str | None = None,
    ) -> ExecResult:
        """Send ``comm_msg`` on the shell channel, as a frontend does, and (by default) wait
        until the kernel has handled it. The returned `ExecResult` collects what the kernel
        published in response (echo_update messages, output printed by callbacks, errors)."""
        msg = self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        if subshell_id is not None:
            msg["header"]["subshell_id"] = subshell_id
        self.kc.session.send(self.kc.shell_channel.socket, msg, buffers=list(buffers or []))
        msg_id = msg["header"]["msg_id"]
        res = self.result_for(msg_id)
        res.code = f"<comm_msg to {comm_id}: {str(data)[:80]}>"
        if wait:
            self._wait_idle(msg_id, timeout, res.code)
        return res

    def send_widget_update(
        self,
        comm_id: str,
        state: dict[str, Any],
        buffers: Sequence[bytes | memoryview] | None = None,
        buffer_paths: list[list[str | int]] | None = None,
        **kwargs: Any,
    ) -> ExecResult:
        """Set synced traits of a widget from the "frontend" (ipywidgets ``update`` message)."""
        data = {"method": "update", "state": state, "buffer_paths": buffer_paths or []}
        return self.send_comm_msg(comm_id, data, buffers, **kwargs)

    def send_widget_custom(
        self,
        comm_id: str,
        content: Any,
        buffers: Sequence[bytes | memoryview] | None = None,
        **kwargs: Any,
    ) -> ExecResult:
        """Send a custom message to a widget (arrives in its ``on_msg`` handlers)."""
        return self.send_comm_msg(
            comm_id, {"method": "custom", "content": content}, buffers, **kwargs
        )

    def widget_comm_ids(self, model_name: str | None = None) -> list[str]:
        """comm_ids of the widgets the kernel opened, optionally filtered by ``_model_name``."""
        out = []
        for comm_id, content in self.comms.items():
            if content.get("target_name") != "jupyter.widget":
                continue
            state = content.get("data", {}).get("state", {})
            if model_name is None or state.get("_model_name") == model_name:
                out.append(comm_id)
        return out

    def create_subshell(self, timeout: float = DEFAULT_TIMEOUT) -> str:
        """Create a kernel subshell (JupyterLab 4.4+ may send widget traffic on one)."""
        msg = self.kc.session.msg("create_subshell_request", {})
        self.kc.control_channel.send(msg)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                reply = self.kc.get_control_msg(timeout=1.0)
            except queue.Empty:
                continue
            if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                return str(reply["content"]["subshell_id"])
        raise KernelTimeout("no create_subshell_reply")

    def iter_results(self) -> Iterator[ExecResult]:
        return iter(self.results.values())
