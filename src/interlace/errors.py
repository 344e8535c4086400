"""Exceptions and warnings raised by interlace.

Every error names the column, term or value at fault; messages follow lme4's
wording where lme4 has one, so users can search for either.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

_PACKAGE = os.path.dirname(os.path.abspath(__file__))


#: standard-library wrappers between the user's line and ours (cached_property, with)
_WRAPPERS = (os.sep + "functools.py", os.sep + "contextlib.py")


def _inside(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_PACKAGE) or filename.endswith(_WRAPPERS)


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the first caller outside interlace (the user's
    line), however deep inside the package the warning arises."""
    frame, level = sys._getframe(1), 2  # stacklevel 2 is warn()'s caller
    while frame is not None and _inside(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


class InterlaceError(ValueError):
    """Base class for invalid model specifications or data."""


class FormulaError(InterlaceError):
    """The formula cannot be parsed or refers to something that does not exist."""


class DataError(InterlaceError):
    """The data cannot support the model (missing columns, bad types, no rows...)."""


class ModelSpecError(InterlaceError):
    """The random-effects structure cannot be estimated from these data."""


class ConvergenceError(InterlaceError):
    """A convergence check whose action is "stop" failed (lme4's ``check.conv.*``)."""


class NumericalError(InterlaceError, np.linalg.LinAlgError):
    """The objective cannot be evaluated at some θ (a factorization failed).

    Also a :class:`numpy.linalg.LinAlgError`, so code catching that keeps working.
    """


class InterlaceWarning(UserWarning):
    """Base class for interlace warnings."""


class ConvergenceWarning(InterlaceWarning):
    """The optimizer stopped without meeting lme4's convergence checks."""


class SingularFitWarning(ConvergenceWarning):
    """boundary (singular) fit: a variance component is (near) zero.

    A :class:`ConvergenceWarning`, as the reference documents promise, so that filtering
    either catches it; lme4 says it with a message ("boundary (singular) fit: see
    help('isSingular')"), not as a convergence failure, and interlace's text is lme4's."""


class RankDeficiencyWarning(InterlaceWarning):
    """The fixed-effect model matrix is rank deficient; columns were dropped."""


class MissingDataWarning(InterlaceWarning):
    """Rows with missing values were dropped (na_action="omit")."""


class ZeroWeightWarning(InterlaceWarning):
    """Rows with zero prior weight were left out of the fit (they carry no information)."""


class ResponseWarning(InterlaceWarning):
    """The response has values R's family warns about (non-integer binomial counts)."""


class ModelCheckWarning(InterlaceWarning):
    """One of lme4's input checks (``check.scaleX``, ``check.nlev.gtreq.5``, ...) fired."""
