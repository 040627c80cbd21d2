"""The magics through a real IPython shell that re-raises: flags map one to one onto GANConfig
fields, the body's objects drop in, bad input is a one-line UsageError that starts nothing,
defaults come from flag > %config > environment > GANConfig, and the run-control magics."""

from __future__ import annotations

import dataclasses
import re
import threading

import pytest
import torch
from IPython.core.error import UsageError
from magic_helpers import TINY, FakeRun, the_magics, threads_started_since

import genai_widgets.magics as magics
from genai_widgets.engine.run import RUNS, Run
from genai_widgets.families.gan.config import GANConfig
from genai_widgets.models import list_models

# One non-default value per GANConfig field, as flag text and as the field's value.
SAMPLES = {
    "data": ("ring", "ring"),
    "model": ("mlp", "mlp"),
    "loss": ("hinge", "hinge"),
    "latent_dim": ("7", 7),
    "image_size": ("16", 16),
    "channels": ("3", 3),
    "width": ("9", 9),
    "batch_size": ("5", 5),
    "lr": ("0.01", 0.01),
    "lr_d": ("2e-3", 0.002),
    "beta1": ("0.1", 0.1),
    "beta2": ("0.9", 0.9),
    "n_critic": ("3", 3),
    "gp_weight": ("2.5", 2.5),
    "r1": ("0.1", 0.1),
    "r1_every": ("4", 4),
    "augment": ("color,translation", "color,translation"),
    "ema": ("0.99", 0.99),
    "quality_every": ("250", 250),
    "inception_weights": ("auto", "auto"),
    "conditional": ("true", True),
    "max_steps": ("11", 11),
    "epochs": ("1.5", 1.5),
    "device": ("cpu", "cpu"),
    "seed": ("4", 4),
    "name": ("my-gan", "my-gan"),
    "run_dir": ("some/dir", "some/dir"),
    "sample_every": ("13", 13),
    "n_samples": ("16", 16),
    "checkpoint_every": ("0", 0),
    "checkpoint_every_seconds": ("2.5", 2.5),
    "log_every": ("2", 2),
    "nproc": ("2", 2),
    "nnodes": ("2", 2),
    "rdzv_endpoint": ("127.0.0.1:29500", "127.0.0.1:29500"),
    "rdzv_id": ("job-1", "job-1"),
    "max_restarts": ("1", 1),
    "step_delay": ("0.25", 0.25),
}
FIELDS = [f.name for f in dataclasses.fields(GANConfig)]


def usage_error(shell, line: str, cell: str | None = None) -> str:
    """The UsageError message the magic raises (asserted to be one line)."""
    with pytest.raises(UsageError) as info:
        if cell is None:
            shell.run_line_magic("gan_train", line)
        else:
            shell.run_cell_magic("gan_train", line, cell)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------- flags -> fields
def test_every_field_has_a_flag_and_a_sample():
    assert list(magics.flag_specs()) == FIELDS
    assert set(SAMPLES) == set(FIELDS), "add a sample value for the new GANConfig field"
    for spec in magics.flag_specs().values():
        assert spec.flag == "--" + spec.field.replace("_", "-")
        assert spec.help, f"{spec.field} has no comment in config.py"


@pytest.mark.parametrize("field", FIELDS)
def test_each_flag_maps_to_its_field(shell, built, field):
    text, value = SAMPLES[field]
    assert value != getattr(GANConfig(), field)
    shell.run_line_magic("gan_train", f"--{field.replace('_', '-')} {text}")
    (config,) = built
    assert getattr(config, field) == value
    others = {f: getattr(config, f) for f in FIELDS if f != field}
    assert others == {f: getattr(GANConfig(), f) for f in FIELDS if f != field}
    assert isinstance(shell.user_ns["run"], FakeRun)


@pytest.mark.parametrize("field", [s.field for s in magics.flag_specs().values() if s.optional])
def test_optional_flags_take_none(shell, built, field):
    shell.run_line_magic("gan_train", f"--{field.replace('_', '-')} none --as other")
    assert getattr(built[0], field) is None
    assert "other" in shell.user_ns


