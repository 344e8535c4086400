"""lme4's own reproducibility floor at the optimum of the cases exempted on flat surfaces.

``python -m parity.optimum_floor`` refits every catalog case that carries an
``exempt_optimum`` with lme4 on seeded row permutations of its data
(``parity/r/optimum_floor.R``) and writes ``fixtures/r/floor/<case>.optimum.json``.
A permutation changes nothing but the rounding of lme4's sums, so the spread of its
criterion is how far lme4's own stopping point moves on that surface: on BodyWeight it
ranges from 4.4e-8 below to 1.7e-4 above the stored fit.  The case's one-sided objective
check (ours ≤ lme4's + rtol·|lme4's|) then uses that spread as rtol instead of 1e-8.

Every GLMM case gets its floor too (``fixtures/r/floor/<case>.glmm.json``,
``parity/r/glmer_floor.R``): glmer's stage-1 BOBYQA and stage-2 Nelder–Mead stop within
their own tolerances, and which point inside them they stop at depends on the last bits of
the deviance, so lme4 itself moves θ̂ by up to 2e-4 between row orders of Epilepsy's data.
:mod:`parity.glmm_parity` sets its at-optimum tolerances from these spreads.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from parity.catalog import load_catalog
from parity.data import FIXTURES_DIR, case_fixtures_dir
from parity.live import request
from parity.rscript import run_r_json

FLOOR_DIR = FIXTURES_DIR / "floor"
#: the default one-sided objective tolerance (issue 2)
OBJECTIVE_RTOL = 1e-8
SEED = 20261202
PERMUTATIONS = 8


def case_floor_dir(case: dict) -> Path:
    """Where a case's floors are stored: fixtures/r/floor, or a user catalog's
    fixtures/floor (:mod:`parity.user_catalog`)."""
    return case_fixtures_dir(case) / "floor"


def floor_path(case_id: str, floor_dir: Path = FLOOR_DIR) -> Path:
    """The stored floor of a case."""
    return floor_dir / f"{case_id}.optimum.json"


def objective_tolerance(case: dict, r_objective: float,
                        fl: dict | None = None) -> tuple[float, str]:
    """The one-sided objective rtol of a case and its reason.

    1e-8 for every case, except an exempted one with a floor (``fl``, else the stored one):
    there, the largest excess of lme4's permuted refits over ``r_objective`` (relative),
    when that is larger.
    """
    path = floor_path(case["id"], case_floor_dir(case))
    if fl is None and case.get("exempt_optimum") and path.exists():
        fl = json.loads(path.read_text(encoding="utf-8"))
    if not case.get("exempt_optimum") or fl is None:
        return OBJECTIVE_RTOL, "ours ≤ lme4's + 1e-8·|lme4's| (one-sided)"
    excess = max((p["objective"] - r_objective) / abs(r_objective) for p in fl["permuted"])
    rtol = max(OBJECTIVE_RTOL, excess)
    return rtol, (f"ours ≤ lme4's + {rtol:.2g}·|lme4's| (one-sided): lme4's own criterion "
                  f"on {len(fl['permuted'])} row permutations of the data ranges up to "
                  f"{excess:.2g} above its stored fit"
                  + (f" (fixtures/r/floor/{path.name})" if path.exists() else ""))


# -- GLMMs -----------------------------------------------------------------------------------
#: glmer floors: more permutations (a GLMM refit is cheap) and a margin of 2 over the
#: largest deviation seen, since interlace's deviance is one more perturbation of the same
#: kind (a different factorization's rounding), not one of lme4's permutations
GLMM_PERMUTATIONS = 16
GLMM_MARGIN = 2.0


def glmm_floor_path(case_id: str, floor_dir: Path = FLOOR_DIR) -> Path:
    """The stored glmer floor of a GLMM case."""
    return floor_dir / f"{case_id}.glmm.json"


def lmm_floor_exemption(fl: dict) -> str:
    """Why an LMM's at-optimum comparisons cannot gate it, from lme4's own floor ``fl``
    (:func:`lmer_floor` of floors.R): "" when lme4's θ̂ moves over the row permutations by
    less than the at-optimum θ tolerance (1e-4 + 5e-5·|θ|), else the measured spread."""
    base = fl["base"]["theta"]
    worst, worst_ratio = 0.0, 0.0
    for p in fl["permuted"]:
        for a, b in zip(p["theta"], base, strict=True):
            d = abs(a - b)
            worst = max(worst, d)
            worst_ratio = max(worst_ratio, d / (1e-4 + 5e-5 * abs(b)))
    if worst_ratio <= 1.0:
        return ""
    return (f"lme4's own θ̂ moves by up to {worst:.2g} over {len(fl['permuted'])} row "
            "permutations of the data (a flat surface), beyond the at-optimum tolerance "
            "1e-4 + 5e-5·|θ|")


def glmm_floor(case_id: str, floor_dir: Path = FLOOR_DIR) -> dict:
    """lme4's spread over row permutations of a GLMM case, per quantity:
    ``{"theta"|"fixef"|"loglik"|"deviance": largest relative deviation from the stored fit,
    "objective_excess": largest relative excess of the criterion,
    "fitted"|"ranef"|"condsd": largest absolute deviation, "se": largest relative deviation
    of the Hessian SEs of the refits, "se_at_base_par": of the Hessian SEs at the stored fit's
    parameters from each row order's deviance (None without a Hessian), "n": permutations}``."""
    return glmm_floor_summary(json.loads(glmm_floor_path(case_id, floor_dir)
                                         .read_text(encoding="utf-8")))


def glmm_floor_summary(fl: dict) -> dict:
    """:func:`glmm_floor` of a floor (glmer_floor's output) already read."""
    base, perms = fl["base"], fl["permuted"]

    def rel(a: float, b: float) -> float:
        return abs(a - b) / abs(b) if b else abs(a - b)

    out = {q: max(rel(p[q][k], v) for p in perms for k, v in base[q].items())
           for q in ("theta", "fixef")}
    out.update({q: max(rel(p[q], base[q]) for p in perms) for q in ("loglik", "deviance")})
    out["loglik_abs"] = max(abs(p["loglik"] - base["loglik"]) for p in perms)
    out["objective_excess"] = max((p["objective"] - base["objective"]) / abs(base["objective"])
                                  for p in perms)
    out.update({q: max(p[q]["max_abs"] for p in perms) for q in ("fitted", "ranef", "condsd")})
    for q in ("se", "se_at_base_par"):  # relative; absent for nAGQ = 0 (no Hessian)
        vals = [p[q] for p in perms if p.get(q) is not None]
        out[q] = max(vals) if vals else None
    out["n"] = len(perms)
    return out


def write_glmm_floors(ids: list[str] | None = None, glmm: list[dict] | None = None) -> None:
    """Refit every (or each selected) GLMM case with lme4 on seeded row permutations."""
    from parity.glmer_fixtures import request as glmm_request

    for case in load_catalog()["glmm"] if glmm is None else glmm:
        if ids and case["id"] not in ids:
            continue
        req = dict(glmm_request(case), seed=SEED, permutations=GLMM_PERMUTATIONS)
        d = case_floor_dir(case)
        run_r_json("glmer_floor.R", req, glmm_floor_path(case["id"], d), label=case["id"])
        fl = glmm_floor(case["id"], d)
        print(f"{case['id']}: lme4's own spread over {fl['n']} row permutations: theta "
              f"{fl['theta']:.2g}, fixef {fl['fixef']:.2g}, objective +"
              f"{fl['objective_excess']:.2g} (relative)")


def main(argv: list[str] | None = None) -> int:
    """Write the floors of the exempted LMM cases and of every GLMM case (or of ``--case``
    ids; of a user's ``--catalog``)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--case", action="append")
    ap.add_argument("--catalog", type=Path, help="a user's catalog: write its floors into "
                    "fixtures/floor/ next to it (parity/user_catalog.py)")
    args = ap.parse_args(argv)
    if args.catalog is not None:
        from parity.user_catalog import load_user_catalog, prepare_data

        catalog = load_user_catalog(args.catalog)
        prepare_data(catalog)
    else:
        catalog = load_catalog()
    write_glmm_floors(args.case, catalog["glmm"])
    for case in catalog["cases"]:
        if not case.get("exempt_optimum") or (args.case and case["id"] not in args.case):
            continue
        req = dict(request(case), seed=SEED, permutations=PERMUTATIONS)
        out = run_r_json("optimum_floor.R", req, floor_path(case["id"], case_floor_dir(case)),
                         label=case["id"])
        fl = json.loads(out.read_text(encoding="utf-8"))
        base = fl["base"]["objective"]
        spread = [(p["objective"] - base) / abs(base) for p in fl["permuted"]]
        print(f"{case['id']}: lme4's criterion on permutations, relative to its fit: "
              f"{min(spread):.3g} .. {max(spread):.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
