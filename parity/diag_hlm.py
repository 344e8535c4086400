"""HLMdiag parity of the diagnostics entries (:mod:`parity.diag`): one-step measures,
leverage, residuals and exact refits against HLMdiag 0.5.1.9000 (commit 6f1ee6d).

References: ``fixtures/r/diag/<id>.hlmdiag.json`` (``parity/r/hlmdiag_reference.R``;
HLMdiag is not in Debian, so these are always the stored numbers).  Tolerances:

* at lme4's θ̂: rtol = 1e-8 + 1e-8·max|R| per column;
* at our optimum: max(1e-5, 3·δθ) (:func:`parity.diag_compare.opt_tol`);
* exact refits (``approx=False``) against HLMdiag's cold-start REML refits: R's own
  reproducibility floor (``<id>.floor.json``), at least the at-optimum tolerance, on the
  units where R's refit reached the optimum (:func:`refit_quantities`).
"""

from __future__ import annotations

import json
import warnings
from functools import cache

import numpy as np
import pandas as pd

import interlace
from interlace.diagnostics.deletion import delete_refits
from interlace.diagnostics.hlm import exact_measures, hlm_influence
from interlace.diagnostics.leverage import LEVERAGE_COLUMNS, leverage
from interlace.diagnostics.onestep import ONESTEP_COLUMNS, onestep
from interlace.diagnostics.residuals import (
    hlm_resid,
    ls_residuals,
    resid_conditional,
    resid_marginal,
)
from parity.catalog import case_contrasts
from parity.compare import REFIT
from parity.diag_compare import (
    DIAG,
    DiagQuantity,
    compare_columns,
    dataset,
    fit,
    fit_for,
    get_entry,
    level_arg,
    model_case,
    not_compared,
    one_sided,
    opt_tol,
    py_keyed,
    r_keyed,
    stored,
)

ROUNDING = 1e-9  #: least refit tolerance (a floor measured at rounding level)
STANDARDIZE = {"standardize_false": False, "standardize_true": True, "standardize_semi": "semi"}


# -- HLMdiag: one-step measures, leverage, residuals --------------------------------------------
def onestep_quantities(entry: dict, at: str) -> list[DiagQuantity]:
    """cooksd, mdffits, covtrace, covratio and beta_cdd against ``hlm_influence(approx=TRUE)``."""
    fx = stored(entry["id"], "hlmdiag")["onestep"]
    res, tol, cls, why, sfx = fit_for(entry, at)
    meas, dbeta = onestep(res, level_arg(entry))
    out = [compare_columns(f"{c}[hlmdiag-onestep]{sfx}", [((), py_keyed(meas[c]), r_keyed(fx[c]))],
                           tol, tol, cls, why) for c in ONESTEP_COLUMNS]
    cols = [((b,), py_keyed(dbeta[b]), r_keyed(v)) for b, v in fx["beta_cdd"].items()]
    out.append(compare_columns(f"beta_cdd[hlmdiag-onestep]{sfx}", cols, tol, tol, cls, why))
    return out


def influence_table_quantity(entry: dict) -> DiagQuantity:
    """``hlm_influence(approx=TRUE)`` with every leverage column, against HLMdiag's table."""
    fx = stored(entry["id"], "hlmdiag")
    res, tol, cls, why, sfx = fit_for(entry, "at_r_theta")
    tab = hlm_influence(res, level_arg(entry), leverage=list(LEVERAGE_COLUMNS))
    cols, note = [], ""
    for col, vals in fx["hlm_influence"]["values"].items():
        if col.startswith("leverage.") and not fx["units"]["same_order"]:
            vals = fx["leverage"]["group"][col[len("leverage."):]]
            note = ("; leverage.* from HLMdiag's leverage(level), as its table mislabels "
                    "group leverage when factor-level and appearance orders differ")
        cols.append(((col,), py_keyed(tab[col]), r_keyed(vals)))
    return compare_columns(f"hlm_influence[hlmdiag-onestep]{sfx}", cols, tol, tol, cls,
                           why + note)