def test_equals_form_quotes_and_comments(shell, built):
    shell.run_line_magic("gan_train", "--lr=0.5 --run-dir 'a dir/x' --seed 3  # CI-sized")
    assert (built[0].lr, built[0].run_dir, built[0].seed) == (0.5, "a dir/x", 3)
    shell.run_line_magic("gan_train", "--name=--odd")
    assert built[1].name == "--odd"


def test_dashboard_unavailable_displays_the_run_text(shell, built, shown):
    shell.run_line_magic("gan_train", "--as g")
    assert shown == [{"text/plain": "<FakeRun fake>"}]


def test_help_prints_the_flags_and_starts_nothing(shell, built, capsys):
    shell.run_line_magic("gan_train", "--help")
    out = capsys.readouterr().out
    assert "--latent-dim INT" in out and "--as NAME" in out and "GENAI_WIDGETS_" in out
    assert built == [] and "run" not in shell.user_ns


# ---------------------------------------------------------------------------- real runs
def test_line_magic_starts_a_run_returns_at_once_and_binds_it(shell, shown, tmp_path):
    assert shell.run_line_magic("gan_train", f"{TINY} --max-steps 300 --as gan") is None
    run = shell.user_ns["gan"]
    assert isinstance(run, Run) and run.status == "running" and run.step < 300
    assert run.run_dir.parent == tmp_path / "runs"
    assert type(shown[0]).__name__ == "Dashboard"
    shell.run_line_magic("gan_stop", "gan")
    assert run.status == "stopped"


def test_ring_data_shows_the_data_space_view_in_the_dashboard(shell, shown):
    shell.run_cell_magic("gan_train", "--data ring --device cpu --max-steps 5 --as toy", "pass")
    run = shell.user_ns["toy"]
    (dashboard,) = shown
    assert type(dashboard).__name__ == "Dashboard" and dashboard.data_space_enabled
    assert run.config.model == "mlp" and run.wait(60) == "finished"
    assert "modes_covered" in run.evaluations


def test_all_flags_at_once_reach_a_real_run(shell, tmp_path):
    line = (
        f"{TINY} --loss hinge --lr 1e-3 --lr-d 2e-3 --beta1 0.3 --beta2 0.95 --n-critic 2 "
        f"--gp-weight 1 --max-steps 4 --seed 7 --name tiny --run-dir {tmp_path / 'r'} "
        f"--sample-every 2 --n-samples 9 --checkpoint-every 0 --log-every 1 --channels 1"
    )
    shell.run_line_magic("gan_train", line)
    run = shell.user_ns["run"]
    assert run.wait(60) == "finished" and run.step == 4
    c = run.config
    assert (c.loss, c.lr, c.lr_d, c.beta1, c.beta2, c.n_critic) == (
        "hinge",
        1e-3,
        2e-3,
        0.3,
        0.95,
        2,
    )
    assert (c.gp_weight, c.max_steps, c.seed, c.name, c.n_samples) == (1.0, 4, 7, "tiny", 9)
    assert run.run_dir == tmp_path / "r" and list(run.snapshot_steps()) == [1, 2, 4]


GENERATOR_BODY = """
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

class Generator(nn.Module):
    def __init__(self, latent_dim=16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, 64), nn.ReLU(), nn.Linear(64, {pixels}), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, {shape})

class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear({d_in}, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)

generator = Generator()
discriminator = Discriminator()
images = torch.rand(64, {data_shape}) * 2 - 1
train_loader = DataLoader(TensorDataset(images, torch.zeros(64)), batch_size=16, shuffle=True)
"""


def body(pixels=256, shape="1, 16, 16", d_in=256, data_shape="1, 16, 16") -> str:
    return GENERATOR_BODY.format(pixels=pixels, shape=shape, d_in=d_in, data_shape=data_shape)


def test_cell_body_models_and_loader_drop_in(shell):
    shell.run_cell_magic("gan_train", "--image-size 16 --latent-dim 16 --max-steps 5", body())
    run = shell.user_ns["run"]
    assert run.generator is shell.user_ns["generator"]
    assert run.discriminator is shell.user_ns["discriminator"]
    assert run.wait(60) == "finished" and run.step == 5
    assert run.sample(2).shape == (2, 1, 16, 16)


