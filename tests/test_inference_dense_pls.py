"""Checks of the brute-force dense PLS evaluator (tests/dense_pls.py).

1. Against textbook generalized-least-squares formulas on random data (no fixtures).
2. Against lme4's deviance function, fixef and sigma from ``fixtures/r/<case>.json``
   (skipped when a fixture is absent).
"""

from __future__ import annotations

import numpy as np
import pytest

from dense_pls import CASES, DensePLS, lambda_blocks, lower_tri, term_z
from test_inference_satterthwaite import load_data, load_fixture, named


def random_problem(seed: int, reml: bool, weights: bool = False):
    rng = np.random.default_rng(seed)
    n, m = 60, 7
    g = rng.integers(0, m, n)
    g[:m] = np.arange(m)
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x, rng.normal(size=n)])
    y = X @ [1.0, 2.0, -0.5] + rng.normal(size=m)[g] + 0.4 * rng.normal(size=m)[g] * x
    y = y + rng.normal(size=n)
    Z = np.hstack([term_z(g, X[:, :2]), term_z(rng.integers(0, 4, n), X[:, :1])])
    w = rng.uniform(0.5, 2.0, n) if weights else None
    return DensePLS(X, y, Z, lambda_blocks([(m, 2), (4, 1)]), reml=reml, weights=w), w


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("weights", [False, True])
def test_dense_pls_matches_gls(reml, weights):
    ev, w = random_problem(1, reml, weights)
    theta = np.array([0.8, -0.3, 0.5, 1.3])
    st = ev.pls(theta)
    X, y, n, p = ev.X, ev.y, ev.n, ev.p  # already scaled by sqrt(w)
    ZL = ev.Z @ st.Lambda
    V = np.eye(n) + ZL @ ZL.T  # relative marginal covariance (of the scaled problem)
    Vi = np.linalg.inv(V)
    XtViX = X.T @ Vi @ X
    beta = np.linalg.solve(XtViX, X.T @ Vi @ y)
    r = y - X @ beta
    np.testing.assert_allclose(st.beta, beta, rtol=1e-10)
    np.testing.assert_allclose(st.RX.T @ st.RX, XtViX, rtol=1e-10)
    assert np.allclose(st.RX, np.triu(st.RX))
    np.testing.assert_allclose(st.pwrss, r @ Vi @ r, rtol=1e-10)
    np.testing.assert_allclose(st.ldL2, np.linalg.slogdet(V)[1], rtol=1e-10)
    np.testing.assert_allclose(st.ldRX2, np.linalg.slogdet(XtViX)[1], rtol=1e-10)
    np.testing.assert_allclose(st.b, st.Lambda @ ZL.T @ Vi @ r, rtol=1e-9, atol=1e-12)
    # -2 log-likelihood of the original (unscaled) data, sigma profiled
    ldW = 0.0 if w is None else np.sum(np.log(w))
    dof = n - p if reml else n
    s2 = r @ Vi @ r / dof
    crit = np.linalg.slogdet(V)[1] - ldW + dof * np.log(2 * np.pi * s2) + dof
    if reml:
        crit += np.linalg.slogdet(XtViX)[1]
    assert ev.deviance(theta) == pytest.approx(crit, rel=1e-12)
    assert ev.sigma(theta) == pytest.approx(np.sqrt(s2), rel=1e-12)


def test_lower_tri_order():
    np.testing.assert_array_equal(lower_tri([1, 2, 3], 2), [[1, 0], [2, 3]])
    np.testing.assert_array_equal(
        lower_tri([1, 2, 3, 4, 5, 6], 3), [[1, 0, 0], [2, 4, 0], [3, 5, 6]]
    )


def test_lambda_blocks_layout():
    Lam = lambda_blocks([(2, 2), (3, 1)])(np.array([1.0, 2.0, 3.0, 4.0]))
    T = [[1.0, 0.0], [2.0, 3.0]]
    expected = np.zeros((7, 7))
    expected[:2, :2] = expected[2:4, 2:4] = T
    expected[4:, 4:] = 4.0 * np.eye(3)
    np.testing.assert_array_equal(Lam, expected)
    with pytest.raises(ValueError, match="theta has length"):
        lambda_blocks([(2, 2)])(np.ones(2))


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_dense_pls_matches_lme4(case_id):
    fx = load_fixture(case_id)
    dataset, build = CASES[case_id]
    case = build(load_data(dataset))
    ev = case.evaluator
    assert [t["name"] for t in fx["theta"]] == case.theta_names
    theta = np.array([t["value"] for t in fx["theta"]], dtype=float)
    assert ev.n == fx["nobs"]
    for point in fx["devfun_at"]:
        th = np.atleast_1d(np.asarray(point["theta"], dtype=float))
        assert ev.deviance(th) == pytest.approx(point["value"], rel=1e-10), point["label"]
    st = ev.pls(theta)
    fixef = named(fx["fixef"], case.coef_names)
    np.testing.assert_allclose(
        st.beta,
        [fixef[c] for c in case.coef_names],
        rtol=1e-8,
        atol=1e-10 * np.max(np.abs(st.beta)),
    )
    assert ev.sigma(theta) == pytest.approx(fx["sigma"], rel=1e-10)
