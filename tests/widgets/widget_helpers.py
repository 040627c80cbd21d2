"""Helpers of the widget trait tests: waiting, recording sent messages, and a stub run for
states a real run reaches only by accident (a failure, a non-finite loss)."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

import genai_widgets as gw
from genai_widgets.engine import images


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    stacks = "\n".join(
        f"--- {t.name}\n" + "".join(traceback.format_stack(sys._current_frames()[t.ident]))
        for t in threading.enumerate()
        if t.name.startswith("genai-widgets") and t.ident in sys._current_frames()
    )
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{stacks}")


class Recorder:
    """Stands in for `widget.send`: keeps every custom message with its buffers."""

    def __init__(self) -> None:
        self.messages: list[tuple[dict, list[bytes]]] = []

    def __call__(self, content: dict, buffers: list | None = None) -> None:
        self.messages.append((content, [bytes(b) for b in buffers or []]))

    def of_type(self, kind: str) -> list[tuple[dict, list[bytes]]]:
        return [m for m in list(self.messages) if m[0].get("type") == kind]


class StubRun:
    """The Run contract, by hand: enough for the widgets, with states set by the test."""

    def __init__(self) -> None:
        self.name = "stub"
        self.id = "stub0001"
        self.status = "running"
        self.step = 3
        self.max_steps = 100
        self.message: str | None = None
        self.traceback_text: str | None = None
        self.error: BaseException | None = None
        self.steps_per_second = 12.34
        self.eta_seconds = 7.8
        self.latent_dim = 4
        self.version = 1
        self.settings = {"lr": 2e-4, "n_critic": 1, "max_steps": 100}
        self.config = gw.GANConfig()
        self.set_calls: list[dict] = []
        self.commands: list[str] = []
        self._rows = {
            "step": np.arange(1, 4.0),
            "time": np.arange(3.0),
            "loss_d": np.ones(3),
            "loss_g": np.full(3, 2.0),
        }
        self._png = images.grid_png(torch.zeros(4, 1, 8, 8))

    @property
    def history(self) -> dict[str, np.ndarray]:
        return dict(self._rows)

    def metrics_since(self, cursor: int) -> tuple[int, dict[str, np.ndarray]]:
        n = len(self._rows["step"])
        return n, {k: v[min(cursor, n) :] for k, v in self._rows.items()}

    def add_row(self, loss_d: float) -> None:
        step = self._rows["step"][-1] + 1
        for k, v in {"step": step, "time": step, "loss_d": loss_d, "loss_g": 1.0}.items():
            self._rows[k] = np.append(self._rows[k], v)
        self.step = int(step)
        self.version += 1

    snapshot_count = 1

    def snapshot_steps(self) -> np.ndarray:
        return np.array([1])

    def snapshot_png(self, i: int) -> bytes:
        return self._png

    def random_z(self, n: int, seed: int | None = None) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=torch.Generator().manual_seed(seed or 0))

    def sample(self, n: int = 16, z: Any = None) -> torch.Tensor:
        return torch.zeros(len(z), 1, 8, 8)

    def interpolate(self, z0: Any, z1: Any, steps: int = 8, method: str = "slerp") -> torch.Tensor:
        return torch.zeros(steps, 1, 8, 8)

    def set(self, **changes: Any) -> None:
        for key, value in changes.items():
            if key == "lr" and not value > 0:
                raise ValueError(f"lr must be a number > 0, got {value!r}")
        self.set_calls.append(changes)
        self.settings.update(changes)

    def pause(self) -> None:
        self.commands.append("pause")

    def resume(self) -> None:
        self.commands.append("resume")

    def stop(self) -> None:
        self.commands.append("stop")


@contextlib.contextmanager
def open_latent_space(dashboard: Callable[[Any], Any], run: Any) -> Iterator[Any]:
    """`dashboard(run)` with its latent-space section open and not following training, once
    its first directions and neighbours are computed; closed afterwards."""
    d = dashboard(run)
    try:
        assert d.latent_space_enabled
        d.explorer_auto = False
        d.latent_space_open = True
        wait_until(lambda: d.direction_variance and not d.latent_busy, 120, "directions")
        wait_until(lambda: d.neighbour_distances, 120, f"neighbours ({d.latent_error!r})")
        yield d
    finally:
        d.close()


def project_real_pair(d: Any, timeout: float) -> torch.Tensor:
    """Pick real images 0 and 3 in the latent-space section `d`; returns the real images it
    offers, once both are projected and their interpolation is drawn."""
    d.real_start, d.real_end = 0, 3
    wait_until(lambda: len(d.real_errors) == 2 and d.real_frames_png, timeout, "projections")
    real = d._real
    assert real is not None and len(real) == d.real_count
    return real


def assert_open_section_is_in_the_static_picture(d: Any) -> None:
    """The static PNG of a dashboard with its latent-space section open is taller than with
    it folded (the direction strip and the neighbours, captioned)."""
    import io

    from PIL import Image

    plain = Image.open(io.BytesIO(d.static_png()))
    d.latent_space_open = False
    try:
        folded = Image.open(io.BytesIO(d.static_png()))
    finally:
        d.latent_space_open = True
    assert plain.height > folded.height
