"""Exact case deletion (interlace.diagnostics.deletion) against brute-force refits.

Two classes of checks:

* at a fixed θ the deleted fit is a deterministic function of the data, so the
  cross-product downdate must reproduce a fit built from scratch on the subset data
  (``interlace.evaluate_at``) to rounding: 1e-10 relative (observed ≤ 5e-12);
* at the optimum both sides optimize: our refit must reach an objective no worse than a
  tightly converged ``interlace.fit`` on the subset data (BOBYQA with xtol 1e-12, ftol
  1e-14) beyond the objective's rounding noise, 1e-11 relative (observed noise up to
  2.5e-12 relative), and β̂ within 1e-6 relative (observed ≤ 4e-9; θ itself moves by up
  to 1e-5 along flat directions between two optimizers and is checked at 1e-4).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import interlace
from conftest import dataset, fitted
from interlace.diagnostics.deletion import (
    delete_refits,
    deletions_at,
    group_sets,
    observation_sets,
    row_positions,
    varcomp,
)

TIGHT = dict(opt_settings=dict(xtol_abs=1e-12, ftol_abs=1e-14, xtol_rel=0.0))

# (case id, level): observation and group deletion, slopes, crossed, nested, weights, factors
CASES = [("sleepstudy_slopes_reml", "1"), ("sleepstudy_slopes_reml", "Subject"),
         ("sleepstudy_slopes_ml", "1"), ("penicillin_crossed", "1"),
         ("penicillin_crossed", "plate"), ("penicillin_crossed", "sample"),
         ("pastes_nested", "batch"), ("ergostool", "1"), ("orthodont_interaction", "Subject"),
         ("cbpp_weights", "herd"), ("cbpp_weights", "1")]


def _subset(res, rows):
    data = res._data
    keep = np.ones(len(data), dtype=bool)
    keep[row_positions(res)[rows]] = False
    return data.iloc[np.flatnonzero(keep)]


def _kwargs(res):
    kw = {"method": res.method}
    if res._fit_kwargs.get("weights") is not None:
        kw["weights"] = res._fit_kwargs["weights"]
    return kw


def _sample(n, k=4):
    return sorted(set(np.linspace(0, n - 1, k).round().astype(int)))


@pytest.mark.parametrize(("case_id", "level"), CASES, ids=[f"{c}-{lv}" for c, lv in CASES])
def test_fixed_theta_equals_fit_on_subset(case_id, level):
    """Downdated cross-products = the model built from the subset data, at any θ."""
    res = fitted(case_id)
    d0 = delete_refits(res, level, method="model")
    rng = np.random.default_rng(1)
    th = d0.theta.to_numpy() * (1 + 0.1 * rng.standard_normal(d0.theta.shape))
    th[:, res._layout.diagonal_mask()] = np.abs(th[:, res._layout.diagonal_mask()])
    d = deletions_at(res, pd.DataFrame(th, index=d0.labels, columns=d0.theta.columns), level)
    for u in _sample(len(d.labels)):
        sub = _subset(res, d.rows[u])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            e = interlace.evaluate_at(res.formula, sub, th[u], **_kwargs(res))
        assert d.objective[u] == pytest.approx(e.objective, rel=1e-10, abs=0)
        np.testing.assert_allclose(d.fixef.iloc[u], e.fe_params, rtol=1e-10, atol=0)
        np.testing.assert_allclose(d.vcov[u], e.fe_cov, rtol=1e-10, atol=1e-12 * np.abs(
            e.fe_cov).max())
        assert d.sigma2[u] == pytest.approx(e.scale, rel=1e-10)


@pytest.mark.parametrize(("case_id", "level"), CASES, ids=[f"{c}-{lv}" for c, lv in CASES])
def test_refits_match_tight_brute_force(case_id, level):
    res = fitted(case_id)
    d = delete_refits(res, level, method="model")
    assert d.converged.all() and not np.isin(d.engine, ["failed"]).any()
    for u in _sample(len(d.labels), 3):
        sub = _subset(res, d.rows[u])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = interlace.fit(res.formula, sub, control=TIGHT, **_kwargs(res))
            at_ours = interlace.evaluate_at(res.formula, sub, d.theta.iloc[u], **_kwargs(res))
        assert at_ours.objective <= r.objective + 1e-11 * abs(r.objective)
        np.testing.assert_allclose(d.fixef.iloc[u], r.fe_params, rtol=1e-6)
        np.testing.assert_allclose(d.theta.iloc[u], r.theta, rtol=0, atol=1e-4)


def test_bobyqa_engine_reaches_the_same_optimum():
    """lme4's optimizer path (engine="bobyqa") stops near the Newton optimum, never below."""
    res = fitted("sleepstudy_slopes_reml")
    nw = delete_refits(res, "Subject", method="model")
    bq = delete_refits(res, "Subject", method="model", engine="bobyqa")
    assert set(bq.engine) == {"bobyqa"}
    assert np.all(nw.objective <= bq.objective + 1e-11 * np.abs(bq.objective))
    np.testing.assert_allclose(bq.fixef, nw.fixef, rtol=1e-6)
    np.testing.assert_allclose(bq.theta, nw.theta, rtol=0, atol=2e-3)


def test_cold_and_warm_start_agree():
    res = fitted("pastes_nested")
    warm = delete_refits(res, "batch", engine="bobyqa")
    cold = delete_refits(res, "batch", engine="bobyqa", warm_start=False)
    np.testing.assert_allclose(cold.objective, warm.objective, rtol=1e-8)


