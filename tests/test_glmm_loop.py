"""glmer's stage 2 as one compiled loop (``interlace.optimize.glmm_loop``).

lme4's Nelder–Mead is a compiled state machine (``nm_kernel``) that the Python driver and
the compiled loop share.  The loop visits lme4's own points from lme4's start (the GLMM
fixtures' traces), and a whole fit through it is the Python-driven fit to the bit: θ̂, β̂,
logLik, the evaluation count and the optimizer path.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from parity.catalog import load_catalog
from parity.glmm_parity import fit_case
from parity.glmm_side import glmm_deviance

from conftest import ROOT
from interlace.errors import NumericalError
from interlace.optimize import glmm as optimize_glmm
from interlace.optimize.glmm_loop import stage2_nelder_mead
from interlace.optimize.nm_kernel import _pairwise

GLMM = {c["id"]: c for c in load_catalog()["glmm"]}
FIXTURES = ROOT / "fixtures" / "r" / "glmm"
#: the quick cases with lme4's traced stage 2 that the compiled loop runs (the others
#: — probit, cloglog, Gamma, inverse Gaussian, sqrt link, a vector-valued term — go
#: through the Python-driven run)
TRACED = [c for c in GLMM.values() if c["level"] == "quick" and c["nAGQ"] > 0
          and glmm_deviance(c)[2].stage2_compiled(c["nAGQ"])]


@pytest.mark.parametrize("case", TRACED, ids=[c["id"] for c in TRACED])
def test_compiled_loop_visits_lme4s_points(case):
    """From lme4's stage-1 result and steps: lme4's points (1e-10), its evaluation count
    and its optimum, as the Python-driven run (tests/test_glmm_nelder_mead.py)."""
    assert len(TRACED) >= 8
    fx = json.loads((FIXTURES / f"{case['id']}.json").read_text())
    _, _, dev = glmm_deviance(case)
    nm = fx["stage2_nm"]
    lp0 = np.asarray(fx["lp0_stage2"])
    with dev.values_only():
        res, path = stage2_nelder_mead(dev, np.r_[nm["theta1"], nm["beta1"]], nm["lower"],
                                       nm["xst"], lp0, case["nAGQ"], {})
    assert res.n_evals == nm["feval"] == len(path)
    np.testing.assert_allclose(np.array([x for x, _ in path]), np.array(nm["trace_par"]),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(res.x, nm["par"], rtol=1e-10, atol=1e-12)
    assert res.fun == pytest.approx(nm["fval"], rel=1e-12)
    assert res.message == "parameter values converged to within tolerance"


def _fit(case_id, compiled, monkeypatch):
    monkeypatch.setattr(optimize_glmm, "COMPILED_STAGE2", compiled)
    return fit_case(GLMM[case_id])


@pytest.mark.parametrize("case_id", ["cbpp_cbind", "cbpp_agq9", "contraception_agq9",
                                     "grouseticks", "mmmec_offset", "epil_poisson"])
def test_compiled_fit_is_the_python_driven_fit(case_id, monkeypatch):
    """The same θ̂, β̂, logLik, evaluation count, Hessian and path, to the bit."""
    a = _fit(case_id, True, monkeypatch)
    b = _fit(case_id, False, monkeypatch)
    assert a._dev.stage2_compiled(GLMM[case_id]["nAGQ"])
    assert np.array_equal(np.asarray(a.theta), np.asarray(b.theta))
    assert np.array_equal(a.fe_params.to_numpy(), b.fe_params.to_numpy())
    assert a.llf == b.llf and a._dev.n_evals == b._dev.n_evals
    assert np.array_equal(a.hessian, b.hessian)
    pa, pb = a.stages[-1].path, b.stages[-1].path
    assert len(pa) == len(pb) and pa == pb


def test_compiled_loop_failure_is_the_python_error():
    """A PIRLS failure inside the loop raises the Python path's error and message."""
    case = GLMM["cbpp_cbind"]
    _, _, dev = glmm_deviance(case)
    x0 = np.array([0.6, 40.0, 0.0, 0.0, 0.0])  # μ at its clamp: PIRLS cannot move
    lp0 = np.zeros(dev.n)
    errors = []
    for run in ("compiled", "python"):
        with dev.values_only():
            try:
                if run == "compiled":
                    stage2_nelder_mead(dev, x0, [0.0] + [-np.inf] * 4, np.full(5, 50.0), lp0,
                                       1, {})
                else:
                    from interlace.optimize.nelder_mead import nelder_mead

                    nelder_mead(lambda p: dev.laplace(p[:1], p[1:], lp0), x0,
                                [0.0] + [-np.inf] * 4, np.inf, np.full(5, 50.0))
            except NumericalError as e:
                errors.append(str(e))
    if not errors:
        pytest.skip("no PIRLS failure from this start")
    assert len(errors) == 2 and errors[0] == errors[1]


def test_pairwise_is_numpys_sum():
    """The centroid's sum is NumPy's pairwise sum, also past 128 terms (the explicit
    stack of the halves)."""
    rng = np.random.default_rng(0)
    for m in [1, 2, 7, 8, 9, 15, 16, 17, 127, 128, 129, 200, 257, 1000, 1029]:
        for _ in range(5):
            a = rng.standard_normal(m) * 10.0 ** rng.uniform(-3, 3, m)
            assert _pairwise(a) == a.sum()
            pts = np.ascontiguousarray(a.reshape(1, -1))
            assert _pairwise(pts[0]) == pts.sum(axis=1)[0]


def test_nan_values_stop_as_numpy_orders_them():
    """An objective that is NaN in part of the space: the run ends (no infinite loop) and
    its best point is finite and where the objective is defined."""
    from interlace.optimize.nelder_mead import nelder_mead

    def f(x):
        return np.nan if x[0] > 0.5 else float((x[0] - 0.3) ** 2 + x[1] ** 2)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = nelder_mead(f, [0.0, 1.0], [-np.inf, -np.inf], np.inf, [0.4, 0.4], maxfun=2000)
    assert np.isfinite(res.fun) and res.x[0] <= 0.5

