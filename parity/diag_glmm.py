"""lme4 ``influence.merMod`` parity of diagnostics entries whose model is a GLMM.

lme4 1.1-31 refits a ``glmerMod`` once per deleted unit with the whole ``glmer`` (both
stages, ``maxfun`` 1000) from (θ̂, β̂); :func:`interlace.influence` does the same with
:func:`interlace.glmer` (:mod:`interlace.diagnostics.glmm_deletion`).  Both refit paths
are deterministic, but each starts from its own full fit, and ours agrees with lme4's
only to the model case's optimum tolerance; a path then retraces lme4's exactly (same
number of deviance evaluations, deleted optimum to ~1e-8) or, where one comparison of
the Nelder–Mead simplex goes the other way, ends elsewhere within the optimizer's
tolerance.  The tolerances are the issue's rule for optima whose path differs:

* ``fixef``, ``theta`` and ``sigma`` of each deleted fit: 1e-4 × max|R| of the column;
  ``var.cov.comps`` (quadratic in θ and σ) twice that;
* the deleted fits' vcov (lme4's Hessian-based default): twice the model case's Hessian
  SE tolerance plus twice the parameter rule, times √(V_aa·V_bb) (the SEs' scale: an
  off-diagonal element of orthogonal columns is finite-difference noise around 0);
* ``dfbetas`` and ``cooks.distance``: the parameter rule carried through their formulas
  to first order, per unit from R's own numbers (|Δdfbetas| ≤ 1e-4·|β₍₋ᵤ₎|/SE₍₋ᵤ₎ +
  SE rule·|dfbetas|; |ΔD| ≤ 2c·|Δβ|ᵀ|V⁻¹|(1e-4·|β₍₋ᵤ₎|) + 2·SE rule·D);
* ``converged``: equal; and, not gating, how many units retrace lme4's path.

Units where lme4's refit did not converge are left out, as for LMMs.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from interlace.diagnostics.influence import Influence, influence
from parity.compare import OPTIMUM, REFIT, compare_keyed, element_points
from parity.diag_compare import (
    DiagQuantity,
    by_col,
    compare_columns,
    dataset,
    frame_cols,
    get_entry,
    num,
    py_keyed,
    r_keyed,
    relative_to_lme4_fit,
)

__all__ = ["PARAM_RTOL", "glmm_case", "glmm_influence_quantities", "is_glmm_entry"]

#: the issue's at-optimum rule for θ̂ and β̂ where the path is not retraced
PARAM_RTOL = 1e-4


@cache
def _glmm_cases() -> dict:
    from parity.catalog import load_catalog

    return {g["id"]: g for g in load_catalog()["glmm"]}


def is_glmm_entry(entry: dict) -> bool:
    """Whether a diagnostics entry's model is a [[glmm]] case."""
    return entry["model"] in _glmm_cases()


def glmm_case(case_id: str) -> dict:
    """The [[glmm]] case of an entry's model."""
    return _glmm_cases()[case_id]


@cache
def _fit(case_id: str):
    from parity.glmm_parity import fit_case

    case = glmm_case(case_id)
    return fit_case(case, dataset(case["dataset"]))


@cache
def our_glmm_influence(entry_id: str) -> Influence:
    """``influence(res)`` of the entry's GLMM (cached: do not mutate)."""
    e = get_entry(entry_id)
    return influence(_fit(e["model"]), groups=None if str(e["level"]) == "1" else e["level"])


def _se_rtol(case: dict) -> tuple[float, str]:
    """The model case's Hessian-SE tolerance at the optimum (:func:`se_tolerances`)."""
    import json

    from parity.glmer_fixtures import OUT_DIR
    from parity.glmm_parity import se_tolerances
    from parity.optimum_floor import glmm_floor, glmm_floor_path

    fx = json.loads((OUT_DIR / f"{case['id']}.json").read_text())
    floor = glmm_floor(case["id"]) if glmm_floor_path(case["id"]).exists() else None
    _, _, tol, why = se_tolerances(fx, floor)
    return tol, why


def _restrict(cols: dict, keep: set[str]) -> dict:
    return {c: {u: v for u, v in col.items() if u in keep} for c, col in cols.items()}


