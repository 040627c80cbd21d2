"""The encoding capability of a family with an encoder (the VAE): encode images, reconstruct
them, interpolate between two real images through the encoder, and score held-out data. The
Run forwards `run.encode(x)` to `family.encode(run, x)`. Like `sample()`, they run on
eval-mode copies of the modules taken between two steps, so training never waits for them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ...engine.family import Capability

if TYPE_CHECKING:
    from ...engine.run import Run

ENCODING = Capability(
    "encoding",
    "encoder",
    methods=("encode", "reconstruct", "interpolate_images", "held_out_images", "evaluate"),
)


class EncodingMethods:
    """Mixed into a latent family with an "encoder" module (`VAEFamily`): the methods of
    `ENCODING`, each taking the run first."""

    def check_images(self, x: Any, name: str = "x") -> torch.Tensor:
        x = torch.as_tensor(x, dtype=torch.float32)
        shape = tuple(getattr(self, "sample_shape", ()))
        if x.dim() == len(shape):
            x = x.unsqueeze(0)
        if shape and tuple(x.shape[1:]) != shape:
            raise ValueError(
                f"{name} must be images of shape (N, {', '.join(map(str, shape))}) in [-1, 1] "
                f"(or one image), got shape {tuple(x.shape)}"
            )
        return x

    def encode(self, run: Run, x: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior q(z|x) of images `x` (N x C x H x W in [-1, 1], or one image) under
        the current weights: `(mu, logvar)`, each (N, latent_dim), on the CPU."""
        x = self.check_images(x)
        with run.inference_copy("encoder") as encoder:
            mu, logvar = encoder(x.to(run.device))
            return mu.float().cpu(), logvar.float().cpu()

    def reconstruct(self, run: Run, x: Any) -> torch.Tensor:
        """Decode the posterior mean of each image: reconstructions, NCHW in [-1, 1]."""
        mu, _ = self.encode(run, x)
        return run.sample(z=mu)

    def interpolate_images(
        self, run: Run, x0: Any, x1: Any, steps: int = 8, method: str = "lerp"
    ) -> torch.Tensor:
        """Decode `steps` points between the posterior means of two real images (both ends
        included): the path through the encoder's latent space. Lerp by default: posterior
        means need not have the prior's typical norm, so slerp's reason does not apply."""
        from ..latent import interpolate_latents

        if method not in ("slerp", "lerp"):
            raise ValueError(f"method must be 'slerp' or 'lerp', got {method!r}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
        a, b = self.check_images(x0, "x0"), self.check_images(x1, "x1")
        if len(a) != 1 or len(b) != 1:
            raise ValueError("x0 and x1 must be one image each")
        mu, _ = self.encode(run, torch.cat([a, b]))
        return run.sample(z=interpolate_latents(mu[0], mu[1], steps, method))

    def held_out_images(
        self, run: Run, n: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(images, labels or None) kept out of training (`test_fraction`), the first `n`;
        without a held-out set (a DataLoader, test_fraction=0), the first training batch."""
        source = run.held_out
        if source is not None and source.tensor is not None:
            images, labels = source.tensor, source.labels
        elif run.data_source is not None:
            images = run.data_source.first_batch(min(256, getattr(run.config, "batch_size", 64)))
            labels = None
        else:
            raise RuntimeError(f"run {run.name!r} has no data (it was loaded without it)")
        if n is not None:
            images = images[:n]
            labels = None if labels is None else labels[:n]
        return images, labels

    def evaluate(
        self, run: Run, data: Any = None, *, seed: int = 0, batch_size: int = 256
    ) -> dict[str, float]:
        """Held-out ELBO of the current weights: the mean `elbo`, `recon` and `kl` per image
        over `data` (images N x C x H x W in [-1, 1]; default: the held-out set), one z per
        image drawn with `seed`, so two calls at the same step agree."""
        x = self.held_out_images(run)[0] if data is None else self.check_images(data, "data")
        noise = torch.Generator(device=run.device).manual_seed(seed)
        total = {"recon": 0.0, "kl": 0.0}
        with run.inference_copy("encoder", "decoder") as (encoder, decoder):
            for start in range(0, len(x), batch_size):
                chunk = x[start : start + batch_size].to(run.device)
                recon, kl = self.score(encoder, decoder, chunk, noise)  # type: ignore[attr-defined]
                total["recon"] += float(recon.double().sum())
                total["kl"] += float(kl.double().sum())
        n = max(1, len(x))
        recon, kl = total["recon"] / n, total["kl"] / n
        return {"elbo": -(recon + kl), "recon": recon, "kl": kl, "images": len(x)}
