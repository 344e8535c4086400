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

from dataclasses import dataclass
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

SINGULAR_TOL = 1e-4


def check_level(level) -> float:
    """A confidence level strictly between 0 and 1 (R returns NaN columns otherwise)."""
    try:
        lv = float(level)
    except (TypeError, ValueError):
        raise InterlaceError(f"level must be a number between 0 and 1, got {level!r}") from None
    if not 0.0 < lv < 1.0:
        raise InterlaceError(f"level must be strictly between 0 and 1, got {level!r}")
    return lv


def re_contribution(terms, b: list[np.ndarray], n: int) -> np.ndarray:
    """Z b: Σ over terms of each row's term columns times its level's BLUPs.

    ``terms`` yields (codes, Xi) per term; a code of -1 (a level not seen in
    training) contributes zero.
    """
    z = np.zeros(n)
    for (codes, Xi), bt in zip(terms, b, strict=True):
        seen = codes >= 0
        if seen.all():
            z += np.einsum("ij,ij->i", Xi, bt[codes])
        else:
            z[seen] += np.einsum("ij,ij->i", Xi[seen], bt[codes[seen]])
    return z


@dataclass(frozen=True)
class ModelInfo:
    """Model matrices and metadata (mirrors statsmodels' ``model`` attribute)."""

    exog: np.ndarray
    endog: np.ndarray
    exog_names: list[str]
    endog_names: str
    groups: dict[str, np.ndarray]
    formula: str
    data: Any


