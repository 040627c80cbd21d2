"""The arithmetic of a torchrun job is DDP's: for models without batch norm, one step of 2
ranks x batch B/2 gives the same parameter update as 1 process x batch B (float tolerance).

- Text: a real `nproc=2` job of one step against an in-process run of one step, same seed and
  config; the gradient is clipped (the job must clip the averaged gradient by its global
  norm, not each rank its own).
- GAN with R1 on, and with WGAN-GP (double backward): the family's own step, on real
  torchrun processes (2 gloo ranks) with the package's gradient averaging, against one process on the full batch. The
  fake samples are fixed (a job draws its noise from per-rank streams, so an end-to-end GAN
  job is not bit-comparable to one process)."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import genai_widgets as gw
from genai_widgets.families.text.config import make_text_config
from genai_widgets.families.text.data import python_docs
from genai_widgets.families.text.family import TextFamily

ATOL, RTOL = 1e-6, 1e-5


def _close(
    a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], what: str, atol: float = ATOL
) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=atol, rtol=RTOL), (
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
"""One GAN step (the family's own) with a gradient penalty (R1 on every D update, or WGAN-GP's
with its 5 critic steps; GW_TEST_LOSS), on the rank's slice of a fixed batch, with fixed noise
and fixed penalty mixing; writes the rank's D and G parameters to OUT/rank<r>.pt."""
import os
import sys

import pytest
import torch
import torch.distributed as dist
from torch import nn

from genai_widgets.engine.config import settings_of
from genai_widgets.families.gan.config import make_config
from genai_widgets.families.gan.family import GANFamily

BATCH = 32
LOSS = os.environ.get("GW_TEST_LOSS", "r1")


class FixedNoise(nn.Module):
    """The generator on fixed latent vectors (the rank's rows of them), whatever z it is given."""

    def __init__(self, inner, z):
        super().__init__()
        self.inner, self.z = inner, z

    def forward(self, z):
        assert z.shape[0] == self.z.shape[0]
        return self.inner(self.z)


def one_step(out, rank=0, world=1):
    if LOSS == "r1":
        options = {"r1": 2.0, "r1_every": 1}
    else:
        options = {"loss": "wgan-gp", "n_critic": 1}  # one critic step (see the test)
    config = make_config(data="ring", batch_size=BATCH, seed=0, device="cpu", **options)
    built = GANFamily.build(config, torch.device("cpu"))
    family, settings = built.family, settings_of(built.config)
    if LOSS == "r1":
        assert settings["r1"] > 0 and family.r1_every == 1
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                   for role in family.modules().values() for m in role.modules())
    real = built.data.first_batch(BATCH, seed=5)
    z = torch.randn((BATCH, *family.parts.latent_shape), generator=torch.Generator().manual_seed(9))
    b = BATCH // world
    rows = slice(rank * b, (rank + 1) * b)
    family.parts.generator = FixedNoise(family.generator, z[rows])
    # WGAN-GP mixes real and fake with a random alpha per sample: the rank's rows of fixed ones.
    alpha = torch.rand((BATCH, 1), generator=torch.Generator().manual_seed(11))[rows]
    draw = torch.rand

    def fixed_alpha(shape, *args, generator=None, **kwargs):
        if generator is family.parts.noise and tuple(shape)[0] == b:
            return alpha.reshape(shape).to(kwargs.get("dtype") or alpha.dtype)
        return draw(shape, *args, generator=generator, **kwargs)

    torch.rand = fixed_alpha
    try:
        values = family.step(lambda: real[rows], settings, 1, check_finite=True)
    finally:
        torch.rand = draw
    metrics = dict(zip(family.metric_names, values.tolist()))
    assert metrics["r1" if LOSS == "r1" else "gp"] > 0, metrics
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
        # Tear the group down together: a rank whose peer already closed its gloo pairs can
        # abort in destroy ("terminate called without an active exception", seen once in CI).
        dist.barrier()
    finally:
        dist.destroy_process_group()
'''


@pytest.mark.parametrize("loss", ["r1", "wgan-gp"])
def test_gan_penalty_step_two_ranks_equals_one_process(tmp_path, monkeypatch, loss):
    monkeypatch.setenv("GW_TEST_LOSS", loss)
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
    for part in ("d_moments", "d", "g"):
        assert all(torch.equal(ranks[0][part][k], ranks[1][part][k]) for k in one[part]), part
    # D's averaged gradient (Adam's first moment; WGAN-GP's beta1 = 0 makes it the gradient
    # itself) matches tightly.
    _close(ranks[0]["d_moments"], one["d_moments"], "d_moments")
    if loss == "r1":
        for part in ("d", "g"):
            _close(ranks[0][part], one[part], part)
        return
    # Adam's first step moves each weight by lr * g / (|g| + eps): on entries whose gradient
    # is nearly zero (dead units of WGAN-GP's critic) float-level differences of g move the
    # weight by up to 2 lr. D's weights match tightly wherever |g| > 1e-6, and within 2 lr
    # elsewhere; G (its step read D's weights) within 2 lr.
    # (The critic's last bias has a zero gradient: the Wasserstein loss cancels it.)
    lr = 1e-3  # the 2-D toys' learning rate
    steady_entries = 0
    for key, weight in one["d"].items():
        g = one["d_moments"][key]  # beta1 = 0: the first moment is the gradient
        steady = g.abs() > 1e-6
        steady_entries += int(steady.sum())
        torch.testing.assert_close(ranks[0]["d"][key][steady], weight[steady], atol=ATOL, rtol=RTOL)
    assert steady_entries > 0.5 * sum(w.numel() for w in one["d"].values())
    _close(ranks[0]["d"], one["d"], "d", 2 * lr)
    _close(ranks[0]["g"], one["g"], "g", 2 * lr)
