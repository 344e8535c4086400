"""R's ``splines::interpSpline``, ``backSpline`` and ``predict.polySpline``, as lme4 uses them.

lme4's profile (``profile.merMod``) fits, for each parameter, the interpolating
natural cubic spline ζ = f(x) through the profile points (``interpSpline``) and
inverts it with ``backSpline``; ``confint.thpr`` then evaluates the inverse at
ζ = ±qnorm((1+level)/2) (``lme4:::predy``, i.e. ``predict.polySpline``).

* :func:`interp_spline` is the natural cubic interpolant (second derivative 0 at
  both ends).  R solves a B-spline collocation system; SciPy's
  ``CubicSpline(bc_type="natural")`` solves the tridiagonal system of the same
  unique spline, so the two agree to rounding (≈1e-13 relative in the slopes).
* :func:`back_spline` is a line-by-line port of ``splines:::backSpline.npolySpline``:
  a piecewise cubic in ζ through (f(xᵢ), xᵢ) with slopes 1/f'(xᵢ) (Hermite
  conditions), quadratic on the two end intervals (only the inner slope kept),
  and linear there when that quadratic would bend the wrong way.
* :meth:`PolySpline.__call__` is ``predict.polySpline``: the piece is chosen as R's
  ``cut(x, knots)`` does (right-closed intervals, the first knot included) and
  values outside the knots are NaN — which is how lme4's intervals get NA and then
  the parameter's bound (0 for a standard deviation whose profile hits 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline


class SplineError(ValueError):
    """The spline cannot be built (R: ``interpSpline``/``backSpline`` stop())."""


@dataclass(frozen=True)
class PolySpline:
    """A piecewise cubic as R's ``polySpline``.

    ``coef[i]`` holds the coefficients of 1, d, d², d³ with d = x − knots[i] for
    the piece (knots[i], knots[i+1]]; the last row belongs to the last knot
    (value and slope only).
    """

    knots: np.ndarray
    coef: np.ndarray

    def __call__(self, x) -> np.ndarray:
        """Evaluate as ``predict(spline, x)$y`` (NaN outside [knots[0], knots[-1]])."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        k = self.knots
        i = np.searchsorted(k, x, side="left") - 1  # cut(): (k_i, k_{i+1}] -> i
        i[x == k[0]] = 0
        ok = (i >= 0) & (i < len(k) - 1) & ~np.isnan(x)
        out = np.full(x.shape, np.nan)
        ii = i[ok]
        d = x[ok] - k[ii]
        c = self.coef[ii]
        out[ok] = ((c[:, 3] * d + c[:, 2]) * d + c[:, 1]) * d + c[:, 0]
        return out


def interp_spline(x, y) -> PolySpline:
    """The natural cubic interpolating spline y = f(x) (R's ``interpSpline(y ~ x)``)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if np.any(np.diff(x) == 0):
        raise SplineError("values of 'x' must be distinct")
    if len(x) < 4:
        raise SplineError("must have at least 'ord'=4 points")
    cs = CubicSpline(x, y, bc_type="natural")
    coef = np.zeros((len(x), 4))
    coef[:, 0] = y
    coef[:-1, 1:] = cs.c[2::-1].T  # (slope, c2, c3) of each piece
    coef[-1, 1] = cs(x[-1], 1)
    coef[0, 2] = coef[-1, 2] = 0.0  # R sets the end second-order terms to exactly 0
    return PolySpline(x, coef)


def back_spline(fwd: PolySpline) -> PolySpline:
    """The inverse x = f⁻¹(y) of a monotone cubic spline (R's ``backSpline``)."""
    knots, coeff = fwd.knots, fwd.coef
    nk = len(knots)
    kdiff = np.diff(knots)
    if np.any(kdiff <= 0):
        raise SplineError("knot positions must be strictly increasing")
    bknots = coeff[:, 0]
    adiff = np.diff(bknots)
    if np.all(adiff < 0):
        rev = True
    elif np.all(adiff > 0):
        rev = False
    else:
        raise SplineError("spline must be monotone")
    b = np.zeros((nk, 4))
    b[:, 0] = knots
    with np.errstate(divide="ignore"):
        b[:, 1] = 1.0 / coeff[:, 1]
    for i in range(nk - 1):
        a = np.array([[adiff[i] ** 2, adiff[i] ** 3], [2 * adiff[i], 3 * adiff[i] ** 2]])
        rhs = np.array([kdiff[i] - adiff[i] * b[i, 1], b[i + 1, 1] - b[i, 1]])
        b[i, 2:4] = np.linalg.solve(a, rhs)
    b[nk - 1, 1:] = np.nan
    last = nk - 2
    if nk > 2:
        b[0, 3] = b[last, 3] = 0.0
        a = np.array([[adiff[0], adiff[0] ** 2], [1.0, 2 * adiff[0]]])
        with np.errstate(divide="ignore"):
            b[0, 1:3] = np.linalg.solve(a, np.array([kdiff[0], 1.0 / coeff[1, 1]]))
        b[last, 2] = (kdiff[last] - adiff[last] * b[last, 1]) / adiff[last] ** 2
    if b[0, 2] > 0:
        b[0, 2] = 0.0
        b[0, 1] = kdiff[0] / adiff[0]
    if b[last, 2] < 0:
        b[last, 2] = 0.0
        b[last, 1] = kdiff[last] / adiff[last]
    if rev:
        return PolySpline(bknots[::-1].copy(), b[::-1].copy())
    return PolySpline(bknots.copy(), b)


def approx_linear(x, y, at) -> np.ndarray:
    """R's ``approxfun(x, y)(at)`` (ties averaged, NaN outside the range)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    ux, inv = np.unique(x[keep], return_inverse=True)
    uy = np.bincount(inv, weights=y[keep]) / np.bincount(inv)
    at = np.atleast_1d(np.asarray(at, dtype=float))
    out = np.interp(at, ux, uy)
    out[(at < ux[0]) | (at > ux[-1])] = np.nan
    return out
