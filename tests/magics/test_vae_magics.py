"""`%%vae_train` / `%vae_train`: the same flag machinery as `%gan_train`, mapped onto
VAEConfig: one flag per field, one-line UsageErrors, the body's encoder and decoder, and
defaults from `%config VAETrainMagics` and `$GENAI_WIDGETS_VAE_<FIELD>`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from IPython.core.error import UsageError
from magic_helpers import FakeRun

import genai_widgets.magics as magics
from genai_widgets.families.vae.config import VAEConfig

TINY_VAE = "--data digits --image-size 16 --width 8 --batch-size 16 --latent-dim 4 --device cpu"
FIELDS = [f.name for f in dataclasses.fields(VAEConfig)]
# A non-default value for each VAE-only field, as flag text and as the field's value.
SAMPLES = {
    "beta": ("4", 4.0),
    "beta_warmup": ("100", 100),
    "likelihood": ("gaussian", "gaussian"),
    "likelihood_std": ("0.2", 0.2),
    "test_fraction": ("0.25", 0.25),
    "latent_dim": ("2", 2),
    "lr": ("3e-4", 3e-4),
    "model": ("conv-vae", "conv-vae"),
}


@pytest.fixture
def vae_shell(shell) -> Iterator:
    yield shell
    vae_magics = shell.magics_manager.registry["VAETrainMagics"]
    for config in (shell.config, vae_magics.config):
        config.pop("VAETrainMagics", None)
    for spec in magics.flag_specs(magics.VAE).values():
        setattr(vae_magics, spec.field, spec.default)
    vae_magics._assigned.clear()


def usage_error(shell, line: str, cell: str | None = None) -> str:
    with pytest.raises(UsageError) as info:
        if cell is None:
            shell.run_line_magic("vae_train", line)
        else:
            shell.run_cell_magic("vae_train", line, cell)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_every_vae_field_is_a_flag():
    specs = magics.flag_specs(magics.VAE)
    assert list(specs) == FIELDS
    for spec in specs.values():
        assert spec.help, f"{spec.field} has no comment in config.py"
        assert spec.env_var in (None, f"GENAI_WIDGETS_VAE_{spec.field.upper()}")
    assert "--beta" in specs["beta"].flag and specs["likelihood"].choices() == (
        "bernoulli",
        "gaussian",
    )
    assert "--n-critic" not in {s.flag for s in specs.values()}


@pytest.mark.parametrize("field", sorted(SAMPLES))
def test_vae_flags_map_to_their_fields(vae_shell, built, field):
    text, value = SAMPLES[field]
    vae_shell.run_line_magic("vae_train", f"--{field.replace('_', '-')} {text}")
    (config,) = built
    assert isinstance(config, VAEConfig) and getattr(config, field) == value
    assert isinstance(vae_shell.user_ns["run"], FakeRun)


def test_vae_mistakes_are_one_line_usage_errors(vae_shell, built):
    assert usage_error(vae_shell, "--beta -1") == "--beta must be a finite number >= 0, got -1.0"
    message = usage_error(vae_shell, "--likelihood poisson")
    assert message.startswith("--likelihood expects one of bernoulli, gaussian; got 'poisson'")
    message = usage_error(vae_shell, "--n-critic 2")
    assert message.startswith("unknown flag --n-critic;") and "--beta" in message
    assert usage_error(vae_shell, "--kl-weight 2").startswith(
        "unknown flag --kl-weight; did you mean --beta?"
    )
    assert (
        usage_error(vae_shell, "--test-fraction 1") == "--test-fraction must be in [0, 1), got 1.0"
    )
    assert built == []


def test_vae_model_of_the_wrong_family_is_a_usage_error(vae_shell):
    message = usage_error(vae_shell, f"{TINY_VAE} --model dcgan")
    assert "'dcgan' is a GAN model" in message and "conv-vae" in message


def test_vae_defaults_from_config_and_environment(vae_shell, built, monkeypatch):
    monkeypatch.setenv("GENAI_WIDGETS_VAE_MAX_STEPS", "40")
    monkeypatch.setenv("GENAI_WIDGETS_MAX_STEPS", "7")  # the GAN's: not read by %vae_train
    vae_shell.run_line_magic("vae_train", "")
    assert built[-1].max_steps == 40
    vae_shell.run_line_magic("config", "VAETrainMagics.beta = 2.5")
    vae_shell.run_line_magic("vae_train", "--max-steps 3")
    assert (built[-1].beta, built[-1].max_steps) == (2.5, 3)
    monkeypatch.setenv("GENAI_WIDGETS_VAE_BETA_WARMUP", "soon")
    assert usage_error(vae_shell, "") == (
        "$GENAI_WIDGETS_VAE_BETA_WARMUP expects an integer, got 'soon'"
    )


def test_vae_help_lists_the_vae_flags(vae_shell, built, capsys):
    vae_shell.run_line_magic("vae_train", "--help")
    out = capsys.readouterr().out
    assert "--beta-warmup INT" in out and "GENAI_WIDGETS_VAE_" in out and "--as NAME" in out
    assert built == []


VAE_BODY = """
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

encoder = nn.Sequential(nn.Flatten(), nn.Linear(256, 32), nn.ReLU(), nn.Linear(32, 8))
decoder = nn.Sequential(nn.Linear(4, 256), nn.Unflatten(1, (1, 16, 16)))
images = torch.rand(64, 1, 16, 16) * 2 - 1
train_loader = DataLoader(TensorDataset(images, torch.zeros(64)), batch_size=16, shuffle=True)
"""


def test_vae_cell_body_encoder_decoder_and_loader_drop_in(vae_shell):
    vae_shell.run_cell_magic(
        "vae_train", "--image-size 16 --latent-dim 4 --max-steps 5 --as vae", VAE_BODY
    )
    run = vae_shell.user_ns["vae"]
    assert (
        run.encoder is vae_shell.user_ns["encoder"] and run.decoder is vae_shell.user_ns["decoder"]
    )
    assert run.wait(60) == "finished" and run.step == 5
    assert run.held_out is None  # a DataLoader: nothing can be held out
    assert run.reconstruct(run.held_out_images(3)[0]).shape == (3, 1, 16, 16)
    table = vae_shell.run_line_magic("gan_runs", "")
    row = next(r for r in table.rows if r["name"] == run.name)
    assert row["last losses"].startswith("elbo ")


def test_vae_body_with_one_module_is_refused(vae_shell):
    message = usage_error(vae_shell, "", "import torch\nencoder = torch.nn.Linear(2, 2)\n")
    assert message.startswith("the cell body defines encoder but not decoder")


def test_control_magics_act_on_vae_runs(vae_shell, capsys):
    vae_shell.run_line_magic("vae_train", f"{TINY_VAE} --name vae-ctl --as v")
    vae_shell.run_line_magic("gan_pause", "v")
    assert vae_shell.user_ns["v"].status == "paused"
    vae_shell.run_line_magic("gan_stop", "vae-ctl")
    assert vae_shell.user_ns["v"].status == "stopped"
    assert "stopped 'vae-ctl' at step" in capsys.readouterr().out
