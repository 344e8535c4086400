"""CrossedLMEResult: the fitted model's quantities, named as lme4 names them.

Cheap quantities (β̂, vcov, σ, θ, BLUPs, fitted values, logLik, AIC/BIC) are
computed when the result is built; Satterthwaite df (numerical Hessian and
Jacobian, lmerTest's method) and conditional variances of the random effects
(lme4's ``condVar``) are computed on first use and cached.

Notation as in :mod:`interlace.deviance.lmm` (Bates et al. 2015, JSS 67(1)):
``b = Λθ u``; ``Var(b | y) = σ² Λθ (ΛθᵀZᵀZΛθ + I)⁻¹ Λθᵀ`` (conditional on β̂,
as lme4's ``ranef(condVar = TRUE)``); ``vcov(β̂) = σ² (RXᵀRX)⁻¹``.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from interlace.covariance import CovarianceLayout
from interlace.deviance.lmm import LmmDeviance, PLSState
from interlace.errors import ConvergenceWarning, InterlaceError, warn
from interlace.linalg.threads import with_serial_blas
from interlace.optimize import ConvCheck, OptSummary
from interlace.results.base import (  # noqa: F401 (re-exported: long-standing import paths)
    SINGULAR_TOL,
    MixedResult,
    ModelInfo,
    check_level,
    re_contribution,
)


class CrossedLMEResult(MixedResult):
    """A fitted linear mixed model (lme4 ``lmerMod`` + lmerTest quantities).

    Built by :func:`interlace.fit`; see the module docstring for notation.
    """

    def __init__(self, *, design, layout: CovarianceLayout, deviance: LmmDeviance,
                 state: PLSState, opt: OptSummary, checks: ConvCheck, method: str,
                 formula: str, data: Any, fit_kwargs: dict, refit=None):
        self._dev, self._state, self.method = deviance, state, method
        n, p = deviance.n, deviance.p
        denom = n - p if method == "REML" else n
        sigma = float(np.sqrt(state.pwrss / denom))
        RXinv = np.linalg.inv(state.RX)
        super().__init__(design=design, layout=layout, theta=state.theta, beta=state.beta,
                         fe_cov=sigma**2 * (RXinv @ RXinv.T), sigma=sigma,
                         u=deviance.solve_u(state), objective=state.objective,
                         nparams=p + layout.n_theta + 1, opt=opt, checks=checks,
                         formula=formula, data=data, fit_kwargs=fit_kwargs, refit=refit)
        X = design.X
        offset = 0.0 if design.offset is None else design.offset
        Zb = self._Zb()
        self.fittedvalues = X @ state.beta + offset + Zb
        # from the shifted response y₀ = y − offset − X b₀: no cancellation at a large mean
        self.resid = deviance.cp.y0 - X @ state.beta_y0 - Zb

    def _restore(self) -> None:
        """Put the deviance's factor back at θ̂ (other computations move it)."""
        self._dev(self.theta)

    def _minv_blocks(self) -> list[np.ndarray]:
        self._restore()
        return self._dev.factor.minv_diag_blocks()

    # -- inference --------------------------------------------------------------------
    @cached_property
    @with_serial_blas
    def satterthwaite(self):
        """lmerTest's ingredients of Satterthwaite's method at the fit (vcov of the variance
        parameters, the Jacobian of vcov(β̂)): an
        :class:`~interlace.inference.satterthwaite.SatterthwaiteFit`."""
        from interlace.inference.satterthwaite import satterthwaite_fit

        try:
            return satterthwaite_fit(self._dev, self.theta, self.sigma)
        finally:
            self._restore()

    @cached_property
    @with_serial_blas
    def kenward_roger(self):
        """pbkrtest's ``vcovAdj`` at the fit (the Kenward–Roger adjusted vcov(β̂), the
        P matrices and W): a :class:`~interlace.inference.kenward_roger.KRFit`.  REML
        fits without prior weights only (lmerTest refuses ML fits; pbkrtest ignores
        weights)."""
        from interlace.inference.kenward_roger import kr_from_deviance

        if self._design.weights is not None and self.method == "REML":
            raise InterlaceError("Kenward-Roger's method is not available for a fit with "
                                 "prior weights: pbkrtest builds the marginal covariance "
                                 "with an identity residual part, which is not this model's")
        return kr_from_deviance(self._dev, self.theta, self.sigma, self.fe_cov)

    def coef_table(self, ddf: str = "Satterthwaite") -> pd.DataFrame:
        """lmerTest's ``summary(m, ddf = ...)$coefficients``: ``Estimate``, ``Std. Error``,
        ``df``, ``t value``, ``Pr(>|t|)``.  With ``"Kenward-Roger"`` the standard errors
        are the adjusted ones (√ of vcovAdj's diagonal) and df pbkrtest's ``Lb_ddf``;
        ``"lme4"`` gives lme4's ``Estimate``, ``Std. Error``, ``t value``."""
        est, idx = self.fe_params.to_numpy(), self.fe_params.index
        if ddf == "lme4":
            return pd.DataFrame({"Estimate": est, "Std. Error": self.fe_bse.to_numpy(),
                                 "t value": self.fe_tvalues.to_numpy()}, index=idx)
        if ddf == "Satterthwaite":
            se, df = self.fe_bse.to_numpy(), self.fe_df.to_numpy()
        elif ddf == "Kenward-Roger":
            from interlace.inference.kenward_roger import kr_coefficients

            se, df = kr_coefficients(self.kenward_roger)
        else:
            raise InterlaceError(f"ddf must be 'Satterthwaite', 'Kenward-Roger' or 'lme4', "
                                 f"not {ddf!r}")
        t = est / se
        return pd.DataFrame({"Estimate": est, "Std. Error": se, "df": df, "t value": t,
                             "Pr(>|t|)": 2.0 * stats.t.sf(np.abs(t), df)}, index=idx)

    @cached_property
    def fe_df(self) -> pd.Series:
        """Satterthwaite denominator df per coefficient (lmerTest's method)."""
        df = self.satterthwaite.df()
        out = pd.Series(np.asarray(df, dtype=float), index=self.fe_params.index, name="df")
        bad = out.index[~np.isfinite(out.to_numpy())]
        if len(bad):
            warn(f"Satterthwaite df not finite for {', '.join(bad)} ({out[bad].tolist()}): the "
                 "deviance's Hessian in the variance parameters is singular or indefinite "
                 "here, so its inverse (the df's denominator) is not determined",
                 ConvergenceWarning)
        return out

    @property
    def fe_pvalues(self) -> pd.Series:
        """Two-sided p-values from t with Satterthwaite df."""
        p = 2.0 * stats.t.sf(np.abs(self.fe_tvalues.to_numpy()), self.fe_df.to_numpy())
        return pd.Series(p, index=self.fe_params.index, name="Pr(>|t|)")

    def fe_conf_int_at(self, level: float = 0.95) -> pd.DataFrame:
        """t-based confidence intervals with Satterthwaite df."""
        q = stats.t.ppf(0.5 + check_level(level) / 2, self.fe_df.to_numpy())
        est, se = self.fe_params.to_numpy(), self.fe_bse.to_numpy()
        return pd.DataFrame({"lower": est - q * se, "upper": est + q * se},
                            index=self.fe_params.index)

    @property
    def fe_conf_int(self) -> pd.DataFrame:
        """95% t-based confidence intervals (columns ``lower``, ``upper``)."""
        return self.fe_conf_int_at(0.95)

    @with_serial_blas
    def confint(self, method: str = "profile", level: float = 0.95, parm=None, *,
                nsim: int = 500, boot_type: str = "perc", seed=None, use_u: bool = False,
                n_jobs: int = 1, show_progress: bool = False,
                legacy_refit: bool = False) -> pd.DataFrame:
        """Confidence intervals as lme4's ``confint.merMod``; the default is lme4's:
        ``"profile"``, profile-likelihood intervals for every parameter (``.sig01``…,
        ``.sigma``, fixed effects; :mod:`interlace.inference.profile`).  ``"wald"``: the
        fixed effects with normal quantiles (lme4's ``method = "Wald"``).  ``"boot"``:
        lme4's parametric bootstrap (``nsim`` refits, an integer ``seed`` is R's
        ``set.seed``; ``boot_type`` "perc", "basic" or "norm" as ``boot.ci``; see
        :func:`interlace.inference.bootstrap.bootstrap` for ``use_u``, ``n_jobs`` and
        ``legacy_refit``).  ``parm``: names to keep (or "theta_"/"beta_" for profile)."""
        kind = str(method).lower()
        level = check_level(level)
        if kind == "profile":
            from interlace.inference.profile import profile_confint

            return profile_confint(self, level=level, parm=parm)
        if kind == "boot":
            from interlace.inference.bootstrap import BOOT_TYPES, bootstrap

            if boot_type not in BOOT_TYPES:
                raise InterlaceError(f"boot_type must be one of {BOOT_TYPES}, not "
                                     f"{boot_type!r}")
            bb = bootstrap(self, nsim=nsim, seed=seed, use_u=use_u, n_jobs=n_jobs,
                           show_progress=show_progress, legacy_refit=legacy_refit)
            return bb.confint(level=level, type=boot_type, parm=parm)
        if kind != "wald":
            raise InterlaceError(f"method must be 'profile', 'wald' or 'boot', not {method!r}")
        return self._wald(level, parm)

    def profile(self, which=None, **kw):
        """lme4's ``profile(m)`` (:func:`interlace.inference.profile.profile`): the ML
        deviance profile, its splines and ``confint()``."""
        from interlace.inference.profile import profile

        return profile(self, which=which, **kw)

    @property
    def llf_restricted(self) -> float | None:
        """The REML log-likelihood for REML fits, None for ML fits."""
        return self.llf if self.method == "REML" else None

    @property
    def deviance_ml(self) -> float:
        """The ML deviance at θ̂ (lme4's ``deviance(m, REML = FALSE)``)."""
        self._restore()
        return self._dev.ml_deviance(self._dev.pls(self.theta))

    # -- methods implemented elsewhere --------------------------------------------------
    def summary(self, correlation: bool | None = None, ddf: str = "Satterthwaite"):
        """A summary that reads like lmerTest's ``summary(m, ddf = ...)``: ``ddf`` is
        ``"Satterthwaite"``, ``"Kenward-Roger"`` or ``"lme4"`` (lme4's own summary, no df
        or p-values); ``correlation`` as lme4's print option (default: the fixed-effects
        correlations when p ≤ 12)."""
        from interlace.results.display import Summary

        return Summary(self, correlation=correlation, ddf=ddf)

    def predict(self, newdata=None, include_re: bool = True,
                allow_new_levels: bool = False, *,
                type: str = "link") -> np.ndarray:  # noqa: A002 (lme4's name)
        """Predictions (lme4's ``predict.merMod``); an unseen or missing grouping level is
        an error unless ``allow_new_levels=True``, which gives it zero random effect.
        ``type`` "link" or "response" is accepted as by a GLMM's ``predict``; an LMM's link
        is the identity, so both give the same numbers (as in lme4)."""
        from interlace.results.predict import predict

        if type not in ("link", "response"):
            raise InterlaceError(f"type must be 'link' or 'response', not {type!r}")
        return predict(self, newdata, include_re, allow_new_levels)

    def simulate(self, nsim: int = 1, seed: int | None = None,
                 use_u: bool = False) -> np.ndarray:
        """Simulate responses from the fitted model, (n, nsim), as lme4's ``simulate(m,
        nsim, seed, use.u)``: an integer seed is R's ``set.seed``; ``use_u`` conditions on
        the predicted random effects (only residuals are drawn)."""
        from interlace.results.predict import simulate, simulate_conditional

        if use_u:
            return simulate_conditional(self, nsim, seed)
        return simulate(self, nsim, seed)

    def bootstrap(self, nsim: int = 1, seed=None, fun=None, use_u: bool = False,
                  n_jobs: int = 1, show_progress: bool = False, legacy_refit: bool = False):
        """lme4's ``bootMer``: refit the model to ``nsim`` responses simulated from it
        (an integer seed is R's ``set.seed``) and apply ``fun`` to each refit (default:
        lme4's ``confint`` statistic); see :func:`interlace.inference.bootstrap.bootstrap`."""
        from interlace.inference.bootstrap import bootstrap

        return bootstrap(self, nsim=nsim, seed=seed, fun=fun, use_u=use_u, n_jobs=n_jobs,
                         show_progress=show_progress, legacy_refit=legacy_refit)

    def __repr__(self) -> str:
        return (f"<CrossedLMEResult {self.method} {self.formula!r} nobs={self.nobs} "
                f"objective={self.objective:.6f}>")
