"""Shared fixtures: the parity catalog, R fixtures and a cache of fitted cases."""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from parity.catalog import load_catalog  # noqa: E402
from parity.data import load_dataset  # noqa: E402
from parity.pyside import fit_case, run_case  # noqa: E402

FIXTURES = ROOT / "fixtures" / "r"


def catalog_cases(level: str | None = "quick") -> list[dict]:
    """Catalog cases of one level (all levels with None)."""
    return [c for c in load_catalog()["cases"] if level is None or c["level"] == level]


@cache
def r_fixture(case_id: str) -> dict:
    """lme4's stored reference for a case."""
    return json.loads((FIXTURES / f"{case_id}.json").read_text())


@cache
def dataset(name: str):
    """A catalog dataset (cached; do not mutate)."""
    return load_dataset(name)


@cache
def fitted(case_id: str):
    """Our fit of a catalog case (cached)."""
    case = next(c for c in catalog_cases(None) if c["id"] == case_id)
    return fit_case(case, dataset(case["dataset"]))


@pytest.fixture(scope="session")
def sleepstudy():
    return dataset("sleepstudy").copy()


@cache
def parity_run(case_id: str):
    """(our optimum, ours at lme4's θ̂, result) for a catalog case (cached)."""
    case = next(c for c in catalog_cases(None) if c["id"] == case_id)
    return run_case(case, r_fixture(case_id), dataset(case["dataset"]))
