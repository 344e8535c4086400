"""lme4's ``simulate(m, nsim, seed)`` of a few LMM catalog cases, the reference for
interlace's ``simulate`` with an integer seed: ``python -m parity.simulate_fixtures``
runs ``parity/r/simulate_reference.R`` → ``fixtures/r/simulate.json``."""

from __future__ import annotations

from parity.catalog import get_case, load_catalog
from parity.data import DATA_DIR, ROOT
from parity.rscript import write_reference

OUT = ROOT / "fixtures" / "r" / "simulate.json"
#: (case, nsim, seed): a correlated slope, crossed terms, nested terms, prior weights
CASES = [("sleepstudy_slopes_reml", 3, 1), ("penicillin_crossed", 2, 42),
         ("pastes_nested", 2, 20261202), ("cbpp_weights", 2, -7)]


#: GLMM (case, nsim, seed): a cbind response, proportions with weights, a factor response,
#: Poisson with crossed terms, an offset, a Gamma and an inverse Gaussian fit
GLMM_CASES = [("cbpp_cbind", 3, 4), ("cbpp_proportion", 2, 5), ("contraception", 2, 6),
              ("grouseticks", 2, 7), ("mmmec_offset", 2, 8), ("sleepstudy_gamma", 2, 9),
              ("sleepstudy_invgauss", 2, 10)]
SCRIPT = "simulate_reference.R"


def get_glmm_case(case_id: str) -> dict:
    """A ``[[glmm]]`` catalog case by id."""
    return next(c for c in load_catalog()["glmm"] if c["id"] == case_id)


def request() -> dict:
    """The request simulate_reference.R takes."""
    cases = []
    for cid, nsim, seed in CASES:
        c = get_case(cid)
        cases.append({"id": cid, "dataset": c["dataset"], "formula": c["formula"],
                      "REML": c["method"] == "REML", "weights": c.get("weights"),
                      "nsim": nsim, "seed": seed})
    glmm = [{**{k: get_glmm_case(cid).get(k) for k in ("dataset", "formula", "family", "link",
                                                        "weights", "offset", "nAGQ")},
             "id": cid, "nsim": nsim, "seed": seed} for cid, nsim, seed in GLMM_CASES]
    return {"data_dir": str(DATA_DIR), "cases": cases, "glmm_cases": glmm}


def main() -> int:
    return write_reference(SCRIPT, request(), OUT, "simulate")


if __name__ == "__main__":
    raise SystemExit(main())
