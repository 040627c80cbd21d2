"""Real JupyterLab / Notebook 7 servers driven by real headless Chromium through Playwright.

`start_server` launches ``jupyter lab`` (or ``jupyter notebook``) on a free port with no token,
``window.jupyterapp`` exposed, and private settings/workspace directories (so no state leaks from
one run to the next). `open_notebook` / `run_all_cells` / `wait_for_text` drive the page through
the application's own command registry, and `screenshot` saves into ``test-artifacts/``.

Chromium comes from the OS (``apt-get install -y chromium``, see ``.ci/browser-deps.sh``):
Playwright cannot download its own browser here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
BROWSER_DEPS_SCRIPT = ".ci/browser-deps.sh"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}

ServerKind = Literal["lab", "notebook"]


# ---------------------------------------------------------------------------------------------
# servers
# ---------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class JupyterServer:
    """A running ``jupyter lab`` / ``jupyter notebook`` process (in its own process group)."""

    kind: ServerKind
    root_dir: Path
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    state_dir: Path
    _log_file: Any = field(default=None, repr=False)
    _final_log: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, path: str | os.PathLike[str]) -> str:
        """Browser URL that opens ``path`` (relative to ``root_dir``) in this frontend."""
        if self.kind == "lab":  # `?reset`: no tabs restored from an earlier test's workspace
            return self.url + "/lab/tree/" + self._rel(path).as_posix() + "?reset"
        return self.url + "/notebooks/" + self._rel(path).as_posix()

    def _rel(self, path: str | os.PathLike[str]) -> Path:
        rel = Path(path)
        return rel.relative_to(self.root_dir) if rel.is_absolute() else rel

    def api(self, path: str, method: str = "GET", timeout: float = 5.0) -> Any:
        """Call the server's REST API (``path`` like ``"/api/kernels"``); JSON-decoded answer."""
        req = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_sessions(self, path: str | os.PathLike[str] | None = None) -> int:
        """Delete the server's sessions (and so their kernels), all or only those of the
        notebook ``path``; returns how many. Keeps one test's kernel (and its training
        threads) from leaking into the next."""
        rel = None if path is None else self._rel(path).as_posix()
        n = 0
        for sess in self.api("/api/sessions") or []:
            if rel is None or sess.get("path") == rel:
                with contextlib.suppress(urllib.error.URLError, OSError):
                    self.api(f"/api/sessions/{sess['id']}", method="DELETE", timeout=15.0)
                    n += 1
        return n

    def log_text(self, tail: int | None = 200) -> str:
        """The server's combined stdout/stderr (last ``tail`` lines)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            if self._final_log is None:
                return "(no log)"
            lines = self._final_log.splitlines()
        if tail is not None:
            lines = lines[-tail:]
        return "\n".join(lines)

    def kernel_pids(self) -> list[int]:
        """PIDs of kernels this server launched (they run in their own sessions)."""
        return _children_by_env("JPY_PARENT_PID", str(self.proc.pid))

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down kernels and the server; kill whatever is left of both."""
        kernels = self.kernel_pids()
        if self.proc.poll() is None:
            # SIGTERM: the server shuts its kernels down, then exits.
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5.0)
        else:
            _signal_group(self.proc.pid, signal.SIGKILL)
        for pid in kernels:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # kernels lead their own process group
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        # keep the log text, drop the private settings/workspaces/runtime dirs
        if self.state_dir.exists():
            self._final_log = self.log_text(tail=None)
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> JupyterServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _children_by_env(name: str, value: str) -> list[int]:
    needle = f"{name}={value}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def server_command(kind: ServerKind, root_dir: Path, port: int) -> list[str]:
    """The exact command line used to launch a server (flags checked against JupyterLab 4.6
    and Notebook 7.6)."""
    common = [
        "--no-browser",
        "--allow-root",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        "--ServerApp.ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root_dir}",
        # jupyter-lsp would scan for language servers (and run `npm prefix -g`) at startup
        "--LanguageServerManager.autodetect=False",
    ]
    if kind == "lab":
        return [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            *common,
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
        ]
    if kind == "notebook":
        return [
            sys.executable,
            "-m",
            "jupyter",
            "notebook",
            *common,
            # Notebook 7's app class is JupyterNotebookApp (not NotebookApp, that was 6.x).
            "--JupyterNotebookApp.expose_app_in_browser=True",
        ]
    raise ValueError(f"unknown server kind {kind!r}: use 'lab' or 'notebook'")


