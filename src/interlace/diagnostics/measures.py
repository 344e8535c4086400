"""``lmer_influence_measures``: observation-level influence measures from one set of refits.

Every observation is deleted and the model refitted exactly
(:func:`interlace.diagnostics.deletion.delete_refits`, by default with HLMdiag's
convention: REML refits, lme4's default start).  With β̂ and vcov(β̂) of the fitted
model, σ̂ its residual standard deviation, and β̂₍₋ᵢ₎, vcov₍₋ᵢ₎, σ̂₍₋ᵢ₎ those of the fit
without observation i, the returned keys are:

``cooks``
    HLMdiag's exact Cook's distance (``cooks.distance.case_delete``, the ``cooksd``
    column of ``hlm_influence(m, approx = FALSE)``):
    (β̂ − β̂₍₋ᵢ₎)ᵀ vcov(β̂)⁻¹ (β̂ − β̂₍₋ᵢ₎) / p.
``hat_overall``, ``hat_fixef``
    HLMdiag's ``leverage(m)`` columns ``overall`` (H1 + H2) and ``fixef`` (H1)
    (:func:`interlace.diagnostics.leverage.leverage`).
``hat``
    The leverage to flag with: ``hat_overall`` when the model has a single grouping
    factor, ``hat_fixef`` otherwise (crossed or several factors).
``dfbetas``
    lme4's ``dfbetas`` formula on the same refits: (β̂₍₋ᵢ₎ − β̂)ⱼ / √vcov₍₋ᵢ₎,ⱼⱼ
    (``dfbetas.influence.merMod``; for a REML model refitted by REML this is lme4's
    ``dfbetas(influence(m))``).
``dffits``
    Belsley–Kuh–Welsch DFFITS of the marginal fitted value xᵢᵀβ̂:
    xᵢᵀ(β̂ − β̂₍₋ᵢ₎) / ((σ̂₍₋ᵢ₎ / σ̂) √(xᵢᵀ vcov(β̂) xᵢ)); for a linear model (no random
    effects, vcov = σ̂²(XᵀX)⁻¹) it is exactly R's ``dffits`` (ŷᵢ − ŷᵢ₍ᵢ₎)/(s₍ᵢ₎√hᵢᵢ).
``residuals``
    Conditional residuals y − Xβ̂ − Zb̂ (lme4's ``residuals(m)``, HLMdiag's ``.resid``).
``sigma``
    σ̂₍₋ᵢ₎, the residual standard deviation of each deleted fit (as ``sigma`` of R's
    ``influence()`` for linear models).

Vectors are pandas Series and ``dfbetas`` a DataFrame (coefficients as columns), all
indexed by the observations' row labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interlace.diagnostics.deletion import delete_refits

__all__ = ["lmer_influence_measures"]


def lmer_influence_measures(res, n_jobs: int = 1, show_progress: bool = False, *,
                            method: str = "REML", warm_start: bool = False) -> dict:
    """Influence measures of every observation (see the module docstring for each key).

    Parameters
    ----------
    res : CrossedLMEResult
    n_jobs : int
        Parallel workers for the refits (joblib; -1 = all CPUs).
    show_progress : bool
        tqdm progress bar over the refits.
    method : {"REML", "model"}
        Criterion of the refits: REML (HLMdiag's convention, default) or the model's.
    warm_start : bool
        Start lme4's optimizer at θ̂ (lme4's influence) rather than at its default start
        (HLMdiag); it matters only for refits that fall back to that optimizer.

    Returns
    -------
    dict
        Keys ``cooks``, ``hat``, ``hat_overall``, ``hat_fixef``, ``dfbetas``, ``dffits``,
        ``residuals``, ``sigma``.
    """
    from interlace.diagnostics.leverage import leverage

    d = delete_refits(res, "1", method=method, warm_start=warm_start, n_jobs=n_jobs,
                      show_progress=show_progress)
    labels = d.labels
    beta = res.fe_params.to_numpy()
    V = np.asarray(res.fe_cov)
    p = len(beta)
    diff = beta[None, :] - d.fixef.to_numpy()  # β̂ − β̂₍₋ᵢ₎
    cooks = np.einsum("ui,ij,uj->u", diff, np.linalg.inv(V), diff) / p
    se_del = np.sqrt(np.diagonal(d.vcov, axis1=1, axis2=2))
    dfbetas = pd.DataFrame(-diff / se_del, index=labels, columns=res.fe_params.index)
    X = res._design.X
    sig_del = np.sqrt(d.sigma2)
    dffits = (np.einsum("ij,ij->i", X, diff)
              / ((sig_del / res.sigma) * np.sqrt(np.einsum("ij,jk,ik->i", X, V, X))))
    lev = leverage(res)
    one_factor = len({t.group for t in res._design.re_terms}) == 1
    hat_overall = pd.Series(lev["overall"].to_numpy(), index=labels, name="hat_overall")
    hat_fixef = pd.Series(lev["fixef"].to_numpy(), index=labels, name="hat_fixef")
    return {
        "cooks": pd.Series(cooks, index=labels, name="cooks"),
        "hat": (hat_overall if one_factor else hat_fixef).rename("hat"),
        "hat_overall": hat_overall,
        "hat_fixef": hat_fixef,
        "dfbetas": dfbetas,
        "dffits": pd.Series(dffits, index=labels, name="dffits"),
        "residuals": pd.Series(np.asarray(res.resid), index=labels, name="residuals"),
        "sigma": pd.Series(sig_del, index=labels, name="sigma"),
    }
