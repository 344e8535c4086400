"""simulate(nsim, seed) with an integer seed against lme4's simulate(m, nsim, seed)
(fixtures/r/simulate.json, parity/r/simulate_reference.R): R's set.seed stream
(interlace.rng), the random effects' normals first, then the residuals', U = ZΛ and the
sparse products in CHOLMOD's order, residuals unweighted as lme4 1.1-31 draws them.

Evaluated at lme4's θ̂ the model's β̂ and σ̂ are lme4's to rounding, so the simulated
responses must agree to 1e-10 of their scale (the exact-at-θ class); a draw out of R's
order would be off by σ̂."""

from __future__ import annotations

import json

import numpy as np
import pytest
from parity.catalog import get_case
from parity.data import ROOT, sha256_file
from parity.pyside import fit_case

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