def test_body_objects_override_the_flags_and_stale_ones_are_ignored(shell, built):
    shell.run_cell_magic("gan_train", "--data mnist --model dcgan", body())
    config = built[0]
    assert config.data is shell.user_ns["train_loader"]
    assert config.model == (shell.user_ns["generator"], shell.user_ns["discriminator"])
    # generator / discriminator / train_loader are still in the namespace, but this body
    # does not bind them: they are not reused.
    shell.run_cell_magic("gan_train", "--data digits", "x = 1\n")
    assert (built[1].data, built[1].model) == ("digits", "dcgan")
    shell.run_cell_magic("gan_train", "", "data = torch.zeros(8, 1, 16, 16)\n")
    assert isinstance(built[2].data, torch.Tensor) and built[2].model == "dcgan"


def test_rerunning_replaces_the_bound_run(shell, capsys):
    shell.run_line_magic("gan_train", f"{TINY} --as gan")
    first = shell.user_ns["gan"]
    shell.run_line_magic("gan_train", f"{TINY} --as gan")
    second = shell.user_ns["gan"]
    assert second is not first and second.status == "running"
    assert first.wait(30) == "stopped"
    assert f"stopped the earlier run {first.name!r}" in capsys.readouterr().out


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "line, message",
    [
        (
            "--learnin-rate 3e-4",
            "unknown flag --learnin-rate; did you mean --lr? valid flags: --data --model",
        ),
        ("--latent_dim 8", "unknown flag --latent_dim; did you mean --latent-dim?"),
        ("--lr fast", "--lr expects a number or none, got 'fast'"),
        ("--max-steps 2.5", "--max-steps expects an integer or none, got '2.5'"),
        ("--gp-weight nan", "--gp-weight expects a finite number, got 'nan'"),
        ("--channels none --width none", "--width expects an integer, got 'none'"),
        ("--lr -1", "--lr must be a number > 0, got -1.0"),
        ("--image-size 2", "--image-size must be an integer >= 4, got 2"),
        ("--beta1 1", "--beta1 must be in [0, 1), got 1.0"),
        (
            "--loss wgan",
            "--loss expects one of nonsaturating, minimax, wgan-gp, hinge; got 'wgan' "
            "(did you mean 'wgan-gp'?)",
        ),
        ("--device gpu", "--device expects one of auto, cpu, cuda, mps, cuda:N; got 'gpu'"),
        (
            "--model dcgna",
            f"--model expects one of {', '.join(list_models())}; got 'dcgna' "
            "(did you mean 'dcgan'?)",
        ),
        ("--lr", "--lr expects a value (a number or none), got nothing"),
        ("--lr --seed 1", "--lr expects a value (a number or none), got nothing before --seed"),
        (
            "--run-dir --x",
            "--run-dir expects a value (a non-empty string or none), got nothing before --x "
            "(write --run-dir=VALUE for a value that starts with --)",
        ),
        ("--seed 1 --seed 2", "--seed given twice ('1' and '2'); give it once"),
        ("digits", "unexpected argument 'digits'; flags are written --name value"),
        ("--as 2fast", "--as expects a Python variable name, got '2fast'"),
        ("--as class", "--as expects a Python variable name, got 'class'"),
        ("--name 'open", 'cannot read the flags "--name \'open": No closing quotation'),
        ("--data nosuchset", "unknown data source 'nosuchset'"),
        ("--data ring --model dcgan --loss hinge --model mlp", "--model given twice"),
    ],
)
def test_bad_flags_are_one_line_usage_errors(shell, line, message):
    runs_before, threads = dict(RUNS), set(threading.enumerate())
    assert message in usage_error(shell, line)
    assert runs_before == RUNS and "run" not in shell.user_ns
    assert not threads_started_since(threads)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when CUDA is absent")
def test_unavailable_device_is_a_usage_error(shell):
    message = usage_error(shell, f"{TINY} --device cuda".replace("--device cpu ", ""))
    assert message == "device='cuda' was asked for but CUDA is not available; use 'cpu' or 'auto'"


