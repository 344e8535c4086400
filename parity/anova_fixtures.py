"""lme4's ``anova(m0, m1, ...)`` likelihood-ratio tables, the reference for
``interlace.anova``: ``python -m parity.anova_fixtures`` runs ``parity/r/anova_reference.R``
→ ``fixtures/r/anova.json``."""

from __future__ import annotations

from parity.data import DATA_DIR, ROOT
from parity.rscript import write_reference

OUT = ROOT / "fixtures" / "r" / "anova.json"
#: REML fits refitted by ML (a random slope added), ML fits, crossed terms, three models in
#: a shuffled order, and GLMMs (no refit)
COMPARISONS = [
    {"id": "sleepstudy_slope", "dataset": "sleepstudy", "models": [
        {"name": "m0", "formula": "Reaction ~ Days + (1 | Subject)", "REML": True},
        {"name": "m1", "formula": "Reaction ~ Days + (Days | Subject)", "REML": True}]},
    {"id": "sleepstudy_three_ml", "dataset": "sleepstudy", "models": [
        {"name": "full", "formula": "Reaction ~ Days + (Days | Subject)", "REML": False},
        {"name": "null", "formula": "Reaction ~ 1 + (1 | Subject)", "REML": False},
        {"name": "days", "formula": "Reaction ~ Days + (1 | Subject)", "REML": False}]},
    {"id": "penicillin_crossed", "dataset": "Penicillin", "models": [
        {"name": "plate", "formula": "diameter ~ 1 + (1 | plate)", "REML": True},
        {"name": "both", "formula": "diameter ~ 1 + (1 | plate) + (1 | sample)",
         "REML": True}]},
    {"id": "cbpp_period", "dataset": "cbpp", "models": [
        {"name": "g0", "formula": "cbind(incidence, size - incidence) ~ 1 + (1 | herd)",
         "family": "binomial", "link": "logit"},
        {"name": "g1", "formula": "cbind(incidence, size - incidence) ~ period + (1 | herd)",
         "family": "binomial", "link": "logit"}]},
]


SCRIPT = "anova_reference.R"


def request() -> dict:
    """The request anova_reference.R takes."""
    return {"data_dir": str(DATA_DIR), "comparisons": COMPARISONS}


def main() -> int:
    return write_reference(SCRIPT, request(), OUT, "anova")


if __name__ == "__main__":
    raise SystemExit(main())
