"""GLMM cases (``[[glmm]]`` in the catalog) in ``nox -s parity``: interlace.glmer against
lme4::glmer, quantity by quantity, keyed by name.

Two blocks per case, as for LMMs (:mod:`parity.compare`):

* **at lme4's parameters** — interlace evaluated at lme4's (θ̂, β̂) from lme4's own PIRLS
  start (``interlace.evaluate_glmm_at``): the deviance, logLik, AIC, BIC, ``deviance()``,
  fitted values, the four residual types, the RX-based SEs, the random effects and their
  conditional SDs (class ``exact-at-theta``, 1e-10), and lme4's deviance function at the
  fixture's other points; the Hessian-based SEs from finite differences there (class
  ``numerical-derivative``: 1e-5, or 1e-4 where lme4 itself calls the Hessian nearly
  unidentifiable — the inverse amplifies the second difference's noise by the condition
  number);
* **at the optimum** — interlace.glmer's own fit (minqa's BOBYQA and lme4's Nelder–Mead,
  ported path for path: given lme4's deviance values they visit lme4's points bit for
  bit).  Our deviance agrees with lme4's to a few ulps, not bit for bit, and both
  optimizers stop anywhere inside their tolerances, so the optimum moves with the last
  bits of the deviance — lme4's own does, between row orders of the same data.  θ̂, β̂,
  logLik, AIC, BIC, ``deviance()`` and the objective (one-sided: ours ≤ lme4's + rtol·
  |lme4's|) are held to 1e-8 or, where larger, twice lme4's own largest deviation over 16
  row permutations (``fixtures/r/floor/<case>.glmm.json``); fitted values, random effects
  and conditional SDs to 1e-6 or twice lme4's spread (absolute); Hessian SEs as above.

A case may exempt its θ̂, β̂ and ``deviance()`` comparisons (``exempt_optimum``) with the
evidence; they are then held to 1e-4 and the objective still gates.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np

import interlace
from parity import progress
from parity.catalog import case_contrasts
from parity.compare import EXACT, NUMDERIV, OPTIMUM, Rule, _apply, compare_keyed
from parity.data import DATA_DIR, case_data
from parity.glmm_side import case_formula
from parity.optimum_floor import (
    GLMM_MARGIN,
    OBJECTIVE_RTOL,
    case_floor_dir,
    glmm_floor,
    glmm_floor_path,
)
from parity.rscript import R_DIR

RESID_TYPES = ("deviance", "pearson", "working", "response")

AT_R_PARAMS = [
    Rule("objective", EXACT, 1e-10, why="lme4's devfun at its (θ̂, β̂), from its lp0"),
    Rule("devfun_at", EXACT, 1e-10, why="lme4's devfun (stage 2's; nAGQ = 0: stage 1's) at "
                                        "its optimum and other points",
         name="devfun_at_r_points"),
    Rule("loglik", EXACT, 1e-10), Rule("aic", EXACT, 1e-10), Rule("bic", EXACT, 1e-10),
    Rule("deviance", EXACT, 1e-10, why="Σ deviance residuals (lme4's deviance())"),
    Rule("se_rx", EXACT, 1e-10, why="σ²(RXᵀRX)⁻¹ at the lagged RX"),
    Rule("fitted", EXACT, 1e-10, 1e-10, "max"),
    *(Rule(f"residuals_{t}", EXACT, 1e-10, 1e-10, "max") for t in RESID_TYPES),
    Rule("ranef", EXACT, 1e-10, 1e-10, "max"),
    Rule("condsd", EXACT, 1e-10),
]
AT_OPTIMUM = [
    Rule("theta", OPTIMUM, 1e-8, 1e-10, why="stage 1 minqa's BOBYQA and stage 2 lme4's "
                                            "Nelder–Mead, both ported path for path"),
    Rule("fixef", OPTIMUM, 1e-8, 1e-10, why="as θ"),
    Rule("loglik", OPTIMUM, 1e-8), Rule("aic", OPTIMUM, 1e-8), Rule("bic", OPTIMUM, 1e-8),
    Rule("deviance", OPTIMUM, 1e-8),
    Rule("fitted", OPTIMUM, 1e-6, 1e-6, "max", why="derived from θ̂ and β̂"),
    Rule("ranef", OPTIMUM, 1e-6, 1e-6, "max", why="derived from θ̂ and β̂"),
    Rule("condsd", OPTIMUM, 1e-6, why="derived from θ̂ and β̂"),
]


def optimum_rules(floor: dict | None) -> tuple[list[Rule], float, str]:
    """The at-optimum rules widened to lme4's own floor (``GLMM_MARGIN`` × its largest
    deviation over row permutations, where that exceeds the default), and the one-sided
    objective rtol with its reason."""
    if floor is None:
        return AT_OPTIMUM, OBJECTIVE_RTOL, "ours ≤ lme4's + 1e-8·|lme4's| (one-sided)"
    m, n = GLMM_MARGIN, floor["n"]
    seen = f"lme4's own spread over {n} row permutations of the data"
    ll_abs = floor["loglik_abs"]
    rules = []
    for rule in AT_OPTIMUM:
        q = rule.quantity
        if q in ("theta", "fixef", "deviance"):
            rtol, atol = max(rule.rtol, m * floor[q]), rule.atol
            wide = rtol > rule.rtol
            why = (f"{seen}: {floor[q]:.2g} relative; tolerance {m:g}× that"
                   if wide else rule.why or f"{seen} {floor[q]:.2g} is below 1e-8")
        elif q in ("loglik", "aic", "bic"):
            # AIC and BIC are −2·logLik + constants: twice logLik's absolute spread
            spread = ll_abs * (1 if q == "loglik" else 2)
            rtol, atol = rule.rtol, m * spread
            why = f"{seen}: {spread:.2g} absolute; atol {m:g}× that"
        else:
            rtol, atol = rule.rtol, m * floor[q]
            why = f"{rule.why}; {seen}: {floor[q]:.2g} absolute (atol {m:g}× that, or the rule's)"
        rules.append(Rule(q, rule.cls, rtol, atol, rule.atol_of if q in ("fitted", "ranef")
                          else "", why))
    obj_rtol = max(OBJECTIVE_RTOL, m * floor["objective_excess"])
    return rules, obj_rtol, (f"ours ≤ lme4's + {obj_rtol:.2g}·|lme4's| (one-sided); {seen} "
                             f"exceeds its stored fit by up to {floor['objective_excess']:.2g}")


def _by_row(res, values) -> dict:
    return dict(zip([str(x) for x in res._design.row_labels], np.asarray(values).tolist(),
                    strict=True))


def canonical(res: interlace.GlmmResult, se_hessian=None) -> dict:
    """Name-keyed quantities of a GLMM result, in the GLMM fixtures' schema."""
    out: dict[str, Any] = {
        "objective": res.objective,
        "theta": dict(zip(res.theta_names, res.theta.tolist(), strict=True)),
        "fixef": res.fe_params.to_dict(),
        "se_rx": dict(zip(res.fe_params.index,
                          np.sqrt(np.diag(res.vcov(use_hessian=False))).tolist(), strict=True)),
        "loglik": res.llf, "aic": res.aic, "bic": res.bic, "deviance": res.deviance,
        "fitted": _by_row(res, res.fittedvalues),
    }
    if se_hessian is not None:
        out["se"] = se_hessian
    elif res.hessian is not None:
        out["se"] = res.fe_bse.to_dict()
    for t in RESID_TYPES:
        out[f"residuals_{t}"] = _by_row(res, res.resid(t))
    rf = res.ranef_frame()
    keys = [(g, str(lv), t) for g, t, lv in zip(rf.grpvar, rf.term, rf.grp, strict=True)]
    out["ranef"] = dict(zip(keys, rf.condval.tolist(), strict=True))
    out["condsd"] = dict(zip(keys, rf.condsd.tolist(), strict=True))
    return out


