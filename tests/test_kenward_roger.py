"""Kenward–Roger against pbkrtest 0.5.2 and lmerTest 3.1-3 (fixtures/r/kr.json,
parity/r/kr_reference.R).

Evaluated at lme4's θ̂ (``evaluate_at``), KR is deterministic linear algebra on both sides,
so vcovAdj, W, the coefficient tables, contest and KRmodcomp are held to 1e-10 relative
(p-values 1e-9: a tail probability amplifies its argument's error).  From our own optimum
they differ from R's by θ̂'s own agreement, held to 1e-6.  The printed summaries
(ddf = "Kenward-Roger" and "lme4") are compared line by line, without R's call-specific
``Data:`` and ``Control:`` lines.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from parity.data import ROOT, load_dataset, sha256_file
from parity.kr_fixtures import CONTESTS, MODCOMPS, MODELS

import interlace
from interlace.errors import InterlaceError
from interlace.inference import kenward_roger as kr

FIXTURE = json.loads((ROOT / "fixtures" / "r" / "kr.json").read_text())
REF = {m["id"]: m for m in FIXTURE["models"]}
SPEC = {m["id"]: m for m in MODELS}
P_RTOL = 1e-9


def _close(ours, ref, rtol, what):
    ours, ref = np.asarray(ours, float), np.asarray(ref, float)
    scale = np.nanmax(np.abs(ref)) if ref.size else 0.0
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=rtol * 1e-3 * scale, err_msg=what,
                               equal_nan=True)


def _fit(model_id, at_r=True):
    spec = SPEC[model_id]
    data = load_dataset(spec["dataset"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if at_r:
            return interlace.evaluate_at(spec["formula"], data, REF[model_id]["theta"])
        return interlace.fit(spec["formula"], data)


_CACHE: dict = {}


def fitted(model_id, at_r=True):
    key = (model_id, at_r)
    if key not in _CACHE:
        _CACHE[key] = _fit(model_id, at_r)
    return _CACHE[key]


def test_fixture_is_current():
    prov = FIXTURE["provenance"]
    assert prov["script_sha256"] == sha256_file(ROOT / "parity" / "r" / "kr_reference.R")
    assert prov["pbkrtest"] == "0.5.2" and prov["lmerTest"] == "3.1.3"


@pytest.mark.parametrize("model_id", list(REF))
def test_vcov_adj_at_lme4s_theta(model_id):
    res, ref = fitted(model_id), REF[model_id]
    assert list(res.fe_params.index) == ref["fixef_names"]
    fit = res.kenward_roger
    _close(fit.vcov, ref["vcov"], 1e-10, "vcov")
    _close(fit.vcov_adj, ref["vcov_adj"], 1e-10, "vcovAdj")
    _close(fit.W, ref["W"], 1e-10, "W")
    _close(fit.condi, ref["condi"], 1e-10, "condi")


def _coef_check(tab, ref, rtol):
    assert list(tab.columns) == ref["coef_columns"]
    for col in ref["coef_columns"]:
        tol = max(rtol, P_RTOL) if col.startswith("Pr") else rtol
        _close(tab[col], ref["coefficients"][col], tol, col)


@pytest.mark.parametrize("model_id", list(REF))
def test_coefficients_at_lme4s_theta(model_id):
    _coef_check(fitted(model_id).coef_table("Kenward-Roger"), REF[model_id], 1e-10)


@pytest.mark.parametrize("model_id", ["sleep", "ortho", "machines", "gcsemv_na", "exam"])
def test_coefficients_from_our_fit(model_id):
    _coef_check(fitted(model_id, at_r=False).coef_table("Kenward-Roger"), REF[model_id], 1e-6)


def _without_call(lines):
    return [x for x in lines if not x.startswith(("   Data:", "Control:"))]


def _before_warnings(lines):
    """Up to lme4's footer (fit warnings, the optimizer line and its messages): a model
    evaluated at lme4's θ̂ has no optimizer run of its own (test_snapshots compares the
    footer of our own fits)."""
    for mark in ("fit warnings:", "optimizer ("):
        hit = [i for i, x in enumerate(lines) if x.startswith(mark)]
        if hit:
            lines = lines[:hit[0]]
    return lines


@pytest.mark.parametrize("model_id", list(REF))
@pytest.mark.parametrize("ddf", ["Kenward-Roger", "lme4"])
def test_summary_text_is_lmertests(model_id, ddf):
    """At lme4's θ̂ with lme4's β̂ (Orthodont's age slope is 0.784375 exactly, a rounding
    tie that R's β̂ and ours, 1e-14 apart, print differently: this test is about the text)."""
    ref = REF[model_id]
    res = _fit(model_id)
    res.fe_params = pd.Series(ref["fixef"], index=res.fe_params.index)
    key = "summary_kr" if ddf == "Kenward-Roger" else "summary_lme4"
    ours = res.summary(ddf=ddf).as_text().splitlines()
    assert _before_warnings(ours) == _before_warnings(_without_call(ref[key]))


CONTEST_REF = {c["id"]: c for c in FIXTURE["contests"]}


@pytest.mark.parametrize("t", CONTESTS, ids=[t["id"] for t in CONTESTS])
def test_contest_kr(t):
    res, ref = fitted(t["model"]), CONTEST_REF[t["id"]]
    rhs = t["rhs"] if len(t["rhs"]) > 1 else t["rhs"][0]
    tab = interlace.contest(res, t["L"], ddf="Kenward-Roger", joint=t["joint"], rhs=rhs)
    assert list(tab.columns) == ref["columns"]
    for col in ref["columns"]:
        tol = P_RTOL if col.startswith("Pr") else 1e-10
        _close(tab[col], ref["table"][col], tol, col)


MODCOMP_REF = {c["id"]: c for c in FIXTURE["modcomps"]}


@pytest.mark.parametrize("t", MODCOMPS, ids=[t["id"] for t in MODCOMPS])
@pytest.mark.parametrize("at_r", [True, False], ids=["at_lme4_theta", "our_fit"])
def test_kr_modcomp(t, at_r):
    large = fitted(t["model"], at_r)
    ref = MODCOMP_REF[t["id"]]
    small = t.get("small")
    if small is None:
        small = t["L"]
    elif at_r:  # the small model at lme4's own optimum is not in the fixture: its X is all
        small = large.update(small)  # KRmodcomp uses of it, so our fit of it serves
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = interlace.kr_modcomp(large, small, beta_h=t.get("betaH", 0.0))
    rtol = 1e-10 if at_r else 1e-6
    assert list(out.test.index) == ref["rows"] and list(out.test.columns) == ref["columns"]
    for col in ref["columns"]:
        tol = max(rtol, P_RTOL) if col.startswith("p.") else rtol
        _close(out.test[col], ref["test"][col], tol, col)
    for k, v in ref["aux"].items():
        _close(out.aux[k], v, rtol, k)
    np.testing.assert_allclose(out.L, np.array(ref["L"], dtype=float), rtol=0, atol=1e-12,
                               err_msg="L (pbkrtest's own basis)")


SAT_CASES = [t for t in MODCOMPS if "betaH" not in t]


@pytest.mark.parametrize("t", SAT_CASES, ids=[t["id"] for t in SAT_CASES])
@pytest.mark.parametrize("at_r", [True, False], ids=["at_lme4_theta", "our_fit"])
def test_sat_modcomp(t, at_r):
    """pbkrtest's SATmodcomp: F to 1e-10 at lme4's θ̂ (1e-6 from our fit); ddf and p to
    the Satterthwaite class, 1e-3 (numerical derivatives on both sides)."""
    large = fitted(t["model"], at_r)
    ref = MODCOMP_REF[t["id"]]["sat"]
    small = t.get("small")
    if small is None:
        small = t["L"]
    elif at_r:
        small = large.update(small)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = interlace.sat_modcomp(large, small)
    assert list(out.test.columns) == ref["columns"]
    _close(out.test["statistic"], ref["test"]["statistic"], 1e-10 if at_r else 1e-6, "F")
    assert out.test["ndf"].tolist() == ref["test"]["ndf"]
    _close(out.test["ddf"], ref["test"]["ddf"], 1e-3, "ddf")
    _close(out.test["p.value"], ref["test"]["p.value"], 1e-3, "p")
    _close(out.sigma, ref["sigma"], 1e-10 if at_r else 1e-6, "sigma")


def test_q1_identities_and_balanced_df():
    """For one row KR's λ is 1 and its df is 2(l′Φl)²/(g′Wg); balanced sleepstudy gives
    exactly 17 (pbkrtest's A1 = A2 = 2/17)."""
    fit = fitted("sleep").kenward_roger
    out = kr.kr_adjust(fit, [[0.0, 1.0]], fitted("sleep").fe_params.to_numpy())
    assert out["F.scaling"] == pytest.approx(1.0, abs=1e-12)
    assert out["A1"] == pytest.approx(out["A2"], rel=1e-12)
    assert out["ddf"] == pytest.approx(17.0, rel=1e-12)
    l = np.array([1.0, 3.0])
    g = np.einsum("i,kij,j->k", l, np.einsum("ij,kjl,lm->kim", fit.vcov, fit.P, fit.vcov), l)
    assert kr.lb_ddf(fit, l) == pytest.approx(2 * (l @ fit.vcov @ l) ** 2 / (g @ fit.W @ g),
                                             rel=1e-12)


def test_invariant_to_shifting_and_scaling_the_response():
    """KR df are unchanged, and adjusted SEs scale with the response."""
    spec = SPEC["ortho"]
    data = load_dataset("Orthodont")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = interlace.fit(spec["formula"], data)
        b = interlace.fit(spec["formula"], data.assign(distance=3.0 * data["distance"] + 100))
    ta, tb = a.coef_table("Kenward-Roger"), b.coef_table("Kenward-Roger")
    np.testing.assert_allclose(tb["df"], ta["df"], rtol=1e-6)
    np.testing.assert_allclose(tb["Std. Error"], 3.0 * ta["Std. Error"], rtol=1e-6)


def test_invariant_to_permuting_rows():
    spec = SPEC["exam"]
    data = load_dataset("Exam")
    perm = np.random.default_rng(1).permutation(len(data))
    a = fitted("exam", at_r=False).coef_table("Kenward-Roger")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = interlace.fit(spec["formula"], data.iloc[perm]).coef_table("Kenward-Roger")
    pd.testing.assert_frame_equal(a, b, rtol=1e-6)


def test_refusals():
    data = load_dataset("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ml = interlace.fit(SPEC["sleep"]["formula"], data, method="ML")
        w = interlace.fit(SPEC["sleep"]["formula"], data, weights=np.linspace(1, 2, len(data)))
    with pytest.raises(InterlaceError, match="only available for REML"):
        ml.coef_table("Kenward-Roger")
    with pytest.raises(InterlaceError, match="only available for REML"):
        interlace.contest(ml, [[0, 1]], ddf="Kenward-Roger")
    with pytest.raises(InterlaceError, match="prior weights"):
        w.summary(ddf="Kenward-Roger").as_text()
    with pytest.raises(InterlaceError, match="ddf must be"):
        fitted("sleep").coef_table("KR")
    with pytest.raises(InterlaceError, match="ddf must be"):
        fitted("sleep").summary(ddf="kr")
    res = fitted("sleep")
    with pytest.raises(InterlaceError, match="not nested"):
        interlace.kr_modcomp(res, res)
    with pytest.raises(InterlaceError, match="columns"):
        interlace.kr_modcomp(res, [[0, 1, 0]])
    with pytest.raises(InterlaceError, match="NaN"):
        interlace.kr_modcomp(res, [[0, np.nan]])


def test_ml_large_model_is_refitted_by_reml_as_pbkrtest():
    data = load_dataset("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ml = interlace.fit(SPEC["sleep"]["formula"], data, method="ML")
    out = interlace.kr_modcomp(ml, "Reaction ~ 1 + (Days | Subject)")
    ref = MODCOMP_REF["sleep_days"]["test"]
    _close(out.test["stat"], ref["stat"], 1e-6, "stat")
    _close(out.test["ddf"], ref["ddf"], 1e-6, "ddf")
