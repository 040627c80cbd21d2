"""Each loss against a hand computation on fixed logits."""

import math

import pytest
import torch
from torch import nn

from genai_widgets.families.gan.losses import (
    HingeLoss,
    MinimaxLoss,
    NonSaturatingLoss,
    WGANGPLoss,
    get_loss,
    gradient_penalty,
)

REAL = [0.5, -1.0, 2.0]
FAKE = [0.2, 2.0, -3.0]


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


@pytest.fixture
def logits():
    return torch.tensor(REAL, dtype=torch.float64), torch.tensor(FAKE, dtype=torch.float64)


def test_minimax_matches_value_function(logits):
    real, fake = logits
    loss = MinimaxLoss()
    # D maximises E_x[log D(x)] + E_z[log(1 - D(G(z)))]; we minimise the negative.
    v = mean(math.log(sig(r)) for r in REAL) + mean(math.log(1 - sig(f)) for f in FAKE)
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(-v, rel=1e-12)
    # G minimises E_z[log(1 - D(G(z)))]: an expectation over z (the fakes), not over real data.
    assert loss.generator_loss(fake).item() == pytest.approx(
        mean(math.log(1 - sig(f)) for f in FAKE), rel=1e-12
    )
    doc = MinimaxLoss.__doc__
    assert "z ~ p_z" in doc and "typo" in doc


def test_nonsaturating(logits):
    real, fake = logits
    loss = NonSaturatingLoss()
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(
        MinimaxLoss().discriminator_loss(real, fake).item()
    )
    assert loss.generator_loss(fake).item() == pytest.approx(
        mean(-math.log(sig(f)) for f in FAKE), rel=1e-12
    )


def test_nonsaturating_gradient_does_not_vanish_when_d_rejects_fakes():
    # D(G(z)) ~ 0: the minimax generator gradient vanishes, the non-saturating one does not.
    fake = torch.tensor([-12.0], requires_grad=True)
    MinimaxLoss().generator_loss(fake).backward()
    g_minimax = abs(fake.grad.item())
    fake.grad = None
    NonSaturatingLoss().generator_loss(fake).backward()
    assert g_minimax < 1e-4 < abs(fake.grad.item())


def test_wgan(logits):
    real, fake = logits
    loss = WGANGPLoss()
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(mean(FAKE) - mean(REAL))
    assert loss.generator_loss(fake).item() == pytest.approx(-mean(FAKE))
    assert loss.gradient_penalty and not loss.probabilities


def test_hinge(logits):
    real, fake = logits
    loss = HingeLoss()
    expected = mean(max(0.0, 1 - r) for r in REAL) + mean(max(0.0, 1 + f) for f in FAKE)
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(expected)
    assert loss.generator_loss(fake).item() == pytest.approx(-mean(FAKE))


def test_gradient_penalty_of_linear_critic():
    # D(x) = w . x has gradient w everywhere, so the penalty is (||w|| - 1)^2 exactly.
    critic = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 4.0]]))
    real, fake = torch.randn(5, 2), torch.randn(5, 2)
    gp = gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx((5.0 - 1.0) ** 2)


def test_get_loss_names_and_error():
    assert isinstance(get_loss("hinge"), HingeLoss)
    with pytest.raises(ValueError, match="nonsaturating, minimax, wgan-gp, hinge"):
        get_loss("lsgan")


def test_r1_adds_gamma_times_w_to_a_linear_discriminators_gradient():
    # D(x) = w . x + b has gradient w at every real point: the R1 term r1 / 2 * |w|^2 adds
    # exactly r1 * w to the weight's gradient and nothing to the bias's. One D update with
    # SGD(lr=1) shows it: the weights of two identical runs differ by r1 * w_before.
    from genai_widgets.families.gan.step import GANParts, gan_step

    def parts(seed: int) -> GANParts:
        torch.manual_seed(seed)
        g, d = nn.Linear(2, 2), nn.Linear(2, 1)
        return GANParts(
            generator=g, discriminator=nn.Sequential(d, nn.Flatten(0)),
            opt_g=torch.optim.SGD(g.parameters(), lr=0.0),
            opt_d=torch.optim.SGD(d.parameters(), lr=1.0),
            loss=NonSaturatingLoss(), latent_shape=(2,),
            noise=torch.Generator().manual_seed(1),
        )  # fmt: skip

    real = torch.randn(8, 2)
    plain, pen = parts(0), parts(0)
    w0 = pen.discriminator[0].weight.detach().clone()
    b_plain0 = plain.discriminator[0].bias.detach().clone()
    gan_step(plain, lambda: real.clone(), r1=0.0)
    gan_step(pen, lambda: real.clone(), r1=0.5)
    dw = plain.discriminator[0].weight - pen.discriminator[0].weight
    torch.testing.assert_close(dw, 0.5 * w0)
    torch.testing.assert_close(plain.discriminator[0].bias, pen.discriminator[0].bias)
    assert not torch.equal(plain.discriminator[0].bias, b_plain0)  # the step did move D
    # Lazy R1: a step with r1_now=False is a step without the penalty.
    off, skipped = parts(0), parts(0)
    gan_step(off, lambda: real.clone(), r1=0.0)
    gan_step(skipped, lambda: real.clone(), r1=0.5, r1_now=False)
    torch.testing.assert_close(off.discriminator[0].weight, skipped.discriminator[0].weight)