def test_reml_refits_of_an_ml_model():
    """method="REML" (HLMdiag) refits an ML model by REML; "original" is the REML fit."""
    res = fitted("sleepstudy_slopes_ml")
    d = delete_refits(res, "Subject", method="REML")
    assert d.method == "REML"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reml = interlace.fit(res.formula, res._data, method="REML", control=TIGHT)
        sub = _subset(res, d.rows[0])
        r0 = interlace.fit(res.formula, sub, method="REML", control=TIGHT)
    np.testing.assert_allclose(d.original.fixef, reml.fe_params, rtol=1e-8)
    assert d.original.sigma2 == pytest.approx(reml.scale, rel=1e-6)
    np.testing.assert_allclose(d.fixef.iloc[0], r0.fe_params, rtol=1e-7)
    assert d.sigma2[0] == pytest.approx(r0.scale, rel=1e-6)


def test_labels_and_varcomp_names():
    res = fitted("sleepstudy_slopes_reml")
    d = delete_refits(res, "Subject")
    assert list(d.labels) == list(res._design.re_terms[0].levels)
    assert list(d.varcomp.columns) == ["sigma2", "D11", "D21", "D22"]
    assert list(d.theta.columns) == res.theta_names
    obs = delete_refits(fitted("pastes_nested"), "1")
    assert list(obs.labels) == [str(x) for x in fitted("pastes_nested")._design.row_labels]
    assert list(obs.varcomp.columns) == ["sigma2", "D11", "D22"]  # diagonal: no D21


def test_varcomp_drops_exact_zeros_like_hlmdiag():
    T = [np.array([[1.5, 0.0], [0.2, 0.0]]), np.array([[0.0]])]
    vc = varcomp(T, 4.0)
    # bdiag is 3 x 3 and not diagonal: lower triangle D11 D21 D31 D22 D32 D33, zeros dropped
    assert list(vc.index) == ["sigma2", "D11", "D21", "D22"]
    np.testing.assert_allclose(vc.to_numpy(), [4.0, 4 * 1.5**2, 4 * 0.2 * 1.5, 4 * 0.2**2])
    diag = varcomp([np.array([[2.0]]), np.array([[0.0]]), np.array([[1.0]])], 1.0)
    assert list(diag.index) == ["sigma2", "D11", "D33"]


def test_rank_loss_refits_the_subset_like_lme4():
    """A factor level seen once: deleting it drops a column; that coefficient is NaN."""
    data = dataset("ergoStool").copy()
    data = data[~((data["Type"] == "T4") & (data["Subject"] != "1"))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = interlace.fit("effort ~ Type + (1|Subject)", data)
        d = delete_refits(res, "1")
        u = int(np.flatnonzero(data["Type"].to_numpy() == "T4")[0])
        r = interlace.fit("effort ~ Type + (1|Subject)", data.drop(index=data.index[u]))
    assert d.engine[u] == "refit"
    assert np.isnan(d.fixef.iloc[u]["TypeT4"])
    np.testing.assert_allclose(d.fixef.iloc[u].drop("TypeT4"), r.fe_params, rtol=1e-6)
    assert (d.engine != "refit").sum() == len(d.labels) - 1


def test_refused_units_are_reported():
    """lme4 refuses a grouping factor with one level left: NaN and the reason."""
    data = dataset("Dyestuff").copy()
    data = data[data["Batch"].isin(["A", "B"])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = interlace.fit("Yield ~ 1 + (1|Batch)", data)
    d = delete_refits(res, "Batch")
    assert list(d.engine) == ["failed", "failed"]
    assert d.fixef.isna().all().all()
    assert "> 1 sampled level" in d.warnings[0][0]


def test_parallel_and_progress_give_the_same_numbers():
    res = fitted("dyestuff_reml")
    a = delete_refits(res, "1")
    b = delete_refits(res, "1", n_jobs=2, show_progress=True)
    np.testing.assert_allclose(b.objective, a.objective, rtol=1e-13)
    c = delete_refits(res, "1", engine="bobyqa", n_jobs=2)
    np.testing.assert_allclose(c.fixef, a.fixef, rtol=1e-6)


@pytest.mark.parametrize(("name", "formula", "level"), [
    ("sleepstudy", "Reaction ~ Days + (Days + I(Days^2) | Subject)", "1"),
    ("Orthodont", "distance ~ age + (age | Subject) + (1 | Sex)", "1"),
    ("Orthodont", "distance ~ age + (age | Subject) + (1 | Sex)", "Subject"),
])
def test_fixed_theta_other_block_structures(name, formula, level):
    """3 × 3 term (general small-matrix path); vector term plus a second term (dense R)."""
    data = dataset(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = interlace.fit(formula, data)
    th = np.repeat(res.theta[None] * 1.05, 3, axis=0)
    labels, sets = observation_sets(res) if level == "1" else group_sets(res, level)
    idx = _sample(len(sets), 3)
    d = deletions_at(res, th, level, labels=labels[idx], sets=[sets[i] for i in idx])
    for j, u in enumerate(idx):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            e = interlace.evaluate_at(formula, _subset(res, sets[u]), th[j])
        assert d.objective[j] == pytest.approx(e.objective, rel=1e-10, abs=0)
        np.testing.assert_allclose(d.fixef.iloc[j], e.fe_params, rtol=1e-10)
        assert d.sigma2[j] == pytest.approx(e.scale, rel=1e-10)
    refits = delete_refits(res, level, method="model")
    u = idx[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sub = _subset(res, sets[u])
        r = interlace.fit(formula, sub, control=TIGHT)
        mine = interlace.evaluate_at(formula, sub, refits.theta.iloc[u])
    assert mine.objective <= r.objective + 1e-11 * abs(r.objective)
