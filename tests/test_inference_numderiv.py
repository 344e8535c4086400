"""Unit tests of the numDeriv-style Richardson derivatives on analytic functions."""

from __future__ import annotations

import numpy as np
import pytest

from interlace.inference.numderiv import ZERO_TOL, genD, grad, hessian, jacobian


def test_zero_tol_matches_numderiv_default():
    assert ZERO_TOL == pytest.approx(np.sqrt(2.220446049250313e-16 / 7e-7), rel=1e-15)


def f_scalar(x):
    return np.exp(x[0]) * np.sin(x[1]) + x[0] * x[1] ** 3 + np.log1p(x[2] ** 2)


def grad_scalar(x):
    return np.array(
        [
            np.exp(x[0]) * np.sin(x[1]) + x[1] ** 3,
            np.exp(x[0]) * np.cos(x[1]) + 3 * x[0] * x[1] ** 2,
            2 * x[2] / (1 + x[2] ** 2),
        ]
    )


def hess_scalar(x):
    e, s, c = np.exp(x[0]), np.sin(x[1]), np.cos(x[1])
    h22 = 2 * (1 - x[2] ** 2) / (1 + x[2] ** 2) ** 2
    return np.array(
        [
            [e * s, e * c + 3 * x[1] ** 2, 0.0],
            [e * c + 3 * x[1] ** 2, -e * s + 6 * x[0] * x[1], 0.0],
            [0.0, 0.0, h22],
        ]
    )


POINTS = [np.array([0.3, -1.2, 0.7]), np.array([0.0, 2.0, 0.0]), np.array([-2.5, 0.1, 3.0])]


@pytest.mark.parametrize("x", POINTS)
def test_grad_analytic(x):
    np.testing.assert_allclose(grad(f_scalar, x), grad_scalar(x), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("x", POINTS)
def test_hessian_analytic(x):
    H = hessian(f_scalar, x)
    np.testing.assert_allclose(H, H.T, rtol=0, atol=0)
    np.testing.assert_allclose(H, hess_scalar(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("x", POINTS)
def test_jacobian_analytic(x):
    def f(z):
        return np.array([[z[0] * z[1], np.sin(z[2])], [np.exp(z[1]), z[0] ** 2 + z[2]]])

    J = jacobian(f, x)
    assert J.shape == (2, 2, 3)
    expected = np.zeros((2, 2, 3))
    expected[0, 0] = [x[1], x[0], 0]
    expected[0, 1] = [0, 0, np.cos(x[2])]
    expected[1, 0] = [0, np.exp(x[1]), 0]
    expected[1, 1] = [2 * x[0], 0, 1]
    np.testing.assert_allclose(J, expected, rtol=1e-9, atol=1e-10)


def test_polynomial_is_exact():
    # r = 4 Richardson rounds cancel the h^2, h^4, h^6 error terms of the central
    # difference, so odd-degree-7 polynomials are differentiated exactly (up to rounding).
    coef = np.array([0.5, -1.0, 2.0, 0.25, -0.75, 1.5, -0.2, 0.1])

    def f(z):
        return np.polynomial.polynomial.polyval(z[0], coef)

    x = np.array([1.7])
    exact = np.polynomial.polynomial.polyval(1.7, np.polynomial.polynomial.polyder(coef))
    assert grad(f, x)[0] == pytest.approx(exact, rel=1e-11)
    exact2 = np.polynomial.polynomial.polyval(1.7, np.polynomial.polynomial.polyder(coef, 2))
    assert hessian(f, x)[0, 0] == pytest.approx(exact2, rel=1e-9)


def test_step_rule_at_zero_uses_eps():
    # at x = 0 the step is eps = 1e-4, not d * |x| = 0; a quadratic is exact anyway
    def f(z):
        return 3.0 * z[0] ** 2 + 2.0 * z[0] * z[1] - z[1] ** 2 + 5.0 * z[1]

    x = np.zeros(2)
    np.testing.assert_allclose(grad(f, x), [0.0, 5.0], atol=1e-10)
    np.testing.assert_allclose(hessian(f, x), [[6.0, 2.0], [2.0, -2.0]], atol=1e-6)


def test_genD_layout():
    x = np.array([0.4, -0.3])
    D = genD(f_scalar2, x, d=0.1).D
    assert D.shape == (1, 5)
    g = [np.cos(x[0]) * x[1] ** 2, 2 * np.sin(x[0]) * x[1]]
    h = [-np.sin(x[0]) * x[1] ** 2, 2 * np.cos(x[0]) * x[1], 2 * np.sin(x[0])]
    np.testing.assert_allclose(D[0], g + h, rtol=1e-8)


def f_scalar2(z):
    return np.sin(z[0]) * z[1] ** 2


def test_grad_elementwise_case():
    # numDeriv treats a function returning len(x) values as element-wise
    x = np.array([0.2, 1.1, -0.4])
    np.testing.assert_allclose(grad(np.exp, x), np.exp(x), rtol=1e-10)


def test_grad_rejects_vector_valued():
    with pytest.raises(ValueError, match="scalar"):
        grad(lambda z: np.array([z[0], z[1], 1.0]), np.array([1.0, 2.0]))


def test_hessian_rejects_vector_valued():
    with pytest.raises(ValueError, match="scalar"):
        hessian(lambda z: z, np.array([1.0, 2.0]))


def test_many_points_at_once_are_the_scalar_algorithms_bit_for_bit():
    """hessian_many / jacobian_many: every problem's points listed first, one call, then
    the scalar functions' arithmetic — the same numbers as hessian / jacobian, row by row
    (a zero coordinate takes numDeriv's eps step)."""
    from interlace.inference.numderiv import hessian_many, jacobian_many

    X = np.random.default_rng(0).normal(size=(5, 3))
    X[0, 1] = 0.0
    calls = []

    def fm(Z):
        calls.append(Z.shape)
        return np.sin(Z[..., 0]) * np.exp(Z[..., 1]) + Z[..., 2] ** 3 * Z[..., 0]

    H = hessian_many(fm, X)
    assert len(calls) == 1 and calls[0][:2] == (5, 1 + 2 * 4 * 3 + 2 * 4 * 3)
    for b in range(5):
        np.testing.assert_array_equal(H[b], hessian(lambda z: fm(z), X[b]))

    def gm(Z):
        return np.einsum("...i,...j->...ij", Z, Z) * np.sin(Z[..., 0])[..., None, None]

    J = jacobian_many(gm, X)
    assert J.shape == (5, 3, 3, 3)
    for b in range(5):
        np.testing.assert_array_equal(J[b], jacobian(gm, X[b]))