def test_the_gan_family_applies_r1_lazily_every_r1_every_steps(tmp_path):
    import genai_widgets as gw

    run = gw.families.build_run(
        gw.families.make_config(
            data="digits", image_size=16, width=8, batch_size=8, latent_dim=8, device="cpu",
            run_dir=str(tmp_path / "lazy"), r1=0.2, r1_every=4, augment="none", max_steps=8,
        )
    )  # fmt: skip
    seen = []
    import genai_widgets.families.gan.family as gf

    real_step = gf.gan_step
    gf.gan_step = lambda *a, **k: seen.append((k["r1"], k["r1_now"])) or real_step(*a, **k)
    try:
        run.start()
        assert run.wait(120) == "finished"
    finally:
        gf.gan_step = real_step
    assert [now for _, now in seen] == [False, False, False, True] * 2
    assert all(r1 == pytest.approx(0.8) for r1, _ in seen)  # weighted r1_every times


def _linear_parts(loss, seed: int = 0):
    from genai_widgets.families.gan.step import GANParts

    torch.manual_seed(seed)
    g, d = nn.Linear(2, 2), nn.Linear(2, 1)
    return GANParts(
        generator=g, discriminator=nn.Sequential(d, nn.Flatten(0)),
        opt_g=torch.optim.SGD(g.parameters(), lr=0.0),
        opt_d=torch.optim.SGD(d.parameters(), lr=1.0),
        loss=loss, latent_shape=(2,), noise=torch.Generator().manual_seed(1),
    )  # fmt: skip


def _step_metrics(parts, real, **kw) -> dict[str, float]:
    from genai_widgets.families.gan.step import gan_step, metric_names

    values = gan_step(parts, real.clone, **kw).tolist()
    return dict(zip(metric_names(parts.loss), values, strict=True))


def test_step_metrics_keep_the_adversarial_loss_and_each_penalty_apart():
    # D(x) = w . x + b: R1's |grad_x D|^2 is |w|^2 at every point and the GP's |grad| - 1 is
    # |w| - 1, so both penalties are known by hand; loss_d is the adversarial loss alone.
    from genai_widgets.families.gan.step import metric_names

    real = torch.randn(8, 2)
    ns = NonSaturatingLoss()
    assert metric_names(ns) == ("loss_d", "loss_g", "d_real", "d_fake", "r1")
    pen = _linear_parts(ns)
    w0 = pen.discriminator[0].weight.detach().clone()
    g_copy, d_copy = _linear_parts(ns).generator, _linear_parts(ns).discriminator
    z = torch.randn((8, 2), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        by_hand = ns.discriminator_loss(d_copy(real), d_copy(g_copy(z))).item()
    m = _step_metrics(pen, real, r1=0.5)
    assert m["loss_d"] == pytest.approx(by_hand)  # no R1 inside
    assert m["r1"] == pytest.approx(0.5 / 2 * w0.pow(2).sum().item())
    skipped = _step_metrics(_linear_parts(ns), real, r1=0.5, r1_now=False)
    assert skipped["r1"] == 0.0 and skipped["loss_d"] == pytest.approx(by_hand)

    wgan = WGANGPLoss()
    assert metric_names(wgan)[-2:] == ("r1", "gp")
    critic = _linear_parts(wgan)
    w = critic.discriminator[0].weight.detach().clone()
    g_copy, d_copy = _linear_parts(wgan).generator, _linear_parts(wgan).discriminator
    with torch.no_grad():
        by_hand = (d_copy(g_copy(z)).mean() - d_copy(real).mean()).item()
    m = _step_metrics(critic, real, gp_weight=10.0)
    assert m["loss_d"] == pytest.approx(by_hand, abs=1e-6)
    assert m["gp"] == pytest.approx(10.0 * (w.norm().item() - 1.0) ** 2, rel=1e-5)
    assert m["r1"] == 0.0


def test_lazy_r1_shows_in_its_own_column_and_never_in_loss_d(tmp_path):
    # Two runs that agree until the first R1 step (steps 1-3 skip it): at step 4 the
    # penalised run's loss_d must equal the un-penalised one's, its r1 column holds the term.
    import genai_widgets as gw

    def run(r1: float):
        r = gw.families.build_run(
            gw.families.make_config(
                data="digits", image_size=16, width=8, batch_size=8, latent_dim=8,
                device="cpu", run_dir=str(tmp_path / f"r1-{r1}"), r1=r1, r1_every=4,
                augment="none", ema=0.0, max_steps=8,
            )
        ).start()  # fmt: skip
        assert r.wait(120) == "finished"
        return r.history

    with_r1, without = run(0.2), run(0.0)
    steps = with_r1["step"].astype(int)
    r1 = with_r1["r1"]
    assert list(steps[r1 > 0]) == [4, 8] and (r1[steps % 4 != 0] == 0).all()
    assert (without["r1"] == 0).all()
    torch.testing.assert_close(
        torch.tensor(with_r1["loss_d"][:4]), torch.tensor(without["loss_d"][:4])
    )
