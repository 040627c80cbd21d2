"""The layering rules of the package (DESIGN.md): imports point one way.

Every module under genai_widgets/ is parsed with `ast` and every import in it is checked:
top-level, inside functions and classes, under `if TYPE_CHECKING:`, relative or absolute,
and `importlib.import_module("...")` with a literal name. A new file is covered without being
listed here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "genai_widgets"

# layer -> the layers it must never import (the package's top level, `genai_widgets/__init__`
# and `__main__`, composes them all and has no rule).
FORBIDDEN = {
    "engine": {"families", "quality", "widgets", "magics", "models", "data"},
    "families": {"widgets", "magics"},
    "quality": {"families", "widgets", "magics", "models"},
    "data": {"engine", "families", "quality", "widgets", "magics", "models"},
    "models": {"engine", "families", "quality", "widgets", "magics"},
    "widgets": {"magics"},
}


def _module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of `from <level dots><name> import ...` inside `module`."""
    if level == 0:
        return name or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def imports_of(path: Path, package: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, at any depth."""
    module = _module_name(path, package)
    is_package = path.name == "__init__.py"
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, is_package, node.level, node.module)
            found.append((node.lineno, target))
            # `from . import widgets` names a submodule as an imported name
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def layer_of(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "genai_widgets" or len(parts) < 2:
        return None
    return parts[1]


def violations(package: Path = PACKAGE) -> list[str]:
    out = []
    for path in sorted(package.rglob("*.py")):
        own = layer_of(_module_name(path, package))
        banned = FORBIDDEN.get(own or "", set())
        for line, target in imports_of(path, package):
            if layer_of(target) in banned:
                rel = path.relative_to(package.parent)
                out.append(f"{rel}:{line} ({own}) imports {target} ({layer_of(target)})")
    return sorted(set(out))


def test_imports_point_one_way():
    assert violations() == []


def test_the_walker_sees_function_level_and_relative_imports(tmp_path):
    # A fake package laid out like the real one: the checker must catch a function-level
    # relative import from the engine into the widgets, and an import_module literal.
    root = tmp_path / "genai_widgets"
    (root / "engine").mkdir(parents=True)
    (root / "widgets").mkdir()
    for init in (root / "__init__.py", root / "engine" / "__init__.py"):
        init.write_text("")
    (root / "widgets" / "__init__.py").write_text("")
    (root / "engine" / "bad.py").write_text(
        "import importlib\n"
        "def f():\n"
        "    from ..widgets import dashboard\n"
        "    return importlib.import_module('genai_widgets.magics')\n"
    )
    found = violations(root)
    assert any("bad.py:3" in v and "genai_widgets.widgets" in v for v in found), found
    assert any("bad.py:4" in v and "genai_widgets.magics" in v for v in found), found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_each_layer_exists(layer):
    assert (PACKAGE / layer / "__init__.py").exists() or (PACKAGE / f"{layer}.py").exists()
