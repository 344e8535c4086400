"""polars frames in, through every entry point, equal to pandas; diagnostic frames back in
polars with the row or group labels as the first column (interlace.design.frames)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import interlace
from conftest import dataset

pl = pytest.importorskip("polars")


def to_polars(df: pd.DataFrame):
    cols = {}
    for c in df.columns:
        v = df[c]
        if isinstance(v.dtype, pd.CategoricalDtype):
            cols[c] = pl.Series(c, [None if pd.isna(x) else str(x) for x in v],
                                dtype=pl.Enum([str(x) for x in v.cat.categories]))
        elif v.dtype == object or pd.api.types.is_string_dtype(v.dtype):
            cols[c] = pl.Series(c, [None if pd.isna(x) else str(x) for x in v], dtype=pl.String)
        else:
            cols[c] = pl.Series(c, v.to_numpy())
    return pl.DataFrame(cols)


@pytest.fixture(scope="module")
def sleep():
    return dataset("sleepstudy").reset_index(drop=True)


@pytest.fixture(scope="module")
def fits(sleep):
    f = "Reaction ~ Days + (Days | Subject)"
    return interlace.fit(f, sleep), interlace.fit(f, to_polars(sleep))


def test_fit_from_polars_equals_pandas(fits):
    a, b = fits
    pd.testing.assert_series_equal(a.fe_params, b.fe_params)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert a.objective == b.objective and a.nobs == b.nobs
    assert b._frame_kind == "polars" and isinstance(b.fe_params, pd.Series)


def test_missing_values_are_dropped_alike(sleep):
    d = sleep.copy()
    d.loc[[3, 50], "Reaction"] = np.nan
    d.loc[7, "Days"] = np.nan
    with pytest.warns(interlace.MissingDataWarning):
        a = interlace.fit("Reaction ~ Days + (1 | Subject)", d)
    with pytest.warns(interlace.MissingDataWarning):
        b = interlace.fit("Reaction ~ Days + (1 | Subject)", to_polars(d))
    assert a.nobs == b.nobs == 177 and a.objective == b.objective


def test_enum_keeps_its_level_order_as_a_pandas_categorical():
    m = dataset("Machines").reset_index(drop=True)
    m["Machine"] = pd.Categorical(m["Machine"].astype(str), categories=["C", "A", "B"])
    a = interlace.fit("score ~ Machine + (1 | Worker)", m)
    b = interlace.fit("score ~ Machine + (1 | Worker)", to_polars(m))
    assert list(a.fe_params.index) == list(b.fe_params.index) == [
        "(Intercept)", "MachineA", "MachineB"]
    pd.testing.assert_series_equal(a.fe_params, b.fe_params)


def test_glmer_predict_and_cross_val_from_polars():
    cbpp = dataset("cbpp").reset_index(drop=True)
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    a, b = interlace.glmer(f, cbpp), interlace.glmer(f, to_polars(cbpp))
    pd.testing.assert_series_equal(a.fe_params, b.fe_params)
    np.testing.assert_array_equal(a.predict(cbpp, type="response"),
                                  b.predict(to_polars(cbpp), type="response"))
    s = dataset("sleepstudy").reset_index(drop=True)
    cv_a = interlace.cross_val("Reaction ~ Days", s, groups="Subject")
    cv_b = interlace.cross_val("Reaction ~ Days", to_polars(s), groups="Subject")
    np.testing.assert_array_equal(cv_a.scores, cv_b.scores)


@pytest.mark.parametrize("call", [
    lambda r: interlace.hlm_influence(r),
    lambda r: interlace.hlm_influence(r, level="Subject"),
    lambda r: interlace.hlm_resid(r),
    lambda r: interlace.hlm_resid(r, level="Subject"),
    lambda r: interlace.leverage(r),
    lambda r: interlace.hlm_augment(r),
], ids=["influence", "influence_group", "resid", "resid_group", "leverage", "augment"])
def test_diagnostic_frames_come_back_in_polars(fits, call):
    a, b = fits
    want, got = call(a), call(b)
    assert isinstance(want, pd.DataFrame) and isinstance(got, pl.DataFrame)
    label = got.columns[0]
    assert label == (want.index.name or "row")
    assert got.get_column(label).cast(pl.String).to_list() == [str(i) for i in want.index]
    for c in want.columns:
        w = want[c]
        if pd.api.types.is_numeric_dtype(w.dtype):
            np.testing.assert_array_equal(got.get_column(str(c)).to_numpy(), w.to_numpy(),
                                          err_msg=str(c))
        else:
            assert got.get_column(str(c)).to_list() == [str(x) for x in w], c


def test_other_polars_types_fail_only_when_used(sleep):
    df = to_polars(sleep).with_columns(pl.Series("z", [[i] for i in range(len(sleep))]))
    res = interlace.fit("Reaction ~ Days + (1 | Subject)", df)  # z unused: fine
    assert res.nobs == 180
    with pytest.raises(interlace.DataError, match="column 'z' holds list values"):
        interlace.fit("Reaction ~ Days + z + (1 | Subject)", df)
    d = sleep.assign(z=[[i] for i in range(len(sleep))])  # the same from pandas
    with pytest.raises(interlace.DataError, match="column 'z' holds list values"):
        interlace.fit("Reaction ~ Days + z + (1 | Subject)", d)
