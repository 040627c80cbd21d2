"""A family from outside the package, registered after `%load_ext genai_widgets`, gets its
magics at once: `%toymix_train` appears with register_family, its flags are its config's
fields (help and choices from the comments, `%config TOYMIXTrainMagics`, environment
defaults `GENAI_WIDGETS_TOYMIX_<FIELD>`), the body supplies its one module, the run trains
through the real engine, and `%runs`, `%pause`, `%resume`, `%stop` act on it."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
import torch
from IPython.core.error import UsageError
from torch import Tensor, nn

import genai_widgets as gw
import genai_widgets.magics as magics
from genai_widgets.data import get_dataset
from genai_widgets.engine import registry
from genai_widgets.engine.config import RunConfig, positive_int
from genai_widgets.engine.family import Built, Family

INITS = ("random", "data")  # where the component means start


@dataclass(frozen=True)
class ToyMixConfig(RunConfig):
    """A mixture of isotropic Gaussians on 2-D points."""

    family: ClassVar[str] = "toymix"
    settable: ClassVar[tuple[str, ...]] = ("lr", "max_steps", "sample_every", "step_delay")

    data: Any = "ring"  # a 2-D point set: ring or grid
    model: Any = None  # a Mixture module, or None for a new one
    components: int = 8  # mixture components
    init: str = "random"  # one of INITS
    lr: float = 0.05  # Adam learning rate of the means and the spread
    batch_size: int = 128  # points per update

    def validate(self, resolved: bool = False) -> None:
        super().validate(resolved)
        positive_int("components", self.components)
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}; got {self.init!r}")


class Mixture(nn.Module):
    def __init__(self, components: int = 8):
        super().__init__()
        self.means = nn.Parameter(torch.randn(components, 2) * 0.5)
        self.log_std = nn.Parameter(torch.tensor(-1.0))

    def nll(self, x: Tensor) -> Tensor:
        """Mean negative log-likelihood of the points `x` (N x 2)."""
        var = torch.exp(2 * self.log_std)
        d2 = ((x[:, None, :] - self.means[None]) ** 2).sum(-1)
        log_p = -d2 / (2 * var) - torch.log(2 * math.pi * var)
        return -(torch.logsumexp(log_p, dim=1) - math.log(len(self.means))).mean()


class ToyMixFamily(Family):
    name = "toymix"
    config_class = ToyMixConfig
    module_names = ("mixture",)
    sample_kind = "points"
    panels = ("controls", "curves")
    description = "a Gaussian mixture fitted by gradient descent (a test's outside family)"
    metric_names = ("nll",)

    def __init__(self, mixture: Mixture, device: torch.device):
        self.mixture = mixture.to(device)
        self.device = device
        self.optimizer = torch.optim.Adam(self.mixture.parameters(), lr=0.05)

    @classmethod
    def build(cls, config: RunConfig, device: torch.device) -> Built:
        assert isinstance(config, ToyMixConfig)
        data = get_dataset(config.data, seed=config.seed)
        if data.kind != "points":
            raise ValueError(f"toymix fits 2-D points; {config.data!r} holds {data.kind}")
        torch.manual_seed(config.seed)
        mixture = config.model if isinstance(config.model, nn.Module) else None
        if mixture is None:
            mixture = Mixture(config.components)
        if config.init == "data":
            with torch.no_grad():
                mixture.means.copy_(next(data.batches(len(mixture.means), seed=config.seed)))
        return Built(cls(mixture, device), config, data)

    def step(self, next_batch: Callable[[], Tensor], settings: Any, step: int, **_: Any) -> Tensor:
        loss = self.mixture.nll(next_batch().to(self.device))
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.detach().reshape(1)

    def apply_settings(self, settings: dict[str, Any]) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = settings["lr"]

    def state_dict(self) -> dict[str, Any]:
        return {"mixture": self.mixture.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mixture.load_state_dict(state["mixture"])
        self.optimizer.load_state_dict(state["optimizer"])

    def modules(self) -> dict[str, nn.Module]:
        return {"mixture": self.mixture}

    def sample(self, run: Any, n: int = 16, **options: Any) -> Tensor:
        with torch.no_grad():
            pick = torch.randint(len(self.mixture.means), (n,))
            return self.mixture.means[pick] + torch.randn(n, 2) * self.mixture.log_std.exp()


@pytest.fixture
def toymix(shell) -> Iterator[Any]:
    """The shell, with `Mixture` in the user's namespace; afterwards the family and its
    magics are gone again (the registry tells no one of `unregister_family`)."""
    assert "toymix" not in registry.families()
    assert "toymix_train" not in shell.magics_manager.magics["line"]
    shell.user_ns["Mixture"] = Mixture
    yield shell
    forget_family(shell, "toymix")


def forget_family(shell, name: str) -> None:
    """Unregister family `name` and take its magics off the shell."""
    registry.unregister_family(name)
    manager = shell.magics_manager
    section = f"{name.upper()}TrainMagics"
    instance = manager.registry.pop(section, None)
    for kind in ("line", "cell"):
        manager.magics[kind].pop(f"{name}_train", None)
    shell.configurables[:] = [c for c in shell.configurables if c is not instance]
    shell.config.pop(section, None)
    magics._extensions[id(shell)][0].trainers.pop(name, None)


def usage_error(shell, line: str) -> str:
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("toymix_train", line)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_family_registered_after_load_ext_gets_its_magics(toymix, built, capsys, monkeypatch):
    shell = toymix
    gw.register_family(ToyMixFamily)
    assert "toymix_train" in shell.magics_manager.magics["line"]
    assert "toymix_train" in shell.magics_manager.magics["cell"]

    shell.run_line_magic("toymix_train", "--help")
    out = capsys.readouterr().out
    assert out.startswith("Train a TOYMIX in a background thread")
    assert "--components INT" in out and "mixture components (default: 8)" in out
    assert "--init INIT" in out and "one of random, data" in out  # INITS, from this module
    assert "may define mixture, data or train_loader" in out and "$GENAI_WIDGETS_TOYMIX_" in out
    assert "--latent-dim" not in out  # a GAN's field, not this config's
    spec = magics.flag_specs(magics.Trainer.from_family(ToyMixFamily))["init"]
    assert spec.choices() == INITS and spec.env_var == "GENAI_WIDGETS_TOYMIX_INIT"

    assert usage_error(shell, "--init middle") == (
        "--init expects one of random, data; got 'middle'"
    )
    assert usage_error(shell, "--components 0") == "--components must be an integer >= 1, got 0"
    assert usage_error(shell, "--latent-dim 2").startswith("unknown flag --latent-dim;")
    shell.run_line_magic("toymix_train", "--components 3 --init data --as t")
    assert (built[-1].components, built[-1].init, type(built[-1])) == (3, "data", ToyMixConfig)

    monkeypatch.setenv("GENAI_WIDGETS_TOYMIX_COMPONENTS", "5")
    monkeypatch.setenv("GENAI_WIDGETS_COMPONENTS", "6")  # not this family's prefix
    shell.run_line_magic("toymix_train", "")
    assert built[-1].components == 5
    shell.run_line_magic("config", "TOYMIXTrainMagics.components = 4")
    shell.run_line_magic("toymix_train", "")
    assert built[-1].components == 4

    shell.run_cell_magic("toymix_train", "", "mixture = Mixture(2)\n")
    assert built[-1].model is shell.user_ns["mixture"]  # one module: the module itself
    with pytest.raises(UsageError, match="mixture must be a torch.nn.Module instance"):
        shell.run_cell_magic("toymix_train", "", "mixture = 3\n")


def test_an_outside_family_trains_and_the_run_magics_list_and_control_it(toymix, capsys):
    shell = toymix
    gw.register_family(ToyMixFamily)
    shell.run_line_magic("toymix_train", "--data ring --max-steps 50 --device cpu --as g")
    run = shell.user_ns["g"]
    assert isinstance(run.family, ToyMixFamily) and isinstance(run.mixture, Mixture)
    assert run.wait(60) == "finished" and run.step == 50, run.message
    nll = run.history["nll"]
    assert len(nll) == 50 and nll[-1] < nll[0]
    assert tuple(run.sample(5).shape) == (5, 2)

    table = shell.run_line_magic("runs", "")
    row = next(r for r in table.rows if r["name"] == run.name)
    assert (row["variable"], row["status"], row["step"]) == ("g", "finished", "50/50")
    assert row["last losses"].startswith("nll ")
    assert shell.run_line_magic("gan_runs", "").rows == table.rows  # the alias: the same

    shell.run_line_magic("pause", "g")
    assert f"{run.name!r} is finished; nothing to pause" in capsys.readouterr().out

    shell.run_line_magic(
        "toymix_train", "--max-steps 100000 --step-delay 0.01 --device cpu --name tm-live --as h"
    )
    live = shell.user_ns["h"]
    shell.run_line_magic("pause", "h")
    assert live.status == "paused"
    shell.run_line_magic("resume", "tm-live")
    assert live.status == "running"
    shell.run_line_magic("stop", "all")
    assert live.status == "stopped"
    out = capsys.readouterr().out
    assert "paused 'tm-live' at step" in out and "resumed 'tm-live'" in out
    assert "stopped 'tm-live' at step" in out


def test_the_body_supplies_the_outside_familys_module(toymix):
    shell = toymix
    gw.register_family(ToyMixFamily)
    shell.run_cell_magic(
        "toymix_train", "--max-steps 5 --device cpu --as b", "mixture = Mixture(3)\n"
    )
    run = shell.user_ns["b"]
    assert run.mixture is shell.user_ns["mixture"] and len(run.mixture.means) == 3
    assert run.wait(60) == "finished" and run.step == 5


def test_registering_the_family_again_replaces_its_magics(toymix):
    shell = toymix
    gw.register_family(ToyMixFamily)
    first = shell.magics_manager.registry["TOYMIXTrainMagics"]

    @dataclass(frozen=True)
    class Wider(ToyMixConfig):
        spread: float = 1.0  # a new field

    class Again(ToyMixFamily):
        config_class = Wider

    gw.register_family(Again, replace=True)
    second = shell.magics_manager.registry["TOYMIXTrainMagics"]
    assert second is not first and second.trainer.config_class is Wider
    assert [c for c in shell.configurables if type(c).__name__ == "TOYMIXTrainMagics"] == [second]
    assert "--spread" in {s.flag for s in magics.flag_specs(second.trainer).values()}
    assert [f.name for f in dataclasses.fields(Wider)][-1] == "spread"


NOTEBOOK_CELL = """
from dataclasses import dataclass
from typing import ClassVar

import genai_widgets as gw

SHAPES = ("ring", "grid")


@dataclass(frozen=True)
class CellConfig(gw.RunConfig):
    family: ClassVar[str] = "cellfam"

    shape: str = "ring"  # one of SHAPES: the points to fit

    def validate(self, resolved=False):
        super().validate(resolved)


class CellFamily(gw.Family):
    name = "cellfam"
    config_class = CellConfig
    module_names = ("net",)


gw.register_family(CellFamily)
"""


def test_a_family_defined_in_a_notebook_cell_has_its_help_and_choices(shell, capsys):
    # `inspect` finds no source for a class defined in a cell; the magics read the cell.
    try:
        result = shell.run_cell(NOTEBOOK_CELL)
        assert result.error_in_exec is None, result.error_in_exec
        shell.run_line_magic("cellfam_train", "--help")
        out = capsys.readouterr().out
        assert "--shape SHAPE" in out and "one of ring, grid: the points to fit" in out
        with pytest.raises(UsageError, match="--shape expects one of ring, grid; got 'moon'"):
            shell.run_line_magic("cellfam_train", "--shape moon")
    finally:
        forget_family(shell, "cellfam")