def leverage_quantity(entry: dict, at: str) -> DiagQuantity:
    """HLMdiag's ``leverage`` (observation and group level) on a nested model."""
    fx = stored(entry["id"], "hlmdiag")["leverage"]
    res, tol, cls, why, sfx = fit_for(entry, at)
    cols = []
    for key, lev in (("obs", 1), ("group", entry["level"])):
        if key in fx:
            ours = leverage(res, lev)
            cols += [((key, c), py_keyed(ours[c]), r_keyed(v)) for c, v in fx[key].items()]
    return compare_columns(f"leverage[hlmdiag]{sfx}", cols, tol, tol, cls, why)


def _perfect_fits(fx: dict, res, fscale: float) -> list[str]:
    """Rows whose LS group fit is perfect in R (every residual of the group ~0)."""
    r = pd.Series(r_keyed(fx["obs"]["standardize_false"]["lsresids"][".ls.resid"]))
    term = res._design.re_terms[0]  # LS groups: lme4's first grouping factor
    group = pd.Series(term.codes, index=res._design.row_labels.map(str)).loc[r.index]
    tiny = (r.abs() <= 1e-10 * fscale).groupby(group).transform("all")
    return list(r.index[tiny.to_numpy()])


def resid_quantities(entry: dict, at: str) -> list[DiagQuantity]:
    """hlm_resid (every standardize option, group level EB and LS), LS, marginal and
    conditional residuals.  Raw residual columns take the fitted values' scale for their
    absolute part; LS standardized residuals of perfectly fitted groups (0/0: R gives NaN
    or ±1) must be NaN here."""
    fx = stored(entry["id"], "hlmdiag")["resid"]
    res, tol, cls, why, sfx = fit_for(entry, at)
    obs = fx["obs"]
    fscale = float(np.nanmax(np.abs(list(
        r_keyed(obs["standardize_false"]["hlm_resid"][".fitted"]).values()))))
    perfect = _perfect_fits(fx, res, fscale)
    table, ls_cols = [], []
    for key, std in STANDARDIZE.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tab, ls = hlm_resid(res, 1, standardize=std), ls_residuals(res, std)
        for col, vals in obs[key]["hlm_resid"].items():
            if "ls." not in col:  # HLMdiag binds LS columns by numeric row name: see LS
                table.append(((key, col), py_keyed(tab[col]), r_keyed(vals),
                              fscale if col in (".resid", ".mar.resid") else None))
        for col, vals in obs[key]["lsresids"].items():
            ref = r_keyed(vals)
            if col == ".std.ls.resid":
                ref.update(dict.fromkeys(perfect, np.nan))
            sc = fscale if col in (".ls.resid", ".ls.fitted") else None
            ls_cols += [((key, "lsresids", col), py_keyed(ls[col]), ref, sc),
                        ((key, "hlm_resid", col), py_keyed(tab[col]), ref, sc)]
    out = [compare_columns(f"resid.hlm_resid[hlmdiag]{sfx}", table, tol, tol, cls, why),
           compare_columns(f"resid.ls[hlmdiag]{sfx}", ls_cols, tol, tol, cls,
                           f"{why}; {len(perfect)} rows in perfectly fitted LS groups must "
                           "be NaN (R: NaN or ±1 from 0/0)")]
    for kind, fun in (("marginal", resid_marginal), ("conditional", resid_conditional)):
        out.append(compare_columns(f"resid.{kind}[hlmdiag]{sfx}", [
            ((t,), py_keyed(fun(res, t)), r_keyed(v), fscale if t == "raw" else None)
            for t, v in obs[f"resid_{kind}"].items()], tol, tol, cls, why))
    group = []
    for g, by_std in fx["group"].items():
        for key, ref in by_std.items():
            ours = hlm_resid(res, g, standardize=key == "standardize_true",
                             include_ls=ref["include_ls"])
            group += [((g, key, c), py_keyed(ours[c]), r_keyed(v))
                      for c, v in ref["values"].items()]
    out.append(compare_columns(f"resid.group[hlmdiag]{sfx}", group, tol, tol, cls, why))
    return out


