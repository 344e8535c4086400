"""Python side of the parity schema: fit a catalog case and emit name-keyed quantities.

The keys and their meaning match the R fixtures written by ``parity/r/reference.R``
(``fixtures/r/<case>.json``), so :mod:`parity.compare` can diff them generically.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

import interlace
from parity.catalog import case_contrasts
from parity.data import case_data


def lmm_kwargs(case: dict) -> dict[str, Any]:
    """The keyword arguments of interlace.fit for an LMM catalog case (its formula aside)."""
    kw: dict[str, Any] = dict(method=case.get("method", "REML"),
                              optimizer=case.get("optimizer", "bobyqa"))
    if case.get("weights"):
        kw["weights"] = case["weights"]
    if case.get("offset"):  # a column (an LMM case's offset is a column name)
        kw["offset"] = case["offset"]
    if case_contrasts(case) is not None:
        kw["contrasts"] = case_contrasts(case)
    return kw


def fit_case(case: dict, data=None, theta=None, **overrides: Any) -> interlace.CrossedLMEResult:
    """Fit a catalog case with interlace, or evaluate it at ``theta`` (warnings captured)."""
    if data is None:
        data = case_data(case)
    kw = {**lmm_kwargs(case), **overrides}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if theta is not None:
            kw.pop("optimizer")
            return interlace.evaluate_at(case["formula"], data, theta, **kw)
        return interlace.fit(case["formula"], data, **kw)


def canonical(res: interlace.CrossedLMEResult, *, with_df: bool = True) -> dict:
    """Name-keyed quantities of a fit, in the fixtures' schema."""
    out: dict[str, Any] = {
        "objective": res.objective,
        "theta": dict(zip(res.theta_names, res.theta.tolist(), strict=True)),
        "fixef": res.fe_params.to_dict(),
        "se": res.fe_bse.to_dict(),
        "vcov": {a: dict(zip(res.fe_params.index, row, strict=True))
                 for a, row in zip(res.fe_params.index, res.fe_cov.tolist(), strict=True)},
        "sigma": res.sigma,
        "loglik": res.llf,
        "aic": res.aic,
        "bic": res.bic,
        "nobs": res.nobs,
        "is_singular": res.is_singular,
        "varcorr": {(r["grp"], r["var1"], r["var2"]): (r["vcov"], r["sdcor"])
                    for r in res._layout.varcorr(res.theta, res.sigma)},
    }
    rf = res.ranef_frame()
    out["ranef"] = {(g, str(lv), t): v for g, t, lv, v in
                    zip(rf.grpvar, rf.term, rf.grp, rf.condval, strict=True)}
    out["condsd"] = {(g, str(lv), t): v for g, t, lv, v in
                     zip(rf.grpvar, rf.term, rf.grp, rf.condsd, strict=True)}
    labels = [str(x) for x in res._design.row_labels]
    out["fitted"] = dict(zip(labels, np.asarray(res.fittedvalues).tolist(), strict=True))
    out["residuals"] = dict(zip(labels, np.asarray(res.resid).tolist(), strict=True))
    if with_df:
        out["satterthwaite_df"] = res.fe_df.to_dict()
    return out


def r_canonical(fx: dict) -> dict:
    """The R fixture's quantities in the same shape as :func:`canonical`."""
    out: dict[str, Any] = {
        "objective": fx["objective"]["value"],
        "theta": {t["name"]: t["value"] for t in fx["theta"]},
        "theta_lower": {t["name"]: lo for t, lo in zip(fx["theta"], fx["lower"], strict=True)},
        "fixef": fx["fixef"],
        "se": fx["se"],
        "vcov": fx["vcov"],
        "sigma": fx["sigma"],
        "loglik": fx["loglik"]["value"],
        "aic": fx["aic"],
        "bic": fx["bic"],
        "nobs": fx["nobs"],
        "is_singular": fx["is_singular"],
        "varcorr": {(r["grp"], r["var1"], r["var2"]): (r["vcov"], r["sdcor"])
                    for r in fx["varcorr"]},
        "ranef": {(r["group"], str(r["level"]), r["term"]): r["value"] for r in fx["ranef"]},
        "condsd": {(r["group"], str(r["level"]), r["term"]): r["condsd"] for r in fx["ranef"]},
        "fitted": fx["fitted"],
        "residuals": fx["residuals"],
        "satterthwaite_df": fx["satterthwaite_df"],
        "devfun_at": {d["label"]: d["value"] for d in fx["devfun_at"]},
    }
    return out


def run_case(case: dict, fixture: dict, data=None, res=None) -> tuple[dict, dict, object]:
    """Our quantities at our optimum and at lme4's θ̂ (plus lme4's devfun points).

    ``res``: our fit when already made (live mode fits first to send R our θ̂).
    """
    if data is None:
        data = case_data(case)
    if res is None:
        res = fit_case(case, data)
    at_r = fit_case(case, data, theta=[t["value"] for t in fixture["theta"]])
    py_at_r = canonical(at_r)
    py_at_r["devfun_at"] = {d["label"]: at_r._dev(np.asarray(d["theta"]))
                            for d in fixture["devfun_at"]}
    return canonical(res), py_at_r, res
