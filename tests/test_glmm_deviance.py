"""The GLMM deviance against lme4's, exactly, at lme4's own starts and parameters.

For every ``[[glmm]]`` catalog case the fixture (parity/r/glmer_reference.R) holds lme4's
start η (from ``mustart``), the stage-1 start ``lp0`` (PIRLS at the start θ), its stage-1
and stage-2 deviance functions at several points (each from a fresh closure, started from
lme4's ``lp0``), and the PIRLS state at lme4's optimum.  Ours, from the same starts, must
agree to 1e-10 relative (measured: ≤ 4e-15 on the deviances).
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
from parity.catalog import load_catalog
from parity.glmm_side import glmm_deviance

from conftest import ROOT
from interlace.deviance.glmm import gauss_hermite

GLMM = ROOT / "fixtures" / "r" / "glmm"
CASES = load_catalog()["glmm"]
QUICK = CASES  # every case: the deviance alone is fast even on VerbAgg
IDS = [c["id"] for c in QUICK]


@cache
def _setup(case_id: str):
    case = next(c for c in CASES if c["id"] == case_id)
    fx = json.loads((GLMM / f"{case_id}.json").read_text())
    return case, fx, *glmm_deviance(case)


def _close(a, b, rtol, what, scale=None):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    atol = rtol * (np.max(np.abs(b)) if scale is None else scale)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize("case_id", IDS)
def test_start_eta_and_stage1_start(case_id):
    """η = offset + linkfun(mustart), then the nAGQ = 0 PIRLS at the start θ: lme4's lp0."""
    case, fx, design, layout, dev = _setup(case_id)
    _close(dev.eta_start(design.mustart), fx["eta_start"], 1e-13, "start η")
    st = dev.initial_lp0(layout.start(), design.mustart)
    _close(st.lin, fx["lp0_stage1"], 1e-10, "stage-1 lp0")
    # the stage-1 deviance function at the start θ, started from lme4's lp0
    st = dev.stage1(layout.start(), np.asarray(fx["lp0_stage1"]))
    s1 = fx["stage1_at_start"]
    assert st.laplace == pytest.approx(s1["value"], rel=1e-10)
    _close(st.u, s1["u"], 1e-10, "u at the start θ")
    _close(st.beta, s1["beta"], 1e-10, "β at the start θ")
    assert st.ldL2 == pytest.approx(s1["ldL2"], rel=1e-10)
    assert st.ldRX2 == pytest.approx(s1["ldRX2"], rel=1e-10)
    assert st.aic == pytest.approx(s1["aic"], rel=1e-10)


@pytest.mark.parametrize("case_id", IDS)
def test_stage1_deviance_at_lme4_points(case_id):
    case, fx, design, layout, dev = _setup(case_id)
    lp0 = np.asarray(fx["lp0_stage1"])
    for p in fx["devfun1_at"]:
        got = dev.stage1(np.asarray(p["theta"]), lp0).laplace
        assert got == pytest.approx(p["value"], rel=1e-10), p["label"]


@pytest.mark.parametrize("case_id", [c["id"] for c in QUICK if c["nAGQ"] > 0])
def test_stage2_deviance_at_lme4_points(case_id):
    """Laplace (nAGQ = 1) or adaptive Gauss–Hermite (nAGQ > 1) from lme4's stage-2 lp0."""
    case, fx, design, layout, dev = _setup(case_id)
    lp0, k = np.asarray(fx["lp0_stage2"]), len(fx["theta"])
    _close(dev.offset, fx["base_offset"], 1e-14, "base offset", scale=1.0)
    for p in fx["devfun2_at"]:
        par = np.asarray(p["par"])
        if case["nAGQ"] == 1:
            got = dev.laplace(par[:k], par[k:], lp0)
        else:
            got = dev.agq(par[:k], par[k:], lp0, case["nAGQ"])
        assert got == pytest.approx(p["value"], rel=1e-10), p["label"]


@pytest.mark.parametrize("case_id", [c["id"] for c in QUICK if c["nAGQ"] > 0])
def test_pirls_state_at_lme4_optimum(case_id):
    """û, η, μ, the lagged ldL2 and ldRX2, aic and Σ devResid at lme4's (θ̂, β̂)."""
    case, fx, design, layout, dev = _setup(case_id)
    lp0, k = np.asarray(fx["lp0_stage2"]), len(fx["theta"])
    par = np.asarray(fx["devfun2_at"][0]["par"])
    st = dev.stage2(par[:k], par[k:], lp0)
    ref = fx["stage2_at_hat"]
    _close(st.u, ref["u"], 1e-10, "û")
    _close(st.eta, ref["eta"], 1e-10, "η")
    _close(st.mu, ref["mu"], 1e-10, "μ")
    for name in ("ldL2", "ldRX2", "aic", "drsum"):
        assert getattr(st, name) == pytest.approx(ref[name], rel=1e-10), name


@pytest.mark.parametrize("case_id", IDS)
def test_response_forms(case_id):
    """The family's response, trials and prior weights are lme4's (``resp`` fields)."""
    case, fx, design, layout, dev = _setup(case_id)
    fin = fx["final"]
    _close(dev.y, fin["y"], 1e-15, "y", scale=1.0)
    _close(dev.n_trials, fin["n"], 1e-15, "n", scale=1.0)
    _close(dev.weights, fin["weights_prior"], 1e-15, "prior weights", scale=1.0)


def test_gauss_hermite_rule_is_lme4s():
    table = json.loads((GLMM / "ghrule.json").read_text())["rules"]
    for rule in table:
        z, w = gauss_hermite(rule["k"])
        np.testing.assert_allclose(z, rule["z"], rtol=0, atol=1e-13)
        np.testing.assert_allclose(w, rule["w"], rtol=1e-12, atol=0)
