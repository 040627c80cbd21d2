"""`VAEDashboard`: controls, curves (ELBO, reconstruction, KL, beta), samples from the prior,
reconstructions, interpolation through the encoder, latent traversal, the latent scatter and
the folded latent-space section (directions, real images into z, neighbours, arithmetic: the
GAN dashboard's `LatentSpacePanel`) of one VAE run, in ONE widget with one bundle.
`run.dashboard()` returns it for a VAE."""

from __future__ import annotations

from typing import Any

import traitlets as t

from .. import static_png
from .._base import RunWidget, bundle
from ..controls import ControlsPanel
from ..latent_space import LatentSpacePanel
from ..loss_curve import CurvePanel
from ..sample_grid import GridPanel
from .latent_scatter import ScatterPanel
from .views import VAEViewsPanel


class VAEDashboard(
    ControlsPanel,
    CurvePanel,
    GridPanel,
    VAEViewsPanel,
    ScatterPanel,
    LatentSpacePanel,
    RunWidget,
):
    """Everything about a running VAE: `run.dashboard()` returns one for a VAE run.

    The curves show the ELBO (higher is better), the reconstruction and KL terms (nats per
    image) and beta on the right axis. A click on the scatter shows that image's decoding and
    sets it as the interpolation's start, then its end; so does a click on an input image.
    The folded "Latent space" section is the GAN dashboard's, with candidates of its own
    (samples from the prior); its real images go into z through the encoder (the posterior
    mean, `run.project`)."""

    _esm = bundle("vae_dashboard")

    control_fields = t.List(t.Unicode(), default_value=["lr", "beta"]).tag(sync=True)
    """list[str]: the settings offered as fields (lr and beta)."""

    secondary_series = t.List(t.Unicode(), default_value=["beta"]).tag(sync=True)
    """list[str]: series drawn against the right-hand y axis (beta, in [0, beta])."""

    method = t.Enum(["slerp", "lerp"], default_value="lerp").tag(sync=True)
    """str: interpolation between the latent-space section's real images: "lerp" (default, as
    the encoder interpolation's: posterior means need not have the prior's norm) or "slerp"."""

    def __init__(self, run: Any, **kwargs: Any) -> None:
        if "encoder" not in getattr(getattr(run, "family", None), "module_names", ()):
            raise TypeError(
                "VAEDashboard needs a VAE run (gw.train_vae); for a GAN use run.dashboard() "
                "or gw.Dashboard(run)"
            )
        super().__init__(run, **kwargs)

    def static_png(self) -> bytes:
        status = f"{self.run_name} | VAE | {self.status} | step {self.step}" + (
            f" / {self.max_steps}" if self.max_steps else ""
        )
        prior = static_png.png_image(self.grid_png, 300)
        rows = [
            static_png.text_line(status, 980),
            static_png.hstack(
                [
                    self._curve_image(cursor=self.snapshot_step),
                    static_png.caption(prior, f"prior samples at step {self.snapshot_step}")
                    if prior is not None
                    else None,
                ]
            ),
            static_png.hstack([self._views_image(), self._scatter_image()]),
        ]
        traversal = self._traversal_image()
        if traversal is not None:
            rows.append(traversal)
        space = self._latent_space_image()  # None while the section is folded
        if space is not None:
            rows.append(space)
        for text in list(self.warnings)[-3:]:
            rows.append(static_png.text_line(text[:160], 980, "#b35c00"))
        if self.message:
            rows.append(static_png.text_line(self.message[:160], 980, "#b35c00"))
        if self.error_text:
            last = self.error_text.strip().splitlines()[-1] if self.error_text.strip() else ""
            rows.append(static_png.text_line(f"failed: {last[:150]}", 980, "#c62828"))
        return static_png.to_png(static_png.vstack(rows))
