"""Data frames in and out: pandas and polars, through this one adapter at the edge.

Everything inside interlace works on pandas.  A polars ``DataFrame`` given to ``fit``,
``glmer``, ``predict`` or ``cross_val`` is converted here, column by column, without
pyarrow:

* numbers stay numbers, a null becoming NaN (so missing values are dropped as for pandas);
* ``String`` and ``Categorical`` columns become strings (their levels sorted as R's
  ``factor()`` sorts them, the same as a pandas string column), an ``Enum`` a pandas
  categorical with the Enum's own level order (as a pandas categorical keeps its order);
* ``Boolean`` stays logical; dates and times become pandas datetimes; other types (lists,
  structs) become Python objects, an error only when the model uses them;
* the rows are labelled 0 … n−1 (polars has no row labels; ``with_row_index`` numbers
  them the same way).

A fit remembers which kind of frame it came from; diagnostic frames
(``hlm_influence``, ``hlm_resid``, ``hlm_augment``, ``leverage``) then come back in that
kind, the row or group labels as the first column (``row`` for observations, the grouping
factor's name for groups).  Fit-result attributes stay pandas, as the result API says.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd

PANDAS, POLARS = "pandas", "polars"


def kind_of(data: Any) -> str:
    """"polars" for a polars DataFrame, else "pandas" (anything else is left to the
    pandas checks, which name what they got)."""
    mod = type(data).__module__ or ""
    return POLARS if mod.startswith("polars") and type(data).__name__ == "DataFrame" else PANDAS


def _polars_column(s) -> pd.Series | np.ndarray:
    import polars as pl

    dt = s.dtype
    if isinstance(dt, pl.Enum):
        cats = list(dt.categories.to_list())
        return pd.Categorical(s.cast(pl.String).to_list(), categories=cats)
    if dt in (pl.String, pl.Categorical) or isinstance(dt, pl.Categorical):
        return pd.Series(s.cast(pl.String).to_list(), dtype=object)
    if dt == pl.Boolean:
        vals = s.to_list()
        return pd.Series(vals, dtype=object if None in vals else bool)
    if dt.is_numeric():
        return s.cast(pl.Float64).to_numpy() if s.null_count() else s.to_numpy()
    if dt.is_temporal():
        return pd.to_datetime(pd.Series(s.to_list()))
    return pd.Series(s.to_list(), dtype=object)  # lists, structs …: an error only if used


def as_pandas(data: Any) -> pd.DataFrame:
    """``data`` as a pandas DataFrame (a polars one converted as the module says; anything
    else returned unchanged for the pandas checks to judge)."""
    if kind_of(data) != POLARS:
        return data
    out = pd.DataFrame({name: _polars_column(data.get_column(name))
                        for name in data.columns}, index=pd.RangeIndex(data.height))
    return out


def native(df: pd.DataFrame, kind: str, label: str = "row"):
    """A diagnostic frame in the caller's kind: pandas unchanged; polars with the row or
    group labels as the first column (named ``df.index.name`` or ``label``)."""
    if kind != POLARS:
        return df
    import polars as pl

    name = df.index.name or label
    flat = df.reset_index(names=name)
    cols = {}
    for c in flat.columns:
        v = flat[c]
        if isinstance(v.dtype, pd.CategoricalDtype) or v.dtype == object:
            cols[str(c)] = pl.Series(str(c), [None if pd.isna(x) else str(x) for x in v],
                                     dtype=pl.String)
        else:
            cols[str(c)] = pl.Series(str(c), v.to_numpy())
    return pl.DataFrame(cols)


def native_output(fn):
    """Wrap a diagnostics function of a fit (first argument) so that its frame comes back
    in the kind of frame the fit was made from."""
    @functools.wraps(fn)
    def wrapper(res, *args, **kwargs):
        out = fn(res, *args, **kwargs)
        kind = getattr(res, "_frame_kind", PANDAS)
        return native(out, kind) if isinstance(out, pd.DataFrame) else out
    return wrapper


def accepts_frames(fn):
    """Wrap a fitting function ``fn(formula, data, ...)``: a polars ``data`` is converted
    (:func:`as_pandas`) and the result remembers the kind (``_frame_kind``)."""
    @functools.wraps(fn)
    def wrapper(formula, data, *args, **kwargs):
        kind = kind_of(data)
        res = fn(formula, as_pandas(data), *args, **kwargs)
        res._frame_kind = kind
        return res
    return wrapper
