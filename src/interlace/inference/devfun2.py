"""lme4's ``devfun2``: the ML deviance on the standard-deviation/correlation scale.

lme4 profiles (``profile.merMod``) the ML deviance of the model refitted by ML
(``refitML``) as a function of ``pars = (sd/cor of every term, σ)``: per term,
θ = chol(Σ/σ²) (``Sv_to_Cv``; back: ``Cv_to_Sv``) and, with β at its conditional
optimum (notation of :mod:`interlace.deviance.lmm`, Bates et al. 2015, JSS 67(1)),

    dd(pars) = ldL2(θ) − ldW + pwrss(θ)/σ² + n log(2πσ²).

A fixed effect βⱼ is profiled by fixing it (lme4 moves ``Xⱼβⱼ`` into the offset
and drops the column) and minimizing the ML profiled deviance over θ; here the same
quantity is read off the Schur complement S of [X y] at θ, Cholesky-factored with
column j last: ``pwrss(βⱼ) = (r_jy − r_jj βⱼ)² + r_yy²`` (exact, no approximation).

The ML refit: lme4's ``refitML`` runs minqa's BOBYQA from the REML θ̂ and stops at
rhoend = 1e-6·rhobeg; we run NLopt's BOBYQA twice to tighter tolerances (then snap
a θ within 1e-5 of 0 onto 0 when that does not raise the deviance, as the fits do),
so our ML optimum is at least as low as lme4's; θ̂_ML may still differ by what
lme4's stopping rule leaves on flat surfaces (≲1e-5).

Σ that is not positive definite (a correlation at ±1 or an invalid set of
correlations, which the profile visits at its bounds) is mapped to θ exactly as lme4
does (``safe_chol``: R's pivoted ``chol``, then ``mlist2vec``), so the deviance at
such points is lme4's too.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg
from scipy.linalg import lapack

from interlace.optimize.backends import BACKENDS

#: our ML refit of a REML fit: tighter than lme4's refitML so we end at or below its optimum
REFIT = {"xtol_abs": 1e-10, "ftol_abs": 1e-14, "maxeval": 100000, "xtol_rel": 0.0}


def _safe_chol_t(m: np.ndarray) -> np.ndarray:
    """lme4's ``t(safe_chol(m))``: the lower Cholesky factor, also for singular m.

    A matrix that is not positive definite (a correlation at ±1, or sd/cor values that
    are not a valid covariance) goes, as in lme4, through R's ``chol(m, pivot = TRUE)``
    (LAPACK ``dpstrf``, which stops at the numerical rank) with the columns put back
    in their original order — no longer triangular in general.
    """
    if np.any(np.isnan(m)) or np.all(m == 0):
        return m.T
    if m.shape[0] == 1:
        return np.sqrt(m)
    if np.count_nonzero(m - np.diag(np.diagonal(m))) == 0:
        return np.diag(np.sqrt(np.diagonal(m)))
    try:
        return np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        c, piv, _, _ = lapack.dpstrf(np.triu(m), tol=-1.0, lower=0)
        return np.triu(c)[:, np.argsort(piv - 1, kind="stable")].T


def _chol_upper(S: np.ndarray) -> np.ndarray:
    """Upper Cholesky factor (LAPACK dpotrf) of the Schur complement of [X y]."""
    R, info = lapack.dpotrf(S, lower=0, clean=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"Schur complement not positive definite (info={info})")
    return R


def sdcor_to_theta(layout, sv: np.ndarray, sigma: float) -> np.ndarray:
    """lme4's ``Sv_to_Cv``: sd/cor parameters (θ's layout) and σ → θ."""
    out = np.empty(layout.n_theta)
    for t in layout.terms:
        i = t.theta_start
        if t.p == 1:  # safe_chol of a 1 x 1 matrix: sqrt(sd² / σ²)
            out[i] = math.sqrt(sv[i] ** 2 / sigma**2)
            continue
        if t.p == 2:  # fast path (same arithmetic) for a positive definite 2 x 2 Σ
            s1, r, s2 = sv[i], sv[i + 1], sv[i + 2]
            s2s = sigma * sigma
            a11, a21, a22 = s1 * s1 / s2s, r * (s2 * s1) / s2s, s2 * s2 / s2s
            if a11 > 0 and a21 != 0:
                l21 = a21 / math.sqrt(a11)
                d = a22 - l21 * l21
                if d > 0:
                    out[i:i + 3] = math.sqrt(a11), l21, math.sqrt(d)
                    continue
        m = np.zeros((t.p, t.p))
        m[t.rows, t.cols] = sv[t.theta_slice]
        m = m + np.tril(m, -1).T
        sd = np.diagonal(m).copy()
        cov = m * np.outer(sd, sd)
        cov[np.diag_indices(t.p)] = sd**2
        M = _safe_chol_t(cov / sigma**2)
        upper = M[np.triu_indices(t.p, 1)]
        if not np.all(upper[~np.isnan(upper)] == 0):  # lme4's mlist2vec: not triangular
            M = M.T
        out[t.theta_slice] = M[t.rows, t.cols]
    return out


def theta_to_sdcor(layout, theta: np.ndarray, sigma: float) -> np.ndarray:
    """lme4's ``Cv_to_Sv`` (without σ appended): θ and σ → sd/cor in θ's layout."""
    out = np.empty(layout.n_theta)
    for t, T in zip(layout.terms, layout.templates(theta), strict=True):
        V = (T @ T.T) * sigma**2
        sd = np.sqrt(np.diagonal(V))
        with np.errstate(invalid="ignore", divide="ignore"):
            r = V / np.outer(sd, sd)
        r[np.diag_indices(t.p)] = sd
        out[t.theta_slice] = np.nan_to_num(r[t.rows, t.cols], nan=0.0)
    return out


class MLProblem:
    """The ML deviance of a fitted design and its profiled pieces (lme4's devfun2 state)."""

    def __init__(self, result, ml_theta=None):
        from interlace.deviance.build import build_deviance

        self.layout = result._layout
        if result.method == "ML" and ml_theta is None:
            self.dev = result._dev
            theta = np.asarray(result.theta, dtype=float)
        else:
            _, self.dev = build_deviance(result._design, "ML",
                                         result._fit_kwargs.get("backend", "auto"))
            theta = (self._refit(np.asarray(result.theta, dtype=float)) if ml_theta is None
                     else np.asarray(ml_theta, dtype=float).reshape(-1))
        self.n, self.p, self.ldW = self.dev.n, self.dev.p, self.dev.ldW
        st = self.dev.pls(theta)
        self.theta = theta
        self.sigma = math.sqrt(st.pwrss / self.n)
        self.beta = np.asarray(st.beta)
        self.base = self.dev.ml_deviance(st)
        RXi = np.linalg.inv(st.RX)
        self.stderr = self.sigma * np.sqrt(np.sum(RXi**2, axis=1))

    def _refit(self, theta0: np.ndarray) -> np.ndarray:
        """ML optimum from the REML θ̂ (lme4's ``refitML``; see the module notes)."""
        x = np.full_like(theta0, 0.001) if np.all(theta0 == 0) else theta0  # optwrap's rule
        lo, up = self.layout.lower(), np.full(len(x), np.inf)
        for _ in range(2):
            x = np.maximum(BACKENDS["bobyqa"](self.dev, x, lo, up, dict(REFIT)).x, lo)
        f = self.dev(x)
        for i in np.flatnonzero((x > lo) & (x - lo < 1e-5)):  # snap to the boundary as
            y = x.copy()                                       # lme4's fits do
            y[i] = lo[i]
            if (fy := self.dev(y)) <= f:
                x, f = y, fy
        return x

    def schur(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """ldL2 and the Schur complement S of [X y] at θ."""
        ldL2, S = self.dev.factor.update(self.layout.templates(theta))
        return float(ldL2), np.array(S)

    def dd(self, pars: np.ndarray) -> tuple[float, np.ndarray]:
        """lme4's devfun2 at (sd/cor, σ); returns the deviance and θ."""
        sigma = pars[-1]
        theta = sdcor_to_theta(self.layout, pars[:-1], sigma)
        ldL2, S = self.schur(theta)
        R = _chol_upper(S)
        pwrss = R[-1, -1] ** 2
        s2 = sigma * sigma
        return ldL2 - self.ldW + pwrss / s2 + self.n * math.log(2 * math.pi * s2), theta

    def beta_at(self, theta: np.ndarray) -> np.ndarray:
        """β̂(θ), the conditional estimate."""
        return np.asarray(self.dev.pls(theta).beta)

    def fixed(self, theta: np.ndarray, j: int, bj: float) -> tuple[float, float, np.ndarray]:
        """ML deviance at θ with βⱼ fixed (β₋ⱼ profiled); also pwrss and the full β."""
        ldL2, S = self.schur(theta)
        p = self.p
        # S is of the shifted response y₀ = y − X b₀: there βⱼ = bⱼ is (b − b₀)ⱼ
        shift = self.dev.cp.shift
        bj0 = bj - shift[j]
        perm = [k for k in range(p) if k != j] + [j, p]
        R = _chol_upper(S[np.ix_(perm, perm)])
        pwrss = (R[p - 1, p] - R[p - 1, p - 1] * bj0) ** 2 + R[p, p] ** 2
        dev = ldL2 - self.ldW + self.n * (1.0 + math.log(2 * math.pi * pwrss / self.n))
        beta = np.empty(p)
        beta[j] = bj0
        if p > 1:
            rhs = R[: p - 1, p] - R[: p - 1, p - 1] * bj0
            beta[perm[: p - 1]] = linalg.solve_triangular(R[: p - 1, : p - 1], rhs)
        beta += shift
        beta[j] = bj
        return dev, pwrss, beta
