"""Families, links and GLMM responses (interlace.family, interlace.design.response)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from conftest import dataset
from interlace.design import build_design
from interlace.errors import DataError, FormulaError, InterlaceError, ResponseWarning
from interlace.family import EPS, LINKS, Family, Link, make_family
from interlace.formula import compose_formula


@pytest.mark.parametrize(("family", "link"), [(f, lk) for f, links in LINKS.items()
                                              for lk in links])
def test_links_invert_and_differentiate(family, link):
    """linkinv(linkfun(μ)) = μ away from the clamps, and μ'(η) matches a difference."""
    lk = Link(link)
    mu = np.array([0.2, 0.35, 0.5, 0.8]) if family == "binomial" else np.array([0.5, 2.0, 7.5])
    eta = lk.linkfun(mu)
    np.testing.assert_allclose(lk.linkinv(eta), mu, rtol=1e-12)
    h = 1e-6
    fd = (lk.linkinv(eta + h) - lk.linkinv(eta - h)) / (2 * h)
    np.testing.assert_allclose(lk.mu_eta(eta), fd, rtol=1e-6)


def test_lme4_clamps():
    """lme4's C++ clamps: logit and cloglog within [ε, 1−ε], probit only below 1−ε."""
    assert Link("logit").linkinv(np.array([-800.0]))[0] == EPS
    assert Link("logit").linkinv(np.array([800.0]))[0] == 1 - EPS
    assert Link("probit").linkinv(np.array([-40.0]))[0] < EPS  # no lower clamp
    assert Link("log").linkinv(np.array([-800.0]))[0] == EPS
    assert Link("logit").mu_eta(np.array([-800.0]))[0] == EPS


def test_unknown_families_and_links_are_errors():
    with pytest.raises(InterlaceError, match="family 'quasipoisson' is not supported"):
        make_family("quasipoisson")
    with pytest.raises(InterlaceError, match="link 'probit' is not available for the poisson"):
        make_family("poisson", "probit")
    assert make_family("gamma").name == "Gamma"
    assert make_family("binomial").link.name == "logit"
    assert make_family(Family("poisson", Link("log")), "sqrt").link.name == "sqrt"


def _design(formula, data, family, **kw):
    return build_design(compose_formula(formula), data, family=make_family(family), **kw)


def test_binomial_response_forms_agree():
    """cbind and proportion + weights give R's y, n and prior weights."""
    d = dataset("cbpp")
    a = _design("cbind(incidence, size - incidence) ~ period + (1 | herd)", d, "binomial")
    b = _design("incidence / size ~ period + (1 | herd)", d, "binomial", weights="size")
    np.testing.assert_allclose(a.y, b.y)
    np.testing.assert_allclose(a.weights, d["size"])
    np.testing.assert_allclose(b.weights, d["size"])
    np.testing.assert_allclose(a.n_trials, d["size"])
    np.testing.assert_allclose(b.n_trials, 1.0)


def test_bad_responses_get_rs_messages():
    d = dataset("cbpp").copy()
    with pytest.raises(DataError, match="y values must be 0 <= y <= 1"):
        _design("incidence ~ period + (1 | herd)", d, "binomial")
    with pytest.raises(DataError, match="negative values not allowed for the 'Poisson'"):
        _design("I(incidence - 3) ~ period + (1 | herd)", d, "poisson")
    with pytest.raises(DataError, match="non-positive values not allowed for the 'Gamma'"):
        _design("incidence ~ period + (1 | herd)", d, "Gamma")
    with pytest.raises(DataError, match="counts must be non-negative"):
        _design("cbind(incidence, incidence - size) ~ period + (1 | herd)", d, "binomial")
    with pytest.raises(DataError, match="a two-level factor|needs two"):
        _design("herd ~ period + (1 | herd)", d, "binomial")
    with pytest.raises(DataError, match="only the binomial family"):
        _design("period ~ size + (1 | herd)", d, "poisson")
    with pytest.raises(FormulaError, match="cbind\\(\\) is only for the response"):
        _design("incidence ~ cbind(size, size) + (1 | herd)", d, "poisson")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _design("I(incidence / size) ~ period + (1 | herd)", d, "binomial",
                weights=np.full(len(d), 2.5))
    assert any(issubclass(w.category, ResponseWarning) for w in caught)


def test_factor_and_logical_binomial_responses():
    d = pd.DataFrame({"y": pd.Categorical(["no", "yes", "no", "yes"] * 5, ["no", "yes"]),
                      "g": list("abcde") * 4, "x": np.arange(20.0)})
    des = _design("y ~ x + (1 | g)", d, "binomial")
    np.testing.assert_array_equal(des.y, (d["y"] == "yes").astype(float))
    d["b"] = d["y"] == "yes"
    np.testing.assert_array_equal(_design("b ~ x + (1 | g)", d, "binomial").y, des.y)


def _aic_direct(name, y, n, mu, wt, dev):
    """The families' log-likelihoods written out in one expression each (R's dbinom,
    dpois, dgamma and the inverse Gaussian's closed form, as lme4's aic())."""
    from scipy import special
    if name == "binomial":
        m = np.rint(n if np.any(n > 1) else wt)
        k = np.rint(m * y)
        ld = (special.gammaln(m + 1) - special.gammaln(k + 1) - special.gammaln(m - k + 1)
              + special.xlogy(k, mu) + special.xlog1py(m - k, -mu))
        return float(-2.0 * np.sum(np.where(m <= 0, 0.0, wt / np.where(m > 0, m, 1) * ld)))
    if name == "poisson":
        return float(-2.0 * np.sum(wt * (special.xlogy(y, mu) - mu - special.gammaln(y + 1))))
    if name == "Gamma":
        disp = dev / np.sum(wt)
        shape, scale = 1.0 / disp, mu * disp
        ld = ((shape - 1.0) * np.log(y) - y / scale - special.gammaln(shape)
              - shape * np.log(scale))
        return float(-2.0 * np.sum(wt * ld) + 2.0)
    sw = float(np.sum(wt))
    return float(sw * (np.log(2 * np.pi * dev / sw) + 1.0) + 3.0 * np.sum(wt * np.log(y)) + 2.0)


@pytest.mark.parametrize("name", ["binomial", "poisson", "Gamma", "inverse.gaussian"])
def test_aic_with_precomputed_constants_is_the_direct_formula_to_the_bit(name):
    """PIRLS passes the μ-free parts of the AIC precomputed; the sum must not move."""
    rng = np.random.default_rng(7)
    n = 200
    trials = rng.integers(1, 6, n).astype(float) if name == "binomial" else np.ones(n)
    y = {"binomial": rng.integers(0, 6, n) / 5.0, "poisson": rng.poisson(3.0, n) * 1.0,
         "Gamma": rng.gamma(2.0, 1.5, n), "inverse.gaussian": rng.wald(1.0, 2.0, n)}[name]
    if name == "binomial":
        y = np.minimum(np.rint(y * trials), trials) / trials
    wt = trials if name == "binomial" else rng.uniform(0.5, 2.0, n)
    fam = make_family(name)
    mu = np.clip(y + rng.uniform(0.05, 0.3, n), 0.01, 0.99 if name == "binomial" else None)
    dev = float(np.sum(fam.dev_resids(y, mu, wt)))
    const = fam.aic_constants(y, trials, wt)
    assert fam.aic(y, trials, mu, wt, dev, const) == _aic_direct(name, y, trials, mu, wt, dev)
