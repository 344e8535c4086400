"""GlmmResult.simulate: lme4's simulate.merMod for glmerMod (use.u = FALSE), here with
numpy's generators (R's stream, an integer seed, is tests/test_simulate_r.py's): u* ~
N(0, I), μ* = g⁻¹(Xβ̂ + offset + ZΛθ̂u*), then the family's draw.

With one scalar term every row's mean over the random effect is a one-dimensional integral
E[y] = ∫ g⁻¹(η + λz) φ(z) dz, computed here by 40-point Gauss–Hermite; the mean of many
simulated responses must agree with it to within 5 Monte-Carlo standard errors, row by
row (a test of the random-effect scale, the link and the family's draw together)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import interlace
from conftest import dataset
from interlace.deviance.glmm import gauss_hermite
from interlace.errors import InterlaceError

NSIM = 4000


def _fit(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return interlace.glmer(formula, data, **kw)


@pytest.fixture(scope="module")
def cbpp():
    return _fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", dataset("cbpp"))


def _marginal_mean(res) -> np.ndarray:
    z, w = gauss_hermite(40)
    eta = res.predict(include_re=False)
    lam = float(res.theta[0])
    return res.family.link.linkinv(eta[:, None] + lam * z[None, :]) @ w


def _check_mean(sims: np.ndarray, res) -> None:
    mean, sd = sims.mean(axis=1), sims.std(axis=1)
    expect = _marginal_mean(res)
    assert np.all(np.abs(mean - expect) <= 5 * sd / np.sqrt(sims.shape[1]) + 1e-12)


def test_binomial_cbind_counts(cbpp):
    sims = cbpp.simulate(NSIM, seed=np.random.default_rng(1))
    assert sims.shape == (cbpp.nobs, NSIM)
    size = dataset("cbpp")["size"].to_numpy(dtype=float)
    counts = sims * size[:, None]
    np.testing.assert_allclose(counts, np.rint(counts), atol=1e-9)
    assert counts.min() >= 0 and np.all(counts <= size[:, None] + 1e-9)
    _check_mean(sims, cbpp)


def test_seed_and_generator(cbpp):
    a, b = cbpp.simulate(3, seed=7), cbpp.simulate(3, seed=7)
    np.testing.assert_array_equal(a, b)  # R's stream: reproducible
    c = cbpp.simulate(3, seed=np.random.default_rng(7))
    np.testing.assert_array_equal(c, cbpp.simulate(3, seed=np.random.default_rng(7)))
    assert not np.array_equal(a, c)  # numpy's stream is another
    assert not np.array_equal(a, cbpp.simulate(3, seed=8))
    assert cbpp.simulate(0).shape == (cbpp.nobs, 0)
    with pytest.raises(InterlaceError, match="nsim"):
        cbpp.simulate(-1)
    with pytest.raises(InterlaceError, match="seed"):
        cbpp.simulate(1, seed="x")


def test_poisson_counts_and_mean():
    res = _fit("y ~ lbase * trt + lage + V4 + (1 | subject)", dataset("epil"), family="poisson")
    sims = res.simulate(NSIM, seed=np.random.default_rng(3))
    np.testing.assert_array_equal(sims, np.rint(sims))
    assert sims.min() >= 0
    _check_mean(sims, res)


def test_gamma_mean_and_lme4_shape():
    res = _fit("Reaction ~ Days + (1 | Subject)", dataset("sleepstudy"), family="Gamma",
               link="log")
    sims = res.simulate(NSIM, seed=np.random.default_rng(5))
    assert sims.min() > 0
    _check_mean(sims, res)
    # lme4's shape is sigma * weights: the conditional variance at u* = 0 is mu^2 / sigma
    mu = res.predict(include_re=False, type="response")
    draws = res.family.simulate(np.random.default_rng(9), np.repeat(mu[:1], 20000),
                                np.ones(20000), res.sigma)
    assert draws.var() == pytest.approx(mu[0] ** 2 / res.sigma, rel=0.05)


def test_non_integer_binomial_weights_refuse():
    d = dataset("cbpp").copy()
    d["w"] = d["size"] + 0.5
    res = _fit("incidence / size ~ period + (1 | herd)", d, weights="w")
    with pytest.raises(InterlaceError, match="non-integer prior.weights"):
        res.simulate(1, seed=1)
