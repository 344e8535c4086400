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
GLMM_REQUIRED = ("id", "dataset", "formula", "family", "link", "nAGQ", "level", "tags", "notes")


def case_contrasts(case: dict):
    """The ``contrasts=`` of interlace's call for a case: its ``contrasts`` (variable →
    R contrast function, lmer's ``contrasts``) and ``contrasts_default`` ((unordered,
    ordered), R's ``options(contrasts = )``), or None for R's defaults."""
    if not case.get("contrasts") and not case.get("contrasts_default"):
        return None
    from interlace.design.contrasts import DEFAULT_CONTRASTS, Contrasts

    default = case.get("contrasts_default") or DEFAULT_CONTRASTS
    return Contrasts(case.get("contrasts") or {}, unordered=default[0], ordered=default[1])


def _check_contrasts(entry: dict, kind: str) -> None:
    """A case's contrasts name R's functions exactly as R needs them (``contr.sum``)."""
    from interlace.design.contrasts import CONTRASTS

    names = list((entry.get("contrasts") or {}).values()) + list(
        entry.get("contrasts_default") or [])
    bad = [n for n in names if n not in CONTRASTS]
    if bad or len(entry.get("contrasts_default") or [0, 0]) != 2:
        raise ValueError(f"{kind} {entry['id']!r}: contrasts must be R's function names "
                         f"{list(CONTRASTS)} (contrasts_default a pair); got {bad}")


def _require(entry: dict, keys: tuple[str, ...], kind: str, seen: set[str]) -> None:
    """An entry has every required key and a new id (added to ``seen``)."""
    missing = [k for k in keys if k not in entry]
    if missing:
        raise ValueError(f"{kind} {entry.get('id')!r} lacks {missing}")
    if entry["id"] in seen:
        raise ValueError(f"duplicate case id {entry['id']!r}")
    seen.add(entry["id"])
    _check_contrasts(entry, kind)


def load_catalog(path: Path = CATALOG) -> dict:
    """{"datasets": {name: package}, "cases": [...], "diagnostics": [...]}, validated."""
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    datasets = raw.get("datasets", {})
    cases = raw.get("case", [])
    seen = set()
    for case in cases:
        _require(case, REQUIRED, "case", seen)
        if case["method"] not in METHODS or case["level"] not in LEVELS:
            raise ValueError(f"case {case['id']!r}: bad method or level")
        if case["dataset"] not in datasets:
            raise ValueError(f"case {case['id']!r}: dataset {case['dataset']!r} not in [datasets]")
    glmm = raw.get("glmm", [])
    for g in glmm:
        _require(g, GLMM_REQUIRED, "glmm", seen)
        if g["dataset"] not in datasets or g["level"] not in LEVELS:
            raise ValueError(f"glmm {g['id']!r}: unknown dataset or bad level")
    diagnostics = raw.get("diagnostics", [])
    ids, glmm_ids = {c["id"] for c in cases}, {g["id"] for g in glmm}
    for d in diagnostics:
        missing = [k for k in DIAG_REQUIRED if k not in d]
        if missing:
            raise ValueError(f"diagnostics {d.get('id')!r} lacks {missing}")
        if d["model"] not in ids | glmm_ids:
            raise ValueError(f"diagnostics {d['id']!r}: model {d['model']!r} is not a case")
        bad = set(d["sources"]) - set(DIAG_SOURCES)
        if bad:
            raise ValueError(f"diagnostics {d['id']!r}: unknown sources {sorted(bad)}")
        if d["model"] in glmm_ids and set(d["sources"]) != {"lme4_influence"}:
            raise ValueError(f"diagnostics {d['id']!r}: a GLMM model has lme4's influence "
                             "only (sources = [\"lme4_influence\"])")
    return {"datasets": datasets, "cases": cases, "diagnostics": diagnostics, "glmm": glmm}


def get_case(case_id: str, path: Path = CATALOG) -> dict:
    for case in load_catalog(path)["cases"]:
        if case["id"] == case_id:
            return case
    raise KeyError(case_id)
