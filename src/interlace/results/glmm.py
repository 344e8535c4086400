"""GlmmResult: a fitted GLMM's quantities, as lme4's ``glmerMod`` reports them.

On top of :class:`~interlace.results.base.MixedResult` (lme4 1.1-31, ``mkMerMod`` and the
``merMod`` methods; the final state is the PIRLS state of the last evaluation, at the
optimum, with its lagged factor):

* ``fe_params`` = the optimizer's β̂ (not re-derived); ``fe_cov`` / ``fe_bse``: lme4's
  default, from the finite-difference Hessian H over (θ, β): ``2·(H⁻¹)[β, β]``
  (``vcov(use_hessian=False)``: σ²(RXᵀRX)⁻¹ at the lagged RX; the default for nAGQ = 0,
  and the fallback when the Hessian's is not positive definite, with lme4's warning);
* ``sigma`` = 1 for the binomial and Poisson families, else √(pwrss / n) with pwrss the
  Pearson residual sum of squares plus ‖û‖² (lme4's definition; it includes ‖û‖²);
* ``llf`` = −objective/2; ``aic``/``bic`` with df = p + nθ (+ 1 with a dispersion);
  ``deviance`` = Σ deviance residuals at μ̂ (lme4's ``deviance()``, the conditional GLM
  deviance — not −2 logLik, which the summary's "deviance" column shows);
* ``fittedvalues`` = μ̂ and ``resid(type)`` — "deviance" (default) ``sign(y − μ̂)·√dᵢ``,
  "pearson" ``√(wᵢ/V(μ̂))·(y − μ̂)``, "working" ``(y − μ̂)/μ'(η̂)``, "response" ``y − μ̂``;
* ``predict(newdata, type="link"|"response")``: the fit's own η̂/μ̂ without new data; with
  new data (or ``include_re=False``) the linear predictor with the formula's offsets and R's
  inverse link, as lme4's ``predict.merMod``;
* ``random_effects_se``: σ²·Λ(LLᵀ)⁻¹Λᵀ at the lagged factor (lme4's condVar).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from interlace.covariance import CovarianceLayout
from interlace.deviance.glmm import GlmmDeviance, PirlsState
from interlace.errors import ConvergenceWarning, InterlaceError, warn
from interlace.family import Family
from interlace.optimize import ConvCheck, OptSummary
from interlace.results.base import MixedResult, check_level

__all__ = ["GlmmResult"]

RESID_TYPES = ("deviance", "pearson", "working", "response")


def _hessian_vcov(H: np.ndarray, k: int) -> np.ndarray | None:
    """lme4's ``calc.vcov.hess``: (H⁻¹)[β,β] + its transpose; None when H is singular or
    the result is not positive definite."""
    try:
        Hi = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return None
    V = Hi[k:, k:]
    V = V + V.T
    if not np.all(np.isfinite(V)) or np.min(np.linalg.eigvalsh(V)) <= 0:
        return None
    return V


class GlmmResult(MixedResult):
    """A fitted generalized linear mixed model (lme4 ``glmerMod``); see the module doc."""

    def __init__(self, *, design, layout: CovarianceLayout, deviance: GlmmDeviance,
                 state: PirlsState, theta, beta, objective: float, family: Family, nagq: int,
                 hessian: np.ndarray | None, opt: OptSummary, checks: ConvCheck,
                 stages: list[OptSummary], formula: str, data: Any, fit_kwargs: dict,
                 refit=None, optimizer_warnings: list[str] | None = None):
        state = deviance.detach(state)
        self._dev, self._state, self.family, self.nAGQ = deviance, state, family, int(nagq)
        self.stages, self.hessian = stages, hessian
        #: the optimizers' own warnings (lme4's ``optinfo$warnings``)
        self.optimizer_warnings = list(optimizer_warnings or [])
        self.has_residual = family.has_scale
        k, p = len(theta), deviance.p
        y, mu, wt = deviance.y, state.mu, deviance.weights
        pearson = np.sqrt(wt / family.variance(mu)) * (y - mu)
        self.pwrss = float(pearson @ pearson + state.u @ state.u)
        sigma = float(np.sqrt(self.pwrss / deviance.n)) if family.has_scale else 1.0
        RXinv = np.linalg.inv(state.RX) if p else np.zeros((0, 0))
        self._vcov_rx = sigma**2 * (RXinv @ RXinv.T)
        V = self._vcov_rx
        if hessian is not None and p:
            Vh = _hessian_vcov(hessian, k)
            if Vh is None:
                warn("variance-covariance matrix computed from finite-difference Hessian is\n"
                     "not positive definite or contains NA values: falling back to var-cov "
                     "estimated from RX", ConvergenceWarning)
            else:
                V = Vh
        self._vcov_default = V
        super().__init__(design=design, layout=layout, theta=theta, beta=beta, fe_cov=V,
                         sigma=sigma, u=state.u, objective=objective,
                         nparams=p + k + int(family.has_scale), opt=opt, checks=checks,
                         formula=formula, data=data, fit_kwargs=fit_kwargs, refit=refit)
        self.method = "Laplace" if nagq == 1 else ("nAGQ=0" if nagq == 0 else f"AGQ({nagq})")
        self.fittedvalues = np.array(state.mu)
        self.deviance = float(state.drsum)
        self.df_resid = self.nobs - self.nparams

    def _minv_blocks(self) -> list[np.ndarray]:
        return self._state.factor.minv_diag_blocks()

    # -- inference --------------------------------------------------------------------
    def vcov(self, use_hessian: bool | None = None) -> pd.DataFrame:
        """vcov(β̂): from the Hessian (lme4's default when it is available) or from RX."""
        names = self.fe_params.index
        if use_hessian is None or use_hessian:
            if use_hessian and self.hessian is None:
                raise InterlaceError("use_hessian=True specified, but Hessian is unavailable "
                                     "(nAGQ = 0 or calc_derivs=False)")
            return pd.DataFrame(self._vcov_default, index=names, columns=names)
        return pd.DataFrame(self._vcov_rx, index=names, columns=names)

    @property
    def fe_pvalues(self) -> pd.Series:
        """Two-sided normal p-values of the z statistics, as lme4's summary."""
        p = 2.0 * stats.norm.sf(np.abs(self.fe_tvalues.to_numpy()))
        return pd.Series(p, index=self.fe_params.index, name="Pr(>|z|)")

    def confint(self, method: str = "profile", level: float = 0.95, parm=None, *,
                nsim: int = 500, boot_type: str = "perc", seed=None, n_jobs: int = 1,
                show_progress: bool = False) -> pd.DataFrame:
        """Confidence intervals as lme4's ``confint.merMod`` for a ``glmerMod``; the default
        is lme4's: ``"profile"``, profile-likelihood intervals of ``.sig01``… and the fixed
        effects (:mod:`interlace.inference.glmm_profile`; not for nAGQ = 0 fits or families
        with a dispersion, which lme4 cannot profile either).  ``"wald"``: the fixed effects
        with normal quantiles.  ``"boot"``: lme4's parametric bootstrap intervals
        (``.sig01``…, ``.sigma`` for a family with a dispersion, fixed effects; ``nsim``
        refits, an integer ``seed`` is R's ``set.seed``; ``boot_type`` "perc", "basic" or
        "norm").  ``parm``: names to keep (or "theta_"/"beta_" for the profile)."""
        kind = str(method).lower()
        if kind == "profile":
            from interlace.inference.glmm_profile import glmm_profile

            return glmm_profile(self, which=parm).confint(level=check_level(level))
        if kind == "boot":
            from interlace.inference.bootstrap import BOOT_TYPES, bootstrap

            if boot_type not in BOOT_TYPES:
                raise InterlaceError(f"boot_type must be one of {BOOT_TYPES}, not "
                                     f"{boot_type!r}")
            bb = bootstrap(self, nsim=nsim, seed=seed, n_jobs=n_jobs,
                           show_progress=show_progress)
            return bb.confint(level=check_level(level), type=boot_type, parm=parm)
        if kind != "wald":
            raise InterlaceError(f"method must be 'profile', 'wald' or 'boot', not {method!r}")
        return self._wald(level, parm)

    def profile(self, which=None, **kw):
        """lme4's ``profile(m)`` of this GLMM (:func:`interlace.inference.glmm_profile.
        glmm_profile`): the profile table, its splines and ``confint()``."""
        from interlace.inference.glmm_profile import glmm_profile

        return glmm_profile(self, which=which, **kw)

    def bootstrap(self, nsim: int = 1, seed=None, fun=None, n_jobs: int = 1,
                  show_progress: bool = False):
        """lme4's ``bootMer`` for a GLMM: refit the model to ``nsim`` responses simulated
        from it (an integer seed gives R's draws) and apply ``fun`` to each refit
        (:func:`interlace.inference.bootstrap.bootstrap`)."""
        from interlace.inference.bootstrap import bootstrap

        return bootstrap(self, nsim=nsim, seed=seed, fun=fun, n_jobs=n_jobs,
                         show_progress=show_progress)

    # -- residuals and predictions ------------------------------------------------------
    def resid(self, type: str = "deviance") -> np.ndarray:  # noqa: A002 (lme4's name)
        """Residuals of lme4's types: "deviance" (default), "pearson", "working", "response"."""
        if type not in RESID_TYPES:
            raise InterlaceError(f"type must be one of {RESID_TYPES}, not {type!r}")
        dev, st, fam = self._dev, self._state, self.family
        r = dev.y - st.mu
        if type == "response":
            return r
        if type == "working":
            return r / fam.link.mu_eta(st.eta)
        if type == "pearson":
            return np.sqrt(dev.weights / fam.variance(st.mu)) * r
        d = fam.dev_resids(dev.y, st.mu, dev.weights)
        return np.sign(r) * np.sqrt(np.maximum(d, 0.0))

    residuals = resid

    def predict(self, newdata=None, type: str = "link",  # noqa: A002 (lme4's name)
                include_re: bool = True, allow_new_levels: bool = False) -> np.ndarray:
        """Predictions on the link or response scale (lme4's ``predict.merMod``)."""
        from interlace.results.predict import linear_predictor

        if type not in ("link", "response"):
            raise InterlaceError(f"type must be 'link' or 'response', not {type!r}")
        if newdata is None and include_re is True:
            return np.array(self._state.eta if type == "link" else self._state.mu)
        eta = linear_predictor(self, newdata, include_re, allow_new_levels)
        return eta if type == "link" else self.family.link.r_linkinv(eta)

    def simulate(self, nsim: int = 1, seed: int | None = None) -> np.ndarray:
        """Responses simulated from the fit (lme4's ``simulate``, ``use.u = FALSE``), (n,
        nsim), on glmer's response scale (binomial: proportions of the prior weights).  An
        integer ``seed`` is R's ``set.seed``: lme4's draws, with R's own binomial, Poisson
        and gamma generators (:mod:`interlace.rng_dists`; the inverse Gaussian family's,
        from statmod, is not reproduced); a numpy Generator draws from numpy's stream."""
        from interlace.results.predict import simulate_glmm

        return simulate_glmm(self, nsim, seed)

    def summary(self, correlation: bool | None = None):
        """A summary that reads like lme4's ``summary(glmerMod)``."""
        from interlace.results.display import GlmmSummary

        return GlmmSummary(self, correlation=correlation)

    def __repr__(self) -> str:
        return (f"<GlmmResult {self.family.name}({self.family.link.name}) {self.method} "
                f"{self.formula!r} nobs={self.nobs} objective={self.objective:.6f}>")
