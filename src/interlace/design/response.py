"""A GLMM's response, as R's ``family$initialize`` reads it (lme4's ``mkRespMod``).

The binomial family takes the forms R takes:

* 0/1 numbers, a logical, or a two-level factor (its first level is failure, as R's
  ``y != levels(y)[1]``): one trial per row;
* a proportion with ``weights`` = the totals;
* ``cbind(successes, failures)`` on the left of the formula: ``n = s + f`` trials,
  ``y = s / n``, and the prior weights become ``weights · n``.

Other families take a numeric vector.  :meth:`interlace.family.Family.initialize` checks
the values with R's messages and gives ``mustart``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interlace.design.evaluate import Factor, Logical, Value
from interlace.errors import DataError
from interlace.family import Family

__all__ = ["GlmResponse", "glm_response"]


@dataclass(frozen=True)
class GlmResponse:
    """y (proportions for the binomial family), trials n, prior weights and ``mustart``."""

    y: np.ndarray
    n: np.ndarray
    weights: np.ndarray
    mustart: np.ndarray


def glm_response(value: Value, family: Family, weights: np.ndarray | None,
                 name: str) -> GlmResponse:
    """The response of a GLMM from the evaluated left-hand side ``value``."""
    if isinstance(value, Factor):
        if family.name != "binomial":
            raise DataError(f"response '{name}' is a factor: only the binomial family takes a "
                            "factor response")
        if len(value.levels) > 2:
            raise DataError(f"response '{name}' is a factor with {len(value.levels)} levels; a "
                            "binomial response factor needs two (the first is failure)")
        y = (value.codes > 0).astype(float)
    elif isinstance(value, Logical):
        y = np.asarray(value.values, dtype=float)
    else:
        y = np.asarray(value, dtype=float)
        if y.ndim == 2 and y.shape[1] != 2:
            raise DataError(f"response '{name}' has {y.shape[1]} columns; cbind(successes, "
                            "failures) has two")
    w = np.ones(y.shape[0]) if weights is None else np.asarray(weights, dtype=float)
    yy, n, wt, mustart = family.initialize(y, w, f"'{name}'")
    return GlmResponse(yy, n, wt, mustart)
