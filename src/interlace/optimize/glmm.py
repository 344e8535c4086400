"""glmer's two optimization stages, as lme4 1.1-31 runs them (``glmer``, ``optimizeGlmer``,
``optwrap``, ``check.boundary``, ``checkConv``).

1. **Start.** η from ``mustart``; one PIRLS at lme4's default θ (``mkGlmerDevfun`` runs
   it before any user start is looked at) in nAGQ = 0 mode (u and β); its ``η − offset``
   is the stage-1 start ``lp0``.
2. **Stage 1** (θ only; u and β by PIRLS from ``lp0``): Powell's BOBYQA with minqa's
   settings (npt = n + 2, ρ_beg = min(0.95, 0.2·max|θ₀|), ρ_end = 1e-6·ρ_beg; a start of
   all zeros becomes 0.001), then one evaluation at θ̂₁.  For nAGQ = 0 that is the fit:
   lme4's ``check.boundary`` (θ within 1e-5 of its bound is set to the bound when that
   lowers the objective) and no derivatives.
3. **Stage 2** (θ and β; u by PIRLS from the stage-1 result's ``η − offset``): lme4's
   Nelder–Mead from (θ̂₁, β̂₁) with steps 0.2·(0.1 for θ, min(SE₁, 10) for β), SE₁ from
   the stage-1 RX; then the finite-difference gradient and Hessian at the optimum
   (lme4's ``deriv12``, step 1e-4, its centre evaluated again), one evaluation at the
   optimum, and ``check.boundary``.
4. **Checks**: lme4's ``checkConv`` on (θ, β) — the singular check on θ, the gradient and
   Hessian checks (lme4's "fixed-effect Hessian" check is not reached in 1.1-31: its
   parameter count equals the number of bounds).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from interlace.deviance.glmm import GlmmDeviance, PirlsState
from interlace.optimize.checks import (
    ConvCheck,
    below_noise,
    check_derivatives,
    check_singular,
    deriv12,
)
from interlace.optimize.driver import Control, check_boundary
from interlace.optimize.glmm_loop import stage2_nelder_mead
from interlace.optimize.nelder_mead import nelder_mead
from interlace.optimize.summary import OptSummary

__all__ = ["GLMER_STAGE_OPTIMIZERS", "GlmmFit", "optimize_glmm", "run_stage"]

#: each stage's optimizers: lme4's names ("bobyqa" = minqa's, "Nelder_Mead" = lme4's,
#: "nloptwrap" = NLopt's BOBYQA as lme4's nloptwrap) and interlace's other backends
GLMER_STAGE_OPTIMIZERS = ("bobyqa", "Nelder_Mead", "nloptwrap", "pybobyqa", "nelder_mead",
                          "lbfgsb")
#: lme4's Nelder_Mead default initial step (its ``xst`` when optwrap does not set one)
NM_DEFAULT_XST = 0.02
#: stage 2's default Nelder–Mead as one compiled loop where the model allows
#: (:mod:`interlace.optimize.glmm_loop`; the same points and values as the Python-driven run)
COMPILED_STAGE2 = True

@dataclass
class GlmmFit:
    """The outcome of :func:`optimize_glmm`.

    ``theta``, ``beta``, ``objective`` (lme4's ``opt$fval``) and ``state`` (the PIRLS state
    of the last evaluation, at the optimum); ``stages`` the OptSummary of each stage;
    ``gradient``/``hessian`` over (θ, β) for nAGQ ≥ 1; ``checks`` lme4's checkConv;
    ``warnings`` the optimizers' own convergence warnings (optwrap's).
    """

    theta: np.ndarray
    beta: np.ndarray
    objective: float
    state: PirlsState
    stages: list[OptSummary]
    checks: ConvCheck
    gradient: np.ndarray | None = None
    hessian: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)


def _label(name) -> str:
    """An optimizer's name as the summary shows it (a callable: its ``__name__``)."""
    if callable(name):
        return getattr(name, "__name__", type(name).__name__)
    return {"bobyqa": "bobyqa (minqa, Powell)", "Nelder_Mead": "Nelder_Mead (lme4)",
            "nloptwrap": "nloptwrap (NLopt BOBYQA)"}.get(name, name)


