"""Optimizers over θ, lme4's boundary handling and convergence checks, OptSummary."""

from interlace.optimize.backends import (
    BACKENDS,
    OptResult,
    available_optimizers,
    register,
    unregister,
)
from interlace.optimize.checks import ConvCheck, check_convergence, deriv12
from interlace.optimize.driver import Control, optimize_theta, report_checks, split_control
from interlace.optimize.summary import OptSummary

__all__ = [
    "BACKENDS",
    "ConvCheck",
    "Control",
    "OptResult",
    "OptSummary",
    "available_optimizers",
    "check_convergence",
    "deriv12",
    "optimize_theta",
    "register",
    "report_checks",
    "split_control",
    "unregister",
]
