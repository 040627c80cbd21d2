"""Kernel-level tests run under both ipykernel lines the package supports: the installed 7.x
and 6.29 (the oldest admitted), from a virtual environment built once per machine on top of
this one (``--system-site-packages``: torch and genai_widgets come from here, only ipykernel
is shadowed). Building it needs the package index (once); without it the 6.29 cases are
skipped locally and fail in CI (``CI`` set), so a CI run always covers both lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.kernel import KernelSession

IPYKERNEL_OLD = "6.29.5"
_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "genai_widgets-tests"
_VENV = _CACHE / f"ipykernel-{IPYKERNEL_OLD}"
_SPECS = _CACHE / "jupyter"
OLD_KERNEL = f"genai-widgets-ipykernel-{IPYKERNEL_OLD}"


def _venv_python() -> Path:
    return _VENV / "bin" / "python"


def _version_in_venv() -> str | None:
    if not _venv_python().exists():
        return None
    out = subprocess.run(
        [str(_venv_python()), "-c", "import ipykernel; print(ipykernel.__version__)"],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() if out.returncode == 0 else None


def _build_old_kernel() -> str | None:
    """Make (once) the venv and its kernelspec; returns why not, or None when ready."""
    if _version_in_venv() != IPYKERNEL_OLD:
        steps = [
            [sys.executable, "-m", "venv", "--clear", "--system-site-packages", str(_VENV)],
            [str(_venv_python()), "-m", "pip", "install", "-q", f"ipykernel=={IPYKERNEL_OLD}"],
        ]
        for cmd in steps:
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                return f"{' '.join(cmd[:4])} failed: {done.stderr.strip()[-400:]}"
        if (found := _version_in_venv()) != IPYKERNEL_OLD:
            return f"the venv has ipykernel {found}, not {IPYKERNEL_OLD}"
    spec = _SPECS / "kernels" / OLD_KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    str(_venv_python()),
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": f"Python 3 (ipykernel {IPYKERNEL_OLD})",
                "language": "python",
            }
        )
    )
    return None


@pytest.fixture(scope="session")
def old_kernel_name() -> str:
    why = _build_old_kernel()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"cannot build the ipykernel {IPYKERNEL_OLD} test kernel: {why}")
        pytest.skip(f"no ipykernel {IPYKERNEL_OLD} test kernel: {why}")
    return OLD_KERNEL


@pytest.fixture(params=["ipykernel-installed", f"ipykernel-{IPYKERNEL_OLD}"])
def kernel(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[KernelSession]:
    """A started kernel in ``tmp_path``: the installed ipykernel, then ipykernel 6.29 (this
    overrides the top-level ``kernel`` fixture for every test in this directory)."""
    name = "python3"
    if request.param != "ipykernel-installed":
        name = request.getfixturevalue("old_kernel_name")
        path = os.environ.get("JUPYTER_PATH")
        monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(filter(None, [str(_SPECS), path])))
    session = KernelSession(cwd=tmp_path, kernel_name=name)
    session.start()
    try:
        expected = IPYKERNEL_OLD if name != "python3" else None
        version = session.evaluate("__import__('ipykernel').__version__").strip("'\"")
        assert expected is None or version == expected, version
        yield session
    finally:
        session.shutdown()
