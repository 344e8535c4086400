"""Influence diagnostics: residuals, leverage, one-step and exact case-deletion measures.

* HLMdiag 0.5.1.9000 semantics: :func:`hlm_resid`, :func:`leverage`, :func:`hlm_influence`
  (``approx=True`` one-step formulas, ``approx=False`` exact refits), the standalone
  :func:`cooks_distance`, :func:`mdffits`, :func:`covtrace`, :func:`covratio`, :func:`rvc`,
  and :func:`hlm_augment`;
* lme4 1.1-31's ``influence.merMod``: :func:`influence` (exact refits, warm-started at θ̂);
* :func:`lmer_influence_measures` (all-in-one) and :func:`ols_dfbetas_qr` (statsmodels OLS);
* :func:`n_influential`: how many units a measure flags by the guide's rules of thumb;
* the refit engine itself: :func:`delete_refits` / :class:`Deletions`.
"""

from interlace.design.frames import native_output
from interlace.diagnostics.deletion import Deletions, delete_refits, deletions_at
from interlace.diagnostics.flags import n_influential
from interlace.diagnostics.hlm import (
    cooks_distance,
    covratio,
    covtrace,
    hlm_augment,
    hlm_influence,
    mdffits,
    rvc,
)
from interlace.diagnostics.influence import Influence, influence
from interlace.diagnostics.leverage import leverage
from interlace.diagnostics.measures import lmer_influence_measures
from interlace.diagnostics.ols import ols_dfbetas_qr
from interlace.diagnostics.residuals import hlm_resid

# the public diagnostic frames come back in the kind of frame the fit was made from
# (pandas or polars: interlace.design.frames); the modules' own functions stay pandas
hlm_influence, hlm_augment, hlm_resid, leverage = (
    native_output(f) for f in (hlm_influence, hlm_augment, hlm_resid, leverage))

__all__ = [
    "Deletions",
    "Influence",
    "cooks_distance",
    "covratio",
    "covtrace",
    "delete_refits",
    "deletions_at",
    "hlm_augment",
    "hlm_influence",
    "hlm_resid",
    "influence",
    "leverage",
    "lmer_influence_measures",
    "mdffits",
    "n_influential",
    "ols_dfbetas_qr",
    "rvc",
]
