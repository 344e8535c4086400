"""Parametric bootstrap of an LMM fit: lme4 1.1-31's ``refit(m, newresp)``, ``bootMer``,
``confint(m, method = "boot")`` and boot 1.3's ``boot.ci`` intervals.

``bootMer(m, FUN, nsim, seed, use.u)``: every response is drawn first, as lme4's
``simulate(m, nsim, seed, use.u)`` (an integer seed is R's ``set.seed``: the same numbers as
R, :mod:`interlace.rng`); each is refitted from the fit's θ̂ with its optimizer and control
(:class:`~interlace.deviance.refit.ResponseRefit`: the design, ZᵀZ and the factor's
pattern are reused) and FUN applied to the refit.  A replicate whose refit or FUN raises
gives a NaN row (lme4's "some bootstrap runs failed (k/nsim)"); the replicates' warnings are
counted by message.  Replicate statistics match R's to the optimizer's own reproducibility
(lme4 against itself with a tighter tolerance differs by ~1e-7 on β, ~1e-6 on σ, ~1e-5 on
θ); the intervals are exact functions of the replicates.

``boot.ci`` (finite replicates only): ``perc`` = norm.inter(t, (1 ∓ level)/2), ``basic`` =
2t₀ − norm.inter(t, (1 ± level)/2), ``norm`` = t₀ − bias ∓ sd(t)·Φ⁻¹((1 + level)/2) with
bias = mean(t) − t₀; ``norm.inter`` takes the order statistic at (R + 1)α when that is an
integer, the extreme ones at k = 0 or R (with boot's warning), and otherwise interpolates
between t₍ₖ₎ and t₍ₖ₊₁₎ on the normal-quantile scale.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from interlace.deviance.refit import ResponseRefit
from interlace.errors import InterlaceError, warn
from interlace.linalg.threads import with_serial_blas
from interlace.optimize import Control, optimize_theta, report_checks, split_control

__all__ = ["BootResult", "boot_ci", "boot_fun", "bootstrap", "norm_inter", "refit_many",
           "refit_response"]

BOOT_TYPES = ("perc", "basic", "norm")


def _control(res) -> Control:
    """The optimizer's control the fit was made with (lme4's refit reuses the call's)."""
    return split_control(res._fit_kwargs.get("control"))[1]


def refit_response(res, y, refitter: ResponseRefit | None = None, legacy: bool = False):
    """lme4's ``refit(m, newresp)``: the model refitted to response ``y`` (n,), starting
    from the fit's θ̂ with its optimizer and control.  The refit's warnings (convergence,
    singular fit) are issued as the fit's would be.  ``legacy`` reproduces lme4 < 1.1-33's
    REML refits (:meth:`~interlace.deviance.refit.ResponseRefit.deviance`)."""
    from interlace.results.result import CrossedLMEResult

    refitter = refitter or ResponseRefit(res._design, res._dev)
    dev = refitter.deviance(y, legacy=legacy)
    layout, ctl = res._layout, _control(res)
    optimizer = res._fit_kwargs.get("optimizer", "bobyqa")
    theta, _, summary, checks = optimize_theta(
        dev, np.asarray(res.theta, dtype=float), layout.lower(), layout.names(),
        optimizer=optimizer, method=res.method, control=ctl)
    report_checks(checks, ctl, summary, summary.optimizer)
    design = replace(res._design, y=np.asarray(y, dtype=float))
    return CrossedLMEResult(design=design, layout=layout, deviance=dev, state=dev.pls(theta),
                            opt=summary, checks=checks, method=res.method,
                            formula=res.formula, data=res._data,
                            fit_kwargs=res._fit_kwargs, refit=res._refit)


