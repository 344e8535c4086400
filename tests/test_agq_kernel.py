"""Adaptive Gauss–Hermite in compiled pieces (``interlace.deviance.agq_kernel``).

The binary-response form (products of exp(∓η₀)·exp(∓c) per level) equals the row-by-row
form to rounding, clamps of μ included; it steps aside where its exponentials could leave
their safe range; the row-by-row form split over threads is the one-thread result to the
bit; and :class:`~interlace.linalg.threads.ThreadSplit` keeps the pieces' order.
"""

from __future__ import annotations

import os
import warnings
from functools import cache

import numpy as np
import pytest
from parity.catalog import load_catalog
from parity.glmm_parity import fit_case

from interlace.deviance import agq_kernel as ak
from interlace.deviance import glmm
from interlace.linalg.threads import ThreadSplit

GLMM = {c["id"]: c for c in load_catalog()["glmm"]}


@cache
def fitted(case_id: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_case(GLMM[case_id])


def _stage2(res, th, b):
    dev = res._dev
    lp0 = dev.stage1(th, dev.initial_lp0(th, res._design.mustart).lin).lin
    with dev.values_only():
        return dev, lp0, dev.stage2(th, b, lp0)


def _both_forms(dev, st, beta, offset=None, nagq=9):
    """Node rows of the binary form and of the row-by-row form at one PIRLS state."""
    kd = dev._kernel
    zs, ws = glmm.gauss_hermite(nagq)
    if offset is None:
        offset = dev.offset + dev.X @ beta
    codes, xi, lam = kd["codes"][0], kd["xv"][0], float(dev._theta[0])
    devc0 = ak.agq_centre(st.u, st.mu, codes, dev.y, dev.weights, kd["fam"])
    rows, binary = np.zeros((nagq, len(st.u))), np.zeros((nagq, len(st.u)))
    ak.agq_nodes(st.u, st.factor._L00, offset, xi, codes, lam, dev.y, dev.weights,
                 kd["fam"], kd["link"], zs, ws, devc0, 0, nagq, rows)
    ok = ak.agq_nodes_binary(st.u, st.factor._L00, offset, lam, *dev._agq_binary(), zs, ws,
                             devc0, 0, nagq, binary)
    return ok, rows, binary, devc0, zs, ws


def test_binary_form_is_the_row_form():
    """Contraception (0/1 use, random intercept per district), at the optimum and away from
    it, with 9 and 25 nodes: every node's term per level, and the deviance, to rounding."""
    res = fitted("contraception_agq9")
    th, b = np.asarray(res.theta), np.asarray(res.fe_params)
    for t, beta in [(th, b), (0.4 * th, 1.3 * b), (2.5 * th, 0.8 * b)]:
        dev, lp0, st = _stage2(res, t, beta)
        for nagq in (9, 25):
            ok, rows, binary, devc0, zs, ws = _both_forms(dev, st, beta, nagq=nagq)
            assert ok
            np.testing.assert_allclose(binary, rows, rtol=1e-12, atol=0)
            a = ak.agq_combine(devc0, zs, ws, binary, st.ldL2)
            r = ak.agq_combine(devc0, zs, ws, rows, st.ldL2)
            np.testing.assert_allclose(a, r, rtol=1e-14)


def test_binary_form_clamps_mu_as_lme4():
    """Rows pushed to |η| ≈ 38 and 60 (μ clamped to ε or 1 − ε, lme4's clamp) give the
    row-by-row terms; an |η₀| beyond the safe range is left to the row-by-row form."""
    res = fitted("contraception_agq9")
    th, b = np.asarray(res.theta), np.asarray(res.fe_params)
    dev, lp0, st = _stage2(res, th, b)
    offset = dev.offset + dev.X @ b
    pushed = offset.copy()
    pushed[::7] += 38.0
    pushed[3::11] -= 60.0
    ok, rows, binary, *_ = _both_forms(dev, st, b, offset=pushed)
    assert ok
    np.testing.assert_allclose(binary, rows, rtol=1e-12, atol=0)
    far = offset.copy()
    far[5] = 400.0
    ok, *_ = _both_forms(dev, st, b, offset=far)
    assert not ok


def test_binary_plan_scope():
    """Only 0/1 responses with one prior weight and an intercept term have the binary
    form; cbind counts (cbpp) do not."""
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    codes = np.array([0, 0, 1, 1, 1])
    one, xi = np.ones(5), np.ones(5)
    order, seg, w0 = ak.binary_plan(y, one, xi, codes, 2)
    assert w0 == 1.0
    assert order.tolist() == [0, 1, 2, 3, 4] and seg.tolist() == [[0, 1, 2], [2, 4, 5]]
    assert ak.binary_plan(np.array([1.0, 0.5, 0, 0, 1]), one, xi, codes, 2) is None
    assert ak.binary_plan(y, np.array([1.0, 2, 1, 1, 1]), xi, codes, 2) is None
    assert ak.binary_plan(y, one, np.array([1.0, 1, 2, 1, 1]), codes, 2) is None
    assert fitted("cbpp_agq9")._dev._agq_binary() is None
    assert fitted("contraception_agq9")._dev._agq_binary() is not None


def test_threaded_nodes_are_the_one_thread_result(monkeypatch):
    """The row-by-row form (cbpp's binomial counts) split over two and three threads:
    the same deviance to the bit as on one thread, at three points."""
    res = fitted("cbpp_agq9")
    dev = res._dev
    monkeypatch.setattr(glmm, "AGQ_THREADS_FROM", 0)
    th, b = np.asarray(res.theta), np.asarray(res.fe_params)
    lp0 = dev.stage1(th, dev.initial_lp0(th, res._design.mustart).lin).lin
    try:
        for t, beta in [(th, b), (0.5 * th, 1.2 * b), (1.8 * th, b)]:
            values = []
            for split in (ThreadSplit(1), ThreadSplit(2, adaptive=False),
                          ThreadSplit(3, adaptive=False)):
                dev.split = split
                with dev.values_only():
                    values.append(dev.agq(t, beta, lp0, 9))
            assert values[0] == values[1] == values[2]
    finally:
        dev.split = glmm.SPLIT


def test_thread_split_order_nesting_and_setting(monkeypatch):
    """Results come back in the pieces' order; a piece's own split runs on its thread;
    INTERLACE_NUM_THREADS caps the threads and must be a number."""
    split = ThreadSplit(2, adaptive=False)
    assert split.map(lambda x: x * x, list(range(7))) == [x * x for x in range(7)]
    inner = split.map(lambda x: split.threads(), [0, 1])
    assert inner == [1, 1]
    assert split.threads() == 2
    monkeypatch.setenv("INTERLACE_NUM_THREADS", "1")
    assert ThreadSplit().threads() == 1
    monkeypatch.setenv("INTERLACE_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="INTERLACE_NUM_THREADS"):
        ThreadSplit()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_thread_split_after_fork():
    """A forked child has none of its parent's worker threads: it starts its own pool."""
    split = ThreadSplit(2, adaptive=False)
    assert split.map(lambda x: x + 1, [1, 2]) == [2, 3]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            ok = split.map(lambda x: x + 1, [1, 2, 3]) == [2, 3, 4]
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, 1)
    os.waitpid(pid, 0)
    assert got == b"1"


@pytest.mark.parametrize("case_id", ["cbpp_cbind", "contraception_agq9", "grouseticks",
                                     "epil_slope"])
def test_hessian_points_on_threads_are_the_one_thread_fit(monkeypatch, case_id):
    """glmer's finite-difference Hessian evaluates its points on two (and three) threads,
    each on its own copy of the deviance: the Hessian, the fit and the evaluation count
    are the one-thread ones to the bit."""
    fits = []
    for split in (ThreadSplit(1), ThreadSplit(2, adaptive=False),
                  ThreadSplit(3, adaptive=False)):
        monkeypatch.setattr(glmm, "SPLIT", split)
        fits.append(fit_case(GLMM[case_id]))
    one = fits[0]
    for other in fits[1:]:
        assert np.array_equal(other.hessian, one.hessian)
        assert np.array_equal(np.asarray(other.theta), np.asarray(one.theta))
        assert np.array_equal(other.fe_params.to_numpy(), one.fe_params.to_numpy())
        assert other.llf == one.llf
        assert other._dev.n_evals == one._dev.n_evals
