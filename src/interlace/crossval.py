"""``interlace.cross_val``: cross-validation with splits at the level of a grouping factor.

Observations of one group share its random effect, so splitting rows at random lets a
test row borrow its group's BLUP from the training rows and flatters the error.  Here
every fold holds out whole groups of one grouping factor (``split_by``):

* ``cv="logo"``: leave one group out, one fold per group (in the factor's sorted order);
* ``cv="kfold"``: the groups shuffled (``seed``) and dealt into ``n_splits`` folds of
  nearly equal numbers of groups.

Each fold refits the model on the training rows with :func:`interlace.fit` (the same
formula and keyword arguments) and predicts the held-out rows with
``allow_new_levels=True``: a held-out group's random effects are unknown, so its rows are
predicted at the population level (other, crossed factors keep their BLUPs where their
levels were seen).  The score compares those predictions with the held-out responses:
``"rmse"``, ``"mae"`` or a callable ``score(y_true, y_pred) -> float``.  Rows whose
response or prediction is missing are left out of the score, and the fold says how many.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from interlace.errors import DataError, InterlaceError
from interlace.parallel import run

SCORES = {
    "rmse": lambda y, p: float(np.sqrt(np.mean((y - p) ** 2))),
    "mae": lambda y, p: float(np.mean(np.abs(y - p))),
}


@dataclass
class Fold:
    """One fold: the held-out groups and rows, the model fitted without them, the score."""

    index: int
    test_groups: list
    test_rows: pd.Index
    model: object
    score: float
    n_scored: int
    n_dropped: int = 0


@dataclass
class CrossValResult:
    """Scores per fold (``scores``), their ``mean`` and ``std`` (population standard
    deviation, numpy's and scikit-learn's convention), and every fold's model."""

    folds: list[Fold]
    scoring: str
    cv: str
    split_by: str
    scores: np.ndarray = field(init=False)

    def __post_init__(self):
        self.scores = np.array([f.score for f in self.folds])

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        return float(np.std(self.scores))

    @property
    def models(self) -> list:
        """The per-fold fits, in fold order."""
        return [f.model for f in self.folds]

    def to_frame(self) -> pd.DataFrame:
        """One row per fold: held-out groups, rows scored and dropped, score."""
        return pd.DataFrame({"test_groups": [f.test_groups for f in self.folds],
                             "n_scored": [f.n_scored for f in self.folds],
                             "n_dropped": [f.n_dropped for f in self.folds],
                             self.scoring: self.scores},
                            index=pd.RangeIndex(len(self.folds), name="fold"))

    def __repr__(self) -> str:
        return (f"<CrossValResult {self.cv} by {self.split_by!r}: {len(self.folds)} folds, "
                f"{self.scoring} {self.mean:.6g} ± {self.std:.6g}>")


def _split_factor(formula: str, groups, split_by) -> str:
    """The grouping factor whose groups the folds hold out."""
    from interlace.formula import parse_formula

    if split_by is not None:
        return str(split_by)
    if isinstance(groups, str):
        return groups
    factors = list(groups or [])
    factors += [g for rt in parse_formula(formula).random for g in rt.group]
    factors = list(dict.fromkeys(factors))
    if len(factors) != 1:
        raise InterlaceError(
            "cross_val: give split_by= (the grouping factor whose groups each fold holds "
            f"out); the model's grouping factors are {factors or 'none'}")
    return factors[0]


def _folds(labels: pd.Series, cv: str, n_splits: int, seed) -> list[list]:
    """Held-out groups per fold."""
    groups = sorted(pd.unique(labels.dropna()), key=str)
    if cv == "logo":
        return [[g] for g in groups]
    if cv != "kfold":
        raise InterlaceError(f"cv must be 'logo' or 'kfold', not {cv!r}")
    if not 2 <= n_splits <= len(groups):
        raise InterlaceError(f"cv='kfold' needs 2 ≤ n_splits ≤ the number of groups "
                             f"({len(groups)}), not {n_splits}")
    order = np.random.default_rng(seed).permutation(len(groups))
    return [[groups[i] for i in sorted(part)] for part in np.array_split(order, n_splits)]


