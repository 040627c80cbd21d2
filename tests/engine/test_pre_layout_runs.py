"""Run directories written before the family layout (commit 7d6cdc7: the GAN and VAE code
inside engine/) still load, sample the same numbers and resume. The fixtures are tiny runs of
4 steps on the digits (8 x 8 images) that the old code wrote; the sums below are what the old
code's `run.sample(z=zeros)` gave for them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import genai_widgets as gw
from genai_widgets.engine.run import RUNS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pre_layout_runs"
# (run, latent_dim, sum of sample(z=zeros(2, d)) under the code that wrote it)
CASES = [("gan", 8, 0.005378446541726589), ("vae", 4, 8.987746238708496)]


@pytest.mark.parametrize(("name", "latent_dim", "expected"), CASES)
def test_a_run_written_before_the_layout_loads_samples_alike_and_resumes(
    tmp_path, name, latent_dim, expected
):
    # The run is named after its directory; a bare "gan" would clash with the magics tests'
    # `--as gan` in this process's run registry.
    run_dir = tmp_path / f"pre-layout-{name}"
    shutil.copytree(FIXTURES / name, run_dir)
    run = gw.load_run(run_dir, device="cpu")
    assert run.family.name == name and run.status == "finished" and run.step == 4
    assert run.has_weights and run.snapshot_count >= 1
    assert len(run.history["step"]) == 4
    z = torch.zeros(2, latent_dim)
    assert float(run.sample(z=z).sum()) == pytest.approx(expected, rel=1e-5, abs=1e-6)
    run.set(max_steps=6)
    run.resume()
    assert run.wait(60) == "finished" and run.step == 6
    RUNS.pop(run.name, None)