def _write_quiet_settings(settings_dir: Path) -> None:
    """Turn off the news / update toasts that would otherwise cover the page."""
    target = (
        settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))


def start_server(
    kind: ServerKind = "lab",
    root_dir: str | os.PathLike[str] | None = None,
    *,
    port: int | None = None,
    timeout: float = 90.0,
    env: dict[str, str] | None = None,
    extra_args: Sequence[str] = (),
) -> JupyterServer:
    """Start ``jupyter lab`` or ``jupyter notebook`` serving ``root_dir`` and wait until its
    HTTP API answers. Logs go to ``<state_dir>/server.log`` (see `JupyterServer.log_text`)."""
    state_dir = Path(tempfile.mkdtemp(prefix=f"gw-{kind}-state-"))
    root = Path(root_dir) if root_dir is not None else state_dir / "root"
    root.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    full_env = os.environ.copy()
    full_env.update(
        {
            "JUPYTERLAB_SETTINGS_DIR": str(state_dir / "settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(state_dir / "workspaces"),
            "JUPYTER_RUNTIME_DIR": str(state_dir / "runtime"),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        }
    )
    full_env.pop("JUPYTER_TOKEN", None)
    full_env.update(env or {})
    _write_quiet_settings(state_dir / "settings")
    log_path = state_dir / "server.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed by JupyterServer.stop
    cmd = [*server_command(kind, root, port), *extra_args]
    proc = subprocess.Popen(
        cmd,
        cwd=root,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # own process group: stop() kills the whole tree
    )
    server = JupyterServer(kind, root, port, proc, log_path, state_dir, log_file)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            server.stop()
            raise RuntimeError(
                f"jupyter {kind} exited with {proc.returncode} before answering.\n"
                f"command: {' '.join(cmd)}\n--- log ---\n{server.log_text()}"
            )
        try:
            server.api("/api/status", timeout=2.0)
            return server
        except (urllib.error.URLError, ConnectionError, OSError, json.JSONDecodeError):
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise TimeoutError(
                f"jupyter {kind} did not answer on {server.url}/api/status within {timeout}s\n"
                f"--- log ---\n{server.log_text()}"
            )
        time.sleep(0.25)


# ---------------------------------------------------------------------------------------------
# notebooks on disk
# ---------------------------------------------------------------------------------------------
def make_notebook(cells: Sequence[str | tuple[str, str]]) -> dict[str, Any]:
    """An nbformat-4 notebook dict with the python3 kernelspec (without it JupyterLab stops at
    a kernel-picker dialog). A cell is code source, or ``("markdown", source)``."""
    nb_cells = []
    for i, cell in enumerate(cells):
        kind, source = ("code", cell) if isinstance(cell, str) else cell
        c: dict[str, Any] = {"cell_type": kind, "id": f"cell-{i}", "metadata": {}, "source": source}
        if kind == "code":
            c.update(execution_count=None, outputs=[])
        nb_cells.append(c)
    return {
        "cells": nb_cells,
        "metadata": {
            "kernelspec": dict(KERNELSPEC),
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write_notebook(path: str | os.PathLike[str], cells: Sequence[str | tuple[str, str]]) -> Path:
    """Write `make_notebook` ``cells`` to ``path``; returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(make_notebook(cells), indent=1))
    return p


# ---------------------------------------------------------------------------------------------
# browser
# ---------------------------------------------------------------------------------------------
def chromium_executable() -> str | None:
    """Path of the OS Chromium (or of ``$GW_CHROMIUM``), or None (install it with
    ``.ci/browser-deps.sh``)."""
    override = os.environ.get("GW_CHROMIUM")
    if override:  # an explicit browser path; one that does not exist counts as missing
        return override if os.access(override, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def launch_browser(playwright: Playwright, executable: str | None = None) -> Browser:
    """Headless OS Chromium with the flags that work in this container."""
    exe = executable or chromium_executable()
    if exe is None:
        raise RuntimeError(f"chromium not found: run {BROWSER_DEPS_SCRIPT} as root")
    return playwright.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)


_console: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()


def new_page(browser: Browser, width: int = 1280, height: int = 900) -> Page:
    """A page in a fresh context; console messages and page errors are recorded (see
    `console_log`)."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    log: list[str] = []
    _console[page] = log
    page.on("console", lambda m: log.append(f"[{m.type}] {m.text}"))
    page.on("pageerror", lambda e: log.append(f"[pageerror] {e}"))
    return page


def console_log(page: Page) -> list[str]:
    """Browser console lines recorded for ``page`` (created by `new_page`)."""
    return _console.get(page, [])


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:150] or "page"


def screenshot(page: Page, name: str, full_page: bool = True) -> Path:
    """Save a PNG of ``page`` as ``test-artifacts/<name>.png`` at the repo root."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS_DIR / f"{_safe_name(name)}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


class BrowserTimeout(AssertionError):
    """A browser wait ran out; the message carries what was on the page."""


def _fail(page: Page, what: str, err: Exception) -> BrowserTimeout:
    shot = ""
    with contextlib.suppress(Exception):
        shot = f"\nscreenshot: {screenshot(page, 'timeout-' + what[:60])}"
    dialog = ""
    with contextlib.suppress(Exception):
        dlg = page.locator(".jp-Dialog")
        if dlg.count():
            dialog = f"\nopen dialog: {dlg.first.inner_text()[:500]!r}"
    console = "\n".join(console_log(page)[-30:])
    return BrowserTimeout(f"{what}: {err}{dialog}{shot}\n--- browser console ---\n{console}")


# JS: the current notebook panel, its kernel ready and idle.
_NOTEBOOK_READY_JS = """(path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return false;
  const w = app.shell.currentWidget;
  if (!w || !w.context || !w.sessionContext || !w.content) return false;
  if (w.context.path !== path) return false;  // the notebook asked for, not a restored tab
  if (!w.context.isReady || !w.sessionContext.isReady) return false;
  const s = w.sessionContext.session;
  const k = s && s.kernel;
  return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
}"""

_KERNEL_IDLE_JS = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""


def open_notebook(
    page: Page,
    server: JupyterServer,
    path: str | os.PathLike[str],
    timeout: float = 90.0,
    fresh_kernel: bool = True,
) -> None:
    """Open ``path`` (relative to the server root) and wait until the app is exposed, the
    notebook is loaded and its kernel is connected and idle.

    With ``fresh_kernel`` (default), any session the server still has for ``path`` (say from
    an earlier test on the same module-scoped server) is shut down first, so the notebook
    gets a new kernel instead of silently reusing the old one's state."""
    if fresh_kernel:
        server.shutdown_sessions(path)
    page.goto(server.notebook_url(path), wait_until="domcontentloaded", timeout=timeout * 1000)
    try:
        page.wait_for_function(
            _NOTEBOOK_READY_JS,
            arg=server._rel(path).as_posix(),
            timeout=timeout * 1000,
            polling=250,
        )
    except Exception as err:
        raise _fail(page, f"open_notebook({path})", err) from None


def wait_for_kernel_idle(page: Page, timeout: float = 60.0) -> None:
    try:
        page.wait_for_function(_KERNEL_IDLE_JS, timeout=timeout * 1000, polling=200)
    except Exception as err:
        raise _fail(page, "wait_for_kernel_idle", err) from None


def execute_command(page: Page, command: str, args: dict[str, Any] | None = None) -> Any:
    """Run a JupyterLab command (``app.commands.execute``) and return its JSON-able result."""
    return page.evaluate(
        "([c, a]) => window.jupyterapp.commands.execute(c, a)", [command, args or {}]
    )


def run_all_cells(page: Page, timeout: float = 120.0, wait: bool = True) -> None:
    """``notebook:run-all-cells`` in the current notebook; with ``wait``, return once the
    command's promise has resolved (every cell executed) and the kernel is idle again."""
    page.evaluate(
        """() => {
          window.__gwRunAll = 'running';
          window.jupyterapp.commands.execute('notebook:run-all-cells').then(
            () => { window.__gwRunAll = 'done'; },
            (e) => { window.__gwRunAll = 'error: ' + e; });
        }"""
    )
    if not wait:
        return
    try:
        page.wait_for_function(
            "() => window.__gwRunAll !== 'running'", timeout=timeout * 1000, polling=200
        )
    except Exception as err:
        raise _fail(page, "run_all_cells", err) from None
    state = page.evaluate("() => window.__gwRunAll")
    if state != "done":
        raise _fail(page, "run_all_cells", RuntimeError(state))
    wait_for_kernel_idle(page, timeout)


OUTPUTS = ".jp-OutputArea-output"


def number_attribute(page: Page, selector: str, name: str) -> float:
    """The first match's attribute `name` as a number; -1 when absent, empty or NaN (the widgets
    publish counters such as data-points, data-step as attributes for tests to read)."""
    value = page.locator(selector).first.get_attribute(name)
    return float(value) if value not in (None, "", "undefined", "NaN") else -1.0


def wait_for_attribute(
    page: Page, selector: str, name: str, predicate, timeout: float = 60.0, what: str = ""
) -> float:
    """Poll `number_attribute` until `predicate(value)` holds; returns that value, or raises
    AssertionError naming what got stuck and at which value."""
    deadline = time.monotonic() + timeout
    value = number_attribute(page, selector, name)
    while time.monotonic() < deadline:
        value = number_attribute(page, selector, name)
        if predicate(value):
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what or selector + '@' + name} stuck at {value}")


def wait_for_text(
    page: Page, text: str, timeout: float = 30.0, scope: str | None = OUTPUTS
) -> None:
    """Wait until ``text`` (case-insensitive substring) is visible inside an element matching
    ``scope``: by default cell outputs (widget views included), so text that also appears in
    a cell's source does not count. ``scope=None`` searches the whole page."""
    root = page if scope is None else page.locator(scope)
    try:
        root.get_by_text(text).first.wait_for(state="visible", timeout=timeout * 1000)
    except Exception as err:
        raise _fail(page, f"wait_for_text({text!r})", err) from None


def kernel_execute(page: Page, code: str, timeout: float = 30.0) -> str:
    """Run ``code`` on the current notebook's kernel from the page (not as a cell) and return
    its stdout plus the text/plain result; raises `AssertionError` if the code raised."""
    result = page.evaluate(
        """async ([code, ms]) => {
          const w = window.jupyterapp.shell.currentWidget;
          const k = w.sessionContext.session.kernel;
          const fut = k.requestExecute({ code, store_history: false, silent: false });
          let out = '', err = null;
          fut.onIOPub = (msg) => {
            const t = msg.header.msg_type, c = msg.content;
            if (t === 'stream') out += c.text;
            else if (t === 'execute_result') out += c.data['text/plain'];
            else if (t === 'error') err = c.ename + ': ' + c.evalue;
          };
          const timer = new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), ms));
          try { await Promise.race([fut.done, timer]); }
          catch (e) { return { out, err: String(e) }; }
          return { out, err };
        }""",
        [code, timeout * 1000],
    )
    if result["err"]:
        raise AssertionError(f"kernel_execute({code!r}) failed: {result['err']}\n{result['out']}")
    return str(result["out"])


def cell_outputs_text(page: Page) -> list[str]:
    """The rendered output text of every cell of the current notebook, in order."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell')).map(
              c => Array.from(c.querySelectorAll('.jp-OutputArea-output'))
                        .map(o => o.innerText).join('\\n'))"""
    )
