"""Satterthwaite df, t-tests and vcov(varpar) against lmerTest fixtures.

Each case is evaluated at R's theta and sigma (read from ``fixtures/r/<case>.json``)
with the brute-force dense PLS evaluator of ``tests/dense_pls.py``, so the only
difference from lmerTest is the df computation itself.  Fixtures are written by
``python -m parity.fixtures``; a case whose fixture or dataset is absent is skipped.
Set ``INTERLACE_R_FIXTURES`` to read fixtures from another directory.
"""

from __future__ import annotations

import json
import os
import re
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dense_pls import CASES, DenseCase
from interlace.errors import ConvergenceWarning
from interlace.inference.satterthwaite import (
    coef_table,
    contest1d,
    satterthwaite_df,
    satterthwaite_fit,
    vcov_varpar,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DIR = Path(os.environ.get("INTERLACE_R_FIXTURES", ROOT / "fixtures" / "r"))
RTOL = 1e-6

SATT_CASES = [
    "sleepstudy_slopes_reml",
    "sleepstudy_slopes_ml",
    "penicillin_crossed",
    "penicillin_crossed_ml",
    "dyestuff2_reml",
    "dyestuff2_ml",
    "dyestuff_reml",
    "dyestuff_ml",
    "sleepstudy_intercept_reml",
    "sleepstudy_uncorr_reml",
    "sleepstudy_twoterm_ml",
    "pastes_nested",
    "ergostool",
    "machines_nested",
    "cbpp_weights",
    "machines_factor_slope",
    "orthodont_interaction",
    "bodyweight",
]


def load_fixture(case_id: str) -> dict:
    path = FIXTURE_DIR / f"{case_id}.json"
    if not path.exists():
        pytest.skip(f"R fixture {path} not generated yet (python -m parity.fixtures)")
    return json.loads(path.read_text(encoding="utf-8"))


def load_data(name: str):
    try:
        from parity.data import load_dataset
    except ImportError:
        sys.path.insert(0, str(ROOT))
        try:
            from parity.data import load_dataset
        except ImportError:
            pytest.skip("parity.data.load_dataset is not available")
    try:
        return load_dataset(name)
    except FileNotFoundError:
        pytest.skip(f"dataset fixtures/data/{name}.csv not exported yet")


def named(obj, names: list[str]) -> dict[str, float]:
    """A fixture vector as {coef: value}; R drops the names of length-1 vectors."""
    if isinstance(obj, dict):
        return {k: float(v) for k, v in obj.items()}
    vals = np.atleast_1d(np.asarray(obj, dtype=float))
    assert vals.size == len(names)
    return dict(zip(names, vals.tolist(), strict=True))


def setup_case(case_id: str) -> tuple[dict, DenseCase, np.ndarray, float]:
    fx = load_fixture(case_id)
    dataset, build = CASES[case_id]
    case = build(load_data(dataset))
    assert [t["name"] for t in fx["theta"]] == case.theta_names
    assert list(fx["fixef"]) == case.coef_names
    theta = np.array([t["value"] for t in fx["theta"]], dtype=float)
    return fx, case, theta, float(fx["sigma"])


def fit_recording(case: DenseCase, theta, sigma):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        fit = satterthwaite_fit(case.evaluator, theta, sigma)
    return fit, [str(w.message) for w in rec if issubclass(w.category, ConvergenceWarning)]


@pytest.mark.parametrize("case_id", SATT_CASES)
def test_satterthwaite_df_matches_lmertest(case_id):
    fx, case, theta, sigma = setup_case(case_id)
    lt = fx["satterthwaite"]
    if lt.get("error"):
        pytest.skip(f"lmerTest failed in R: {lt['error']}")
    fit, msgs = fit_recording(case, theta, sigma)
    # vcov(beta) at R's (theta, sigma) reproduces vcov(m): checks the evaluator itself
    V = np.array([list(named(fx["vcov"][r], case.coef_names).values()) for r in case.coef_names])
    np.testing.assert_allclose(fit.vcov_beta, V, rtol=1e-9)

    expected = named(fx["satterthwaite_df"], case.coef_names)
    got = dict(zip(case.coef_names, fit.df(), strict=True))
    for name in case.coef_names:
        assert got[name] == pytest.approx(expected[name], rel=RTOL), name
    # lmerTest's eigenvalue warnings (none for these cases, but compare whatever R said)
    r_msgs = [m for m in lt.get("warnings", []) if "eigenvalue" in m]
    assert sorted(re.sub(r"[-0-9.e+]+$", "", m) for m in msgs) == sorted(
        re.sub(r"[-0-9.e+]+$", "", m) for m in r_msgs
    )


@pytest.mark.parametrize("case_id", SATT_CASES)
def test_coef_table_matches_lmertest(case_id):
    fx, case, theta, sigma = setup_case(case_id)
    lt = fx["satterthwaite"]
    if lt.get("error") or lt.get("t_value") is None:
        pytest.skip("no lmerTest coefficient table in fixture")
    fit, _ = fit_recording(case, theta, sigma)
    beta = np.array([fx["fixef"][c] for c in case.coef_names])
    tab = coef_table(fit, beta, names=case.coef_names)
    t_exp = named(lt["t_value"], case.coef_names)
    p_exp = named(lt["p_value"], case.coef_names)
    for name in case.coef_names:
        assert tab.loc[name, "t value"] == pytest.approx(t_exp[name], rel=1e-9), name
        assert tab.loc[name, "Pr(>|t|)"] == pytest.approx(p_exp[name], rel=1e-5, abs=1e-300)


def test_sleepstudy_contrast_and_vcov_varpar():
    fx, case, theta, sigma = setup_case("sleepstudy_slopes_reml")
    ev = case.evaluator
    fit, _ = fit_recording(case, theta, sigma)
    # satterthwaite_df / vcov_varpar wrappers agree with the fit object
    np.testing.assert_allclose(satterthwaite_df(ev, theta, sigma), fit.df(), rtol=1e-14)
    np.testing.assert_allclose(vcov_varpar(ev, theta, sigma), fit.vcov_varpar, rtol=1e-14)
    A = fit.vcov_varpar
    assert A.shape == (4, 4)
    np.testing.assert_allclose(A, A.T, rtol=1e-12)
    assert np.all(np.linalg.eigvalsh(A) > 0)
    # a general contrast: df between 1 and n - p, CI consistent with the p-value
    beta = np.array([fx["fixef"][c] for c in case.coef_names])
    res = contest1d(fit, [1.0, 5.0], beta, rhs=300.0)
    assert res.estimate == pytest.approx(beta[0] + 5 * beta[1])
    assert 1.0 < res.df < ev.n - ev.p
    edge = contest1d(fit, [1.0, 5.0], beta, rhs=300.0, level=1.0 - res.p_value)
    assert min(abs(edge.lower - 300.0), abs(edge.upper - 300.0)) < 1e-8 * abs(res.estimate)
    nan = contest1d(fit, [np.nan, 1.0], beta)
    assert np.isnan([nan.estimate, nan.se, nan.df, nan.t, nan.p_value]).all()


# ---------------------------------------------------------------------------------------
# Boundary behaviour: lmerTest drops non-positive Hessian eigenvalues from the inverse
# and warns ("Model failed to converge with k negative eigenvalue(s): ..." for
# eigenvalues < -1e-8, "Model may not have converged with k eigenvalue(s) close to
# zero: ..." for |eigenvalue| < 1e-8).  A synthetic evaluator makes both happen.


class IndefiniteEvaluator:
    """dev(theta, sigma) = theta0**2 - theta1**2 (n = 0): eigenvalues 2, 0, -2."""

    n, p, reml = 0, 1, False

    def pls(self, theta):
        return SimpleNamespace(
            ldL2=theta[0] ** 2 - theta[1] ** 2,
            ldRX2=0.0,
            pwrss=0.0,
            RX=np.array([[1.0 + theta[0] + 0.5 * theta[1]]]),
        )


def test_indefinite_hessian_warns_and_drops_directions():
    ev = IndefiniteEvaluator()
    with pytest.warns(ConvergenceWarning) as rec:
        fit = satterthwaite_fit(ev, [0.5, 0.25], 2.0)
    msgs = [str(w.message) for w in rec]
    assert any(
        m == "Model failed to converge with 1 negative eigenvalue: -2.0e+00" for m in msgs
    ), msgs
    assert any(
        re.fullmatch(
            r"Model may not have converged with 1 eigenvalue close to zero: "
            r"-?\d\.\de[-+]\d\d",
            m,
        )
        for m in msgs
    ), msgs
    np.testing.assert_allclose(fit.eigenvalues, [2.0, 0.0, -2.0], atol=1e-6)
    # pseudo-inverse keeps only the theta0 direction: 2 * (1/2) e0 e0'
    expected = np.zeros((3, 3))
    expected[0, 0] = 1.0
    np.testing.assert_allclose(fit.vcov_varpar, expected, atol=1e-8)
    # vcov(beta) = sigma^2 / RX^2 depends on theta0 only through the kept direction
    df = fit.df()
    v = 4.0 / (1.0 + 0.5 + 0.125) ** 2
    dv = -2.0 * v / (1.0 + 0.5 + 0.125)
    np.testing.assert_allclose(df, [2.0 * v**2 / (dv**2 * 1.0)], rtol=1e-8)


def test_df_validates_contrast_shape():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = satterthwaite_fit(_QuadEvaluator(), [0.3], 1.5)
    with pytest.raises(ValueError, match="columns"):
        fit.df(np.ones((1, 3)))
    assert fit.df().shape == (2,)
    assert fit.df([1.0, -1.0]).shape == (1,)


class _QuadEvaluator:
    """A well-conditioned toy with p = 2."""

    n, p, reml = 10, 2, True

    def pls(self, theta):
        t = float(theta[0])
        RX = np.array([[2.0 + t, 0.3], [0.0, 1.0 + t * t]])
        return SimpleNamespace(
            ldL2=4.0 * np.log1p(t * t),
            pwrss=20.0 + 5.0 * t * t,
            ldRX2=2.0 * np.log(abs(np.linalg.det(RX))),
            RX=RX,
        )


def test_nonfinite_hessian_raises():
    class NanEvaluator(_QuadEvaluator):
        def pls(self, theta):
            st = super().pls(theta)
            st.pwrss = np.nan if theta[0] > 0.31 else st.pwrss
            return st

    with pytest.raises(FloatingPointError, match="not finite"):
        satterthwaite_fit(NanEvaluator(), [0.3], 1.5)


@pytest.mark.parametrize("case_id", ["sleepstudy_slopes_reml", "penicillin_crossed",
                                     "orthodont_rankdef"])
def test_batched_derivatives_equal_point_by_point(case_id):
    """A deviance with a batched form evaluates all of numDeriv's points in one pass
    (LmmDeviance.pls_many); the df equal those of pls() point by point to 1e-8.  The two
    evaluate the same deviance in different operation orders (~1e-15 relative), which the
    Hessian's second differences amplify: a θ near 0 takes numDeriv's absolute step 1e-4
    (then 1e-4/8), so ~1e-15 · |f| / h² ≈ 1e-7 relative on that row."""
    from conftest import fitted
    from interlace.inference.satterthwaite import satterthwaite_fit

    res = fitted(case_id)
    dev = res._dev
    assert dev.pls_many(np.array([res.theta])) is not None
    batched = satterthwaite_fit(dev, res.theta, res.sigma)
    one = SimpleNamespace(n=dev.n, p=dev.p, reml=dev.reml, pls=dev.pls)
    serial = satterthwaite_fit(one, res.theta, res.sigma)
    res._restore()
    np.testing.assert_allclose(batched.df(), serial.df(), rtol=1e-8)
    # an element that is 0 exactly (crossed terms) is rounding on both sides
    np.testing.assert_allclose(batched.hessian, serial.hessian, rtol=1e-6,
                               atol=1e-11 * np.abs(serial.hessian).max())
