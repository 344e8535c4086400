"""Bad and awkward inputs (issue 9): every case of parity/robustness.toml.

lme4's outcome on the same input is recorded by parity/r/robustness_reference.R in
fixtures/r/robustness.json; each case states lme4's outcome class (checked here against
the recording), interlace's, the words interlace's message must contain, and why the two
differ where they do.  Where both fit, the numbers are compared with lme4's.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from parity.robustness import CATALOG, FIXTURE, check_case, load_cases, load_fixture

CASES = load_cases()
RECORDED = load_fixture()
IDS = [c["id"] for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_case_behaves_as_catalogued(case):
    """lme4's recorded outcome and interlace's both as the catalog says; numbers agree
    with lme4's where the case compares them (parity.robustness.check_case)."""
    _, problems = check_case(case, RECORDED)
    assert not problems, "\n".join(problems)


def test_recording_is_of_this_catalog():
    """lme4's outcomes were recorded from the catalog as it is (regenerate after edits:
    python -m parity.robustness), with its provenance."""
    fx = json.loads(FIXTURE.read_text())
    assert fx["provenance"]["catalog_sha256"] == hashlib.sha256(CATALOG.read_bytes()).hexdigest()
    assert fx["provenance"]["lme4"] and fx["provenance"]["R"]
    assert set(RECORDED) == set(IDS)


def test_every_item_of_the_issue_has_cases():
    assert {c["item"] for c in CASES} >= set(range(1, 10))  # 9: GLMM inputs (issue 10)
