"""lme4's Nelder–Mead, evaluation for evaluation (glmer's stage 2).

Each GLMM fixture traces lme4's ``Nelder_Mead`` run from lme4's stage-1 result (θ̂₁, β̂₁)
with lme4's step sizes (from the stage-1 RX) on lme4's stage-2 deviance function; it ends
at glmer's own estimates.  Our port on our deviance, from the same start, must visit the
same points (to 1e-10) and stop after the same number of evaluations at the same point.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from parity.catalog import load_catalog
from parity.glmm_side import glmm_deviance

from conftest import ROOT
from interlace.optimize.nelder_mead import nelder_mead

GLMM = ROOT / "fixtures" / "r" / "glmm"
CASES = [c for c in load_catalog()["glmm"] if c["level"] == "quick" and c["nAGQ"] > 0]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_stage2_path_is_lme4s(case):
    fx = json.loads((GLMM / f"{case['id']}.json").read_text())
    _, _, dev = glmm_deviance(case)
    nm = fx["stage2_nm"]
    k, lp0 = len(nm["theta1"]), np.asarray(fx["lp0_stage2"])
    seen = []

    def f(par):
        th, beta = par[:k], par[k:]
        v = (dev.laplace(th, beta, lp0) if case["nAGQ"] == 1
             else dev.agq(th, beta, lp0, case["nAGQ"]))
        seen.append(par.copy())
        return v

    res = nelder_mead(f, np.r_[nm["theta1"], nm["beta1"]], nm["lower"], np.inf, nm["xst"])
    assert res.n_evals == nm["feval"]
    np.testing.assert_allclose(np.array(seen), np.array(nm["trace_par"]), rtol=1e-10,
                               atol=1e-10)
    np.testing.assert_allclose(res.x, nm["par"], rtol=1e-10, atol=1e-12)
    assert res.fun == pytest.approx(nm["fval"], rel=1e-12)
    assert res.message == "parameter values converged to within tolerance"
    # and that run is glmer's fit
    np.testing.assert_allclose(nm["par"][:k], [t["value"] for t in fx["theta"]], rtol=0)
    np.testing.assert_allclose(nm["par"][k:], list(fx["fixef"].values()), rtol=0)


def test_bounds_and_degenerate_starts():
    """lme4's simplex rules at a bound, and its errors."""
    calls = []

    def f(x):
        calls.append(x.copy())
        return float((x[0] - 0.3) ** 2 + (x[1] + 2.0) ** 2)

    res = nelder_mead(f, [0.0, 0.0], [0.0, -np.inf], np.inf, [0.02, 0.02])
    # the first vertex stepped up from the bound; the optimum is reached
    assert calls[1][0] == pytest.approx(0.02) and calls[1][1] == 0.0
    np.testing.assert_allclose(res.x, [0.3, -2.0], atol=1e-4)
    from interlace.errors import NumericalError

    with pytest.raises(NumericalError, match="not a feasible point"):
        nelder_mead(f, [-1.0, 0.0], [0.0, -np.inf], np.inf, [0.02, 0.02])
