"""lme4 ``influence.merMod`` parity of the diagnostics entries (:mod:`parity.diag`), and
the brute-force leverage of crossed models.

lme4 1.1-31 refits keep the model's method and control, warm-started at θ̂; interlace's
:func:`~interlace.diagnostics.influence.influence` does the same to each deleted fit's
optimum.  References: ``fixtures/r/diag/<id>.lme4.json`` or, in live mode, the same R
code run now (:func:`parity.diag_fixtures.live_lme4`).  Tolerances:

* at lme4's θ̂ and deleted θ: rtol = 1e-8 + 1e-8·max|R| per column;
* optimality: our refits' criterion is never above ours at lme4's deleted θ beyond
  rounding (1e-11 relative);
* at our optimum: 3 × R's reproducibility floor (``<id>.floor.json``: influence.merMod's
  nloptwrap refits vs minqa's bobyqa from θ̂) × max|R| per column.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from interlace.diagnostics.deletion import deletions_at, group_sets
from interlace.diagnostics.influence import Influence, influence
from interlace.diagnostics.leverage import LEVERAGE_COLUMNS, leverage
from interlace.linalg.crossprod import TermData, build_Z
from parity.compare import EXACT, REFIT
from parity.diag_compare import (
    AT_R,
    DiagQuantity,
    at_r_theta,
    by_col,
    compare_columns,
    fit,
    frame_cols,
    get_entry,
    num,
    one_sided,
    py_keyed,
    r_keyed,
    relative_to_lme4_fit,
    stored,
)
from parity.diag_fixtures import FLOOR_ENTRIES

FLOOR_FACTOR = 3.0  #: margin over R's floor for lme4 influence refits
LME4_PAIR = "D_warm_nloptwrap vs E_warm_bobyqa"
LME4_KEYS = ("fit", "cooks_distance", "dfbetas", "fixef_deleted", "sigma_deleted",
             "theta_deleted", "var_cov_comps_deleted", "vcov_deleted", "converged")


# -- lme4 influence.merMod ------------------------------------------------------------------------
@cache
def lme4_floor(quantity: str) -> tuple[float, str]:
    """R's floor of an lme4 influence quantity family ("cooks", "dfbetas", "fixef", "sigma",
    "theta"): largest over the floor entries, influence.merMod's warm nloptwrap refits vs
    minqa's bobyqa from θ̂; with the entry it comes from."""
    best = (0.0, "")
    for eid in FLOOR_ENTRIES:
        for k, v in stored(eid, "floor")["summary"][LME4_PAIR].items():
            if k.split(".")[0] == quantity and (v["max_rel_to_scale"] or 0.0) > best[0]:
                best = (float(v["max_rel_to_scale"]), eid)
    return best


@cache
def our_influence(entry_id: str) -> Influence:
    """``influence(res)`` of the entry's model (its own method; cached: do not mutate)."""
    e = get_entry(entry_id)
    return influence(fit(e["model"]), groups=None if e["level"] == "1" else e["level"])


def _vcov_cols(labels, vcov: np.ndarray, coef: list[str]) -> dict[str, dict[str, float]]:
    return {f"{a},{b}": {str(u): float(vcov[k, i, j]) for k, u in enumerate(labels)}
            for i, a in enumerate(coef) for j, b in enumerate(coef)}


def _pairs(ours: dict, ref: dict, scales: dict | None = None) -> list[tuple]:
    """Columns of :func:`~parity.diag_compare.compare_columns` ("" = a single column), with
    a column's scale from ``scales`` where given (else its max|R|)."""
    return [((c,) if c else (), ours.get(c, {}), r, (scales or {}).get(c))
            for c, r in ref.items()]


def _vcov_scales(fx: dict, coef: list[str]) -> dict[str, float]:
    """The scale of each deleted-vcov column (a, b): max over units of √(V_aa·V_bb), the
    SEs' scale.  An off-diagonal element can be 0 in exact arithmetic (orthogonal columns,
    e.g. sum-to-zero contrasts of a balanced design): its own max|R| is then rounding."""
    return {f"{a},{b}": max(np.sqrt(abs(num(v[a][a]) * num(v[b][b])))
                            for v in fx["vcov_deleted"].values())
            for a in coef for b in coef}


