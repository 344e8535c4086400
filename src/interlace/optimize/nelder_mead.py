"""lme4's own Nelder–Mead (``Nelder_Mead``), the optimizer of glmer's second stage.

A port of lme4 1.1-31's ``src/optimizer.cpp`` (itself derived from NLopt 2.2.4's
``nldrmd.c``) and its R driver ``R/optimizer.R``, step for step, so that the sequence of
evaluated points is lme4's when the objective's values are.  What matters (and differs
from textbook and NLopt Nelder–Mead):

* the initial simplex is x₀ then x₀ + xstᵢ·eᵢ, pushed inside the bounds lme4's way;
* each restart takes the lowest and highest vertices (first index on ties), the centroid
  of all but the highest, and stops ("parameter values converged", code 3) when in every
  coordinate the largest distance of a vertex from that centroid is below ``xt``;
* a reflection (α = 1) better than the best is expanded (γ = 2); the expanded point is
  kept if better than the *worst* vertex; a reflection better than the worst is accepted;
  otherwise an inside contraction (β = ½), kept if better than both the reflection and the
  worst, else every vertex but the best shrinks halfway to it and all n + 1 are evaluated
  again;
* a new point equal (to 1e-13 relative in every coordinate, after clamping to the bounds)
  to the centroid or to the vertex it replaces also ends the run with code 3;
* no function-value test is ever made (lme4 sets ``FtolAbs`` through a setter that sets
  the relative tolerance, then overwrites it), so the simplex's spread alone stops it;
* the best point is the first one with the lowest value evaluated so far; more than
  ``maxfun`` evaluations end with code −4, which the driver turns into a warning.

The state machine itself is compiled (:mod:`interlace.optimize.nm_kernel`); this module
drives it for a Python objective, and glmer's stage 2 can run it in one compiled loop.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from interlace.errors import NumericalError
from interlace.optimize.backends import OptResult
from interlace.optimize.nm_kernel import F_MINF, nm_newf, nm_start

__all__ = ["nelder_mead", "nm_result", "nm_setup"]

MESSAGES = {-4: "failure to converge in {maxfun} evaluations", -3: "nm_forced",
            -2: "cannot generate a feasible simplex", -1: "initial x is not feasible",
            1: "objective function went below allowed minimum",
            2: "objective function values converged to within tolerance",
            3: "parameter values converged to within tolerance"}
#: nm_start's errors, as lme4 raises them
START_ERRORS = {-1: "initial x is not a feasible point", -2: "cannot generate feasible simplex"}


def nm_setup(x0, lower, upper, xst, xt=None, maxfun: int = 10000,
             minf_max: float = -np.finfo(float).max) -> tuple:
    """The arrays of the compiled machine (:func:`~interlace.optimize.nm_kernel.nm_start`)
    and the settings lme4 reports: (bounds and tolerances, state, settings)."""
    x0 = np.asarray(x0, dtype=float)
    lb = np.asarray(lower, dtype=float) * np.ones_like(x0)
    ub = np.asarray(upper, dtype=float) * np.ones_like(x0)
    xst = np.asarray(xst, dtype=float) * np.ones_like(x0)
    xt = xst * 5e-4 if xt is None else np.asarray(xt, dtype=float) * np.ones_like(x0)
    code, *state = nm_start(lb, ub, xst, x0, int(maxfun), float(minf_max))
    if code:
        raise NumericalError(START_ERRORS[code])
    settings = {"xst": xst.tolist(), "xt": xt.tolist(), "maxfun": int(maxfun),
                "FtolAbs": 1e-5, "FtolRel": 1e-15, "XtolRel": 1e-7}
    return (lb, ub, xt), tuple(state), settings


def nm_result(code: int, evals: int, state: tuple, settings: dict) -> OptResult:
    """The run's OptResult: the best point and value, and lme4's message."""
    xbest, fs = state[2], state[6]
    message = MESSAGES[code].format(maxfun=settings["maxfun"])
    return OptResult(xbest.copy(), float(fs[F_MINF]), evals, code in (1, 2, 3), message,
                     settings)


def nelder_mead(fun: Callable[[np.ndarray], float], x0, lower, upper, xst,
                xt=None, maxfun: int = 10000,
                minf_max: float = -np.finfo(float).max) -> OptResult:
    """Minimize ``fun`` with lme4's ``Nelder_Mead`` (defaults: lme4's ``optCtrl``).

    ``xst``: initial steps; ``xt``: the simplex-spread tolerance per coordinate (default
    ``5e-4·xst``, as lme4).  A negative code (other than −4) is an error, as in lme4.
    """
    bounds, state, settings = nm_setup(x0, lower, upper, xst, xt, maxfun, minf_max)
    xeval = state[3]
    it = 0
    while True:
        it += 1
        code = nm_newf(float(fun(xeval.copy())), *bounds, *state)
        if code != 0:
            break
    return nm_result(int(code), it, state, settings)
