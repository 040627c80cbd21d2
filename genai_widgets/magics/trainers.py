"""`Trainer`: what the magics need of one registered model family, read from the family
class (or, for the package's own, from its config class alone, so that `%load_ext` and
`python -m genai_widgets --help` import no torch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..engine.config import RunConfig
from ..families.gan.config import GANConfig
from ..families.hmm.config import HMMConfig
from ..families.text.config import TextConfig
from ..families.vae.config import VAEConfig

if TYPE_CHECKING:
    from ..engine.family import Family

ENV_PREFIX = "GENAI_WIDGETS_"
#: Families whose environment defaults have no family infix (`GENAI_WIDGETS_MAX_STEPS`): the
#: GAN's variables predate the other families; every other family reads
#: `GENAI_WIDGETS_<FAMILY>_<FIELD>`.
BARE_ENV = frozenset({"gan"})
DEFAULT_AS = "run"


@dataclass(frozen=True)
class Trainer:
    """One family as the magics see it: `%%<family>_train` maps flags onto `config_class`,
    and the cell body may bind `modules` (the family's `module_names`)."""

    family: str  # the registered name: "gan", "vae", "gmm" ...
    config_class: type[RunConfig]  # the dataclass the flags map onto
    modules: tuple[str, ...]  # names the cell body binds the family's modules to

    @classmethod
    def from_family(cls, family: type[Family]) -> Trainer:
        """The trainer of a registered family class."""
        assert family.config_class is not None  # the registry checks it
        return cls(family.name, family.config_class, tuple(family.module_names))

    @property
    def magic(self) -> str:
        """The training magic's name: `gan_train`."""
        return f"{self.family}_train"

    @property
    def env_prefix(self) -> str:
        """Environment defaults are `env_prefix + FIELD`."""
        if self.family in BARE_ENV:
            return ENV_PREFIX
        return f"{ENV_PREFIX}{self.family.upper()}_"

    @property
    def body_names(self) -> tuple[str, ...]:
        """Names the cell body may bind; only values the body itself (re)binds are used."""
        return (*self.modules, *self.config_class.data_names)

    @property
    def settings_class(self) -> str:
        """The `%config` section: GANTrainMagics, VAETrainMagics."""
        return f"{self.family.upper()}TrainMagics"

    @property
    def title(self) -> str:
        """ "a GAN", "an RBM": the family's name read letter by letter, with its article."""
        name = self.family.upper()
        return f"{'an' if name[:1] in 'AEFHILMNORSX' else 'a'} {name}"


# The package's own families, from their config classes (no torch): the same as
# `Trainer.from_family(GANFamily)` (a test checks it); when the family module registers the
# real class, the magics compare and keep these.
GAN = Trainer("gan", GANConfig, ("generator", "discriminator"))
VAE = Trainer("vae", VAEConfig, ("encoder", "decoder"))
TEXT = Trainer("text", TextConfig, ("model",))
HMM = Trainer("hmm", HMMConfig, ())
BUILTIN = (GAN, VAE, TEXT, HMM)

__all__ = [
    "BARE_ENV",
    "BUILTIN",
    "DEFAULT_AS",
    "ENV_PREFIX",
    "GAN",
    "HMM",
    "TEXT",
    "VAE",
    "Trainer",
]
