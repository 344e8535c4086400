"""interlace: lme4-exact linear mixed-effects models in Python.

``interlace.fit(formula, data)`` fits by REML or ML with lme4's profiled
objective (Bates, Mächler, Bolker & Walker 2015, JSS 67(1)) and returns a
:class:`~interlace.results.result.CrossedLMEResult` whose quantities are named
and keyed as lme4 names them.
"""

# interlace.influence: lme4's influence(), and the reference documents' import path
# (``from interlace.influence import hlm_influence, ...``): one callable module
from interlace import influence
from interlace.api import evaluate_at, evaluate_glmm_at, fit, glmer
from interlace.certification import certify
from interlace.crossval import CrossValResult, cross_val
from interlace.design.contrasts import Contrasts
from interlace.diagnostics import (
    cooks_distance,
    covratio,
    covtrace,
    hlm_augment,
    hlm_influence,
    hlm_resid,
    leverage,
    lmer_influence_measures,
    mdffits,
    n_influential,
    ols_dfbetas_qr,
    rvc,
)
from interlace.errors import (
    ConvergenceError,
    ConvergenceWarning,
    DataError,
    FormulaError,
    InterlaceError,
    MissingDataWarning,
    ModelSpecError,
    RankDeficiencyWarning,
    SingularFitWarning,
)
from interlace.inference.drop1 import drop1
from interlace.inference.ftests import contest
from interlace.inference.lrt import anova, ranova
from interlace.inference.ls_means import difflsmeans, ls_means
from interlace.inference.modcomp import kr_modcomp, sat_modcomp
from interlace.inference.pbmodcomp import pb_modcomp
from interlace.many import fit_many
from interlace.results.glmm import GlmmResult
from interlace.results.result import CrossedLMEResult


def isSingular(result: CrossedLMEResult, tol: float = 1e-4) -> bool:  # noqa: N802 (lme4 name)
    """lme4's ``isSingular``: is some diagonal element of θ below ``tol``?"""
    return result.singular(tol)


__all__ = [
    "CrossValResult",
    "cross_val",
    "fit_many",
    "Contrasts",
    "certify",
    "ConvergenceError",
    "ConvergenceWarning",
    "CrossedLMEResult",
    "GlmmResult",
    "DataError",
    "FormulaError",
    "InterlaceError",
    "MissingDataWarning",
    "ModelSpecError",
    "RankDeficiencyWarning",
    "SingularFitWarning",
    "anova",
    "contest",
    "difflsmeans",
    "drop1",
    "kr_modcomp",
    "ls_means",
    "cooks_distance",
    "covratio",
    "covtrace",
    "evaluate_at",
    "evaluate_glmm_at",
    "fit",
    "glmer",
    "hlm_augment",
    "hlm_influence",
    "hlm_resid",
    "influence",
    "isSingular",
    "leverage",
    "lmer_influence_measures",
    "mdffits",
    "pb_modcomp",
    "ols_dfbetas_qr",
    "ranova",
    "sat_modcomp",
    "rvc",
    "n_influential",
]
__version__ = "0.1.0"
