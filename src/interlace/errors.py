"""Exceptions and warnings raised by interlace.

Every error names the column, term or value at fault; messages follow lme4's
wording where lme4 has one, so users can search for either.
"""

from __future__ import annotations


class InterlaceError(ValueError):
    """Base class for invalid model specifications or data."""


class FormulaError(InterlaceError):
    """The formula cannot be parsed or refers to something that does not exist."""


class DataError(InterlaceError):
    """The data cannot support the model (missing columns, bad types, no rows...)."""


class ModelSpecError(InterlaceError):
    """The random-effects structure cannot be estimated from these data."""


class InterlaceWarning(UserWarning):
    """Base class for interlace warnings."""


class ConvergenceWarning(InterlaceWarning):
    """The optimizer stopped without meeting lme4's convergence checks."""


class SingularFitWarning(InterlaceWarning):
    """boundary (singular) fit: a variance component is (near) zero."""


class RankDeficiencyWarning(InterlaceWarning):
    """The fixed-effect model matrix is rank deficient; columns were dropped."""


class MissingDataWarning(InterlaceWarning):
    """Rows with missing values were dropped (na_action="omit")."""
