"""Evaluators: live measures computed on copies of the models, on their own thread, recorded
with their own step column, visible in `run.history` and kept in the run store."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import genai_widgets as gw
from genai_widgets.engine.evaluators import Evaluator, ModelCopies, merge_into_history
from genai_widgets.engine.store import RunReader


def mean_output(calls: list):
    z = torch.randn(8, 16, generator=torch.Generator().manual_seed(0))

    def fn(models: ModelCopies) -> dict[str, float]:
        calls.append((threading.get_ident(), threading.current_thread().name, models.step))
        return {"mean_out": float(models.generate(z).mean())}

    return fn


def test_evaluation_runs_off_the_trainer_thread(tiny):
    calls: list = []
    run = gw.families.build_run(gw.families.make_config(**tiny(max_steps=30)))
    run.add_evaluator(Evaluator("mean", mean_output(calls), every_steps=5, min_interval_s=0))
    run.start()
    trainer = run._thread
    assert run.wait(60) == "finished"
    assert calls, "the evaluator never ran"
    idents = {ident for ident, _, _ in calls}
    assert trainer.ident not in idents
    assert threading.get_ident() not in idents
    assert all(name.startswith("genai-widgets-eval:") for _, name, _ in calls)
    # The final step is always evaluated, after the trainer ended.
    assert calls[-1][2] == 30


def test_results_have_their_own_step_column_and_show_in_history(tiny):
    calls: list = []
    run = gw.families.build_run(gw.families.make_config(**tiny(max_steps=25)))
    run.add_evaluator(
        Evaluator(
            "mean", mean_output(calls), every_steps=5, min_interval_s=0, columns=("mean_out",)
        )
    )
    assert "mean_out" in run.evaluations and "mean_out" in run.history  # declared up front
    run.start()
    assert run.wait(60) == "finished"
    ev = run.evaluations
    assert set(ev) == {"step", "time", "mean_out"}
    assert len(ev["step"]) == len(calls) and ev["step"][-1] == 25
    assert np.all(np.diff(ev["step"]) > 0) and np.isfinite(ev["mean_out"]).all()
    h = run.history
    assert len(h["mean_out"]) == len(h["step"])
    measured = ~np.isnan(h["mean_out"])
    assert h["step"][measured].tolist() == ev["step"].tolist()
    assert h["mean_out"][measured].tolist() == ev["mean_out"].tolist()
    assert "mean_out" in run.evaluation_names and "mean_out" not in run.metric_names


def test_evaluations_are_stored_and_come_back_with_load_run(tiny):
    calls: list = []
    run = gw.families.build_run(gw.families.make_config(**tiny(max_steps=20)))
    run.add_evaluator(Evaluator("mean", mean_output(calls), every_steps=5, min_interval_s=0))
    run.start()
    assert run.wait(60) == "finished"
    stored = RunReader(run.run_dir).evaluations()
    assert stored["step"].tolist() == run.evaluations["step"].tolist()
    np.testing.assert_allclose(stored["mean_out"], run.evaluations["mean_out"], rtol=1e-6)
    again = gw.load_run(run.run_dir)
    np.testing.assert_allclose(again.evaluations["mean_out"], run.evaluations["mean_out"])
    assert np.nanmax(again.history["mean_out"]) == pytest.approx(np.max(stored["mean_out"]))


def test_a_failing_evaluator_does_not_stop_training(tiny):
    def broken(models):
        raise RuntimeError("no good")

    run = gw.families.build_run(gw.families.make_config(**tiny(max_steps=15)))
    run.add_evaluator(Evaluator("broken", broken, every_steps=5, min_interval_s=0))
    run.start()
    assert run.wait(60) == "finished" and run.step == 15
    assert "no good" in run._evaluations.errors["broken"]
    kinds = [e.kind for e in run.events_since(0)[1]]
    assert kinds.count("EvaluationFailed") == 1  # reported once, not at every evaluation


def test_evaluator_checks():
    with pytest.raises(ValueError, match="every_steps or every_seconds"):
        Evaluator("x", lambda m: {}, every_steps=None, every_seconds=None)
    with pytest.raises(ValueError, match="every_steps must be"):
        Evaluator("x", lambda m: {}, every_steps=0)
    with pytest.raises(TypeError, match="callable"):
        Evaluator("x", 3)


def test_evaluator_names_and_columns_must_not_clash(tiny):
    run = gw.families.build_run(gw.families.make_config(**tiny(max_steps=5)))
    run.add_evaluator(Evaluator("a", lambda m: {}))
    with pytest.raises(ValueError, match="already has an evaluator named 'a'"):
        run.add_evaluator(Evaluator("a", lambda m: {}))
    with pytest.raises(ValueError, match="loss_d"):
        run.add_evaluator(Evaluator("b", lambda m: {}, columns=("loss_d",)))


def test_merge_into_history_aligns_on_the_nearest_step():
    history = {"step": np.array([1.0, 2, 3, 4, 5]), "loss_d": np.ones(5)}
    evals = {"step": np.array([2.0, 5]), "time": np.zeros(2), "cov": np.array([0.5, 0.75])}
    merged = merge_into_history(history, evals)
    assert merged["loss_d"] is history["loss_d"]
    np.testing.assert_array_equal(merged["cov"], [np.nan, 0.5, np.nan, np.nan, 0.75])
    # Folded blocks hold mean steps: an evaluation lands on the nearest row.
    folded = {"step": np.array([8.5, 24.5, 33.0])}
    out = merge_into_history(folded, {"step": np.array([10.0, 33]), "cov": np.array([1.0, 2])})
    np.testing.assert_array_equal(out["cov"], [1.0, np.nan, 2.0])
    assert merge_into_history(history, {"step": np.zeros(0), "time": np.zeros(0)}) is history


def test_model_copies_follow_the_weights_without_touching_them(tiny):
    run = gw.families.build_run(gw.families.make_config(**tiny(max_steps=3)))
    copies = ModelCopies(run)
    assert copies.refresh() == 0
    z = torch.randn(4, 16)
    sampler = run.family.inference_modules()["generator"]  # the average, calibrated
    with torch.no_grad():
        expected = sampler.eval()(z.view(4, *run.family.latent_shape))
    torch.testing.assert_close(copies.generate(z), expected)
    assert copies.generator is not run.generator and copies.generator is not sampler
    assert not any(p.requires_grad for p in copies.generator.parameters())
    run.start()
    assert run.wait(60) == "finished"
    assert copies.refresh() == 3
    sampler = run.family.inference_modules()["generator"]  # the weight average (GANConfig.ema)
    with torch.no_grad():
        sampler.eval()
        torch.testing.assert_close(copies.generate(z), sampler(z.view(4, *run.family.latent_shape)))


def test_live_copies_hold_the_generator_being_trained_not_its_average(tiny):
    run = gw.train_gan(**tiny(max_steps=5, ema=0.9))
    assert run.wait(60) == "finished"
    average, live = ModelCopies(run), ModelCopies(run, live=True)
    average.refresh(), live.refresh()
    z = torch.randn(4, 16)
    shape = (4, *run.family.latent_shape)
    with torch.no_grad():
        run.generator.eval()
        sampler = run.family.inference_modules()["generator"]
        assert sampler is not run.generator  # ema on: sampling reads the average
        torch.testing.assert_close(live.generate(z), run.generator(z.view(shape)))
        torch.testing.assert_close(average.generate(z), sampler.eval()(z.view(shape)))
        assert not torch.allclose(live.generate(z), average.generate(z))