def refit_glmm(res, y):
    """lme4's ``refit(m, newresp)`` for a GLMM: the same design, family and nAGQ on the
    response ``y`` (glmer's scale: binomial proportions of the trials; the deviance's
    tables and factor plan reused, :meth:`GlmmDeviance.with_response`), refitted from the
    fit's (θ̂, β̂) with its optimizers and control.  lme4 runs only stage 2 (Nelder–Mead on
    (θ, β)) from there; this runs both of glmer's stages from there, to the same optimum."""
    from interlace.optimize.glmm import optimize_glmm
    from interlace.results.glmm import GlmmResult

    fam, nagq = res.family, res.nAGQ
    y = np.asarray(y, dtype=float)
    w = np.asarray(res._dev.weights, dtype=float)
    mustart = fam.initialize(y, w, "the simulated response")[3]
    design = replace(res._design, y=y, mustart=mustart)
    layout, dev = res._layout, res._dev.with_response(y)
    ctl = _control(res)
    optimizer = res._fit_kwargs.get("optimizer", ("bobyqa", "Nelder_Mead"))
    opt = (optimizer, optimizer) if isinstance(optimizer, str) else tuple(optimizer)
    fit = optimize_glmm(dev, np.asarray(res.theta, dtype=float), layout.lower(), layout.names(),
                        list(design.x_names), mustart, nagq, ctl,
                        beta_start=None if nagq == 0 else res.fe_params.to_numpy(),
                        theta_init=layout.start(), optimizers=opt)
    for msg in fit.warnings:
        warn(msg)
    report_checks(fit.checks, ctl)
    return GlmmResult(design=design, layout=layout, deviance=dev, state=fit.state,
                      theta=fit.theta, beta=fit.beta, objective=fit.objective, family=fam,
                      nagq=nagq, hessian=fit.hessian, opt=fit.stages[-1], checks=fit.checks,
                      stages=fit.stages, formula=res.formula, data=res._data,
                      fit_kwargs=res._fit_kwargs, refit=res._refit,
                      optimizer_warnings=fit.warnings)


def boot_fun(res) -> pd.Series:
    """lme4's ``confint(method = "boot")`` statistic: per random-effects term the sd's and
    correlations of σ²TTᵀ in θ's order (``Cv_to_Sv``; a correlation of a zero sd is NaN as
    R's ``cov2cor`` makes it), σ, then the fixed effects; named ``.sig01``…, ``.sigma`` and
    by coefficient.  For a GLMM, of TTᵀ itself, and σ only for a family with a dispersion
    (lme4's ``useSc``)."""
    layout, sigma = res._layout, float(res.sigma)
    scaled = hasattr(res.__class__, "satterthwaite")  # an LMM: σ²TTᵀ; a GLMM: TTᵀ
    use_sc = scaled or bool(getattr(res, "has_residual", True))
    vals = np.empty(layout.n_theta)
    for t, T in zip(layout.terms, layout.templates(res.theta), strict=True):
        V = (T @ T.T) * (sigma**2 if scaled else 1.0)
        sd = np.sqrt(np.diagonal(V))
        with np.errstate(invalid="ignore", divide="ignore"):
            r = V / np.outer(sd, sd)
        r[np.diag_indices(t.p)] = sd
        vals[t.theta_slice] = r[t.rows, t.cols]
    names = [f".sig{k + 1:02d}" for k in range(layout.n_theta)] + ([".sigma"] if use_sc else [])
    return pd.Series(np.r_[vals, [sigma] if use_sc else [], res.fe_params.to_numpy()],
                     index=names + list(res.fe_params.index))


def norm_inter(t, alpha) -> np.ndarray:
    """boot's ``norm.inter(t, alpha)`` (its second column): order statistics of the finite
    t at (R + 1)α, interpolated on the normal scale."""
    t = np.asarray(t, dtype=float)
    t = np.sort(t[np.isfinite(t)])
    R = t.size
    alpha = np.atleast_1d(np.asarray(alpha, dtype=float))
    rk = (R + 1) * alpha
    if not np.all((rk > 1) & (rk < R)):
        warn("extreme order statistics used as endpoints", UserWarning)
    k = np.trunc(rk).astype(int)
    out = np.empty(alpha.size)
    for i, (ki, rki, a) in enumerate(zip(k, rk, alpha, strict=True)):
        if ki == rki and 0 < ki <= R:
            out[i] = t[ki - 1]
        elif ki <= 0:
            out[i] = t[0]
        elif ki >= R:
            out[i] = t[R - 1]
        else:
            q1, q2, q3 = stats.norm.ppf([a, ki / (R + 1), (ki + 1) / (R + 1)])
            out[i] = t[ki - 1] + (q1 - q2) / (q3 - q2) * (t[ki] - t[ki - 1])
    return out


