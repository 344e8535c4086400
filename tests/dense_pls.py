"""Brute-force dense penalized least squares (PLS) evaluator, for tests.

Implements lme4's PLS formulation (Bates, Maechler, Bolker & Walker 2015,
JSS 67(1), sec. 3.2-3.4) with dense linear algebra and no permutation, so it
can serve as an independent check of the fast sparse / blocked code.

For relative covariance factor ``Lambda(theta)`` (``q x q``), and with
prior weights ``w`` folded into ``X``, ``Z`` and ``y`` by ``sqrt(w)`` row
scaling::

    L L'      = Lambda' Z' Z Lambda + I          (L lower triangular)
    L RZX     = Lambda' Z' X
    RX' RX    = X' X - RZX' RZX                  (RX upper triangular)
    L cu      = Lambda' Z' y
    RX' cb    = X' y - RZX' cu
    RX beta   = cb
    L' u      = cu - RZX beta
    pwrss     = |y - X beta - Z Lambda u|^2 + |u|^2
    ldL2      = 2 sum log diag L,    ldRX2 = 2 sum log diag RX

and lme4's profiled deviance (ML) ``ldL2 + n (1 + log(2 pi pwrss / n))``,
REML ``ldL2 + ldRX2 + (n - p)(1 + log(2 pi pwrss / (n - p)))`` (the
``- sum log w`` term for prior weights, ``ldW``, is included in
:meth:`DensePLS.deviance` as in lme4 but is not part of lmerTest's
``devfun_vp``, which adds nothing for weights).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg


@dataclass(frozen=True)
class DensePLSState:
    """Solution of the PLS problem at one ``theta`` (mirrors lme4's ``merPredD``)."""

    theta: np.ndarray
    Lambda: np.ndarray
    L: np.ndarray
    RZX: np.ndarray
    RX: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    b: np.ndarray
    wrss: float
    sqrL: float
    pwrss: float
    ldL2: float
    ldRX2: float


class DensePLS:
    """Dense PLS evaluator implementing interlace's evaluator interface.

    Parameters
    ----------
    X : array_like, shape (n, p)
        Fixed-effects model matrix (full column rank).
    y : array_like, shape (n,)
        Response.
    Z : array_like, shape (n, q)
        Random-effects model matrix.
    make_lambda : callable
        ``theta -> Lambda`` (dense ``q x q``), e.g. :func:`lambda_blocks`.
    reml : bool, optional
        Whether the criterion is REML.
    weights : array_like, shape (n,), optional
        Prior weights.
    """

    def __init__(
        self,
        X,
        y,
        Z,
        make_lambda: Callable[[np.ndarray], np.ndarray],
        reml: bool = True,
        weights=None,
    ):
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float).ravel()
        Z = np.asarray(Z, dtype=float)
        self.ldW = 0.0
        if weights is not None:
            w = np.asarray(weights, dtype=float).ravel()
            sw = np.sqrt(w)
            X, y, Z = X * sw[:, None], y * sw, Z * sw[:, None]
            self.ldW = float(np.sum(np.log(w)))
        self.X, self.y, self.Z = X, y, Z
        self.make_lambda = make_lambda
        self.reml = bool(reml)
        self.n, self.p = X.shape
        self.q = Z.shape[1]

    def pls(self, theta) -> DensePLSState:
        """Solve the PLS problem at ``theta``.

        Parameters
        ----------
        theta : array_like
            Covariance parameters.

        Returns
        -------
        DensePLSState
            Factors, solution and the scalars ``ldL2``, ``ldRX2``, ``pwrss``.
        """
        theta = np.asarray(theta, dtype=float).ravel()
        Lam = np.asarray(self.make_lambda(theta), dtype=float)
        ZL = self.Z @ Lam
        L = linalg.cholesky(ZL.T @ ZL + np.eye(self.q), lower=True)
        RZX = linalg.solve_triangular(L, ZL.T @ self.X, lower=True)
        RX = linalg.cholesky(self.X.T @ self.X - RZX.T @ RZX, lower=False)
        cu = linalg.solve_triangular(L, ZL.T @ self.y, lower=True)
        cb = linalg.solve_triangular(RX, self.X.T @ self.y - RZX.T @ cu, lower=False, trans="T")
        beta = linalg.solve_triangular(RX, cb, lower=False)
        u = linalg.solve_triangular(L, cu - RZX @ beta, lower=True, trans="T")
        resid = self.y - self.X @ beta - ZL @ u
        wrss = float(resid @ resid)
        sqrL = float(u @ u)
        return DensePLSState(
            theta=theta,
            Lambda=Lam,
            L=L,
            RZX=RZX,
            RX=RX,
            beta=beta,
            u=u,
            b=Lam @ u,
            wrss=wrss,
            sqrL=sqrL,
            pwrss=wrss + sqrL,
            ldL2=2.0 * float(np.sum(np.log(np.diag(L)))),
            ldRX2=2.0 * float(np.sum(np.log(np.abs(np.diag(RX))))),
        )

    def deviance(self, theta) -> float:
        """lme4's profiled deviance (ML) or REML criterion at ``theta``.

        Parameters
        ----------
        theta : array_like
            Covariance parameters.

        Returns
        -------
        float
            The objective lme4's ``devfun`` returns.
        """
        st = self.pls(theta)
        if self.reml:
            nmp = self.n - self.p
            crit = st.ldL2 + st.ldRX2 + nmp * (1.0 + np.log(2.0 * np.pi * st.pwrss / nmp))
        else:
            crit = st.ldL2 + self.n * (1.0 + np.log(2.0 * np.pi * st.pwrss / self.n))
        return float(crit - self.ldW)

    def sigma(self, theta) -> float:
        """lme4's ``sigma()``: ``sqrt(pwrss / (n - p))`` (REML) or ``sqrt(pwrss / n)`` (ML)."""
        st = self.pls(theta)
        return float(np.sqrt(st.pwrss / (self.n - self.p if self.reml else self.n)))


