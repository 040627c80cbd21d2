"""Latent-space methods of a `Run` whose family has an encoder (a VAE): encode images,
reconstruct them, interpolate between two real images through the encoder, traverse one
latent dimension at a time, and score held-out data. Like `sample()`, they run on eval-mode
copies of the modules taken between two steps, so training never waits for them."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .threads import release_openmp_pool

if TYPE_CHECKING:
    from .run import Run

DEFAULT_TRAVERSAL = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)


class EncoderMethods:
    """Mixed into `Run`. On a run without an encoder (a GAN) these raise TypeError."""

    def _require_encoder(self: Run) -> None:
        if "encoder" not in self.family.inference_modules():
            raise TypeError(
                f"run {self.name!r} is a {self.family.name.upper()}, which has no encoder; "
                f"encode / reconstruct / interpolate_images need a VAE (gw.train_vae)"
            )

    def _check_images(self: Run, x: Any, name: str = "x") -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float32)
        shape = tuple(getattr(self.family, "sample_shape", ()))
        if x.dim() == len(shape):
            x = x.unsqueeze(0)
        if shape and tuple(x.shape[1:]) != shape:
            raise ValueError(
                f"{name} must be images of shape (N, {', '.join(map(str, shape))}) in [-1, 1] "
                f"(or one image), got shape {tuple(x.shape)}"
            )
        return x

    def _after_foreground_torch(self: Run) -> None:
        if threading.current_thread() is not self._thread:
            release_openmp_pool()  # a widget flusher or a cell: leave no idle pool behind

    def encode(self: Run, x: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior q(z|x) of images `x` (N x C x H x W in [-1, 1], or one image) under
        the current weights: `(mu, logvar)`, each (N, latent_dim), on the CPU."""
        self._require_encoder()
        x = self._check_images(x)
        with self._copy_lock:
            encoder = self._inference_copy("encoder")
            with torch.no_grad():
                mu, logvar = encoder(x.to(self.device))
            mu, logvar = mu.float().cpu(), logvar.float().cpu()
        self._after_foreground_torch()
        return mu, logvar

    def reconstruct(self: Run, x: Any) -> torch.Tensor:
        """Decode the posterior mean of each image: reconstructions, NCHW in [-1, 1]."""
        mu, _ = self.encode(x)
        return self.sample(z=mu)

    def interpolate_images(
        self: Run, x0: Any, x1: Any, steps: int = 8, method: str = "lerp"
    ) -> torch.Tensor:
        """Decode `steps` points between the posterior means of two real images (both ends
        included): the path through the encoder's latent space. Lerp by default: posterior
        means need not have the prior's typical norm, so slerp's reason does not apply."""
        from .run import interpolate_latents

        if method not in ("slerp", "lerp"):
            raise ValueError(f"method must be 'slerp' or 'lerp', got {method!r}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
        a, b = self._check_images(x0, "x0"), self._check_images(x1, "x1")
        if len(a) != 1 or len(b) != 1:
            raise ValueError("x0 and x1 must be one image each")
        mu, _ = self.encode(torch.cat([a, b]))
        return self.sample(z=interpolate_latents(mu[0], mu[1], steps, method))

    def traverse(
        self: Run,
        z: Any = None,
        dims: Any = None,
        values: Any = DEFAULT_TRAVERSAL,
    ) -> torch.Tensor:
        """Latent traversal: starting from `z` (default: the prior's mean, zeros), set each
        dimension in `dims` (default: all) to each of `values` in turn and decode. Returns
        (len(dims) * len(values), C, H, W), one row of `values` per dimension."""
        base = torch.zeros(self.latent_dim) if z is None else self._check_z(z)[0]
        dims = list(range(self.latent_dim)) if dims is None else [int(d) for d in dims]
        for d in dims:
            if not 0 <= d < self.latent_dim:
                raise ValueError(f"dims must be in 0..{self.latent_dim - 1}, got {d}")
        values = torch.as_tensor(np.asarray(values, dtype=np.float32))
        zs = base.repeat(len(dims) * len(values), 1)
        for row, d in enumerate(dims):
            zs[row * len(values) : (row + 1) * len(values), d] = values
        return self.sample(z=zs)

    def held_out_images(
        self: Run, n: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(images, labels or None) kept out of training (`test_fraction`), the first `n`;
        without a held-out set (a DataLoader, test_fraction=0), the first training batch."""
        source = self.held_out
        if source is not None and source.tensor is not None:
            images, labels = source.tensor, source.labels
        elif self.data_source is not None:
            images = self.data_source.first_batch(min(256, getattr(self.config, "batch_size", 64)))
            labels = None
        else:
            raise RuntimeError(f"run {self.name!r} has no data (it was loaded without it)")
        if n is not None:
            images = images[:n]
            labels = None if labels is None else labels[:n]
        return images, labels

    def evaluate(
        self: Run, data: Any = None, *, seed: int = 0, batch_size: int = 256
    ) -> dict[str, float]:
        """Held-out ELBO of the current weights: the mean `elbo`, `recon` and `kl` per image
        over `data` (images N x C x H x W in [-1, 1]; default: the held-out set), one z per
        image drawn with `seed`, so two calls at the same step agree."""
        self._require_encoder()
        x = self.held_out_images()[0] if data is None else self._check_images(data, "data")
        noise = torch.Generator(device=self.device).manual_seed(seed)
        total = {"recon": 0.0, "kl": 0.0}
        with self._copy_lock:
            encoder = self._inference_copy("encoder")
            decoder = self._inference_copy("decoder")
            with torch.no_grad():
                for start in range(0, len(x), batch_size):
                    chunk = x[start : start + batch_size].to(self.device)
                    recon, kl = self.family.score(encoder, decoder, chunk, noise)
                    total["recon"] += float(recon.double().sum())
                    total["kl"] += float(kl.double().sum())
        self._after_foreground_torch()
        n = max(1, len(x))
        recon, kl = total["recon"] / n, total["kl"] / n
        return {"elbo": -(recon + kl), "recon": recon, "kl": kl, "images": len(x)}
