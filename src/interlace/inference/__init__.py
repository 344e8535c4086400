"""Inference for fitted linear mixed models: lmerTest's Satterthwaite t-tests and lme4's
profile-likelihood confidence intervals."""

from interlace.inference.numderiv import genD, grad, hessian, jacobian
from interlace.inference.profile import Profile, Profiler, profile_confint
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
    "Profile",
    "Profiler",
    "SatterthwaiteFit",
    "coef_table",
    "contest1d",
    "genD",
    "grad",
    "hessian",
    "jacobian",
    "profile_confint",
    "satterthwaite_df",
    "satterthwaite_fit",
    "vcov_varpar",
]
