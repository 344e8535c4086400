"""The blocked (NumPy/SciPy) and CHOLMOD backends give the same numbers.

Checked at lme4's θ̂ and at perturbed θ on catalog cases covering scalar, vector,
crossed, nested and factor-slope terms, with the off-diagonal block both dense and
sparse.  The blocked backend is also checked against a brute-force dense PLS.
"""

from __future__ import annotations

import numpy as np
import pytest

import interlace.linalg.blocked as blocked_mod
from conftest import catalog_cases, dataset, r_fixture
from interlace.api import _prepare
from interlace.linalg import CHOLMOD_AVAILABLE

CASES = ["sleepstudy_slopes_reml", "sleepstudy_twoterm_ml", "penicillin_crossed",
         "pastes_nested", "machines_factor_slope", "pixel", "cbpp_weights", "scotssec_crossed"]


def _deviance(case_id: str, backend: str):
    fx = r_fixture(case_id)
    call = fx["call"]
    _, _, layout, dev = _prepare(call["formula"], dataset(fx["dataset"]), None, None,
                                      "REML" if call["REML"] else "ML", call["weights"], None,
                                      "omit", backend)
    return layout, dev


def _thetas(case_id: str) -> list[np.ndarray]:
    return [np.asarray(d["theta"]) for d in r_fixture(case_id)["devfun_at"]]


def _state(dev, th):
    s = dev.pls(th)
    u = dev.solve_u(s)
    return np.array([s.objective, s.ldL2, s.ldRX2, s.pwrss]), s.beta, u


@pytest.mark.parametrize("case_id", CASES)
@pytest.mark.parametrize("offdiag", ["dense", "sparse"])
def test_blocked_dense_and_sparse_offdiag_agree_with_lme4_devfun(case_id, offdiag, monkeypatch):
    if offdiag == "sparse":
        monkeypatch.setattr(blocked_mod, "DENSE_OFFDIAG_LIMIT", 0)
    _, dev = _deviance(case_id, "blocked")
    for d in r_fixture(case_id)["devfun_at"]:
        assert dev(np.asarray(d["theta"])) == pytest.approx(d["value"], rel=1e-10, abs=0)


@pytest.mark.skipif(not CHOLMOD_AVAILABLE, reason="scikit-sparse (CHOLMOD) not installed")
@pytest.mark.parametrize("case_id", CASES)
def test_cholmod_matches_blocked(case_id):
    _, blocked = _deviance(case_id, "blocked")
    _, chol = _deviance(case_id, "cholmod")
    assert blocked.backend == "blocked" and chol.backend == "cholmod"
    for th in _thetas(case_id):
        a, b = _state(blocked, th), _state(chol, th)
        np.testing.assert_allclose(a[0], b[0], rtol=1e-11, atol=0)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-9, atol=1e-9 * np.abs(a[1]).max())
        np.testing.assert_allclose(a[2], b[2], rtol=1e-8, atol=1e-9 * np.abs(a[2]).max())
        mb = blocked.factor.minv_diag_blocks()
        mc = chol.factor.minv_diag_blocks()
        for x, y in zip(mb, mc, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-8, atol=1e-12)


def test_auto_backend_is_blocked_for_small_models():
    _, dev = _deviance("penicillin_crossed", "auto")
    assert dev.backend == "blocked"


@pytest.mark.parametrize("offdiag", ["dense", "sparse"])
def test_vector_term_first_with_further_terms(offdiag, monkeypatch):
    """Block 0 a 2×2 term (Subject, 18 levels) plus a scalar term: against dense PLS."""
    from dense_pls import DensePLS, lambda_blocks, term_z
    from interlace.design import build_design
    from interlace.formula import parse_formula

    if offdiag == "sparse":
        monkeypatch.setattr(blocked_mod, "DENSE_OFFDIAG_LIMIT", 0)
    data = dataset("sleepstudy")
    formula = "Reaction ~ Days + (Days | Subject) + (1 | DayF)"
    data = data.assign(DayF=data["Days"].astype(str))
    design = build_design(parse_formula(formula), data)
    assert [t.group for t in design.re_terms] == ["Subject", "DayF"]
    _, _, _, dev = _prepare(formula, data, None, None, "REML", None, None, "omit", "blocked")
    assert dev.factor.p0 == 2 and dev.factor.qR == 10
    Z = np.hstack([term_z(t.codes, t.Xi) for t in design.re_terms])
    ref = DensePLS(design.X, design.y, Z, lambda_blocks([(18, 2), (10, 1)]), reml=True)
    for th in ([1.0, 0.0, 1.0, 1.0], [0.9, 0.05, 0.2, 0.3], [0.5, -0.3, 0.7, 0.0]):
        th = np.asarray(th)
        s, r = dev.pls(th), ref.pls(th)
        assert s.objective == pytest.approx(ref.deviance(th), rel=1e-12)
        np.testing.assert_allclose(s.beta, r.beta, rtol=1e-10)
        np.testing.assert_allclose(dev.solve_u(s), r.u, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("case_id", ["sleepstudy_slopes_reml", "penicillin_crossed",
                                     "pastes_nested", "machines_factor_slope", "exam"])
def test_batched_objective_equals_one_at_a_time(case_id):
    """LmmDeviance.many (the convergence checks' stencil in one pass) = __call__ per point."""
    case = next(c for c in catalog_cases(None) if c["id"] == case_id)
    *_, layout, dev = _prepare(case["formula"], dataset(case["dataset"]), None, None,
                               case["method"], case.get("weights"), None, "omit", "auto")
    theta = np.array([t["value"] for t in r_fixture(case_id)["theta"]])
    rng = np.random.default_rng(1)
    pts = theta + 0.05 * rng.standard_normal((7, len(theta)))
    pts = np.where(layout.lower() == 0, np.abs(pts), pts)
    want = np.array([dev(p) for p in pts])
    np.testing.assert_allclose(dev.many(pts), want, rtol=1e-12)