def r_canonical(fx: dict) -> dict:
    """The GLMM fixture's quantities in :func:`canonical`'s shape."""
    obj = fx["objective"]
    out: dict[str, Any] = {
        "objective": obj["value"],
        "theta": {t["name"]: t["value"] for t in fx["theta"]},
        "fixef": fx["fixef"],
        "se_rx": {a: float(np.sqrt(row[a])) for a, row in fx["vcov_rx"].items()},
        "loglik": obj["loglik"], "aic": obj["aic"], "bic": obj["bic"],
        "deviance": obj["deviance"], "fitted": fx["fitted"],
        "ranef": {(r["group"], str(r["level"]), r["term"]): r["value"] for r in fx["ranef"]},
        "condsd": {(r["group"], str(r["level"]), r["term"]): r["condsd"] for r in fx["ranef"]},
    }
    if fx.get("vcov_hessian"):
        out["se"] = {a: float(np.sqrt(row[a])) for a, row in fx["vcov_hessian"].items()}
    for t in RESID_TYPES:
        out[f"residuals_{t}"] = fx["residuals"][t]
    out["devfun_at"] = {d["label"]: d["value"]
                        for d in fx.get("devfun2_at") or fx["devfun1_at"]}
    return out


def glmer_kwargs(case: dict) -> dict:
    """The keyword arguments of interlace.glmer for a catalog case (its formula aside)."""
    return dict(family=case["family"], link=case["link"], nAGQ=case["nAGQ"],
                weights=case.get("weights"), contrasts=case_contrasts(case))


