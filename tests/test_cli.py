"""`python -m genai_widgets`: headless training with the magic's flags."""

import subprocess
import sys

import genai_widgets as gw


def test_cli_trains_and_the_run_loads_in_python(tmp_path):
    run_dir = tmp_path / "cli"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "genai_widgets",
            "--image-size",
            "16",
            "--width",
            "8",
            "--batch-size",
            "16",
            "--max-steps",
            "12",
            "--device",
            "cpu",
            "--run-dir",
            str(run_dir),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "finished at step 12" in out.stdout
    run = gw.load_run(run_dir)
    assert run.step == 12 and len(run.history["loss_d"]) == 12


def test_cli_bad_flag_is_one_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "genai_widgets", "--lr", "fast"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2
    assert out.stderr.strip() == "error: --lr expects a number or none, got 'fast'"


def test_cli_trains_a_vae_with_family_vae(tmp_path):
    run_dir = tmp_path / "cli-vae"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "genai_widgets",
            "--family",
            "vae",
            "--image-size",
            "16",
            "--width",
            "8",
            "--latent-dim",
            "4",
            "--max-steps",
            "8",
            "--device",
            "cpu",
            "--run-dir",
            str(run_dir),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "finished at step 8" in out.stdout
    run = gw.load_run(run_dir)
    assert run.family.name == "vae" and run.step == 8 and len(run.history["elbo"]) == 8
    bad = subprocess.run(
        [sys.executable, "-m", "genai_widgets", "--family", "vae", "--n-critic", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown flag --n-critic")


def test_cli_help_says_what_it_does_without_importing_torch():
    probe = (
        "import sys\n"
        "from genai_widgets.__main__ import main\n"
        "code = main(['--help'])\n"
        "print('torch loaded:', 'torch' in sys.modules, 'exit:', code)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: python -m genai_widgets")
    assert "torch loaded: False exit: 0" in out.stdout
    assert "--max-steps" in out.stdout and "--family" in out.stdout
    # Notebook-only notions mean nothing on a terminal.
    assert "--as" not in out.stdout and "cell body" not in out.stdout


def test_cli_trains_a_char_transformer_with_family_text(tmp_path):
    run_dir = tmp_path / "cli-text"
    tiny = ["--block-size", "16", "--n-layer", "1", "--n-head", "2", "--n-embd", "16"]
    tiny += ["--batch-size", "4", "--eval-every", "100", "--sample-tokens", "8"]
    out = subprocess.run(
        [sys.executable, "-m", "genai_widgets", "--family", "text", *tiny, "--max-steps", "3"]
        + ["--device", "cpu", "--run-dir", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "finished at step 3" in out.stdout
    assert gw.load_run(run_dir).family.name == "text"


def test_cli_job_with_a_batch_the_ranks_cannot_share_is_one_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "genai_widgets", "--nproc", "2", "--batch-size", "15"]
        + ["--image-size", "16", "--width", "8", "--run-dir", str(tmp_path / "job")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error: batch_size=15 is the global batch and must divide")
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "job" / "launcher.log").exists()  # nothing started
