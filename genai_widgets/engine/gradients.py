"""Gradients in a torchrun job: averaged over the ranks before an optimizer applies them (DDP's
arithmetic), and clipped on that average.

The rule for families: a family that reads or changes its gradients between `backward()` and
`optimizer.step()` (clipping is the usual case) must do it through this module, e.g.
`clip_grad_norm(params, max_norm)` instead of `torch.nn.utils.clip_grad_norm_`. The average
is otherwise taken by the optimizer step pre-hook (`average_gradients`), so before the step
each rank holds only its own slice's gradient: clipping that would clip each rank by its
local norm, not the norm of the job's gradient. Outside a job (one process) these helpers are
the plain torch operations."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.distributed as dist
from torch.optim.optimizer import register_optimizer_step_pre_hook
from torch.utils.hooks import RemovableHandle

#: Set on a gradient tensor averaged before its optimizer step (by `clip_grad_norm`): the
#: step pre-hook leaves it as it is (once), so it is not averaged twice.
AVERAGED = "_genai_widgets_averaged"

_hook: RemovableHandle | None = None


def enable_gradient_averaging() -> None:
    """Average every optimizer's gradients over the ranks before each of its steps (a global
    step pre-hook: `average_gradients`). Called once per worker when the world has more than
    one rank; idempotent."""
    global _hook
    if _hook is None:
        _hook = register_optimizer_step_pre_hook(average_gradients)


def disable_gradient_averaging() -> None:
    """Undo `enable_gradient_averaging` (tests, tools that build several runs in one process)."""
    global _hook
    if _hook is not None:
        _hook.remove()
        _hook = None


def averaging() -> bool:
    """Whether gradients are averaged over the ranks in this process (a job with world > 1)."""
    return (
        _hook is not None
        and dist.is_available()
        and dist.is_initialized()
        and dist.get_world_size() > 1
    )


# Optimizer steps whose averaged gradients were not finite, and so not applied (this process).
dropped_updates = 0


def _mean_over_ranks(grads: list[torch.Tensor]) -> None:
    """Replace each gradient by its mean over the ranks, one all-reduce per (device, dtype)."""
    world = dist.get_world_size()
    buckets: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
    for g in grads:
        buckets.setdefault((g.device, g.dtype), []).append(g)
    for bucket in buckets.values():
        flat = torch.cat([g.reshape(-1) for g in bucket])
        dist.all_reduce(flat)
        flat /= world
        offset = 0
        for g in bucket:
            n = g.numel()
            g.copy_(flat[offset : offset + n].view_as(g))
            offset += n


def average_gradients(optimizer: torch.optim.Optimizer, *_: Any) -> None:
    """Optimizer step pre-hook: replace every gradient the optimizer is about to apply by its
    mean over the ranks, with one all-reduce per (device, dtype) bucket. A gradient already
    averaged this step (`clip_grad_norm`) is left as it is.

    On the CPU a non-finite mean (a NaN or inf loss on any rank) is dropped: the gradients
    become None, which every optimizer skips, so the update is not applied. The mean is the
    same on every rank, so every rank drops the same update and the replicas stay equal;
    rank 0 then pauses the job on the non-finite loss (`Control.after_step`). On a GPU the
    check would cost a host sync per step: not done there."""
    global dropped_updates
    grads, every = [], []
    for group in optimizer.param_groups:
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            every.append(g)
            if getattr(g, AVERAGED, False):
                delattr(g, AVERAGED)  # the mark holds for this step only
                continue
            grads.append(g)
    if grads:
        _mean_over_ranks(grads)
    on_cpu = [g for g in every if g.device.type == "cpu"]
    if on_cpu and not all(bool(torch.isfinite(g).all()) for g in on_cpu):
        dropped_updates += 1
        for group in optimizer.param_groups:
            for p in group["params"]:
                p.grad = None


def average_now(params: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    """Average the gradients of `params` over the ranks now (in a job; nothing outside one)
    and mark them, so the coming optimizer step does not average them again. Returns the
    parameters that have a gradient."""
    with_grad = [p for p in params if p.grad is not None]
    if averaging() and with_grad:
        grads = [p.grad for p in with_grad]
        _mean_over_ranks(grads)  # an average again is the same average: no skipping here
        for g in grads:
            setattr(g, AVERAGED, True)
    return with_grad


def clip_grad_norm(params: Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """`torch.nn.utils.clip_grad_norm_` on the job's gradient: in a torchrun job the
    gradients are first averaged over the ranks (so every rank clips the same gradient by the
    same global norm, as DDP does), then clipped. Returns the total norm before clipping.
    A family that clips must clip through this (see the module's docstring)."""
    with_grad = average_now(params)
    return torch.nn.utils.clip_grad_norm_(with_grad, max_norm)


__all__ = [
    "average_gradients",
    "average_now",
    "averaging",
    "clip_grad_norm",
    "disable_gradient_averaging",
    "enable_gradient_averaging",
]
