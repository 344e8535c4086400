"""lme4's own reproducibility floor at the optimum of the cases exempted on flat surfaces.

``python -m parity.optimum_floor`` refits every catalog case that carries an
``exempt_optimum`` with lme4 on seeded row permutations of its data
(``parity/r/optimum_floor.R``) and writes ``fixtures/r/floor/<case>.optimum.json``.
A permutation changes nothing but the rounding of lme4's sums, so the spread of its
criterion is how far lme4's own stopping point moves on that surface: on BodyWeight it
ranges from 4.4e-8 below to 1.7e-4 above the stored fit.  The case's one-sided objective
check (ours ≤ lme4's + rtol·|lme4's|) then uses that spread as rtol instead of 1e-8.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from parity.catalog import load_catalog
from parity.data import ROOT
from parity.live import request
from parity.rscript import run_r_json

FLOOR_DIR = ROOT / "fixtures" / "r" / "floor"
#: the default one-sided objective tolerance (issue 2)
OBJECTIVE_RTOL = 1e-8
SEED = 20261202
PERMUTATIONS = 8


def floor_path(case_id: str) -> Path:
    """The stored floor of a case."""
    return FLOOR_DIR / f"{case_id}.optimum.json"


def objective_tolerance(case: dict, r_objective: float) -> tuple[float, str]:
    """The one-sided objective rtol of a case and its reason.

    1e-8 for every case, except an exempted one with a stored floor: there, the largest
    excess of lme4's permuted refits over ``r_objective`` (relative), when that is larger.
    """
    path = floor_path(case["id"])
    if not case.get("exempt_optimum") or not path.exists():
        return OBJECTIVE_RTOL, "ours ≤ lme4's + 1e-8·|lme4's| (one-sided)"
    fl = json.loads(path.read_text(encoding="utf-8"))
    excess = max((p["objective"] - r_objective) / abs(r_objective) for p in fl["permuted"])
    rtol = max(OBJECTIVE_RTOL, excess)
    return rtol, (f"ours ≤ lme4's + {rtol:.2g}·|lme4's| (one-sided): lme4's own criterion "
                  f"on {len(fl['permuted'])} row permutations of the data ranges up to "
                  f"{excess:.2g} above its stored fit (fixtures/r/floor/{path.name})")


def main(argv: list[str] | None = None) -> int:
    """Write the floors of the exempted cases (or of ``--case`` ids)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--case", action="append")
    args = ap.parse_args(argv)
    for case in load_catalog()["cases"]:
        if not case.get("exempt_optimum") or (args.case and case["id"] not in args.case):
            continue
        req = dict(request(case), seed=SEED, permutations=PERMUTATIONS)
        out = run_r_json("optimum_floor.R", req, floor_path(case["id"]), label=case["id"])
        fl = json.loads(out.read_text(encoding="utf-8"))
        base = fl["base"]["objective"]
        spread = [(p["objective"] - base) / abs(base) for p in fl["permuted"]]
        print(f"{case['id']}: lme4's criterion on permutations, relative to its fit: "
              f"{min(spread):.3g} .. {max(spread):.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