def _record(fun: Callable[[np.ndarray], float], path: list):
    def run(x: np.ndarray) -> float:
        f = float(fun(np.asarray(x, dtype=float)))
        path.append((np.array(x, dtype=float).tolist(), f))
        return f

    return run


def run_stage(name: str, fun: Callable[[np.ndarray], float], x0: np.ndarray,
              lower: np.ndarray, settings: dict, *, adjusted: bool = False,
              xst: np.ndarray | None = None):
    """Minimize ``fun`` from ``x0`` above ``lower`` with one of
    :data:`GLMER_STAGE_OPTIMIZERS`, as lme4's ``optwrap`` sets it up: ``adjusted`` (stage
    2) gives minqa's BOBYQA ρ_beg 2e-4 and ρ_end 2e-7 and lme4's Nelder–Mead the steps
    ``xst``; a BOBYQA start of all zeros becomes 0.001.  Returns (OptResult, optwrap's
    warning or None)."""
    from interlace.optimize.backends import resolve
    from interlace.optimize.powell import bobyqa

    settings = dict(settings)
    upper = np.full(len(x0), np.inf)
    if name == "bobyqa":
        if adjusted:
            settings.setdefault("rhobeg", 2e-4)
            settings.setdefault("rhoend", 2e-7)
        res = bobyqa(fun, x0, lower, upper, **settings)
        code = res.settings.get("ierr")
    elif name == "Nelder_Mead":
        steps = settings.pop("xst", xst if xst is not None else NM_DEFAULT_XST)
        res = nelder_mead(fun, x0, lower, np.inf, steps, **settings)
        return res, _nm_warning(res)
    else:
        _, backend = resolve("bobyqa" if name == "nloptwrap" else name)
        res = backend(fun, np.asarray(x0, dtype=float), np.asarray(lower, dtype=float), upper,
                      settings)
        code = 0 if res.converged else 1
    return res, _warning(name, res, code)


def _warning(name: str, res, code) -> str | None:
    """optwrap's convergence warning of a stage, or None."""
    if res.converged and not code:
        return None
    return f"convergence code {code or 1} from {name}: {res.message}"


def _nm_warning(res) -> str | None:
    """:func:`_warning` of lme4's Nelder_Mead (code 4: too many evaluations)."""
    return _warning("Nelder_Mead", res, 4 if res.message.startswith("failure to converge") else 0)


