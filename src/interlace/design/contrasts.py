"""R's built-in contrast functions and the choice of one for each factor of a model matrix.

R codes a factor in a model matrix by a contrast function: per variable through
``lmer(..., contrasts = list(x = "contr.sum"))`` (the fixed-effects matrix only, as lme4
passes ``contrasts`` to ``model.matrix`` of the fixed part), otherwise by the session's
``options(contrasts = c(unordered, ordered))``, which codes the random-effects matrices too.
:class:`Contrasts` records both; the five functions of R's ``stats`` package are here with
R's column names (``contr.treatment`` and ``contr.SAS`` name columns by level, ``contr.sum``
and ``contr.helmert`` by number, ``contr.poly`` by ``.L``, ``.Q``, ``.C``, ``^4``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from interlace.errors import DataError, InterlaceError

__all__ = ["CONTRASTS", "DEFAULT_CONTRASTS", "Contrasts", "contr_treatment", "contr_sas",
           "contr_sum", "contr_helmert", "contr_poly", "contrast_name", "resolve_contrasts"]


def contr_treatment(levels: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """R ``contr.treatment``: identity without the first (reference) column."""
    k = len(levels)
    return np.eye(k)[:, 1:], tuple(levels[1:])


def contr_sas(levels: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """R ``contr.SAS``: identity without the last column (the last level is the reference)."""
    k = len(levels)
    return np.eye(k)[:, :-1], tuple(levels[:-1])


def _numbered(k: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(1, k))


def contr_sum(levels: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """R ``contr.sum``: identity over the first k - 1 levels, the last level's row all -1."""
    k = len(levels)
    mat = np.vstack([np.eye(k - 1), -np.ones((1, k - 1))])
    return mat, _numbered(k)


def contr_helmert(levels: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """R ``contr.helmert``: column j contrasts level j + 1 with the mean of levels 1..j
    (entries -1 above the diagonal, j on it)."""
    k = len(levels)
    mat = np.zeros((k, k - 1))
    for j in range(1, k):
        mat[:j, j - 1] = -1.0
        mat[j, j - 1] = float(j)
    return mat, _numbered(k)


@lru_cache(maxsize=64)
def _poly(k: int) -> np.ndarray:
    scores = np.arange(1, k + 1, dtype=np.float64)
    y = scores - scores.mean()
    X = np.power.outer(y, np.arange(k, dtype=np.float64))
    Q, R = np.linalg.qr(X)
    Q = Q * np.sign(np.diag(R))
    Q.setflags(write=False)
    return Q[:, 1:]


def contr_poly(levels: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """R ``contr.poly``: orthonormal polynomial contrasts with R's column names.

    Columns are named ``.L``, ``.Q``, ``.C``, ``^4``, ``^5``, ...
    """
    k = len(levels)
    if k > 95:
        raise DataError(f"orthogonal polynomials need at most 95 levels, got {k}")
    names = tuple([".L", ".Q", ".C"][: k - 1] + [f"^{i}" for i in range(4, k)])
    return _poly(k), names


#: R's contrast functions by their R names
CONTRASTS = {
    "contr.treatment": contr_treatment,
    "contr.SAS": contr_sas,
    "contr.sum": contr_sum,
    "contr.helmert": contr_helmert,
    "contr.poly": contr_poly,
}
#: R's default ``options("contrasts")``: (unordered, ordered)
DEFAULT_CONTRASTS = ("contr.treatment", "contr.poly")
_BY_KEY = {name.lower(): name for name in CONTRASTS}
_BY_KEY.update({name.removeprefix("contr.").lower(): name for name in CONTRASTS})


def contrast_name(value: Any, what: str = "contrasts") -> str:
    """R's name of a contrast function given as ``"contr.sum"`` or ``"sum"`` (any case)."""
    if not isinstance(value, str):
        raise InterlaceError(
            f"{what}: a contrast is given by the name of one of R's contrast functions "
            f"({', '.join(CONTRASTS)}), not {type(value).__name__} {value!r}; contrast "
            "matrices and other functions are not supported")
    name = _BY_KEY.get(value.lower())
    if name is None:
        raise InterlaceError(
            f"{what}: unsupported contrast function {value!r}; supported are R's "
            f"{', '.join(CONTRASTS)}")
    return name


@dataclass(frozen=True)
class Contrasts:
    """Which contrast function codes each factor (R's ``contrasts`` argument and options).

    Parameters
    ----------
    by_variable : mapping, optional
        Variable name (as written in the formula, e.g. ``"factor(dose)"``) to contrast
        function, for the fixed-effects matrix only: lmer's ``contrasts = list(...)``.
    unordered, ordered : str
        The session defaults, R's ``options(contrasts = c(unordered, ordered))``: they
        code every other factor, in the random-effects matrices too.

    Names are R's (``"contr.sum"``) or without the prefix (``"sum"``).
    """

    by_variable: Mapping[str, str] = field(default_factory=dict)
    unordered: str = DEFAULT_CONTRASTS[0]
    ordered: str = DEFAULT_CONTRASTS[1]

    def __post_init__(self) -> None:
        if not isinstance(self.by_variable, Mapping):
            raise InterlaceError("contrasts must map variable names to contrast functions, "
                                 f"got {type(self.by_variable).__name__}")
        by = {}
        for key, value in self.by_variable.items():
            if not isinstance(key, str):
                raise InterlaceError(f"contrasts: variable names must be strings, got {key!r}")
            by[key] = contrast_name(value, f"contrasts for {key!r}")
        object.__setattr__(self, "by_variable", by)
        object.__setattr__(self, "unordered", contrast_name(self.unordered, "unordered"))
        object.__setattr__(self, "ordered", contrast_name(self.ordered, "ordered"))

    @property
    def default(self) -> tuple[str, str]:
        """``options("contrasts")``: (unordered, ordered)."""
        return self.unordered, self.ordered

    @property
    def is_default(self) -> bool:
        """R's defaults everywhere (treatment for factors, polynomial for ordered ones)."""
        return not self.by_variable and self.default == DEFAULT_CONTRASTS

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.by_variable.items())), self.unordered, self.ordered))


def resolve_contrasts(arg: Any) -> Contrasts:
    """A :class:`Contrasts` from ``fit``'s ``contrasts=``: None (R's defaults), a
    :class:`Contrasts`, a mapping of variable to function (lmer's ``contrasts``), or a pair
    (unordered, ordered) of defaults (R's ``options(contrasts = )``)."""
    if arg is None:
        return Contrasts()
    if isinstance(arg, Contrasts):
        return arg
    if isinstance(arg, Mapping):
        return Contrasts(arg)
    if isinstance(arg, tuple | list) and len(arg) == 2 and all(isinstance(a, str) for a in arg):
        return Contrasts(unordered=arg[0], ordered=arg[1])
    raise InterlaceError(
        "contrasts must be a mapping of variable names to contrast functions (e.g. "
        "{'treatment': 'contr.sum'}), a pair (unordered, ordered) of defaults as R's "
        f"options(contrasts = ), or interlace.Contrasts; got {arg!r}")
