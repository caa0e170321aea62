"""Imports run down the layers only: what each package may import, checked on the source.

Every import counts, including those inside functions and under TYPE_CHECKING, because a lazy
import is still a dependency. Tests are left out: a test may reach across layers.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def imports_of(package: str) -> dict[str, set[str]]:
    """Source file (relative to src/) -> every module name it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((SRC / package.replace(".", "/")).rglob("*.py")):
        if "tests" in path.relative_to(SRC).parts:
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(SRC))] = names
    return found


def offending(package: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    def hits(name: str, prefixes: tuple[str, ...]) -> bool:
        return any(name == p or name.startswith(p + ".") for p in prefixes)

    return sorted(
        f"{file} imports {name}"
        for file, names in imports_of(package).items()
        for name in names
        if hits(name, forbidden) and not hits(name, allowed)
    )


@pytest.mark.parametrize(
    ("package", "forbidden", "allowed"),
    [
        ("pipecraft", ("starrynight",), ()),
        (
            "starrynight.experiments",
            ("starrynight.modules", "starrynight.pipelines", "starrynight.qc"),
            (),
        ),
        (
            "starrynight.naming",
            ("starrynight.modules", "starrynight.pipelines", "starrynight.experiments"),
            (),
        ),
        (
            "starrynight.algorithms",
            ("starrynight.modules", "starrynight.pipelines", "starrynight.qc"),
            (),
        ),
        # modules type against the experiment protocol and load experiments through the registry
        (
            "starrynight.modules",
            ("starrynight.pipelines", "starrynight.experiments"),
            ("starrynight.experiments.protocol", "starrynight.experiments.registry"),
        ),
    ],
)
def test_imports_run_down_the_layers(
    package: str, forbidden: tuple[str, ...], allowed: tuple[str, ...]
):
    assert offending(package, forbidden, allowed) == []


def test_the_check_sees_a_lazy_import(tmp_path, monkeypatch):
    """The scan counts an import inside a function (so a passing layer test means something)."""
    pkg = tmp_path / "demo_pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("def f():\n    from starrynight.modules.base import get_module\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path)
    assert offending("demo_pkg", ("starrynight.modules",)) == [
        "demo_pkg/a.py imports starrynight.modules.base"
    ]