def lme4_quantities(entry: dict, fx: dict, source: str, fit_at=None,
                    inf: Influence | None = None) -> list[DiagQuantity]:
    """Our ``influence`` against lme4's ``influence.merMod`` reference ``fx``: at lme4's θ
    (full and deleted fits), the optimality of our refits, and at our optimum.

    ``fit_at(theta=None)`` (our fit, or the model evaluated at ``theta``) and ``inf`` (our
    ``influence()`` at the entry's level) serve a model outside the catalog (a certified
    export); by default both come from the entry's catalog case.
    """
    level, model = str(entry["level"]), entry["model"]
    if fit_at is None:
        def fit_at(theta=None):
            return fit(model, theta)
    res_r = fit_at(tuple(fx["fit"]["theta"].values()))
    theta_r = pd.DataFrame(by_col(fx["theta_deleted"]))[res_r.theta_names]
    labels, sets = group_sets(res_r, level, order="appearance") if level != "1" else (None, None)
    inf_r = Influence(res_r, deletions_at(res_r, theta_r, level, labels=labels, sets=sets), level)
    coef = list(res_r.fe_params.index)
    r_vcov = {f"{a},{b}": {u: num(v[a][b]) for u, v in fx["vcov_deleted"].items()}
              for a in coef for b in coef}
    at_r = [("fixef_deleted", frame_cols(inf_r.fixef), by_col(fx["fixef_deleted"])),
            ("sigma_deleted", {"": py_keyed(inf_r.sigma)}, {"": r_keyed(fx["sigma_deleted"])}),
            ("var_cov_comps_deleted", frame_cols(inf_r.var_cov_comps),
             by_col(fx["var_cov_comps_deleted"])),
            ("vcov_deleted", _vcov_cols(inf_r.labels, inf_r.vcov, coef), r_vcov),
            ("cooks_distance", {"": py_keyed(inf_r.cooks_distance())},
             {"": r_keyed(fx["cooks_distance"])}),
            ("dfbetas", frame_cols(inf_r.dfbetas()), by_col(fx["dfbetas"]))]
    why = (f"at lme4's θ̂ and deleted θ ({source}): a function of θ only; rtol 1e-8 + "
           "1e-8·max|R| per column")
    scales = {"vcov_deleted": _vcov_scales(fx, coef)}
    out = [compare_columns(f"{n}[lme4-influence]_at_r_theta", _pairs(p, r, scales.get(n)),
                           AT_R, AT_R, EXACT,
                           why + ("; each element on its SEs' scale √(V_aa·V_bb)"
                                  if n == "vcov_deleted" else ""))
           for n, p, r in at_r]
    inf = our_influence(entry["id"]) if inf is None else inf
    at = deletions_at(fit_at(), theta_r, level, labels=inf.labels, sets=inf.deletions.rows)
    obj_r = pd.Series(at.objective, index=at.labels.map(str))
    excess = pd.Series(inf.deletions.objective, index=inf.labels.map(str)) - obj_r
    out.append(one_sided("objective_deleted[lme4-influence]", excess, obj_r.abs(), 0.0, 1e-11,
                         "our refits vs our criterion at lme4's deleted θ: never worse beyond "
                         "rounding, 1e-11 relative"))
    inf, _, _ = relative_to_lme4_fit(inf, fx, coef)
    conv = {u for u, ok in fx["converged"].items() if ok}
    at_opt = [("cooks_distance", "cooks", {"": py_keyed(inf.cooks_distance())},
               {"": r_keyed(fx["cooks_distance"])}),
              ("dfbetas", "dfbetas", frame_cols(inf.dfbetas()), by_col(fx["dfbetas"])),
              ("fixef_deleted", "fixef", frame_cols(inf.fixef), by_col(fx["fixef_deleted"])),
              ("sigma_deleted", "sigma", {"": py_keyed(inf.sigma)},
               {"": r_keyed(fx["sigma_deleted"])}),
              ("theta_deleted", "theta", frame_cols(inf.theta), by_col(fx["theta_deleted"]))]
    for name, q, p, r in at_opt:
        fl, src = lme4_floor(q)
        r = {c: {u: v for u, v in col.items() if u in conv} for c, col in r.items()}
        p = {c: {u: v for u, v in col.items() if u in conv} for c, col in p.items()}
        out.append(compare_columns(
            f"{name}[lme4-influence]", _pairs(p, r), 0.0, FLOOR_FACTOR * fl, REFIT,
            f"refits with the model's method, warm start at θ̂; |py − R| ≤ 3 × R's measured "
            f"floor {fl:.1e} ({src}.floor.json, nloptwrap vs bobyqa) × max|R| per column; "
            f"n = {len(conv)} of {len(fx['converged'])} units where lme4's refit converged"
            + ("; relative to lme4's full fit" if q in ("cooks", "dfbetas") else "")))
    return out


