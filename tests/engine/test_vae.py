"""The VAE family: its ELBO terms against hand computations, the step on a tiny model, the
beta warm-up, the shared Run code path (pause / resume / stop / set / failures), latent-space
methods, held-out evaluation and the health warnings."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

import genai_widgets as gw
from genai_widgets.engine import run as run_module
from genai_widgets.engine.run import Run
from genai_widgets.families.gan.family import GANFamily
from genai_widgets.families.vae.family import VAEFamily
from genai_widgets.families.vae.step import (
    VAEParts,
    beta_at,
    kl_to_standard_normal,
    reconstruction_nll,
    vae_step,
)

TINY_VAE = dict(data="digits", image_size=16, width=8, batch_size=16, latent_dim=4, device="cpu")


@pytest.fixture
def tiny_vae(tmp_path):
    """Keyword arguments for a fast CPU VAE run in its own directory."""
    counter = iter(range(1000))
    return lambda **kw: dict(TINY_VAE, run_dir=str(tmp_path / f"vae{next(counter)}"), **kw)


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


# ------------------------------------------------------------------ the ELBO by hand
def test_bernoulli_reconstruction_term_by_hand():
    x = torch.tensor([[[[1.0, -1.0], [0.0, 1.0]]]])  # targets (x + 1) / 2: 1, 0, 0.5, 1
    logits = torch.tensor([[[[0.0, 1.0], [-1.0, 2.0]]]])
    # -log Bernoulli(t | sigmoid(l)) = softplus(l) - t * l, summed over the pixels
    expected = (
        (softplus(0.0) - 1 * 0.0)
        + (softplus(1.0) - 0 * 1.0)
        + (softplus(-1.0) - 0.5 * -1.0)
        + (softplus(2.0) - 1 * 2.0)
    )
    got = reconstruction_nll(x, logits, "bernoulli")
    assert got.shape == (1,)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_gaussian_reconstruction_term_by_hand():
    x = torch.tensor([[[[1.0, -1.0], [0.0, 1.0]]]])
    means = torch.tensor([[[[0.5, -1.0], [0.0, 0.0]]]])
    std = 0.5
    const = math.log(std) + 0.5 * math.log(2 * math.pi)
    expected = sum(
        0.5 * ((a - m) / std) ** 2 + const for a, m in ((1, 0.5), (-1, -1), (0, 0), (1, 0))
    )
    got = reconstruction_nll(x, means, "gaussian", std)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_kl_term_by_hand():
    mu = torch.tensor([[0.5, -1.0]])
    logvar = torch.tensor([[math.log(0.25), 0.0]])
    # 1/2 sum(mu^2 + sigma^2 - 1 - log sigma^2)
    expected = 0.5 * ((0.25 + 0.25 - 1 - math.log(0.25)) + (1.0 + 1.0 - 1 - 0.0))
    assert kl_to_standard_normal(mu, logvar).item() == pytest.approx(expected, rel=1e-6)
    assert kl_to_standard_normal(torch.zeros(3, 5), torch.zeros(3, 5)).tolist() == [0, 0, 0]


class TinyEncoder(nn.Module):
    """2x2 grey images -> (mu, logvar) of a 1-D code: one linear map, weights set by hand."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 2)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[0.5, -0.25, 0.0, 0.25], [0.1, 0.0, -0.2, 0.0]]))
            self.lin.bias.copy_(torch.tensor([0.1, -0.5]))

    def forward(self, x):
        mu, logvar = self.lin(x.flatten(1)).chunk(2, dim=1)
        return mu, logvar


