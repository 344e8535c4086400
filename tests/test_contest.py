"""interlace.contest against lmerTest 3.1-3's contest() with Satterthwaite's method
(fixtures/r/contest.json, parity/r/contest_reference.R): joint F tests (contestMD) of one,
two and three rows, with a right-hand side, of rank one, and per-row t tests (contest1D),
column by column.

Our fits are at our optimum (θ̂ within 1e-8 of lme4's on these cases), so F, the sums of
squares, estimates, SEs and t are held to 1e-8 relative (observed ≤ 8e-11); DenDF and df
come from numerical derivatives on both sides (numDeriv's Richardson extrapolation and
its port) and are held to the parity harness's Satterthwaite class, 1e-3 relative
(observed ≤ 5e-8); p-values follow from those, held to 1e-3 relative (observed ≤ 4e-7)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from parity.contest_fixtures import TESTS
from parity.data import ROOT, request_data, sha256_file

import interlace
from interlace.errors import InterlaceError
from interlace.inference.ftests import fstat_ddf

FIXTURE = json.loads((ROOT / "fixtures" / "r" / "contest.json").read_text())
REF = {t["id"]: t for t in FIXTURE["tests"]}
RTOL = {"NumDF": 0.0, "DenDF": 1e-3, "df": 1e-3, "Pr(>F)": 1e-3, "Pr(>|t|)": 1e-3}


def _fit(t):
    data = request_data(t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if t.get("exclude"):  # a missing cell: at lme4's θ̂ (the test is about the rows)
            return interlace.evaluate_at(t["formula"], data, REF[t["id"]]["theta"])
        return interlace.fit(t["formula"], data, method="REML")


def test_fixture_is_current():
    assert FIXTURE["provenance"]["script_sha256"] == sha256_file(
        ROOT / "parity" / "r" / "contest_reference.R")


@pytest.mark.parametrize("t", TESTS, ids=[t["id"] for t in TESTS])
def test_contest_is_lmertests(t):
    res, ref = _fit(t), REF[t["id"]]
    assert list(res.fe_params.index) == ref["fixef"]
    rhs = t["rhs"] if len(t["rhs"]) > 1 else t["rhs"][0]
    tab = interlace.contest(res, t["L"], joint=t["joint"], rhs=rhs,
                            check_estimability=t.get("check_estimability", False))
    assert list(tab.columns) == ref["columns"]
    for col in ref["columns"]:
        np.testing.assert_allclose(tab[col].to_numpy(float), np.array(ref["table"][col], float),
                                   rtol=RTOL.get(col, 1e-8), atol=0, err_msg=col,
                                   equal_nan=True)


def test_named_contrasts_and_refusals():
    t = TESTS[3]
    res = _fit(t)
    L = pd.DataFrame([[1.0, 0.0], [0.0, 1.0]], columns=["SexFemale", "age:SexFemale"])
    a = interlace.contest(res, L)
    b = interlace.contest(res, t["L"])
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(InterlaceError, match="not coefficients"):
        interlace.contest(res, pd.DataFrame([[1.0]], columns=["nope"]))
    with pytest.raises(InterlaceError, match="columns but the model has"):
        interlace.contest(res, [[1.0, 0.0]])
    with pytest.raises(InterlaceError, match="should be one of"):
        interlace.contest(res, t["L"], ddf="lme4")
    with pytest.raises(InterlaceError, match="NaN or Inf"):
        interlace.contest(res, [[0, 0, np.nan, 1]])
    with pytest.raises(InterlaceError, match="no rows"):
        interlace.contest(res, np.zeros((0, 4)))
    row = interlace.contest(res, [[0, 0, np.nan, 1]], joint=False)
    assert row.isna().all(axis=None)


def test_fstat_ddf_rules():
    assert fstat_ddf([7.5]) == 7.5
    assert fstat_ddf([10.0, 10.0 + 1e-9]) == pytest.approx(10.0 + 5e-10)
    assert fstat_ddf([10.0, 1.5]) == 2.0
    E = 10 / 8 + 20 / 18
    assert fstat_ddf([10.0, 20.0]) == pytest.approx(2 * E / (E - 2))
