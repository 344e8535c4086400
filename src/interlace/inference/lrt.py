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

__all__ = ["anova", "ranova"]

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


def anova(*models, refit: bool = True, model_names: Sequence[str] | None = None,
          type: str | int = 3, ddf: str = "Satterthwaite") -> pd.DataFrame:
    """lme4's likelihood-ratio table of two or more fitted models, or lmerTest's F tests
    of one LMM fit's terms.

    With one model, ``anova(res, type=3, ddf="Satterthwaite")`` is lmerTest's
    ``anova(m, type, ddf)`` (:func:`interlace.inference.ftests.single_anova`: types 1–3,
    ``"Satterthwaite"``, ``"Kenward-Roger"`` or ``"lme4"``); ``type`` and ``ddf`` apply
    only then.

    Parameters
    ----------
    *models : CrossedLMEResult or GlmmResult
        Models fitted to the same data (two or more for the likelihood-ratio table).
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
    if len(models) == 1:
        from interlace.inference.ftests import single_anova

        if not hasattr(models[0].__class__, "satterthwaite"):
            raise InterlaceError("anova() of a single model is lmerTest's F tests, for "
                                 "linear mixed model fits (interlace.fit)")
        return single_anova(models[0], type=type, ddf=ddf)
    if not models:
        raise InterlaceError("anova() needs at least one fitted model")
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


# -- lmerTest's ranova ----------------------------------------------------------------------
RANOVA_COLUMNS = ["npar", "logLik", "AIC", "LRT", "Df", "Pr(>Chisq)"]


def _term_labels(lhs) -> list[str]:
    return [":".join(str(v) for v in term) for term in lhs.terms]


def _drop_scope(labels: list[str]) -> list[str]:
    """R's ``drop.scope``: the terms not contained in a higher-order term."""
    parts = [set(lab.split(":")) for lab in labels]
    return [lab for lab, s in zip(labels, parts, strict=True)
            if not any(s < other for other in parts)]


def _reductions(term) -> dict[str, str | None]:
    """lmerTest's ``get_newforms`` for one random term: {row name: the term replacing it
    (None: removed)} — a term with no variables is removed; otherwise each droppable term
    of its left side is dropped in turn, and dropping the last one leaves ``(1 | group)``."""
    labels = _term_labels(term.lhs)
    scope = _drop_scope(labels)
    if not labels or not scope:
        return {f"({term.text})": None}
    group = term.text.split("|", 1)[1].strip()
    out = {}
    for scp in scope:
        rest = [lab for lab in labels if lab != scp]
        if not rest:
            lhs = "1"
        else:
            lhs = " + ".join(rest) if term.lhs.intercept else "0 + " + " + ".join(rest)
        out[f"{scp} in ({term.text})"] = f"{lhs} | {group}"
    return out


def _lm_loglik(res, reml: bool) -> tuple[float, int]:
    """R's ``logLik(lm(...), REML)`` of the model's fixed part alone, and its df (p + 1)."""
    d = res._design
    w = np.ones(res.nobs) if d.weights is None else np.asarray(d.weights, dtype=float)
    y = np.asarray(d.y, dtype=float) - (0.0 if d.offset is None else np.asarray(d.offset))
    sw = np.sqrt(w)
    Q, R = np.linalg.qr(d.X * sw[:, None])
    resid = sw * y - Q @ (Q.T @ (sw * y))
    n, p = float(res.nobs), d.X.shape[1]
    N = n - p if reml else n
    val = 0.5 * (np.sum(np.log(w)) - N * (np.log(2 * np.pi) + 1 - np.log(N)
                                          + np.log(np.sum(resid**2))))
    if reml:
        val -= np.sum(np.log(np.abs(np.diag(R))))
    return float(val), p + 1


def ranova(res, reduce_terms: bool = True) -> pd.DataFrame:
    """lmerTest's ``ranova(m)``: a likelihood-ratio test of each random-effects term.

    Each term is reduced (``reduce_terms``: a slope dropped from its term, leaving the
    intercept; an intercept-only term removed) or removed, the model refitted with the same
    criterion (REML stays REML), and the reduced model's log-likelihood compared with the
    full model's: ``LRT = 2·(logLik_full − logLik_reduced)``, ``Df`` the difference in
    parameters.  With no random term left, the reduced model is R's ``lm`` and its
    (REML) log-likelihood R's ``logLik.lm``.

    Returns
    -------
    DataFrame
        Rows ``<none>`` and one per reduction, named as lmerTest names them
        (``"Days in (Days | Subject)"``, ``"(1 | plate)"``); columns ``npar``, ``logLik``,
        ``AIC``, ``LRT``, ``Df``, ``Pr(>Chisq)``; ``attrs["formulae"]`` the reduced models.
    """
    from interlace.formula import compose_formula

    if not hasattr(res, "method") or res.method not in ("REML", "ML"):
        raise InterlaceError("ranova() takes a linear mixed model fit (interlace.fit)")
    reml = res.method == "REML"
    f = compose_formula(res.formula)
    terms = list(f.random)
    rows: dict[str, tuple[float, float]] = {"<none>": (float(res.nparams), float(res.llf))}
    formulae = {}
    for k, term in enumerate(terms):
        reduced = (_reductions(term) if reduce_terms
                   else {f"({term.text})": None})
        for name, new in reduced.items():
            others = [f"({t.text})" for j, t in enumerate(terms) if j != k]
            if new is not None:
                others.insert(k, f"({new})")
            rhs = " + ".join([str(f.fixed), *others])
            formula = f"{f.response} ~ {rhs}"
            formulae[name] = formula
            if others:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fit = res.update(formula)
                if fit.nobs != res.nobs:
                    raise InterlaceError("number of rows in use has changed: remove missing "
                                         "values?")
                rows[name] = (float(fit.nparams), float(fit.llf))
            else:
                ll, df = _lm_loglik(res, reml)
                rows[name] = (float(df), ll)
    npar = np.array([v[0] for v in rows.values()])
    llk = np.array([v[1] for v in rows.values()])
    lrt = np.r_[np.nan, 2.0 * (llk[0] - llk[1:])]
    df = np.r_[np.nan, npar[0] - npar[1:]]
    with np.errstate(invalid="ignore"):
        p = np.where(df > 0, stats.chi2.sf(lrt, np.where(df > 0, df, 1.0)), np.nan)
    p[0] = np.nan
    table = pd.DataFrame({"npar": npar, "logLik": llk, "AIC": -2.0 * llk + 2.0 * npar,
                          "LRT": lrt, "Df": df, "Pr(>Chisq)": p},
                         index=pd.Index(list(rows)), columns=RANOVA_COLUMNS)
    table.attrs["formulae"] = formulae
    return table
