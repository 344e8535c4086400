"""The response relative to a least-squares fit on X, computed without cancellation.

lme4 evaluates pwrss from explicitly computed residuals ``y − Xβ − ZΛu``.  Here
everything per θ comes from the cross-products of ``[X y]`` (no work proportional to n),
and pwrss is the last diagonal element of the Cholesky factor of their Schur complement
(Bates, Mächler, Bolker & Walker 2015, JSS 67(1), sec. 3.5).  When the response is
nearly in the column space of X — a large mean, ``y ≈ c·1`` — that element is the small
difference of large numbers (‖y‖² − …), and its relative error grows like
``(‖y‖ / ‖residual‖)²``: a shift of sleepstudy's response by 1e5 already moves the
standard errors by 5e-5, and by 1e9 the cross-product is no longer positive definite.

The penalized least-squares problem is unchanged, except for β, when a vector ``X b₀``
of the fixed-effects column space is subtracted from the response: with
``y₀ = y − offset − X b₀``, the solution for y₀ has the same u, RX, ldL2 and pwrss, and
``β̂ = b₀ + β̂(y₀)``.  Choosing ``b₀`` as the (weighted) least-squares fit of y on X
leaves ``y₀`` of the size of the residuals, so the cross-products carry no more dynamic
range than the residuals themselves.  Any ``b₀`` gives the same exact problem; what
matters is that ``y₀`` is the exact ``y − offset − X b₀`` for the ``b₀`` recorded, so it
is computed in double-double arithmetic (Dekker's TwoProduct and Knuth's TwoSum, error
about ε² ‖X b₀‖ instead of ε ‖X b₀‖) and rounded once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

__all__ = ["ShiftedResponse", "shift_response", "dd_residual"]

_SPLIT = 134217729.0  # 2**27 + 1, Dekker's splitting constant for binary64
#: magnitudes beyond which Dekker's split could overflow; those products are plain
_SPLIT_MAX = 1e290


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s + e = a + b exactly, s = fl(a + b) (Knuth)."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = _SPLIT * a
    hi = c - (c - a)
    return hi, a - hi


def _two_prod(a: np.ndarray, b: float) -> tuple[np.ndarray, np.ndarray]:
    """p + e = a·b exactly, p = fl(a·b) (Dekker, without FMA)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(np.float64(b))
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


def dd_residual(X: np.ndarray, y: np.ndarray, b: np.ndarray,
                offset: np.ndarray | None = None) -> np.ndarray:
    """``y − offset − X b`` accumulated in double-double, rounded once to double.

    A column of zeros and ones (an intercept, a dummy) multiplies exactly, so only its
    non-zero rows are added, without the product's error term.
    """
    s = np.array(y, dtype=np.float64, copy=True)
    e = np.zeros_like(s)
    with np.errstate(over="ignore", invalid="ignore"):
        if offset is not None:
            s, e = _two_sum(s, -np.asarray(offset, dtype=np.float64))
        for j in np.flatnonzero(np.asarray(b) != 0.0):
            col, coef = X[:, j], -float(b[j])
            nz = np.flatnonzero(col)
            if np.all(col[nz] == 1.0):  # exact products: add -b_j on the non-zero rows
                sj, ej = _two_sum(s[nz], np.full(nz.size, coef))
                s[nz] = sj
                e[nz] += ej
                continue
            if abs(coef) < _SPLIT_MAX and np.all(np.abs(col) < _SPLIT_MAX):
                prod, perr = _two_prod(col, coef)
            else:  # pragma: no cover - astronomically large entries
                prod, perr = col * coef, 0.0
            s, se = _two_sum(s, prod)
            e += se + perr
    out = s + e
    return np.where(np.isfinite(out), out, s)


@dataclass(frozen=True)
class ShiftedResponse:
    """``y₀ = y − offset − X b₀`` with ``b₀`` the weighted least-squares fit of y on X.

    Attributes
    ----------
    beta0 : ndarray (p,)
        The shift: β̂ of the model equals ``beta0`` plus β̂ of ``y0``.
    y0 : ndarray (n,)
        The shifted response (the one the cross-products are formed from).
    """

    beta0: np.ndarray
    y0: np.ndarray


def _least_squares(A: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Least squares by the Cholesky factor of AᵀA with two refinement steps (semi-normal
    equations: as accurate as QR here, and cheaper); a rank-revealing solve if AᵀA is not
    numerically positive definite."""
    try:
        c = sla.cho_factor(A.T @ A, check_finite=False)
    except (np.linalg.LinAlgError, ValueError):
        return sla.lstsq(A, rhs, lapack_driver="gelsy", check_finite=False)[0]
    b = sla.cho_solve(c, A.T @ rhs, check_finite=False)
    for _ in range(2):
        b = b + sla.cho_solve(c, A.T @ (rhs - A @ b), check_finite=False)
    return b


def shift_response(X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None,
                   offset: np.ndarray | None = None) -> ShiftedResponse:
    """Shift y by its (weighted) least-squares fit on X (see the module docstring).

    ``b₀`` needs no particular accuracy (any ``b₀`` gives the same problem); only
    ``y₀ = y − offset − X b₀`` must be exact for the ``b₀`` recorded, and it is formed in
    double-double once ``b₀`` is fixed.
    """
    n, p = X.shape
    y = np.asarray(y, dtype=np.float64)
    b0 = np.zeros(p)
    if p and n:
        sw = None if weights is None else np.sqrt(np.asarray(weights, dtype=np.float64))
        r = y if offset is None else y - offset
        A, rhs = (X, r) if sw is None else (X * sw[:, None], r * sw)
        if np.all(np.isfinite(A)) and np.all(np.isfinite(rhs)):
            step = _least_squares(A, rhs)
            if np.all(np.isfinite(step)):
                b0 = step
    return ShiftedResponse(b0, dd_residual(X, y, b0, offset))