class CrossedLMEResult:
    """A fitted linear mixed model (lme4 ``lmerMod`` + lmerTest quantities).

    Built by :func:`interlace.fit`; see the module docstring for notation.
    """

    def __init__(self, *, design, layout: CovarianceLayout, deviance: LmmDeviance,
                 state: PLSState, opt: OptSummary, checks: ConvCheck, method: str,
                 formula: str, data: Any, fit_kwargs: dict):
        self._design, self._layout, self._dev, self._state = design, layout, deviance, state
        self.optinfo, self._checks = opt, checks
        self.method, self.formula, self._data = method, formula, data
        self._fit_kwargs = fit_kwargs
        names = list(design.x_names)
        n, p = deviance.n, deviance.p
        self.nobs = int(n)
        self.theta = np.asarray(state.theta, dtype=float)
        self.theta_names = layout.names()
        denom = n - p if method == "REML" else n
        self.sigma = float(np.sqrt(state.pwrss / denom))
        self.scale = self.sigma**2
        RXinv = np.linalg.inv(state.RX)
        self.fe_cov = self.scale * (RXinv @ RXinv.T)
        self.fe_params = pd.Series(state.beta, index=names, name="Estimate")
        self.fe_bse = pd.Series(np.sqrt(np.diag(self.fe_cov)), index=names, name="Std. Error")
        self.objective = float(state.objective)
        self.nparams = int(p + layout.n_theta + 1)
        self.llf = -0.5 * self.objective
        self.aic = -2.0 * self.llf + 2.0 * self.nparams
        self.bic = -2.0 * self.llf + self.nparams * np.log(n)
        self.converged = bool(opt.converged and checks.code == 0)
        self.conv_messages = list(checks.messages)
        self._u = deviance.solve_u(state)
        self._b = self._spherical_to_b(self._u)
        X = design.X
        offset = 0.0 if design.offset is None else design.offset
        Zb = self._Zb()
        self.fittedvalues = X @ state.beta + offset + Zb
        # from the shifted response y₀ = y − offset − X b₀: no cancellation at a large mean
        self.resid = deviance.cp.y0 - X @ state.beta_y0 - Zb
        self.ngroups = {t.group: len(t.levels) for t in design.re_terms}

    # -- random effects ---------------------------------------------------------------
    def _spherical_to_b(self, u: np.ndarray) -> list[np.ndarray]:
        """b = Λ u, per term as (levels, p) arrays."""
        out, off = [], 0
        for t, T in zip(self._layout.terms, self._layout.templates(self.theta), strict=True):
            ut = u[off: off + t.n_levels * t.p].reshape(t.n_levels, t.p)
            out.append(ut @ T.T)
            off += t.n_levels * t.p
        return out

    def _Zb(self) -> np.ndarray:
        return re_contribution(((t.codes, t.Xi) for t in self._design.re_terms), self._b,
                               self.nobs)

    def _by_group(self, per_term: list[np.ndarray]) -> dict[str, pd.DataFrame | pd.Series]:
        groups: dict[str, list[pd.DataFrame]] = {}
        for term, vals in zip(self._design.re_terms, per_term, strict=True):
            df = pd.DataFrame(vals, index=pd.Index(list(term.levels), name=term.group),
                              columns=list(term.col_names))
            groups.setdefault(term.group, []).append(df)
        out: dict[str, pd.DataFrame | pd.Series] = {}
        for g, frames in groups.items():
            df = pd.concat(frames, axis=1) if len(frames) > 1 else frames[0]
            out[g] = df.iloc[:, 0].rename(df.columns[0]) if df.shape[1] == 1 else df
        return out

    @cached_property
    def random_effects(self) -> dict[str, pd.DataFrame | pd.Series]:
        """BLUPs (conditional modes) by grouping factor: levels × terms (Series if one term)."""
        return self._by_group(self._b)

    def _restore(self) -> None:
        """Put the deviance's factor back at θ̂ (other computations move it)."""
        self._dev(self.theta)

    @cached_property
    @with_serial_blas
    def _condvar(self) -> list[np.ndarray]:
        self._restore()
        blocks = self._dev.factor.minv_diag_blocks()
        out = []
        for T, Mi in zip(self._layout.templates(self.theta), blocks, strict=True):
            out.append(self.scale * (T @ Mi @ T.T))
        return out

    @cached_property
    def random_effects_se(self) -> dict[str, pd.DataFrame | pd.Series]:
        """Conditional SDs of the BLUPs (lme4's ``condsd``), same layout as random_effects."""
        return self._by_group([np.sqrt(np.diagonal(c, axis1=1, axis2=2)) for c in self._condvar])

    def ranef_frame(self) -> pd.DataFrame:
        """Long table as lme4's ``as.data.frame(ranef(m, condVar = TRUE))``."""
        rows = []
        for term, b, cv in zip(self._design.re_terms, self._b, self._condvar, strict=True):
            sd = np.sqrt(np.diagonal(cv, axis1=1, axis2=2))
            for j, cname in enumerate(term.col_names):
                rows.append(pd.DataFrame({"grpvar": term.group, "term": cname,
                                          "grp": list(term.levels), "condval": b[:, j],
                                          "condsd": sd[:, j]}))
        return pd.concat(rows, ignore_index=True)

    def random_effects_ci(self, level: float = 0.95) -> dict[str, pd.DataFrame]:
        """Normal-approximation intervals BLUP ± z·condsd."""
        z = stats.norm.ppf(0.5 + check_level(level) / 2)
        out = {}
        for g, est in self.random_effects.items():
            se = self.random_effects_se[g]
            out[g] = pd.concat({"lower": est - z * se, "upper": est + z * se}, axis=1)
        return out

    # -- variance components ----------------------------------------------------------
    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """lme4's ``as.data.frame(VarCorr(m))``: grp, var1, var2, vcov, sdcor."""
        return pd.DataFrame(self._layout.varcorr(self.theta, self.sigma))

    @cached_property
    def variance_components(self) -> dict[str, Any]:
        """Random-effect variances by group (float, or covariance DataFrame for vector terms)."""
        out: dict[str, Any] = {}
        for t, S in zip(self._layout.terms, self._layout.covariances(self.theta, self.sigma),
                        strict=True):
            val: Any = float(S[0, 0]) if t.p == 1 else pd.DataFrame(
                S, index=list(t.col_names), columns=list(t.col_names))
            key = t.group if t.group not in out else f"{t.group}.{'.'.join(t.col_names)}"
            out[key] = val
        out["Residual"] = self.scale
        return out

    @property
    def theta_named(self) -> pd.Series:
        """θ with lme4's names."""
        return pd.Series(self.theta, index=self.theta_names, name="theta")

    @property
    def correlation_params(self) -> dict[str, float]:
        """Random-effect correlations keyed ``group:var1:var2``."""
        vc = self.varcorr
        cor = vc[vc["var2"].notna()]
        return {f"{r.grp}:{r.var1}:{r.var2}": float(r.sdcor) for r in cor.itertuples()}

    # -- singularity ------------------------------------------------------------------
    def singular(self, tol: float = SINGULAR_TOL) -> bool:
        """lme4's ``isSingular(m, tol)``: is some diagonal element of θ below ``tol``?"""
        return bool(np.any(self.theta[self._layout.diagonal_mask()] < tol))

    @property
    def is_singular(self) -> bool:
        """lme4's ``isSingular(m, tol = 1e-4)``."""
        return self.singular()

    @property
    def boundary_flags(self) -> dict[str, bool]:
        """Per grouping factor: is any of its diagonal θ below 1e-4?"""
        flags: dict[str, bool] = {}
        for t in self._layout.terms:
            th = self.theta[t.theta_slice][t.rows == t.cols]
            flags[t.group] = flags.get(t.group, False) or bool(np.any(th < SINGULAR_TOL))
        return flags

    # -- inference --------------------------------------------------------------------
    @cached_property
    @with_serial_blas
    def fe_df(self) -> pd.Series:
        """Satterthwaite denominator df per coefficient (lmerTest's method)."""
        from interlace.inference.satterthwaite import satterthwaite_df

        try:
            df = satterthwaite_df(self._dev, self.theta, self.sigma)
        finally:
            self._restore()
        out = pd.Series(np.asarray(df, dtype=float), index=self.fe_params.index, name="df")
        bad = out.index[~np.isfinite(out.to_numpy())]
        if len(bad):
            warn(f"Satterthwaite df not finite for {', '.join(bad)} ({out[bad].tolist()}): the "
                 "deviance's Hessian in the variance parameters is singular or indefinite "
                 "here, so its inverse (the df's denominator) is not determined",
                 ConvergenceWarning)
        return out

    @property
    def fe_tvalues(self) -> pd.Series:
        """t values: estimate / SE."""
        return (self.fe_params / self.fe_bse).rename("t value")

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
    def confint(self, method: str = "wald", level: float = 0.95, parm=None) -> pd.DataFrame:
        """Confidence intervals: ``"wald"`` for the fixed effects (normal quantiles, as lme4's
        ``method="Wald"``) or ``"profile"``, lme4's profile-likelihood intervals for every
        parameter (``.sig01``…, ``.sigma``, fixed effects; see
        :mod:`interlace.inference.profile`).  ``parm``: names to keep (or "theta_"/"beta_"
        for profile)."""
        kind = str(method).lower()
        level = check_level(level)
        if kind == "profile":
            from interlace.inference.profile import profile_confint

            return profile_confint(self, level=level, parm=parm)
        if kind == "boot":
            raise NotImplementedError("confint(method='boot') (lme4's parametric bootstrap) "
                                      "is not implemented; use 'wald' or 'profile'")
        if kind != "wald":
            raise InterlaceError(f"method must be 'wald', 'profile' or 'boot', not {method!r}")
        z = stats.norm.ppf(0.5 + level / 2)
        lo, hi = f"{100 * (1 - level) / 2:.1f} %", f"{100 * (1 + level) / 2:.1f} %"
        est, se = self.fe_params, self.fe_bse
        out = pd.DataFrame({"estimate": est, lo: est - z * se, hi: est + z * se})
        if parm is None:
            return out
        wanted = [parm] if isinstance(parm, str) else list(parm)
        unknown = [p for p in wanted if p not in out.index]
        if unknown:
            raise InterlaceError(f"unknown parameter(s) {unknown}; the fixed effects are "
                                 f"{list(out.index)}")
        return out.loc[wanted]

    # -- statsmodels aliases ------------------------------------------------------------
    params = property(lambda self: self.fe_params, doc="Alias of fe_params.")
    bse = property(lambda self: self.fe_bse, doc="Alias of fe_bse.")
    pvalues = property(lambda self: self.fe_pvalues, doc="Alias of fe_pvalues.")
    tvalues = property(lambda self: self.fe_tvalues, doc="Alias of fe_tvalues.")

    @property
    def llf_restricted(self) -> float | None:
        """The REML log-likelihood for REML fits, None for ML fits."""
        return self.llf if self.method == "REML" else None

    @property
    def deviance_ml(self) -> float:
        """The ML deviance at θ̂ (lme4's ``deviance(m, REML = FALSE)``)."""
        self._restore()
        return self._dev.ml_deviance(self._dev.pls(self.theta))

    @property
    def model(self) -> ModelInfo:
        """Model matrices and metadata."""
        d = self._design
        return ModelInfo(d.X, d.y, list(d.x_names), self.formula.split("~")[0].strip(),
                         {t.group: t.codes for t in d.re_terms}, self.formula, self._data)

    # -- methods implemented elsewhere --------------------------------------------------
    def summary(self, correlation: bool | None = None):
        """A summary that reads like lme4's ``summary(lmerModLmerTest)``; ``correlation``
        as lme4's print option (default: the fixed-effects correlations when p ≤ 12)."""
        from interlace.results.display import Summary

        return Summary(self, correlation=correlation)

    def predict(self, newdata=None, include_re: bool = True,
                allow_new_levels: bool = False) -> np.ndarray:
        """Predictions (lme4's ``predict.merMod``); an unseen or missing grouping level is
        an error unless ``allow_new_levels=True``, which gives it zero random effect."""
        from interlace.results.predict import predict

        return predict(self, newdata, include_re, allow_new_levels)

    def simulate(self, nsim: int = 1, seed: int | None = None) -> np.ndarray:
        """Simulate responses from the fitted model, (n, nsim)."""
        from interlace.results.predict import simulate

        return simulate(self, nsim, seed)

    def update(self, formula: str | None = None, data=None, **kwargs) -> CrossedLMEResult:
        """Refit with a changed formula (lme4 dot syntax), data or fit arguments."""
        from interlace.api import refit

        return refit(self, formula, data, **kwargs)

    def __repr__(self) -> str:
        return (f"<CrossedLMEResult {self.method} {self.formula!r} nobs={self.nobs} "
                f"objective={self.objective:.6f}>")
