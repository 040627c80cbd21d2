"""Each loss against a hand computation on fixed logits."""

import math

import pytest
import torch
from torch import nn

from genai_widgets.engine.losses import (
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
    from genai_widgets.engine.gan_step import GANParts, gan_step

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

    run = gw.engine.build_run(
        gw.engine.make_config(
            data="digits", image_size=16, width=8, batch_size=8, latent_dim=8, device="cpu",
            run_dir=str(tmp_path / "lazy"), r1=0.2, r1_every=4, augment="none", max_steps=8,
        )
    )  # fmt: skip
    seen = []
    import genai_widgets.engine.gan_family as gf

    real_step = gf.gan_step
    gf.gan_step = lambda *a, **k: seen.append((k["r1"], k["r1_now"])) or real_step(*a, **k)
    try:
        run.start()
        assert run.wait(120) == "finished"
    finally:
        gf.gan_step = real_step
    assert [now for _, now in seen] == [False, False, False, True] * 2
    assert all(r1 == pytest.approx(0.8) for r1, _ in seen)  # weighted r1_every times