class TinyDecoder(nn.Module):
    """1-D code -> 2x2 logits: logit_i = w_i z + b_i."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(1, 4)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[1.0], [-2.0], [0.5], [0.0]]))
            self.lin.bias.copy_(torch.tensor([0.0, 0.5, -0.5, 1.0]))

    def forward(self, z):
        return self.lin(z).view(-1, 1, 2, 2)


def test_vae_step_on_a_tiny_model_matches_the_hand_computation():
    encoder, decoder = TinyEncoder(), TinyDecoder()
    x = torch.tensor([[[[1.0, -1.0], [0.0, 1.0]]], [[[-1.0, -1.0], [1.0, 0.5]]]])
    beta = 0.5
    noise = torch.Generator().manual_seed(7)
    eps = torch.randn((2, 1), generator=torch.Generator().manual_seed(7)).flatten().tolist()
    saved = {
        "enc.weight": encoder.lin.weight.detach().clone(),
        "enc.bias": encoder.lin.bias.detach().clone(),
        "dec.weight": decoder.lin.weight.detach().clone(),
        "dec.bias": decoder.lin.bias.detach().clone(),
    }
    optimizer = torch.optim.SGD([*encoder.parameters(), *decoder.parameters()], lr=0.1)
    parts = VAEParts(encoder, decoder, optimizer, "bernoulli", 0.1, noise)
    values = vae_step(parts, lambda: x, beta=beta)

    # By hand, in floats: encode, reparameterise, decode, score.
    we, be = [[0.5, -0.25, 0.0, 0.25], [0.1, 0.0, -0.2, 0.0]], [0.1, -0.5]
    wd, bd = [1.0, -2.0, 0.5, 0.0], [0.0, 0.5, -0.5, 1.0]
    recons, kls = [], []
    for image, e in zip(x.flatten(1).tolist(), eps, strict=True):
        mu = sum(w * p for w, p in zip(we[0], image, strict=True)) + be[0]
        logvar = sum(w * p for w, p in zip(we[1], image, strict=True)) + be[1]
        z = mu + math.exp(0.5 * logvar) * e
        logits = [w * z + b for w, b in zip(wd, bd, strict=True)]
        targets = [(p + 1) / 2 for p in image]
        recons.append(sum(softplus(lg) - t * lg for lg, t in zip(logits, targets, strict=True)))
        kls.append(0.5 * (mu**2 + math.exp(logvar) - 1 - logvar))
    recon, kl = sum(recons) / 2, sum(kls) / 2
    elbo_, recon_, kl_, beta_ = values.tolist()
    assert recon_ == pytest.approx(recon, rel=1e-5)
    assert kl_ == pytest.approx(kl, rel=1e-5)
    assert elbo_ == pytest.approx(-(recon + kl), rel=1e-5)  # higher is better; beta-free
    assert beta_ == beta

    # The update descended recon + beta * KL: SGD moved each weight by -lr * its gradient,
    # computed here independently with torch.func on the saved weights.
    def loss_of(p):
        h = x.flatten(1) @ p["enc.weight"].T + p["enc.bias"]
        mu, logvar = h[:, :1], h[:, 1:]
        z = mu + torch.exp(0.5 * logvar) * torch.tensor(eps).view(2, 1)
        logits = z @ p["dec.weight"].T + p["dec.bias"]
        t = (x.flatten(1) + 1) / 2
        rec = (torch.nn.functional.softplus(logits) - t * logits).sum(1).mean()
        k = (0.5 * (mu**2 + logvar.exp() - 1 - logvar)).sum(1).mean()
        return rec + beta * k

    grads = torch.func.grad(loss_of)(saved)
    assert torch.allclose(
        encoder.lin.weight, saved["enc.weight"] - 0.1 * grads["enc.weight"], atol=1e-6
    )
    assert torch.allclose(decoder.lin.bias, saved["dec.bias"] - 0.1 * grads["dec.bias"], atol=1e-6)


def test_beta_warmup_is_linear_from_zero():
    assert [beta_at(s, 2.0, 4) for s in (1, 2, 3, 4, 5, 100)] == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert beta_at(1, 3.0, 0) == 3.0


def test_beta_column_follows_the_warmup(tiny_vae):
    run = gw.train_vae(**tiny_vae(max_steps=12, beta=2.0, beta_warmup=10))
    assert run.wait(60) == "finished", run.traceback_text
    h = run.history
    expected = [2.0 * min(1.0, s / 10) for s in range(1, 13)]
    assert np.allclose(h["beta"], expected)
    assert set(h) == {"step", "time", "elbo", "recon", "kl", "beta", "lr"}
    assert np.allclose(h["elbo"], -(h["recon"] + h["kl"]), rtol=1e-6)
    assert (h["recon"] > 0).all() and (h["kl"] >= 0).all()


# ------------------------------------------------------------------ one Run for both families
def test_both_families_train_through_the_same_run_code_path(tiny, tiny_vae, monkeypatch):
    """One `Run` class and one `_train` loop serve both; only the family object differs."""
    seen: list[str] = []
    original = Run._train

    def recording_train(self):
        seen.append(type(self.family).__name__)
        return original(self)

    monkeypatch.setattr(Run, "_train", recording_train)
    gan = gw.train_gan(**tiny(max_steps=4, sample_every=2))
    vae = gw.train_vae(**tiny_vae(max_steps=4, sample_every=2))
    for run in (gan, vae):
        assert run.wait(60) == "finished", run.traceback_text
    assert type(gan) is Run and type(vae) is Run
    assert sorted(seen) == ["GANFamily", "VAEFamily"]
    assert isinstance(gan.family, GANFamily) and isinstance(vae.family, VAEFamily)
    # The same machinery published the same kinds of things for both.
    for run in (gan, vae):
        assert list(run.snapshot_steps()) == [1, 2, 4]
        assert (run.run_dir / "checkpoints" / "step_000000004.pt").exists()
        kinds = [e.kind for e in run.events_since(0)[1]]
        assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert vae.get_snapshot(0).shape == (64, 16, 16, 1)  # prior samples, fixed z
    encoder, decoder = vae.result()
    assert encoder is vae.encoder and decoder is vae.decoder


def test_vae_pause_resume_set_stop(tiny_vae, wait_until, settled_step):
    run = gw.train_vae(**tiny_vae())
    wait_until(lambda: run.step >= 2)
    run.pause()
    assert run.status == "paused"
    frozen = settled_step(run)  # the step in flight (if any) completes
    time.sleep(0.4)
    assert run.step == frozen
    run.set(lr=1e-4, beta=0.25)
    run.resume()
    wait_until(lambda: run._parts.optimizer.param_groups[0]["lr"] == 1e-4)
    wait_until(lambda: run.history["beta"][-1] == 0.25)
    for bad, match in (
        (dict(beta=-1.0), "beta must be a finite number >= 0, got -1.0"),
        (dict(lr=0), "lr must be a number > 0, got 0"),
        (dict(n_critic=2), "cannot set 'n_critic' on a running VAE; settable: lr, beta"),
    ):
        with pytest.raises(ValueError, match=match):
            run.set(**bad)
    assert run.settings["beta"] == 0.25
    before = run.step
    run.stop()
    assert run.wait(30) == "stopped"
    assert run.step <= before + 1
    kinds = [e.kind for e in run.events_since(0)[1]]
    assert {"RunPaused", "RunResumed", "HyperparametersChanged"} <= set(kinds)
    assert kinds[-1] == "RunStopped"


class ExplodingDecoder(nn.Module):
    def __init__(self, after: int, nan: bool = False):
        super().__init__()
        self.lin = nn.Linear(4, 256)
        self.calls, self.after, self.nan = 0, after, nan

    def forward(self, z):
        self.calls += 1
        out = self.lin(z.flatten(1)).view(-1, 1, 16, 16)
        if self.calls > self.after:
            if not self.nan:
                raise RuntimeError("boom in the decoder")
            out = out * float("nan")
        return out


def small_encoder():
    return nn.Sequential(nn.Flatten(), nn.Linear(256, 8))  # 2 x latent_dim outputs


def test_vae_failure_and_non_finite_loss(tiny_vae, wait_until):
    failing = gw.train_vae(**tiny_vae(model=(small_encoder(), ExplodingDecoder(after=6))))
    assert failing.wait(30) == "failed"
    assert "boom in the decoder" in failing.traceback_text
    with pytest.raises(RuntimeError, match="boom in the decoder"):
        failing.result()
    nan = gw.train_vae(**tiny_vae(model=(small_encoder(), ExplodingDecoder(after=6, nan=True))))
    wait_until(lambda: nan.status == "paused")
    # Decoder calls: the shape check, step 1, the prior-sample snapshot after step 1, then one
    # per step: the 7th call is step 5's.
    assert nan.step == 4 and "step 5" in nan.message and "recon" in nan.message
    assert all(torch.isfinite(p).all() for p in nan.decoder.parameters())
    nan.stop()
    assert nan.wait(30) == "stopped"


def test_bad_vae_inputs_fail_before_a_thread_starts(tiny_vae):
    before = {t for t in threading.enumerate() if t.name.startswith("genai-widgets-run")}
    with pytest.raises(ValueError, match="'dcgan' is a GAN model"):
        gw.train_vae(**tiny_vae(model="dcgan"))
    with pytest.raises(ValueError, match="'conv-vae' is a VAE model"):
        gw.train_gan(**dict(tiny_vae(), model="conv-vae", latent_dim=16))
    with pytest.raises(ValueError, match="likelihood must be one of bernoulli, gaussian"):
        gw.train_vae(**tiny_vae(likelihood="poisson"))
    with pytest.raises(ValueError, match="the encoder must give mu and logvar of latent_dim=4"):
        gw.train_vae(
            **tiny_vae(model=(nn.Sequential(nn.Flatten(), nn.Linear(256, 6)), ExplodingDecoder(10)))
        )
    with pytest.raises(ValueError, match="decoder makes outputs of shape"):
        gw.train_vae(**tiny_vae(model=(small_encoder(), nn.Linear(4, 10))))
    with pytest.raises(TypeError, match="unknown option.*'n_critic'"):
        gw.train_vae(**tiny_vae(n_critic=2))
    with pytest.raises(ValueError, match="2-D points"):
        gw.train_vae(**dict(tiny_vae(), data="ring"))
    assert {t for t in threading.enumerate() if t.name.startswith("genai-widgets-run")} <= before


# ------------------------------------------------------------------ latent-space methods
def test_encode_reconstruct_interpolate_traverse_and_evaluate(tiny_vae, tiny):
    run = gw.train_vae(**tiny_vae(max_steps=5))
    assert run.wait(60) == "finished"
    images, labels = run.held_out_images()
    assert len(images) == 180 and labels is not None and len(labels) == 180  # 10% of 1797
    assert len(run.data_source) == 1797 - 180
    mu, logvar = run.encode(images[:5])
    assert mu.shape == logvar.shape == (5, 4)
    recon = run.reconstruct(images[:5])
    assert recon.shape == (5, 1, 16, 16) and recon.min() >= -1 and recon.max() <= 1
    assert torch.allclose(recon, run.sample(z=mu))
    frames = run.interpolate_images(images[0], images[1], steps=5)
    assert frames.shape == (5, 1, 16, 16)
    assert torch.allclose(frames[0], recon[0], atol=1e-5) and torch.allclose(
        frames[-1], recon[1], atol=1e-5
    )
    grid = run.traverse(values=[-2.0, 0.0, 2.0])
    assert grid.shape == (4 * 3, 1, 16, 16)
    assert torch.allclose(grid[1], run.sample(z=torch.zeros(1, 4))[0])  # z1 = 0: the prior mean
    first, again = run.evaluate(seed=3), run.evaluate(seed=3)
    assert first == again and first["images"] == 180
    assert first["elbo"] == pytest.approx(-(first["recon"] + first["kl"]))
    with pytest.raises(ValueError, match=r"images of shape \(N, 1, 16, 16\)"):
        run.encode(torch.zeros(2, 3, 8, 8))
    gan = gw.train_gan(**tiny(max_steps=1))
    gan.wait(30)
    with pytest.raises(TypeError, match="is a GAN, which has no encoder"):
        gan.encode(images[:1])


def test_training_improves_the_held_out_elbo(tiny_vae):
    run = gw.train_vae(**tiny_vae(max_steps=1))
    run.wait(30)
    start = run.evaluate()["elbo"]
    run.set(max_steps=150)
    run.resume()
    assert run.wait(120) == "finished"
    assert run.evaluate()["elbo"] > start + 10


# ------------------------------------------------------------------ health warnings
def rows(kl, recon):
    n = len(kl)
    return {
        "step": np.arange(1, n + 1.0),
        "kl": np.asarray(kl, float),
        "recon": np.asarray(recon, float),
    }


def test_health_checks_on_synthetic_histories():
    family = VAEFamily.__new__(VAEFamily)  # only the thresholds and `health` are used
    settings = {"beta": 1.0, "beta_warmup": 0}
    improving = np.linspace(200, 100, 1000)
    assert family.health(rows(np.full(1000, 8.0), improving), 1000, settings) == []
    collapsed = family.health(rows(np.full(1000, 0.01), improving), 1000, settings)
    assert [k for k, _ in collapsed] == ["PosteriorCollapsed"] and "0.01 nats" in collapsed[0][1]
    # Not judged during the warm-up (nor collapse_after steps after it), nor with beta = 0.
    assert (
        family.health(rows(np.full(1000, 0.01), improving), 1000, {"beta": 1.0, "beta_warmup": 900})
        == []
    )
    assert (
        family.health(rows(np.full(1000, 0.01), improving), 1000, {"beta": 0.0, "beta_warmup": 0})
        == []
    )
    flat = family.health(rows(np.full(1000, 8.0), np.full(1000, 90.0)), 1000, settings)
    assert [k for k, _ in flat] == ["ReconstructionPlateaued"] and "90" in flat[0][1]
    # Too little history to compare two windows: no verdict.
    assert family.health(rows(np.full(900, 8.0), np.full(900, 90.0)), 900, settings) == []


def test_a_health_warning_is_emitted_once_and_kept(tiny_vae, monkeypatch, wait_until):
    monkeypatch.setattr(run_module, "HEALTH_EVERY", 5)
    monkeypatch.setattr(VAEFamily, "collapse_after", 0)
    monkeypatch.setattr(VAEFamily, "collapse_kl", 1e9)  # any KL counts: tests the plumbing
    run = gw.train_vae(**tiny_vae(max_steps=30))
    assert run.wait(60) == "finished"
    events = [e for e in run.events_since(0)[1] if e.kind == "PosteriorCollapsed"]
    assert len(events) == 1 and events[0].step == 5
    assert [w["kind"] for w in run.warnings] == ["PosteriorCollapsed"]
    assert "posterior collapse" in run.warnings[0]["message"]


# ------------------------------------------------------------------ persistence
def test_vae_resume_continues_bit_for_bit(tiny_vae):
    straight = gw.train_vae(**tiny_vae(max_steps=20, seed=5, beta_warmup=8))
    first = gw.train_vae(**tiny_vae(max_steps=10, seed=5, beta_warmup=8))
    assert straight.wait(60) == "finished" and first.wait(60) == "finished"
    path = first.save()
    assert '"family": "vae"' in (path / "config.json").read_text()
    loaded = gw.load_run(path)  # the family comes from config.json
    assert isinstance(loaded.family, VAEFamily) and loaded.status == "finished"
    assert loaded.step == 10 and loaded.snapshot_count == first.snapshot_count
    assert torch.equal(loaded.held_out.tensor, first.held_out.tensor)  # the same split
    assert np.array_equal(loaded.history["elbo"], first.history["elbo"])
    loaded.set(max_steps=20)
    loaded.resume()
    assert loaded.wait(60) == "finished", loaded.traceback_text
    for col in ("elbo", "recon", "kl", "beta"):
        assert np.array_equal(loaded.history[col], straight.history[col]), col
    assert np.array_equal(loaded.history["step"], np.arange(1, 21))
    for a, b in zip(loaded.decoder.parameters(), straight.decoder.parameters(), strict=True):
        assert torch.equal(a, b)


def test_vae_with_own_modules_must_be_given_them_again(tiny_vae):
    encoder, decoder = small_encoder(), ExplodingDecoder(after=10**9)
    run = gw.train_vae(**tiny_vae(max_steps=3, model=(encoder, decoder)))
    assert run.wait(30) == "finished"
    with pytest.raises(RuntimeError, match=r"model=\(encoder, decoder\)"):
        gw.load_run(run.run_dir).sample(2)  # a read-only view until they are given
    loaded = gw.load_run(run.run_dir, model=(encoder, decoder))
    assert loaded.step == 3 and loaded.family.name == "vae"


def test_a_vae_without_a_checkpoint_opens_read_only(tiny_vae):
    import shutil

    run = gw.train_vae(**tiny_vae(max_steps=4, sample_every=2))
    assert run.wait(30) == "finished"
    shutil.rmtree(run.run_dir / "checkpoints")  # as if its process had died before writing one
    loaded = gw.load_run(run.run_dir)
    assert not loaded.has_weights and loaded.family.name == "vae"
    assert list(loaded.history["step"]) == [1, 2, 3, 4] and loaded.step == 4
    assert list(loaded.snapshot_steps()) == [1, 2, 4]
    dashboard = loaded.dashboard()
    try:
        assert type(dashboard).__name__ == "VAEDashboard"
        assert dashboard.static_png().startswith(b"\x89PNG")
    finally:
        dashboard.close()
    for needs_weights in (loaded.resume, lambda: loaded.encode(torch.zeros(1, 1, 16, 16))):
        with pytest.raises(RuntimeError, match="no checkpoint was written.*up to step 4"):
            needs_weights()


def test_a_run_directory_from_before_families_loads_as_a_gan(tiny):
    import json

    run = gw.train_gan(**tiny(max_steps=2))
    assert run.wait(30) == "finished"
    config_file = run.run_dir / "config.json"
    saved = json.loads(config_file.read_text())
    assert saved.pop("family") == "gan"
    config_file.write_text(json.dumps(saved))  # as written before this field existed
    loaded = gw.load_run(run.run_dir)
    assert isinstance(loaded.family, GANFamily) and loaded.step == 2


def test_a_real_posterior_collapse_is_detected_and_a_healthy_run_is_not(tiny_vae, monkeypatch):
    """beta = 20 on the tiny model squeezes the KL term to ~0.003 nats: the code carries
    nothing. With beta = 1 the same model's KL term grows to a few nats."""
    monkeypatch.setattr(VAEFamily, "collapse_after", 100)  # judged from step 100, not 500
    collapsed = gw.train_vae(**tiny_vae(max_steps=150, beta=20.0))
    healthy = gw.train_vae(**tiny_vae(max_steps=150, beta=1.0))
    for run in (collapsed, healthy):
        assert run.wait(120) == "finished", run.traceback_text
    assert [w["kind"] for w in collapsed.warnings] == ["PosteriorCollapsed"]
    assert collapsed.warnings[0]["step"] == 100
    assert healthy.warnings == [] and healthy.history["kl"][-50:].mean() > 1.0
