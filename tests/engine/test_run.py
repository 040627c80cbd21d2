"""The Run thread: returns at once, pause / resume / stop, failures, non-finite losses,
determinism, mid-run settings, sampling and interpolation."""

import threading
import time

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import genai_widgets as gw
from genai_widgets.families.latent import interpolate_latents


def test_returns_at_once_and_trains_in_a_daemon_thread(tiny, wait_until):
    run = gw.train_gan(**tiny())
    try:
        assert run.status == "running"
        assert run._thread.daemon and run._thread is not threading.current_thread()
        wait_until(lambda: run.step >= 3)
        h = run.history
        assert {"step", "loss_d", "loss_g", "d_real", "d_fake"} <= set(h)
        assert len(h["step"]) >= 3 and np.all(np.diff(h["step"]) > 0)
        assert 0 < h["d_real"][0] < 1 and 0 < h["d_fake"][0] < 1  # probabilities for nonsaturating
    finally:
        run.stop()
        assert run.wait(30) == "stopped"


def test_pause_resume_stop(tiny, wait_until, settled_step):
    run = gw.train_gan(**tiny())
    wait_until(lambda: run.step >= 2)
    run.pause()
    assert run.status == "paused"
    frozen = settled_step(run)  # the step in flight (if any) completes
    time.sleep(0.5)
    assert run.step == frozen, "a paused run kept training"
    run.resume()
    assert run.status == "running"
    wait_until(lambda: run.step > frozen + 2)
    before = run.step
    run.stop()
    assert run.wait(30) == "stopped"
    assert run.step <= before + 1, "stop took more than one step to act"
    kinds = [e.kind for e in run.events_since(0)[1]]
    assert kinds[:1] == ["RunStarted"] and "RunPaused" in kinds and "RunResumed" in kinds
    assert kinds[-1] == "RunStopped"


def test_stop_while_paused(tiny, wait_until):
    run = gw.train_gan(**tiny())
    wait_until(lambda: run.step >= 1)
    run.pause()
    run.stop()
    assert run.wait(30) == "stopped"


def test_max_steps_finishes_with_snapshot_and_checkpoint(tiny):
    run = gw.train_gan(**tiny(max_steps=12, sample_every=5))
    assert run.wait(60) == "finished"
    assert run.step == 12
    assert list(run.snapshot_steps()) == [1, 5, 10, 12]
    assert run.get_snapshot(0).shape == (64, 16, 16, 1)
    assert run.snapshot_png(-1).startswith(b"\x89PNG")
    assert (run.run_dir / "checkpoints" / "step_000000012.pt").exists()
    generator, discriminator = run.result()
    assert isinstance(generator, nn.Module)


def test_epochs_sets_the_step_budget(tiny):
    run = gw.train_gan(**tiny(epochs=0.5, batch_size=64))
    # 1797 digits // 64 = 28 batches per epoch -> 14 steps for half an epoch
    assert run.max_steps == 14
    assert run.wait(60) == "finished" and run.step == 14


class ExplodingGenerator(nn.Module):
    def __init__(self, after: int):
        super().__init__()
        self.lin = nn.Linear(16, 256)
        self.calls, self.after = 0, after

    def forward(self, z):
        self.calls += 1
        if self.calls > self.after:
            raise RuntimeError("boom in the generator")
        return torch.tanh(self.lin(z)).view(-1, 1, 16, 16)


def small_discriminator():
    return nn.Sequential(nn.Flatten(), nn.Linear(256, 1))


def test_exception_in_thread_fails_the_run_and_result_reraises(tiny):
    run = gw.train_gan(**tiny(model=(ExplodingGenerator(after=8), small_discriminator())))
    assert run.wait(30) == "failed"
    assert "boom in the generator" in run.traceback_text
    assert "RuntimeError" in run.message
    with pytest.raises(RuntimeError, match="boom in the generator"):
        run.result()
    assert run.events_since(0)[1][-1].kind == "RunFailed"


def test_non_finite_loss_pauses_with_message(tiny, wait_until, NaNAfter):
    run = gw.train_gan(**tiny(model=(ExplodingGenerator(after=10**9), NaNAfter(after=10))))
    wait_until(lambda: run.status == "paused")
    # One call in the shape check before the thread starts, then 3 per step (real, fake, fake
    # for G): the 11th call is step 4's first.
    assert run.step == 3
    assert "step 4" in run.message and "loss_d" in run.message and "nan" in run.message
    assert any(e.kind == "NonFiniteLoss" for e in run.events_since(0)[1])
    # The update was skipped: the weights are still finite.
    assert all(torch.isfinite(p).all() for p in run.discriminator.parameters())
    run.stop()
    assert run.wait(30) == "stopped"


def test_same_seed_gives_bit_identical_losses(tiny):
    a = gw.train_gan(**tiny(max_steps=50, seed=3))
    b = gw.train_gan(**tiny(max_steps=50, seed=3))
    c = gw.train_gan(**tiny(max_steps=50, seed=4))
    for r in (a, b, c):
        assert r.wait(120) == "finished"
    for col in ("loss_d", "loss_g", "d_real", "d_fake"):
        assert np.array_equal(a.history[col], b.history[col]), col
    assert not np.array_equal(a.history["loss_d"], c.history["loss_d"])


