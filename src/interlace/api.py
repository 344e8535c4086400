"""``interlace.fit``: a thin composition of the pipeline stages.

formula (parse) → design (model matrices) → covariance layout (θ) →
deviance (PLS, lme4's objective) → optimizer (lme4's boundary handling and
checks) → result.  Fits run with single-threaded BLAS, except the objective's repeated
factorization of a large model, which uses threads when they are faster
(:mod:`interlace.linalg.threads`).  Each stage can be used and tested on its own, like lme4's
``lFormula`` → ``mkLmerDevfun`` → ``optimizeLmer`` → ``mkMerMod``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from interlace.covariance import CovarianceLayout
from interlace.design import build_design
from interlace.design.checks import InputChecks
from interlace.design.contrasts import resolve_contrasts
from interlace.design.frames import accepts_frames
from interlace.deviance.build import build_deviance, build_glmm_deviance  # noqa: F401
from interlace.errors import (
    ConvergenceWarning,
    InterlaceError,
    ModelSpecError,
    warn,
)
from interlace.family import Family, make_family
from interlace.formula import compose_formula
from interlace.linalg.threads import with_serial_blas
from interlace.optimize import (
    BACKENDS,
    Control,
    ConvCheck,
    OptSummary,
    optimize_theta,
    report_checks,
    split_control,
)
from interlace.optimize.glmm import GLMER_STAGE_OPTIMIZERS, optimize_glmm
from interlace.results.glmm import GlmmResult
from interlace.results.result import CrossedLMEResult


def _method(method: str) -> str:
    m = str(method).upper()
    if m not in ("REML", "ML"):
        raise InterlaceError(f"method must be 'REML' or 'ML', not {method!r}")
    return m


@with_serial_blas
@accepts_frames
def fit(
    formula: str,
    data: Any,
    *,
    groups: str | Sequence[str] | None = None,
    random: str | Sequence[str] | None = None,
    method: str = "REML",
    optimizer: str = "bobyqa",
    weights: Any = None,
    offset: Any = None,
    na_action: str = "omit",
    control: dict | Control | None = None,
    backend: str = "auto",
    contrasts: Any = None,
) -> CrossedLMEResult:
    """Fit a linear mixed model by REML or ML with lme4's objective.

    Parameters
    ----------
    formula : str
        lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data : pandas.DataFrame
        One row per observation.
    groups : str or list of str, optional
        Grouping columns, each adding a random intercept ``(1 | g)``.
    random : str or list of str, optional
        Extra random-effects terms such as ``"(1 + x | g)"``.
    method : {"REML", "ML"}
    optimizer : str or callable
        ``"bobyqa"`` (NLopt's BOBYQA with lme4's default ``nloptwrap`` settings),
        ``"minqa"``, ``"pybobyqa"``, ``"nelder_mead"``, ``"lbfgsb"``, a name registered with
        :func:`interlace.optimize.register`, or a callable ``fn(objective, x0, lower,
        upper, settings)`` returning the optimum (``x``, ``fun``; optionally the
        evaluations, a convergence flag and a message; see
        :func:`interlace.optimize.backends.coerce_result`).
    weights, offset : str or array-like, optional
        Column name or array of prior weights / offset.
    na_action : {"omit", "fail"}
        Drop rows with missing values in used columns (with a warning) or raise.
    control : dict or Control, optional
        lme4-style control (``lmerControl``): ``restart_edge``, ``boundary_tol``,
        ``calc_derivs``, check tolerances, ``opt_settings`` (passed to the optimizer),
        ``start``, and lme4's input checks with their actions (``check_scaleX``,
        ``check_nobs_vs_rankZ``, ... — R's dotted names work too; see
        :mod:`interlace.design.checks`).
    backend : {"auto", "blocked", "cholmod"}
        Linear-algebra backend (same numbers; "auto" picks CHOLMOD for large dense blocks).
    contrasts : dict or (str, str) or Contrasts, optional
        How factors are coded, as in R: a mapping of fixed-effects variables to R's
        contrast functions (lmer's ``contrasts = list(x = "contr.sum")``;
        ``contr.treatment``, ``contr.SAS``, ``contr.sum``, ``contr.helmert``,
        ``contr.poly``, with or without the ``contr.`` prefix), or a pair (unordered,
        ordered) of defaults for every factor, random-effects terms included (R's
        ``options(contrasts = )``), or an :class:`interlace.Contrasts` holding both.
        Default: R's, ``contr.treatment`` and ``contr.poly``.

    Returns
    -------
    CrossedLMEResult
    """
    method = _method(method)
    input_checks, ctl = split_control(control)
    text, design, layout, dev = _prepare(formula, data, groups, random, method, weights, offset,
                                         na_action, backend, input_checks, contrasts)
    x0 = _start(ctl, layout)
    theta, _, summary, checks = optimize_theta(
        dev, x0, layout.lower(), layout.names(), optimizer=optimizer, method=method, control=ctl
    )
    report_checks(checks, ctl, summary, summary.optimizer)
    return _result(text, data, design, layout, dev, theta, summary, checks,
                   dict(method=method, optimizer=optimizer, weights=weights, offset=offset,
                        na_action=na_action, control=control, backend=backend,
                        contrasts=contrasts))


def _result(text, data, design, layout, dev, theta, summary, checks, fit_kwargs):
    """Assemble the result at θ; ``fit_kwargs`` are what ``update()`` refits with."""
    kwargs = dict(groups=None, random=None, **fit_kwargs)
    return CrossedLMEResult(design=design, layout=layout, deviance=dev, state=dev.pls(theta),
                            opt=summary, checks=checks, method=fit_kwargs["method"],
                            formula=text, data=data, fit_kwargs=kwargs, refit=fit)


def _start(ctl: Control, layout: CovarianceLayout) -> np.ndarray:
    """The optimizer's start: lme4's default, or the user's θ checked against the bounds."""
    if ctl.start is None:
        return layout.start()
    try:
        x0 = np.asarray(ctl.start, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise InterlaceError(f"start must be a vector of {layout.n_theta} numbers "
                             f"(θ: {layout.names()}), got {ctl.start!r}") from None
    if x0.shape != (layout.n_theta,):
        raise InterlaceError(f"start must have length {layout.n_theta} (θ: {layout.names()})")
    if not np.all(np.isfinite(x0)):
        raise InterlaceError(f"start must be finite, got {x0.tolist()}")
    below = [nm for nm, v, lo in zip(layout.names(), x0, layout.lower(), strict=True) if v < lo]
    if below:
        raise InterlaceError("at least one element in x0 < lb: start θ below its lower "
                             f"bound 0 for {', '.join(below)}")
    return x0


def _prepare(formula, data, groups, random, method, weights, offset, na_action, backend,
             checks: InputChecks | None = None, contrasts: Any = None):
    f = compose_formula(formula, groups=groups, random=random)
    design = build_design(f, data, weights=weights, offset=offset, na_action=na_action,
                          checks=checks, contrasts=resolve_contrasts(contrasts))
    layout, dev = build_deviance(design, method, backend)
    return f.text, design, layout, dev


@with_serial_blas
@accepts_frames
def evaluate_at(
    formula: str,
    data: Any,
    theta: Sequence[float],
    *,
    groups: str | Sequence[str] | None = None,
    random: str | Sequence[str] | None = None,
    method: str = "REML",
    weights: Any = None,
    offset: Any = None,
    na_action: str = "omit",
    backend: str = "auto",
    contrasts: Any = None,
) -> CrossedLMEResult:
    """All result quantities at a given θ, without optimizing (e.g. at lme4's θ̂).

    Same arguments as :func:`fit` plus ``theta`` (in lme4's order and naming,
    see ``result.theta_names``).  The returned result's ``optinfo`` records
    optimizer ``"none"``; its checks are not run.
    """
    method = _method(method)
    text, design, layout, dev = _prepare(formula, data, groups, random, method, weights, offset,
                                         na_action, backend, None, contrasts)
    th = np.asarray(theta, dtype=float)
    if th.shape != (layout.n_theta,):
        raise InterlaceError(f"theta must have length {layout.n_theta} (θ: {layout.names()})")
    if not np.all(np.isfinite(th)):
        raise InterlaceError(f"theta must be finite, got {th.tolist()}")
    summary = OptSummary("none", {}, layout.names(), th.tolist(), layout.lower().tolist(),
                         method, theta=th.tolist(), objective=dev(th), converged=True)
    return _result(text, data, design, layout, dev, th, summary, ConvCheck(),
                   dict(method=method, optimizer="bobyqa", weights=weights, offset=offset,
                        na_action=na_action, control=None, backend=backend,
                        contrasts=contrasts))


#: glmer's optimizers: stage 1 (θ) and stage 2 (θ, β), as lme4's default glmerControl
GLMER_OPTIMIZERS = ("bobyqa", "Nelder_Mead")


@accepts_frames
@with_serial_blas
def glmer(
    formula: str,
    data: Any,
    *,
    family: str | Family = "binomial",
    link: str | None = None,
    groups: str | Sequence[str] | None = None,
    random: str | Sequence[str] | None = None,
    weights: Any = None,
    offset: Any = None,
    nAGQ: int = 1,  # noqa: N803 (lme4's name)
    optimizer: tuple[str, str] | str = GLMER_OPTIMIZERS,
    control: dict | Control | None = None,
    start: Any = None,
    na_action: str = "omit",
    backend: str = "auto",
    contrasts: Any = None,
) -> GlmmResult:
    """Fit a generalized linear mixed model as lme4's ``glmer`` does.

    Parameters
    ----------
    formula : str
        lme4 formula; a binomial response may be ``cbind(successes, failures)``, 0/1, a
        logical, a two-level factor, or a proportion with ``weights`` = totals.
    data : pandas.DataFrame
    family : str or Family
        "binomial", "poisson", "Gamma", "inverse.gaussian" or "gaussian" (non-identity
        link), or a :class:`interlace.family.Family`.
    link : str, optional
        The link (default: the family's canonical link as R's).
    groups, random, weights, offset, na_action, backend, contrasts
        As :func:`fit`.
    nAGQ : int
        1: Laplace (default); k > 1: adaptive Gauss–Hermite with k nodes (one scalar
        random-effects term only); 0: lme4's nAGQ = 0 (β by PIRLS, stage 1 only).
    optimizer : (str, str)
        The two stages' optimizers (lme4's ``glmerControl(optimizer = )``; one name for
        both): lme4's default ("bobyqa", "Nelder_Mead") — minqa's BOBYQA then lme4's
        Nelder–Mead, each ported path for path — or "nloptwrap" (NLopt's BOBYQA),
        "pybobyqa", "nelder_mead" or "lbfgsb" (SciPy's), whose paths are not lme4's
        (``nox -s optimizers`` compares their optima with lme4's), or a registered name or
        callable as :func:`fit`'s ``optimizer``.
    control : dict or Control, optional
        lme4's glmerControl: input checks, convergence-check actions and tolerances,
        ``boundary_tol``, ``calc_derivs``, ``start`` (θ), ``opt_settings``
        (``{"stage1": {...}, "stage2": {...}}``, e.g. ``maxfun``).
    start : sequence or dict, optional
        lme4's ``start``: θ, or ``{"theta": θ, "fixef": β}`` (either key may be left
        out; β as a sequence in the fixed effects' order or a mapping by name).  θ starts
        stage 1 and β stage 2 (default: stage 1's β); the initial PIRLS runs at lme4's
        default θ whatever the start, as lme4's.

    Returns
    -------
    GlmmResult
    """
    fam = make_family(family, link)
    if fam.name == "gaussian" and fam.link.name == "identity":
        warn("calling glmer() with family=gaussian (identity link) as a shortcut to lmer() "
             "is deprecated; please call lmer() directly", FutureWarning)
        return fit(formula, data, groups=groups, random=random, weights=weights,
                   offset=offset, control=control, na_action=na_action, backend=backend,
                   contrasts=contrasts)
    if isinstance(nAGQ, bool) or not isinstance(nAGQ, int | np.integer) or not 0 <= nAGQ < 101:
        raise InterlaceError(f"nAGQ must be a whole number from 0 to 100, got {nAGQ!r}")
    opt = ((optimizer, optimizer) if isinstance(optimizer, str) or callable(optimizer)
           else tuple(optimizer))
    known = (*GLMER_STAGE_OPTIMIZERS, *BACKENDS)
    if len(opt) != 2 or any(not callable(o) and o not in known for o in opt):
        raise InterlaceError(f"optimizer must be one name or a pair (stage 1, stage 2) from "
                             f"{GLMER_STAGE_OPTIMIZERS}, a registered name or a callable "
                             f"(interlace.optimize.register); got {optimizer!r}")
    input_checks, ctl = split_control(control)
    f = compose_formula(formula, groups=groups, random=random)
    design = build_design(f, data, weights=weights, offset=offset, na_action=na_action,
                          checks=input_checks, family=fam,
                          contrasts=resolve_contrasts(contrasts))
    layout, dev = build_glmm_deviance(design, fam, backend)
    if nAGQ > 1 and (len(design.re_terms) != 1 or design.re_terms[0].Xi.shape[1] != 1):
        raise ModelSpecError("nAGQ > 1 is only available for models with a single, scalar "
                             "random-effects term")
    ctl, beta0 = _glmer_start(start, ctl, list(design.x_names), int(nAGQ))
    x0 = _start(ctl, layout)
    res = optimize_glmm(dev, x0, layout.lower(), layout.names(), list(design.x_names),
                        design.mustart, int(nAGQ), ctl, beta_start=beta0,
                        theta_init=layout.start(), optimizers=opt)
    for msg in res.warnings:
        warn(msg, ConvergenceWarning)
    report_checks(res.checks, ctl)
    kwargs = dict(family=fam, groups=None, random=None, weights=weights, offset=offset,
                  nAGQ=nAGQ, optimizer=optimizer, control=control, start=start,
                  na_action=na_action, backend=backend, contrasts=contrasts)
    return GlmmResult(design=design, layout=layout, deviance=dev, state=res.state,
                      theta=res.theta, beta=res.beta, objective=res.objective, family=fam,
                      nagq=int(nAGQ), hessian=res.hessian, opt=res.stages[-1],
                      checks=res.checks, stages=res.stages, formula=f.text, data=data,
                      fit_kwargs=kwargs, refit=glmer, optimizer_warnings=res.warnings)


def _glmer_start(start: Any, ctl: Control, x_names: list[str],
                 nagq: int) -> tuple[Control, np.ndarray | None]:
    """lme4's glmer ``start`` (θ, or a dict of ``theta`` and ``fixef``): the control with
    θ as its start, and the stage-2 β start (None: stage 1's β)."""
    if start is None:
        return ctl, None
    if not isinstance(start, Mapping):
        start = {"theta": start}
    bad = sorted(set(start) - {"theta", "fixef"})
    if bad:
        raise InterlaceError(f"bad name(s) for start vector ({', '.join(map(str, bad))}); "
                             "should be 'theta' and/or 'fixef'")
    if start.get("theta") is not None:
        if ctl.start is not None:
            raise InterlaceError("give the start θ once: as start= or as control's start, "
                                 "not both")
        ctl = replace(ctl, start=start["theta"])
    fixef = start.get("fixef")
    if fixef is None:
        return ctl, None
    if nagq == 0:
        raise InterlaceError("should not specify both start$fixef and nAGQ==0")
    if isinstance(fixef, Mapping | pd.Series):
        missing = [nm for nm in x_names if nm not in fixef]
        if missing:
            raise InterlaceError(f"start fixef lacks {missing} (fixed effects: {x_names})")
        fixef = [fixef[nm] for nm in x_names]
    try:
        beta0 = np.asarray(fixef, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise InterlaceError(f"start fixef must be numbers, got {fixef!r}") from None
    if beta0.shape != (len(x_names),):
        raise InterlaceError(f"incorrect number of fixef components (!={len(x_names)})")
    if not np.all(np.isfinite(beta0)):
        raise InterlaceError(f"start fixef must be finite, got {beta0.tolist()}")
    return ctl, beta0


@with_serial_blas
@accepts_frames
def evaluate_glmm_at(
    formula: str,
    data: Any,
    theta: Sequence[float],
    beta: Sequence[float],
    lp0: Sequence[float] | None = None,
    *,
    family: str | Family = "binomial",
    link: str | None = None,
    weights: Any = None,
    offset: Any = None,
    nAGQ: int = 1,  # noqa: N803 (lme4's name)
    na_action: str = "omit",
    backend: str = "auto",
    contrasts: Any = None,
) -> GlmmResult:
    """Every GLMM result quantity at given (θ, β), without optimizing (e.g. at lme4's).

    ``lp0`` is the PIRLS start (η − offset; lme4's stage-2 ``lp0``, which its fixtures
    record); by default the nAGQ = 0 PIRLS result at θ from ``mustart``.  The vcov is the
    RX-based one (no Hessian is computed).
    """
    fam = make_family(family, link)
    design = build_design(compose_formula(formula), data, weights=weights, offset=offset,
                          na_action=na_action, family=fam,
                          contrasts=resolve_contrasts(contrasts))
    layout, dev = build_glmm_deviance(design, fam, backend)
    th, b = np.asarray(theta, dtype=float), np.asarray(beta, dtype=float)
    if th.shape != (layout.n_theta,) or b.shape != (design.X.shape[1],):
        raise InterlaceError(f"theta must have length {layout.n_theta} and beta "
                             f"{design.X.shape[1]}")
    start = (dev.initial_lp0(th, design.mustart).lin if lp0 is None
             else np.asarray(lp0, dtype=float))
    value = dev.laplace(th, b, start) if nAGQ == 1 else (
        dev.agq(th, b, start, int(nAGQ)) if nAGQ > 1 else dev.stage1(th, start).laplace)
    summary = OptSummary("none", {}, layout.names(), th.tolist(), layout.lower().tolist(),
                         f"glmer at given parameters (nAGQ={nAGQ})", theta=th.tolist(),
                         objective=value, converged=True)
    kwargs = dict(family=fam, groups=None, random=None, weights=weights, offset=offset,
                  nAGQ=nAGQ, optimizer=GLMER_OPTIMIZERS, control=None, na_action=na_action,
                  backend=backend, contrasts=contrasts)
    return GlmmResult(design=design, layout=layout, deviance=dev, state=dev.last_state,
                      theta=th, beta=b if nAGQ else dev.last_state.beta, objective=value,
                      family=fam, nagq=int(nAGQ), hessian=None, opt=summary, checks=ConvCheck(),
                      stages=[summary], formula=compose_formula(formula).text, data=data,
                      fit_kwargs=kwargs, refit=glmer)
