"""simulate(nsim, seed) with an integer seed against lme4's simulate(m, nsim, seed)
(fixtures/r/simulate.json, parity/r/simulate_reference.R): R's set.seed stream
(interlace.rng), the random effects' normals first, then the residuals', U = ZΛ and the
sparse products in CHOLMOD's order, residuals unweighted as lme4 1.1-31 draws them.

Evaluated at lme4's θ̂ the model's β̂ and σ̂ are lme4's to rounding, so the simulated
responses must agree to 1e-10 of their scale (the exact-at-θ class); a draw out of R's
order would be off by σ̂."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from parity.catalog import get_case
from parity.data import ROOT, load_dataset, sha256_file
from parity.pyside import fit_case

import interlace

FIXTURE = json.loads((ROOT / "fixtures" / "r" / "simulate.json").read_text())
CASES = FIXTURE["cases"]


def test_fixture_is_current():
    prov = FIXTURE["provenance"]
    assert prov["script_sha256"] == sha256_file(ROOT / "parity" / "r" / "simulate_reference.R")
    assert prov["RNGkind"] == ["Mersenne-Twister", "Inversion", "Rejection"]


@pytest.mark.parametrize("c", CASES, ids=[c["id"] for c in CASES])
def test_simulate_is_lme4s_at_its_theta(c):
    res = fit_case(get_case(c["id"]), theta=list(c["theta"].values()))
    r = np.column_stack(list(c["sims"].values()))
    sims = res.simulate(c["nsim"], seed=c["seed"])
    assert sims.shape == r.shape
    np.testing.assert_allclose(sims, r, rtol=0, atol=1e-10 * np.max(np.abs(r)))
    # the draws, not only their sum: the deviations from the fixed part scaled by sigma
    fixed = res.predict(include_re=False)[:, None]
    np.testing.assert_allclose((sims - fixed) / res.sigma,
                               (r - fixed) / c["sigma"], rtol=0, atol=1e-8)


def test_another_seed_or_a_generator_draws_otherwise():
    c = CASES[0]
    res = fit_case(get_case(c["id"]), theta=list(c["theta"].values()))
    a = res.simulate(2, seed=c["seed"])
    assert not np.array_equal(a, res.simulate(2, seed=c["seed"] + 1))
    g = res.simulate(2, seed=np.random.default_rng(c["seed"]))
    assert g.shape == a.shape and not np.array_equal(a, g)


GLMM = FIXTURE["glmm_cases"]


@pytest.mark.parametrize("c", GLMM, ids=[c["id"] for c in GLMM])
def test_glmm_simulate_is_lme4s_at_its_parameters(c):
    """A GLMM's simulate with R's seed at lme4's (θ̂, β̂): R's normals for the random
    effects, then R's rbinom / rpois / rgamma on lme4's recycled means — equal to R's draws
    (binomial and Poisson counts exactly, Gamma to 1e-12, inverse Gaussian to 1e-9; the
    last two scale with σ̂, so lme4's σ̂ is used: ours at lme4's (θ̂, β̂) differs from it by
    5e-9)."""
    from parity.glmm_side import case_formula
    from parity.simulate_fixtures import get_glmm_case

    case = get_glmm_case(c["id"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = interlace.evaluate_glmm_at(case_formula(case), load_dataset(case["dataset"]),
                                         c["theta"], c["fixef"], family=case["family"],
                                         link=case["link"], weights=case.get("weights"),
                                         nAGQ=case["nAGQ"])
    res.sigma = c["sigma"]
    r = np.column_stack(list(c["sims"].values()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sims = res.simulate(c["nsim"], seed=c["seed"])
    # statmod's inverse Gaussian draw 1 + Yφμ/2·(1 − √(1 + 4/(Yφμ))) cancels: the means'
    # last-bit differences grow by up to Yφμ (≤ 5e5 on that branch)
    rtol = 1e-9 if case["family"] == "inverse.gaussian" else 1e-12
    np.testing.assert_allclose(sims, r, rtol=rtol, atol=0)
