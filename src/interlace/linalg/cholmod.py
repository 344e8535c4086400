"""CHOLMOD backend (scikit-sparse) for the factor of ΛᵀZᵀZΛ + I.

Same protocol and the same numbers as :mod:`interlace.linalg.blocked`
(Bates et al. 2015, JSS 67(1), sec. 3): the symbolic analysis (fill-reducing
ordering) runs once on the largest possible pattern of ``ΛᵀZᵀZΛ + I``; each θ
only refactors numerically.  ``C = L⁻¹PΛᵀZᵀ[X y]`` is permuted, which leaves
``CᵀC`` and therefore the Schur complement unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from interlace.linalg.blocked import BlockDiagPattern
from interlace.linalg.crossprod import CrossProducts

try:  # pragma: no cover - exercised only where scikit-sparse is installed
    from sksparse import cholmod as _cholmod
except ImportError:  # pragma: no cover
    _cholmod = None

AVAILABLE = _cholmod is not None


class CholmodFactor:
    """Sparse supernodal Cholesky of ΛᵀZᵀZΛ + I through CHOLMOD."""

    name = "cholmod"

    def __init__(self, cp: CrossProducts, ps: Sequence[int], ls: Sequence[int]):
        if _cholmod is None:
            raise ImportError("scikit-sparse is not installed (pip install 'interlace[cholmod]')")
        self.cp = cp
        self.ps, self.ls = list(ps), list(ls)
        self.lam = BlockDiagPattern(ps, ls)
        self.ZtZ = cp.ZtZ.tocsc()
        self.eye = sp.identity(self.lam.q, format="csc")
        full = [np.tril(np.ones((p, p))) for p in ps]
        self._factor = _cholmod.analyze(self._M(full), mode="supernodal")

    def _M(self, templates: Sequence[np.ndarray]) -> sp.csc_matrix:
        Lam = self.lam.matrix(templates).tocsc()
        self._Lam = Lam
        return (Lam.T @ self.ZtZ @ Lam + self.eye).tocsc()

    def with_cross_products(self, cp: CrossProducts) -> CholmodFactor:
        """This factor (its symbolic analysis) on cross-products that differ only in the
        response (lme4's ``refit(newresp)``); refactored at its own θ before use."""
        new = copy.copy(self)
        new.cp = cp
        return new

    def update(self, templates: Sequence[np.ndarray]) -> tuple[float, np.ndarray]:
        """Refactor in place for new term templates; return (ldL2, Schur complement S)."""
        self._factor.cholesky_inplace(self._M(templates))
        self._LtZtXy = np.asarray(self._Lam.T @ self.cp.ZtXy)
        C = self._factor.solve_L(self._factor.apply_P(self._LtZtXy), use_LDLt_decomposition=False)
        return float(self._factor.logdet()), self.cp.XytXy - C.T @ C

    def solve_u(self, beta: np.ndarray) -> np.ndarray:
        """Spherical random effects u (lme4 column order) for the last θ and this β."""
        p = self.cp.p
        rhs = self._LtZtXy[:, p] - self._LtZtXy[:, :p] @ beta
        return np.asarray(self._factor(rhs)).ravel()

    def minv_diag_blocks(self) -> list[np.ndarray]:
        """Diagonal per-level blocks of M⁻¹ for each term (lme4 order), each (l, p, p)."""
        Minv = self._factor.inv().tocsr()
        out, off = [], 0
        for p, n_lev in zip(self.ps, self.ls, strict=True):
            idx = off + np.arange(n_lev)[:, None] * p + np.arange(p)[None]
            r = np.broadcast_to(idx[:, :, None], (n_lev, p, p)).ravel()
            c = np.broadcast_to(idx[:, None, :], (n_lev, p, p)).ravel()
            out.append(np.asarray(Minv[r, c]).reshape(n_lev, p, p))
            off += p * n_lev
        return out
