"""A design's deviance functions (lme4's ``mkLmerDevfun`` / ``mkGlmerDevfun``).

The stage between the model matrices (:mod:`interlace.design`) and the optimizer: the θ
layout of the random-effects terms, and the LMM (:mod:`interlace.deviance.lmm`) or GLMM
(:mod:`interlace.deviance.glmm`) deviance of the design.
"""

from __future__ import annotations

import numpy as np

from interlace.covariance import CovarianceLayout
from interlace.deviance.glmm import GlmmDeviance
from interlace.deviance.lmm import LmmDeviance
from interlace.errors import DataError, ModelSpecError
from interlace.family import Family
from interlace.formula.ast import deparse
from interlace.linalg.crossprod import TermData

__all__ = ["build_deviance", "build_glmm_deviance", "layout_and_terms"]


def layout_and_terms(design) -> tuple[CovarianceLayout, list[TermData]]:
    """θ's layout and the terms' data of a design (lme4's ``mkReTrms`` output)."""
    if not design.re_terms:
        raise ModelSpecError("No random effects terms specified in formula")
    layout = CovarianceLayout.from_terms(
        [t.group for t in design.re_terms],
        [t.col_names for t in design.re_terms],
        [len(t.levels) for t in design.re_terms],
    )
    return layout, [TermData(t.codes, t.Xi, len(t.levels)) for t in design.re_terms]


def build_deviance(design, method: str = "REML", backend: str = "auto"):
    """The covariance layout and deviance function of a design (lme4's ``mkLmerDevfun``)."""
    layout, terms = layout_and_terms(design)
    n, p = design.X.shape
    if method == "REML" and n - p <= 0:
        raise ModelSpecError(f"REML needs more observations ({n}) than fixed effects ({p})")
    dev = LmmDeviance(design.X, design.y, terms, layout, weights=design.weights,
                      reml=(method == "REML"), backend=backend, offset=design.offset)
    check_residual_variation(design, dev)
    return layout, dev


def build_glmm_deviance(design, family: Family, backend: str = "auto"):
    """The covariance layout and GLMM deviance functions of a design built with a family
    (lme4's ``mkGlmerDevfun``; :mod:`interlace.deviance.glmm`)."""
    layout, terms = layout_and_terms(design)
    dev = GlmmDeviance(design.X, design.y, design.n_trials, design.weights, design.offset,
                       terms, layout, family, backend)
    return layout, dev


def check_residual_variation(design, dev: LmmDeviance) -> None:
    """A response that X fits exactly leaves pwrss = 0 at every θ (lme4: logLik +∞)."""
    y = design.y if design.offset is None else design.y - design.offset
    scale = float(np.linalg.norm(y))
    if design.X.shape[1] and scale > 0 and \
            float(np.linalg.norm(dev.cp.y0)) <= 16 * np.finfo(float).eps * scale:
        name = deparse(design.spec.formula.response)
        raise DataError(f"response '{name}' is fitted exactly by the fixed effects (its "
                        "residuals are rounding noise): the variance components cannot be "
                        "estimated")


