"""Data to model matrices with R / lme4 semantics.

:func:`build_design` is the ``lFormula`` equivalent: it evaluates the formula's
variables, removes rows with missing values, builds the fixed-effects matrix
exactly like R's ``model.matrix`` (dropping rank-deficient columns like lme4),
and the random-effects terms like lme4's ``mkReTrms``.
"""

from interlace.design.build import Design, ReTerm, build_design
from interlace.design.contrasts import (
    CONTRASTS,
    Contrasts,
    contr_helmert,
    contr_poly,
    contr_sas,
    contr_sum,
    contr_treatment,
)
from interlace.design.evaluate import Factor, Logical
from interlace.design.grouping import GroupSpec, lme4_term_order
from interlace.design.model_matrix import model_matrix
from interlace.design.qr import QRResult, qr_linpack
from interlace.design.spec import DesignSpec, NewDesign

__all__ = [
    "build_design",
    "Design",
    "ReTerm",
    "DesignSpec",
    "NewDesign",
    "GroupSpec",
    "Factor",
    "Logical",
    "model_matrix",
    "contr_poly",
    "contr_treatment",
    "contr_sas",
    "contr_sum",
    "contr_helmert",
    "CONTRASTS",
    "Contrasts",
    "qr_linpack",
    "QRResult",
    "lme4_term_order",
]
