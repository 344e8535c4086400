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
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from interlace.errors import NumericalError
from interlace.optimize.backends import OptResult

__all__ = ["nelder_mead"]

ALPHA, BETA, GAMMA, DELTA = 1.0, 0.5, 2.0, 0.5
MESSAGES = {-4: "failure to converge in {maxfun} evaluations", -3: "nm_forced",
            -2: "cannot generate a feasible simplex", -1: "initial x is not feasible",
            1: "objective function went below allowed minimum",
            2: "objective function values converged to within tolerance",
            3: "parameter values converged to within tolerance"}


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-13 * (abs(a) + abs(b))


class _NelderMead:
    """The state machine of lme4's ``Nelder_Mead`` class (reverse communication)."""

    def __init__(self, lb, ub, xstep, x, xt, maxfun: int, minf_max: float):
        n = len(x)
        self.lb, self.ub, self.xt = lb, ub, xt
        self.n, self.maxfun, self.minf_max = n, maxfun, minf_max
        if np.any(x - lb < 0) or np.any(ub - x < 0):
            raise NumericalError("initial x is not a feasible point")
        self.x = x.copy()
        self.pts = np.repeat(x[:, None], n + 1, axis=1)
        for i in range(n):
            j = i + 1
            s = xstep[i]
            self.pts[i, j] += s
            if self.pts[i, j] > ub[i]:
                self.pts[i, j] = ub[i] if ub[i] - x[i] > abs(s) * 0.1 else x[i] - abs(s)
            if self.pts[i, j] < lb[i]:
                if x[i] - lb[i] > abs(s) * 0.1:
                    self.pts[i, j] = lb[i]
                else:
                    self.pts[i, j] = x[i] + abs(s)
                    if self.pts[i, j] > ub[i]:
                        far = ub[i] if ub[i] - x[i] > x[i] - lb[i] else lb[i]
                        self.pts[i, j] = 0.5 * (far + x[i])
            if _close(self.pts[i, j], x[i]):
                raise NumericalError("cannot generate feasible simplex")
        self.vals = np.full(n + 1, np.finfo(float).tiny)
        self.xeval = x.copy()
        self.minf = np.inf
        self.stage = "restart"
        self.init_pos = 0
        self.nevals = 0
        self.xcur = np.zeros(n)
        self.c = np.zeros(n)
        self.fl = self.fh = self.f_old = 0.0
        self.il = self.ih = 0

    def newf(self, f: float) -> int:
        self.nevals += 1
        if f < self.minf:
            self.minf = f
            self.x = self.xeval.copy()
            if self.minf < self.minf_max:
                return 1
        if self.maxfun > 0 and self.nevals > self.maxfun:
            return -4
        if self.init_pos <= self.n:
            return self._init(f)
        return getattr(self, "_" + self.stage)(f)

    def _init(self, f: float) -> int:
        self.vals[self.init_pos] = f
        self.init_pos += 1
        if self.init_pos > self.n:
            return self._restart(f)
        self.xeval = self.pts[:, self.init_pos].copy()
        return 0

    def _reflect(self, c, scale, xold) -> tuple[bool, np.ndarray]:
        xnew = c + scale * (c - xold)
        equalc = equalold = True
        for i in range(self.n):
            v = min(max(xnew[i], self.lb[i]), self.ub[i])
            equalc = equalc and _close(v, c[i])
            equalold = equalold and _close(v, xold[i])
            xnew[i] = v
        return not (equalc or equalold), xnew

    def _restart(self, f: float) -> int:
        self.il = int(np.argmin(self.vals))
        self.fl = float(self.vals[self.il])
        self.ih = int(np.argmax(self.vals))
        self.fh = float(self.vals[self.ih])
        self.c = (self.pts.sum(axis=1) - self.pts[:, self.ih]) / self.n
        dev = np.max(np.abs(self.pts - self.c[:, None]), axis=1)
        if np.all((dev < self.xt) | (dev == 0.0)):
            return 3
        ok, self.xcur = self._reflect(self.c, ALPHA, self.pts[:, self.ih])
        if not ok:
            return 3
        self.xeval = self.xcur.copy()
        self.stage = "postreflect"
        return 0

    def _postreflect(self, f: float) -> int:
        if f < self.fl:
            ok, self.xeval = self._reflect(self.c, GAMMA, self.pts[:, self.ih])
            if not ok:
                return 3
            self.stage = "postexpand"
            self.f_old = f
            return 0
        if f < self.fh:
            self.vals[self.ih] = f
            self.pts[:, self.ih] = self.xeval
            return self._restart(f)
        ok, self.xcur = self._reflect(self.c, -BETA if self.fh <= f else BETA,
                                      self.pts[:, self.ih])
        if not ok:
            return 3
        self.f_old = f
        self.xeval = self.xcur.copy()
        self.stage = "postcontract"
        return 0

    def _postexpand(self, f: float) -> int:
        if f < self.vals[self.ih]:
            self.pts[:, self.ih] = self.xeval
            self.vals[self.ih] = f
        else:
            self.pts[:, self.ih] = self.xcur
            self.vals[self.ih] = self.f_old
        return self._restart(f)

    def _postcontract(self, f: float) -> int:
        if f < self.f_old and f < self.fh:
            self.pts[:, self.ih] = self.xeval
            self.vals[self.ih] = f
            return self._restart(f)
        best = self.pts[:, self.il].copy()
        for i in range(self.n + 1):
            if i != self.il:
                ok, xnew = self._reflect(best, -DELTA, self.pts[:, i])
                if not ok:
                    return 3
                self.pts[:, i] = xnew
        self.init_pos = 0
        self.xeval = self.pts[:, 0].copy()
        return 0


def nelder_mead(fun: Callable[[np.ndarray], float], x0, lower, upper, xst,
                xt=None, maxfun: int = 10000,
                minf_max: float = -np.finfo(float).max) -> OptResult:
    """Minimize ``fun`` with lme4's ``Nelder_Mead`` (defaults: lme4's ``optCtrl``).

    ``xst``: initial steps; ``xt``: the simplex-spread tolerance per coordinate (default
    ``5e-4·xst``, as lme4).  A negative code (other than −4) is an error, as in lme4.
    """
    x0 = np.asarray(x0, dtype=float)
    lb = np.asarray(lower, dtype=float) * np.ones_like(x0)
    ub = np.asarray(upper, dtype=float) * np.ones_like(x0)
    xst = np.asarray(xst, dtype=float) * np.ones_like(x0)
    xt = xst * 5e-4 if xt is None else np.asarray(xt, dtype=float) * np.ones_like(x0)
    nm = _NelderMead(lb, ub, xst, x0, xt, int(maxfun), float(minf_max))
    it = 0
    while True:
        it += 1
        code = nm.newf(float(fun(nm.xeval.copy())))
        if code != 0:
            break
    message = MESSAGES[code].format(maxfun=maxfun)
    settings = {"xst": xst.tolist(), "xt": xt.tolist(), "maxfun": int(maxfun),
                "FtolAbs": 1e-5, "FtolRel": 1e-15, "XtolRel": 1e-7}
    return OptResult(nm.x.copy(), float(nm.minf), it, code in (1, 2, 3), message, settings)
