"""Profile-likelihood confidence intervals of a GLMM, as lme4 1.1-31's ``profile.merMod``
and ``confint(m)`` (its default, ``method = "profile"``) compute them for a ``glmerMod``.

The machinery (points, steps, splines, intervals) is the LMM's
(:mod:`interlace.inference.profile`); what differs for a GLMM, as ``profile.merMod`` and
``devfun2`` have it:

* **Parameters**: the random-effects sd/cor (``.sig01``…, from θ with σ = 1; no
  ``.sigma``) and the fixed effects, all profiled the same way: each point fixes one
  parameter and minimizes the deviance over all the others, started at the previous
  point's values (the first at the optimum), the first point at x̂·1.01 (0.001 when
  x̂ = 0) — for fixed effects too, which an LMM steps by δ·SE instead.
* **Deviance**: lme4's ``getME(m, "devfun")``, a *fresh* glmer deviance function: the
  stage-2 Laplace (or adaptive Gauss–Hermite) deviance at (θ, β), whose every PIRLS
  starts from its own ``lp0``, the nAGQ = 0 PIRLS result at θ̂ from ``mustart`` — not
  the fit's ``lp0``, which came from the start θ.  Its value at the optimum therefore
  differs from the fit's −2 log L by PIRLS's tolerance (cbpp: 2.6e-6 below it); lme4
  accepts it within 1e-5 relative (``all.equal``), else stops.  ζ is measured from the
  fit's −2 log L; a point below it by less than ``devtol`` gets ζ = 0 and lme4's warning,
  by more, lme4's error ("profiling detected new, lower deviance").
* **Inner optimizer**: the fit's stage-2 optimizer, lme4's ``Nelder_Mead``, with its
  defaults (the fit's steps ``xst``/``xt`` are dropped: initial steps 0.02, tolerance
  1e-5), sd ≥ 0 and −1 ≤ cor ≤ 1 as bounds.  A PIRLS failure inside a point makes
  the whole point NA ("NAs detected in profiling"), as lme4's ``tryCatch``.
* **Not profiled by lme4**: nAGQ = 0 fits (lme4 fails: its nAGQ = 0 deviance takes θ
  only) and families with a dispersion (Gamma, inverse Gaussian: "can't (yet) profile
  GLMMs with non-fixed scale parameters"); both are errors here too.
"""

from __future__ import annotations

import math

import numpy as np

from interlace.errors import ConvergenceError, InterlaceError, NumericalError, warn
from interlace.inference.devfun2 import sdcor_to_theta, theta_to_sdcor
from interlace.inference.profile import Profile, Profiler, _Opt, sdcor_bounds
from interlace.optimize.nelder_mead import nelder_mead

__all__ = ["GlmmProfiler", "glmm_profile"]

#: lme4's Nelder_Mead defaults (``profile.merMod`` drops the fit's xst and xt)
NM_XST = 0.02
NM_MAXFUN = 10000
#: devfun2's consistency check: all.equal(dd(optimum), −2 logLik, tolerance = 1e-5)
BASE_TOL = 1e-5
#: a PIRLS that fails inside a point (lme4: an error caught by profile's tryCatch)
_FAILURES = (NumericalError, ConvergenceError, np.linalg.LinAlgError)