def test_set_changes_hyperparameters_mid_run(tiny, wait_until):
    run = gw.train_gan(**tiny())
    wait_until(lambda: run.step >= 2)
    run.set(lr=1e-3, n_critic=2)
    wait_until(lambda: run._parts.opt_g.param_groups[0]["lr"] == 1e-3)
    assert run._parts.opt_d.param_groups[0]["lr"] == 1e-3
    wait_until(lambda: run.history["lr"][-1] == 1e-3)
    for bad, match in (
        (dict(lr=-1.0), "lr must be a number > 0, got -1.0"),
        (dict(lr="fast"), "lr must be a number > 0, got 'fast'"),
        (dict(n_critic=0), "n_critic must be an integer >= 1, got 0"),
        (dict(latent_dim=3), "cannot set 'latent_dim'"),
    ):
        with pytest.raises(ValueError, match=match):
            run.set(**bad)
    assert run.settings["lr"] == 1e-3 and run.settings["n_critic"] == 2
    run.set(max_steps=run.step + 3)
    assert run.wait(30) == "finished"


def test_sample_and_interpolate_use_current_weights(tiny):
    run = gw.train_gan(**tiny(max_steps=5))
    run.wait(30)
    x = run.sample(6)
    assert x.shape == (6, 1, 16, 16) and x.min() >= -1 and x.max() <= 1
    z0, z1 = run.random_z(1, seed=1), run.random_z(1, seed=2)
    frames = run.interpolate(z0, z1, steps=5, method="slerp")
    assert frames.shape == (5, 1, 16, 16)
    ends = run.sample(z=torch.cat([z0, z1]))
    assert torch.allclose(frames[0], ends[0], atol=1e-5) and torch.allclose(
        frames[-1], ends[1], atol=1e-5
    )
    with pytest.raises(ValueError, match="latent_dim"):
        run.sample(z=torch.zeros(2, 3))
    with pytest.raises(ValueError, match="'slerp' or 'lerp'"):
        run.interpolate(z0, z1, method="cubic")


def test_sample_during_training_does_not_disturb_it(tiny):
    run = gw.train_gan(**tiny(max_steps=40))
    while run.status == "running":
        run.sample(4)
    assert run.wait(30) == "finished" and run.step == 40


def test_slerp_keeps_norm_and_lerp_is_linear():
    z0, z1 = torch.randn(64), torch.randn(64)
    z1 = z1 / z1.norm() * z0.norm()
    s = interpolate_latents(z0, z1, 9, "slerp")
    assert torch.allclose(s.norm(dim=1), torch.full((9,), z0.norm().item()), rtol=1e-4)
    lerp = interpolate_latents(z0, z1, 3, "lerp")
    assert torch.allclose(lerp[1], (z0 + z1) / 2)


class ExampleGenerator(nn.Module):
    """pytorch/examples dcgan shape: z as (N, nz, 1, 1)."""

    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(16, 8, 4, 1, 0),
            nn.ReLU(),
            nn.ConvTranspose2d(8, 1, 4, 4, 0),
            nn.Tanh(),
        )

    def forward(self, z):
        return self.main(z)


class ExampleDiscriminator(nn.Module):
    """Ends in a Sigmoid and returns (N, 1, 1, 1), as pytorch/examples does."""

    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(1, 8, 4, 4, 0), nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 4, 1, 0), nn.Sigmoid()
        )

    def forward(self, x):
        return self.main(x)


def test_user_modules_and_dataloader_drop_in(tiny):
    images = torch.rand(64, 1, 16, 16) * 2 - 1
    loader = DataLoader(TensorDataset(images, torch.zeros(64)), batch_size=16, shuffle=True)
    run = gw.train_gan(
        **dict(tiny(max_steps=6), data=loader, model=(ExampleGenerator(), ExampleDiscriminator()))
    )
    assert run.wait(60) == "finished", run.traceback_text
    assert np.isfinite(run.history["loss_d"]).all()
    assert run.family.latent_shape == (16, 1, 1)


def test_bad_inputs_fail_before_a_thread_starts(tiny):
    before = {t for t in threading.enumerate() if t.name.startswith("genai-widgets-run")}
    with pytest.raises(ValueError, match="sample.*shape"):
        gw.train_gan(
            **dict(tiny(), image_size=32, model=(ExplodingGenerator(10), small_discriminator()))
        )
    with pytest.raises(TypeError, match="generator must be a torch.nn.Module, got str"):
        gw.train_gan(**dict(tiny(), model=("G", small_discriminator())))
    with pytest.raises(ValueError, match="unknown model 'dcgna'.*Did you mean 'dcgan'"):
        gw.train_gan(**dict(tiny(), model="dcgna"))
    with pytest.raises(ValueError, match="loss must be one of"):
        gw.train_gan(**dict(tiny(), loss="lsgan"))
    with pytest.raises(TypeError, match="unknown option.*'learning_rate'.*valid options are"):
        gw.train_gan(**dict(tiny(), learning_rate=1))
    # No trainer thread was started (other threads, e.g. idle store writers, come and go).
    assert {t for t in threading.enumerate() if t.name.startswith("genai-widgets-run")} <= before