def fit_case(case: dict, data=None) -> interlace.GlmmResult:
    """interlace.glmer on a catalog case (warnings captured)."""
    data = case_data(case) if data is None else data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return interlace.glmer(case_formula(case), data, **glmer_kwargs(case))


def lme4_point(case: dict, fx: dict) -> tuple[np.ndarray, np.ndarray]:
    """lme4's (θ̂, β̂) of a fixture as one vector, and lme4's PIRLS start there (stage 2's
    ``lp0``; for nAGQ = 0 stage 1's)."""
    if case["nAGQ"] == 0:
        par = np.r_[[t["value"] for t in fx["theta"]], list(fx["fixef"].values())]
        return par, np.asarray(fx["lp0_stage1"])
    return np.asarray(fx["devfun2_at"][0]["par"]), np.asarray(fx["lp0_stage2"])


def evaluate_at_lme4(case: dict, fx: dict, data=None, **overrides) -> interlace.GlmmResult:
    """interlace.evaluate_glmm_at a case at lme4's (θ̂, β̂) from lme4's PIRLS start;
    ``overrides`` replace the case's keyword arguments (e.g. ``offset``)."""
    data = case_data(case) if data is None else data
    par, lp0 = lme4_point(case, fx)
    k = len(fx["theta"])
    formula = overrides.pop("formula", case_formula(case))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return interlace.evaluate_glmm_at(formula, data, par[:k], par[k:], lp0,
                                          **{**glmer_kwargs(case), **overrides})


def at_lme4(case: dict, fx: dict, data=None) -> dict:
    """Our quantities at lme4's (θ̂, β̂) from lme4's PIRLS start (stage 2's; for nAGQ = 0
    stage 1's, β then from PIRLS), with Hessian SEs by finite differences there (nAGQ ≥ 1)
    and lme4's deviance function at the fixture's points."""
    from interlace.optimize.checks import deriv12
    from interlace.results.glmm import _hessian_vcov

    k, nagq = len(fx["theta"]), case["nAGQ"]
    par, lp0 = lme4_point(case, fx)
    res = evaluate_at_lme4(case, fx, data)
    dev = res._dev
    if nagq == 0:
        out = canonical(res)
        out["devfun_at"] = {d["label"]: dev.stage1(np.asarray(d["theta"]), lp0).laplace
                            for d in fx["devfun1_at"]}
        return out

    def f(x):
        return (dev.laplace(x[:k], x[k:], lp0) if nagq == 1
                else dev.agq(x[:k], x[k:], lp0, nagq))

    _, H = deriv12(f, par, f(par))
    V = _hessian_vcov(H, k)
    se = (None if V is None else
          dict(zip(res.fe_params.index, np.sqrt(np.diag(V)).tolist(), strict=True)))
    out = canonical(res, se_hessian=se)
    out["devfun_at"] = {d["label"]: f(np.asarray(d["par"])) for d in fx["devfun2_at"]}
    return out


def se_tolerances(fx: dict, floor: dict | None) -> tuple[float, str, float, str]:
    """rtol and reason of the Hessian SEs at lme4's parameters and at the optimum.

    The SEs come from a second difference of the deviance (step 1e-4), which multiplies
    the deviance's last-bit differences by 1e8, and the inverse multiplies them again by
    the Hessian's condition number.  With a floor: 1e-5 or twice lme4's own spread of the
    SEs at one fixed point between row orders of the data (its deviance's rounding alone);
    at the optimum also twice the spread of its refits' SEs.  Without one: 1e-5, or 1e-4
    where lme4 calls the Hessian nearly unidentifiable."""
    base = "finite-difference Hessian (step 1e-4)"
    if floor is None or floor.get("se_at_base_par") is None:
        ill = any("nearly unidentifiable" in m for m in fx["optinfo"]["lme4_messages"])
        tol = 1e-4 if ill else 1e-5
        why = f"{base}: " + ("1e-4 — lme4 calls this Hessian nearly unidentifiable" if ill
                             else "1e-5")
        return tol, why, tol, why
    m, n = GLMM_MARGIN, floor["n"]
    at = max(1e-5, m * floor["se_at_base_par"])
    opt = max(at, m * (floor["se"] or 0.0))
    why_at = (f"{base}: 1e-5, or {m:g}× lme4's own spread of these SEs at its (θ̂, β̂) over "
              f"{n} row orders of the data ({floor['se_at_base_par']:.2g})")
    why_opt = (f"{base}: as at lme4's parameters, or {m:g}× the spread of the SEs of lme4's "
               f"{n} refits on row permutations ({(floor['se'] or 0.0):.2g})")
    return at, why_at, opt, why_opt