# -- HLMdiag: exact refits ------------------------------------------------------------------------
@cache
def _hlm_floors() -> dict[str, dict[str, float]]:
    """Per floor entry and quantity, the largest max|a − b| / max|a| between R's refit
    routes (cold vs warm start, nloptwrap vs bobyqa) in ``<id>.floor.json``."""
    out: dict[str, dict[str, float]] = {}
    for path in sorted(DIAG.glob("*.floor.json")):
        tol: dict[str, float] = {}
        for pair in json.loads(path.read_text()).get("summary", {}).values():
            for q, st in pair.items():
                if isinstance(st, dict) and st.get("max_rel_to_scale") is not None:
                    tol[q] = max(tol.get(q, 0.0), float(st["max_rel_to_scale"]))
        out[path.name.removesuffix(".floor.json")] = tol
    return out


def floor_for(entry_id: str) -> tuple[dict[str, float], str]:
    """The floor of an entry and its source: its own; else an entry's on the same data
    (HLMdiag always refits by REML); else, per quantity, the smallest measured."""
    floors = _hlm_floors()
    if entry_id in floors:
        return floors[entry_id], f"{entry_id}.floor.json"
    ds = model_case(get_entry(entry_id)["model"])["dataset"]
    for other, tol in floors.items():
        if model_case(get_entry(other)["model"])["dataset"] == ds:
            return tol, f"{other}.floor.json, same data"
    keys = set().union(*floors.values())
    return ({k: min(t[k] for t in floors.values() if k in t) for k in keys},
            "smallest of " + ", ".join(f"{k}.floor.json" for k in floors))


def floor_tol(floor: dict[str, float], quantity: str) -> float:
    """R's floor of a quantity (≥ ROUNDING); for a name not measured, its family's largest."""
    if quantity in floor:
        return max(floor[quantity], ROUNDING)
    family = quantity.split(".")[0] + "."
    return max(ROUNDING, *(v for k, v in floor.items() if k.startswith(family)))


def r_rvc(fx: dict) -> dict[str, dict[str, float]]:
    """RVC from HLMdiag's raw refit variance components, matched by NAME (HLMdiag's own
    ``rvc`` divides by position: a deleted fit with a variance exactly 0, dropped by
    ``varcomp.mer``, shifts the components; by name that component's RVC is −1)."""
    return {c: {u: vc.get(c, 0.0) / v0 - 1.0 for u, vc in fx["refit"]["varcomp_delete"].items()}
            for c, v0 in fx["refit"]["varcomp_original"].items()}


def theta_from_varcomp(res, vc: dict) -> np.ndarray:
    """θ of an R refit, from its ``varcomp.mer`` (σ² and the bdiag(VarCorr) triangle)."""
    ps = [t.p for t in res._layout.terms]
    D = np.zeros((sum(ps), sum(ps)))
    for k, v in vc.items():
        if k != "sigma2":
            i, j = int(k[1]) - 1, int(k[2]) - 1
            D[i, j] = D[j, i] = v
    theta, off = [], 0
    for t in res._layout.terms:
        S = D[off:off + t.p, off:off + t.p] / vc["sigma2"]
        T = np.zeros_like(S)
        for j in range(t.p):  # Cholesky that tolerates a zero pivot (boundary fits)
            T[j, j] = np.sqrt(max(S[j, j] - T[j, :j] @ T[j, :j], 0.0))
            for i in range(j + 1, t.p):
                T[i, j] = (S[i, j] - T[i, :j] @ T[j, :j]) / T[j, j] if T[j, j] > 0 else 0.0
        theta += list(T[t.rows, t.cols])
        off += t.p
    return np.array(theta)


