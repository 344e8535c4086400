"""R's contrasts (issue 12): ``contrasts=`` codes factors as R's ``contr.treatment``,
``contr.SAS``, ``contr.sum``, ``contr.helmert`` and ``contr.poly`` do.

R's own numbers for these codings are in the parity catalog (cases with ``contrasts``) and
in the lmerTest fixtures; here the algebra is checked.  A change of coding is X' = X C with
C invertible, so at the same θ the ML deviance, fitted values and σ are unchanged, β' =
C⁻¹β, and the REML criterion moves by the constant 2 log|det C| (its log|R_X|² term).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import interlace
from conftest import dataset
from interlace.design import CONTRASTS, contr_helmert, contr_sas, contr_sum
from interlace.errors import DataError, InterlaceError

NAMES = list(CONTRASTS)


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


# ---------------------------------------------------------------- the functions
@pytest.mark.parametrize("k", [2, 3, 5])
def test_functions_span_the_contrasts(k):
    levels = tuple("abcdefg"[:k])
    for name, fn in CONTRASTS.items():
        C, cols = fn(levels)
        assert C.shape == (k, k - 1) and len(cols) == k - 1, name
        # with the intercept they span every function of the levels
        assert np.linalg.matrix_rank(np.column_stack([np.ones(k), C])) == k, name
    C, cols = contr_sum(levels)
    np.testing.assert_array_equal(C.sum(axis=0), 0)
    assert cols == tuple(str(i) for i in range(1, k))
    C, _ = contr_helmert(levels)
    np.testing.assert_array_equal(C.sum(axis=0), 0)
    G = C.T @ C
    np.testing.assert_array_equal(G, np.diag(np.diag(G)))  # orthogonal columns
    C, cols = contr_sas(levels)
    assert cols == levels[:-1] and not C[-1].any()  # the last level is the reference


def test_names_accept_r_spelling_and_short_forms():
    c = interlace.Contrasts({"a": "sum", "b": "contr.SAS", "c": "Helmert"},
                            unordered="treatment", ordered="POLY")
    assert c.by_variable == {"a": "contr.sum", "b": "contr.SAS", "c": "contr.helmert"}
    assert c.default == ("contr.treatment", "contr.poly") and not c.is_default


# ---------------------------------------------------------------- invariance of a fit
def _machines():
    return dataset("Machines")


FORMULA = "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_recoding_moves_only_what_the_algebra_says(name, method):
    data = _machines()
    base = _quiet(interlace.fit, FORMULA, data, method=method)
    at = _quiet(interlace.evaluate_at, FORMULA, data, base.theta, method=method,
                contrasts={"Machine": name})
    X, Xc = base._design.X, at._design.X
    C = np.linalg.lstsq(X, Xc, rcond=None)[0]
    np.testing.assert_allclose(X @ C, Xc, atol=1e-12)
    shift = 2 * np.log(abs(np.linalg.det(C))) if method == "REML" else 0.0
    assert at.objective == pytest.approx(base.objective + shift, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(at.fittedvalues, base.fittedvalues, rtol=1e-12)
    assert at.sigma == pytest.approx(base.sigma, rel=1e-12)
    np.testing.assert_allclose(C @ at.fe_params.to_numpy(), base.fe_params.to_numpy(),
                               rtol=1e-11, atol=1e-11)
    Ci = np.linalg.inv(C)
    np.testing.assert_allclose(at.fe_cov, Ci @ base.fe_cov @ Ci.T, rtol=1e-10, atol=1e-12)
    # and the fit: θ̂ where the optimizer stops on the same surface, up to its tolerance
    res = _quiet(interlace.fit, FORMULA, data, method=method, contrasts={"Machine": name})
    np.testing.assert_allclose(res.theta, base.theta, rtol=1e-5)
    assert res.llf - (0 if method == "ML" else shift / -2) == pytest.approx(base.llf, rel=1e-8)


def test_column_names_follow_r():
    data = dataset("cake")
    res = _quiet(interlace.fit, "angle ~ recipe * temperature + (1 | recipe:replicate)", data,
                 contrasts={"recipe": "contr.sum", "temperature": "contr.helmert"})
    names = list(res.fe_params.index)
    assert names[:3] == ["(Intercept)", "recipe1", "recipe2"]
    assert names[3:8] == [f"temperature{i}" for i in range(1, 6)]
    assert names[8:10] == ["recipe1:temperature1", "recipe2:temperature1"]
    assert res.contrasts == {"recipe": "contr.sum", "temperature": "contr.helmert"}
    sas = _quiet(interlace.fit, "angle ~ recipe + (1 | recipe:replicate)", data,
                 contrasts={"recipe": "SAS"})
    assert list(sas.fe_params.index) == ["(Intercept)", "recipeA", "recipeB"]
    default = _quiet(interlace.fit, "angle ~ recipe + temperature + (1 | recipe:replicate)",
                     data)
    assert default.contrasts == {"recipe": "contr.treatment", "temperature": "contr.poly"}


def test_defaults_code_the_random_effects_too():
    """R's options(contrasts=) code every factor; lmer's contrasts= only X."""
    data = _machines()
    f = "score ~ Machine + (Machine | Worker)"
    base = _quiet(interlace.fit, f, data, method="ML")
    by_var = _quiet(interlace.fit, f, data, method="ML", contrasts={"Machine": "sum"})
    assert list(by_var._design.re_terms[0].col_names) == ["(Intercept)", "MachineB",
                                                          "MachineC"]
    opts = _quiet(interlace.fit, f, data, method="ML", contrasts=("contr.sum", "contr.poly"))
    assert list(opts._design.re_terms[0].col_names) == ["(Intercept)", "Machine1", "Machine2"]
    assert list(opts.fe_params.index) == ["(Intercept)", "Machine1", "Machine2"]
    # an unstructured covariance is invariant under recoding its columns: same optimum
    for r in (by_var, opts):
        assert r.llf == pytest.approx(base.llf, rel=1e-7)


def test_predict_and_update_keep_the_coding():
    data = dataset("cake")
    f = "angle ~ recipe + temperature + (1 | recipe:replicate)"
    res = _quiet(interlace.fit, f, data, contrasts={"recipe": "sum", "temperature": "SAS"})
    np.testing.assert_allclose(res.predict(data), res.fittedvalues, rtol=1e-12)
    np.testing.assert_allclose(res.predict(data, include_re=False),
                               res._design.X @ res.fe_params.to_numpy(), rtol=1e-12)
    up = _quiet(res.update, method="ML")
    assert up.contrasts == res.contrasts
    assert list(up.fe_params.index) == list(res.fe_params.index)


def test_glmer_takes_contrasts():
    data = dataset("cbpp")
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    base = _quiet(interlace.glmer, f, data, family="binomial")
    at = _quiet(interlace.evaluate_glmm_at, f, data, base.theta,
                np.linalg.lstsq(_quiet(interlace.glmer, f, data, family="binomial",
                                       contrasts={"period": "helmert"})._design.X,
                                base._design.X @ base.fe_params.to_numpy(), rcond=None)[0],
                family="binomial", contrasts={"period": "helmert"})
    assert list(at.fe_params.index) == ["(Intercept)", "period1", "period2", "period3"]
    # the Laplace deviance depends on β only through Xβ: equal at the mapped β
    base_at = _quiet(interlace.evaluate_glmm_at, f, data, base.theta,
                     base.fe_params.to_numpy(), family="binomial")
    assert at.objective == pytest.approx(base_at.objective, rel=1e-10)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("arg, match", [
    ({"Worker": "sum"}, "not a variable of the fixed-effects part"),
    ({"machine": "sum"}, "'machine'"),
    ({"Machine": "contr.treatment(base = 2)"}, "unsupported contrast function"),
    ({"Machine": np.eye(3)[:, 1:]}, "contrast matrices"),
    ({"Machine": "contr.poly", 3: "sum"}, "variable names must be strings"),
    ("contr.sum", "mapping of variable names"),
    (("contr.sum", "contr.bogus"), "unsupported contrast function 'contr.bogus'"),
])
def test_bad_contrasts_are_named(arg, match):
    with pytest.raises((InterlaceError, DataError), match=match):
        _quiet(interlace.fit, FORMULA, _machines(), contrasts=arg)


def test_contrasts_of_a_numeric_variable_is_r_error():
    data = dataset("sleepstudy")
    with pytest.raises(DataError, match="contrasts apply only to factors: 'Days' is numeric"):
        interlace.fit("Reaction ~ Days + (1 | Subject)", data, contrasts={"Days": "sum"})


def test_a_logical_takes_contrasts_as_in_r():
    data = _machines().assign(flag=lambda d: d["Machine"].astype(str) == "A")
    res = _quiet(interlace.fit, "score ~ flag + (1 | Worker)", data,
                 contrasts={"flag": "helmert"})
    assert list(res.fe_params.index) == ["(Intercept)", "flag1"]
    x = res._design.X[:, 1]
    np.testing.assert_array_equal(x, np.where(data["flag"], 1.0, -1.0))
    assert isinstance(res.fe_params, pd.Series)