def boot_ci(t, t0: float, level: float = 0.95, type: str = "perc") -> tuple[float, float]:
    """boot's ``boot.ci(conf = level, type)`` endpoints for one statistic (see the module
    docstring); all-equal replicates are an error, as ``confint.bootMer`` fails on them."""
    if type not in BOOT_TYPES:
        raise InterlaceError(f"boot_type must be one of {BOOT_TYPES}, not {type!r}")
    t = np.asarray(t, dtype=float)
    fin = t[np.isfinite(t)]
    m = float(np.mean(fin)) if fin.size else np.nan
    if fin.size == 0 or np.all(np.abs(fin - m) < min(1e-8, m / 1e6)):
        raise InterlaceError(f"All values of t are equal to {m}: cannot calculate confidence "
                             "intervals")
    if type == "perc":
        lo, hi = norm_inter(fin, [(1 - level) / 2, (1 + level) / 2])
        return float(lo), float(hi)
    if type == "basic":
        a, b = norm_inter(fin, [(1 + level) / 2, (1 - level) / 2])
        return float(2 * t0 - a), float(2 * t0 - b)
    bias = m - t0
    merr = float(np.sqrt(np.var(fin, ddof=1))) * float(stats.norm.ppf((1 + level) / 2))
    return float(t0 - bias - merr), float(t0 - bias + merr)


def _pct_names(level: float) -> list[str]:
    """lme4's column names: format(100·a, trim = TRUE, digits = 3) followed by " %"."""
    a = (1 - level) / 2
    return [f"{100 * x:.3g} %" for x in (a, 1 - a)]


@dataclass
class BootResult:
    """lme4's ``bootMer`` result: ``t0`` (the statistic on the fit), ``t`` (nsim × k, a row
    per replicate, NaN for a failed one), the seed, ``use_u``, ``failed`` (count) and
    ``messages`` (replicates' warnings and errors, counted by text)."""

    t0: pd.Series
    t: pd.DataFrame
    nsim: int
    seed: object
    use_u: bool
    failed: int = 0
    messages: dict = field(default_factory=dict)

    def confint(self, level: float = 0.95, type: str = "perc", parm=None) -> pd.DataFrame:
        """lme4's ``confint(bootMer)``: boot.ci's ``type`` interval of each statistic
        (columns ``"2.5 %"``, ``"97.5 %"`` for level 0.95)."""
        if not 0.0 < float(level) < 1.0:
            raise InterlaceError(f"level must be strictly between 0 and 1, got {level!r}")
        names = list(self.t0.index) if parm is None else (
            [parm] if isinstance(parm, str) else list(parm))
        unknown = [p for p in names if p not in self.t0.index]
        if unknown:
            raise InterlaceError(f"unknown parameter(s) {unknown}; the statistics are "
                                 f"{list(self.t0.index)}")
        rows = [boot_ci(self.t[p].to_numpy(), float(self.t0[p]), float(level), type)
                for p in names]
        return pd.DataFrame(rows, index=names, columns=_pct_names(float(level)))


@with_serial_blas  # one BLAS thread in every process: results do not depend on n_jobs
def _run(res, ys: np.ndarray, fun, progress, legacy: bool = False) -> list:
    glmm = not hasattr(res.__class__, "satterthwaite")
    refitter = None if glmm else ResponseRefit(res._design, res._dev)
    out = []
    for k in range(ys.shape[1]):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                r = (refit_glmm(res, ys[:, k]) if glmm
                     else refit_response(res, ys[:, k], refitter, legacy))
                val, err = np.asarray(fun(r), dtype=float).ravel(), None
            except Exception as e:  # lme4's factory: a failed replicate is a row of NA
                val, err = None, f"{type(e).__name__}: {e}"
        out.append((val, err, [str(w.message) for w in caught]))
        if progress is not None:
            progress.update(1)
    if not glmm:
        res._restore()
    return out