def optimize_glmm(dev: GlmmDeviance, theta0: np.ndarray, lower: np.ndarray,
                  theta_names: list[str], x_names: list[str], mustart: np.ndarray,
                  nagq: int = 1, control: Control | None = None,
                  beta_start: np.ndarray | None = None,
                  theta_init: np.ndarray | None = None,
                  optimizers: tuple[str, str] = ("bobyqa", "Nelder_Mead")) -> GlmmFit:
    """Fit a GLMM's parameters as lme4's ``glmer`` does (see the module docstring).

    ``theta0`` starts stage 1 and ``beta_start`` (default: the stage-1 β) stage 2, as
    lme4's ``start = list(theta, fixef)``; the initial PIRLS that gives ``lp0`` runs at
    ``theta_init`` (default ``theta0``), lme4's default θ whatever the start.
    ``optimizers``: each stage's, from :data:`GLMER_STAGE_OPTIMIZERS` (lme4's
    ``glmerControl(optimizer = )``; the default is lme4's and the only one whose path is
    lme4's).
    """
    ctl = control or Control()
    k, p = len(theta0), dev.p
    warn_msgs: list[str] = []
    t0 = time.perf_counter()
    lp0_1 = dev.initial_lp0(theta0 if theta_init is None else theta_init, mustart).lin

    def f1(th: np.ndarray) -> float:
        return dev.stage1(th, lp0_1).laplace

    path1: list = []
    x0 = np.array(theta0, dtype=float)
    if np.all(x0 == 0):
        x0[:] = 0.001
    with dev.values_only():
        res1, w1 = run_stage(optimizers[0], _record(f1, path1), x0, lower,
                             dict(ctl.opt_settings.get("stage1", {})))
    if w1:
        warn_msgs.append(w1)
    theta1 = np.asarray(res1.x, dtype=float)
    fval1 = f1(theta1)  # optwrap's final evaluation: the state at θ̂₁
    st1 = dev.last_state
    sum1 = OptSummary(_label(optimizers[0]), dict(res1.settings), list(theta_names),
                      list(map(float, x0)), list(map(float, lower)), "glmer stage 1 (nAGQ=0)",
                      path=path1, theta=theta1.tolist(), objective=fval1,
                      n_evals=res1.n_evals, message=res1.message, converged=res1.converged)
    if nagq == 0:
        theta1, fval1, moved = check_boundary(f1, theta1, fval1, lower, ctl.boundary_tol)
        sum1.boundary_adjusted = [theta_names[i] for i in moved]
        checks = check_singular(theta1, lower, ctl.check_singular_tol)
        sum1.seconds = time.perf_counter() - t0
        sum1.check_messages, sum1.check_code = list(checks.messages), checks.code
        last = dev.last_state
        return GlmmFit(theta1, last.beta, fval1, last, [sum1], checks, warnings=warn_msgs)

    # -- stage 2 ----------------------------------------------------------------------
    lp0_2 = st1.lin
    start_beta = st1.beta if beta_start is None else np.asarray(beta_start, dtype=float)
    unsc = np.linalg.inv(st1.RX.T @ st1.RX)
    xst = 0.2 * np.r_[np.full(k, 0.1), np.minimum(np.sqrt(np.diag(unsc)), 10.0)]
    lower2 = np.r_[lower, np.full(p, -np.inf)]

    def f2(par: np.ndarray) -> float:
        th, beta = par[:k], par[k:]
        if nagq == 1:
            return dev.laplace(th, beta, lp0_2)
        return dev.agq(th, beta, lp0_2, nagq)

    # deriv12's points are independent: compiled, on threads where cores are free
    f2.many = lambda pts: dev.stage2_values(pts, lp0_2, nagq)

    path2: list = []
    settings2 = dict(ctl.opt_settings.get("stage2", {}))
    with dev.values_only():
        if (optimizers[1] == "Nelder_Mead" and COMPILED_STAGE2
                and dev.stage2_compiled(nagq)):
            res2, path2 = stage2_nelder_mead(dev, np.r_[theta1, start_beta], lower2, xst,
                                             lp0_2, nagq, settings2)
            w2 = _nm_warning(res2)
        else:
            res2, w2 = run_stage(optimizers[1], _record(f2, path2), np.r_[theta1, start_beta],
                                 lower2, settings2, adjusted=True, xst=xst)
    if w2:
        if optimizers[1] == "Nelder_Mead":  # lme4's Nelder_Mead warns itself, then optwrap
            warn_msgs.append(res2.message)
        warn_msgs.append(w2)
    par, fval = np.asarray(res2.x, dtype=float), float(res2.fun)
    g = H = None
    if ctl.calc_derivs:
        with dev.values_only():
            f0 = f2(par)  # lme4's deriv12 evaluates the centre again (optwrap gives no fx)
            g, H = deriv12(f2, par, f0)
    f2(par)  # optwrap's final evaluation at the optimum
    par, fval, moved = check_boundary(f2, par, fval, lower, ctl.boundary_tol)
    sum2 = OptSummary(_label(optimizers[1]), dict(res2.settings),
                      list(theta_names) + list(x_names), np.r_[theta1, start_beta].tolist(),
                      [float(v) for v in lower2], f"glmer stage 2 (nAGQ={nagq})", path=path2,
                      theta=par.tolist(), objective=fval, n_evals=res2.n_evals,
                      message=res2.message, converged=res2.converged)
    sum2.boundary_adjusted = [theta_names[i] for i in moved]
    checks = check_singular(par, lower, ctl.check_singular_tol)
    if not checks.singular and g is not None:
        gg, HH = below_noise(g, H, fval)
        check_derivatives(checks, gg, HH, par, grad_tol=ctl.check_grad_tol,
                          hess_tol=ctl.check_hess_tol, grad_reltol=ctl.check_grad_reltol)
    sum2.seconds = time.perf_counter() - t0
    sum2.check_messages, sum2.check_code = list(checks.messages), checks.code
    return GlmmFit(par[:k], par[k:], fval, dev.last_state, [sum1, sum2], checks, g, H,
                   warn_msgs)
