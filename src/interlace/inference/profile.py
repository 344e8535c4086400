"""Profile-likelihood confidence intervals, as lme4 1.1-31's ``confint(m, method="profile")``.

A port of ``lme4:::profile.merMod`` and ``lme4:::confint.thpr``; the objective is
lme4's ``devfun2`` (:mod:`interlace.inference.devfun2`): the **ML deviance** — a
REML fit is first refitted by ML (``refitML``), so its intervals are centred on the
ML estimates — on the sd/cor scale with σ explicit (rows ``.sig01``…, ``.sigma``,
then the fixed effects, as lme4 names them with ``oldNames = TRUE``).

Points (``profile.merMod``).  ζ(x) = sign(x − x̂)·√(dev(x) − dev_min), each point
minimizing the deviance over the other parameters (variance parameters: the other
sd/cor and σ, started at the previous point; fixed effect βⱼ: θ, started at the ML
θ̂).  The first point is x̂·1.01 (0.001 when x̂ = 0; β̂ⱼ + δ·SEⱼ for fixed
effects), then ``nextpar``: step δ·Δx/Δζ with δ = √χ²₀.₉₉(npar)/8, capped at
10·|Δx|, clamped to the parameter's bounds, until |ζ| > √χ²₀.₉₉(npar), a bound,
or 100 points per side; no downward side when x̂ sits on its lower bound.

Inner optimizer.  lme4 uses its ``nloptwrap`` (NLopt BOBYQA, xtol_abs = ftol_abs
= 1e-8 and — left in force by nloptwrap — nloptr's default xtol_rel = 1e-4).  We run
the same NLopt BOBYQA with the same settings from the same start, then restart it
once from its result and snap values within 1e-6 of a lower bound onto the bound
when that does not raise the deviance.  Both steps can only lower the deviance:
lme4's points are sometimes not at the minimum (sleepstudy: one point 0.54 deviance
units above it), and an early stop next to a bound derails the following points
(NLopt's first step there is 0.75·(x − bound)).  Where lme4's inner optimizations
converged, our points and intervals agree with lme4's to ~1e-8 or better.

Intervals (``confint.thpr``).  The natural interpolating spline ζ = f(x) is
inverted (``backSpline``, :mod:`interlace.inference.splines`) and evaluated at
ζ = qnorm((1 ∓ level)/2); a value outside the profiled range is NA in R and becomes
the parameter's bound (0 for a standard deviation — e.g. a singular fit — ±1 for a
correlation, NA for a fixed effect).  A non-monotone profile falls back to linear
interpolation with lme4's warnings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from interlace.errors import InterlaceError, warn
from interlace.inference.devfun2 import MLProblem, sdcor_to_theta, theta_to_sdcor
from interlace.inference.splines import (
    PolySpline,
    SplineError,
    approx_linear,
    back_spline,
    interp_spline,
)
from interlace.optimize.backends import BACKENDS

#: inner optimizations: lme4's nloptwrap, i.e. its defaultControl plus nloptr's own default
#: xtol_rel = 1e-4, which nloptwrap leaves in force (lme4's fits stop on it: XTOL_REACHED)
INNER = {"xtol_abs": 1e-8, "ftol_abs": 1e-8, "maxeval": 100000, "xtol_rel": 1e-4}


@dataclass(frozen=True)
class _Opt:
    x: np.ndarray
    fun: float


@dataclass(frozen=True)
class Profile:
    """lme4's ``thpr`` object: the profile table, the splines and the parameter bounds."""

    table: pd.DataFrame
    forward: dict
    backward: dict
    lower: dict
    upper: dict
    optimum: pd.Series
    base_deviance: float

    def confint(self, level: float = 0.95, parm=None, non_mono_tol: float = 1e-2
                ) -> pd.DataFrame:
        """Intervals as ``confint.thpr``: the back spline at ζ = qnorm((1 ∓ level)/2)."""
        from interlace.results.result import check_level

        level = check_level(level)
        names = list(self.backward)
        parm = names if parm is None else _select(parm, names)
        a = np.array([(1 - level) / 2, (1 + level) / 2])
        zeta = stats.norm.ppf(a)
        out = np.full((len(parm), 2), np.nan)
        for i, name in enumerate(parm):
            b = self.backward[name]
            if isinstance(b, PolySpline):
                p = b(zeta)
            else:
                rows = self.table[self.table[".par"] == name]
                z = rows[".zeta"].to_numpy()
                if np.all(np.isnan(z)):
                    warn(f"bad profile for {name}")
                    continue
                d = np.diff(z)
                if d.size and np.all(d[~np.isnan(d)] < -non_mono_tol):  # R: min(logical)
                    warn(f"non-monotonic profile for {name}")
                    continue
                warn(f"bad spline fit for {name}: falling back to linear "
                              "interpolation")
                p = approx_linear(z, rows[name].to_numpy(), zeta)
            if np.isnan(p[0]):
                p[0] = self.lower.get(name, np.nan)
            if np.isnan(p[1]):
                p[1] = self.upper.get(name, np.nan)
            out[i] = p
        return pd.DataFrame(out, index=parm, columns=format_perc(a))


