"""lmerTest's ``ranova(m)``, the reference for ``interlace.ranova``:
``python -m parity.ranova_fixtures`` runs ``parity/r/ranova_reference.R`` →
``fixtures/r/ranova.json``."""

from __future__ import annotations

from parity.data import DATA_DIR, ROOT
from parity.rscript import write_reference

OUT = ROOT / "fixtures" / "r" / "ranova.json"
#: a correlated slope (reduced to its intercept), crossed terms, a last term removed (R's
#: lm then, REML and ML), uncorrelated terms (||), a factor-by-slope fixed part
TESTS = [
    {"id": "sleep_slope", "dataset": "sleepstudy",
     "formula": "Reaction ~ Days + (Days | Subject)", "REML": True},
    {"id": "penicillin", "dataset": "Penicillin",
     "formula": "diameter ~ 1 + (1 | plate) + (1 | sample)", "REML": True},
    {"id": "sleep_intercept_reml", "dataset": "sleepstudy",
     "formula": "Reaction ~ Days + (1 | Subject)", "REML": True},
    {"id": "sleep_intercept_ml", "dataset": "sleepstudy",
     "formula": "Reaction ~ Days + (1 | Subject)", "REML": False},
    {"id": "sleep_uncorrelated", "dataset": "sleepstudy",
     "formula": "Reaction ~ Days + (Days || Subject)", "REML": True},
    {"id": "orthodont", "dataset": "Orthodont",
     "formula": "distance ~ age * Sex + (age | Subject)", "REML": True},
]


SCRIPT = "ranova_reference.R"


def request() -> dict:
    """The request ranova_reference.R takes."""
    return {"data_dir": str(DATA_DIR), "tests": TESTS}


def main() -> int:
    return write_reference(SCRIPT, request(), OUT, "ranova")


if __name__ == "__main__":
    raise SystemExit(main())
