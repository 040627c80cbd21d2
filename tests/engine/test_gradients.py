"""Outside a torchrun job the engine's gradient helpers are torch's own operations (the job
side is tests/distributed/test_ddp_math.py)."""

from __future__ import annotations

import torch

from genai_widgets.engine.gradients import AVERAGED, averaging, clip_grad_norm


def _grads(seed: int) -> list[torch.nn.Parameter]:
    torch.manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(3))]
    (params[0].sum(0) @ params[1] * 5).backward()
    return [*params, torch.nn.Parameter(torch.zeros(2))]  # the last has no gradient


def test_clip_grad_norm_outside_a_job_is_torchs():
    assert not averaging()
    ours, theirs = _grads(0), _grads(0)
    norm = clip_grad_norm(ours, 0.5)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 0.5)
    assert torch.equal(norm, expected) and norm > 0.5
    for a, b in zip(ours, theirs, strict=True):
        assert (a.grad is None) == (b.grad is None)
        if a.grad is not None:
            assert torch.equal(a.grad, b.grad)
            assert not hasattr(a.grad, AVERAGED)
