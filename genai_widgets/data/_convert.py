"""Tensor plumbing shared by every source: layout (NCHW), value range ([-1, 1]), channels, size.
Every function validates what it is given and says what it found and what it accepts."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

# Values this far outside the accepted range are rounding noise (e.g. a Normalize with a
# float mean), not a different convention: clamp them instead of refusing the data.
RANGE_TOLERANCE = 1e-3

# ITU-R 601 luma, the weights PIL uses for convert("L"), so folders and tensors agree.
_LUMA = torch.tensor([0.299, 0.587, 0.114])

ACCEPTED_RANGES = (
    "uint8 values in [0, 255], or floats in [0, 1] or [-1, 1] "
    "(e.g. after ToTensor(), or after Normalize((0.5,), (0.5,)))"
)


def to_tensor(x: Any) -> torch.Tensor:
    """A CPU tensor from a tensor or numpy array (other array-likes are refused upstream)."""
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            raise TypeError(
                "a numpy array of dtype object cannot be used as data; stack the items first"
            )
        return torch.from_numpy(np.ascontiguousarray(x))
    return x.detach().cpu()


def layout_nchw(x: torch.Tensor, *, what: str, batched: bool = True) -> torch.Tensor:
    """Images as (N, C, H, W) (or (C, H, W) for one item); points stay (N, 2) (or (2,)).

    Channels-last input is permuted only when the reading is unambiguous (the channel axis
    is too large to be channels and the last one is 1, 3 or 4), as numpy image stacks are.
    """
    shape = tuple(x.shape)
    lead = 1 if batched else 0
    ndim = x.dim() - lead  # dimensions of one item
    if ndim == 1 and shape[-1] == 2:
        return x
    if ndim == 1 and batched:
        raise ValueError(
            f"{what} has shape {_fmt(shape)}: a 2-D array must be N x 2 points. "
            "Flattened images must be reshaped to N x C x H x W (or N x H x W) first."
        )
    if ndim == 2:
        return x.unsqueeze(lead)
    if ndim == 3:
        if shape[lead] > 4 and shape[-1] in (1, 3, 4):
            return x.movedim(-1, lead)
        return x
    expected = "N x C x H x W, N x H x W or N x 2" if batched else "C x H x W, H x W or 2"
    raise ValueError(f"{what} has shape {_fmt(shape)}; accepted shapes: {expected}.")


def range_mode(x: torch.Tensor, *, what: str) -> str:
    """How to bring `x` to [-1, 1]: "uint8", "unit" ([0, 1]) or "signed" (already [-1, 1])."""
    if x.dtype == torch.uint8:
        return "uint8"
    if x.numel() == 0:
        return "signed"
    lo, hi = _finite_extrema(x, what=what)
    if lo >= -RANGE_TOLERANCE and hi <= 1 + RANGE_TOLERANCE:
        # All non-negative and at most 1 is read as [0, 1]: a [-1, 1] image set with no
        # negative value anywhere does not occur in practice, the [0, 1] case (ToTensor) does.
        return "unit"
    if lo >= -1 - RANGE_TOLERANCE and hi <= 1 + RANGE_TOLERANCE:
        return "signed"
    hint = ""
    if lo >= 0 and hi <= 255:
        hint = " If these are 0..255 pixel values, convert them to uint8 (or divide by 255)."
    raise ValueError(
        f"{what} has values in [{lo:.4g}, {hi:.4g}] ({_dtype(x)}); accepted: {ACCEPTED_RANGES}.{hint}"
    )


def to_signed(x: torch.Tensor, mode: str, *, what: str) -> torch.Tensor:
    """Float32 in [-1, 1] by the rule `range_mode` chose; checks that `x` still obeys it."""
    if mode == "uint8":
        if x.dtype != torch.uint8:
            raise ValueError(f"{what} is {_dtype(x)} but earlier data was uint8 in [0, 255].")
        return x.to(torch.float32).div_(127.5).sub_(1.0)
    if x.dtype == torch.uint8:
        raise ValueError(f"{what} is uint8 but earlier data was floating point.")
    out = x.to(torch.float32, copy=True)  # a copy: the clamp below must not touch user data
    if mode == "unit":
        out.mul_(2.0).sub_(1.0)
    if out.numel():
        lo, hi = _finite_extrema(out, what=what)
        if lo < -1 - 2 * RANGE_TOLERANCE or hi > 1 + 2 * RANGE_TOLERANCE:
            was = "[0, 1]" if mode == "unit" else "[-1, 1]"
            raise ValueError(
                f"{what} does not match the value range of the earlier data ({was}): after "
                f"scaling its values span [{lo:.4g}, {hi:.4g}]. Accepted: {ACCEPTED_RANGES}."
            )
    return out.clamp_(-1.0, 1.0)


def check_points(x: torch.Tensor, *, what: str) -> torch.Tensor:
    """2-D points keep their own scale (the toy sets span about [-4, 4]); only finiteness matters."""
    if x.dtype == torch.uint8:
        raise ValueError(f"{what} holds 2-D points as uint8; points must be floating point.")
    out = x.to(torch.float32)
    if out.numel():
        _finite_extrema(out, what=what)
    return out.clone() if out is x else out


def convert_channels(x: torch.Tensor, want: int | None, *, what: str) -> torch.Tensor:
    """(N, C, H, W) with `want` channels: grey is repeated to RGB, RGB becomes luma grey."""
    have = x.shape[1]
    if want is None or want == have:
        return x
    if have == 1 and want == 3:
        return x.repeat(1, 3, 1, 1)
    if have == 3 and want == 1:
        return torch.einsum("nchw,c->nhw", x, _LUMA.to(x.dtype)).unsqueeze(1)
    raise ValueError(
        f"{what} has {have} channels but channels={want} was asked; only grey (1) -> RGB (3) "
        "and RGB (3) -> grey (1) are converted. Pass channels=None to keep the data's own."
    )


def resize(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """(N, C, H, W) float resized to size x size (bilinear; antialiased when shrinking)."""
    if size is None or tuple(x.shape[-2:]) == (size, size):
        return x
    shrinking = size < x.shape[-2] or size < x.shape[-1]
    out = F.interpolate(
        x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrinking
    )
    # Bilinear weights are convex, so this only removes float rounding past the ends.
    return out.clamp_(-1.0, 1.0)


def square_size(shape: tuple[int, ...], *, what: str) -> int:
    """The side of square images; non-square ones need an explicit image_size."""
    h, w = shape[-2], shape[-1]
    if h != w:
        raise ValueError(
            f"{what} has {h} x {w} images and image_size=None keeps the native size, but the "
            "models need square images: pass image_size= (e.g. 32 or 64) to resize them."
        )
    return h


def _finite_extrema(x: torch.Tensor, *, what: str) -> tuple[float, float]:
    xf = x if x.dtype.is_floating_point else x.to(torch.float64)
    if xf.dtype.is_floating_point and not bool(torch.isfinite(xf).all()):
        raise ValueError(f"{what} contains NaN or infinite values.")
    lo, hi = torch.aminmax(xf)
    return float(lo), float(hi)


def _dtype(x: torch.Tensor) -> str:
    return str(x.dtype).removeprefix("torch.")


def _fmt(shape: tuple[int, ...]) -> str:
    return " x ".join(str(s) for s in shape) if shape else "()"