def compare_case(py_opt: dict, py_at_r: dict, r: dict, fx: dict, *,
                 exempt_optimum: str = "", floor: dict | None = None) -> list:
    """Every comparison of one GLMM case (see the module docstring); ``floor`` is lme4's
    own spread (:func:`parity.optimum_floor.glmm_floor`)."""
    from parity.compare import compare_objective

    se_at_r, why_at_r, se_opt, why_opt = se_tolerances(fx, floor)
    rules, obj_rtol, obj_why = optimum_rules(floor)
    out = [compare_objective(py_opt["objective"], r["objective"], obj_rtol, obj_why)]
    out += _apply(AT_R_PARAMS, py_at_r, r, "_at_r_theta")
    if "se" in r and "se" in py_at_r:
        out.append(compare_keyed("se_at_r_theta", py_at_r["se"], r["se"], se_at_r, 0.0,
                                 NUMDERIV, why_at_r))
    opt = _apply(rules, py_opt, r, "")
    if "se" in r and "se" in py_opt:
        opt.append(compare_keyed("se", py_opt["se"], r["se"], se_opt, 0.0, NUMDERIV, why_opt))
    if exempt_optimum:
        for q in opt:
            if q.name in ("theta", "fixef", "deviance"):
                q.rtol = max(q.rtol, 1e-4)
                q.passed = q.max_rel_err <= q.rtol or q.max_abs_err <= q.atol
                by_rel = q.max_rel_err / q.rtol
                by_abs = q.max_abs_err / q.atol if q.atol else float("inf")
                q.tol_used, q.binding = min(by_rel, by_abs), ("rtol" if by_rel <= by_abs
                                                              else "atol")
                q.why = f"exempt (held to {q.rtol:.0e}): {exempt_optimum}"
    return out + opt


def run_glmm_case(case: dict, mode: str, fixtures_dir) -> dict:
    """One GLMM case in the given mode, as a report entry; live mode adds drift against the
    stored fixture."""
    from parity.compare import drift

    data = case_data(case)
    path = fixtures_dir / f"{case['id']}.json"
    stored = json.loads(path.read_text()) if path.exists() else None
    if mode == "live":
        with progress.side("R", "lme4::glmer"):
            fx = live_reference(case)
    elif stored is None:
        raise FileNotFoundError(f"no stored fixture glmm/{path.name} (run nox -s fixtures)")
    else:
        fx = stored
    d = case_floor_dir(case)
    floor = glmm_floor(case["id"], d) if glmm_floor_path(case["id"], d).exists() else None
    entry = glmm_entry(case, fx, data, mode, floor)
    if mode == "live" and stored is not None:
        entry["drift"] = drift(r_canonical(fx), r_canonical(stored))
    return entry


def glmm_entry(case: dict, fx: dict, data, mode: str, floor: dict | None = None) -> dict:
    """The report entry of a GLMM case against its R fixture ``fx`` (``floor``: lme4's own
    spread over row permutations, when measured)."""
    from parity.compare import case_passed, classify

    entry: dict = {"case": case["id"], "kind": "glmm", "mode": mode,
                   "exempt_optimum": case.get("exempt_optimum", ""),
                   "model": f"{case['family']}({case['link']}), nAGQ = {case['nAGQ']}"}
    res = fit_case(case, data)
    qs = compare_case(canonical(res), at_lme4(case, fx, data), r_canonical(fx), fx,
                      exempt_optimum=entry["exempt_optimum"], floor=floor)
    entry.update(passed=case_passed(qs), classification=classify(qs),
                 quantities=[q.as_dict() for q in qs])
    return entry


# -- live R ---------------------------------------------------------------------------------
def live_reference(case: dict) -> dict:
    """lme4::glmer's reference for a case, computed now in the embedded R (rpy2)."""
    from parity.glmer_fixtures import request
    from parity.live import _session

    ro = _session()
    if not bool(ro.r('exists("glmer_reference_json")')[0]):
        ro.r["source"](str(R_DIR / "glmer_reference.R"))
    text = ro.r["glmer_reference_json"](json.dumps(request(case)), str(R_DIR))[0]
    return json.loads(text)


__all__ = ["AT_OPTIMUM", "AT_R_PARAMS", "DATA_DIR", "at_lme4", "canonical", "compare_case",
           "evaluate_at_lme4", "glmer_kwargs", "glmm_entry", "lme4_point",
           "fit_case", "live_reference", "r_canonical", "run_glmm_case"]
