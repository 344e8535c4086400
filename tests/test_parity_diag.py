"""The diagnostics entries in ``nox -s parity``: selection, report shape, markdown."""

from __future__ import annotations

import json

from parity.catalog import load_catalog
from parity.diag import entry_level, run_diag_entry
from parity.diag_compare import get_entry
from parity.run import markdown, select_diagnostics

DIAG = load_catalog()["diagnostics"]


def test_selection_follows_case_tag_and_level():
    ids = [e["id"] for e in DIAG]
    assert [e["id"] for e in select_diagnostics(DIAG, None, None, "all")] == ids
    assert [e["id"] for e in select_diagnostics(DIAG, None, ["diagnostics"], None)] == ids
    assert [e["id"] for e in select_diagnostics(DIAG, ["diag_pastes"], None, "all")] == [
        "diag_pastes"]
    crossed = select_diagnostics(DIAG, None, ["crossed"], "all")
    assert {e["id"] for e in crossed} == {"diag_penicillin", "diag_penicillin_plate"}
    assert all(entry_level(e) == "quick" for e in DIAG)  # every model case is quick
    assert select_diagnostics(DIAG, None, None, "full") == []
    assert select_diagnostics(DIAG, ["sleepstudy_slopes_reml"], None, "all") == []


def test_entry_shape_and_labels():
    out = run_diag_entry(get_entry("diag_dyestuff_batch"), "stored")
    json.dumps(out)  # JSON-ready
    assert out["kind"] == "diagnostics" and out["passed"] and out["classification"] == "agree"
    assert out["mode"] == "stored (HLMdiag, lme4 influence)" and "drift" not in out
    names = [q["name"] for q in out["quantities"]]
    assert len(names) == len(set(names))
    for label in ("cooksd[hlmdiag-onestep]_at_r_theta", "cooksd[hlmdiag-onestep]",
                  "cooksd[hlmdiag-refit]", "cooks_distance[lme4-influence]",
                  "dfbetas[lme4-influence]", "rvc.D11[hlmdiag-refit]", "leverage[hlmdiag]",
                  "resid.group[hlmdiag]", "theta_deleted[lme4-influence]"):
        assert label in names, label
    classes = {q["name"]: q["class"] for q in out["quantities"]}
    assert classes["cooksd[hlmdiag-onestep]_at_r_theta"] == "exact-at-theta"
    assert classes["cooksd[hlmdiag-onestep]"] == "optimum-dependent"
    assert classes["cooks_distance[lme4-influence]"] == "refit-dependent"
    why = {q["name"]: q["why"] for q in out["quantities"]}
    assert "floor.json" in why["cooks_distance[lme4-influence]"]
    assert "REML" in why["cooksd[hlmdiag-refit]"] and "units" in why["cooksd[hlmdiag-refit]"]


def test_crossed_entry_has_brute_force_leverage():
    out = run_diag_entry(get_entry("diag_penicillin_plate"), "stored")
    names = {q["name"] for q in out["quantities"]}
    assert {"leverage[brute-force]", "leverage[brute-force]_at_r_theta"} <= names
    assert not any(n.endswith("[hlmdiag-refit]") or n.startswith("leverage[hlmdiag]")
                   for n in names)


def test_markdown_has_diagnostics_and_conventions():
    out = run_diag_entry(get_entry("diag_dyestuff_batch"), "stored")
    env = {"mode": "stored", "mode_reason": "test"}
    md = markdown(env, [out])
    assert "## Influence diagnostics" in md and "## Cook's distance conventions" in md
    for label in ("cooksd[hlmdiag-onestep]", "cooksd[hlmdiag-refit]",
                  "cooks_distance[lme4-influence]"):
        assert f"**`{label}`**" in md
    assert "| diag_dyestuff_batch | cooks_distance[lme4-influence] |" in md
    assert "1 of 1 diagnostics entries pass" in md
