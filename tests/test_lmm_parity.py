"""Quick-level parity: every quick catalog case against its stored lme4 fixture.

At lme4's θ̂ every quantity must agree to rounding (formula exactness); at our own
optimum the tolerances of issue 2 apply (see parity/compare.py for each class's
reason).  Cases whose optimum block is exempted in the catalog (lme4 stopped short
on a flat surface) must still have an objective no worse than lme4's.
"""

from __future__ import annotations

import json

import pytest
from parity.compare import case_passed, compare_case
from parity.data import ROOT, sha256_file
from parity.optimum_floor import floor_path, objective_tolerance
from parity.pyside import r_canonical

from conftest import catalog_cases, parity_run, r_fixture

QUICK = catalog_cases("quick")


@pytest.mark.parametrize("case", QUICK, ids=[c["id"] for c in QUICK])
def test_case_matches_lme4(case):
    fx = r_fixture(case["id"])
    py_opt, py_at_r, _ = parity_run(case["id"])
    results = compare_case(py_opt, py_at_r, r_canonical(fx),
                           exempt_optimum=case.get("exempt_optimum", ""),
                           objective_tol=objective_tolerance(case, fx["objective"]["value"]))
    failed = [
        f"{q.name}: max abs {q.max_abs_err:.3g}, max rel {q.max_rel_err:.3g} "
        f"(atol {q.atol:.3g}, rtol {q.rtol:.3g}) at {q.worst_key}; missing {q.missing[:5]}"
        for q in results if q.gating and not q.passed
    ]
    assert case_passed(results), "\n".join(failed)


@pytest.mark.parametrize("case", QUICK, ids=[c["id"] for c in QUICK])
def test_objective_at_lme4_theta_is_exact(case):
    """Our objective at lme4's θ̂ equals lme4's devfun there to 1e-10 relative."""
    fx = r_fixture(case["id"])
    _, py_at_r, _ = parity_run(case["id"])
    for label, value in r_canonical(fx)["devfun_at"].items():
        assert py_at_r["devfun_at"][label] == pytest.approx(value, rel=1e-10, abs=0), label


def test_flat_exemptions_still_reach_lme4_objective():
    """An exempted case still meets the one-sided objective bound: ≤ lme4's + rtol·|lme4's|,
    rtol = 1e-8 or lme4's own spread over row permutations (fixtures/r/floor)."""
    for case in QUICK:
        if case.get("exempt_optimum"):
            py_opt, _, _ = parity_run(case["id"])
            r_obj = r_fixture(case["id"])["objective"]["value"]
            rtol, _ = objective_tolerance(case, r_obj)
            assert py_opt["objective"] <= r_obj + rtol * abs(r_obj), case["id"]


def test_optimum_floors_are_stored_for_every_exemption():
    """Each exempted case has lme4's measured floor, and its base fit is the fixture's."""
    for case in catalog_cases(None):
        if case.get("exempt_optimum"):
            fl = json.loads(floor_path(case["id"]).read_text())
            assert len(fl["permuted"]) >= 8
            assert fl["base"]["objective"] == r_fixture(case["id"])["objective"]["value"]
            assert fl["provenance"]["script_sha256"] == sha256_file(
                ROOT / "parity" / "r" / "floors.R"), case["id"]
