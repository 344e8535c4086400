"""Likelihood-ratio comparison of nested mixed models: lme4's ``anova(m0, m1, ...)``.

lme4 1.1-31 (``anova.merMod`` with ``refit = TRUE``):

* every model must have the same number of observations ("models were not all fitted to
  the same size of dataset") and the same data;
* each REML fit is refitted by ML from its own θ̂ (lme4's ``refitML``) — the LRT compares
  ML log-likelihoods; GLMMs and ML fits are taken as they are;
* rows are ordered by the number of parameters (``npar``: fixed effects, θ and σ where
  the family has one; ties keep the given order);
* ``AIC``, ``BIC``, ``logLik``, ``deviance`` (−2·logLik) per model, then for every row
  after the first ``Chisq = 2·max(0, ΔlogLik)`` and ``Df = Δnpar`` against the row before
  it, and ``Pr(>Chisq)`` the upper χ² tail (missing where ``Df`` is 0).

The refit is lme4's: minqa's BOBYQA (interlace's port) from θ̂ with minqa's defaults.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from interlace.errors import InterlaceError

__all__ = ["anova"]

COLUMNS = ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]


def _is_reml(res) -> bool:
    return getattr(res, "method", None) == "REML"


def refit_ml(res):
    """An ML refit of a REML fit from its θ̂ as lme4's ``refitML``: minqa's BOBYQA with
    its defaults, no restart at the edge and no boundary snap (lme4 calls ``optwrap``
    alone); other fits unchanged."""
    if not _is_reml(res):
        return res
    control = {"start": np.array(res.theta), "restart_edge": False, "boundary_tol": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return res.update(method="ML", optimizer="minqa", control=control)


def anova(*models, refit: bool = True, model_names: Sequence[str] | None = None
          ) -> pd.DataFrame:
    """lme4's likelihood-ratio table of two or more fitted models.

    Parameters
    ----------
    *models : CrossedLMEResult or GlmmResult
        Models fitted to the same data (at least two).
    refit : bool
        Refit REML fits by ML first (lme4's default); with False, REML and ML fits are
        compared as they are (lme4 warns when they are mixed, and so does this).
    model_names : sequence of str, optional
        Row names (lme4 uses the arguments' names; default ``MODEL1``, ``MODEL2``, ...).

    Returns
    -------
    DataFrame
        Indexed by model name, in lme4's row order, with lme4's columns ``npar``, ``AIC``,
        ``BIC``, ``logLik``, ``deviance``, ``Chisq``, ``Df``, ``Pr(>Chisq)``; ``attrs``
        holds lme4's heading (``"models"``: each row's formula) and the fits compared
        (``"fits"``, after any ML refit).
    """
    if len(models) < 2:
        raise InterlaceError("anova() of a single model (lmerTest's F tests) is not "
                             "available yet; give two or more models for the "
                             "likelihood-ratio table")
    names = ([f"MODEL{i + 1}" for i in range(len(models))] if model_names is None
             else [str(n) for n in model_names])
    if len(names) != len(models):
        raise InterlaceError("model names vector and model list have different lengths")
    if len(set(names)) != len(names):
        raise InterlaceError(f"model names must be distinct, got {names}")
    for m in models:
        if not hasattr(m, "llf") or not hasattr(m, "nparams"):
            raise InterlaceError(f"anova() compares fitted models, got {type(m).__name__}")
    nobs = [m.nobs for m in models]
    if len(set(nobs)) > 1:
        raise InterlaceError("models were not all fitted to the same size of dataset "
                             f"(nobs {nobs})")
    data0 = models[0]._data
    for m in models[1:]:
        same = m._data is data0 or (isinstance(data0, pd.DataFrame)
                                    and isinstance(m._data, pd.DataFrame)
                                    and m._data.equals(data0))
        if not same:
            raise InterlaceError("all models must be fit to the same data object")
    reml = [_is_reml(m) for m in models]
    refitted = [nm for nm, r in zip(names, reml, strict=True) if r and refit]
    if refit:
        fits = [refit_ml(m) for m in models]
    else:
        if any(reml) and not all(reml):
            warnings.warn("some models fit with REML = TRUE, some not", UserWarning,
                          stacklevel=2)
        fits = list(models)
    npar = np.array([f.nparams for f in fits], dtype=float)
    order = np.argsort(npar, kind="stable")
    fits = [fits[i] for i in order]
    names = [names[i] for i in order]
    npar = npar[order]
    llk = np.array([f.llf for f in fits], dtype=float)
    n = float(fits[0].nobs)
    chisq = np.r_[np.nan, 2.0 * np.maximum(0.0, np.diff(llk))]
    df = np.r_[np.nan, np.diff(npar)]
    with np.errstate(invalid="ignore"):
        p = np.where(df == 0, np.nan, stats.chi2.sf(chisq, df))
    table = pd.DataFrame({"npar": npar, "AIC": -2.0 * llk + 2.0 * npar,
                          "BIC": -2.0 * llk + np.log(n) * npar, "logLik": llk,
                          "deviance": -2.0 * llk, "Chisq": chisq, "Df": df,
                          "Pr(>Chisq)": p}, index=pd.Index(names), columns=COLUMNS)
    table.attrs["models"] = {nm: f.formula for nm, f in zip(names, fits, strict=True)}
    table.attrs["fits"] = dict(zip(names, fits, strict=True))
    table.attrs["refitted_ml"] = refitted  # lme4: "refitting model(s) with ML"
    return table
