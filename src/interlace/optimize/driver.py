"""Drive an optimizer over θ the way lme4's ``optimizeLmer`` does.

1. Minimize from the start (lme4's default: 1 on diagonals, 0 below).
2. Restart at the edge: if some θ sit exactly on their lower bound and the
   one-sided slope ``(f(θ + 1e-5 eᵢ) − f(θ)) / 1e-5`` is negative for any of
   them, optimize again from there.
3. Boundary snap: a θ within ``boundary_tol`` (1e-5) of its bound is set to
   the bound when that lowers the objective.
4. Convergence checks (:mod:`interlace.optimize.checks`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from interlace.design.checks import InputChecks
from interlace.errors import (
    ConvergenceError,
    ConvergenceWarning,
    InterlaceError,
    SingularFitWarning,
    warn,
)
from interlace.optimize.backends import OptResult, resolve
from interlace.optimize.checks import ConvCheck, check_convergence
from interlace.optimize.summary import OptSummary

#: lme4's check levels for the convergence checks
CHECK_ACTIONS = ("ignore", "message", "warning", "stop")
#: lme4's ``.makeCC(action, tol, relTol)`` entries and where they go here
_CONV_CHECKS = {"check_conv_grad": ("check_grad_tol", "check_grad_reltol"),
                "check_conv_singular": ("check_singular_tol", None),
                "check_conv_hess": ("check_hess_tol", None)}


@dataclass
class Control:
    """Optimizer control, with lme4's ``lmerControl`` defaults.

    ``check_conv_grad``, ``check_conv_singular`` and ``check_conv_hess`` are the actions
    of lme4's three convergence checks ("ignore", "message", "warning" or "stop"); lme4's
    list form ``{"action": ..., "tol": ..., "relTol": ...}`` is accepted for them, and R's
    dotted names (``"check.conv.grad"``) for every setting.
    """

    restart_edge: bool = True
    boundary_tol: float = 1e-5
    calc_derivs: bool = True
    check_singular_tol: float = 1e-4
    check_grad_tol: float = 2e-3
    check_grad_reltol: float | None = None
    check_hess_tol: float = 1e-6
    check_conv_grad: str = "warning"
    check_conv_singular: str = "message"
    check_conv_hess: str = "warning"
    opt_settings: dict = field(default_factory=dict)
    start: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in _CONV_CHECKS:
            if getattr(self, name) not in CHECK_ACTIONS:
                raise InterlaceError(f"invalid control level {getattr(self, name)!r} in {name}: "
                                     f"valid options are {CHECK_ACTIONS}")

    @classmethod
    def from_user(cls, control: dict | Control | None) -> Control:
        """Build from a dict of the same field names (unknown names are an error)."""
        if control is None:
            return cls()
        if isinstance(control, Control):
            return control
        args: dict = {}
        for key, val in dict(control).items():
            k = str(key).replace(".", "_")
            if k in _CONV_CHECKS and isinstance(val, dict):
                tol, reltol = _CONV_CHECKS[k]
                args[k] = val.get("action", getattr(cls, k))
                if "tol" in val:
                    args[tol] = val["tol"]
                if reltol and val.get("relTol") is not None:
                    args[reltol] = val["relTol"]
            else:
                args[k if k in cls.__dataclass_fields__ else key] = val
        unknown = set(args) - set(cls.__dataclass_fields__)
        if unknown:
            raise InterlaceError(
                f"unknown control setting(s): {', '.join(sorted(unknown))}; "
                f"valid: {', '.join(cls.__dataclass_fields__)}"
            )
        return cls(**args)

    def action(self, kind: str) -> str:
        """The action of a convergence check ("singular", "grad" or "hess")."""
        return getattr(self, f"check_conv_{kind}")


def split_control(control) -> tuple[InputChecks, Control]:
    """lme4's ``lmerControl`` / ``glmerControl`` as the fitting functions take it (a dict,
    a :class:`Control` or None): its input checks and the optimizer's control."""
    if isinstance(control, Control):
        return InputChecks(), control
    if control is not None and not isinstance(control, dict):
        raise InterlaceError(f"control must be a dict or Control, got {type(control).__name__}")
    checks, rest = InputChecks.split(control)
    return checks, Control.from_user(rest)


def _known_value(path: list[tuple[np.ndarray, float]], theta: np.ndarray,
                 fun: Callable[[np.ndarray], float]) -> float:
    """The objective at θ: taken from the optimizer's path when it evaluated exactly θ."""
    for th, f in reversed(path):
        if np.array_equal(th, theta):
            return f
    return fun(theta)


