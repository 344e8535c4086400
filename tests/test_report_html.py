"""The self-contained HTML parity report (parity/html.py)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from parity.html import render_html, write_html

CLASS_REASONS = {"exact-at-theta": "Same θ, same formulas.", "optimum-dependent": "Optimizer."}
CONVENTIONS = [("Cook's distance", "HLMdiag one-step vs full refit vs influence.merMod.")]


def _q(name: str, rel: float, passed: bool = True, gating: bool = True) -> dict:
    return {"name": name, "n": 3, "max_abs_err": rel * 10, "max_rel_err": rel, "atol": 0.0,
            "rtol": 1e-9, "class": "exact-at-theta", "passed": passed, "gating": gating,
            "worst_key": "(Intercept)", "missing": [], "why": "test rule"}


@pytest.fixture
def report() -> dict:
    """Three cases: one passing with drift, one failing (with a `<&>` name), one errored."""
    return {
        "environment": {"mode": "stored fixtures", "python": "3.11", "lme4": "1.1.31",
                        "R": None},
        "cases": [
            {"case": "sleepstudy_reml", "passed": True, "mode": "live",
             "classification": "agree", "exempt_optimum": "", "seconds": 0.5,
             "quantities": [_q("fixef", 1e-14), _q("theta", 0.0), _q("se", 2e-3, False, False)],
             "drift": [{"name": "fixef", "n": 2, "max_abs_diff": 1e-13, "max_rel_diff": 4e-15,
                        "missing": ""},
                       {"name": "ranef", "n": 0, "max_abs_diff": None, "max_rel_diff": None,
                        "missing": "live"}]},
            {"case": "bad<&>case", "passed": False, "mode": "stored",
             "classification": "formula problem (disagrees at lme4's θ)",
             "exempt_optimum": "flat <surface>", "seconds": 1.25,
             "quantities": [_q("fixef", 3e-2, False), _q("theta", float("inf"), False)]},
            {"case": "broken_case", "passed": False, "mode": "stored",
             "classification": "error: ValueError: singular X", "seconds": 0.01,
             "quantities": []},
        ],
    }


def _assert_self_contained(html: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<script[^>]*\bsrc", html, re.I)
    assert not re.search(r"<link\b", html, re.I)
    assert "@import" not in html and "url(" not in html


def test_render_contents(report):
    html = render_html(report, CLASS_REASONS, CONVENTIONS)
    assert html.startswith("<!DOCTYPE html>")
    assert "1 of 3 LMM cases pass" in html
    assert "stored fixtures" in html
    for name in ("sleepstudy_reml", "broken_case", "bad&lt;&amp;&gt;case"):
        assert name in html
    assert "bad<&>case" not in html and "flat <surface>" not in html
    assert "flat &lt;surface&gt;" in html
    assert "error: ValueError: singular X" in html
    assert "Live R vs stored fixture" in html and "4.0e-15" in html
    assert "the whole quantity is missing from the live side" in html
    assert html.count("<svg") == 1
    n_points = sum(len(c["quantities"]) for c in report["cases"])
    assert html.count('<circle class="pt"') == n_points == 5
    assert "<title>bad&lt;&amp;&gt;case — fixef" in html
    assert 'class="matrix"' in html and html.count("<details") == 3
    for cls in ('class="pass"', 'class="fail"', 'class="exempt"'):
        assert cls in html
    assert "Cook&#x27;s distance" in html and "Same θ, same formulas." in html
    _assert_self_contained(html)


def test_write_html(report, tmp_path):
    path = write_html(report, CLASS_REASONS, [], tmp_path / "sub" / "parity.html")
    text = path.read_text(encoding="utf-8")
    assert path.exists() and "None recorded." in text


def test_render_in_headless_chromium(report, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (CI installs Debian's chromium package)")
    page = write_html(report, CLASS_REASONS, CONVENTIONS, tmp_path / "parity.html")
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=60)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert '<table class="matrix">' in dom.stdout
    assert "<svg" in dom.stdout and dom.stdout.count('class="pt"') == 5
    shot = tmp_path / "shot.png"
    res = subprocess.run([*base, f"--screenshot={shot}", "--window-size=1280,2000",
                          page.as_uri()], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _dq(name: str, rel: float, scaled: float, passed: bool = True, gating: bool = True) -> dict:
    return {**_q(name, rel, passed, gating), "class": "refit-dependent",
            "max_err_to_scale": scaled, "tol_to_scale": 3e-5}


def test_diagnostics_get_their_own_matrix_and_plot(report):
    """Diagnostics entries (kind "diagnostics") are drawn apart, on err / max|R|, with the
    Cook's distance conventions listed; the LMM matrix keeps only LMM quantities."""
    report["cases"].append({
        "case": "diag_sleepstudy", "kind": "diagnostics", "model": "sleepstudy_slopes_reml",
        "level": "1", "sources": ["hlmdiag_onestep", "lme4_influence"], "passed": True,
        "mode": "stored (HLMdiag, lme4 influence)", "classification": "agree", "seconds": 0.4,
        "quantities": [_dq("cooksd[hlmdiag-onestep]_at_r_theta", 3.0, 4e-14),
                       _dq("cooks_distance[lme4-influence]", 2e-3, 7e-6),
                       _dq("cooksd[hlmdiag-refit]", 0.0, 0.0, False, False)]})
    notes = [("cooksd[hlmdiag-onestep]", "one-step, `no refit`")]
    html = render_html(report, CLASS_REASONS, CONVENTIONS, notes)
    assert html.count('class="matrix"') == 2 and html.count("<svg") == 2
    assert "Influence diagnostics: worst error per entry and quantity" in html
    assert "<li><b>cooksd[hlmdiag-onestep]</b>: one-step, no refit</li>" in html
    lmm_matrix = html.split("Influence diagnostics: worst")[0]
    assert "cooks_distance[lme4-influence]" not in lmm_matrix
    assert ">4e-14</td>" in html and ">7e-06</td>" in html  # the scaled error, not 3.0
    assert "bound (per entry)" in html and "log10(max error / max|R|)" in html
    assert html.count("<details") == 4 and "deletion level: 1" in html
    assert "err / max|R|" in html
    _assert_self_contained(html)