def glmm_influence_quantities(entry: dict, fx: dict, source: str,
                              inf: Influence | None = None,
                              se_rule: tuple[float, str] | None = None) -> list[DiagQuantity]:
    """Our GLMM ``influence`` against lme4's ``influence.merMod`` reference ``fx``.

    ``inf`` (our ``influence()`` at the entry's level) and ``se_rule`` (the model's
    Hessian-SE tolerance and its reason, :func:`parity.glmm_parity.se_tolerances`) serve a
    model outside the catalog; by default both come from the entry's catalog case.
    """
    inf = our_glmm_influence(entry["id"]) if inf is None else inf
    coef = list(inf.fixef.columns)
    conv = {str(u) for u, ok in fx["converged"].items() if ok}
    se_rtol, se_why = _se_rtol(glmm_case(entry["model"])) if se_rule is None else se_rule
    tol = PARAM_RTOL
    base = (f"glmer refits from (θ̂, β̂), maxfun 1000 ({source}); n = {len(conv)} of "
            f"{len(fx['converged'])} units where lme4's refit converged")
    out = []
    for name, py, r, t in (
            ("fixef_deleted", frame_cols(inf.fixef), by_col(fx["fixef_deleted"]), tol),
            ("theta_deleted", frame_cols(inf.theta), by_col(fx["theta_deleted"]), tol),
            ("sigma_deleted", {"": py_keyed(inf.sigma)}, {"": r_keyed(fx["sigma_deleted"])}, tol),
            ("var_cov_comps_deleted", frame_cols(inf.var_cov_comps),
             by_col(fx["var_cov_comps_deleted"]), 2 * tol)):
        py, r = _restrict(py, conv), _restrict(r, conv)
        out.append(compare_columns(
            f"{name}[lme4-influence]", [((c,) if c else (), py.get(c, {}), rc)
                                        for c, rc in r.items()], 0.0, t, REFIT,
            f"{base}; |py − R| ≤ {t:.0e} × max|R| per column (the issue's rule for optima "
            "whose path is not retraced)"))
    # vcov of each deleted fit (Hessian-based), on the scale of its SEs: an off-diagonal
    # element near 0 (orthogonal columns) is compared to sqrt(V_aa V_bb), not to itself
    vt = 2 * se_rtol + 2 * tol
    py_v, r_v, a_v = {}, {}, {}
    for k, u in enumerate(map(str, inf.labels)):
        if u not in conv:
            continue
        Vr = fx["vcov_deleted"][u]
        for i, a in enumerate(coef):
            for j, b in enumerate(coef):
                key = f"{a},{b} / {u}"
                py_v[key], r_v[key] = float(inf.vcov[k, i, j]), num(Vr[a][b])
                a_v[key] = vt * np.sqrt(num(Vr[a][a]) * num(Vr[b][b]))
    out.append(_derived(
        "vcov_deleted[lme4-influence]", py_v, r_v, a_v, max(abs(v) for v in r_v.values()),
        f"{base}; lme4's Hessian vcov of each deleted fit: |Δ| ≤ (2×{se_rtol:.0e} (SE rule: "
        f"{se_why}) + 2×{tol:.0e} (parameters))·√(V_aa·V_bb)"))
    # derived measures: the parameter rule carried through their formulas
    fe_r = pd.DataFrame(by_col(fx["fixef_deleted"]))[coef]
    se_r = pd.DataFrame({u: np.sqrt(np.diag([[num(v[a][b]) for b in coef] for a in coef]))
                         for u, v in fx["vcov_deleted"].items()}, index=coef).T
    dfbs_r = pd.DataFrame(by_col(fx["dfbetas"]))[coef]
    units = [u for u in fe_r.index if u in conv]
    inf_r, fe_full, V_full = relative_to_lme4_fit(inf, fx, coef)
    dfbs_py = inf_r.dfbetas()
    dfbs_py.index = dfbs_py.index.map(str)
    py_d, r_d, a_d = {}, {}, {}
    for u in units:
        for b in coef:
            k = f"{b} / {u}"
            py_d[k], r_d[k] = float(dfbs_py.loc[u, b]), float(dfbs_r.loc[u, b])
            a_d[k] = tol * abs(fe_r.loc[u, b]) / se_r.loc[u, b] + se_rtol * abs(r_d[k])
    out.append(_derived("dfbetas[lme4-influence]", py_d, r_d, a_d, dfbs_r.abs().to_numpy().max(),
                        f"{base}; relative to lme4's full fit; per unit |Δ| ≤ {tol:.0e}·"
                        f"|β₍₋ᵤ₎|/SE₍₋ᵤ₎ + {se_rtol:.0e}·|dfbetas| (first-order propagation)"))
    cd_py = inf_r.cooks_distance()
    cd_py.index = cd_py.index.map(str)
    cd_r = r_keyed(fx["cooks_distance"])
    n, p = len(fx["converged"]), len(coef)
    c = (n - p) / (n * p)
    Vi = np.abs(np.linalg.inv(V_full))
    py_c, r_c, a_c = {}, {}, {}
    for u in units:
        db = np.abs(fe_r.loc[u].to_numpy() - fe_full.to_numpy())
        py_c[u], r_c[u] = float(cd_py.loc[u]), cd_r[u]
        a_c[u] = (2 * c * db @ Vi @ (tol * np.abs(fe_r.loc[u].to_numpy()))
                  + 2 * se_rtol * abs(cd_r[u]))
    out.append(_derived("cooks_distance[lme4-influence]", py_c, r_c, a_c,
                        max(abs(v) for v in r_c.values()),
                        f"{base}; relative to lme4's full fit; per unit |ΔD| ≤ 2c·|Δβ|ᵀ|V⁻¹|"
                        f"({tol:.0e}·|β₍₋ᵤ₎|) + 2·{se_rtol:.0e}·D (first-order propagation)"))
    conv_py = {str(u): float(v) for u, v in inf.converged.items()}
    conv_r = {str(u): float(bool(v)) for u, v in fx["converged"].items()}
    out.append(compare_columns("converged[lme4-influence]", [((), conv_py, conv_r)], 0.0, 0.0,
                               REFIT, "lme4's flag: the last optimizer converged without a "
                               "warning; must be equal for every unit"))
    out.append(_retraced(inf, fx, conv))
    return out


