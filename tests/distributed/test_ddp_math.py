"""The arithmetic of a torchrun job is DDP's: for models without batch norm, one step of 2
ranks x batch B/2 gives the same parameter update as 1 process x batch B (float tolerance).

- Text: a real `nproc=2` job of one step against an in-process run of one step, same seed and
  config; the gradient is clipped (the job must clip the averaged gradient by its global
  norm, not each rank its own).
- GAN with R1 on (double backward): the family's own step, on real torchrun processes (2 gloo
  ranks) with the package's gradient averaging, against one process on the full batch. The
  fake samples are fixed (a job draws its noise from per-rank streams, so an end-to-end GAN
  job is not bit-comparable to one process)."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import torch

import genai_widgets as gw
from genai_widgets.families.text.config import make_text_config
from genai_widgets.families.text.data import python_docs
from genai_widgets.families.text.family import TextFamily

ATOL, RTOL = 1e-6, 1e-5


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], what: str) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=ATOL, rtol=RTOL), (
            f"{what} {key}: max |diff| {float((a[key] - b[key]).abs().max()):.3g}"
        )


def _changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(before[k], after[k]) for k in before)


# ------------------------------------------------------------------------------ text, end to end
TEXT_RUN = dict(
    data=python_docs()[:20000],
    block_size=16,
    n_layer=1,
    n_head=2,
    n_embd=32,
    dropout=0.0,
    batch_size=8,
    lr=1e-3,
    warmup_steps=0,
    grad_clip=0.5,  # below the first step's gradient norm: the step clips
    max_steps=1,
    eval_every=1000,
    sample_every=None,
    eval_tokens=256,
    device="cpu",
    seed=3,
)


def _text_state(run_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The model's parameters and AdamW's first moments (linear in the step's gradient)."""
    run = gw.load_run(run_dir)
    assert run.step == 1
    model = run.family.model
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    state = run.family.optimizer.state
    moments = {k: state[p]["exp_avg"].clone() for k, p in model.named_parameters()}
    return params, moments


def test_text_step_two_ranks_equals_one_process(tmp_path, monkeypatch):
    monkeypatch.setenv("GENAI_WIDGETS_CACHE", str(tmp_path / "cache"))
    job = gw.train_text(**TEXT_RUN, nproc=2, run_dir=str(tmp_path / "job"))
    try:
        assert isinstance(job, gw.RemoteRun)
        single = gw.train_text(**TEXT_RUN, run_dir=str(tmp_path / "one"))
        assert single.wait(120) == "finished"
        assert job.wait(180) == "finished", (job.status, job.message)
    finally:
        job.kill(timeout=5)
    initial = TextFamily.build(make_text_config(**TEXT_RUN), torch.device("cpu")).family
    start = {k: v.detach().clone() for k, v in initial.model.named_parameters()}
    params_job, moments_job = _text_state(tmp_path / "job")
    params_one, moments_one = _text_state(tmp_path / "one")
    assert _changed(start, params_one)  # the step did something
    _close(moments_job, moments_one, "AdamW exp_avg")
    _close(params_job, params_one, "parameter")


# ------------------------------------------------------------------------ GAN with R1, the step
GAN_SCRIPT = '''
"""One GAN step (the family's own) with R1 on every D update, on the rank's slice of a fixed
batch, with fixed noise; writes the rank's D and G parameters to OUT/rank<r>.pt."""
import os
import sys

import torch
import torch.distributed as dist
from torch import nn

from genai_widgets.engine.config import settings_of
from genai_widgets.families.gan.config import make_config
from genai_widgets.families.gan.family import GANFamily

BATCH = 32


class FixedNoise(nn.Module):
    """The generator on fixed latent vectors (the rank's rows of them), whatever z it is given."""

    def __init__(self, inner, z):
        super().__init__()
        self.inner, self.z = inner, z

    def forward(self, z):
        assert z.shape[0] == self.z.shape[0]
        return self.inner(self.z)


def one_step(out, rank=0, world=1):
    config = make_config(data="ring", batch_size=BATCH, r1=2.0, r1_every=1, seed=0, device="cpu")
    built = GANFamily.build(config, torch.device("cpu"))
    family, settings = built.family, settings_of(built.config)
    assert settings["r1"] > 0 and family.r1_every == 1
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                   for role in family.modules().values() for m in role.modules())
    real = built.data.first_batch(BATCH, seed=5)
    z = torch.randn((BATCH, *family.parts.latent_shape), generator=torch.Generator().manual_seed(9))
    b = BATCH // world
    rows = slice(rank * b, (rank + 1) * b)
    family.parts.generator = FixedNoise(family.generator, z[rows])
    values = family.step(lambda: real[rows], settings, 1, check_finite=True)
    metrics = dict(zip(family.metric_names, values.tolist()))
    assert metrics["r1"] > 0, metrics
    state = {
        "d": {k: v.detach().clone() for k, v in family.discriminator.named_parameters()},
        "g": {k: v.detach().clone() for k, v in family.generator.named_parameters()},
        "d_moments": {k: family.parts.opt_d.state[p]["exp_avg"].clone()
                      for k, p in family.discriminator.named_parameters()},
    }
    torch.save(state, os.path.join(out, f"rank{rank}.pt"))


if __name__ == "__main__":
    from genai_widgets.engine.gradients import enable_gradient_averaging

    dist.init_process_group("gloo")
    enable_gradient_averaging()  # the pre-hook every job's workers register
    try:
        one_step(sys.argv[1], dist.get_rank(), dist.get_world_size())
    finally:
        dist.destroy_process_group()
'''


def test_gan_r1_step_two_ranks_equals_one_process(tmp_path):
    script = tmp_path / "gan_r1_step.py"
    script.write_text(GAN_SCRIPT)
    (tmp_path / "job").mkdir()
    (tmp_path / "one").mkdir()
    package_root = str(Path(gw.__file__).resolve().parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(script),
        str(tmp_path / "job"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runpy.run_path(str(script), run_name="gan_r1_step")["one_step"](str(tmp_path / "one"))

    ranks = [torch.load(tmp_path / "job" / f"rank{r}.pt") for r in (0, 1)]
    one = torch.load(tmp_path / "one" / "rank0.pt")
    for part in ("d", "g", "d_moments"):
        assert all(torch.equal(ranks[0][part][k], ranks[1][part][k]) for k in one[part]), part
        _close(ranks[0][part], one[part], part)
