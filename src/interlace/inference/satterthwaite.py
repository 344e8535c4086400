"""Satterthwaite denominator degrees of freedom for fixed-effect t-tests (lmerTest).

This reproduces ``lmerTest`` 3.1-3 for a fitted linear mixed model
(``as_lmerModLmerTest`` + ``contest1D`` / ``summary``):

1. ``varpar = (theta, sigma)`` at the optimum.
2. A deviance function of ``varpar`` in which ``sigma`` is *not* profiled
   out::

       dev(varpar) = ldL2 + pwrss / sigma**2 + n log(2 pi sigma**2)
                     [REML: + ldRX2 - p log(2 pi sigma**2)]

   where ``ldL2``, ``pwrss`` and ``ldRX2`` come from the penalized least
   squares problem at ``theta`` (Bates et al. 2015, JSS 67(1), sec. 3).
3. ``H`` = numerical Hessian of ``dev`` at ``varpar`` (``numDeriv::hessian``,
   Richardson, default arguments); ``vcov(varpar) = 2 H^+`` where ``H^+`` is
   the pseudo-inverse over eigenvalues ``> tol`` (``tol = 1e-8``).  Negative
   eigenvalues (``< -tol``) and eigenvalues in ``(-tol, tol)`` produce
   lmerTest's warnings (here :class:`interlace.errors.ConvergenceWarning`).
4. ``J`` = numerical Jacobian (``numDeriv::jacobian``, Richardson) of
   ``C(varpar) = sigma**2 (RX' RX)^{-1}`` with respect to ``varpar``.
5. For a contrast ``l``: ``df = 2 (l C l')**2 / (g A g')`` with
   ``g_k = l J_k l'`` and ``A = vcov(varpar)``.

The *evaluator* is any object with ``n``, ``p``, ``reml`` and ``pls(theta)`` returning
``ldL2``, ``ldRX2``, ``pwrss`` and the upper triangular ``RX`` (see :class:`PLSEvaluator`).
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any, Protocol

import numpy as np
from scipy import linalg, stats

from interlace.errors import ConvergenceWarning, InterlaceError, warn
from interlace.inference.numderiv import hessian, hessian_many, jacobian, jacobian_many

__all__ = [
    "PLSEvaluator",
    "SatterthwaiteFit",
    "Contest1D",
    "varpar_deviance",
    "covbeta",
    "vcov_varpar",
    "satterthwaite_fit",
    "satterthwaite_df",
    "contest1d",
    "coef_table",
]

#: lmerTest's default eigenvalue tolerance (``as_lmerModLmerTest(tol = 1e-8)``).
EIGEN_TOL: float = 1e-8


class PLSEvaluator(Protocol):
    """Structural type of the penalized-least-squares evaluator.

    ``pls(theta)`` returns an object with float attributes ``ldL2`` (log det of
    ``L_theta`` squared), ``ldRX2`` (log det of ``RX`` squared), ``pwrss`` (penalized
    weighted residual sum of squares) and ``RX`` (``p x p`` upper triangular, with
    ``vcov(beta) = sigma**2 (RX' RX)^{-1}``), as lme4's ``merPredD`` after ``devfun(theta)``.
    """

    n: int
    p: int
    reml: bool

    def pls(self, theta: np.ndarray) -> Any: ...  # pragma: no cover - protocol


def _split(varpar: np.ndarray) -> tuple[np.ndarray, float]:
    varpar = np.asarray(varpar, dtype=float)
    return varpar[:-1], float(varpar[-1])


def varpar_deviance(evaluator: PLSEvaluator, varpar, reml: bool | None = None) -> float:
    """Deviance (-2 log-likelihood) as a function of ``(theta, sigma)``.

    Parameters
    ----------
    evaluator : PLSEvaluator
        PLS evaluator.
    varpar : array_like
        ``theta`` followed by ``sigma`` (not ``sigma**2``).
    reml : bool, optional
        REML criterion; defaults to ``evaluator.reml``.

    Returns
    -------
    float
        ``ldL2 + pwrss/sigma**2 + n log(2 pi sigma**2)``, plus
        ``ldRX2 - p log(2 pi sigma**2)`` for REML (lmerTest's ``devfun_vp``).
    """
    theta, sigma = _split(varpar)
    reml = evaluator.reml if reml is None else reml
    st = evaluator.pls(theta)
    sigma2 = sigma * sigma
    log2pis2 = np.log(2.0 * np.pi * sigma2)
    dev = st.ldL2 + st.pwrss / sigma2 + evaluator.n * log2pis2
    if not reml:
        return float(dev)
    return float(dev + st.ldRX2 - evaluator.p * log2pis2)


def covbeta(evaluator: PLSEvaluator, varpar) -> np.ndarray:
    """``vcov(beta)`` as a function of ``(theta, sigma)``: ``sigma**2 (RX' RX)^{-1}``.

    Parameters
    ----------
    evaluator : PLSEvaluator
        PLS evaluator.
    varpar : array_like
        ``theta`` followed by ``sigma``.

    Returns
    -------
    ndarray, shape (p, p)
        ``sigma**2 RXi RXi'`` with ``RXi = RX^{-1}``.
    """
    theta, sigma = _split(varpar)
    RX = np.asarray(evaluator.pls(theta).RX, dtype=float)
    p = RX.shape[0]
    RXi = linalg.solve_triangular(RX, np.eye(p), lower=False)
    return sigma * sigma * (RXi @ RXi.T)


def _eigen_warnings(evals: np.ndarray, tol: float) -> None:
    neg = evals < -tol
    zero = (evals > -tol) & (evals < tol)
    if neg.any():
        word = "eigenvalues" if neg.sum() > 1 else "eigenvalue"
        vals = " ".join(f"{e:1.1e}" for e in evals[neg])
        warn(
            f"Model failed to converge with {int(neg.sum())} negative {word}: {vals}",
            ConvergenceWarning
        )
    if zero.any():
        word = "eigenvalues" if zero.sum() > 1 else "eigenvalue"
        vals = " ".join(f"{e:1.1e}" for e in evals[zero])
        warn(
            f"Model may not have converged with {int(zero.sum())} {word} close to zero: {vals}",
            ConvergenceWarning
        )


def _pseudo_inverse(H: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """``2 H⁺`` over the eigenvalues > ``tol``, and the eigenvalues in R's ``eigen()``
    (decreasing) order, of one Hessian (k, k) or of a stack of them (..., k, k)."""
    evals, evecs = np.linalg.eigh(H)
    evals, evecs = evals[..., ::-1], evecs[..., ::-1]
    pos = evals > tol
    inv = np.where(pos, 1.0 / np.where(pos, evals, 1.0), 0.0)
    return 2.0 * (evecs * inv[..., None, :]) @ np.swapaxes(evecs, -1, -2), evals


def _vcov_from_hessian(H: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    if not np.all(np.isfinite(H)):  # R's eigen() stops: "infinite or missing values in 'x'"
        raise FloatingPointError("Hessian of the deviance in (theta, sigma) is not finite")
    A, evals = _pseudo_inverse(H, tol)
    _eigen_warnings(evals, tol)
    return A, evals


def _df(L: np.ndarray, vcov_beta: np.ndarray, jac: np.ndarray,
        vcov_varpar: np.ndarray) -> np.ndarray:
    """``2 (l C l')² / (g A g')`` with ``g_k = l J_k l'`` for each row l of L (m, p), for
    one fit or a stack (leading axes of C (..., p, p), J (..., k, p, p), A (..., k, k))."""
    var_con = np.einsum("mi,...ij,mj->...m", L, vcov_beta, L)
    g = np.einsum("mi,...kij,mj->...mk", L, jac, L)
    denom = np.einsum("...mk,...kl,...ml->...m", g, vcov_varpar, g)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2.0 * var_con**2 / denom


@dataclass(frozen=True)
class SatterthwaiteFit:
    """Ingredients of Satterthwaite's approximation (lmerTest's ``lmerModLmerTest`` slots).

    Attributes
    ----------
    varpar : ndarray, shape (k,)
        ``theta`` followed by ``sigma``.
    hessian : ndarray, shape (k, k)
        Numerical Hessian of :func:`varpar_deviance` at ``varpar``.
    eigenvalues : ndarray, shape (k,)
        Eigenvalues of ``hessian`` in decreasing order.
    vcov_varpar : ndarray, shape (k, k)
        ``2 H^+`` (pseudo-inverse over eigenvalues ``> tol``).
    vcov_beta : ndarray, shape (p, p)
        ``sigma**2 (RX' RX)^{-1}`` at ``varpar``.
    jac : ndarray, shape (k, p, p)
        ``jac[i]`` is the derivative of ``vcov_beta`` w.r.t. ``varpar[i]``
        (lmerTest's ``Jac_list``).
    """

    varpar: np.ndarray
    hessian: np.ndarray
    eigenvalues: np.ndarray
    vcov_varpar: np.ndarray
    vcov_beta: np.ndarray
    jac: np.ndarray

    def df(self, L=None) -> np.ndarray:
        """Satterthwaite df for each row of ``L`` (default: identity, one per coefficient).

        Parameters
        ----------
        L : array_like, shape (m, p) or (p,), optional
            Contrast vectors as rows.

        Returns
        -------
        ndarray, shape (m,)
            ``2 (l C l')**2 / (g A g')`` for each row ``l``; ``inf`` if the
            denominator is zero.
        """
        p = self.vcov_beta.shape[0]
        L = np.eye(p) if L is None else np.atleast_2d(np.asarray(L, dtype=float))
        if L.shape[1] != p:
            raise InterlaceError(
                f"contrast has {L.shape[1]} columns but the model has {p} coefficients"
            )
        return _df(L, self.vcov_beta, self.jac, self.vcov_varpar)


def vcov_varpar(evaluator: PLSEvaluator, theta, sigma: float, tol: float = EIGEN_TOL) -> np.ndarray:
    """Asymptotic covariance of ``(theta, sigma)`` as lmerTest computes it.

    Parameters
    ----------
    evaluator : PLSEvaluator
        PLS evaluator (its ``reml`` flag selects the criterion).
    theta : array_like
        Relative covariance parameters at the optimum.
    sigma : float
        Residual standard deviation at the optimum.
    tol : float, optional
        Hessian eigenvalues ``<= tol`` are dropped from the inverse.

    Returns
    -------
    ndarray, shape (len(theta) + 1, len(theta) + 1)
        ``2 H^+``; see :func:`satterthwaite_fit` for the warnings.
    """
    return _vcov_from_hessian(_varpar_hessian(evaluator, theta, sigma)[1], tol)[0]


def _varpar_hessian(evaluator: PLSEvaluator, theta, sigma: float):
    varpar = np.append(np.asarray(theta, dtype=float).ravel(), float(sigma))
    return varpar, hessian(lambda vp: varpar_deviance(evaluator, vp), varpar)


def satterthwaite_fit(
    evaluator: PLSEvaluator, theta, sigma: float, tol: float = EIGEN_TOL
) -> SatterthwaiteFit:
    """Compute the Hessian, ``vcov(varpar)`` and the Jacobian of ``vcov(beta)``.

    Parameters
    ----------
    evaluator : PLSEvaluator
        PLS evaluator.
    theta : array_like
        Relative covariance parameters at the optimum.
    sigma : float
        Residual standard deviation at the optimum.
    tol : float, optional
        Eigenvalue tolerance (lmerTest's ``tol = 1e-8``).

    Returns
    -------
    SatterthwaiteFit
        Everything needed for :meth:`SatterthwaiteFit.df` and :func:`contest1d`.

    Warns
    -----
    ConvergenceWarning
        ``"Model failed to converge with k negative eigenvalue(s): ..."`` or
        ``"Model may not have converged with k eigenvalue(s) close to zero: ..."``,
        worded as lmerTest's warnings.
    """
    many = getattr(evaluator, "pls_many", None)
    if many is not None:  # every point of both derivatives in one batched pass each
        varpar = np.append(np.asarray(theta, dtype=float).ravel(), float(sigma))
        got = _derivatives_many(many, varpar[None], evaluator.n, evaluator.p, evaluator.reml)
        if got is not None:
            H, J, V = got
            A, evals = _vcov_from_hessian(H[0], tol)
            return SatterthwaiteFit(varpar=varpar, hessian=H[0], eigenvalues=evals,
                                    vcov_varpar=A, vcov_beta=V[0],
                                    jac=np.moveaxis(J[0], -1, 0))
    varpar, H = _varpar_hessian(evaluator, theta, sigma)
    A, evals = _vcov_from_hessian(H, tol)
    J = jacobian(lambda vp: covbeta(evaluator, vp), varpar)  # (p, p, k)
    return SatterthwaiteFit(
        varpar=varpar,
        hessian=H,
        eigenvalues=evals,
        vcov_varpar=A,
        vcov_beta=covbeta(evaluator, varpar),
        jac=np.moveaxis(J, -1, 0),
    )


def _eigen_messages(evals: np.ndarray, tol: float) -> list[str]:
    """:func:`_eigen_warnings`' messages, as text."""
    import warnings as _w

    with _w.catch_warnings(record=True) as caught:
        _w.simplefilter("always")
        _eigen_warnings(evals, tol)
    return [str(w.message) for w in caught]


def _derivatives_many(pls_many, varpar: np.ndarray, n: int, p: int, reml: bool):
    """lmerTest's Hessian of the deviance in (θ, σ) and Jacobian of vcov(β̂) for B fits at
    ``varpar`` (B, k + 1), and vcov(β̂) there: (H (B, k+1, k+1), J (B, p, p, k+1),
    V (B, p, p)), or None when ``pls_many`` cannot evaluate them.

    ``pls_many(thetas)`` (B, P, k) returns ldL2, ldRX2, pwrss (B, P) and RX (B, P, p, p),
    or None (:meth:`interlace.deviance.lmm.LmmDeviance.pls_many`,
    :func:`interlace.linalg.batched.pls_parts`).  The derivatives are numDeriv's
    Richardson method, each in one call at all its points
    (:func:`~interlace.inference.numderiv.hessian_many`)."""
    log2pi = np.log(2.0 * np.pi)

    def parts(Z):
        q = pls_many(Z[..., :-1])
        if q is None:
            raise _NoBatch
        return q, Z[..., -1] * Z[..., -1]

    def dev(Z):
        q, s2 = parts(Z)
        lg = log2pi + np.log(s2)
        out = q["ldL2"] + q["pwrss"] / s2 + n * lg
        return out + q["ldRX2"] - p * lg if reml else out

    def cov(Z):
        q, s2 = parts(Z)
        RXi = np.linalg.inv(q["RX"])
        return s2[..., None, None] * (RXi @ np.swapaxes(RXi, -1, -2))

    try:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            H = hessian_many(dev, varpar)
            J = jacobian_many(cov, varpar)
            V = cov(varpar[:, None, :])[:, 0]
    except (_NoBatch, np.linalg.LinAlgError):
        return None
    return H, J, V


class _NoBatch(Exception):
    """pls_many could not evaluate some point (the caller goes point by point)."""


def satterthwaite_many(pls_many, theta: np.ndarray, sigma: np.ndarray, n: int, p: int,
                       reml: bool, tol: float = EIGEN_TOL):
    """Satterthwaite df of every coefficient of B fits of one design at once.

    ``pls_many`` as :func:`_derivatives_many`'s; the derivatives are those of
    :func:`satterthwaite_fit`, problem by problem.  Returns (df (B, p), vcov(β̂)
    (B, p, p), messages per fit: lmerTest's eigenvalue warnings, or why df is NaN).
    """
    theta = np.atleast_2d(np.asarray(theta, dtype=float))
    sigma = np.asarray(sigma, dtype=float).ravel()
    varpar = np.column_stack([theta, sigma])
    B = varpar.shape[0]
    df = np.full((B, p), np.nan)
    got = _derivatives_many(pls_many, varpar, n, p, reml)
    if got is None:
        return df, np.full((B, p, p), np.nan), [["Satterthwaite df not computed: the "
                                                  "deviance could not be evaluated near the "
                                                  "optimum"]] * B
    H, J, V = got
    messages: list[list[str]] = [[] for _ in range(B)]
    finite = np.all(np.isfinite(H), axis=(1, 2))
    for b in np.flatnonzero(~finite):
        messages[b].append("Satterthwaite df not computed: the Hessian of the deviance in "
                           "(theta, sigma) is not finite")
    if finite.any():
        idx = np.flatnonzero(finite)
        A, evals = _pseudo_inverse(H[idx], tol)
        df[idx] = _df(np.eye(p), V[idx], np.moveaxis(J[idx], -1, 1), A)
        for j, b in enumerate(idx):
            messages[b] += _eigen_messages(evals[j], tol)
    return df, V, messages


def satterthwaite_df(
    evaluator: PLSEvaluator, theta, sigma: float, L=None, tol: float = EIGEN_TOL
) -> np.ndarray:
    """Satterthwaite denominator df, one per row of ``L``.

    Parameters
    ----------
    evaluator : PLSEvaluator
        PLS evaluator.
    theta : array_like
        Relative covariance parameters at the optimum.
    sigma : float
        Residual standard deviation at the optimum.
    L : array_like, shape (m, p) or (p,), optional
        Contrast vectors; default the ``p x p`` identity.
    tol : float, optional
        Eigenvalue tolerance for the Hessian.

    Returns
    -------
    ndarray, shape (m,)
        Degrees of freedom (``inf`` where the denominator is zero).
    """
    return satterthwaite_fit(evaluator, theta, sigma, tol=tol).df(L)


@dataclass(frozen=True)
class Contest1D:
    """One-degree-of-freedom t-test of ``l' beta = rhs`` (lmerTest's ``contest1D`` row)."""

    estimate: float
    se: float
    df: float
    t: float
    p_value: float
    lower: float = np.nan
    upper: float = np.nan


def contest1d(
    fit: SatterthwaiteFit,
    L,
    beta,
    rhs: float = 0.0,
    level: float = 0.95,
) -> Contest1D:
    """t-test of a single contrast with Satterthwaite df.

    Parameters
    ----------
    fit : SatterthwaiteFit
        From :func:`satterthwaite_fit`.
    L : array_like, shape (p,)
        Contrast vector.
    beta : array_like, shape (p,)
        Fixed-effect estimates.
    rhs : float, optional
        Null value of ``l' beta``.
    level : float, optional
        Confidence level of the Wald interval ``est -/+ se * qt(1-(1-level)/2, df)``.

    Returns
    -------
    Contest1D
        Estimate, standard error, df, t statistic, two-sided p-value
        ``2 P(T_df > |t|)`` and confidence limits.  All NaN if ``L``
        contains NaN (as lmerTest).
    """
    if not 0.0 < level < 1.0:
        raise InterlaceError(f"level must be strictly between 0 and 1, got {level!r}")
    L = np.asarray(L, dtype=float).ravel()
    beta = np.asarray(beta, dtype=float).ravel()
    if L.size != beta.size:
        raise InterlaceError(f"contrast has length {L.size} but the model has {beta.size} "
                             "coefficients")
    if np.isnan(L).any():
        return NAN_ROW
    return t_test(float(L @ beta), float(np.sqrt(L @ fit.vcov_beta @ L)),
                  float(fit.df(L)[0]), rhs, level)


#: lmerTest's all-NA row of a contrast with NA
NAN_ROW = Contest1D(*[float("nan")] * 7)


def t_test(estimate: float, se: float, ddf: float, rhs: float = 0.0,
           level: float = 0.95) -> Contest1D:
    """lmerTest's ``contest1D`` row from an estimate, its SE and df: t = (estimate − rhs)/se,
    the two-sided p-value and the ``waldCI`` interval estimate ∓ se·t_{df}((1 − level)/2)."""
    tstat = (estimate - rhs) / se
    fac = float(stats.t.isf((1.0 - level) / 2.0, ddf))
    pval = float(2.0 * stats.t.sf(abs(tstat), ddf))
    return Contest1D(estimate, se, ddf, tstat, pval, estimate - se * fac, estimate + se * fac)


def coef_table(fit: SatterthwaiteFit, beta, names=None, level: float = 0.95):
    """Coefficient table of ``summary(as_lmerModLmerTest(m))``.

    Parameters
    ----------
    fit : SatterthwaiteFit
        From :func:`satterthwaite_fit`.
    beta : array_like, shape (p,)
        Fixed-effect estimates.
    names : sequence of str, optional
        Coefficient names (row index).
    level : float, optional
        Confidence level for the ``lower``/``upper`` columns.

    Returns
    -------
    pandas.DataFrame
        Columns ``Estimate``, ``Std. Error``, ``df``, ``t value``,
        ``Pr(>|t|)``, ``lower``, ``upper``; one row per coefficient.
    """
    import pandas as pd

    beta = np.asarray(beta, dtype=float).ravel()
    p = beta.size
    rows = [astuple(contest1d(fit, np.eye(p)[i], beta, level=level)) for i in range(p)]
    columns = ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)", "lower", "upper"]
    index = list(names) if names is not None else None
    return pd.DataFrame(rows, columns=columns, index=index, dtype=float)
