"""A family from outside the package (examples/gmm_family.py, a Gaussian mixture) is a plug-in:
registered with `gw.register_family`, it trains on a `Run`, pauses, resumes, steps, takes
settings, saves and loads, and raises the shared CapabilityError; no engine code names it."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from family_helpers import EXAMPLE, wait_until
from harness.runs import settled_step

import genai_widgets as gw
from genai_widgets.engine import registry
from genai_widgets.engine.api import build_run
from genai_widgets.engine.family import CapabilityError, NoWeights

DOC = Path(__file__).resolve().parents[2] / "docs" / "families.md"
METRICS = ["step", "time", "nll", "components_used", "lr"]


def params(run) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in run.mixture.state_dict().items()}


# ------------------------------------------------------------------ the document
def test_the_doc_shows_the_example_file_verbatim_in_under_100_lines():
    text = DOC.read_text()
    blocks = re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)
    complete = [b for b in blocks if "gw.register_family(GMMFamily)" in b]
    assert len(complete) == 1, "docs/families.md must hold the example in one python block"
    assert complete[0] == EXAMPLE.read_text(), "the doc's code block and the example differ"
    assert len(complete[0].splitlines()) < 100


# ------------------------------------------------------------------ the registry
def test_the_example_registers_itself(gmm):
    assert registry.get_family("gmm") is gmm.GMMFamily
    assert registry.families()["gmm"] is gmm.GMMFamily
    assert registry.family_for_config(gmm.GMMConfig()) is gmm.GMMFamily
    assert gw.register_family is registry.register_family
    # Importing the example again (a notebook cell re-run) defines and registers it again.
    assert registry.register_family(gmm.GMMFamily) is gmm.GMMFamily


def test_register_family_errors(gmm):
    with pytest.raises(TypeError, match="Family subclass"):
        gw.register_family(object)
    with pytest.raises(TypeError, match="Family subclass"):
        gw.register_family(gmm.GMMFamily(gmm.GMMConfig(), 2, torch.device("cpu")))

    class BadName(gmm.GMMFamily):
        name = "Gaussian-Mixture"

    with pytest.raises(ValueError, match="lower-case identifier"):
        gw.register_family(BadName)

    class NoConfig(gmm.GMMFamily):
        name = "gmm_noconfig"
        config_class = dict

    with pytest.raises(TypeError, match="RunConfig subclass"):
        gw.register_family(NoConfig)

    class Mismatch(gmm.GMMFamily):
        name = "gmm_mismatch"  # config_class is still GMMConfig, whose family is "gmm"

    with pytest.raises(ValueError, match=r"config_class.family is 'gmm'.*'gmm_mismatch'"):
        gw.register_family(Mismatch)

    class Impostor(gmm.GMMFamily):
        pass  # another class under the taken name "gmm"

    with pytest.raises(ValueError, match="registered already.*replace=True"):
        gw.register_family(Impostor)
    assert registry.get_family("gmm") is gmm.GMMFamily
    try:
        assert gw.register_family(Impostor, replace=True) is Impostor
        assert registry.get_family("gmm") is Impostor
    finally:
        gw.register_family(gmm.GMMFamily, replace=True)
    for name in ("gmm_noconfig", "gmm_mismatch"):
        assert name not in registry.families()


def test_config_validates_its_own_field_and_the_shared_ones(gmm):
    with pytest.raises(ValueError, match="components must be an integer >= 1, got 0"):
        gw.engine.build_config(gmm.GMMConfig, {"components": 0})
    with pytest.raises(ValueError, match="lr must be a number > 0"):
        gw.engine.build_config(gmm.GMMConfig, {"lr": -1.0})
    with pytest.raises(TypeError, match="did you mean 'components'"):
        gw.engine.build_config(gmm.GMMConfig, {"component": 3})
    assert gmm.GMMConfig().to_json()["family"] == "gmm"


def test_build_says_what_data_it_takes(gmm_config):
    with pytest.raises(ValueError, match="a GMM fits 2-D points; data 'digits' holds images"):
        build_run(gmm_config(data="digits"))


# ------------------------------------------------------------------ training on a Run
def test_trains_pauses_steps_takes_settings_and_resumes(gmm, gmm_config):
    run = gw.build_run(gmm_config(max_steps=None, components=4)).start()
    try:
        assert isinstance(run, gw.Run) and isinstance(run.family, gmm.GMMFamily)
        assert run.mixture is run.family.mixture  # module_names become attributes
        wait_until(lambda: run.step >= 10, 60, "10 steps")
        run.pause()
        assert run.status == "paused"
        at = settled_step(run)
        assert run.step_once() == at + 1 and run.status == "paused"
        run.set(lr=0.01)
        assert run.settings["lr"] == 0.01
        run.step_once()  # the trainer applies the change before the step
        assert run.family.opt.param_groups[0]["lr"] == 0.01
        assert run.history["lr"][-1] == 0.01
        with pytest.raises(ValueError, match="cannot set 'components'.*settable: lr, max_steps"):
            run.set(components=2)
        with pytest.raises(ValueError, match="lr must be a number > 0"):
            run.set(lr=0.0)
        assert run.settings["lr"] == 0.01
        run.resume()
        assert run.status == "running"
        wait_until(lambda: run.step >= at + 12, 60, "steps after resume")
        history = run.history
        assert list(history) == METRICS
        assert np.isfinite(history["nll"]).all() and history["nll"][-1] < history["nll"][0]
        assert set(np.unique(history["components_used"])) <= {0.0, 1.0, 2.0, 3.0, 4.0}
        samples = run.sample(16)  # while training goes on
        assert isinstance(samples, torch.Tensor) and samples.shape == (16, 2)
        assert not samples.requires_grad and samples.device.type == "cpu"
    finally:
        run.stop()
        assert run.wait(30) == "stopped"
    assert gw.engine.RUNS[run.name] is run
    assert "RunPaused" in {e.kind for e in run.events_since(0)[1]}


def test_a_missing_capability_names_the_family_and_what_it_offers(gmm, gmm_config):
    run = build_run(gmm_config(max_steps=2))
    with pytest.raises(CapabilityError) as info:
        run.interpolate(torch.zeros(1, 2), torch.ones(1, 2))
    assert isinstance(info.value, TypeError) and isinstance(info.value, AttributeError)
    text = str(info.value)
    assert "is a GMM" in text and "A GMM run offers: sample" in text, text
    assert "latent decoding" in text and "(GAN, VAE offer it)" in text, text
    # (it once named the unnamed base class LatentFamily: "e.g. gw.train_)")
    assert not re.search(r"train_\W", text), text
    assert not hasattr(run, "encode") and run.capabilities == []
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        run.no_such_thing  # noqa: B018


def test_inference_copy_is_a_copy_without_gradients(gmm_config):
    run = build_run(gmm_config(max_steps=2))
    with run.inference_copy("mixture") as mixture:
        assert mixture is not run.mixture and not mixture.training
        assert not torch.is_grad_enabled()
        assert torch.equal(mixture.means, run.mixture.means)
    assert torch.is_grad_enabled()
    with pytest.raises(KeyError), run.inference_copy("decoder"):
        pass


def test_save_load_restores_step_and_weights_and_resume_continues_exactly(gmm, gmm_config):
    straight = gw.build_run(gmm_config(max_steps=50)).start()
    assert straight.wait(60) == "finished"

    run = gw.build_run(gmm_config(max_steps=30, checkpoint_every=0)).start()
    assert run.wait(60) == "finished" and run.step == 30
    saved = run.save()
    assert saved == run.run_dir
    assert json.loads((saved / "config.json").read_text())["family"] == "gmm"
    before, samples = params(run), run.sample(8, seed=3)

    loaded = gw.load_run(saved)
    assert isinstance(loaded.family, gmm.GMMFamily) and loaded.has_weights
    assert loaded.step == 30 and loaded.status == "finished"
    assert loaded.config == dataclasses.replace(run.config, run_dir=str(saved))
    for key, value in params(loaded).items():
        assert torch.equal(value, before[key]), key
    assert torch.equal(loaded.sample(8, seed=3), samples)
    assert list(loaded.history) == METRICS and len(loaded.history["step"]) == 30

    loaded.set(max_steps=50)
    loaded.resume()
    assert loaded.wait(60) == "finished" and loaded.step == 50
    # Optimizer state and data position came back: the same as training 50 steps at once.
    for key, value in params(loaded).items():
        assert torch.allclose(value, params(straight)[key], atol=1e-6), key
    assert math.isclose(loaded.history["nll"][-1], straight.history["nll"][-1], rel_tol=1e-5)


def test_a_run_dir_without_checkpoint_opens_as_a_read_only_view(gmm, gmm_config):
    run = gw.build_run(gmm_config(max_steps=20)).start()
    assert run.wait(60) == "finished"
    shutil.rmtree(run.run_dir / "checkpoints")  # as if its process died before the first one
    view = gw.load_run(run.run_dir)
    assert isinstance(view.family, NoWeights) and not view.has_weights
    assert view.family.name == "gmm" and view.family.sample_kind == "points"
    assert view.step == 20 and list(view.history) == METRICS
    assert "no checkpoint" in (view.message or "")
    with pytest.raises(RuntimeError, match="has no weights"):
        view.sample(4)
    with pytest.raises(RuntimeError, match="has no weights"):
        view.resume()
    with pytest.raises(AttributeError, match="run.mixture does not exist"):
        view.mixture  # noqa: B018


def test_load_run_of_an_unregistered_family_says_how_to_register(gmm, gmm_config):
    run = gw.build_run(gmm_config(max_steps=3)).start()
    run.wait(30)
    registry.unregister_family("gmm")
    try:
        with pytest.raises(ValueError, match=r"unknown model family.*gw.register_family"):
            gw.load_run(run.run_dir)
    finally:
        gw.register_family(gmm.GMMFamily)


# ------------------------------------------------------------------ engine contract fixes
def test_the_run_always_takes_its_own_settings(gmm, tmp_path):
    """A config whose `settable` lists only its own hyper-parameters still trains: the Run
    reads max_steps, step_delay and sample_every itself (engine.config.ENGINE_SETTABLE), and
    `run.set` takes them on any family."""

    @dataclasses.dataclass(frozen=True)
    class LrOnlyConfig(gmm.GMMConfig):
        family = "gmm_lr_only"
        settable = ("lr",)

    class LrOnly(gmm.GMMFamily):
        name = "gmm_lr_only"
        config_class = LrOnlyConfig

    gw.register_family(LrOnly)
    try:
        run = gw.build_run(LrOnlyConfig(max_steps=5, device="cpu", run_dir=str(tmp_path / "r")))
        run.start()
        assert run.wait(30) == "finished" and run.step == 5
        run.set(max_steps=8, step_delay=0.0, sample_every=2)
        assert run.settings == {"lr": 0.05, "max_steps": 8, "step_delay": 0.0, "sample_every": 2}
        run.resume()
        assert run.wait(30) == "finished" and run.step == 8
    finally:
        registry.unregister_family("gmm_lr_only")


def test_non_finite_loss_error_is_exported():
    assert gw.NonFiniteLossError is gw.engine.NonFiniteLossError
