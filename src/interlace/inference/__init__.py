"""Inference for fitted mixed models: lmerTest's Satterthwaite t-tests and lme4's
profile-likelihood confidence intervals (LMMs and GLMMs)."""

from interlace.inference.glmm_profile import GlmmProfiler, glmm_profile
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
    "GlmmProfiler",
    "Profile",
    "Profiler",
    "SatterthwaiteFit",
    "coef_table",
    "contest1d",
    "genD",
    "glmm_profile",
    "grad",
    "hessian",
    "jacobian",
    "profile_confint",
    "satterthwaite_df",
    "satterthwaite_fit",
    "vcov_varpar",
]
