"""SyncBatchNorm for CUDA jobs (`distributed.sync_batch_norm`), checked on the CPU: the
conversion itself needs no GPU, only SyncBatchNorm's forward does."""

from __future__ import annotations

import torch
from torch import nn

import genai_widgets as gw
from genai_widgets.engine.distributed import sync_batch_norm
from genai_widgets.engine.family import Family
from genai_widgets.families import build_run


def _kinds(module: nn.Module) -> set[type]:
    return {type(m) for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}


def test_gan_generator_synced_discriminator_kept_per_rank(tmp_path):
    run = build_run(gw.GANConfig(data="digits", device="cpu", run_dir=str(tmp_path / "r")))
    try:
        family = run.family
        g, d = family.generator, family.discriminator
        params = {id(p) for p in g.parameters()}
        buffers = {id(b) for b in g.buffers()}
        optimised = {id(p) for group in family.parts.opt_g.param_groups for p in group["params"]}
        keys = list(g.state_dict())
        assert _kinds(g) == {nn.BatchNorm2d} and _kinds(d) == {nn.BatchNorm2d}

        converted = sync_batch_norm(family)

        assert converted == sum(isinstance(m, nn.SyncBatchNorm) for m in g.modules()) > 0
        assert _kinds(g) == {nn.SyncBatchNorm}
        assert _kinds(d) == {nn.BatchNorm2d}  # R1's double backward: per-rank statistics
        # The same tensors: G's optimizer and the family's references still hold them.
        assert {id(p) for p in g.parameters()} == params == optimised
        assert {id(b) for b in g.buffers()} == buffers
        assert list(g.state_dict()) == keys  # checkpoints load in a one-process run
        assert sync_batch_norm(family) == 0  # idempotent
    finally:
        run._store.close()


def test_default_converts_every_module():
    """`Family.sync_batch_norm_modules` defaults to every module (nested layers too)."""
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Sequential(nn.BatchNorm1d(4)))

    class Stub:
        def modules(self) -> dict[str, nn.Module]:
            return {"net": net}

        sync_batch_norm_modules = Family.sync_batch_norm_modules

    assert sync_batch_norm(Stub()) == 2
    assert _kinds(net) == {nn.SyncBatchNorm}
    torch.testing.assert_close(net[1].running_var, torch.ones(4))
