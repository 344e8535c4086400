"""The inference entries of the parity harness (parity/inference.py), in stored mode: each
compares what the pytest suites compare, in the harness's tolerance classes, and the
reports render them."""

from __future__ import annotations

import pytest
from parity import inference
from parity.html import render_html
from parity.run import markdown


@pytest.mark.parametrize("entry_id", ["rng", "simulate", "contest", "kenward_roger"])
def test_stored_entry_passes(entry_id):
    e = inference.run_inference_entry(entry_id, "stored")
    assert e["kind"] == "inference" and e["passed"], e["classification"]
    assert e["quantities"] and all(q["n"] > 0 for q in e["quantities"])


def test_entry_fails_on_a_changed_reference(monkeypatch):
    """A reference moved by more than its tolerance fails its quantity (the comparison can
    fail)."""
    import json

    real = json.loads((inference.FIXTURES / "rng.json").read_text())
    real["draws"][0]["rnorm"][5] += 1e-12
    monkeypatch.setattr(inference, "_live", lambda *a: real)
    e = inference.run_inference_entry("rng", "live")
    assert not e["passed"] and "rng_bits" in e["classification"]
    assert any((d["max_abs_diff"] or 0) > 0 for d in e["drift"])


def test_reports_show_the_inference_section():
    e = inference.run_inference_entry("rng", "stored")
    env = {"mode": "stored", "mode_reason": "test", "lme4": "1.1.31", "R": "R 4.2.2"}
    md = markdown(env, [e])
    assert "## Inference" in md and "rng_bits" in md
    html = render_html({"environment": env, "cases": [e]}, {"exact-at-theta": "x"}, [])
    assert "Inference (lmerTest" in html and "rng_bits" in html
