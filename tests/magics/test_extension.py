"""`%load_ext genai_widgets` itself: the package's families' magics come from their config
classes without torch, and match the registered families; loading it again leaves one
instance of each magics class and one registry listener per shell."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import genai_widgets.magics as magics
from genai_widgets.engine import registry
from genai_widgets.families.gan.family import GANFamily
from genai_widgets.families.vae.family import VAEFamily


def test_load_ext_and_help_import_no_torch():
    probe = textwrap.dedent(
        """
        import sys
        from IPython.core.interactiveshell import InteractiveShell

        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "genai_widgets")
        shell.run_line_magic("gan_train", "--help")
        shell.run_line_magic("vae_train", "--help")
        line = shell.magics_manager.magics["line"]
        print("magics:", all(m in line for m in ("gan_train", "vae_train", "runs", "gan_runs")))
        print("torch loaded:", "torch" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "Train a GAN in a background thread" in out.stdout
    assert "Train a VAE in a background thread" in out.stdout
    assert "magics: True" in out.stdout and "torch loaded: False" in out.stdout


def test_the_builtin_trainers_are_the_registered_families():
    assert magics.Trainer.from_family(GANFamily) == magics.GAN
    assert magics.Trainer.from_family(VAEFamily) == magics.VAE
    assert {t.family for t in magics.BUILTIN} <= set(registry.families())


def _listeners_for(shell) -> list:
    return [
        listener
        for listener in registry._LISTENERS
        if getattr(getattr(listener, "__self__", None), "shell", None) is shell
    ]


def test_loading_again_replaces_the_magics(shell):
    magics.load_ipython_extension(shell)
    names = [type(c).__name__ for c in shell.configurables]
    for name in ("GANTrainMagics", "VAETrainMagics", "RunMagics"):
        assert names.count(name) == 1, names
        assert shell.configurables[names.index(name)] is shell.magics_manager.registry[name]
    assert len(_listeners_for(shell)) == 1
    assert shell.run_line_magic("runs", "").COLUMNS[0] == "name"
