"""Kernel-level tests run under both ipykernel lines the package supports: the installed 7.x
and 6.29 (the oldest admitted), from a virtual environment built once per machine on top of
this interpreter: a ``.pth`` file in it adds this interpreter's own site directories (a
virtualenv's when the tests run in one) after its own, so torch and genai_widgets come from
here and only ipykernel (with whatever it needs at other versions) is shadowed.
(``venv --system-site-packages`` is not that: from inside a virtualenv it exposes the *base*
interpreter's packages, which lack torch and genai_widgets.) Building it needs the package
index (once); without it the 6.29 cases are skipped locally and fail in CI (``CI`` set), so a
CI run always covers both lines."""

from __future__ import annotations

import hashlib
import json
import os
import site
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.kernel import KernelSession

IPYKERNEL_OLD = "6.29.5"
_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "genai_widgets-tests"


def _site_dirs() -> list[str]:
    """This interpreter's site directories, in its own order (the virtualenv's alone inside one)."""
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:  # False inside a virtualenv
        dirs.append(site.getusersitepackages())
    paths = sysconfig.get_paths()
    dirs += [paths["purelib"], paths["platlib"]]
    return [d for i, d in enumerate(dirs) if d not in dirs[:i] and os.path.isdir(d)]


_SITE_DIRS = _site_dirs()
# One venv per interpreter environment: another virtualenv gets its own (its .pth differs).
_KEY = hashlib.sha256("\n".join([sys.prefix, *_SITE_DIRS]).encode()).hexdigest()[:10]
_VENV = _CACHE / f"ipykernel-{IPYKERNEL_OLD}-{_KEY}"
_SPECS = _CACHE / f"jupyter-{_KEY}"
_PTH = "genai_widgets_tests_parent.pth"
OLD_KERNEL = f"genai-widgets-ipykernel-{IPYKERNEL_OLD}"


def _venv_python() -> Path:
    return _VENV / "bin" / "python"


def _venv_site_packages() -> Path:
    out = subprocess.run(
        [str(_venv_python()), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def _write_pth() -> None:
    # addsitedir (not a bare path line) so that the .pth files there run too: editable
    # installs put genai_widgets on the path that way.
    lines = [f"import site; site.addsitedir({d!r})" for d in _SITE_DIRS]
    (_venv_site_packages() / _PTH).write_text("\n".join(lines) + "\n")


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
            [sys.executable, "-m", "venv", "--clear", str(_VENV)],
            _write_pth,  # first, so pip sees what is here and adds only what 6.29 lacks
            [str(_venv_python()), "-m", "pip", "install", "-q", f"ipykernel=={IPYKERNEL_OLD}"],
        ]
        for cmd in steps:
            if callable(cmd):
                cmd()
                continue
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                return f"{' '.join(cmd[:4])} failed: {done.stderr.strip()[-400:]}"
        if (found := _version_in_venv()) != IPYKERNEL_OLD:
            return f"the venv has ipykernel {found}, not {IPYKERNEL_OLD}"
        probe = "import genai_widgets, torch; print(genai_widgets.__file__)"
        done = subprocess.run([str(_venv_python()), "-c", probe], capture_output=True, text=True)
        if done.returncode != 0:
            return f"the venv does not see this environment: {done.stderr.strip()[-400:]}"
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
