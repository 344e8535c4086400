"""Read and validate parity/catalog.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

CATALOG = Path(__file__).with_name("catalog.toml")
REQUIRED = ("id", "dataset", "formula", "method", "optimizer", "level", "tags", "notes")
METHODS = ("REML", "ML")
LEVELS = ("quick", "full")
DIAG_REQUIRED = ("id", "model", "level", "sources", "tags", "notes")
DIAG_SOURCES = ("hlmdiag_onestep", "hlmdiag_refit", "lme4_influence", "brute_force")


def load_catalog(path: Path = CATALOG) -> dict:
    """{"datasets": {name: package}, "cases": [...], "diagnostics": [...]}, validated."""
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    datasets = raw.get("datasets", {})
    cases = raw.get("case", [])
    seen = set()
    for case in cases:
        missing = [k for k in REQUIRED if k not in case]
        if missing:
            raise ValueError(f"case {case.get('id')!r} lacks {missing}")
        if case["id"] in seen:
            raise ValueError(f"duplicate case id {case['id']!r}")
        seen.add(case["id"])
        if case["method"] not in METHODS or case["level"] not in LEVELS:
            raise ValueError(f"case {case['id']!r}: bad method or level")
        if case["dataset"] not in datasets:
            raise ValueError(f"case {case['id']!r}: dataset {case['dataset']!r} not in [datasets]")
    diagnostics = raw.get("diagnostics", [])
    ids = {c["id"] for c in cases}
    for d in diagnostics:
        missing = [k for k in DIAG_REQUIRED if k not in d]
        if missing:
            raise ValueError(f"diagnostics {d.get('id')!r} lacks {missing}")
        if d["model"] not in ids:
            raise ValueError(f"diagnostics {d['id']!r}: model {d['model']!r} is not a case")
        bad = set(d["sources"]) - set(DIAG_SOURCES)
        if bad:
            raise ValueError(f"diagnostics {d['id']!r}: unknown sources {sorted(bad)}")
    return {"datasets": datasets, "cases": cases, "diagnostics": diagnostics}


def get_case(case_id: str, path: Path = CATALOG) -> dict:
    for case in load_catalog(path)["cases"]:
        if case["id"] == case_id:
            return case
    raise KeyError(case_id)
