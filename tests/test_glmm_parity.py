"""Quick-level GLMM parity: interlace.glmer on every quick ``[[glmm]]`` case against its
stored lme4::glmer fixture, with the rules of :mod:`parity.glmm_parity` (at lme4's
parameters 1e-10; at our optimum θ̂ and β̂ to 1e-8 where lme4's path is retraced, the
objective one-sided; Hessian SEs to the finite-difference class)."""

from __future__ import annotations

import numpy as np
import pytest
from parity.catalog import load_catalog
from parity.glmm_parity import fit_case, run_glmm_case

from conftest import ROOT

QUICK = [c for c in load_catalog()["glmm"] if c["level"] == "quick"]


@pytest.mark.parametrize("case", QUICK, ids=[c["id"] for c in QUICK])
def test_glmm_case_matches_lme4(case):
    entry = run_glmm_case(case, "stored", ROOT / "fixtures" / "r" / "glmm")
    failed = [f"{q['name']}: max abs {q['max_abs_err']:.3g}, max rel {q['max_rel_err']:.3g} "
              f"(atol {q['atol']:.3g}, rtol {q['rtol']:.3g}) at {q['worst_key']}"
              for q in entry["quantities"] if q["gating"] and not q["passed"]]
    assert entry["passed"], "\n".join(failed)


def test_result_keeps_its_state_when_the_deviance_moves_on():
    """The deviance refreshes one factor in place; a result's conditional SDs (computed
    lazily) must not change when its deviance is evaluated elsewhere in between."""
    case = next(c for c in QUICK if c["id"] == "cbpp_cbind")
    moved, fresh = fit_case(case), fit_case(case)
    moved._dev.laplace(moved.theta * 3.0 + 0.5, moved.fe_params.to_numpy() - 1.0,
                       moved._dev.last_state.lin)
    np.testing.assert_array_equal(moved.ranef_frame()["condsd"].to_numpy(),
                                  fresh.ranef_frame()["condsd"].to_numpy())


def _sha(path) -> str:
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_glmm_fixtures_and_floors_are_current():
    """Every GLMM fixture and floor was written by the R scripts as they are now."""
    import json
    r_dir = ROOT / "parity" / "r"
    ref, floor = _sha(r_dir / "glmer_reference.R"), _sha(r_dir / "floors.R")
    for case in load_catalog()["glmm"]:
        fx = json.loads((ROOT / "fixtures" / "r" / "glmm" / f"{case['id']}.json").read_text())
        assert fx["provenance"]["script_sha256"] == ref, case["id"]
        fl = json.loads((ROOT / "fixtures" / "r" / "floor" / f"{case['id']}.glmm.json")
                        .read_text())
        assert fl["provenance"]["script_sha256"] == floor, case["id"]
        assert len(fl["permuted"]) == 16