def test_usage_error_prints_one_line_without_traceback(shell, capsys):
    result = shell.run_cell("%gan_train --lr fast")
    assert isinstance(result.error_in_exec, UsageError)
    captured = capsys.readouterr()
    assert "UsageError: --lr expects a number or none, got 'fast'" in captured.err
    assert "Traceback" not in captured.out + captured.err


@pytest.mark.parametrize(
    "cell, message",
    [
        (
            "from torch import nn\nclass Generator(nn.Module): pass\n"
            "generator = Generator\ndiscriminator = nn.Linear(2, 1)\n",
            "generator is the class Generator, not a module; create one: generator = Generator()",
        ),
        (
            "import torch\ngenerator = lambda z: z\ndiscriminator = torch.nn.Linear(2, 1)\n",
            "generator must be a torch.nn.Module instance, got function",
        ),
        (
            "import torch\ndiscriminator = torch.nn.Linear(2, 1)\n",
            "the cell body defines discriminator but not generator; define both",
        ),
        (
            "data = {'images': [1, 2, 3]}\n",
            "data of type dict ({'images': [1, 2, 3]}) is not accepted. Accepted: a data set name",
        ),
    ],
)
def test_bad_body_objects_are_usage_errors(shell, cell, message):
    threads = set(threading.enumerate())
    got = usage_error(shell, TINY, cell)
    assert message in got, got
    assert "run" not in shell.user_ns and not threads_started_since(threads)


def test_data_whose_batches_do_not_fit_the_models_is_caught_before_training(shell):
    threads = set(threading.enumerate())
    # The discriminator expects 28 x 28 inputs; the data are 16 x 16.
    message = usage_error(shell, "--image-size 16 --latent-dim 16", body(d_in=784))
    assert re.match(
        r"the discriminator failed on a batch of real data of shape \(\d+, 1, 16, 16\): "
        r"RuntimeError: mat1 and mat2 shapes cannot be multiplied",
        message,
    ), message
    # The generator makes one channel; the data have three.
    message = usage_error(shell, "--image-size 16 --latent-dim 16", body(data_shape="3, 16, 16"))
    assert message.startswith(
        "the generator makes samples of shape (1, 16, 16) but the data's samples are (3, 16, 16)"
    )
    assert "run" not in shell.user_ns and not threads_started_since(threads)


def test_error_in_the_body_is_the_users_own_and_starts_nothing(shell, built):
    with pytest.raises(ZeroDivisionError):
        shell.run_cell_magic("gan_train", TINY, "x = 1\ny = x / 0\n")
    assert built == [] and shell.user_ns["x"] == 1 and "run" not in shell.user_ns


def test_error_in_the_body_shows_only_the_bodys_frames(shell, built, capsys):
    result = shell.run_cell(f"%%gan_train {TINY}\nx = 1\ny = x / 0\n")
    assert isinstance(result.error_in_exec, ZeroDivisionError)
    out = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    assert "ZeroDivisionError" in out and "----> 3 y = x / 0" in out  # the cell's line number
    assert "magics.py" not in out and "interactiveshell.py" not in out
    assert built == []


def test_flags_are_checked_before_the_body_runs(shell):
    usage_error(shell, "--lr fast", "ran = True\n")
    assert "ran" not in shell.user_ns


# ---------------------------------------------------------------------------- defaults
def test_defaults_precedence_flag_over_config_over_env(shell, built, monkeypatch):
    monkeypatch.setenv("GENAI_WIDGETS_MAX_STEPS", "50")
    monkeypatch.setenv("GENAI_WIDGETS_WIDTH", "12")
    monkeypatch.setenv("GENAI_WIDGETS_LOSS", "hinge")
    shell.run_line_magic("gan_train", "")
    assert (built[-1].max_steps, built[-1].width, built[-1].loss) == (50, 12, "hinge")
    shell.run_line_magic("config", "GANTrainMagics.max_steps = 200")
    shell.run_line_magic("config", "GANTrainMagics.lr = 1e-3")
    shell.run_line_magic("gan_train", "")
    assert (built[-1].max_steps, built[-1].width, built[-1].lr) == (200, 12, 1e-3)
    shell.run_line_magic("gan_train", "--max-steps 7 --width 4")
    assert (built[-1].max_steps, built[-1].width, built[-1].lr) == (7, 4, 1e-3)
    # %config back to the dataclass default still beats the environment.
    shell.run_line_magic("config", "GANTrainMagics.max_steps = None")
    shell.run_line_magic("gan_train", "")
    assert built[-1].max_steps is None