class ReplicateFit:
    """A replicate refitted by the batched Newton method: θ̂, β̂, σ, vcov(β̂) and the
    objective as the optimizer left them; any other attribute builds the full
    :class:`~interlace.results.result.CrossedLMEResult` at that θ̂ (once)."""

    def __init__(self, res, y, theta, beta, sigma2, vcov, objective, messages, refitter):
        self._res, self._y, self._refitter = res, y, refitter
        self._messages, self._full = messages, None
        self.theta = np.asarray(theta, dtype=float)
        self.fe_params = pd.Series(beta, index=res.fe_params.index, name="Estimate")
        self.sigma = float(np.sqrt(sigma2))
        self.fe_cov = np.asarray(vcov)
        self.objective = float(objective)
        self.llf = -0.5 * self.objective
        self.method, self.formula, self.nobs = res.method, res.formula, res.nobs
        self.nparams, self._layout = res.nparams, res._layout

    def _build(self):
        from interlace.optimize import ConvCheck, OptSummary
        from interlace.results.result import CrossedLMEResult

        res, lay = self._res, self._res._layout
        dev = self._refitter.deviance(self._y)
        opt = OptSummary("newton", {}, lay.names(), list(map(float, res.theta)),
                         list(map(float, lay.lower())), res.method, theta=list(self.theta),
                         objective=self.objective, converged=True, message="batched Newton")
        checks = ConvCheck(code=0)
        for m in self._messages:
            checks.add("hess" if "Hessian" in m or "unidentifiable" in m else "grad", m)
        return CrossedLMEResult(design=replace(res._design, y=np.asarray(self._y, float)),
                                layout=lay, deviance=dev, state=dev.pls(self.theta), opt=opt,
                                checks=checks, method=res.method, formula=res.formula,
                                data=res._data, fit_kwargs=res._fit_kwargs, refit=res._refit)

    @property
    def satterthwaite(self):
        """The full result's (marks this as an LMM's replicate, as the result's class)."""
        return self.__getattr__("satterthwaite")

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if self.__dict__.get("_full") is None:
            self.__dict__["_full"] = self._build()
        return getattr(self.__dict__["_full"], name)


def _newton_refits(res, ys: np.ndarray, fun, refitter: ResponseRefit) -> dict[int, tuple]:
    """Refit the columns of ``ys`` together by the batched Newton method (the deletion
    diagnostics' engine); returns {column: (value, error, warnings)} for those it settled
    — the others (near a bound, no descent, ...) are left to lme4's optimizer."""
    from interlace.linalg import batched
    from interlace.optimize.checks import conv_messages_many

    got = refitter.blocks(ys)
    if got is None:
        return {}
    st, bd = got
    lower = res._layout.lower()
    ctl = _control(res)
    B = ys.shape[1]

    def evaluate(idx, pts):
        return batched.evaluate(st, bd if len(idx) == B else bd.take(idx), pts)

    nr = batched.newton(evaluate, np.repeat(np.asarray(res.theta, float)[None], B, axis=0),
                        lower, modify=True, canon=st.canonical)
    ok = np.flatnonzero(nr.status == 0)
    if not ok.size:
        return {}
    q = batched.pls(st, bd.take(ok), nr.theta[ok])
    msgs = conv_messages_many(nr.gradient[ok], nr.hessian[ok], q["objective"])
    out: dict[int, tuple] = {}
    for j, u in enumerate(ok):
        kinds = ["hess" if ("Hessian" in m or "unidentifiable" in m) else "grad"
                 for m in msgs[j]]
        if any(ctl.action(kd) == "stop" for kd in kinds):
            continue  # lme4 would stop: the sequential refit raises it
        shown = [m for m, kd in zip(msgs[j], kinds, strict=True) if ctl.action(kd) != "ignore"]
        fit = ReplicateFit(res, ys[:, u], nr.theta[u], q["beta"][j], q["sigma2"][j],
                           q["vcov"][j], q["objective"][j], msgs[j], refitter)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                val, err = np.asarray(fun(fit), dtype=float).ravel(), None
            except Exception as e:
                val, err = None, f"{type(e).__name__}: {e}"
        out[int(u)] = (val, err, shown + [str(w.message) for w in caught])
    return out


def refit_many(res, ys: np.ndarray, fun, n_jobs: int = 1, show_progress: bool = False,
               legacy_refit: bool = False, desc: str = "bootstrap refits") -> list:
    """Refit ``res`` to each column of ``ys`` (n × k) and apply ``fun``: a list of (value,
    error message or None, warnings) per column, in order.

    Small models with lme4's criterion (not ``legacy_refit``) are refitted all together by
    the batched Newton method from θ̂ (:func:`interlace.linalg.batched.newton`, the engine
    of the exact deletion diagnostics: each set converges to its optimum, whose objective
    is no worse than the optimizer's); a replicate it does not settle (an optimum near a
    bound, no descent) and every replicate of other models is refitted one by one with the
    fit's optimizer.  ``n_jobs`` > 1 sends each joblib worker one contiguous chunk of the
    one-by-one refits (the model pickled once per chunk)."""
    k = ys.shape[1]
    done: dict[int, tuple] = {}
    if not legacy_refit and k and hasattr(res.__class__, "satterthwaite"):
        done = _newton_sets(res, ys, fun)
    rest = [u for u in range(k) if u not in done]
    if rest:
        more = _refit_columns(res, ys[:, rest], fun, n_jobs, show_progress, legacy_refit, desc)
        done.update(zip(rest, more, strict=True))
    return [done[u] for u in range(k)]


