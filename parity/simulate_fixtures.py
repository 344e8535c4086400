"""lme4's ``simulate(m, nsim, seed)`` of a few LMM catalog cases, the reference for
interlace's ``simulate`` with an integer seed: ``python -m parity.simulate_fixtures``
runs ``parity/r/simulate_reference.R`` → ``fixtures/r/simulate.json``."""

from __future__ import annotations

from parity.catalog import get_case
from parity.data import DATA_DIR, ROOT
from parity.rscript import write_reference

OUT = ROOT / "fixtures" / "r" / "simulate.json"
#: (case, nsim, seed): a correlated slope, crossed terms, nested terms, prior weights
CASES = [("sleepstudy_slopes_reml", 3, 1), ("penicillin_crossed", 2, 42),
         ("pastes_nested", 2, 20261202), ("cbpp_weights", 2, -7)]


SCRIPT = "simulate_reference.R"


def request() -> dict:
    """The request simulate_reference.R takes."""
    cases = []
    for cid, nsim, seed in CASES:
        c = get_case(cid)
        cases.append({"id": cid, "dataset": c["dataset"], "formula": c["formula"],
                      "REML": c["method"] == "REML", "weights": c.get("weights"),
                      "nsim": nsim, "seed": seed})
    return {"data_dir": str(DATA_DIR), "cases": cases}


def main() -> int:
    return write_reference(SCRIPT, request(), OUT, "simulate")


if __name__ == "__main__":
    raise SystemExit(main())
