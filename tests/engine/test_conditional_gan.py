"""Class-conditional GANs (`conditional=True`): labels flow from the data into G(z, y) and the
projection discriminator D(x, y); samples by class, the grid one row per class, measures by
class, save / load / resume, user modules that take the class, and the bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import genai_widgets as gw
from genai_widgets.engine.checkpoint import list_checkpoints
from genai_widgets.families.gan.conditional import accepts_labels
from genai_widgets.families.latent import grid_labels
from genai_widgets.models import ConditionalDCGANGenerator, ProjectionDCGANDiscriminator


def test_a_short_conditional_run_draws_digits_of_the_asked_class(tiny):
    # 400 steps at lr 1e-3 gave 0.47 and 0.50 here (seeds 1, 2; chance is 0.10); at the
    # default lr 2e-4, 300 steps stayed at 0.10.
    run = gw.train_gan(**tiny(max_steps=400, lr=1e-3, conditional=True, seed=1))
    assert run.wait(300) == "finished", run.traceback_text
    assert run.n_classes == 10
    accuracy = run.label_accuracy(n=500)
    assert accuracy > 0.25, accuracy
    fids = run.class_fid(n_per_class=40)
    assert sorted(fids) == list(range(10))
    assert all(np.isfinite(v) and v >= 0 for v in fids.values())


def test_sample_by_label_and_the_grid_one_row_per_class(tiny):
    run = gw.train_gan(**tiny(max_steps=2, conditional=True))  # n_samples auto: 10 ** 2
    assert run.wait(60) == "finished", run.traceback_text
    assert run.config.n_samples == 100
    assert run.sample(5, labels=3).shape == (5, 1, 16, 16)
    assert run.sample(6, labels=[1, 2]).shape == (6, 1, 16, 16)
    assert run.sample(4, labels=torch.tensor([0, 9, 9, 0])).shape == (4, 1, 16, 16)
    z = run.random_z(3, seed=0)
    # The class changes the image for the same z: G reads y.
    a, b = run.sample(z=z, labels=0), run.sample(z=z, labels=7)
    assert not torch.allclose(a, b)
    assert torch.equal(run.sample(z=z, labels=7), b)  # and only y: the same call repeats
    # The fixed grid: 10 x 10 (the snapshots' layout), row i all class i.
    rows = run.fixed_labels.view(10, 10)
    assert torch.equal(rows, torch.arange(10).unsqueeze(1).expand(10, 10))
    assert run.get_snapshot(run.snapshot_count - 1).shape == (100, 16, 16, 1)
    assert torch.equal(grid_labels(9, 3), torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2]))
    # The explorer's strips take one class (default 0).
    assert run.interpolate(z[0], z[1], steps=4, labels=5).shape == (4, 1, 16, 16)
    assert run.traverse(z[0], dims=[0, 1], values=[-1, 1], labels=2).shape == (4, 1, 16, 16)


def test_labels_outside_the_classes_and_on_unconditional_runs_are_refused(tiny):
    run = gw.train_gan(**tiny(max_steps=1, conditional=True))
    run.wait(60)
    with pytest.raises(ValueError, match=r"labels \[10, 12\] are outside.*0\.\.9"):
        run.sample(3, labels=[1, 12, 10])
    with pytest.raises(ValueError, match=r"labels \[-1\] are outside"):
        run.sample(2, labels=-1)
    with pytest.raises(ValueError, match="class ids"):
        run.sample(2, labels=1.5)
    with pytest.raises(ValueError, match="3 entries for 2 samples"):
        run.sample(2, labels=[1, 2, 3])
    plain = gw.train_gan(**tiny(max_steps=1))
    plain.wait(60)
    with pytest.raises(ValueError, match="labels=3 was given, but this run is not class-cond"):
        plain.sample(2, labels=3)
    with pytest.raises(ValueError, match="class_fid is for a class-conditional run"):
        plain.class_fid()
    assert plain.n_classes is None and plain.fixed_labels is None


@pytest.mark.parametrize(
    "data, said",
    [
        ("ring", "holds 2-D points"),
        (torch.rand(64, 1, 16, 16), "holds images without labels"),
        (DataLoader(TensorDataset(torch.rand(32, 1, 16, 16)), batch_size=8), "without labels"),
    ],
    ids=["toy", "tensor", "unlabelled-loader"],
)
def test_conditional_on_unlabelled_data_is_refused(tmp_path, data, said):
    with pytest.raises(ValueError, match=f"conditional=True needs labelled images.*{said}"):
        gw.train_gan(data=data, conditional=True, device="cpu", run_dir=str(tmp_path / "r"))


def test_conditional_must_be_a_bool(tmp_path):
    with pytest.raises(ValueError, match="conditional must be True or False, got 'yes'"):
        gw.train_gan(conditional="yes", device="cpu", run_dir=str(tmp_path / "r"))


def test_resume_of_a_conditional_run_equals_one_long_run(tiny):
    straight = gw.train_gan(**tiny(max_steps=16, seed=3, conditional=True, sample_every=4))
    first = gw.train_gan(**tiny(max_steps=8, seed=3, conditional=True, sample_every=4))
    assert straight.wait(60) == "finished" and first.wait(60) == "finished"
    state = torch.load(list_checkpoints(first.save())[-1], weights_only=True)
    assert "embed.weight" in state["generator"]  # the checkpoint holds both embeddings
    assert "embed.weight" in state["discriminator"] and state["n_classes"] == 10
    loaded = gw.load_run(first.run_dir)
    assert loaded.n_classes == 10 and torch.equal(loaded.fixed_labels, first.fixed_labels)
    z = first.random_z(4, seed=1)
    assert torch.equal(loaded.sample(z=z, labels=[2, 5]), first.sample(z=z, labels=[2, 5]))
    loaded.set(max_steps=16)
    loaded.resume()
    assert loaded.wait(60) == "finished", loaded.traceback_text
    for col in ("loss_d", "loss_g", "d_real", "d_fake"):
        assert np.array_equal(loaded.history[col], straight.history[col]), col
    assert torch.equal(loaded.sample(z=z, labels=4), straight.sample(z=z, labels=4))


class _MyG(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(3, 16)
        self.net = nn.Sequential(nn.Linear(32, 256), nn.Tanh(), nn.Unflatten(1, (1, 16, 16)))

    def forward(self, z, y):
        return self.net(torch.cat([z.flatten(1), self.embed(y)], 1))


class _MyD(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(3, 256)
        self.net = nn.Linear(256, 1)

    def forward(self, x, y):
        h = x.flatten(1)
        return self.net(h).squeeze(1) + (self.embed(y) * h).sum(1)


def test_user_modules_opt_in_by_taking_the_class(tmp_path):
    images, labels = torch.rand(48, 1, 16, 16) * 2 - 1, torch.arange(48) % 3
    ds = TensorDataset(images, labels)
    ds.targets = labels  # what names the loader's classes
    loader = DataLoader(ds, batch_size=8, shuffle=True)
    run = gw.train_gan(
        data=loader,
        model=(_MyG(), _MyD()),
        conditional=True,
        latent_dim=16,
        max_steps=4,
        device="cpu",
        run_dir=str(tmp_path / "mine"),
    )
    assert run.wait(60) == "finished", run.traceback_text
    assert run.n_classes == 3 and run.sample(3, labels=[0, 1, 2]).shape == (3, 1, 16, 16)
    assert accepts_labels(_MyG()) and not accepts_labels(nn.Linear(2, 2))
    plain = nn.Sequential(nn.Flatten(), nn.Linear(256, 1))
    with pytest.raises(ValueError, match=r"needs a discriminator called as D\(x, y\)"):
        gw.train_gan(
            data=loader, model=(_MyG(), plain), conditional=True, latent_dim=16, device="cpu",
            run_dir=str(tmp_path / "d"),
        )  # fmt: skip
    with pytest.raises(ValueError, match=r"takes the class \(G\(z, y\)\): train it with cond"):
        gw.train_gan(
            data=loader, model=(_MyG(), _MyD()), latent_dim=16, device="cpu",
            run_dir=str(tmp_path / "u"),
        )  # fmt: skip


def test_loader_labels_outside_its_classes_are_named(tmp_path):
    ds = TensorDataset(torch.rand(32, 1, 16, 16), torch.tensor([0, 1] * 15 + [7, 1]))
    ds.classes = ["a", "b"]
    loader = DataLoader(ds, batch_size=8)
    run = gw.train_gan(
        data=loader, conditional=True, max_steps=8, device="cpu", width=8,
        run_dir=str(tmp_path / "bad"),
    )  # fmt: skip
    assert run.wait(60) == "failed"
    with pytest.raises(ValueError, match=r"batch 3 of the DataLoader has labels \[7\] outside"):
        run.result()


def test_the_conditional_dcgan_is_a_projection_discriminator():
    g = ConditionalDCGANGenerator(10, latent_dim=16, image_size=16, width=8)
    d = ProjectionDCGANDiscriminator(10, image_size=16, width=8).eval()
    x, y = g(torch.randn(4, 16), torch.tensor([0, 1, 2, 3])), torch.tensor([0, 1, 2, 3])
    assert x.shape == (4, 1, 16, 16)
    # D(x, y) - D(x, y') = <embed(y) - embed(y'), sum phi(x)>: only the projection differs.
    with torch.no_grad():
        phi = d.net[:-1](x).sum(dim=(2, 3))
        other = torch.tensor([5, 5, 5, 5])
        want = ((d.embed(y) - d.embed(other)) * phi).sum(1)
        assert torch.allclose(d(x, y) - d(x, other), want, atol=1e-5)
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2, got 1"):
        ConditionalDCGANGenerator(1)


def test_the_live_quality_measures_run_on_a_conditional_run(tiny):
    # The evaluator calls the generator with z alone: the classes cycle over its samples.
    run = gw.train_gan(**tiny(max_steps=4, conditional=True, quality_every=4))
    assert run.wait(120) == "finished", run.traceback_text
    ev = run.evaluations
    assert ev["step"][-1] == 4 and np.isfinite(ev["fid"]).all(), ev


def test_labelled_batches_split_over_the_ranks_of_a_job():
    # A torchrun job hands each rank rows rank*b..(rank+1)*b of every batch: labels follow.
    from genai_widgets.data import get_dataset
    from genai_widgets.engine.distributed import RankBatches

    source = get_dataset("digits", image_size=16).labelled()
    whole = next(source.batches(8, seed=3))
    halves = [next(RankBatches(source.batches(8, seed=3), rank, 2)) for rank in (0, 1)]
    assert torch.equal(torch.cat([h.x for h in halves]), whole.x)
    assert torch.equal(torch.cat([h.y for h in halves]), whole.y)
    assert torch.equal(whole.y, source.labels[_rows_of(source, whole.x)])


def _rows_of(source, x):
    flat = source.tensor.flatten(1)
    return torch.stack([(flat == row.flatten()).all(1).nonzero()[0, 0] for row in x])


def test_the_grid_size_left_auto_gives_a_row_per_class():
    from genai_widgets.families.gan.config import make_config, resolve_defaults

    assert resolve_defaults(make_config(), "images").n_samples == 64
    assert resolve_defaults(make_config(conditional=True), "images", 10).n_samples == 100
    assert resolve_defaults(make_config(conditional=True), "images", 20).n_samples == 64
    assert resolve_defaults(make_config(n_samples=36), "images", 10).n_samples == 36
