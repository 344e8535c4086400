"""interlace.ls_means / difflsmeans against lmerTest 3.1-3 (fixtures/r/ls_means.json,
parity/r/ls_means_reference.R), Satterthwaite and Kenward–Roger.

At lme4's θ̂ (``evaluate_at``): the contrasts to 1e-12 absolute; estimates, SEs, t, the
intervals and every KR column to 1e-10 relative (p 1e-9); Satterthwaite's df and what
follows from them (the intervals' widths, p) to the Satterthwaite class, 1e-3 relative
(numerical derivatives on both sides).  A missing cell's LS-means are NaN as lmerTest's.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from parity.data import ROOT, load_dataset, request_data, sha256_file
from parity.ls_means_fixtures import MODELS

import interlace
from interlace.errors import InterlaceError

FIXTURE = json.loads((ROOT / "fixtures" / "r" / "ls_means.json").read_text())
REF = {m["id"]: m for m in FIXTURE["models"]}
SPEC = {m["id"]: m for m in MODELS}
_CACHE: dict = {}


def fitted(model_id):
    if model_id not in _CACHE:
        spec = SPEC[model_id]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _CACHE[model_id] = interlace.evaluate_at(spec["formula"], request_data(spec),
                                                     REF[model_id]["theta"],
                                                     contrasts=spec.get("contrasts"))
    return _CACHE[model_id]


def test_fixture_is_current():
    assert FIXTURE["provenance"]["script_sha256"] == sha256_file(
        ROOT / "parity" / "r" / "ls_means_reference.R")


CASES = [(m["id"], ddf, pw) for m in MODELS for ddf in ("Satterthwaite", "Kenward-Roger")
         for pw in (False, True)]
SATT = {"df": 1e-3, "lower": 1e-3, "upper": 1e-3, "Pr(>|t|)": 1e-3}


@pytest.mark.parametrize(("model_id", "ddf", "pairwise"), CASES)
def test_ls_means_are_lmertests(model_id, ddf, pairwise):
    res, ref = fitted(model_id), REF[model_id]
    key = "satterthwaite" if ddf == "Satterthwaite" else "kenward_roger"
    r = ref[key]["difflsmeans" if pairwise else "ls_means"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab = interlace.ls_means(res, ddf=ddf, pairwise=pairwise)
    assert list(tab.index) == list(r["rows"])
    assert list(tab.columns) == list(r["columns"])
    for col in r["columns"]:
        tol = SATT.get(col, 1e-10) if ddf == "Satterthwaite" else (
            1e-9 if col.startswith("Pr") else 1e-10)
        want = np.array(r["values"][col], dtype=float)
        # a difference that is 0 in exact arithmetic (cake_sum_helmert: 3.5e-14 in R, 1.8e-15
        # here) is rounding: estimates and t values to 1e-12 of the column's largest too
        atol = 1e-12 * np.nanmax(np.abs(want)) if col in ("Estimate", "t value") else 0
        np.testing.assert_allclose(tab[col].to_numpy(float), want,
                                   rtol=tol, atol=atol, equal_nan=True, err_msg=col)
    hyps = tab.attrs["hypotheses"]
    assert list(hyps) == list(r["hypotheses"])
    for term, h in r["hypotheses"].items():
        got = hyps[term]
        assert list(got.index) == list(h["rows"]) and list(got.columns) == list(h["columns"])
        np.testing.assert_allclose(got.to_numpy(), np.array(h["values"], dtype=float),
                                   rtol=0, atol=1e-12, err_msg=term)


def test_which_level_and_refusals():
    res = fitted("oats")
    a = interlace.ls_means(res, which="V", level=0.9)
    assert list(a.index) == ["VGolden.rain", "VMarvellous", "VVictory"]
    b = interlace.ls_means(res, which=["V"])
    assert (a["lower"] > b["lower"]).all() and (a["upper"] < b["upper"]).all()
    d = interlace.difflsmeans(res, which="V")
    np.testing.assert_allclose(d.loc["VGolden.rain - VVictory", "Estimate"],
                               a.loc["VGolden.rain", "Estimate"] - a.loc["VVictory", "Estimate"],
                               rtol=1e-12)
    with pytest.raises(InterlaceError, match="not factor terms"):
        interlace.ls_means(res, which="age")
    with pytest.raises(InterlaceError, match="ddf must be"):
        interlace.ls_means(res, ddf="lme4")
    with pytest.raises(InterlaceError, match="level"):
        interlace.ls_means(res, level=1.5)
    data = load_dataset("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = interlace.fit("Reaction ~ log(Days + 1) + (1 | Subject)", data)
    with pytest.raises(InterlaceError, match="grid"):
        interlace.ls_means(m)
