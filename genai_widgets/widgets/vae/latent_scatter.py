"""`LatentScatter`: the held-out images encoded by a VAE (their posterior means), as a plotly
scatter coloured by label: the two latent dimensions themselves, or the first two principal
components above two. It re-encodes as training proceeds; a click on a point shows that
image beside its decoding. All torch work runs on the flusher thread, on copies of the
encoder and decoder taken between two steps."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch
import traitlets as t

from ...engine import images
from ...engine.threads import foreground_torch
from .. import static_png
from .._base import Panel, RunWidget, bundle
from ..flusher import Pacer, Tick


def project_2d(
    mu: np.ndarray, previous: np.ndarray | None = None
) -> tuple[np.ndarray, list[str], str, np.ndarray | None]:
    """Points (N, d) -> (N, 2) plane, axis titles, "latent" | "pca", and the PCA basis.

    d <= 2 plots the dimensions themselves. Above, PCA of the centred points; each component's
    sign is kept pointing the way the `previous` basis did, so the cloud does not flip between
    two updates."""
    n, d = mu.shape
    if d == 1:
        return np.column_stack([mu[:, 0], np.zeros(n)]), ["z0", ""], "latent", None
    if d == 2:
        return mu.astype(np.float64), ["z0", "z1"], "latent", None
    centred = mu - mu.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    basis = vt[:2].copy()
    if previous is not None and previous.shape == basis.shape:
        for k in range(2):
            if float(basis[k] @ previous[k]) < 0:
                basis[k] = -basis[k]
    total = float((s**2).sum()) or 1.0
    share = (s[:2] ** 2) / total
    axes = [f"PC{k + 1} ({share[k]:.0%} of variance)" for k in range(2)]
    return centred @ basis.T, axes, "pca", basis


class LivePanel(Panel):
    """What the VAE's live views share: how often they follow the training."""

    refresh_seconds = t.Float(1.0, min=0.1).tag(sync=True)
    """float: at most one automatic update of each live view per this many seconds (default 1);
    fewer where an update costs more than VIEW_DUTY of the time (`flusher.Pacer`)."""


