"""Single-term deletions: lmerTest 3.1-3's ``drop1(m, scope, ddf)`` and lme4 1.1-31's
``drop1.merMod`` (``ddf = "lme4"``).

lmerTest tests each marginal term (R's ``drop.scope``: terms whose variables are not all in
another term) by an F test (``contestMD``, Satterthwaite or Kenward–Roger) of the
identity rows of its columns (lmerTest's marginal contrasts; type I's when the model has
one column or one term).  When lme4 dropped aliased columns (or with
``force_get_contrasts``), the hypothesis is instead the difference between X and the
model matrix X₀ without the term (``get_Ldiffmat2``): R = the residuals of X on X₀ (columns
with Σ|·| > 1e-8), L = zapsmall(Q)ᵀ with Q the QR basis of XᵀR; an empty difference gives
a NaN row.

lme4's table refits the model without each term (``update(m, ~ . - term)``), and reports
``npar`` (the parameters removed) and ``AIC`` of the ML fits (REML fits refitted by ML from
their θ̂, as ``extractAIC`` → ``refitML``), with ``<none>`` for the model itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interlace.design.fixed_terms import fixed_terms
from interlace.design.model_matrix import model_matrix
from interlace.errors import InterlaceError
from interlace.formula.terms import TermList
from interlace.inference.ftests import DDF, F_COLUMNS, method_tests
from interlace.inference.lmertest_contrasts import hypotheses, lm_resid, zapsmall
from interlace.inference.lrt import refit_ml

__all__ = ["drop1", "drop_scope"]


def drop_scope(ft) -> list[str]:
    """R's ``drop.scope``: the terms none of whose variables sets lies in another term."""
    sets = [frozenset(t) for t in ft.terms.terms]
    return [lab for i, lab in enumerate(ft.labels)
            if not any(j != i and sets[i] <= sets[j] for j in range(len(sets)))]


def _ldiff(X0: np.ndarray, X: np.ndarray) -> np.ndarray:
    """lmerTest's ``get_Ldiffmat2(X0, X)``."""
    R = lm_resid(X0, X)
    R = R[:, np.sum(np.abs(R), axis=0) > 1e-8]
    if R.shape[1] == 0:
        return np.zeros((0, X.shape[1]))
    Q = np.linalg.qr(X.T @ R)[0]
    return zapsmall(Q).T


def drop1(res, scope=None, ddf: str = "Satterthwaite",
          force_get_contrasts: bool = False) -> pd.DataFrame:
    """lmerTest's ``drop1(m, scope, ddf)`` for an LMM fit (see the module docstring).

    Parameters
    ----------
    res : CrossedLMEResult
    scope : list of str, optional
        Marginal terms to test (default: all of them).
    ddf : {"Satterthwaite", "Kenward-Roger", "lme4"}
    force_get_contrasts : bool
        Build the hypotheses from the reduced model matrices even without aliased columns.

    Returns
    -------
    DataFrame
        lmerTest: ``Sum Sq``, ``Mean Sq``, ``NumDF``, ``DenDF``, ``F value``, ``Pr(>F)``
        per term, ``attrs["heading"]`` and ``attrs["hypotheses"]``; lme4: ``npar``,
        ``AIC`` with a ``<none>`` row first.
    """
    if not hasattr(res.__class__, "satterthwaite"):
        raise InterlaceError("drop1() needs a linear mixed model fit (interlace.fit)")
    if ddf not in (*DDF, "lme4"):
        raise InterlaceError(f"ddf must be 'Satterthwaite', 'Kenward-Roger' or 'lme4', not "
                             f"{ddf!r}")
    ft = fixed_terms(res._design, res._data)
    marginal = drop_scope(ft)
    if scope is None:
        scope = marginal
    else:
        scope = [scope] if isinstance(scope, str) else list(scope)
        if not scope:
            raise InterlaceError("'scope' should be a character vector naming terms to be "
                                 "dropped")
        if ddf == "lme4":
            bad = [s for s in scope if s not in ft.labels]
            if bad:
                raise InterlaceError(f"scope is not a subset of term labels: {bad}")
        elif any(s not in marginal for s in scope):
            raise InterlaceError("Only marginal terms can be dropped from the model "
                                 f"(marginal terms: {marginal})")
    if ddf == "lme4":
        return _lme4_drop1(res, scope)
    if res._design.dropped or force_get_contrasts:
        Llist = {}
        for lab in scope:
            j = ft.labels.index(lab)
            rest = tuple(t for i, t in enumerate(ft.terms.terms) if i != j)
            tl = TermList(ft.terms.intercept, rest, (), tuple(
                v for v in ft.terms.variables if any(v in t for t in rest)))
            X0, _, _ = model_matrix(tl, ft.values, ft.n)
            L = _ldiff(X0, ft.X)
            Llist[lab] = L if L.shape[0] else np.full((1, ft.X.shape[1]), np.nan)
    else:
        hyps = hypotheses(ft, "marginal")
        Llist = {lab: hyps[lab] for lab in scope}
    beta = res.fe_params.to_numpy()
    f_test = method_tests(res, ddf)[0]
    rows = []
    for L in Llist.values():
        if np.isnan(L).any():
            rows.append(dict.fromkeys(F_COLUMNS, np.nan))
        else:
            rows.append(f_test(L, beta, res.sigma))
    out = pd.DataFrame(rows, columns=F_COLUMNS, index=pd.Index(list(Llist), dtype=object))
    method = "Satterthwaite's" if ddf == "Satterthwaite" else "Kenward-Roger's"
    out.attrs["heading"] = f"Single term deletions using {method} method:"
    names = list(res.fe_params.index)
    out.attrs["hypotheses"] = {lab: pd.DataFrame(L + 0.0, columns=names)
                               for lab, L in Llist.items()}
    return out


def _lme4_drop1(res, scope) -> pd.DataFrame:
    def df_aic(fit):
        ml = refit_ml(fit)
        return float(ml.nparams), float(-2.0 * ml.llf + 2.0 * ml.nparams)

    rows = [df_aic(res)]
    for lab in scope:
        nfit = res.update(f"~ . - {lab}")
        if nfit.nobs != res.nobs:
            raise InterlaceError("number of rows in use has changed: remove missing values?")
        rows.append(df_aic(nfit))
    df0 = rows[0][0]
    npar = [np.nan] + [df0 - r[0] for r in rows[1:]]
    return pd.DataFrame({"npar": npar, "AIC": [r[1] for r in rows]},
                        index=pd.Index(["<none>", *scope], dtype=object))
