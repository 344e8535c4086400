"""The validation package (issue 12): ``nox -s validation`` → ``parity.validation``:
installation with per-distribution hashes, requirements traced to tests and parity
entries (not met without passing evidence), the run's results, certify reports, appendix,
as one HTML file and its PDF."""

from __future__ import annotations

import json
import shutil
import tomllib
from importlib import metadata

import pytest
from parity import validation
from parity.data import ROOT

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.test_a" name="test_one" time="0.5"/>
<testcase classname="tests.test_a" name="test_two[x]" time="0.1"/>
<testcase classname="tests.test_b" name="test_bad" time="0.1"><failure message="boom"/></testcase>
<testcase classname="tests.test_c" name="test_skip" time="0"><skipped message="no R"/></testcase>
</testsuite></testsuites>"""


def _parity(passed=True):
    q = {"name": "objective_at_r_theta", "n": 1, "max_abs_err": 1e-13, "max_rel_err": 1e-15,
         "atol": 0.0, "rtol": 1e-10, "class": "exact-at-theta", "passed": passed,
         "gating": True, "worst_key": "", "missing": [], "why": ""}
    return {"environment": {"mode": "stored", "mode_reason": "test"},
            "cases": [{"case": "dyestuff_reml", "kind": "lmm", "passed": passed,
                       "classification": "agree", "quantities": [q]},
                      {"case": "ls_means", "kind": "inference", "passed": True,
                       "classification": "agree", "quantities": [q]}],
            "robustness": [{"case": "x", "passed": True}]}


@pytest.fixture
def junit(tmp_path):
    p = tmp_path / "junit.xml"
    p.write_text(JUNIT)
    return validation.read_junit(p)


def test_junit_is_read_by_file_and_outcome(junit):
    assert [(t.file, t.name, t.outcome) for t in junit] == [
        ("tests/test_a.py", "test_one", "passed"), ("tests/test_a.py", "test_two[x]", "passed"),
        ("tests/test_b.py", "test_bad", "failed"), ("tests/test_c.py", "test_skip", "skipped")]


def test_a_requirement_needs_passing_evidence(junit):
    reqs = [{"id": "A", "text": "", "tests": ["tests/test_a.py"], "parity": ["tag:t"]},
            {"id": "B", "text": "", "tests": ["tests/test_a.py::test_two"]},
            {"id": "C", "text": "", "tests": ["tests/test_b.py"]},
            {"id": "D", "text": "", "tests": ["tests/test_c.py"]},
            {"id": "E", "text": "", "tests": ["tests/test_nowhere.py"]},
            {"id": "F", "text": "", "parity": ["ls_means", "robustness"]},
            {"id": "G", "text": "", "parity": ["tag:unknown"]},
            {"id": "H", "text": ""}]
    out = {r.id: r for r in validation.trace(reqs, junit, _parity(), {"t": ["dyestuff_reml"]})}
    assert out["A"].met and out["B"].met and out["F"].met
    assert out["A"].evidence == ["tests/test_a.py: 2 passed", "parity tag:t: 1 entry passed"]
    assert not out["C"].met and "1 of 1 not passed (failed)" in out["C"].problems[0]
    assert not out["D"].met and "(skipped)" in out["D"].problems[0]
    assert not out["E"].met and out["E"].problems == ["tests/test_nowhere.py: did not run"]
    assert not out["G"].met and not out["H"].met  # no evidence at all
    failed = validation.trace(reqs[:1], junit, _parity(passed=False), {"t": ["dyestuff_reml"]})
    assert failed[0].problems == ["parity tag:t: dyestuff_reml failed"]


def test_every_requirement_names_existing_tests_and_entries():
    spec = tomllib.loads(validation.REQUIREMENTS.read_text())
    ids = [r["id"] for r in spec["requirement"]]
    assert len(ids) == len(set(ids)) and spec["version"]
    tags = validation.catalog_tags()
    from parity import inference
    for r in spec["requirement"]:
        assert r["tests"], r["id"]
        for t in r["tests"]:
            assert (ROOT / t.split("::")[0]).exists(), (r["id"], t)
        for p in r.get("parity", []):
            assert (p in ("robustness", "diagnostics") or p in inference.ENTRY_IDS
                    or (p.startswith("tag:") and tags.get(p[4:]))), (r["id"], p)


def test_distribution_digest_matches_its_record():
    d = validation.distribution_digest(metadata.distribution("numpy"))
    assert d["name"] == "numpy" and d["files"] > 100 and d["record_mismatches"] == 0
    assert d == validation.distribution_digest(metadata.distribution("numpy"))


def test_the_package_is_written(tmp_path):
    (tmp_path / "junit.xml").write_text(JUNIT)
    (tmp_path / "parity.json").write_text(json.dumps(_parity()))
    certs = tmp_path / "certify"
    certs.mkdir()
    (certs / "m.json").write_text(json.dumps({"cases": [{
        "case": "m", "passed": True, "classification": "agree", "call": "lmer(y ~ x + (1|g))",
        "versions": "exported with R 4.2.2, lme4 1.1.31"}]}))
    pdf = shutil.which("chromium") is not None
    status = validation.main(["--junit", str(tmp_path / "junit.xml"), "--parity",
                              str(tmp_path / "parity.json"), "--certify", str(certs), "--out",
                              str(tmp_path / "out"), *([] if pdf else ["--no-pdf"])])
    assert status == 1  # the synthetic run proves few requirements
    html = (tmp_path / "out" / "validation.html").read_text()
    for part in ("1. Installation", "2. Requirements", "3. Operation",
                 "4. Performance on your models", "Appendix", "Sign-off", "NOT MET",
                 "lmer(y ~ x + (1|g))", "numpy", "Limitations"):
        assert part in html, part
    assert "http://" not in html and "https://" not in html and "<script" not in html
    rows = (tmp_path / "out" / "requirements.csv").read_text().splitlines()
    assert rows[0] == "id,met,evidence,problems" and len(rows) > 10
    if pdf:
        assert (tmp_path / "out" / "validation.pdf").read_bytes()[:5] == b"%PDF-"


def test_limitations_come_from_the_readme():
    assert "GLMM items" in validation.limitations()
