"""Status and steering of a run (part of the Dashboard): pause / resume / single step / stop,
slow motion, the fields in `control_fields` (lr and n_critic for a GAN, lr and beta for a VAE)
wired to `run.set`, progress with steps/s and ETA, the failure traceback, the message of a run
paused by a non-finite loss and the run's health warnings (posterior collapse, ...)."""

from __future__ import annotations

import math
import threading
from typing import Any

import traitlets as t

from . import static_png
from ._base import Panel, RunWidget, bundle
from .flusher import Tick

COMMANDS = ("pause", "resume", "stop", "step")
FIELDS = ("lr", "n_critic", "max_steps", "beta", "step_delay")
MAX_STEP_DELAY = 60.0


def parse_field(field: str, text: Any) -> float | int | None:
    """A value typed in the widget -> the number `run.set` takes; ValueError says why not."""
    raw = str(text).strip()
    if field == "lr":
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"lr must be a number > 0, got {raw!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"lr must be a finite number > 0, got {raw!r}")
        return value
    if field == "beta":
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"beta must be a number >= 0, got {raw!r}") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"beta must be a finite number >= 0, got {raw!r}")
        return value
    if field == "step_delay":
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"step_delay must be a number of seconds, got {raw!r}") from None
        if not math.isfinite(value) or not 0 <= value <= MAX_STEP_DELAY:
            raise ValueError(f"step_delay must be in [0, {MAX_STEP_DELAY:g}] seconds, got {raw!r}")
        return value
    if field in ("n_critic", "max_steps"):
        if field == "max_steps" and raw.lower() in ("", "none"):
            return None
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{field} must be a whole number >= 1, got {raw!r}") from None
        if not value.is_integer() or value < 1:
            raise ValueError(f"{field} must be a whole number >= 1, got {raw!r}")
        return int(value)
    raise ValueError(f"cannot set {field!r} from the widget; settable here: {', '.join(FIELDS)}")


