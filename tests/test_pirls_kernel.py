"""The compiled PIRLS kernel (``interlace.deviance.pirls_kernel``) against the NumPy path.

Both implement lme4's PIRLS; they differ only in the order of summation, so on every
catalog GLMM the kernel covers, at the fit's optimum and at points away from it, both
stages, AGQ and the start from ``mustart`` give the same iterations and the same values to
rounding: deviance 1e-12 relative, u, η, μ, RX and ldL2 1e-9 absolute.  The kernel's
states carry no factor (values only), and its failures are the NumPy path's errors.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest
from parity.catalog import load_catalog
from parity.data import load_dataset
from parity.glmm_parity import fit_case

import interlace
from interlace.errors import NumericalError

GLMM = {c["id"]: c for c in load_catalog()["glmm"]}
COVERED = ["cbpp_cbind", "cbpp_proportion", "cbpp_nagq0", "cbpp_agq9", "contraception",
           "contraception_agq9", "epil_poisson", "mmmec_offset", "verbagg", "grouseticks",
           "epil_slope"]
NOT_COVERED = ["bacteria_probit", "sleepstudy_gamma", "grouseticks_sqrt"]


@cache
def fitted(case_id: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_case(GLMM[case_id])


def _points(res):
    th, b = np.asarray(res.theta), np.asarray(res.fe_params)
    return [(th, b), (0.5 * th, 1.5 * b), (1.7 * th + 0.05, 0.3 * b)]


def _same_state(a, b, u_only=False):
    """Kernel state ``a`` against NumPy state ``b``; in u-only mode (stage 2) the kernel
    forms no RX (not needed for the value): NaN."""
    assert a.iterations == b.iterations
    for name in ("u", "eta", "mu", "lin") + (() if u_only else ("RX",)):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=1e-9,
                                   err_msg=name)
    if u_only:
        assert np.all(np.isnan(a.RX)) and np.isnan(a.ldRX2)
    for name in ("ldL2", "drsum", "aic") + (() if u_only else ("ldRX2",)):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12,
                                   atol=1e-12, err_msg=name)


def test_coverage_and_plans():
    """The kernel covers binomial/Poisson models with the logit or log link whose terms are
    scalar, or one vector-valued term (Epilepsy's correlated slope); not probit, Gamma or
    the sqrt link.  Its plans: VerbAgg's item
    block is dense (L_R0 by BLAS); grouseticks' BROOD nested in LOCATION, ordered first,
    gives a factor with no fill (one entry below the diagonal per brood)."""
    for cid in COVERED:
        assert fitted(cid)._dev._kernel is not None, cid
    for cid in NOT_COVERED:
        assert fitted(cid)._dev._kernel is None, cid
    assert fitted("epil_slope")._dev._kernel["vector"]
    verbagg = fitted("verbagg")._dev._kernel
    assert verbagg["qR"] == 24 and verbagg["dense_gram"]
    grouse = fitted("grouseticks")._dev._kernel
    assert grouse["qR"] == 118 + 63 and not grouse["dense_gram"]
    assert list(grouse["rest_pos"]) == [-1, 0, 118]  # INDEX is block 0, BROOD before LOCATION
    assert len(grouse["colpat"]) == 118
    # the aic is the deviance residuals' sum for 0/1 responses with unit weights only
    # (the kernel's aic is checked against the family's in test_kernel_is_the_numpy_pirls)
    bernoulli = {cid: fitted(cid)._dev._kernel["aic"][-1] for cid in COVERED}
    assert {cid for cid, b in bernoulli.items() if b} == {"contraception",
                                                         "contraception_agq9", "verbagg"}


@pytest.mark.parametrize("case_id", COVERED)
def test_kernel_is_the_numpy_pirls(case_id):
    """Both stages (and AGQ) from lme4's starts, at three points: the same to rounding."""
    res = fitted(case_id)
    dev, nagq = res._dev, GLMM[case_id]["nAGQ"]
    for th, b in _points(res):
        lp0 = dev.initial_lp0(th, res._design.mustart).lin
        with dev.values_only():
            k0 = dev.initial_lp0(th, res._design.mustart)
        np.testing.assert_allclose(k0.lin, lp0, rtol=0, atol=1e-9)
        s1, s2 = dev.stage1(th, lp0), dev.stage2(th, b, lp0)
        with dev.values_only():
            k1, k2 = dev.stage1(th, lp0), dev.stage2(th, b, lp0)
        _same_state(k1, s1)
        _same_state(k2, s2, u_only=True)
        np.testing.assert_allclose(k2.laplace, s2.laplace, rtol=1e-12)
        if nagq > 1:
            a = dev.agq(th, b, lp0, nagq)
            with dev.values_only():
                ka = dev.agq(th, b, lp0, nagq)
            np.testing.assert_allclose(ka, a, rtol=1e-12)


def test_values_only_states_have_no_factor():
    """Inside values_only the state has no factor; outside, the full state is back."""
    res = fitted("cbpp_cbind")
    dev = res._dev
    th, b = np.asarray(res.theta), np.asarray(res.fe_params)
    lp0 = dev.initial_lp0(th, res._design.mustart).lin
    with dev.values_only():
        st = dev.stage2(th, b, lp0)
    with pytest.raises(NumericalError, match="values-only"):
        st.factor.minv_diag_blocks()
    assert dev.stage2(th, b, lp0).factor.minv_diag_blocks()[0].shape == (15, 1, 1)
    assert not dev._fast


def test_kernel_errors_are_the_numpy_errors():
    """A fixed effect collinear given the random effects: the same error both ways."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = interlace.evaluate_glmm_at("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                                         load_dataset("cbpp"), [0.6], [-1.5, -1.0, -1.1, -1.6],
                                         family="binomial")
    dev = res._dev
    assert dev._kernel is not None
    X2 = np.column_stack([dev.X, dev.X[:, 1] * 2.0])  # a collinear column
    dev2 = type(dev)(X2, dev.y, dev.n_trials, dev.weights, None, dev.terms, dev.layout,
                     dev.family)
    lp0 = np.zeros(dev.n)
    with pytest.raises(NumericalError, match="not positive definite") as plain:
        dev2.stage1(np.array([0.6]), lp0)
    with dev2.values_only(), pytest.raises(NumericalError,
                                           match="not positive definite") as fast:
        dev2.stage1(np.array([0.6]), lp0)
    assert str(fast.value) == str(plain.value)


def test_fit_with_kernel_is_the_fit_without():
    """A whole glmer fit through the kernel equals one through the NumPy path (the
    optimizers see the same values to rounding): θ̂, β̂ and logLik."""
    res = fitted("cbpp_cbind")
    case = GLMM["cbpp_cbind"]
    from interlace.deviance.glmm import GlmmDeviance

    orig = GlmmDeviance.values_only
    try:
        GlmmDeviance.values_only = lambda self: _nullcontext()
        plain = fit_case(case)
    finally:
        GlmmDeviance.values_only = orig
    np.testing.assert_allclose(res.theta, plain.theta, rtol=1e-8)
    pd.testing.assert_series_equal(res.fe_params, plain.fe_params, rtol=1e-8)
    np.testing.assert_allclose(res.llf, plain.llf, rtol=1e-12)


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("case_id", ["verbagg", "grouseticks", "cbpp_agq9"])
def test_first_iteration_cache_changes_no_bit(case_id):
    """Stage 2 starts every evaluation from the same η: the first iteration's weights are
    computed once (``first_weights``) by the same arithmetic, so the values are identical
    to the bit with and without that cache, at several (θ, β)."""
    from interlace.deviance import glmm

    res = fitted(case_id)
    dev = res._dev
    lp0 = dev.initial_lp0(np.asarray(res.theta), res._design.mustart).lin
    for th, b in _points(res):
        with dev.values_only():
            a = dev.stage2(th, b, lp0)
            dev._first_weights = lambda eta: glmm._NO_CACHE  # shadows the method
            try:
                c = dev.stage2(th, b, lp0)
            finally:
                del dev._first_weights
        assert a.laplace == c.laplace and a.iterations == c.iterations
        assert np.array_equal(a.u, c.u) and np.array_equal(a.mu, c.mu)