@pytest.mark.parametrize("loss", ["minimax", "wgan-gp", "hinge"])
def test_every_loss_trains(tiny, loss):
    run = gw.train_gan(**tiny(loss=loss, max_steps=4, n_critic=2 if loss == "wgan-gp" else 1))
    assert run.wait(60) == "finished", run.traceback_text
    assert ("gp" in run.history) == (loss == "wgan-gp")
    assert np.isfinite(run.history["loss_d"]).all()


def test_toy_data_uses_the_mlp(tiny):
    run = gw.train_gan(**dict(tiny(max_steps=20), data="ring", latent_dim=2, batch_size=64))
    assert run.config.model == "mlp"
    assert run.wait(60) == "finished"
    assert run.sample(10).shape == (10, 2)


# ------------------------------------------------------------------ small-data defaults
class _Recorder(torch.nn.Module):
    """A discriminator for 16x16 grey images that keeps what it was shown."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 1))
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.net(x)


def test_diffaugment_transforms_what_d_sees_and_none_turns_it_off(tiny):
    data = torch.rand(32, 1, 16, 16) * 2 - 1
    for policy, augmented in (("translation,cutout", True), ("none", False)):
        G, _ = gw.get_model("dcgan", image_size=16, channels=1, latent_dim=16, width=8)
        D = _Recorder()
        run = gw.train_gan(**tiny(data=data, model=(G, D), max_steps=1, augment=policy, ema=0))
        run.wait(60)
        real_seen = D.seen[-3]  # the step calls D on real, fake, then fake for G's update
        on_data = [(real_seen[i] == data).flatten(1).all(1).any() for i in range(len(real_seen))]
        # Cutout zeroes a square of every augmented image, so none equals a data image.
        assert (not any(on_data)) if augmented else all(on_data), policy


def test_ema_is_what_sampling_reads_and_is_checkpointed(tiny):
    run = gw.train_gan(**tiny(max_steps=5, ema=0.9))
    run.wait(60)
    ema = run.family.ema
    assert ema is not None and ema.updates == 5
    z = run.random_z(4, seed=0)
    sampler = run.family.inference_modules()["generator"]  # batch norm calibrated for it
    assert sampler is ema.module and 1 <= ema.calibrated_at <= 5  # at most 50 updates old
    with torch.no_grad():
        expected = ema.module.eval()(z.view(4, 16, 1, 1))
        live = run.generator.eval()(z.view(4, 16, 1, 1))
    assert torch.allclose(run.sample(z=z), expected)
    assert not torch.allclose(run.sample(z=z), live)  # the average, not the last iterate
    again = gw.load_run(run.run_dir)
    assert again.family.ema.updates == 5
    assert torch.allclose(again.sample(z=z), expected)
    off = gw.train_gan(**tiny(max_steps=2, ema=0))
    off.wait(60)
    assert off.family.ema is None
    # ema=None (the default): 0.999 for images, 0.99 for 2-D points (whose data-space view
    # still shows the generator being trained); the resolved value is what config.json keeps.
    images = gw.train_gan(**tiny(max_steps=1))
    points = gw.train_gan(**tiny(data="ring", max_steps=1))
    for r in (images, points):
        r.wait(60)
    assert images.config.ema == 0.999 and images.family.ema.decay == 0.999
    assert points.config.ema == 0.99 and points.family.ema.decay == 0.99
    assert gw.load_run(images.run_dir).config.ema == 0.999


def test_bad_small_data_settings_are_refused(tiny):
    with pytest.raises(ValueError, match="valid: color, translation, cutout"):
        gw.train_gan(**tiny(augment="flip"))
    with pytest.raises(ValueError, match="ema must be a decay in"):
        gw.train_gan(**tiny(ema=1.5))


def test_a_keyword_typo_is_answered_with_the_option_meant():
    with pytest.raises(TypeError) as info:
        gw.train_gan(max_step=200)
    message = str(info.value)
    assert "'max_step' (did you mean 'max_steps'?)" in message
    assert "valid options are" not in message  # not the list of 30 for one typo
    with pytest.raises(TypeError, match=r"'beat' \(did you mean 'beta'\?\) for VAEConfig"):
        gw.train_vae(beat=2.0)


def test_an_unknown_model_name_lists_the_models_of_that_family_only():
    with pytest.raises(ValueError) as info:
        gw.train_gan(model="resnet")
    message = str(info.value)
    assert "the registered GAN models are: dcgan, mlp" in message
    assert "conv-vae" not in message
    with pytest.raises(ValueError) as info:
        gw.train_vae(model="resnet")
    assert "the registered VAE models are: conv-vae," in str(info.value)
    assert "dcgan" not in str(info.value)
