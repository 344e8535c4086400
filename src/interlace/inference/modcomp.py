"""pbkrtest 0.5.2's ``KRmodcomp(large, small, betaH)`` and ``SATmodcomp(large, small)``: the
Kenward–Roger and Satterthwaite F tests of a smaller mean structure, given as a fitted
model, a formula or a restriction matrix L.

As pbkrtest: a model pair is ordered by the ranks of their X (the larger rank is the large
model; equal ranks, or an X₂ whose span is not inside X's, are "not nested"); a large model
fitted by ML is refitted by REML first; the restriction of a smaller model is pbkrtest's
``make_restriction_matrix``; a matrix L of deficient rank is replaced by a basis of its row
space (``force_full_rank``).  The restriction matrices are pbkrtest's own, LINPACK's QR and R's
zapsmall included: Satterthwaite's denominator df (``SATmodcomp``) depends on L's rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from interlace.design.qr import qr_linpack, qr_q
from interlace.errors import InterlaceError
from interlace.inference import kenward_roger as kr
from interlace.inference.kenward_roger import rank_matrix
from interlace.inference.lmertest_contrasts import zapsmall

__all__ = ["KRModComp", "SATModComp", "kr_modcomp", "restriction_matrix", "sat_modcomp"]

NOT_NESTED = "Models have equal mean stucture or are not nested!"


def restriction_matrix(X: np.ndarray, X2: np.ndarray) -> np.ndarray:
    """pbkrtest's ``make_restriction_matrix(X, X2)``: Q = qr.Q(qr(cbind(X₂, X))) (LINPACK,
    pivoting at 1e-7), Q₂ its columns rank(X₂)+1 … rank(X), L = Q₂ᵀX orthonormalized as
    t(qr.Q(qr(t(L)))), then zapsmall."""
    both = np.column_stack([X2, X])
    Q = qr_q(qr_linpack(both))
    L = Q[:, rank_matrix(X2):rank_matrix(X)].T @ X
    return zapsmall(qr_q(qr_linpack(L.T)).T)


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


@dataclass(frozen=True)
class SATModComp:
    """pbkrtest's ``SATmodcomp`` result: ``test`` (one row; ``statistic``, ``ndf``,
    ``ddf``, ``p.value``), ``sigma`` of the large model, the restriction matrix ``L`` and
    the large model's formula."""

    test: pd.DataFrame
    sigma: float
    L: np.ndarray
    formula_large: str

    def __repr__(self) -> str:
        return f"large : {self.formula_large}\n{self.test.to_string()}"


def _restriction(large, small):
    """pbkrtest's ``modcomp_init`` and ``model2restriction_matrix``: the large model (by REML)
    and the restriction matrix, with what the small model was."""
    if not hasattr(large.__class__, "kenward_roger"):
        raise InterlaceError("model comparison needs linear mixed model fits (interlace.fit)")
    if isinstance(small, str):
        small = large.update(small)
    if hasattr(small.__class__, "kenward_roger"):
        X, X2 = large.model.exog, small.model.exog
        if X.shape[0] != X2.shape[0]:
            raise InterlaceError(f"the models were fitted to different numbers of rows "
                                 f"({X.shape[0]} and {X2.shape[0]})")
        r_l, r_s, r_b = rank_matrix(X), rank_matrix(X2), rank_matrix(np.column_stack([X, X2]))
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
        if rank_matrix(np.vstack([X, L])) > rank_matrix(X):
            raise InterlaceError(NOT_NESTED)
        L, f_small = kr.force_full_rank(L), "restriction matrix L"
    if large.method != "REML":
        large = large.update(method="REML")
    return large, L, f_small


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
    large, L, f_small = _restriction(large, small)
    beta = large.fe_params.to_numpy()
    out = kr.kr_adjust(large.kenward_roger, L, beta, beta_h)
    test = pd.DataFrame(
        {"stat": [out["stat"], out["statU"]], "ndf": [out["ndf"], out["ndf"]],
         "ddf": [out["ddf"], out["ddf"]], "F.scaling": [out["F.scaling"], np.nan],
         "p.value": [out["p.value"], out["p.valueU"]]}, index=["Ftest", "FtestU"])
    aux = {k: out[k] for k in ("A1", "A2", "V0", "V1", "V2", "rho", "F.scaling")}
    return KRModComp(test=test, aux=aux, L=L, formula_large=large.formula,
                     formula_small=f_small)


#: pbkrtest's eigenvalue tolerance in ``compute_auxiliary`` (lmerTest's is 1e-8)
SAT_TOL = 1e-6


def sat_modcomp(large, small, eps: float = float(np.sqrt(np.finfo(float).eps))) -> SATModComp:
    """pbkrtest's ``SATmodcomp(large, small)``: Satterthwaite's F test of the restriction
    (lmerTest's ``contestMD`` arithmetic on pbkrtest's L, with vcov of the variance
    parameters from the Hessian's eigenvalues above 1e-6, and p = 1 − pf(F, q, ddf) as
    pbkrtest computes it).  ``small`` as for :func:`kr_modcomp`."""
    from scipy import linalg, stats

    from interlace.inference.ftests import fstat_ddf
    from interlace.inference.satterthwaite import _vcov_from_hessian

    large, L, _ = _restriction(large, small)
    fit = large.satterthwaite
    A = _vcov_from_hessian(fit.hessian, SAT_TOL)[0]
    beta = large.fe_params.to_numpy()
    d, P = linalg.eigh(L @ fit.vcov_beta @ L.T, driver="evr")
    d, P = d[::-1], P[:, ::-1]
    q = int(np.sum(d > max(eps * d[0], 0.0)))
    PtL = (P.T @ L)[:q]
    F = float(np.sum((PtL @ beta) ** 2 / d[:q]) / q)
    grads = np.einsum("mi,kij,mj->mk", PtL, fit.jac, PtL)
    nu = 2.0 * d[:q] ** 2 / np.einsum("mk,kl,ml->m", grads, A, grads)
    ddf = fstat_ddf(nu)
    test = pd.DataFrame({"statistic": [F], "ndf": [q], "ddf": [ddf],
                         "p.value": [1.0 - float(stats.f.cdf(F, q, ddf))]})
    return SATModComp(test=test, sigma=large.sigma, L=L, formula_large=large.formula)