def indicator(groups) -> tuple[np.ndarray, np.ndarray]:
    """Dense indicator matrix of a grouping factor.

    Parameters
    ----------
    groups : array_like, shape (n,)
        Group labels.

    Returns
    -------
    J : ndarray, shape (n, m)
        ``J[i, j] = 1`` if observation ``i`` is in the ``j``-th sorted level.
    levels : ndarray, shape (m,)
        Sorted unique levels.
    """
    levels, codes = np.unique(np.asarray(groups), return_inverse=True)
    J = np.zeros((codes.size, levels.size))
    J[np.arange(codes.size), codes] = 1.0
    return J, levels


def term_z(groups, cols) -> np.ndarray:
    """Z block of a term ``(cols | groups)`` with lme4's column order.

    Columns are ordered level-major: for each level, the ``k`` columns of the
    term (e.g. intercept, slope), matching ``Lambda = kron(I_m, T)``.

    Parameters
    ----------
    groups : array_like, shape (n,)
        Grouping factor.
    cols : array_like, shape (n, k)
        Term model matrix (e.g. ``[1, Days]``).

    Returns
    -------
    ndarray, shape (n, m * k)
    """
    J, levels = indicator(groups)
    cols = np.asarray(cols, dtype=float).reshape(J.shape[0], -1)
    return (J[:, :, None] * cols[:, None, :]).reshape(J.shape[0], -1)


def lower_tri(theta_block, k: int) -> np.ndarray:
    """Lower-triangular ``k x k`` factor from ``theta`` in column-major lower-triangle order."""
    T = np.zeros((k, k))
    T[np.triu_indices(k)[::-1]] = np.asarray(theta_block, dtype=float)
    return T


