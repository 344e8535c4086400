"""What LMM and GLMM fits share: lme4's ``merMod`` quantities, named as lme4 names them.

Notation as in :mod:`interlace.deviance.lmm` (Bates et al. 2015, JSS 67(1)):
``b = Λθ u``; ``Var(b | y) = σ² Λθ L⁻ᵀL⁻¹ Λθᵀ`` (conditional on β̂, lme4's
``ranef(condVar = TRUE)``), with L the factor of ΛθᵀZᵀWZΛθ + I (for a GLMM, lme4's lagged
factor).  A subclass (:class:`interlace.results.result.CrossedLMEResult`,
:class:`interlace.results.glmm.GlmmResult`) computes β̂, vcov(β̂), σ, u and the objective
its own way and supplies the blocks of (LLᵀ)⁻¹ (``_minv_blocks``).  ``update`` refits with
the function the result was built by (given, not imported: results sit below the API).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from interlace.covariance import CovarianceLayout
from interlace.errors import InterlaceError
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


class MixedResult:
    """A fitted mixed model's shared quantities (see the module docstring).

    Parameters are keyword-only: ``design``, ``layout``, ``theta``, ``beta``, ``fe_cov``,
    ``sigma``, ``u`` (spherical random effects), ``objective`` (lme4's criterion at the
    optimum), ``nparams``, ``opt`` (OptSummary), ``checks`` (ConvCheck), ``formula``,
    ``data``, ``fit_kwargs`` (what ``update`` refits with) and ``refit`` (the fitting
    function ``update`` calls).
    """

    #: does the model have a residual variance (lme4's ``useSc``)?
    has_residual = True

    def __init__(self, *, design, layout: CovarianceLayout, theta, beta, fe_cov, sigma: float,
                 u: np.ndarray, objective: float, nparams: int, opt: OptSummary,
                 checks: ConvCheck, formula: str, data: Any, fit_kwargs: dict,
                 refit: Callable | None = None):
        self._design, self._layout = design, layout
        self.optinfo, self._checks = opt, checks
        self.formula, self._data = formula, data
        self._fit_kwargs, self._refit = fit_kwargs, refit
        names = list(design.x_names)
        self.nobs = int(design.n)
        self.theta = np.asarray(theta, dtype=float)
        self.theta_names = layout.names()
        self.sigma = float(sigma)
        self.scale = self.sigma**2
        self.fe_cov = np.asarray(fe_cov, dtype=float)
        self.fe_params = pd.Series(np.asarray(beta, dtype=float), index=names, name="Estimate")
        self.fe_bse = pd.Series(np.sqrt(np.diag(self.fe_cov)), index=names, name="Std. Error")
        self.objective = float(objective)
        self.nparams = int(nparams)
        self.llf = -0.5 * self.objective
        self.aic = -2.0 * self.llf + 2.0 * self.nparams
        self.bic = -2.0 * self.llf + self.nparams * np.log(self.nobs)
        self.converged = bool(opt.converged and checks.code == 0)
        self.conv_messages = list(checks.messages)
        self._u = np.asarray(u, dtype=float)
        self._b = self._spherical_to_b(self._u)
        self.ngroups = {t.group: len(t.levels) for t in design.re_terms}

    def _minv_blocks(self) -> list[np.ndarray]:  # pragma: no cover - abstract
        """Diagonal per-level blocks of (LLᵀ)⁻¹ per term, each (levels, p, p)."""
        raise NotImplementedError

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

    @cached_property
    @with_serial_blas
    def _condvar(self) -> list[np.ndarray]:
        blocks = self._minv_blocks()
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
        return pd.DataFrame(self._layout.varcorr(self.theta, self.sigma,
                                                 residual=self.has_residual))

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
        if self.has_residual:
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

    # -- Wald intervals, aliases ---------------------------------------------------------
    @property
    def fe_tvalues(self) -> pd.Series:
        """Estimate / SE (lme4's t value, or z value for a GLMM)."""
        return (self.fe_params / self.fe_bse).rename("t value")

    def _wald(self, level: float, parm) -> pd.DataFrame:
        """Normal-quantile intervals of the fixed effects (lme4's ``confint(method="Wald")``)."""
        level = check_level(level)
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

    params = property(lambda self: self.fe_params, doc="Alias of fe_params.")
    bse = property(lambda self: self.fe_bse, doc="Alias of fe_bse.")
    pvalues = property(lambda self: self.fe_pvalues, doc="Alias of fe_pvalues.")
    tvalues = property(lambda self: self.fe_tvalues, doc="Alias of fe_tvalues.")

    @property
    def contrasts(self) -> dict[str, str]:
        """How each factor of the fixed part is coded, by variable: R's
        ``attr(model.matrix(m), "contrasts")`` (e.g. ``{"Machine": "contr.treatment"}``)."""
        return self._design.spec.x_contrasts

    @property
    def model(self) -> ModelInfo:
        """Model matrices and metadata."""
        d = self._design
        return ModelInfo(d.X, d.y, list(d.x_names), self.formula.split("~")[0].strip(),
                         {t.group: t.codes for t in d.re_terms}, self.formula, self._data)

    def all_fit(self, optimizers=None):
        """lme4's ``allFit``: this model refitted with every available optimizer (or those
        given: names, registered names or callables), one row each — objective and gap to
        the best, evaluations, convergence, time, warnings, errors, θ and β
        (:func:`interlace.results.all_fit.all_fit`)."""
        from interlace.results.all_fit import all_fit

        return all_fit(self, optimizers)

    def update(self, formula: str | None = None, data=None, **kwargs):
        """Refit with a changed formula (lme4 dot syntax), data or fit arguments."""
        from interlace.formula import update_formula

        if self._refit is None:
            raise InterlaceError("this result was not built by a fitting function: nothing "
                                 "to refit with")
        unknown = set(kwargs) - set(self._fit_kwargs)
        if unknown:
            raise InterlaceError(f"unknown argument(s) {', '.join(sorted(unknown))}; update() "
                                 f"takes formula, data and {', '.join(self._fit_kwargs)}")
        new_formula = (self.formula if formula is None
                       else update_formula(self.formula, formula).text)
        return self._refit(new_formula, self._data if data is None else data,
                           **{**self._fit_kwargs, **kwargs})