@cache
def hlm_refits(entry_id: str):
    """(exact measures, β̂ − β̂₍ᵤ₎, REML criterion per unit) of our refits (HLMdiag's REML)."""
    e = get_entry(entry_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meas, dbeta = exact_measures(fit(e["model"]), level_arg(e), method="REML")
        d = delete_refits(fit(e["model"]), e["level"], method="REML")
    meas.index = meas.index.map(str)
    return meas, dbeta.rename(index=str), pd.Series(d.objective, index=d.labels.map(str))


def refit_gaps(entry_id: str) -> pd.Series:
    """Per unit: REML criterion at R's refit θ minus ours at our refit (≥ 0 when ours is
    the better optimum); rebuilt from HLMdiag's ``varcomp.mer`` of each deleted fit."""
    e, fx = get_entry(entry_id), stored(entry_id, "hlmdiag")
    case, res = model_case(e["model"]), fit(e["model"])
    data, ours = dataset(case["dataset"]), hlm_refits(entry_id)[2]
    gaps = {}
    for u, vc in fx["refit"]["varcomp_delete"].items():
        keep = (data.index != u) if e["level"] == "1" else (data[e["level"]].astype(str) != u)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r_at = interlace.evaluate_at(case["formula"], data[keep],
                                         theta_from_varcomp(res, vc), method="REML",
                                         contrasts=case_contrasts(case))
        gaps[u] = r_at.objective - ours[u]
    return pd.Series(gaps)


def refit_quantities(entry: dict) -> list[DiagQuantity]:
    """``hlm_influence(approx=FALSE)`` (cooksd, mdffits, covtrace, covratio, rvc.*) and the
    deleted β̂ against HLMdiag's cold-start REML refits, on the units where R's refit
    reached the optimum; plus the one-sided check that ours are optima."""
    eid, fx = entry["id"], stored(entry["id"], "hlmdiag")["refit"]
    meas, dbeta, ours_obj = hlm_refits(eid)
    gaps = refit_gaps(eid)
    good = set(gaps.index[gaps <= 1e-6])
    worst = gaps.idxmax()
    out = [one_sided("objective_deleted[hlmdiag-refit]", -gaps, ours_obj.loc[gaps.index].abs(),
                     1e-6, 0.0, f"REML criterion of our refits vs at R's refit θ (from "
                     f"varcomp.mer): ours never worse by > 1e-6; R's cold start stopped short "
                     f"on {len(gaps) - len(good)} of {len(gaps)} units (worst {gaps[worst]:.1e}"
                     f" at {worst}), which the rows below exclude", len(good) >= len(gaps) // 2)]
    floor, fsrc = floor_for(eid)
    base = opt_tol(eid)[0]
    res = fit(entry["model"])

    def why(tol):
        return (f"HLMdiag refits: REML, lmerControl(), cold start (interlace method='REML'); "
                f"|py − R| ≤ {tol:.1e}·max|R| = max(R's floor ({fsrc}), at-optimum "
                f"{base:.1e}); n = {len(good)} of {len(gaps)} units where R's refit converged")

    def keep(d):
        return {k: v for k, v in d.items() if k in good}

    for c in ONESTEP_COLUMNS:
        if "error" in fx["measures"][c]:
            out.append(not_compared(f"{c}[hlmdiag-refit]", "not compared: HLMdiag fails "
                                    f"({fx['measures'][c]['error']}; one fixed effect)"))
            continue
        ref, tol = r_keyed(fx["measures"][c]), max(floor_tol(floor, c), base)
        scale = max(abs(v) for v in ref.values())
        out.append(compare_columns(f"{c}[hlmdiag-refit]", [
            ((), keep(py_keyed(meas[c])), keep(ref), scale)], 0.0, tol, REFIT, why(tol)))
    for c, ref in r_rvc({"refit": fx}).items():
        tol = max(floor_tol(floor, f"rvc.{c}"), base)
        scale = max(abs(v) for v in ref.values())
        out.append(compare_columns(f"rvc.{c}[hlmdiag-refit]", [
            ((), keep(py_keyed(meas[f"rvc.{c}"])), keep(ref), scale)], 0.0, tol, REFIT, why(tol)))
    cols, tols = [], []
    for b, vals in fx["fixef_delete"].items():
        ref, tol = r_keyed(vals), max(floor_tol(floor, f"fixef.{b}"), base)
        tols.append(tol)
        cols.append(((b,), keep(py_keyed(res.fe_params[b] - dbeta[b])), keep(ref),
                     max(abs(v) for v in ref.values()), tol))
    out.append(compare_columns("fixef_deleted[hlmdiag-refit]", cols, 0.0, max(tols), REFIT,
                               why(max(tols)) + " (tolerance per coefficient)"))
    return out
