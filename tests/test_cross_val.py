"""interlace.cross_val: group-level splits, per-fold models, .mean and .std (the FAQ's
example, on sleepstudy)."""

from __future__ import annotations

import numpy as np
import pytest

import interlace
from conftest import dataset


@pytest.fixture(scope="module")
def sleep():
    return dataset("sleepstudy")


def test_faq_example_logo(sleep):
    from interlace import cross_val

    cv = cross_val("Reaction ~ Days", data=sleep, groups="Subject", cv="logo",
                   scoring="rmse")
    assert len(cv.folds) == 18 and cv.split_by == "Subject"
    assert cv.mean == pytest.approx(np.mean(cv.scores)) and cv.std == np.std(cv.scores)
    # fold 0 by hand: fit without subject 308, predict its rows at the population level
    first = cv.folds[0]
    assert first.test_groups == ["308"]
    train = sleep[sleep["Subject"].astype(str) != "308"]
    test = sleep[sleep["Subject"].astype(str) == "308"]
    m = interlace.fit("Reaction ~ Days", train, groups="Subject")
    pred = m.fe_params["(Intercept)"] + m.fe_params["Days"] * test["Days"].to_numpy()
    rmse = np.sqrt(np.mean((test["Reaction"].to_numpy() - pred) ** 2))
    assert first.score == pytest.approx(rmse, rel=1e-12)
    assert first.model.fe_params.equals(m.fe_params) and first.n_scored == 10
    assert len(cv.models) == 18 and list(cv.to_frame()["rmse"]) == list(cv.scores)


def test_kfold_deals_every_group_once_and_is_reproducible(sleep):
    kw = dict(cv="kfold", n_splits=5, seed=1, scoring="mae")
    a = interlace.cross_val("Reaction ~ Days + (Days | Subject)", sleep, **kw)
    b = interlace.cross_val("Reaction ~ Days + (Days | Subject)", sleep, **kw)
    held = [g for f in a.folds for g in f.test_groups]
    assert sorted(held) == sorted(sleep["Subject"].astype(str).unique())
    assert [len(f.test_groups) for f in a.folds] == [4, 4, 4, 3, 3]
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.split_by == "Subject" and a.scoring == "mae"


def test_callable_scoring_and_parallel_folds_equal_serial(sleep):
    def max_abs(y, p):
        return float(np.max(np.abs(y - p)))

    serial = interlace.cross_val("Reaction ~ Days", sleep, groups="Subject",
                                 scoring=max_abs)
    par = interlace.cross_val("Reaction ~ Days", sleep, groups="Subject", scoring=max_abs,
                              n_jobs=2)
    np.testing.assert_array_equal(serial.scores, par.scores)
    assert serial.scoring == "max_abs"


def test_bad_arguments_are_named(sleep):
    with pytest.raises(interlace.InterlaceError, match="cv must be 'logo' or 'kfold'"):
        interlace.cross_val("Reaction ~ Days", sleep, groups="Subject", cv="loo")
    with pytest.raises(interlace.InterlaceError, match="scoring must be one of"):
        interlace.cross_val("Reaction ~ Days", sleep, groups="Subject", scoring="r2")
    with pytest.raises(interlace.InterlaceError, match="n_splits"):
        interlace.cross_val("Reaction ~ Days", sleep, groups="Subject", cv="kfold",
                            n_splits=40)
    with pytest.raises(interlace.DataError, match="split_by column 'Nope'"):
        interlace.cross_val("Reaction ~ Days", sleep, groups="Subject", split_by="Nope")
    pen = dataset("Penicillin")
    with pytest.raises(interlace.InterlaceError, match="give split_by="):
        interlace.cross_val("diameter ~ 1 + (1 | plate) + (1 | sample)", pen)
    cv = interlace.cross_val("diameter ~ 1 + (1 | plate) + (1 | sample)", pen,
                             split_by="plate", cv="kfold", n_splits=4, seed=0)
    assert len(cv.folds) == 4 and cv.mean > 0