def check_boundary(fun: Callable[[np.ndarray], float], par: np.ndarray, fval: float,
                   lower: np.ndarray, tol: float) -> tuple[np.ndarray, float, list[int]]:
    """lme4's ``check.boundary``: each parameter within ``tol`` above its lower bound goes
    to the bound when that lowers the objective (``lower`` may cover only the first
    parameters, θ before β); if any was that close, the objective is evaluated again at
    the result.  Returns (par, objective, indices moved to their bound)."""
    k = len(lower)
    gap = par[:k] - lower
    edge = np.flatnonzero((gap > 0) & (gap < tol))
    if not edge.size:
        return par, fval, []
    pp, moved = par.copy(), []
    for i in edge:
        tmp = pp.copy()
        tmp[i] = lower[i]
        if fun(tmp) < fval:
            pp[i] = lower[i]
            moved.append(int(i))
    return pp, float(fun(pp)), moved


def optimize_theta(
    fun: Callable[[np.ndarray], float],
    x0: np.ndarray,
    lower: np.ndarray,
    theta_names: list[str],
    *,
    optimizer: str = "bobyqa",
    method: str = "REML",
    control: Control | None = None,
) -> tuple[np.ndarray, float, OptSummary, ConvCheck]:
    """Minimize ``fun`` over θ ≥ lower; return θ̂, objective, summary and checks.

    ``fun`` may keep state (a factorization); it is left at whatever point was evaluated
    last (the convergence checks move it), so callers wanting quantities at θ̂ call
    ``pls(θ̂)`` as the result builder does.
    """
    name, backend = resolve(optimizer)
    ctl = control or Control()
    upper = np.full_like(lower, np.inf)
    path: list[tuple[np.ndarray, float]] = []

    def recorded(th: np.ndarray) -> float:
        f = fun(th)
        path.append((np.array(th, dtype=float), f))
        return f

    summary = OptSummary(name, {}, list(theta_names), list(map(float, x0)),
                         list(map(float, lower)), method)
    t0 = time.perf_counter()
    res: OptResult = backend(recorded, x0, lower, upper, dict(ctl.opt_settings))
    summary.settings = res.settings
    theta = np.maximum(res.x, lower)
    fval = _known_value(path, theta, fun)
    if ctl.restart_edge:
        on_edge = np.flatnonzero(theta == lower)
        if on_edge.size:
            btol = 1e-5
            slopes = []
            for i in on_edge:
                th = theta.copy()
                th[i] = lower[i] + btol
                slopes.append((fun(th) - fval) / btol)
            if np.any(np.array(slopes) < 0):
                summary.restarted_at_edge = True
                r2 = backend(recorded, theta, lower, upper, dict(ctl.opt_settings))
                res = OptResult(r2.x, r2.fun, res.n_evals + r2.n_evals, r2.converged,
                                r2.message, res.settings)
                theta = np.maximum(res.x, lower)
                fval = _known_value(path, theta, fun)
    if ctl.boundary_tol > 0:
        theta, fval, moved = check_boundary(fun, theta, fval, lower, ctl.boundary_tol)
        summary.boundary_adjusted += [theta_names[i] for i in moved]
    checks = check_convergence(
        fun, theta, fval, lower,
        singular_tol=ctl.check_singular_tol, grad_tol=ctl.check_grad_tol,
        hess_tol=ctl.check_hess_tol, calc_derivs=ctl.calc_derivs,
        grad_reltol=ctl.check_grad_reltol,
    )
    summary.seconds = time.perf_counter() - t0
    summary.path = [(t.tolist(), float(f)) for t, f in path]
    summary.theta = theta.tolist()
    summary.objective = float(fval)
    summary.n_evals = res.n_evals
    summary.message = res.message
    summary.converged = bool(res.converged)
    summary.check_messages = list(checks.messages)
    summary.check_code = checks.code
    return theta, float(fval), summary, checks


def report_checks(checks: ConvCheck, ctl: Control, summary: OptSummary | None = None,
                  optimizer: str = "") -> None:
    """Act on an optimization's convergence checks as lme4 does: each message stops
    (:class:`ConvergenceError`), warns (:class:`SingularFitWarning` for a singular fit,
    else :class:`ConvergenceWarning`) or is ignored, as its control says; with a
    ``summary``, an optimizer that did not converge warns."""
    for msg, kind in zip(checks.messages, checks.kinds, strict=True):
        action = ctl.action(kind)
        if action == "stop":
            raise ConvergenceError(msg)
        if action != "ignore":
            warn(msg, SingularFitWarning if kind == "singular" else ConvergenceWarning)
    if summary is not None and not summary.converged:
        warn(f"optimizer {optimizer} did not converge: {summary.message}", ConvergenceWarning)
