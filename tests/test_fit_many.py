"""interlace.fit_many: every response's row equals a separate ``fit`` of that response
(exactly: the same objective, the same optimizer path), whatever its missing rows."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import interlace
from conftest import dataset
from interlace.errors import DataError

FORMULA = "~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def sleep():
    return dataset("sleepstudy").reset_index(drop=True)


@pytest.fixture(scope="module")
def responses(sleep):
    m = interlace.fit("Reaction ~ Days + (Days | Subject)", sleep)
    Y = pd.DataFrame(m.simulate(8, seed=11), index=sleep.index).add_prefix("g")
    Y.iloc[3, 1] = np.nan  # one missing row
    Y.loc[sleep["Subject"].astype(str) == "308", "g2"] = np.nan  # a whole subject missing
    Y.iloc[[5, 40, 41, 90], 3] = np.nan  # another pattern
    Y.iloc[[5, 40, 41, 90], 4] = np.nan  # ... shared by a second response
    # no between-subject variation at all: a singular fit
    Y["flat"] = sleep["Days"] * 10.0 + np.random.default_rng(1).normal(0, 20, len(sleep))
    return Y


def _separate(sleep, Y, name, method="REML"):
    d = sleep.assign(resp=Y[name])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = interlace.fit("resp " + FORMULA, d, method=method)
    return f, [str(w.message) for w in caught]


def _expected_row(f) -> dict:
    ct = f.coef_table()
    out = {}
    for stat, col in (("estimate", "Estimate"), ("se", "Std. Error"), ("df", "df"),
                      ("t", "t value"), ("p", "Pr(>|t|)")):
        out.update({f"{stat}[{k}]": v for k, v in ct[col].items()})
    vc = f.varcorr
    for r in vc.itertuples():
        key = ("sigma" if r.grp == "Residual" else f"sd[{r.grp}:{r.var1}]" if pd.isna(r.var2)
               else f"cor[{r.grp}:{r.var1}:{r.var2}]")
        out[key] = r.sdcor
    out.update(logLik=f.llf, AIC=f.aic, BIC=f.bic, nobs=f.nobs)
    out["REMLcrit" if f.method == "REML" else "deviance"] = f.objective
    return out


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_rows_equal_separate_fits(sleep, responses, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = interlace.fit_many(FORMULA, sleep, responses, method=method)
    assert list(out.index) == list(responses.columns) and out.index.name == "response"
    for name in responses.columns:
        f, msgs = _separate(sleep, responses, name, method)
        exp = _expected_row(f)
        for key, val in exp.items():
            got = out.loc[name, key]
            if np.isnan(val):  # a correlation of a zero sd (R's NaN too)
                assert np.isnan(got) and out.loc[name, "singular"], (name, key)
                continue
            assert abs(got - val) <= 1e-12 * abs(val), (name, key, got, val)
        assert out.loc[name, "converged"] == f.converged
        assert out.loc[name, "singular"] == f.is_singular
        assert out.loc[name, "n_evals"] == f.optinfo.n_evals
        for m in msgs:  # the fit's warnings are the row's messages
            assert m.replace("resp", "the response") in out.loc[name, "messages"] or \
                m in out.loc[name, "messages"]
    assert out.loc["g2", "nobs"] == 170 and out.loc["g1", "nobs"] == 179
    assert out.loc["flat", "singular"] and "singular" in out.loc["flat", "messages"]


def test_columns_of_data_polars_and_parallel_agree(sleep, responses):
    data = pd.concat([sleep, responses], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = interlace.fit_many("Reaction" + FORMULA, data, list(responses.columns))
        b = interlace.fit_many(FORMULA, sleep, responses, n_jobs=2)
    pd.testing.assert_frame_equal(a, b)
    pl = pytest.importorskip("polars")
    from test_polars import to_polars

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = interlace.fit_many(FORMULA, to_polars(data), list(responses.columns))
    assert isinstance(c, pl.DataFrame) and c.columns[0] == "response"
    assert c["response"].to_list() == list(a.index)
    np.testing.assert_array_equal(c["estimate[Days]"].to_numpy(), a["estimate[Days]"])
    np.testing.assert_array_equal(c["df[Days]"].to_numpy(), a["df[Days]"])


def test_a_failing_response_gets_its_reason_and_a_warning(sleep, responses):
    Y = responses[["g0"]].assign(bad=np.inf, const=250.0 + sleep["Days"] * 0)
    Y.loc[Y.index[:-1], "bad"] = responses["g0"].iloc[:-1]
    with pytest.warns(UserWarning, match=r"2 of 3 responses could not be fitted"):
        out = interlace.fit_many(FORMULA, sleep, Y)
    assert out.loc["g0", "error"] is None and np.isfinite(out.loc["g0", "estimate[Days]"])
    assert "infinite" in out.loc["bad", "error"] and np.isnan(out.loc["bad", "sigma"])
    assert out.loc["const", "error"] and np.isnan(out.loc["const", "estimate[Days]"])
    assert out.loc["const", "nobs"] == 0 and not out.loc["const", "converged"]


def test_bad_input_names_what_is_wrong(sleep, responses):
    with pytest.raises(DataError, match=r"\['nope'\] not found"):
        interlace.fit_many(FORMULA, sleep, ["nope"])
    with pytest.raises(DataError, match="'Subject' must be numeric"):
        interlace.fit_many(FORMULA, sleep, ["Subject"])
    with pytest.raises(DataError, match="repeated"):
        interlace.fit_many(FORMULA, sleep.assign(a=1.0), ["a", "a"])
    with pytest.raises(DataError, match="has 3 rows and data 180"):
        interlace.fit_many(FORMULA, sleep, responses.iloc[:3])
    with pytest.raises(DataError, match="index differs"):
        interlace.fit_many(FORMULA, sleep, responses.set_axis(responses.index + 1000))
    with pytest.raises(DataError, match="needs responses"):
        interlace.fit_many(FORMULA, sleep)


def test_newton_engine_reaches_the_criterion_own_optimum(sleep, responses):
    """engine="newton": every optimum at least as low as lme4's path's, and the same as a
    fit converged far tighter than lme4's default (θ-dependent values to ~1e-7; 1e-5 is
    the bound); a response it does not settle (the singular one) is fitted exactly."""
    tight = {"opt_settings": {"xtol_rel": 1e-14, "ftol_abs": 1e-15, "xtol_abs": 1e-14}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = interlace.fit_many(FORMULA, sleep, responses)
        newton = interlace.fit_many(FORMULA, sleep, responses, engine="newton")
        tighter = interlace.fit_many(FORMULA, sleep, responses, control=tight)
    assert (exact["engine"] == "exact").all()
    assert newton.loc["flat", "engine"] == "exact"  # on the boundary: lme4's rules
    # the five complete responses share a design; a missing-row pattern of fewer than
    # NEWTON_MIN responses (g1, g2, and g3 with g4) is fitted exactly
    assert newton.loc[["g0", "g5", "g6", "g7"], "engine"].eq("newton").all()
    assert newton.loc[["g1", "g2", "g3", "g4"], "engine"].eq("exact").all()
    assert (newton["REMLcrit"] <= exact["REMLcrit"] + 1e-10 * exact["REMLcrit"].abs()).all()
    nw = newton["engine"] == "newton"
    for col in newton.columns:
        if newton[col].dtype.kind == "f":
            np.testing.assert_allclose(newton.loc[nw, col], tighter.loc[nw, col], rtol=1e-5,
                                       atol=0, err_msg=col)
    pd.testing.assert_frame_equal(newton.loc[~nw], exact.loc[~nw])
