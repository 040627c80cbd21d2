"""What every run widget shares: the bundle, the flusher subscription, the message dispatch,
the visible error trait and the static PNG that stands in for the widget without a kernel.

Displayed in a notebook, a run widget makes two outputs: the widget view (with its text), then
its static picture as an output of its own (`text/html` holding the PNG, and `image/png`). The
picture cannot ride in the widget's output: nbconvert's HTML exporter renders exactly one
mimetype per output and picks the widget view whenever the notebook saved widget state (as
`jupyter nbconvert --execute` does), which without a kernel or a CDN draws nothing. A live view
hides the picture: the bundle's first render adds a CSS rule for the picture's class
(`gw-static-<static_id>`, js/lib/util.ts `hideStaticPicture`), so JupyterLab and Notebook 7
show the widget alone, and a page where the widget does not render shows the picture. (A
frontend with a frame per output, as Colab, shows both.)
"""

from __future__ import annotations

import base64
import html
import itertools
import pathlib
import threading
import time
import traceback
from typing import Any, ClassVar

import anywidget
import traitlets as t

from .flusher import Flusher, Tick

ERROR_LINGER_S = 10.0
STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"

_MISSING_BUNDLE = """
export default { render({ el }) {
  el.innerHTML = '<pre style="color:#c62828">genai_widgets: the front-end bundle %s is missing. ' +
    'Build it with `npm install && npm run build` in the source tree (or reinstall the package).</pre>';
} };
"""


def _frontend_subshell(_data: Any, subshell_id: str | None) -> str | None:
    """Where a message from the frontend on a run widget's comm is handled: on the kernel
    subshell the frontend addressed it to (its header's ``subshell_id``)."""
    return subshell_id


def _route_by_header(comm: Any) -> None:
    """Let the frontend choose the subshell that handles this comm's messages.

    ipykernel 7.4 routes an incoming ``comm_msg`` to the subshell of the parent message under
    which the kernel last *sent* on that comm (``Comm._reply_subshell_for``), overriding the
    header. Our flusher thread sends under whatever shell message the kernel dispatched last,
    in any subshell: after a page reload that is JupyterLab's short-lived
    ``jupyter.widget.control`` comm, whose subshell JupyterLab deletes at once. Every click
    was then routed to that dead subshell and dropped ("Unknown subshell_id"). Run widgets
    never wait in the kernel for a frontend reply, so the header is always the right place."""
    if comm is not None and callable(getattr(comm, "_reply_subshell_for", None)):
        comm._reply_subshell_for = _frontend_subshell


def bundle(stem: str) -> pathlib.Path | str:
    """The built ES module of one widget, or a module that says it is missing."""
    path = STATIC / f"{stem}.js"
    return path if path.exists() else _MISSING_BUNDLE % f"{stem}.js"


class Panel(t.HasTraits):
    """A group of traits and the flush logic that feeds them. Widgets combine panels; the
    Dashboard combines all of them, so one bundle serves every panel."""

    def _init_panel(self, run: Any) -> None:
        """Fill the initial state (in the displaying thread, before any frontend exists)."""

    def _flush_panel(self, tick: Tick) -> None:
        """Write state for this tick (flusher thread only)."""

    def _handle_message(self, content: dict[str, Any]) -> bool:
        """A custom message from the frontend (comm thread). Return True if handled."""
        return False


