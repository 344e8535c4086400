"""Bad and awkward inputs (issue 9): every case of parity/robustness.toml.

lme4's outcome on the same input is recorded by parity/r/robustness_reference.R in
fixtures/r/robustness.json; each case states lme4's outcome class (checked here against
the recording), interlace's, the words interlace's message must contain, and why the two
differ where they do.  Where both fit, the numbers are compared with lme4's.
"""

from __future__ import annotations

import numpy as np
import pytest
from parity.robustness import load_cases, load_fixture, run_case

CASES = load_cases()
RECORDED = load_fixture()
IDS = [c["id"] for c in CASES]


def _r_text(rec: dict) -> str:
    return " | ".join([rec.get("error") or "", *rec.get("warnings", []),
                       *rec.get("messages", [])])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_lme4_outcome_is_as_catalogued(case):
    rec = RECORDED[case["id"]]
    assert rec["outcome"] == case["lme4"], _r_text(rec)
    if case.get("lme4_match"):
        assert case["lme4_match"] in _r_text(rec)


def _compare_fit(res, r_fit: dict, intercept_shift: float = 0.0) -> None:
    theta = dict(zip(res.theta_names, res.theta, strict=True))
    assert set(theta) == set(r_fit["theta"])
    for k, v in r_fit["theta"].items():
        assert theta[k] == pytest.approx(v, rel=5e-5, abs=1e-4), k
    assert set(res.fe_params.index) == set(r_fit["fixef"])
    for k, v in r_fit["fixef"].items():
        v = v + intercept_shift if k == "(Intercept)" else v
        assert res.fe_params[k] == pytest.approx(v, rel=1e-5), k
    assert res.llf == pytest.approx(r_fit["loglik"], rel=1e-8)
    assert res.sigma == pytest.approx(r_fit["sigma"], rel=1e-5)
    assert res.nobs == r_fit["nobs"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_interlace_outcome(case):
    out = run_case(case)
    assert out.kind == case["expect"], out.messages
    for words in case.get("match", []):
        assert any(words in m for m in out.messages), (words, out.messages)
    other = case.get("compare_with")
    if not (case.get("compare") or other):
        return
    rec = RECORDED[other or case["id"]]
    if case.get("call") == "predict":
        r = np.array([np.nan if v is None else v for v in rec["predictions"]])
        np.testing.assert_allclose(np.asarray(out.value), r, rtol=1e-6, equal_nan=True)
    else:
        _compare_fit(out.value, rec["fit"], case.get("intercept_shift", 0.0))


def test_every_item_of_the_issue_has_cases():
    assert {c["item"] for c in CASES} >= set(range(1, 9))
