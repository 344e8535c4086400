"""HLMdiag parity of residuals: hlm_resid (all standardize options, group level EB and LS),
LSresids, resid_marginal and resid_conditional (all four types).

The comparisons are the ``resid.*[hlmdiag]`` rows of ``nox -s parity``
(:func:`parity.diag_hlm.resid_quantities`; keyed by label; at R's θ 1e-8, at our optimum
``opt_tol``).  Residual columns use the scale of the fitted values for their absolute
part (a residual is y − fitted: LS residuals of a saturated group fit are exactly 0 in R
and ~1e-15 here).  HLMdiag's NaN (rank-deficient rstandard) must be NaN here too, as must
LS standardized residuals of perfectly fitted groups (0/0; R gives NaN or ±1).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from parity.diag_compare import failures, fit, get_entry, stored
from parity.diag_hlm import STANDARDIZE, resid_quantities

from interlace.diagnostics.hlm import hlm_augment
from interlace.diagnostics.residuals import (
    clean_name,
    hlm_resid,
    resid_marginal,
)
from interlace.errors import InterlaceError
from test_diag_hlmdiag import NESTED

# one entry per model (the residuals do not depend on the deletion level)
MODELS = list({stored(e, "hlmdiag")["model"]: e for e in NESTED}.values())


def at_optimum(entry_id):
    return fit(get_entry(entry_id)["model"])


@pytest.mark.parametrize("entry_id", MODELS)
@pytest.mark.parametrize("at", ["at_r_theta", "optimum"])
def test_residuals_match_hlmdiag(entry_id, at):
    assert not failures(resid_quantities(get_entry(entry_id), at))


@pytest.mark.parametrize("entry_id", MODELS)
def test_columns_follow_hlmdiag(entry_id):
    """hlm_resid's columns and their order, at observation and group level."""
    fx = stored(entry_id, "hlmdiag")["resid"]
    res = at_optimum(entry_id)
    for key, std in STANDARDIZE.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tab = hlm_resid(res, 1, standardize=std)
        want = fx["obs"][key]["hlm_resid_columns"]
        assert list(tab.columns) == [c for c in want if c.startswith(".") and c != ".id"]
    for group, by_std in fx["group"].items():
        for key, ref in by_std.items():
            ours = hlm_resid(res, group, standardize=key == "standardize_true",
                             include_ls=ref["include_ls"])
            assert list(ours.columns) == [c for c in ref["columns"] if c.startswith(".")]


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
