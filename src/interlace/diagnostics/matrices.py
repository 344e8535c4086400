"""The model's matrices at θ̂ as HLMdiag builds them for its diagnostics.

Notation (Bates, Mächler, Bolker & Walker 2015, JSS 67(1)): ``X`` (n × p), ``Z``
(n × q, lme4's column order), the relative covariance factor ``Λ = Λθ``, σ² the
residual variance and β̂ the fixed effects.  HLMdiag (0.5.1.9000, commit 6f1ee6d,
``R/utility_functions.R`` ``.lmerMod_matrices`` and ``R/influence_functions.R``
``leverage.lmerMod``) takes lme4's ``getME(m, "A") = ΛᵀZᵀ`` and ``sigma(m)`` at the
fitted θ̂ and forms

    V    = σ² I + σ² ZΛΛᵀZᵀ                       (marginal covariance of y)
    β̃    = (XᵀV⁻¹X)⁻¹ XᵀV⁻¹ y                       (GLS β at θ̂; equals β̂ up to rounding)
    e    = y − Xβ̃
    P    = V⁻¹ − V⁻¹X (XᵀV⁻¹X)⁻¹ XᵀV⁻¹

holding θ̂ and σ̂ fixed.  **HLMdiag ignores prior weights** (its residual covariance
is σ²I whatever the weights; lme4's ``A`` is unweighted) and ``y`` is lme4's response
without the offset subtracted.  Here we reproduce the first exactly (weights are
ignored, as in HLMdiag) but subtract the offset from ``y`` (HLMdiag's one-step
residuals ``e`` would otherwise contain it); with no offset the two agree.

Nothing here forms an n × n matrix.  With ``U = ZΛ`` (sparse n × q) and
``M = I + UᵀU = L Lᵀ`` (q × q, dense Cholesky), Woodbury gives

    V⁻¹ = (I − S) / σ²,   S = U M⁻¹ Uᵀ,

so V⁻¹A, the diagonal of S and any block ``S[D, D]`` of a deletion set D cost
O(n q²) at most (rows are processed in chunks).  Only the Cholesky-standardized
marginal residuals need the dense n × n factor of V (:meth:`HLMMatrices.chol_V`),
limited to ``n ≤ DENSE_MAX_N`` observations.

Deletion units: ``level=1`` deletes single observations, labelled by the data's row
labels (R's row names); ``level="<group>"`` deletes whole levels of a grouping factor,
labelled by the level labels in the factor's level order.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.linalg import cho_solve, cholesky, solve_triangular

from interlace.errors import InterlaceError
from interlace.linalg.crossprod import TermData, build_Z

__all__ = ["DENSE_MAX_N", "HLMMatrices", "Units", "hlm_matrices", "units"]

#: largest n for which an n × n matrix (Cholesky factor of V) is formed
DENSE_MAX_N = 5000
#: rows per chunk when a q × rows block is formed
_CHUNK = 2048


@dataclass(frozen=True)
class Units:
    """Deletion units of a model: labels and the row positions of each unit.

    Attributes
    ----------
    level : str
        ``"1"`` (observations) or the grouping factor's name.
    labels : pandas.Index
        Row labels (observations) or level labels (groups, factor-level order).
    rows : list of ndarray of int
        Row positions (0-based, in the model's rows) of each unit.
    """

    level: str
    labels: pd.Index
    rows: list[np.ndarray]

    @property
    def is_obs(self) -> bool:
        """True for single-observation units."""
        return self.level == "1"


def _level_name(level) -> str:
    return "1" if str(level) == "1" else str(level)


def group_codes(res, group: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Level codes (n,) and labels of a grouping factor of the model."""
    for t in res._design.re_terms:
        if t.group == group:
            return t.codes, t.levels
    names = sorted({t.group for t in res._design.re_terms})
    raise InterlaceError(f"level must be 1 or a grouping factor of the model {names}, "
                         f"not {group!r}")


def units(res, level=1) -> Units:
    """The deletion units for ``level`` (1 = observations, or a grouping factor name)."""
    lev = _level_name(level)
    if lev == "1":
        n = res.nobs
        return Units("1", res._design.row_labels, [np.array([i]) for i in range(n)])
    codes, labels = group_codes(res, lev)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=len(labels))
    rows = np.split(order, np.cumsum(counts)[:-1])
    keep = counts > 0
    return Units(lev, pd.Index([lb for lb, k in zip(labels, keep, strict=True) if k],
                               name=lev),
                 [r for r, k in zip(rows, keep, strict=True) if k])