def test_env_none_and_bad_env_values(shell, built, monkeypatch):
    monkeypatch.setenv("GENAI_WIDGETS_EPOCHS", "none")
    monkeypatch.setenv("GENAI_WIDGETS_DATA", "/not/a/data/set/name")  # the data layer's root
    shell.run_line_magic("gan_train", "")
    assert built[-1].epochs is None and built[-1].data == "digits"
    monkeypatch.setenv("GENAI_WIDGETS_MAX_STEPS", "lots")
    assert (
        usage_error(shell, "") == "$GENAI_WIDGETS_MAX_STEPS expects an integer or none, got 'lots'"
    )
    shell.run_line_magic("gan_train", "--max-steps 3")  # a flag wins: the variable is not used
    assert built[-1].max_steps == 3
    monkeypatch.setenv("GENAI_WIDGETS_MAX_STEPS", "0")
    assert usage_error(shell, "") == "$GENAI_WIDGETS_MAX_STEPS must be an integer >= 1, got 0"


def test_config_values_are_checked_and_named(shell, built):
    shell.run_line_magic("config", "GANTrainMagics.loss = 'wgan'")
    message = usage_error(shell, "")
    assert message.startswith("GANTrainMagics.loss expects one of nonsaturating")
    assert usage_error(shell, "--loss hinge --lr 0") == "--lr must be a number > 0, got 0.0"
    shell.run_line_magic("gan_train", "--loss hinge")
    assert built[-1].loss == "hinge"
    shell.run_line_magic("config", "GANTrainMagics.gp_weight = float('nan')")
    message = usage_error(shell, "--loss hinge")
    assert message == "GANTrainMagics.gp_weight expects a finite number, got nan"


def test_config_listing_shows_help_from_the_config_comments(shell, capsys):
    shell.run_line_magic("config", "GANTrainMagics")
    out = capsys.readouterr().out
    assert "GANTrainMagics.latent_dim=<Int>" in out and "size of z" in out
    assert "$GENAI_WIDGETS_LATENT_DIM" in out


def test_direct_assignment_counts_as_config(shell, built):
    the_magics(shell).batch_size = 8
    shell.run_line_magic("gan_train", "")
    assert built[-1].batch_size == 8


# ---------------------------------------------------------------------------- run control
def test_runs_table(shell):
    shell.run_line_magic("gan_train", f"{TINY} --max-steps 3 --name tbl")
    shell.user_ns["run"].wait(60)
    table = shell.run_line_magic("gan_runs", "")
    row = next(r for r in table.rows if r["name"] == "tbl")
    assert row["variable"] == "run"
    assert row["status"] == "finished" and row["step"] == "3/3"
    assert row["last losses"].startswith("loss_d ") and ", loss_g " in row["last losses"]
    assert row["run directory"] == str(shell.user_ns["run"].run_dir)
    text = repr(table)
    assert text.splitlines()[0].split() == [
        "name",
        "variable",
        "status",
        "step",
        "steps/s",
        "last",
        "losses",
        "run",
        "directory",
    ]
    assert "<td>tbl</td>" in table._repr_html_()
    with pytest.raises(UsageError, match="%gan_runs takes no arguments"):
        shell.run_line_magic("gan_runs", "x")