def _fold(i: int, formula: str, data: pd.DataFrame, labels: pd.Series, test_groups: list,
          score, fit_kwargs: dict) -> Fold:
    from interlace.api import fit
    from interlace.design.evaluate import Evaluator
    from interlace.formula import parse_formula

    test = labels.isin(test_groups).to_numpy()
    train_data, test_data = data.loc[~test], data.loc[test]
    kwargs = dict(fit_kwargs)
    for key in ("weights", "offset"):  # vectors follow the rows they belong to
        v = kwargs.get(key)
        if v is not None and not isinstance(v, str):
            kwargs[key] = np.asarray(v)[~test]
    model = fit(formula, train_data, **kwargs)
    pred = np.asarray(model.predict(test_data, allow_new_levels=True), dtype=float)
    y = np.asarray(Evaluator(test_data).value(parse_formula(model.formula).response),
                   dtype=float)
    ok = np.isfinite(y) & np.isfinite(pred)
    if not ok.any():
        raise DataError(f"cross_val: fold {i} (held out: {test_groups}) has no row with both "
                        "a response and a prediction to score")
    return Fold(i, list(test_groups), test_data.index, model, float(score(y[ok], pred[ok])),
                int(ok.sum()), int((~ok).sum()))


def cross_val(formula: str, data: pd.DataFrame, groups=None, *, cv: str = "logo",
              n_splits: int = 5, seed=None, scoring="rmse", split_by: str | None = None,
              n_jobs: int = 1, **fit_kwargs) -> CrossValResult:
    """Cross-validate a linear mixed model with group-level splits (module docstring).

    Parameters
    ----------
    formula, data, groups, **fit_kwargs
        As :func:`interlace.fit`; every fold refits with them.
    cv : {"logo", "kfold"}
        Leave one group out, or ``n_splits`` folds of groups shuffled with ``seed``.
    scoring : {"rmse", "mae"} or callable
        ``score(y_true, y_pred) -> float`` for a callable.
    split_by : str, optional
        The grouping factor to split on; by default ``groups`` when it names one factor,
        or the model's only grouping factor.
    n_jobs : int
        Folds fitted in parallel with joblib (-1: all CPUs), or on a Dask cluster inside
        ``joblib.parallel_config(backend="dask")`` (:mod:`interlace.parallel`); the
        results equal the serial ones.

    Returns
    -------
    CrossValResult
        ``.scores``, ``.mean``, ``.std``, ``.folds`` (each with its ``model``),
        ``.models``, ``.to_frame()``.
    """
    from interlace.design.frames import as_pandas

    data = as_pandas(data)
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas or polars DataFrame, got "
                        f"{type(data).__name__}")
    if callable(scoring):
        score, name = scoring, getattr(scoring, "__name__", "score")
    elif scoring in SCORES:
        score, name = SCORES[scoring], scoring
    else:
        raise InterlaceError(f"scoring must be one of {list(SCORES)} or a callable "
                             f"score(y_true, y_pred), not {scoring!r}")
    factor = _split_factor(formula, groups, split_by)
    if factor not in data.columns:
        raise DataError(f"cross_val: split_by column '{factor}' not found in data")
    labels = data[factor]
    parts = _folds(labels, cv, n_splits, seed)
    fit_kwargs = dict(fit_kwargs, groups=groups)
    # the data travel once per worker (once per cluster on Dask), a fold's groups each
    folds = run(_fold_task, list(enumerate(parts)),
                shared=(formula, data, labels, score, fit_kwargs), n_jobs=n_jobs)
    return CrossValResult(folds, name, cv, factor)


def _fold_task(formula, data, labels, score, fit_kwargs, item):
    i, groups = item
    return _fold(i, formula, data, labels, groups, score, fit_kwargs)
