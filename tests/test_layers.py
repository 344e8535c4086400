"""The data flow points one way: the package never imports the parity harness, and the
stages below ``api`` (results, inference, diagnostics and everything they build on) never
import ``interlace.api`` (a refit goes through the model object a result carries)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "interlace"


def _imports(path: Path) -> set[str]:
    """Every module a file imports (absolute names; relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            out.add(base)
    return out


FILES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_the_package_never_imports_the_harness(path):
    bad = [m for m in _imports(path) if m == "parity" or m.startswith("parity.")]
    assert not bad, f"{path.relative_to(SRC)} imports {bad}"


LOWER = ("results", "inference", "diagnostics", "deviance", "design", "formula", "linalg",
         "optimize")


@pytest.mark.parametrize("path", [p for p in FILES if p.relative_to(SRC).parts[0] in LOWER],
                         ids=lambda p: str(p.relative_to(SRC)))
def test_stages_below_api_never_import_it(path):
    assert "interlace.api" not in _imports(path), f"{path.relative_to(SRC)} imports api"


def test_the_certify_entry_point_is_registered():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="interlace.certify") if e.name == "lme4"]
    assert ep.value == "parity.certify:certify_result"