def lme4_canonical(fx: dict) -> dict:
    """The numbers of an lme4 influence reference (for live-vs-stored drift)."""
    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        return float(x) if isinstance(x, bool) else num(x)
    return {k: clean(fx[k]) for k in LME4_KEYS if k in fx}


# -- brute-force leverage (crossed models) ------------------------------------------------
def brute_force(res, level="1") -> pd.DataFrame:
    """HLMdiag's leverage definition with dense n × n matrices (V = σ²I + σ²ZΛΛᵀZᵀ,
    H1 = X(XᵀV⁻¹X)⁻¹XᵀV⁻¹, H2 = σ²ZΛΛᵀZᵀV⁻¹(I − H1)); group level: means, overall =
    fixef + ranef, as HLMdiag."""
    des = res._design
    X = des.X
    Z = build_Z([TermData(t.codes, t.Xi, len(t.levels)) for t in des.re_terms]).toarray()
    blocks = [T for t, T in zip(des.re_terms, res._layout.templates(res.theta), strict=True)
              for _ in t.levels]
    Lam = np.zeros((Z.shape[1], Z.shape[1]))
    off = 0
    for b in blocks:
        Lam[off:off + b.shape[0], off:off + b.shape[0]] = b
        off += b.shape[0]
    n, s2 = X.shape[0], res.scale
    ZDZ = s2 * Z @ Lam @ Lam.T @ Z.T
    Vinv = np.linalg.inv(s2 * np.eye(n) + ZDZ)
    H1 = X @ np.linalg.inv(X.T @ Vinv @ X) @ X.T @ Vinv
    H2 = ZDZ @ Vinv @ (np.eye(n) - H1)
    obs = pd.DataFrame({"overall": np.diag(H1 + H2), "fixef": np.diag(H1),
                        "ranef": np.diag(H2), "ranef.uc": np.diag(ZDZ) / s2},
                       index=des.row_labels)
    if str(level) == "1":
        return obs
    term = next(t for t in des.re_terms if t.group == level)
    out = obs.groupby(np.array([term.levels[c] for c in term.codes]), sort=False).mean()
    out["overall"] = out["fixef"] + out["ranef"]
    return out


def brute_force_quantity(entry: dict, at: str) -> DiagQuantity:
    """Our (Woodbury) leverage against :func:`brute_force`, at observation and entry level."""
    res = at_r_theta(entry["id"]) if at == "at_r_theta" else fit(entry["model"])
    cols = []
    for lev in dict.fromkeys(["1", str(entry["level"])]):
        ours, bf = leverage(res, 1 if lev == "1" else lev), brute_force(res, lev)
        cols += [((lev, c), py_keyed(ours[c]), py_keyed(bf[c])) for c in LEVERAGE_COLUMNS]
    return compare_columns(
        f"leverage[brute-force]{'_at_r_theta' if at == 'at_r_theta' else ''}", cols, 1e-10,
        1e-10, EXACT, "same θ on both sides (HLMdiag has no leverage for crossed models): "
        "Woodbury vs dense n × n inverse; rtol 1e-10 + 1e-10·max")