class RunWidget(anywidget.AnyWidget):
    """Base of the run widgets: subscribes to the run's flusher and closes cleanly."""

    _panels: ClassVar[tuple[type, ...]] = ()
    _display_ids = itertools.count()

    widget_error = t.Unicode("").tag(sync=True)
    """str: a Python-side error while updating this widget (shown in its error area); '' if none."""

    run_name = t.Unicode("").tag(sync=True)
    """str: the run's name (chart titles, file names of downloads)."""

    static_id = t.Unicode("").tag(sync=True)
    """str: names this widget's static picture output (CSS class `gw-static-<static_id>`);
    a rendered view hides that picture."""

    def __init__(self, run: Any, **kwargs: Any) -> None:
        unknown = sorted(k for k in kwargs if not self.has_trait(k))
        if unknown:
            valid = sorted(n for n, tr in self.traits(sync=True).items() if not n.startswith("_"))
            raise TypeError(
                f"{type(self).__name__}() got unknown argument(s) {', '.join(map(repr, unknown))}; "
                f"valid: run, {', '.join(valid)}"
            )
        for name in ("status", "step", "history", "metrics_since", "snapshot_count"):
            if not hasattr(run, name):
                raise TypeError(
                    f"{type(self).__name__} needs a genai_widgets Run (from gw.train_gan or "
                    f"gw.load_run); got {type(run).__name__} without .{name}"
                )
        super().__init__(**kwargs)
        _route_by_header(self.comm)
        self.run = run
        self.frontend_errors: list[str] = []
        self._requests_lock = threading.Lock()
        self._display_id = f"genai-widgets-{next(self._display_ids)}-{id(self):x}"
        self.static_id = self._display_id
        self._displayed = False
        self._error_time = 0.0
        self.run_name = str(getattr(run, "name", ""))
        for panel in self._panel_classes():
            panel._init_panel(self, run)
        self.on_msg(self._on_custom_message)
        self._flusher = Flusher.for_run(run)
        self._flusher.attach(self)

    @t.observe("comm")
    def _gw_route_comm_by_header(self, change: dict[str, Any]) -> None:
        # (not `_comm_changed`: that name is ipywidgets' own observer, which wires on_msg)
        _route_by_header(change["new"])

    @classmethod
    def _panel_classes(cls) -> list[type[Panel]]:
        return [
            c
            for c in cls.__mro__
            if issubclass(c, Panel) and c is not Panel and "_flush_panel" in c.__dict__
        ]

    # -------------------------------------------------------------- flusher side
    def _flush(self, tick: Tick) -> None:
        if self.comm is None:  # closed: stop feeding it
            self._flusher.detach(self)
            return
        with self.hold_sync():
            for panel in self._panel_classes():
                panel._flush_panel(self, tick)
            # An error stays visible for a while after updates work again.
            if self.widget_error and tick.time - self._error_time > ERROR_LINGER_S:
                self.widget_error = ""
        if tick.ended and self._displayed:
            self._refresh_static_display()

    def _flush_failed(self, error: BaseException) -> None:
        text = "".join(traceback.format_exception_only(type(error), error)).strip()
        self._error_time = time.monotonic()
        self.widget_error = f"{type(self).__name__} update failed: {text}"

    # -------------------------------------------------------------- comm side
    def set_state(self, sync_data: dict[str, Any]) -> None:
        # A trait the page changed (a slider, a picker): the flusher answers at its next tick.
        super().set_state(sync_data)
        flusher = getattr(self, "_flusher", None)
        if flusher is not None:
            flusher.poke()

    def _on_custom_message(self, _widget: Any, content: Any, buffers: list[bytes]) -> None:
        if not isinstance(content, dict):
            return
        try:
            self._dispatch_message(content)
        finally:  # what the message asked for is recorded: the next tick acts on it
            self._flusher.poke()

    def _dispatch_message(self, content: dict[str, Any]) -> None:
        kind = content.get("type")
        if kind == "frontend_error":
            with self._requests_lock:
                self.frontend_errors.append(str(content.get("text", "")))
                del self.frontend_errors[:-50]
            return
        for panel in self._panel_classes():
            if panel._handle_message(self, content):
                return

    # -------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Close the widget; training goes on."""
        flusher = getattr(self, "_flusher", None)
        if flusher is not None:
            flusher.detach(self)
        super().close()

    # -------------------------------------------------------------- static fallback
    def static_png(self) -> bytes:
        """A PNG of the widget's current state, for viewers without a kernel."""
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict, dict] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, metadata = bundle
        data = dict(data)
        self._flusher.capture_parent()
        try:
            data["image/png"] = base64.b64encode(self.static_png()).decode("ascii")
        except Exception as error:  # the live view matters more than its fallback picture
            data["text/plain"] = f"{data.get('text/plain', '')} (no static image: {error})"
        data["text/plain"] = self._plain_text()
        return data, metadata

    def _plain_text(self) -> str:
        run = self.run
        return (
            f"{type(self).__name__}({getattr(run, 'name', run)!r}: {run.status}, step {run.step})"
        )

    def _static_picture(self, png_base64: str) -> dict[str, str]:
        """The picture's own output: HTML for nbconvert (which renders `text/html` before
        `image/png`), the PNG for viewers that take images only; no text, so a terminal or a
        text-only view prints the widget's line alone."""
        alt = html.escape(f"{self._plain_text()}: static picture (the live widget needs a kernel)")
        return {
            "text/html": (
                f'<div class="gw-static gw-static-{self.static_id}">'
                f'<img src="data:image/png;base64,{png_base64}" alt="{alt}" '
                'style="max-width: 100%"></div>'
            ),
            "image/png": png_base64,
        }

    def _display_outputs(self) -> list[tuple[dict, dict, str]]:
        """(data, metadata, display_id) of each output: the widget, then its picture."""
        bundle = self._repr_mimebundle_()
        if bundle is None:
            return []
        data, metadata = bundle
        data = dict(data)
        png = data.pop("image/png", None)
        outputs = [(data, metadata, self._display_id)]
        if png is not None:
            outputs.append((self._static_picture(png), {}, f"{self._display_id}-static"))
        return outputs

    def _ipython_display_(self) -> None:
        # Displayed with display_ids so that the static picture can be refreshed when the run
        # ends.
        from IPython.display import display

        self._displayed = True
        for data, metadata, display_id in self._display_outputs():
            display(data, raw=True, metadata=metadata, display_id=display_id)

    def _refresh_static_display(self) -> None:
        from IPython.display import update_display

        for data, metadata, display_id in self._display_outputs():
            update_display(data, raw=True, metadata=metadata, display_id=display_id)
