"""Cross-products of the (weighted) model matrices, formed once per model.

With ``Z`` the sparse random-effects model matrix (columns in lme4 order:
term by term, within a term level by level, within a level column by
column), ``X`` the fixed-effects matrix and ``y`` the response, shifted by its
least-squares fit on X (``y₀ = y − offset − X b₀``, :mod:`interlace.linalg.centering`,
so that no precision is lost to a large mean), all rows multiplied by √w, we form

    ZtZ  = ZᵀZ          (sparse q × q)
    ZtXy = Zᵀ[X y]      (dense q × (p+1))
    XytXy = [X y]ᵀ[X y]  (dense (p+1) × (p+1))

with ``y₀`` in place of y.  Everything the deviance needs per θ is a function of these
and θ only, so no per-evaluation work is proportional to n (Bates et al. 2015, JSS 67(1), sec. 3;
MixedModels.jl forms the same blocks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from interlace.design.zmatrix import build_Z
from interlace.linalg.centering import ShiftedResponse, shift_response

__all__ = ["CrossProducts", "TermData", "build_Z"]


@dataclass(frozen=True)
class TermData:
    """One random-effects term's data: level codes (n,), raw columns (n, p), levels."""

    codes: np.ndarray
    Xi: np.ndarray
    n_levels: int

    @property
    def p(self) -> int:
        """Number of columns of the term."""
        return self.Xi.shape[1]

    @property
    def q(self) -> int:
        """Number of random effects of the term: levels × columns."""
        return self.n_levels * self.p


@dataclass(frozen=True)
class CrossProducts:
    """ZᵀZ, Zᵀ[X y₀] and [X y₀]ᵀ[X y₀] with the sizes needed to interpret them.

    ``beta0`` is the shift of the response (β̂ = beta0 + the solution for y₀) and ``y0``
    the shifted response itself (n,); ``y0`` is None for downdated products.
    """

    ZtZ: sp.csc_matrix
    ZtXy: np.ndarray
    XytXy: np.ndarray
    n: int
    p: int
    beta0: np.ndarray | None = None
    y0: np.ndarray | None = None

    @property
    def shift(self) -> np.ndarray:
        """``beta0``, zeros when the products were formed from an unshifted response."""
        return np.zeros(self.p) if self.beta0 is None else self.beta0

    @classmethod
    def build(
        cls,
        X: np.ndarray,
        y: np.ndarray,
        terms: Sequence[TermData],
        weights: np.ndarray | None = None,
        offset: np.ndarray | None = None,
        shift: bool = True,
    ) -> CrossProducts:
        """Form the cross-products of X and the shifted response ``y − offset − X b₀``
        (``shift=False``: of ``y − offset`` itself, b₀ = 0)."""
        if shift:
            shifted = shift_response(X, y, weights, offset)
        else:
            y0 = np.asarray(y, dtype=float) if offset is None else y - offset
            shifted = ShiftedResponse(np.zeros(X.shape[1]), y0)
        sqrtw = None if weights is None else np.sqrt(weights)
        Xy = np.column_stack([X, shifted.y0])
        if sqrtw is not None:
            Xy = Xy * sqrtw[:, None]
        Z = build_Z(terms, sqrtw)
        ZtZ = (Z.T @ Z).tocsc()
        ZtZ.sort_indices()
        ZtXy = np.asarray(Z.T @ Xy)
        return cls(ZtZ, ZtXy, Xy.T @ Xy, X.shape[0], X.shape[1], shifted.beta0, shifted.y0)