class GlmmProfiler(Profiler):
    """``profile.merMod`` for a fitted GLMM (see the module doc); parameters as
    :func:`interlace.inference.profile.profile`.  ``lp0``: the PIRLS start of the deviance
    (default lme4's: the nAGQ = 0 PIRLS at θ̂ from ``mustart``); ``base``: the deviance ζ
    is measured from (default the fit's −2 log L), e.g. lme4's, to walk lme4's profile
    from lme4's optimum."""

    def __init__(self, result, *, alphamax: float = 0.01, maxpts: int = 100,
                 delta: float | None = None, delta_cutoff: float = 1 / 8,
                 maxmult: float = 10, devtol: float = 1e-9, lp0=None,
                 base: float | None = None):
        if result.nAGQ == 0:
            raise InterlaceError("profile confidence intervals are not available for an "
                                 "nAGQ = 0 fit (lme4's profile fails on it too: its nAGQ = 0 "
                                 "deviance takes θ only); use method='wald' or 'boot', or "
                                 "refit with nAGQ=1")
        if result.family.has_scale:
            raise InterlaceError("can't (yet) profile GLMMs with non-fixed scale parameters "
                                 f"(lme4's error; family {result.family.name}): use "
                                 "method='wald' or 'boot'")
        self.result = result
        layout = result._layout
        self.layout = layout
        self.dev = dev = result._dev.with_response(result._dev.y)
        theta, beta = np.asarray(result.theta, float), np.asarray(result.fe_params, float)
        self.lp0 = (dev.initial_lp0(theta, result._design.mustart).lin if lp0 is None
                    else np.asarray(lp0, dtype=float))
        self.nth, self.p = layout.n_theta, len(beta)
        self.names = ([f".sig{k + 1:02d}" for k in range(self.nth)]
                      + list(result.fe_params.index))
        self.opt = np.concatenate([theta_to_sdcor(layout, theta, 1.0), beta])
        self.nvp = len(self.opt)  # every parameter is profiled over all the others
        self.lower, self.upper = sdcor_bounds(layout, p=self.p)
        self.base = -2.0 * float(result.llf) if base is None else float(base)
        self._steps(alphamax, maxpts, delta, delta_cutoff, maxmult, devtol)
        with dev.values_only():
            at_opt = self.dd(self.opt)
        if not abs(at_opt - self.base) <= BASE_TOL * abs(at_opt):
            raise InterlaceError("Profiling over both the residual variance and\nfixed effects "
                                 "is not numerically consistent with\nprofiling over the fixed "
                                 f"effects only (deviance {at_opt!r} at the optimum, −2 log L "
                                 f"{self.base!r})")

    def _done(self) -> None:
        """Nothing to restore: the profile evaluates its own copy of the deviance."""

    def run(self, which=None) -> Profile:
        """The profile (:meth:`Profiler.run`), its deviances by the compiled kernel where it
        covers the model (values only: :meth:`GlmmDeviance.values_only`)."""
        with self.dev.values_only():
            return super().run(which)

    # -- the deviance ------------------------------------------------------------------
    def dd(self, pars: np.ndarray) -> float:
        """lme4's devfun2 for a GLMM: the glmer deviance at the sd/cor and β of ``pars``."""
        pars = np.asarray(pars, dtype=float)
        theta = sdcor_to_theta(self.layout, pars[: self.nth], 1.0)
        beta = pars[self.nth:]
        if self.result.nAGQ == 1:
            return self.dev.laplace(theta, beta, self.lp0)
        return self.dev.agq(theta, beta, self.lp0, self.result.nAGQ)

    def deviance(self, k: int, row: np.ndarray) -> float:
        """Our deviance at a full profile row (sd/cor…, β…); ``k`` is not needed."""
        return self.dd(np.asarray(row, dtype=float)[: self.nvp])

    _dev_at = dd

    def _extra(self, pars: np.ndarray | None) -> np.ndarray:
        """No columns after the profiled parameters: the fixed effects are among them."""
        return np.zeros(0)

    # -- one point ---------------------------------------------------------------------
    def _minimize(self, f, x0, lo, up) -> _Opt:
        """lme4's ``optwrap("Nelder_Mead", …)`` with Nelder_Mead's defaults; a PIRLS
        failure fails the point (``fun`` NaN); too many evaluations warn as optwrap."""
        try:
            r = nelder_mead(f, x0, lo, up, NM_XST, maxfun=NM_MAXFUN)
        except _FAILURES:
            return _Opt(np.full(len(x0), np.nan), math.nan)
        if r.message.startswith("failure to converge"):
            warn(r.message)
            warn(f"convergence code 4 from Nelder_Mead: {r.message}")
        return _Opt(np.asarray(r.x, dtype=float), float(r.fun))


def glmm_profile(result, which=None, **kw) -> Profile:
    """Profile a fitted GLMM's deviance (lme4's ``profile.merMod`` for a ``glmerMod``);
    ``which`` and the keywords as :func:`interlace.inference.profile.profile` (no
    ``settings``: the inner optimizer is lme4's Nelder_Mead), plus ``lp0``."""
    return GlmmProfiler(result, **kw).run(which)