class ScatterPanel(LivePanel):
    """Traits and flush logic of the latent scatter (used by LatentScatter and VAEDashboard)."""

    scatter_xy = t.Bytes(b"").tag(sync=True)
    """bytes: float32 (x, y) per point, interleaved: the encoded held-out images in the plane."""

    scatter_labels = t.Bytes(b"").tag(sync=True)
    """bytes: int32 class index per point (b"" when the data has no labels)."""

    scatter_classes = t.List(t.Unicode(), default_value=[]).tag(sync=True)
    """list[str]: class names by index (digits: "0".."9")."""

    scatter_axes = t.List(t.Unicode(), default_value=["", ""]).tag(sync=True)
    """list[str]: the two axis titles ("z0", "z1", or "PC1 (34% of variance)", ...)."""

    scatter_projection = t.Unicode("").tag(sync=True)
    """str: "latent" (latent_dim <= 2: the dimensions themselves) or "pca"."""

    scatter_count = t.Int(0).tag(sync=True)
    """int: points in `scatter_xy`."""

    scatter_step = t.Int(-1).tag(sync=True)
    """int: training step of the weights that encoded the points (-1: not yet)."""

    scatter_max_points = t.Int(1000, min=10).tag(sync=True)
    """int: held-out images encoded at most (default 1000)."""

    scatter_auto = t.Bool(True).tag(sync=True)
    """bool: re-encode as training proceeds (default True); False: only on a "refresh" message."""

    picked_index = t.Int(-1).tag(sync=True)
    """int: the point clicked last, an index into the held-out images (-1: none)."""

    picked_png = t.Bytes(b"").tag(sync=True)
    """bytes: PNG of the clicked point's image beside its decoding (its posterior mean, decoded)."""

    def _init_panel(self, run: Any) -> None:
        self._scatter_lock = threading.Lock()
        self._scatter_dirty = True
        self._scatter_pick: int | None = None
        self._scatter_pacer = Pacer()  # following training costs at most VIEW_DUTY
        self._scatter_basis: np.ndarray | None = None
        self._scatter_mu: np.ndarray | None = None
        self._scatter_images: torch.Tensor | None = None
        self.observe(self._scatter_request, names=["scatter_max_points"])

    def _scatter_request(self, _change: Any = None) -> None:
        with self._scatter_lock:
            self._scatter_dirty = True

    def _flush_panel(self, tick: Tick) -> None:
        with self._scatter_lock:
            dirty, self._scatter_dirty = self._scatter_dirty, False
            pick, self._scatter_pick = self._scatter_pick, None
        self._scatter_pacer.min_interval = self.refresh_seconds
        due = (
            self.scatter_auto
            and tick.step != self.scatter_step
            and self._scatter_pacer.due(tick.time)
        )
        if dirty or due:
            with self._scatter_pacer.timed(tick):
                self._compute_scatter(tick.run)
        if pick is not None:
            self.picked_index = pick
            self._decode_pick(tick.run)
        elif (dirty or due) and self.picked_index >= 0:
            self._decode_pick(tick.run)  # the same point under the new weights

    def _compute_scatter(self, run: Any) -> None:
        step = int(run.step)
        if getattr(run, "held_out", None) is None and getattr(run, "data_source", None) is None:
            self.scatter_step = step  # loaded without its data: nothing to encode
            return
        images_, labels = run.held_out_images(self.scatter_max_points)
        with foreground_torch():
            mu, _ = run.encode(images_)
        mu_np = mu.numpy().astype(np.float64)
        xy, axes, projection, basis = project_2d(mu_np, self._scatter_basis)
        self._scatter_basis = basis
        self._scatter_mu = mu_np
        self._scatter_images = images_
        classes = list(getattr(getattr(run, "held_out", None), "classes", None) or [])
        label_bytes = b"" if labels is None else labels.numpy().astype(np.int32).tobytes()
        if not classes and labels is not None and len(labels):
            classes = [str(i) for i in range(int(labels.max()) + 1)]
        if label_bytes != self.scatter_labels:
            self.scatter_labels = label_bytes
        if classes != list(self.scatter_classes):
            self.scatter_classes = classes
        self.scatter_axes = axes
        self.scatter_projection = projection
        self.scatter_xy = np.ascontiguousarray(xy, dtype=np.float32).tobytes()
        self.scatter_count = len(xy)
        self.scatter_step = step

    def _decode_pick(self, run: Any) -> None:
        mu, imgs, i = self._scatter_mu, self._scatter_images, self.picked_index
        if mu is None or imgs is None or not 0 <= i < len(mu):
            return
        with foreground_torch():
            decoded = run.sample(z=torch.from_numpy(mu[i : i + 1]).float())
        self.picked_png = images.grid_png(torch.cat([imgs[i : i + 1], decoded]), nrow=2)

    def _handle_message(self, content: dict[str, Any]) -> bool:
        kind = content.get("type")
        if kind == "scatter_pick":
            try:
                index = int(content.get("index"))
            except (TypeError, ValueError):
                return True
            with self._scatter_lock:
                self._scatter_pick = index
            return False  # the VAE views may take the point as an interpolation end too
        if kind == "scatter_refresh":
            self._scatter_request()
            return True
        return False

    def scatter_points(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The plotted points (N, 2) and their labels (or None), from the synced traits."""
        xy = np.frombuffer(self.scatter_xy, dtype=np.float32).reshape(-1, 2)
        labels = np.frombuffer(self.scatter_labels, dtype=np.int32) if self.scatter_labels else None
        return xy, labels

    def _scatter_image(self, size: tuple[int, int] = (360, 300)):
        xy, labels = self.scatter_points()
        title = f"latent space ({self.scatter_projection or 'not encoded yet'})" + (
            f", step {self.scatter_step}" if self.scatter_step >= 0 else ""
        )
        return static_png.draw_scatter(xy, labels, size=size, title=title, axes=self.scatter_axes)


class LatentScatter(ScatterPanel, RunWidget):
    """The encoded held-out set of a VAE run as a live scatter coloured by label; click a
    point to see its decoding. ``gw.LatentScatter(run, scatter_max_points=500)``."""

    _esm = bundle("latent_scatter")

    def __init__(self, run: Any, **kwargs: Any) -> None:
        if not callable(getattr(run, "encode", None)) or "encoder" not in getattr(
            getattr(run, "family", None), "module_names", ()
        ):
            raise TypeError(
                "LatentScatter needs a run with an encoder (a VAE from gw.train_vae); "
                f"got {type(run).__name__} {getattr(run, 'name', '')!r}"
            )
        super().__init__(run, **kwargs)

    def static_png(self) -> bytes:
        return static_png.to_png(self._scatter_image())
