"""The flag tables in docs/flags.md (they lived in the README until it was split into docs/)
are the generated ones, and the GAN's names every GANConfig field."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

from genai_widgets.families.gan.config import GANConfig

ROOT = Path(__file__).resolve().parents[2]
FLAGS_DOC = ROOT / "docs" / "flags.md"


def load_tool():
    spec = importlib.util.spec_from_file_location(
        "gen_flag_table", ROOT / "tools/gen_flag_table.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_flag_section_is_the_generated_one():
    tool = load_tool()
    assert tool.FLAGS_FILE == FLAGS_DOC  # the tool's default file
    readme = FLAGS_DOC.read_text(encoding="utf-8")
    assert tool.START in readme and tool.END in readme
    current = readme.split(tool.START, 1)[1].split(tool.END, 1)[0]
    assert current == tool.section(), "docs/flags.md is stale: run tools/gen_flag_table.py"


def test_vae_flag_section_is_the_generated_one():
    tool = load_tool()
    doc = FLAGS_DOC.read_text(encoding="utf-8")
    assert tool.VAE_START in doc and tool.VAE_END in doc
    current = doc.split(tool.VAE_START, 1)[1].split(tool.VAE_END, 1)[0]
    assert current == tool.vae_section(), "docs/flags.md VAE table is stale: run the tool"


def test_table_has_one_row_per_field():
    section = load_tool().section()
    for f in dataclasses.fields(GANConfig):
        assert f"| `--{f.name.replace('_', '-')}` |" in section


def test_render_appends_the_section_when_markers_are_missing(tmp_path):
    tool = load_tool()
    text = tool.render("# title\n")
    assert text.startswith("# title\n\n## Magic flags\n\n<!-- flags:start -->")
    assert tool.render(text) == text
    readme = tmp_path / "README.md"
    readme.write_text("# title\n\n<!-- flags:start -->\nold\n<!-- flags:end -->\nafter\n")
    assert tool.main(["--check", "--readme", str(readme)]) == 1
    assert tool.main(["--readme", str(readme)]) == 0
    assert tool.main(["--check", "--readme", str(readme)]) == 0
    assert tool.main(["--check", "--file", str(readme)]) == 0  # --readme is an alias of --file
    assert readme.read_text().endswith("<!-- flags:end -->\nafter\n")


def test_text_flag_section_is_the_generated_one():
    tool = load_tool()
    doc = FLAGS_DOC.read_text(encoding="utf-8")
    assert tool.TEXT_START in doc and tool.TEXT_END in doc
    current = doc.split(tool.TEXT_START, 1)[1].split(tool.TEXT_END, 1)[0]
    assert current == tool.text_section(), "docs/flags.md text table is stale: run the tool"
    assert "| `--block-size` |" in current and "| `--tokenizer` | char \\| byte |" in current
