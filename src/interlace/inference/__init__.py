"""Inference for fitted linear mixed models: lmerTest's Satterthwaite t-tests."""

from interlace.inference.numderiv import genD, grad, hessian, jacobian
from interlace.inference.satterthwaite import (
    Contest1D,
    SatterthwaiteFit,
    coef_table,
    contest1d,
    satterthwaite_df,
    satterthwaite_fit,
    vcov_varpar,
)

__all__ = [
    "Contest1D",
    "SatterthwaiteFit",
    "coef_table",
    "contest1d",
    "genD",
    "grad",
    "hessian",
    "jacobian",
    "satterthwaite_df",
    "satterthwaite_fit",
    "vcov_varpar",
]
