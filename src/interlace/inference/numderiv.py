"""Richardson-extrapolation numerical derivatives, as in R's numDeriv.

lmerTest obtains the Hessian of the variance-parameter deviance with
``numDeriv::hessian`` and the Jacobian of ``vcov(beta)`` with
``numDeriv::jacobian``, both with the default ``method = "Richardson"``.
Satterthwaite degrees of freedom depend (weakly) on the truncation error of
those approximations, so reproducing lmerTest to many digits requires the
same algorithm: the same initial step

.. math:: h_i = |d\\,x_i| + \\varepsilon\\,[\\,|x_i| < \\text{zero.tol}\\,],

the same ``r`` step halvings (``h / v``) and the same Richardson table
``(4^m a_{k+1} - a_k) / (4^m - 1)``.  The functions here follow the
algorithms described in the numDeriv documentation (Gilbert & Varadhan,
numDeriv: Accurate Numerical Derivatives) and Linfield & Penny (1989).

Defaults (``method.args``) match numDeriv:

* :func:`grad`, :func:`jacobian`, :func:`genD`: ``eps=1e-4, d=1e-4``;
* :func:`hessian`: ``eps=1e-4, d=0.1`` (it calls :func:`genD` with these);
* all: ``zero_tol = sqrt(machine eps / 7e-7)``, ``r=4``, ``v=2``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["ZERO_TOL", "GenD", "genD", "genD_many", "grad", "hessian", "hessian_many",
           "jacobian", "jacobian_many"]

#: numDeriv's default ``zero.tol``: ``sqrt(.Machine$double.eps / 7e-7)``.
ZERO_TOL: float = float(np.sqrt(np.finfo(float).eps / 7e-7))


def _initial_step(x: np.ndarray, d: float, eps: float, zero_tol: float) -> np.ndarray:
    """Initial step ``|d x| + eps * (|x| < zero_tol)`` (numDeriv's ``h``)."""
    return np.abs(d * x) + eps * (np.abs(x) < zero_tol)


def _richardson(a: np.ndarray) -> np.ndarray:
    """Collapse the first axis (``r`` successive halvings) by Richardson extrapolation.

    Parameters
    ----------
    a : ndarray, shape (r, ...)
        First-order approximations with steps ``h, h/2, ..., h/2**(r-1)``.

    Returns
    -------
    ndarray, shape (...)
        The final extrapolated value, ``a`` after ``r - 1`` rounds of
        ``(4**m * a[1:] - a[:-1]) / (4**m - 1)``.
    """
    r = a.shape[0]
    for m in range(1, r):
        a = (a[1:] * (4.0**m) - a[:-1]) / (4.0**m - 1.0)
    return a[0]


def _as_vector(x) -> np.ndarray:
    return np.array(x, dtype=float, ndmin=1).ravel()


def grad(
    func: Callable[[np.ndarray], float | np.ndarray],
    x,
    *,
    eps: float = 1e-4,
    d: float = 1e-4,
    zero_tol: float = ZERO_TOL,
    r: int = 4,
    v: float = 2.0,
) -> np.ndarray:
    """Gradient of a scalar function by Richardson extrapolation (``numDeriv::grad``).

    Parameters
    ----------
    func : callable
        ``func(x) -> float``.  As in numDeriv, if ``func`` returns a vector of
        the same length as ``x`` it is assumed to act element-wise and the
        element-wise derivative is returned from a single perturbation of all
        coordinates at once.
    x : array_like
        Point at which to differentiate.
    eps, d, zero_tol, r, v : float or int, optional
        numDeriv's ``method.args``; the defaults are numDeriv's.

    Returns
    -------
    ndarray, shape (len(x),)
        The gradient.

    Notes
    -----
    As numDeriv does, a coordinate whose previous (larger-step) central
    difference is below ``1e-20`` in absolute value is set to zero for the
    remaining halvings without evaluating ``func``.
    """
    x = _as_vector(x)
    n = x.size
    f = np.asarray(func(x), dtype=float).ravel()
    elementwise = f.size == n
    if f.size != 1 and not elementwise:
        raise ValueError("grad assumes a scalar valued function.")
    h = _initial_step(x, d, eps, zero_tol)
    a = np.empty((r, n))
    for k in range(r):
        if elementwise:
            fp = np.asarray(func(x + h), dtype=float).ravel()
            fm = np.asarray(func(x - h), dtype=float).ravel()
            a[k] = (fp - fm) / (2.0 * h)
        else:
            for i in range(n):
                if k > 0 and abs(a[k - 1, i]) < 1e-20:
                    a[k, i] = 0.0
                    continue
                step = np.zeros(n)
                step[i] = h[i]
                fp = float(np.asarray(func(x + step), dtype=float).ravel()[0])
                fm = float(np.asarray(func(x - step), dtype=float).ravel()[0])
                a[k, i] = (fp - fm) / (2.0 * h[i])
        if np.any(np.isnan(a[k])):
            raise FloatingPointError(f"function returns NA at {h} distance from x.")
        h = h / v
    return _richardson(a)


def jacobian(
    func: Callable[[np.ndarray], np.ndarray],
    x,
    *,
    eps: float = 1e-4,
    d: float = 1e-4,
    zero_tol: float = ZERO_TOL,
    r: int = 4,
    v: float = 2.0,
) -> np.ndarray:
    """Jacobian by Richardson extrapolation (``numDeriv::jacobian``).

    Parameters
    ----------
    func : callable
        ``func(x) -> array``; an array result of any shape is differentiated
        element-wise.
    x : array_like
        Point at which to differentiate.
    eps, d, zero_tol, r, v : float or int, optional
        numDeriv's ``method.args``; the defaults are numDeriv's.

    Returns
    -------
    ndarray, shape func(x).shape + (len(x),)
        ``out[..., i]`` is the derivative of ``func`` with respect to
        ``x[i]``.  (numDeriv returns the column-major flattening of this as a
        ``length(f) x n`` matrix; the individual entries are identical.)
    """
    x = _as_vector(x)
    n = x.size
    f0 = np.asarray(func(x), dtype=float)
    shape = f0.shape
    h = _initial_step(x, d, eps, zero_tol)
    a = np.empty((r, f0.size, n))
    for k in range(r):
        for i in range(n):
            step = np.zeros(n)
            step[i] = h[i]
            fp = np.asarray(func(x + step), dtype=float).ravel()
            fm = np.asarray(func(x - step), dtype=float).ravel()
            a[k, :, i] = (fp - fm) / (2.0 * h[i])
        h = h / v
    return _richardson(a).reshape(shape + (n,))


@dataclass(frozen=True)
class GenD:
    """Result of :func:`genD` (numDeriv's ``Darray``).

    Attributes
    ----------
    D : ndarray, shape (m, n * (n + 3) // 2)
        First derivatives in columns ``0..n-1`` followed by the lower
        triangle of second derivatives, row-wise (``(0,0), (1,0), (1,1),
        (2,0), ...``).
    f0 : ndarray, shape (m,)
        ``func(x)``.
    x : ndarray, shape (n,)
        The point.
    """

    D: np.ndarray
    f0: np.ndarray
    x: np.ndarray


def genD(
    func: Callable[[np.ndarray], float | np.ndarray],
    x,
    *,
    eps: float = 1e-4,
    d: float = 1e-4,
    zero_tol: float = ZERO_TOL,
    r: int = 4,
) -> GenD:
    """First and second derivatives by Richardson extrapolation (``numDeriv::genD``).

    Parameters
    ----------
    func : callable
        ``func(x) -> float or 1-d array``.
    x : array_like
        Point at which to differentiate.
    eps, d, zero_tol, r : float or int, optional
        numDeriv's ``method.args``; the defaults are numDeriv's.  The step
        reduction factor ``v`` is fixed at 2, as numDeriv requires.

    Returns
    -------
    GenD
        The derivative array.

    Notes
    -----
    Diagonal second derivatives use ``(f(x+h e_i) - 2 f(x) + f(x-h e_i)) / h_i**2``;
    off-diagonal ones use the joint step ``h_i e_i + h_j e_j`` and subtract
    the (extrapolated) diagonal terms, then are extrapolated in turn.
    """
    v = 2.0
    x = _as_vector(x)
    n = x.size
    f0 = np.asarray(func(x), dtype=float).ravel()
    h0 = _initial_step(x, d, eps, zero_tol)
    D = np.zeros((f0.size, n * (n + 3) // 2))
    Hdiag = np.zeros((f0.size, n))
    eye = np.eye(n)

    def ev(z: np.ndarray) -> np.ndarray:
        return np.asarray(func(z), dtype=float).ravel()

    for i in range(n):
        h = h0.copy()
        daprox = np.empty((r, f0.size))
        haprox = np.empty((r, f0.size))
        for k in range(r):
            f1 = ev(x + eye[i] * h)
            f2 = ev(x - eye[i] * h)
            daprox[k] = (f1 - f2) / (2.0 * h[i])
            haprox[k] = (f1 - 2.0 * f0 + f2) / h[i] ** 2
            h = h / v
        D[:, i] = _richardson(daprox)
        Hdiag[:, i] = _richardson(haprox)
    u = n
    for i in range(n):
        for j in range(i + 1):
            if i == j:
                D[:, u] = Hdiag[:, i]
            else:
                h = h0.copy()
                daprox = np.empty((r, f0.size))
                for k in range(r):
                    step = eye[i] * h + eye[j] * h
                    f1 = ev(x + step)
                    f2 = ev(x - step)
                    daprox[k] = (
                        f1 - 2.0 * f0 + f2 - Hdiag[:, i] * h[i] ** 2 - Hdiag[:, j] * h[j] ** 2
                    ) / (2.0 * h[i] * h[j])
                    h = h / v
                D[:, u] = _richardson(daprox)
            u += 1
    return GenD(D=D, f0=f0, x=x)


def hessian(
    func: Callable[[np.ndarray], float],
    x,
    *,
    eps: float = 1e-4,
    d: float = 0.1,
    zero_tol: float = ZERO_TOL,
    r: int = 4,
) -> np.ndarray:
    """Hessian of a scalar function (``numDeriv::hessian``, Richardson method).

    Parameters
    ----------
    func : callable
        ``func(x) -> float``.
    x : array_like
        Point at which to differentiate.
    eps, d, zero_tol, r : float or int, optional
        numDeriv's ``method.args`` for ``hessian``; note the default
        ``d = 0.1`` (not ``1e-4`` as in :func:`genD` called directly).

    Returns
    -------
    ndarray, shape (n, n)
        The symmetric Hessian, assembled from the lower triangle computed by
        :func:`genD`.
    """
    x = _as_vector(x)
    if np.asarray(func(x)).size != 1:
        raise ValueError("Richardson method for hessian assumes a scalar valued function.")
    D = genD(func, x, eps=eps, d=d, zero_tol=zero_tol, r=r).D
    n = x.size
    H = np.zeros((n, n))
    u = n
    for i in range(n):
        for j in range(i + 1):
            H[i, j] = D[0, u]
            u += 1
    H = H + H.T
    H[np.diag_indices(n)] /= 2.0
    return H


# -- many problems, every point at once ------------------------------------------------
# The same algorithms for B problems at points x_b (rows of X), in two phases: every point
# the scalar algorithm would visit is listed first (each row's steps are the scalar
# functions' arithmetic), the function is called once on all of them, and the differences
# and Richardson tables are formed from the values in the scalar functions' order.  func(Z)
# takes Z of shape (B, P, n) — row b holds problem b's P points — and returns (B, P, ...).
def _call(func, points: list[np.ndarray]) -> np.ndarray:
    Z = np.stack(points, axis=1)  # (B, P, n)
    F = np.asarray(func(Z), dtype=float)
    return F.reshape(Z.shape[0], Z.shape[1], -1)


def genD_many(func: Callable[[np.ndarray], np.ndarray], X, *, eps: float = 1e-4,
              d: float = 1e-4, zero_tol: float = ZERO_TOL, r: int = 4) -> np.ndarray:
    """:func:`genD` at every row of ``X`` (B, n): D of shape (B, m, n (n + 3) / 2)."""
    v = 2.0
    X = np.atleast_2d(np.asarray(X, dtype=float))
    B, n = X.shape
    h0 = _initial_step(X, d, eps, zero_tol)
    points, diag, off = [X], {}, {}
    for i in range(n):
        h = h0.copy()
        for k in range(r):
            step = np.zeros((B, n))
            step[:, i] = h[:, i]
            diag[i, k] = (len(points), h[:, i, None])
            points += [X + step, X - step]
            h = h / v
    for i in range(n):
        for j in range(i):
            h = h0.copy()
            for k in range(r):
                step = np.zeros((B, n))
                step[:, i] = h[:, i]
                step[:, j] += h[:, j]
                off[i, j, k] = (len(points), h[:, i, None], h[:, j, None])
                points += [X + step, X - step]
                h = h / v
    F = _call(func, points)
    f0, m = F[:, 0], F.shape[2]
    D = np.zeros((B, m, n * (n + 3) // 2))
    Hdiag = np.zeros((B, m, n))
    for i in range(n):
        daprox, haprox = np.empty((r, B, m)), np.empty((r, B, m))
        for k in range(r):
            at, hi = diag[i, k]
            f1, f2 = F[:, at], F[:, at + 1]
            daprox[k] = (f1 - f2) / (2.0 * hi)
            haprox[k] = (f1 - 2.0 * f0 + f2) / hi**2
        D[:, :, i] = _richardson(daprox)
        Hdiag[:, :, i] = _richardson(haprox)
    u = n
    for i in range(n):
        for j in range(i + 1):
            if i == j:
                D[:, :, u] = Hdiag[:, :, i]
            else:
                daprox = np.empty((r, B, m))
                for k in range(r):
                    at, hi, hj = off[i, j, k]
                    f1, f2 = F[:, at], F[:, at + 1]
                    daprox[k] = (f1 - 2.0 * f0 + f2 - Hdiag[:, :, i] * hi**2
                                 - Hdiag[:, :, j] * hj**2) / (2.0 * hi * hj)
                D[:, :, u] = _richardson(daprox)
            u += 1
    return D


def hessian_many(func: Callable[[np.ndarray], np.ndarray], X, *, eps: float = 1e-4,
                 d: float = 0.1, zero_tol: float = ZERO_TOL, r: int = 4) -> np.ndarray:
    """:func:`hessian` of a scalar function at every row of ``X``: (B, n, n)."""
    X = np.atleast_2d(np.asarray(X, dtype=float))
    B, n = X.shape
    D = genD_many(func, X, eps=eps, d=d, zero_tol=zero_tol, r=r)
    if D.shape[1] != 1:
        raise ValueError("Richardson method for hessian assumes a scalar valued function.")
    H = np.zeros((B, n, n))
    u = n
    for i in range(n):
        for j in range(i + 1):
            H[:, i, j] = D[:, 0, u]
            u += 1
    H = H + np.swapaxes(H, 1, 2)
    H[:, np.arange(n), np.arange(n)] /= 2.0
    return H


def jacobian_many(func: Callable[[np.ndarray], np.ndarray], X, *, eps: float = 1e-4,
                  d: float = 1e-4, zero_tol: float = ZERO_TOL, r: int = 4,
                  v: float = 2.0) -> np.ndarray:
    """:func:`jacobian` at every row of ``X`` (B, n): shape (B, *func's value shape, n)."""
    X = np.atleast_2d(np.asarray(X, dtype=float))
    B, n = X.shape
    h = _initial_step(X, d, eps, zero_tol)
    points, at = [X], {}
    for k in range(r):
        for i in range(n):
            step = np.zeros((B, n))
            step[:, i] = h[:, i]
            at[k, i] = (len(points), h[:, i, None])
            points += [X + step, X - step]
        h = h / v
    Z = np.stack(points, axis=1)
    F = np.asarray(func(Z), dtype=float)
    shape = F.shape[2:]
    F = F.reshape(B, len(points), -1)
    a = np.empty((r, B, F.shape[2], n))
    for k in range(r):
        for i in range(n):
            j, hi = at[k, i]
            a[k, :, :, i] = (F[:, j] - F[:, j + 1]) / (2.0 * hi)
    return _richardson(a).reshape((B, *shape, n))
