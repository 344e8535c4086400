"""Covariance parameters: θ ↔ relative covariance factors Λ, bounds, names, VarCorr.

Notation (Bates, Mächler, Bolker & Walker 2015, JSS 67(1), sec. 2–3):
each random-effects term *i* has ``p_i`` columns and ``l_i`` levels of its
grouping factor; its relative covariance factor is a lower-triangular
``p_i × p_i`` template ``T_i`` whose non-zero elements, taken column by
column, are the term's slice of θ.  Λθ is block diagonal with ``l_i`` copies
of ``T_i`` per term, and the covariance of the random effects of one level is
``σ² T_i T_iᵀ``.

θ's order, names, start values (1 on the diagonal, 0 below) and lower bounds
(0 on the diagonal, −∞ below) are those of lme4's ``getME(m, "theta")``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TermLayout:
    """Where one random-effects term's parameters live in θ.

    Attributes
    ----------
    group : str
        Grouping factor name as lme4 prints it (``"Subject"``, ``"cask:batch"``).
    col_names : tuple of str
        Names of the term's columns (``"(Intercept)"``, ``"Days"``).
    n_levels : int
        Number of levels of the grouping factor.
    theta_start : int
        Offset of the term's first element in θ.
    rows, cols : ndarray of int
        Row and column indices in ``T`` of the term's θ elements (column-major
        lower triangle).
    """

    group: str
    col_names: tuple[str, ...]
    n_levels: int
    theta_start: int
    rows: np.ndarray
    cols: np.ndarray

    @property
    def p(self) -> int:
        """Number of columns of the term."""
        return len(self.col_names)

    @property
    def n_theta(self) -> int:
        """Number of θ elements of the term: p(p+1)/2."""
        return self.p * (self.p + 1) // 2

    @property
    def theta_slice(self) -> slice:
        """The term's slice of θ."""
        return slice(self.theta_start, self.theta_start + self.n_theta)


@dataclass(frozen=True)
class CovarianceLayout:
    """θ layout over all random-effects terms, in lme4's term order."""

    terms: tuple[TermLayout, ...]

    @classmethod
    def from_terms(
        cls, groups: Sequence[str], col_names: Sequence[Sequence[str]], n_levels: Sequence[int]
    ) -> CovarianceLayout:
        """Lay out θ for terms given their groups, column names and level counts."""
        out, start = [], 0
        for g, cn, nl in zip(groups, col_names, n_levels, strict=True):
            p = len(cn)
            rows, cols = [], []
            for j in range(p):
                for i in range(j, p):
                    rows.append(i)
                    cols.append(j)
            t = TermLayout(g, tuple(cn), int(nl), start, np.array(rows), np.array(cols))
            out.append(t)
            start += t.n_theta
        return cls(tuple(out))

    @property
    def n_theta(self) -> int:
        """Length of θ."""
        return sum(t.n_theta for t in self.terms)

    def names(self) -> list[str]:
        """θ names as lme4 spells them: ``g.(Intercept)``, ``g.Days.(Intercept)``."""
        out = []
        for t in self.terms:
            for i, j in zip(t.rows, t.cols, strict=True):
                if i == j:
                    out.append(f"{t.group}.{t.col_names[i]}")
                else:
                    out.append(f"{t.group}.{t.col_names[i]}.{t.col_names[j]}")
        return out

    def start(self) -> np.ndarray:
        """lme4's default start: 1 on the diagonals of each T, 0 elsewhere."""
        return np.concatenate([(t.rows == t.cols).astype(float) for t in self.terms])

    def lower(self) -> np.ndarray:
        """Lower bounds: 0 for diagonal elements, −∞ for off-diagonal ones."""
        return np.concatenate(
            [np.where(t.rows == t.cols, 0.0, -np.inf) for t in self.terms]
        )

    def diagonal_mask(self) -> np.ndarray:
        """Boolean mask of θ elements on a diagonal of some T."""
        return np.isfinite(self.lower())

    def templates(self, theta: np.ndarray) -> list[np.ndarray]:
        """The lower-triangular ``T_i`` of every term at θ."""
        out = []
        for t in self.terms:
            T = np.zeros((t.p, t.p))
            T[t.rows, t.cols] = theta[t.theta_slice]
            out.append(T)
        return out

    def covariances(self, theta: np.ndarray, sigma: float) -> list[np.ndarray]:
        """Per-term random-effects covariance matrices σ² T Tᵀ."""
        return [sigma**2 * (T @ T.T) for T in self.templates(theta)]

    def unique_groups(self) -> list[str]:
        """Group names made unique as lme4's VarCorr does (``Subject``, ``Subject.1``)."""
        seen: dict[str, int] = {}
        out = []
        for t in self.terms:
            k = seen.get(t.group, 0)
            out.append(t.group if k == 0 else f"{t.group}.{k}")
            seen[t.group] = k + 1
        return out

    def varcorr(self, theta: np.ndarray, sigma: float, residual: bool = True) -> list[dict]:
        """Rows of lme4's ``as.data.frame(VarCorr(m))`` (residual row last; none when
        ``residual`` is False: a GLMM without a dispersion parameter).

        Each row is a dict with ``grp``, ``var1``, ``var2`` (None on the
        diagonal), ``vcov`` (variance or covariance) and ``sdcor`` (standard
        deviation or correlation).
        """
        rows: list[dict] = []
        for t, grp, S in zip(self.terms, self.unique_groups(), self.covariances(theta, sigma),
                             strict=True):
            sd = np.sqrt(np.diag(S))
            for i in range(t.p):
                rows.append(
                    dict(grp=grp, var1=t.col_names[i], var2=None, vcov=S[i, i], sdcor=sd[i])
                )
            for j in range(t.p):
                for i in range(j + 1, t.p):
                    den = sd[i] * sd[j]
                    cor = S[i, j] / den if den > 0 else np.nan
                    rows.append(
                        dict(
                            grp=grp,
                            var1=t.col_names[j],
                            var2=t.col_names[i],
                            vcov=S[i, j],
                            sdcor=cor,
                        )
                    )
        if residual:
            rows.append(dict(grp="Residual", var1=None, var2=None, vcov=sigma**2, sdcor=sigma))
        return rows