def _derived(name: str, py: dict, r: dict, atol: dict, scale: float, why: str) -> DiagQuantity:
    q = compare_keyed(name, py, r, 0.0, atol, REFIT, why)
    worst = max((abs(py[k] - r[k]) / scale for k in r if k in py), default=0.0) if scale else 0.0
    tol_scale = max(atol.values(), default=0.0) / scale if scale else 0.0
    return DiagQuantity(**vars(q), max_err_to_scale=worst, tol_to_scale=tol_scale,
                        points=element_points(py, r))


def _retraced(inf: Influence, fx: dict, conv: set[str]) -> DiagQuantity:
    """Not gating: the units whose refit made exactly lme4's number of deviance evaluations
    (stage 2), and the largest fixef/θ gap on them relative to the column's max|R|."""
    evals = {str(u): int(v) for u, v in zip(inf.labels, inf.deletions.n_evals, strict=True)}
    same = [u for u, v in fx["function_evals"].items() if u in conv and evals.get(u) == int(v)]
    fe_py, fe_r = frame_cols(inf.fixef), by_col(fx["fixef_deleted"])
    th_py, th_r = frame_cols(inf.theta), by_col(fx["theta_deleted"])
    gap = 0.0
    for py, r in ((fe_py, fe_r), (th_py, th_r)):
        for col, rc in r.items():
            scale = max(abs(v) for v in rc.values()) or 1.0
            gap = max([gap] + [abs(py[col][u] - rc[u]) / scale for u in same])
    q = DiagQuantity(
        "paths_retraced[lme4-influence]", len(same), gap, gap, 0.0, 0.0, OPTIMUM, True, False,
        "", [], f"not gating: {len(same)} of {len(conv)} units made lme4's number of stage-2 "
        f"deviance evaluations; their largest fixef/θ gap is {gap:.1e} × max|R| (from full "
        "fits that agree to the model case's optimum tolerance)",
        max_err_to_scale=gap, tol_to_scale=0.0)
    return q