def lambda_blocks(terms: list[tuple[int, int]]) -> Callable[[np.ndarray], np.ndarray]:
    """``theta -> Lambda`` for a sequence of terms.

    Parameters
    ----------
    terms : list of (n_levels, k)
        One entry per random-effects term, in lme4's term order; each
        contributes ``k (k + 1) / 2`` parameters (column-major lower triangle
        of ``T``) and the block ``kron(I_{n_levels}, T)``.

    Returns
    -------
    callable
        Maps ``theta`` to the dense block-diagonal ``Lambda``.
    """

    ntheta = sum(k * (k + 1) // 2 for _, k in terms)

    def make(theta: np.ndarray) -> np.ndarray:
        if len(theta) != ntheta:
            raise ValueError(f"theta has length {len(theta)}, terms need {ntheta}")
        blocks, pos = [], 0
        for m, k in terms:
            nt = k * (k + 1) // 2
            T = lower_tri(theta[pos : pos + nt], k)
            pos += nt
            blocks.append(np.kron(np.eye(m), T))
        return linalg.block_diag(*blocks)

    return make


# --------------------------------------------------------------------------------------
# Hand-built designs for some parity-catalog cases (no formula machinery involved).
# Each builder takes the R data frame (parity.data.load_dataset) and returns a
# DenseCase; theta order and coefficient names follow lme4 (terms sorted by decreasing
# number of levels, treatment contrasts named "<var><level>").


@dataclass(frozen=True)
class DenseCase:
    """A dense evaluator plus lme4's names for its parameters."""

    evaluator: DensePLS
    coef_names: list[str]
    theta_names: list[str]


def treatment(column) -> tuple[np.ndarray, list[str]]:
    """Treatment-contrast columns (all levels but the first) of a categorical column."""
    cat = pd.Categorical(column)
    levels = list(cat.categories)
    cols = np.column_stack([np.asarray(cat == lev, dtype=float) for lev in levels[1:]])
    return cols, [str(lev) for lev in levels[1:]]


def _interaction(df, a: str, b: str) -> np.ndarray:
    return (df[a].astype(str) + ":" + df[b].astype(str)).to_numpy()


def _scalar_terms(df, y, X, names, groups, reml, labels, weights=None) -> DenseCase:
    Z = np.hstack([indicator(g)[0] for g in groups])
    make = lambda_blocks([(indicator(g)[1].size, 1) for g in groups])
    ev = DensePLS(X, y, Z, make, reml=reml, weights=weights)
    return DenseCase(ev, names, [f"{lab}.(Intercept)" for lab in labels])


def _one(df) -> tuple[np.ndarray, list[str]]:
    return np.ones((len(df), 1)), ["(Intercept)"]


def _with_factor(df, var: str) -> tuple[np.ndarray, list[str]]:
    cols, levs = treatment(df[var])
    return np.column_stack([np.ones(len(df)), cols]), ["(Intercept)"] + [var + lv for lv in levs]


def _sleep_x(df) -> tuple[np.ndarray, list[str]]:
    return np.column_stack([np.ones(len(df)), df["Days"]]), ["(Intercept)", "Days"]


def _sleep_slopes(df, reml) -> DenseCase:
    X, names = _sleep_x(df)
    ev = DensePLS(X, df["Reaction"], term_z(df["Subject"], X), lambda_blocks([(18, 2)]), reml)
    return DenseCase(ev, names, ["Subject.(Intercept)", "Subject.Days.(Intercept)", "Subject.Days"])


def _sleep_diag(df, reml) -> DenseCase:
    X, names = _sleep_x(df)
    Z = np.hstack([term_z(df["Subject"], X[:, :1]), term_z(df["Subject"], X[:, 1:])])
    ev = DensePLS(X, df["Reaction"], Z, lambda_blocks([(18, 1), (18, 1)]), reml)
    return DenseCase(ev, names, ["Subject.(Intercept)", "Subject.Days"])


def _vector_term(y, X, names, groups, cols, theta_names, reml=True) -> DenseCase:
    m = indicator(groups)[1].size
    k = np.asarray(cols).reshape(len(y), -1).shape[1]
    ev = DensePLS(X, y, term_z(groups, cols), lambda_blocks([(m, k)]), reml)
    return DenseCase(ev, names, theta_names)


def _slope_by_factor(df, x: str, f: str) -> tuple[np.ndarray, list[str]]:
    """``~ x * f`` with treatment contrasts: 1, x, f levels, x:f levels."""
    cols, levs = treatment(df[f])
    xv = np.asarray(df[x], dtype=float)
    X = np.column_stack([np.ones(len(df)), xv, cols, cols * xv[:, None]])
    return X, (["(Intercept)", x] + [f + lv for lv in levs] + [f"{x}:{f}{lv}" for lv in levs])


def _machines_slope(df) -> DenseCase:
    X, names = _with_factor(df, "Machine")
    full = np.column_stack([np.ones(len(df)), treatment(df["Machine"])[0]])
    full[:, 0] -= full[:, 1:].sum(axis=1)  # dummy of level A
    th = [
        "Worker.MachineA",
        "Worker.MachineB.MachineA",
        "Worker.MachineC.MachineA",
        "Worker.MachineB",
        "Worker.MachineC.MachineB",
        "Worker.MachineC",
    ]
    return _vector_term(df["score"], X, names, df["Worker"], full, th)


def _intercept_slope(df, y: str, x: str, f: str, g: str) -> DenseCase:
    X, names = _slope_by_factor(df, x, f)
    cols = np.column_stack([np.ones(len(df)), np.asarray(df[x], dtype=float)])
    th = [f"{g}.(Intercept)", f"{g}.{x}.(Intercept)", f"{g}.{x}"]
    return _vector_term(df[y], X, names, df[g], cols, th)


def _scalar(dataset, y, groups, reml=True, fixed=None, labels=None, weights=None):
    """Builder for ``y ~ fixed + (1|g1) + (1|g2) ...``; a group ``"a:b"`` is an interaction."""

    def build(df) -> DenseCase:
        if fixed is None:
            X, names = np.ones((len(df), 1)), ["(Intercept)"]
        elif fixed == "Days":
            X, names = _sleep_x(df)
        else:
            X, names = _with_factor(df, fixed)
        gs = [_interaction(df, *g.split(":")) if ":" in g else df[g] for g in groups]
        resp = df[y] if weights is None else df[y] / df[weights]
        w = None if weights is None else df[weights]
        return _scalar_terms(df, resp, X, names, gs, reml, labels or groups, weights=w)

    return dataset, build


#: case id -> (dataset, builder(df) -> DenseCase)
CASES: dict[str, tuple[str, Callable[[pd.DataFrame], DenseCase]]] = {
    "dyestuff_reml": _scalar("Dyestuff", "Yield", ["Batch"]),
    "dyestuff_ml": _scalar("Dyestuff", "Yield", ["Batch"], reml=False),
    "dyestuff2_reml": _scalar("Dyestuff2", "Yield", ["Batch"]),
    "dyestuff2_ml": _scalar("Dyestuff2", "Yield", ["Batch"], reml=False),
    "sleepstudy_intercept_reml": _scalar("sleepstudy", "Reaction", ["Subject"], fixed="Days"),
    "sleepstudy_slopes_reml": ("sleepstudy", lambda df: _sleep_slopes(df, True)),
    "sleepstudy_slopes_ml": ("sleepstudy", lambda df: _sleep_slopes(df, False)),
    "sleepstudy_uncorr_reml": ("sleepstudy", lambda df: _sleep_diag(df, True)),
    "sleepstudy_twoterm_ml": ("sleepstudy", lambda df: _sleep_diag(df, False)),
    "penicillin_crossed": _scalar("Penicillin", "diameter", ["plate", "sample"]),
    "penicillin_crossed_ml": _scalar("Penicillin", "diameter", ["plate", "sample"], reml=False),
    "pastes_nested": _scalar("Pastes", "strength", ["cask:batch", "batch"]),
    "ergostool": _scalar("ergoStool", "effort", ["Subject"], fixed="Type"),
    "machines_nested": _scalar("Machines", "score", ["Worker:Machine", "Worker"], fixed="Machine"),
    # incidence/size ~ period + (1|herd), weights = size
    "cbpp_weights": _scalar("cbpp", "incidence", ["herd"], fixed="period", weights="size"),
    "machines_factor_slope": ("Machines", _machines_slope),
    "orthodont_interaction": (
        "Orthodont",
        lambda df: _intercept_slope(df, "distance", "age", "Sex", "Subject"),
    ),
    "bodyweight": ("BodyWeight", lambda df: _intercept_slope(df, "weight", "Time", "Diet", "Rat")),
}