def test_runs_table_names_the_variables_that_hold_each_run(shell):
    shell.run_line_magic("gan_train", f"{TINY} --max-steps 2 --name stamp1 --as r1")
    shell.run_cell("best = r1")  # assigned by the user: listed too
    shell.run_line_magic("gan_train", f"{TINY} --max-steps 2 --name stamp2 --as r2")
    shell.run_line_magic("gan_train", f"{TINY} --max-steps 2 --name stamp3 --as r3")
    shell.run_cell("r3 = None")  # no variable holds stamp3 any more
    for name in ("r1", "r2"):
        shell.user_ns[name].wait(60)
    # IPython's output history (`_`, `_N`, `Out`) is not a variable name. Put r2 there as a
    # cell ending in `r2` does, without displaying it: a shown run's dashboard would keep its
    # flusher polling after the test.
    shell.displayhook.update_user_ns(shell.user_ns["r2"])
    assert shell.user_ns["_"] is shell.user_ns["r2"]
    table = shell.run_line_magic("gan_runs", "")
    variables = {r["name"]: r["variable"] for r in table.rows if r["name"].startswith("stamp")}
    assert variables == {"stamp1": "r1, best", "stamp2": "r2", "stamp3": "-"}
    header = repr(table).splitlines()[0].split()
    assert header[:3] == ["name", "variable", "status"]
    line = next(x for x in repr(table).splitlines() if x.startswith("stamp1 "))
    assert line.split()[1:3] == ["r1,", "best"]
    assert "<td>stamp1</td><td>r1, best</td>" in table._repr_html_()
    shell.displayhook.flush()  # the output history lets go of r2


def test_pause_resume_stop_by_name_variable_and_all(shell, capsys):
    shell.run_line_magic("gan_train", f"{TINY} --name first --as a")
    shell.run_line_magic("gan_train", f"{TINY} --name second --as b")
    a, b = shell.user_ns["a"], shell.user_ns["b"]
    shell.run_line_magic("gan_pause", "first")
    assert a.status == "paused" and b.status == "running"
    shell.run_line_magic("gan_pause", "all")
    assert b.status == "paused"
    shell.run_line_magic("gan_resume", "a")  # a variable holding a run works too
    assert a.status == "running" and b.status == "paused", (a.status, a.message, b.status)
    shell.run_line_magic("gan_stop", "all")
    assert (a.status, b.status) == ("stopped", "stopped")
    out = capsys.readouterr().out
    assert "paused 'first' at step" in out and "resumed 'first'" in out
    assert "stopped 'second' at step" in out
    shell.run_line_magic("gan_pause", "first")
    assert "'first' is stopped; nothing to pause" in capsys.readouterr().out


def test_a_name_that_is_both_a_run_and_a_variable_of_another_run_is_refused(shell):
    shell.run_line_magic("gan_train", f"{TINY} --name amb-x --as amb_y")
    shell.run_line_magic("gan_train", f"{TINY} --name amb_y --as amb_z")
    x, y = shell.user_ns["amb_y"], shell.user_ns["amb_z"]
    with pytest.raises(
        UsageError, match=r"'amb_y' is ambiguous: .* named 'amb-x'; say %gan_stop amb-x"
    ):
        shell.run_line_magic("gan_stop", "amb_y")
    assert (x.status, y.status) == ("running", "running")  # neither was touched
    shell.run_line_magic("gan_stop", "amb-x amb_z")  # unambiguous: a name, a variable
    assert (x.status, y.status) == ("stopped", "stopped")


def test_control_magics_name_the_runs_they_know(shell):
    shell.run_line_magic("gan_train", f"{TINY} --name known")
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("gan_stop", "knwon")
    assert str(info.value).startswith("no run named 'knwon' (did you mean 'known'?); runs: ")
    assert str(info.value).endswith(", or 'all'")
    with pytest.raises(UsageError, match=r"^%gan_pause needs a run name or 'all'; runs: .*known"):
        shell.run_line_magic("gan_pause", "")
    shell.run_line_magic("gan_stop", "known")


def test_resume_a_finished_run_reports_it(shell, capsys):
    shell.run_line_magic("gan_train", f"{TINY} --max-steps 2 --name done")
    shell.user_ns["run"].wait(60)
    shell.run_line_magic("gan_resume", "done")
    assert "'done' is finished; nothing to resume" in capsys.readouterr().out
