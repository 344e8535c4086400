"""pbkrtest 0.5.2's ``KRmodcomp(large, small, betaH)``: the Kenward–Roger F test of a
smaller mean structure, given as a fitted model, a formula or a restriction matrix L.

As pbkrtest: a model pair is ordered by the ranks of their X (the larger rank is the large
model; equal ranks, or an X₂ whose span is not inside X's, are "not nested"); a
large model fitted by ML is refitted by REML first; the restriction of a smaller model is a
basis of {β : Xβ ∈ span(X₂)}ᗮ's rows (pbkrtest's ``make_restriction_matrix`` gives another
basis of the same row space, and every KR quantity depends on L only through that space);
a matrix L of deficient rank is replaced by a basis of its row space
(``force_full_rank``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from interlace.errors import InterlaceError
from interlace.inference import kenward_roger as kr

__all__ = ["KRModComp", "kr_modcomp", "restriction_matrix"]

NOT_NESTED = "Models have equal mean stucture or are not nested!"


def _rank(X: np.ndarray) -> int:
    return kr._rank(np.atleast_2d(X))


def restriction_matrix(X: np.ndarray, X2: np.ndarray) -> np.ndarray:
    """Rows spanning the restrictions L β = 0 that take span(X) to span(X₂) ⊂ span(X):
    the right singular vectors of (I − P₂)X with non-zero singular values."""
    U2, s2, _ = np.linalg.svd(X2, full_matrices=False)
    r2 = int(np.sum(s2 > max(X2.shape) * np.finfo(float).eps * s2[0])) if s2.size else 0
    Q2 = U2[:, :r2]
    R = X - Q2 @ (Q2.T @ X)
    _, s, Vt = np.linalg.svd(R, full_matrices=False)
    k = _rank(X) - r2
    return Vt[:k]


@dataclass(frozen=True)
class KRModComp:
    """pbkrtest's ``KRmodcomp`` result: ``test`` (rows ``Ftest``, ``FtestU``; columns
    ``stat``, ``ndf``, ``ddf``, ``F.scaling``, ``p.value``), ``aux`` (A1, A2, V0, V1, V2,
    rho, F.scaling), the restriction matrix ``L`` used and the two formulas."""

    test: pd.DataFrame
    aux: dict
    L: np.ndarray
    formula_large: str
    formula_small: str

    def __repr__(self) -> str:
        return (f"large : {self.formula_large}\nsmall : {self.formula_small}\n"
                f"{self.test.to_string()}")


def kr_modcomp(large, small, beta_h=0.0) -> KRModComp:
    """pbkrtest's ``KRmodcomp(large, small, betaH)`` for LMM fits.

    Parameters
    ----------
    large : CrossedLMEResult
        The larger model (refitted by REML if it was fitted by ML, as pbkrtest does).
    small : CrossedLMEResult, str or array_like
        A nested model, a formula (lme4's ``update`` syntax: the large model refitted
        with it) or a restriction matrix L (p columns; rows as contrasts).
    beta_h : float or array_like
        β_H of the hypothesis L(β − β_H) = 0 (pbkrtest allows it with any small model).

    Returns
    -------
    KRModComp
    """
    if not hasattr(type(large), "kenward_roger"):
        raise InterlaceError("kr_modcomp() needs linear mixed model fits (interlace.fit)")
    if isinstance(small, str):
        small = large.update(small)
    if hasattr(type(small), "kenward_roger"):
        X, X2 = large.model.exog, small.model.exog
        if X.shape[0] != X2.shape[0]:
            raise InterlaceError(f"the models were fitted to different numbers of rows "
                                 f"({X.shape[0]} and {X2.shape[0]})")
        r_l, r_s, r_b = _rank(X), _rank(X2), _rank(np.column_stack([X, X2]))
        if r_b != max(r_l, r_s) or r_l == r_s:
            raise InterlaceError(NOT_NESTED)
        if r_s > r_l:
            large, small, X, X2 = small, large, X2, X
        L, f_small = restriction_matrix(X, X2), small.formula
    else:
        L = np.atleast_2d(np.asarray(small, dtype=float))
        p = len(large.fe_params)
        if L.ndim != 2 or L.shape[1] != p:
            raise InterlaceError(f"the restriction matrix has {L.shape[-1]} columns but the "
                                 f"model has {p} coefficients")
        if not np.all(np.isfinite(L)):
            raise InterlaceError("the restriction matrix L has NaN or Inf")
        X = large.model.exog
        if _rank(np.vstack([X, L])) > _rank(X):
            raise InterlaceError(NOT_NESTED)
        L, f_small = kr.force_full_rank(L), "restriction matrix L"
    if large.method != "REML":
        large = large.update(method="REML")
    beta = large.fe_params.to_numpy()
    out = kr.kr_adjust(large.kenward_roger, L, beta, beta_h)
    test = pd.DataFrame(
        {"stat": [out["stat"], out["statU"]], "ndf": [out["ndf"], out["ndf"]],
         "ddf": [out["ddf"], out["ddf"]], "F.scaling": [out["F.scaling"], np.nan],
         "p.value": [out["p.value"], out["p.valueU"]]}, index=["Ftest", "FtestU"])
    aux = {k: out[k] for k in ("A1", "A2", "V0", "V1", "V2", "rho", "F.scaling")}
    return KRModComp(test=test, aux=aux, L=L, formula_large=large.formula,
                     formula_small=f_small)
