"""A real IPython shell with the extension loaded, reset around every test: the cwd is the
test's tmp_path (so `runs/` lands there), GENAI_WIDGETS_* variables are cleared, `%config`
settings and new user variables are dropped, ended runs of earlier tests are forgotten, and
every run the test started is stopped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from magic_helpers import FakeRun, the_magics

import genai_widgets.magics as magics
from genai_widgets.engine.run import RUNS


@pytest.fixture(scope="session")
def _ipython() -> InteractiveShell:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "genai_widgets")
    return shell


@pytest.fixture
def shell(_ipython: InteractiveShell, tmp_path, monkeypatch) -> Iterator[InteractiveShell]:
    monkeypatch.chdir(tmp_path)
    # Record what the magic displays; dashboards are closed afterwards so that their flusher
    # threads end (a displayed widget keeps its flusher polling until it is closed).
    displayed: list[Any] = []
    monkeypatch.setattr(magics, "display", lambda obj, **kw: displayed.append(obj))
    monkeypatch.setattr(_ipython, "_gan_test_shown", displayed, raising=False)
    for var in list(os.environ):
        if var.startswith(magics.ENV_PREFIX) and var != "GENAI_WIDGETS_DATA":
            monkeypatch.delenv(var)
    names_before = set(_ipython.user_ns)
    # Runs other test modules left behind, ended, would make a name the test binds (`--as g`)
    # ambiguous with a run of that name: a fresh kernel has none of them.
    for name, run in list(RUNS.items()):
        if run.status not in ("running", "paused"):
            del RUNS[name]
    runs_before = dict(RUNS)
    yield _ipython
    for name, run in list(RUNS.items()):
        if runs_before.get(name) is not run:
            run.stop()
            run.wait(30)
            del RUNS[name]
    for obj in displayed:
        if hasattr(obj, "close"):
            obj.close()
    for name in set(_ipython.user_ns) - names_before:
        del _ipython.user_ns[name]
    gan_magics = the_magics(_ipython)
    for config in (_ipython.config, gan_magics.config):
        config.pop(type(gan_magics).__name__, None)
    for spec in magics.flag_specs().values():
        setattr(gan_magics, spec.field, spec.default)
    gan_magics._assigned.clear()


@pytest.fixture
def shown(shell) -> list[Any]:
    """What the magic displayed (the objects passed to IPython's display)."""
    return shell._gan_test_shown


@pytest.fixture
def built(monkeypatch) -> list[Any]:
    """Replace build_run: the configs the magic would start, and nothing trains."""
    configs: list[Any] = []

    def fake_build_run(config: Any) -> FakeRun:
        configs.append(config)
        return FakeRun(config)

    monkeypatch.setattr(magics, "build_run", fake_build_run)
    return configs
