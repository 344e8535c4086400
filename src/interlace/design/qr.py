"""Householder QR with LINPACK ``dqrdc2``'s limited column pivoting (R's default ``qr``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["QRResult", "qr_linpack", "qr_q", "column_rank_pivot"]


@dataclass(frozen=True)
class QRResult:
    """Result of :func:`qr_linpack` (fields as R's ``qr`` object).

    Attributes
    ----------
    qr : ndarray, shape (n, p)
        R in the upper triangle, Householder vectors below it.
    qraux : ndarray, shape (p,)
        Auxiliary Householder information.
    rank : int
        Numerical rank at tolerance ``tol``.
    pivot : ndarray of int, shape (p,)
        0-based column permutation; columns judged negligible are moved to the end.
    """

    qr: np.ndarray
    qraux: np.ndarray
    rank: int
    pivot: np.ndarray


def qr_linpack(x: np.ndarray, tol: float = 1e-7) -> QRResult:
    """QR decomposition with R's rank-revealing ``dqrdc2`` pivoting strategy.

    At each step the current column is examined; while its remaining norm has
    fallen below ``tol`` times its original norm it is cycled to the end of
    the matrix.  The rank is the number of columns never cycled (at most
    ``n``).  This is what ``qr(X, tol = 1e-7, LAPACK = FALSE)`` does in R, and
    therefore what lme4 uses to decide which fixed-effect columns to drop.

    Parameters
    ----------
    x : ndarray, shape (n, p)
        Matrix to decompose (not modified).
    tol : float
        Relative tolerance for negligible columns.

    Returns
    -------
    QRResult
    """
    # work on the transpose so that every column of x is a contiguous row
    at = np.array(np.asarray(x, dtype=np.float64).T, order="C", copy=True)
    p, n = at.shape
    pivot = np.arange(p)
    norms = np.sqrt(np.einsum("ij,ij->i", at, at))
    qraux = norms.copy()
    work0 = norms.copy()  # running norm reference (LINPACK work(,1))
    work1 = np.where(norms == 0.0, 1.0, norms)  # original norms (work(,2))
    k = p + 1  # 1-based "first cycled column" marker as in LINPACK
    for l in range(min(n, p)):  # noqa: E741
        # cycle negligible columns to the end
        while l + 1 < k and qraux[l] < work1[l] * tol:
            order = np.r_[np.arange(l), np.arange(l + 1, p), l]
            at = at[order]
            pivot, qraux, work0, work1 = pivot[order], qraux[order], work0[order], work1[order]
            k -= 1
        if l == n - 1:
            break
        col = at[l, l:]
        nrmxl = float(np.sqrt(col @ col))
        if nrmxl == 0.0:
            continue
        if col[0] != 0.0:
            nrmxl = float(np.copysign(nrmxl, col[0]))
        col /= nrmxl
        col[0] += 1.0
        if l + 1 < p:
            sub = at[l + 1 :, l:]
            t = -(sub @ col) / col[0]
            sub += t[:, None] * col[None, :]
            qj = qraux[l + 1 :]
            nz = qj != 0.0
            with np.errstate(divide="ignore", invalid="ignore"):
                tt = 1.0 - (np.abs(sub[:, 0]) / qj) ** 2
            tt = np.maximum(tt, 0.0)
            small = nz & (np.abs(tt) < 1e-6)
            upd = nz & ~small
            qj[upd] = qj[upd] * np.sqrt(tt[upd])
            if small.any():
                idx = np.nonzero(small)[0]
                rest = sub[idx, 1:]
                newn = np.sqrt(np.einsum("ij,ij->i", rest, rest))
                qj[idx] = newn
                work0[l + 1 + idx] = newn
        qraux[l] = at[l, l]
        at[l, l] = -nrmxl
    a = np.asfortranarray(at.T)
    rank = min(k - 1, n)
    return QRResult(a, qraux, int(rank), pivot)


def column_rank_pivot(x: np.ndarray, tol: float = 1e-7) -> tuple[int, np.ndarray]:
    """Rank and pivot exactly as :func:`qr_linpack`, with a fast path for well-conditioned x.

    Without any column cycling, the remaining norm of column ``j`` when
    ``dqrdc2`` reaches it equals ``|R[j, j]|`` of the unpivoted QR.  If a
    Cholesky factor of ``x'x`` shows every such ratio to the original column
    norm is far above ``tol`` (by a factor of 1000), no column can be cycled
    and the rank is full; otherwise the exact LINPACK algorithm is run.

    Parameters
    ----------
    x : ndarray, shape (n, p)
    tol : float

    Returns
    -------
    rank : int
    pivot : ndarray of int
        0-based pivot.
    """
    x = np.asarray(x, dtype=np.float64)
    n, p = x.shape
    if 0 < p <= n:
        gram = x.T @ x
        d = np.sqrt(np.diag(gram))
        if np.all(d > 0) and np.all(np.isfinite(gram)):
            try:
                chol = np.linalg.cholesky(gram)
            except np.linalg.LinAlgError:
                chol = None
            if chol is not None and np.all(np.abs(np.diag(chol)) >= 1e3 * tol * d):
                return p, np.arange(p)
    res = qr_linpack(x, tol)
    return res.rank, res.pivot


def qr_q(res: QRResult, complete: bool = False) -> np.ndarray:
    """R's ``qr.Q(qr, complete)`` of a :func:`qr_linpack` decomposition: the identity's
    first min(n, p) columns (all n with ``complete``) multiplied by the first ``rank``
    Householder reflections, applied last to first as LINPACK's ``dqrsl`` does."""
    a, qraux = res.qr, res.qraux
    n, p = a.shape
    y = np.eye(n, n if complete else min(n, p))
    for j in range(min(res.rank, n - 1) - 1, -1, -1):
        if qraux[j] == 0.0:
            continue
        u = a[j:, j].copy()
        u[0] = qraux[j]
        t = -(u @ y[j:]) / u[0]
        y[j:] += u[:, None] * t[None, :]
    return y