def format_perc(probs, digits: int = 3) -> list[str]:
    """lme4's ``format.perc``: R's ``format(100·p, digits = 3)`` + " %" (common decimals)."""
    vals = 100 * np.asarray(probs, dtype=float)
    dec = 0
    for v in vals:
        if v == 0:
            continue
        e = math.floor(math.log10(abs(v)))
        target = round(v, digits - 1 - e)
        sig = next(s for s in range(1, digits + 1) if round(v, s - 1 - e) == target)
        dec = max(dec, sig - 1 - e)
    return [f"{v:.{dec}f} %" for v in vals]


def _select(which, names: list[str]) -> list[str]:
    """lme4's ``get.which`` on names: "theta_" (variance parameters), "beta_", or names."""
    if isinstance(which, str):
        which = [which]
    out: set[str] = set()
    for w in which:
        if w == "theta_":
            out.update(n for n in names if n.startswith(".sig"))
        elif w == "beta_":
            out.update(n for n in names if not n.startswith(".sig"))
        elif w in names:
            out.add(w)
        else:
            raise InterlaceError(f"unknown parameter {w!r}; parameters: {names}")
    return [n for n in names if n in out]


def sdcor_bounds(layout, extra=(), p: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``profile.merMod``'s bounds on the sd/cor scale: sd ≥ 0, −1 ≤ cor ≤ 1, then the
    ``extra`` (lower, upper) pairs (an LMM's σ), then ``p`` unbounded fixed effects."""
    diag = layout.diagonal_mask()
    lo = np.concatenate([np.where(diag, 0.0, -1.0), [e[0] for e in extra], np.full(p, -np.inf)])
    up = np.concatenate([np.where(diag, np.inf, 1.0), [e[1] for e in extra], np.full(p, np.inf)])
    return lo, up


class Profiler:
    """The state of lme4's ``profile.merMod`` for one fit: ML optimum, bounds, step rules.

    :meth:`run` builds the whole profile; :meth:`point` and :meth:`deviance` give one
    profile point and the deviance at a full parameter row (used to check lme4's
    points one by one).  Parameters as :func:`profile`.
    """

    def __init__(self, result, *, alphamax: float = 0.01, maxpts: int = 100,
                 delta: float | None = None, delta_cutoff: float = 1 / 8,
                 maxmult: float = 10, devtol: float = 1e-9, ml_theta=None,
                 settings: dict | None = None):
        self.result = result
        self.pb = pb = MLProblem(result, ml_theta)
        layout, p = pb.layout, pb.p
        self.nth, self.nvp, self.p = layout.n_theta, layout.n_theta + 1, p
        self.names = ([f".sig{k + 1:02d}" for k in range(self.nth)] + [".sigma"]
                      + list(result._design.x_names))
        self.opt = np.concatenate([theta_to_sdcor(layout, pb.theta, pb.sigma), [pb.sigma],
                                   pb.beta])
        self.lower, self.upper = sdcor_bounds(layout, extra=[(0.0, np.inf)], p=p)
        self.base = pb.base
        self._steps(alphamax, maxpts, delta, delta_cutoff, maxmult, devtol)
        self.settings = dict(INNER if settings is None else settings)

    def _steps(self, alphamax, maxpts, delta, delta_cutoff, maxmult, devtol) -> None:
        """``profile.merMod``'s step rules: cutoff √χ²(1 − alphamax, npar), δ, limits."""
        self.cutoff = math.sqrt(stats.chi2.ppf(1 - alphamax, len(self.opt)))
        self.delta = self.cutoff * delta_cutoff if delta is None else delta
        self.maxpts, self.maxmult, self.devtol = maxpts, maxmult, devtol

    def _done(self) -> None:
        """Put the fit's deviance back at its optimum (the profile moved it)."""
        self.result._restore()

    # -- one point ---------------------------------------------------------------------
    def _minimize(self, f, x0, lo, up) -> _Opt:
        """Inner optimization: lme4's nloptwrap run, a restart, and a snap to the bounds.

        The first run is lme4's (same start, same settings).  The restart from its
        result and the snap (a value within 1e-6 of its lower bound moved onto it when
        that does not raise the deviance) can only lower the deviance; they guard
        against BOBYQA stopping early, which otherwise also derails the next point's
        start (NLopt's first step shrinks to 0.75·(x − bound) next to a bound).
        A deviance that cannot be evaluated (the Schur complement of [X y] not positive
        definite) fails the whole point, as the C++ error does in lme4: ``fun`` is NaN.
        """
        failed = []

        def safe(v):
            try:
                return f(v)
            except np.linalg.LinAlgError:
                failed.append(v)
                return math.inf

        r = BACKENDS["bobyqa"](safe, x0, lo, up, dict(self.settings))
        x, fx = np.clip(r.x, lo, up), r.fun
        if failed:
            return _Opt(x, math.nan)
        r2 = BACKENDS["bobyqa"](safe, x, lo, up, dict(self.settings))
        if r2.fun < fx:
            x, fx = np.clip(r2.x, lo, up), r2.fun
        for i in np.flatnonzero((x > lo) & (x - lo < 1e-6 * np.maximum(1.0, np.abs(lo)))):
            y = x.copy()
            y[i] = lo[i]
            if (fy := safe(y)) <= fx:
                x, fx = y, fy
        return _Opt(x, math.nan if failed else fx)

    def point(self, k: int, x: float, start: np.ndarray | None = None) -> np.ndarray:
        """Profile row (ζ, sd/cor…, σ, β…) with parameter ``k`` fixed at ``x``.

        Variance parameters (a GLMM's: every parameter) start the other ones at ``start``
        (a full vector of them; default the optimum), an LMM's fixed effects always at the
        ML θ̂ (as lme4).  The inner optimizer is :meth:`_minimize`, the deviance
        :meth:`_dev_at`.
        """
        nvp, opt = self.nvp, self.opt
        bobyqa = self._minimize
        if k >= nvp:  # an LMM's fixed effect
            pb, j = self.pb, k - nvp
            r = bobyqa(lambda th: pb.fixed(th, j, x)[0], pb.theta, pb.layout.lower(),
                       np.full(self.nth, np.inf))
            if np.isnan(r.fun):
                warn("NAs detected in profiling")
                return np.concatenate([[np.nan], np.full(self.nvp, np.nan),
                                       np.where(np.arange(self.p) == j, x, np.nan)])
            _, pwrss, beta = pb.fixed(r.x, j, x)
            sig = math.sqrt(pwrss / pb.n)
            with np.errstate(invalid="ignore"):
                zz = np.sign(x - opt[k]) * np.sqrt(r.fun - self.base)
            return np.concatenate([[zz], theta_to_sdcor(pb.layout, r.x, sig), [sig], beta])
        others = np.arange(nvp) != k
        start = opt[:nvp] if start is None else np.asarray(start, dtype=float)

        def f(v):
            pars = np.empty(nvp)
            pars[k], pars[others] = x, v
            return self._dev_at(pars)

        r = bobyqa(f, start[others], self.lower[:nvp][others], self.upper[:nvp][others])
        devdiff = r.fun - self.base
        v = np.full(nvp - 1, np.nan) if np.isnan(devdiff) else r.x
        pars = np.empty(nvp)
        pars[k], pars[others] = x, v
        if np.isnan(devdiff):
            warn("NAs detected in profiling")
            return np.concatenate([[np.nan], pars, self._extra(None)])
        if devdiff < -self.devtol:
            raise InterlaceError("profiling detected new, lower deviance")
        if devdiff < 0:
            warn(f"slightly lower deviances (diff={devdiff:g}) detected")
        zz = np.sign(x - opt[k]) * math.sqrt(max(0.0, devdiff))
        return np.concatenate([[zz], pars, self._extra(pars)])

    def _dev_at(self, pars: np.ndarray) -> float:
        """The deviance at the profiled parameters ``pars`` (lme4's devfun2)."""
        return self.pb.dd(pars)[0]

    def _extra(self, pars: np.ndarray | None) -> np.ndarray:
        """The row's columns after the profiled parameters (an LMM's β at ``pars``; NaN for
        a failed point, ``pars`` None)."""
        if pars is None:
            return np.full(self.p, np.nan)
        return self.pb.beta_at(self.pb.dd(pars)[1])

    def deviance(self, k: int, row: np.ndarray) -> float:
        """Our ML deviance at a full profile row (sd/cor…, σ, β…) of parameter ``k``.

        For a variance parameter: devfun2 at the row's sd/cor/σ; for a fixed effect:
        the deviance with βₖ fixed, profiled over β₋ₖ and σ at the row's θ (recovered
        from its sd/cor/σ).  lme4's ζ at that row satisfies ζ² = this − base deviance.
        """
        row = np.asarray(row, dtype=float)
        if k < self.nvp:
            return self.pb.dd(row[: self.nvp])[0]
        theta = sdcor_to_theta(self.pb.layout, row[: self.nth], row[self.nth])
        return self.pb.fixed(theta, k - self.nvp, row[k])[0]

    # -- the whole profile -------------------------------------------------------------
    def _nextpar(self, rows, cc, lowcut, upcut, minstep=1e-6):
        """lme4's ``nextpar``: step δ·Δx/Δζ, capped at maxmult·|Δx|, clamped to bounds."""
        (p0, z0), (p1, z1) = ((r[cc], r[0]) for r in rows[-2:])
        num, denom = p1 - p0, z1 - z0
        if np.isnan(denom) or denom == 0:
            warn("Last two rows have identical or NA .zeta values: using minstep")
            step = minstep
        else:
            step = self.delta * num / denom
            if step < 0:
                warn("unexpected decrease in profile: using minstep")
                step = minstep
            elif abs(step) > abs(self.maxmult * num):
                step = math.copysign(abs(self.maxmult * num), step)
        return min(upcut, max(lowcut, p1 + np.sign(num) * step))

    def _fill(self, rows, k, lowcut, upcut):
        """lme4's ``fillmat``: extend until |ζ| > cutoff, a bound, or maxpts rows."""
        cc = k + 1
        while len(rows) < self.maxpts:
            cur = rows[-1]
            z = abs(cur[0])
            if not (lowcut < cur[cc] < upcut and (np.isnan(z) or z <= self.cutoff)):
                break
            rows.append(self.point(k, self._nextpar(rows, cc, lowcut, upcut),
                                   cur[1:self.nvp + 1]))
        return rows

    def run(self, which=None) -> Profile:
        """Profile the selected parameters (default all) as ``profile.merMod``."""
        names, opt, nvp = self.names, self.opt, self.nvp
        sel = set(names if which is None else _select(which, names))
        opt_row = np.concatenate([[0.0], opt])
        tables, fwd, bak = [], {}, {}
        for k, name in enumerate(names):
            if name not in sel:
                continue
            pw = opt[k]
            if k < nvp:
                lowcut, upcut = self.lower[k], self.upper[k]
                first = self.point(k, 0.001 if pw == 0 else pw * 1.01)
            else:  # an LMM's fixed effect
                lowcut, upcut = -np.inf, np.inf
                first = self.point(k, pw + self.delta * self.pb.stderr[k - nvp])
            up = self._fill([opt_row, first], k, lowcut, upcut)
            down = self._fill([first, opt_row], k, lowcut, upcut) if pw > lowcut else [first]
            mat = _unique_rows(up + down)
            mat = mat[np.argsort(mat[:, k + 1], kind="stable")]
            df = pd.DataFrame(mat, columns=[".zeta"] + names)
            df[".par"] = name
            df[".focal"] = mat[:, k + 1]
            tables.append(df)
            fwd[name], bak[name] = _splines(mat[:, k + 1], mat[:, 0], drop_na=k < nvp)
            if not isinstance(bak[name], PolySpline):
                warn(f"non-monotonic profile for {name}")
        self._done()
        table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
        vsel = [n for n in names[:nvp] if n in sel]
        return Profile(table, fwd, bak, {n: self.lower[names.index(n)] for n in vsel},
                       {n: self.upper[names.index(n)] for n in vsel},
                       pd.Series(opt, index=names), self.base)


def profile(result, which=None, *, alphamax: float = 0.01, maxpts: int = 100,
            delta: float | None = None, delta_cutoff: float = 1 / 8, maxmult: float = 10,
            devtol: float = 1e-9, ml_theta=None, settings: dict | None = None) -> Profile:
    """Profile the ML deviance of a fitted LMM (lme4's ``profile.merMod``, sdcor scale).

    Parameters
    ----------
    result : CrossedLMEResult
    which : list of str, optional
        Parameter names (``.sig01``, ``.sigma``, fixed-effect names) or "theta_" /
        "beta_"; default all.
    alphamax, maxpts, delta, delta_cutoff, maxmult, devtol
        As in ``profile.merMod``.
    ml_theta : array-like, optional
        Use this θ as the ML optimum instead of refitting (e.g. lme4's, to compare).
    settings : dict, optional
        NLopt BOBYQA settings of the inner optimizations (default :data:`INNER`).

    Returns
    -------
    Profile
        With ``table`` (lme4's ``as.data.frame(profile(m))``) and ``confint()``.
    """
    return Profiler(result, alphamax=alphamax, maxpts=maxpts, delta=delta,
                    delta_cutoff=delta_cutoff, maxmult=maxmult, devtol=devtol,
                    ml_theta=ml_theta, settings=settings).run(which)


def _unique_rows(rows: list[np.ndarray]) -> np.ndarray:
    """R's ``unique()`` on a matrix: first occurrences of exactly equal rows."""
    seen, out = set(), []
    for r in rows:
        key = r.tobytes()
        if key not in seen:
            seen.add(key)
            out.append(r)
    return np.array(out)


def _splines(x, zeta, drop_na: bool):
    """Forward (``interpSpline``) and backward (``backSpline``) splines, or the error."""
    if drop_na:
        keep = ~(np.isnan(x) | np.isnan(zeta))
        x, zeta = x[keep], zeta[keep]
    elif np.isnan(zeta).any():
        err = SplineError("missing values in object")
        return err, err
    try:
        f = interp_spline(x, zeta)
    except SplineError as err:
        return err, err
    try:
        return f, back_spline(f)
    except (SplineError, np.linalg.LinAlgError) as err:
        return f, err


def profile_confint(result, level: float = 0.95, parm=None) -> pd.DataFrame:
    """lme4's ``confint(m, method = "profile", level, parm)``: profile then confint."""
    return profile(result, which=parm).confint(level=level)