class ControlsPanel(Panel):
    """Traits and flush logic of the status bar and the controls."""

    status = t.Unicode("").tag(sync=True)
    """str: "running" | "paused" | "finished" | "stopped" | "failed"."""

    step = t.Int(0).tag(sync=True)
    """int: generator updates done."""

    max_steps = t.Int(None, allow_none=True).tag(sync=True)
    """int | None: the run's target step count (None: until stopped)."""

    steps_per_second = t.Float(0.0).tag(sync=True)
    """float: recent training rate."""

    eta_seconds = t.Float(None, allow_none=True).tag(sync=True)
    """float | None: estimated seconds to `max_steps` (None when unknown)."""

    message = t.Unicode("").tag(sync=True)
    """str: the run's message, e.g. why a non-finite loss paused it ('' if none)."""

    error_text = t.Unicode("").tag(sync=True)
    """str: traceback of a failed run ('' otherwise)."""

    lr = t.Float(0.0).tag(sync=True)
    """float: the run's current learning rate (edited through `run.set`, not by writing this)."""

    n_critic = t.Int(1).tag(sync=True)
    """int: the run's current discriminator updates per generator update."""

    step_delay = t.Float(0.0).tag(sync=True)
    """float: slow motion, seconds the trainer waits after each step (0: full speed)."""

    control_feedback = t.Dict().tag(sync=True)
    """dict: {"id": int, "ok": bool, "text": str}, the answer to the last command or value typed."""

    control_fields = t.List(t.Unicode(), default_value=["lr", "n_critic"]).tag(sync=True)
    """list[str]: the settings offered as fields (default ["lr", "n_critic"]; a VAE: lr, beta)."""

    control_values = t.Dict().tag(sync=True)
    """dict: current value of each of `control_fields` (edited through `run.set`)."""

    warnings = t.List(t.Unicode(), default_value=[]).tag(sync=True)
    """list[str]: the run's health warnings (posterior collapse, stalled reconstructions)."""

    def _init_panel(self, run: Any) -> None:
        self._controls_lock = threading.Lock()
        self._feedback: list[tuple[bool, str]] = []
        self._feedback_id = 0
        self._controls_write(run)

    def _controls_write(self, run: Any) -> None:
        settings = getattr(run, "settings", None) or {}
        config = getattr(run, "config", None)
        updates: dict[str, Any] = {
            "status": run.status,
            "step": int(run.step),
            "max_steps": run.max_steps,
            "steps_per_second": round(float(run.steps_per_second), 1),
            "eta_seconds": None if run.eta_seconds is None else float(round(run.eta_seconds)),
            "message": run.message or "",
            "error_text": (run.traceback_text or "") if run.status == "failed" else "",
            "lr": float(settings.get("lr", getattr(config, "lr", 0.0))),
            "n_critic": int(settings.get("n_critic", getattr(config, "n_critic", 1))),
            "control_values": {
                f: settings.get(f, getattr(config, f, None)) for f in self.control_fields
            },
            "warnings": [
                f"step {w['step']}: {w['message']}" for w in list(getattr(run, "warnings", []))
            ],
            "step_delay": float(settings.get("step_delay", getattr(config, "step_delay", 0.0))),
        }
        for name, value in updates.items():
            if getattr(self, name) != value:
                setattr(self, name, value)

    def _flush_panel(self, tick: Tick) -> None:
        with self._controls_lock:
            feedback, self._feedback = self._feedback, []
        self._controls_write(tick.run)
        if feedback:
            ok, text = feedback[-1]
            self._feedback_id += 1
            self.control_feedback = {"id": self._feedback_id, "ok": ok, "text": text}

    def _say(self, ok: bool, text: str) -> None:
        with self._controls_lock:
            self._feedback.append((ok, text))

    def _handle_message(self, content: dict[str, Any]) -> bool:
        kind = content.get("type")
        run = self.run
        if kind == "command":
            action = content.get("action")
            if action not in COMMANDS:
                self._say(False, f"unknown command {action!r}; valid: {', '.join(COMMANDS)}")
                return True
            try:
                if action == "step":  # one step of a paused run; do not block the comm thread
                    run.step_once(wait=False)
                else:
                    getattr(run, action)()  # thread-safe, effective within one step
            except Exception as error:
                self._say(False, f"{action} failed: {error}")
            return True
        if kind == "set":
            field = str(content.get("field"))
            old = (getattr(run, "settings", None) or {}).get(
                field, getattr(run.config, field, None)
            )
            try:
                value = parse_field(field, content.get("value"))
                run.set(**{field: value})
            except ValueError as error:
                self._say(False, f"refused: {error}; the run keeps {field}={old}")
                return True
            except (
                Exception
            ) as error:  # a bug must show in the widget, not vanish in the kernel log
                self._say(False, f"setting {field} failed: {type(error).__name__}: {error}")
                return True
            self._say(True, f"{field} set to {value}")
            return True
        return False

    def _controls_images(self, width: int = 980) -> list[Any]:
        """The status line, and the message / failure lines when there are any (static PNG)."""
        status = f"{self.run_name} | {self.status} | step {self.step}" + (
            f" / {self.max_steps}" if self.max_steps else ""
        )
        if self.steps_per_second:
            status += f" | {self.steps_per_second:.1f} steps/s"
        rows = [static_png.text_line(status, width)]
        if self.message:
            rows.append(static_png.text_line(self.message[:160], width, "#b35c00"))
        if self.error_text:
            last = self.error_text.strip().splitlines()[-1] if self.error_text.strip() else ""
            rows.append(static_png.text_line(f"failed: {last[:150]}", width, "#c62828"))
        return rows

    def set_value(self, field: str, text: Any) -> None:
        """What typing `text` into a field does (for scripts and tests)."""
        self._handle_message({"type": "set", "field": field, "value": text})


class Controls(ControlsPanel, RunWidget):
    """Status badge, progress (steps/s, ETA), pause / resume / stop and the lr / n_critic fields
    of a run, on their own: ``gw.Controls(run)``. The same panel heads `Dashboard`."""

    _esm = bundle("controls")

    def static_png(self) -> bytes:
        return static_png.to_png(static_png.vstack(self._controls_images()))