@with_serial_blas
def _newton_sets(res, ys: np.ndarray, fun) -> dict[int, tuple]:
    refitter = ResponseRefit(res._design, res._dev)
    out = _newton_refits(res, ys, fun, refitter)
    res._restore()
    return out


def _refit_columns(res, ys: np.ndarray, fun, n_jobs: int, show_progress: bool,
                   legacy_refit: bool, desc: str) -> list:
    from interlace.parallel import imap, in_process, n_workers, progress_bar

    k = ys.shape[1]
    with progress_bar(show_progress, k, desc) as progress:
        if in_process(n_jobs):
            return _run(res, ys, fun, progress, legacy_refit)
        # one chunk of columns per worker: the model travels once per worker (once per
        # cluster on Dask), each chunk refitted by the serial loop
        chunks = [c for c in np.array_split(np.arange(k), n_workers(n_jobs)) if c.size]
        parts = imap(_run_columns, [ys[:, c] for c in chunks], shared=(res, fun, legacy_refit),
                     n_jobs=n_jobs, progress=progress, weight=lambda y: y.shape[1])
        return [o for part in parts for o in part]


def _run_columns(res, fun, legacy_refit: bool, ys: np.ndarray) -> list:
    return _run(res, ys, fun, None, legacy_refit)


def bootstrap(res, nsim: int = 1, seed=None, fun=None, use_u: bool = False,
              n_jobs: int = 1, show_progress: bool = False,
              legacy_refit: bool = False) -> BootResult:
    """lme4's ``bootMer(m, FUN, nsim, seed, use.u)`` for an LMM fit.

    Parameters
    ----------
    res : CrossedLMEResult
    nsim : int
        Number of replicates.
    seed : int, numpy Generator or None
        An int is R's ``set.seed(seed)`` (the responses are R's); a Generator draws from
        numpy's stream.
    fun : callable, optional
        Statistic of a fitted model, returning a number, array or Series (default: lme4's
        ``confint`` statistic, :func:`boot_fun`).
    use_u : bool
        Condition on the fitted random effects (lme4's ``use.u = TRUE``: only residuals are
        drawn).
    n_jobs : int
        joblib workers for the refits (the draws are made first, so the results do not
        depend on it).
    show_progress : bool
        A tqdm bar over the replicates (serial runs).
    legacy_refit : bool
        Refit REML fits as lme4 1.1-31 (and every lme4 before 1.1-33) does: its
        ``refit()`` optimizes a REML criterion with n − 1 in place of n − p, so its
        bootstrap replicates of θ and σ differ from correct refits (by about 1% on
        sleepstudy).  Off by default; on to reproduce such an R analysis.

    Returns
    -------
    BootResult
    """
    glmm = not hasattr(res.__class__, "satterthwaite")
    if glmm and use_u:
        raise InterlaceError("use_u (lme4's use.u = TRUE) is for linear mixed models here; a "
                             "GLMM's bootstrap draws its random effects")
    fun = boot_fun if fun is None else fun
    t0 = fun(res)
    names = (list(t0.index) if isinstance(t0, pd.Series)
             else [f"t{i + 1}" for i in range(np.asarray(t0).size)])
    t0 = pd.Series(np.asarray(t0, dtype=float).ravel(), index=names)
    ys = res.simulate(nsim, seed) if glmm else res.simulate(nsim, seed, use_u=use_u)
    out = refit_many(res, ys, fun, n_jobs=n_jobs, show_progress=show_progress,
                     legacy_refit=legacy_refit)
    t = np.full((nsim, len(names)), np.nan)
    counts: Counter = Counter()
    failed = 0
    for k, (val, err, msgs) in enumerate(out):
        counts.update(msgs)
        if err is not None or val is None or val.size != len(names):
            failed += 1
            counts[err or f"FUN returned {0 if val is None else val.size} values, not "
                   f"{len(names)}"] += 1
            continue
        t[k] = val
    if failed:
        warn(f"some bootstrap runs failed ({failed}/{nsim})")
    return BootResult(t0=t0, t=pd.DataFrame(t, columns=names), nsim=int(nsim), seed=seed,
                      use_u=bool(use_u), failed=failed, messages=dict(counts))
