"""ols_dfbetas_qr against statsmodels' own OLSInfluence.dfbetas (n leave-one-out fits).

Both are exact formulas of the same quantity; they differ by rounding only: agreement to
1e-9 relative with an absolute floor of 1e-10 × the column's largest value (observed
≤ 3e-13 absolute on DFBETAS of order 1).  statsmodels is an optional test dependency.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import dataset
from interlace.diagnostics.ols import ols_dfbetas_qr

sm = pytest.importorskip("statsmodels.api")
smf = pytest.importorskip("statsmodels.formula.api")
from statsmodels.stats.outliers_influence import OLSInfluence  # noqa: E402


def _check(ols):
    got = ols_dfbetas_qr(ols)
    want = OLSInfluence(ols).dfbetas
    assert got.shape == (int(ols.nobs), len(ols.model.exog_names))
    atol = 1e-10 * np.max(np.abs(want), axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=atol.max())
    assert np.all(np.abs(got - want) <= atol + 1e-9 * np.abs(want))


@pytest.mark.parametrize("formula", ["Reaction ~ Days", "Reaction ~ Days * C(Subject)",
                                     "Reaction ~ Days + I(Days**2)"])
def test_matches_statsmodels_sleepstudy(formula):
    _check(smf.ols(formula, dataset("sleepstudy")).fit())


def test_matches_statsmodels_arrays_and_factors():
    _check(smf.ols("effort ~ Type + Subject", dataset("ergoStool")).fit())
    rng = np.random.default_rng(7)
    X = sm.add_constant(rng.standard_normal((60, 4)))
    y = X @ np.arange(5.0) + rng.standard_normal(60)
    _check(sm.OLS(y, X).fit())


def test_sign_convention_is_full_minus_deleted():
    d = dataset("sleepstudy")
    ols = smf.ols("Reaction ~ Days", d).fit()
    i = 3
    refit = smf.ols("Reaction ~ Days", d.drop(index=d.index[i])).fit()
    s_i = np.sqrt(refit.mse_resid)
    want = (ols.params - refit.params) / (s_i * np.sqrt(np.diag(ols.normalized_cov_params)))
    np.testing.assert_allclose(ols_dfbetas_qr(ols)[i], want, rtol=1e-9)


def test_refuses_weighted_and_degenerate_models():
    d = dataset("sleepstudy")
    with pytest.raises(TypeError):
        ols_dfbetas_qr(smf.wls("Reaction ~ Days", d, weights=d["Days"] + 1.0).fit())
    X = np.column_stack([np.ones(10), np.arange(10.0), 2 * np.arange(10.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels warns about the rank, too
        rankdef = sm.OLS(np.arange(10.0) ** 2, X).fit()
    with pytest.raises(ValueError, match="rank deficient"):
        ols_dfbetas_qr(rankdef)
    X = np.column_stack([np.ones(6), np.eye(6)[:, 0], np.arange(6.0)])
    with pytest.raises(ValueError, match="leverage 1"):
        ols_dfbetas_qr(sm.OLS(np.arange(6.0) ** 2, X).fit())