@dataclass(frozen=True, eq=False)
class HLMMatrices:
    """HLMdiag's model matrices at θ̂ in factored form (see the module docstring).

    Attributes
    ----------
    X : ndarray (n, p)
    y : ndarray (n,)
        Response minus offset.
    U : scipy.sparse.csr_matrix (n, q)
        ``ZΛ``.
    sigma2 : float
        σ̂² of the fit.
    L : ndarray (q, q)
        Lower Cholesky factor of ``M = I + UᵀU``.
    fixef : ndarray (p,)
        The fit's β̂ (lme4's ``fixef``).
    labels : pandas.Index
        Row labels.
    """

    X: np.ndarray
    y: np.ndarray
    U: sp.csr_matrix
    sigma2: float
    L: np.ndarray
    fixef: np.ndarray
    labels: pd.Index

    @property
    def n(self) -> int:
        """Number of observations."""
        return self.X.shape[0]

    @property
    def p(self) -> int:
        """Number of fixed effects."""
        return self.X.shape[1]

    # -- V⁻¹ through Woodbury ---------------------------------------------------------
    def s_apply(self, A: np.ndarray) -> np.ndarray:
        """S A with S = U M⁻¹ Uᵀ."""
        A2 = A.reshape(A.shape[0], -1)
        out = self.U @ cho_solve((self.L, True), np.asarray(self.U.T @ A2))
        return out.reshape(A.shape)

    def vinv_apply(self, A: np.ndarray) -> np.ndarray:
        """V⁻¹ A = (A − S A) / σ²."""
        return (A - self.s_apply(A)) / self.sigma2

    def s_block(self, rows: np.ndarray) -> np.ndarray:
        """S[rows, rows] (k × k)."""
        W = solve_triangular(self.L, self.U[rows].toarray().T, lower=True)
        return W.T @ W

    def s_diag(self) -> np.ndarray:
        """The diagonal of S (row-wise, in chunks)."""
        out = np.empty(self.n)
        for lo in range(0, self.n, _CHUNK):
            hi = min(self.n, lo + _CHUNK)
            W = solve_triangular(self.L, self.U[lo:hi].toarray().T, lower=True)
            out[lo:hi] = np.einsum("ij,ij->j", W, W)
        return out

    def vinv_block(self, rows: np.ndarray) -> np.ndarray:
        """V⁻¹[rows, rows]."""
        return (np.eye(len(rows)) - self.s_block(rows)) / self.sigma2

    # -- GLS quantities -----------------------------------------------------------------
    @cached_property
    def VinvX(self) -> np.ndarray:
        """V⁻¹X (n × p)."""
        return self.vinv_apply(self.X)

    @cached_property
    def XVX(self) -> np.ndarray:
        """XᵀV⁻¹X (p × p)."""
        A = self.X.T @ self.VinvX
        return 0.5 * (A + A.T)

    @cached_property
    def XVXinv(self) -> np.ndarray:
        """(XᵀV⁻¹X)⁻¹ = vcov(β̂) (p × p)."""
        A = np.linalg.inv(self.XVX)
        return 0.5 * (A + A.T)

    @cached_property
    def beta_gls(self) -> np.ndarray:
        """β̃ = (XᵀV⁻¹X)⁻¹ XᵀV⁻¹y, HLMdiag's ``betaHat`` (β̂ up to rounding)."""
        return self.XVXinv @ (self.VinvX.T @ self.y)

    @cached_property
    def e(self) -> np.ndarray:
        """y − Xβ̃ (HLMdiag's one-step residual)."""
        return self.y - self.X @ self.beta_gls

    @cached_property
    def Vinv_e(self) -> np.ndarray:
        """V⁻¹ e."""
        return self.vinv_apply(self.e)

    def P_block(self, rows: np.ndarray) -> np.ndarray:
        """P[rows, rows] = V⁻¹[rows, rows] − (V⁻¹X)[rows] (XᵀV⁻¹X)⁻¹ (V⁻¹X)[rows]ᵀ."""
        A = self.VinvX[rows]
        return self.vinv_block(rows) - A @ self.XVXinv @ A.T

    @cached_property
    def vinv_diag(self) -> np.ndarray:
        """diag(V⁻¹) = (1 − diag S) / σ²."""
        return (1.0 - self.s_diag()) / self.sigma2

    @cached_property
    def P_diag(self) -> np.ndarray:
        """diag(P)."""
        A = self.VinvX
        return self.vinv_diag - np.einsum("ij,jk,ik->i", A, self.XVXinv, A)

    @cached_property
    def zdz_diag(self) -> np.ndarray:
        """diag(ZΛΛᵀZᵀ) = row sums of U² (HLMdiag's ``ranef.uc`` leverage)."""
        return np.asarray(self.U.multiply(self.U).sum(axis=1)).ravel()

    # -- dense pieces -----------------------------------------------------------------------
    def V_dense(self) -> np.ndarray:
        """V = σ²(I + UUᵀ) as a dense n × n matrix (n ≤ DENSE_MAX_N)."""
        _check_dense(self.n)
        Ud = self.U.toarray()
        return self.sigma2 * (np.eye(self.n) + Ud @ Ud.T)

    @cached_property
    def chol_V(self) -> np.ndarray:
        """Lower Cholesky factor C of V = C Cᵀ (dense, n ≤ DENSE_MAX_N)."""
        return cholesky(self.V_dense(), lower=True)


def _check_dense(n: int) -> None:
    if n > DENSE_MAX_N:
        raise InterlaceError(
            f"this diagnostic forms an n x n matrix; n = {n} exceeds "
            f"interlace.diagnostics.matrices.DENSE_MAX_N = {DENSE_MAX_N}")


def relative_factor(res) -> sp.csr_matrix:
    """U = ZΛ at the result's θ (n × q, lme4's column order)."""
    terms = []
    for t, T in zip(res._design.re_terms, res._layout.templates(res.theta), strict=True):
        terms.append(TermData(t.codes, t.Xi @ T, len(t.levels)))
    return build_Z(terms).tocsr()


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def hlm_matrices(res) -> HLMMatrices:
    """HLMdiag's matrices of a fitted model at its θ̂ and σ̂ (cached per result)."""
    cached = _CACHE.get(res)
    if cached is not None:
        return cached
    des = res._design
    y = des.y if des.offset is None else des.y - des.offset
    U = relative_factor(res)
    q = U.shape[1]
    M = np.asarray((U.T @ U).todense()) + np.eye(q)
    L = cholesky(M, lower=True)
    mats = HLMMatrices(np.asarray(des.X, dtype=float), np.asarray(y, dtype=float), U,
                       float(res.scale), L, res.fe_params.to_numpy(), des.row_labels)
    _CACHE[res] = mats
    return mats
