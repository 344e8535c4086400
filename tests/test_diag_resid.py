"""HLMdiag parity of residuals: hlm_resid (all standardize options, group level EB and LS),
LSresids, resid_marginal and resid_conditional (all four types).

Tolerances and comparison as in tests/test_diag_hlmdiag.py (keyed by label; at R's θ
1e-8, at our optimum ``opt_tol``).  Residual columns use the scale of the fitted values
for their absolute part (a residual is y − fitted: LS residuals of a saturated group fit
are exactly 0 in R and ~1e-15 here).  HLMdiag's NaN (rank-deficient rstandard) must be
NaN here too.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from interlace.diagnostics.hlm import hlm_augment
from interlace.diagnostics.residuals import (
    clean_name,
    hlm_resid,
    ls_residuals,
    resid_conditional,
    resid_marginal,
)
from interlace.errors import InterlaceError
from test_diag_hlmdiag import (
    AT_R,
    NESTED,
    as_series,
    at_optimum,
    at_r_theta,
    check,
    hlmdiag,
    opt_tol,
)

# one entry per model (the residuals do not depend on the deletion level)
MODELS = list({hlmdiag(e)["model"]: e for e in NESTED}.values())
STANDARDIZE = {"standardize_false": False, "standardize_true": True, "standardize_semi": "semi"}


def _res(entry_id, where):
    return at_r_theta(entry_id) if where == "at_r_theta" else at_optimum(entry_id)


def _tol(entry_id, where):
    return AT_R if where == "at_r_theta" else opt_tol(entry_id)


def _fitted_scale(fx) -> float:
    return float(as_series(fx["resid"]["obs"]["standardize_false"]["hlm_resid"][".fitted"])
                 .abs().max())


def _perfect_fits(fx, res) -> pd.Index:
    """Rows whose LS group fit is perfect in R (every residual of the group ~0)."""
    r = as_series(fx["resid"]["obs"]["standardize_false"]["lsresids"][".ls.resid"])
    term = res._design.re_terms[0]  # LS groups: lme4's first grouping factor
    group = pd.Series(term.codes, index=res._design.row_labels.map(str)).loc[r.index]
    tiny = (r.abs() <= 1e-10 * _fitted_scale(fx)).groupby(group).transform("all")
    return r.index[tiny.to_numpy()]


@pytest.mark.parametrize("entry_id", MODELS)
@pytest.mark.parametrize("where", ["at_r_theta", "optimum"])
def test_level1_hlm_resid(entry_id, where):
    fx = hlmdiag(entry_id)
    res, tol = _res(entry_id, where), _tol(entry_id, where)
    fscale = _fitted_scale(fx)
    for key, std in STANDARDIZE.items():
        ref = fx["resid"]["obs"][key]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tab = hlm_resid(res, 1, standardize=std)
            ls = ls_residuals(res, std)
        assert list(tab.columns) == [c for c in ref["hlm_resid_columns"] if c.startswith(".")
                                     and c != ".id"]
        for col, vals in ref["hlm_resid"].items():
            if "ls." in col:
                continue  # HLMdiag binds LS columns by numeric row name: compared below
            scale = fscale if col in (".resid", ".mar.resid") else None
            check(tab[col], vals, tol, f"{entry_id} {key} {col} {where}", scale)
        for col, vals in ref["lsresids"].items():
            scale = fscale if col in (".ls.resid", ".ls.fitted") else None
            vals = as_series(vals)
            if col == ".std.ls.resid":  # 0 / 0 in perfectly fitted groups: R gives NaN or ±1
                perfect = _perfect_fits(fx, res)
                assert ls[col].rename(index=str).loc[perfect].isna().all()
                vals = vals.drop(perfect)
            check(ls[col], vals, tol, f"{entry_id} {key} LS {col} {where}", scale)
            check(tab[col], vals, tol, f"{entry_id} {key} table {col} {where}", scale)


@pytest.mark.parametrize("entry_id", MODELS)
@pytest.mark.parametrize("where", ["at_r_theta", "optimum"])
def test_marginal_and_conditional_types(entry_id, where):
    fx = hlmdiag(entry_id)
    res, tol = _res(entry_id, where), _tol(entry_id, where)
    fscale = _fitted_scale(fx)
    for kind, fun in (("resid_marginal", resid_marginal),
                      ("resid_conditional", resid_conditional)):
        for t, vals in fx["resid"]["obs"][kind].items():
            scale = fscale if t == "raw" else None
            check(fun(res, t), vals, tol, f"{entry_id} {kind} {t} {where}", scale)


@pytest.mark.parametrize("entry_id", MODELS)
@pytest.mark.parametrize("where", ["at_r_theta", "optimum"])
def test_group_level(entry_id, where):
    """EB (.ranef / .std.ranef) and LS (.ls / .std.ls) group-level residuals."""
    fx = hlmdiag(entry_id)
    res, tol = _res(entry_id, where), _tol(entry_id, where)
    for group, by_std in fx["resid"]["group"].items():
        for key, ref in by_std.items():
            std = key == "standardize_true"
            ours = hlm_resid(res, group, standardize=std, include_ls=ref["include_ls"])
            expected = [c for c in ref["columns"] if c.startswith(".")]
            assert list(ours.columns) == expected, (group, key)
            for col, vals in ref["values"].items():
                check(ours[col], vals, tol, f"{entry_id} {group} {key} {col} {where}")


def test_ls_where_hlmdiag_fails():
    """Group-level LS where HLMdiag stops (Orthodont: Sex constant within Subject) exists
    here: the per-subject OLS intercept and slope, centred."""
    res = at_optimum("diag_orthodont_subject")
    tab = hlm_resid(res, "Subject")
    assert {".ls.intercept", ".ls.age"} <= set(tab.columns)
    assert np.isfinite(tab[[".ls.intercept", ".ls.age"]].to_numpy()).all()
    assert abs(tab[".ls.age"].mean()) < 1e-12


def test_pull_resid_and_errors():
    res = at_optimum("diag_sleepstudy")
    tab = hlm_resid(res, 1)
    pd.testing.assert_series_equal(hlm_resid(res, 1, type="eb"), tab[".resid"])
    pd.testing.assert_series_equal(hlm_resid(res, 1, type="ls"), tab[".ls.resid"])
    pd.testing.assert_series_equal(hlm_resid(res, 1, type="marginal"), tab[".mar.resid"])
    with pytest.raises(InterlaceError):
        hlm_resid(res, 1, standardize="half")
    with pytest.raises(InterlaceError):
        hlm_resid(res, "Nope")
    with pytest.raises(InterlaceError):
        resid_marginal(res, "deviance")


def test_clean_names():
    assert [clean_name(s) for s in ["(Intercept)", "Days", "SexFemale", "age:SexFemale"]] == [
        "intercept", "days", "sex_female", "age_sex_female"]


def test_hlm_augment():
    res = at_optimum("diag_sleepstudy")
    aug = hlm_augment(res)
    assert list(aug.index) == list(res._design.row_labels)
    for col in ("Reaction", "Days", "Subject", ".resid", ".fitted", ".mar.resid", ".cooksd",
                ".mdffits", ".covtrace", ".covratio", ".leverage"):
        assert col in aug.columns
    grp = hlm_augment(res, level="Subject")
    assert {".ranef.intercept", ".ls.days", ".cooksd", ".leverage"} <= set(grp.columns)
    assert len(grp) == 18
