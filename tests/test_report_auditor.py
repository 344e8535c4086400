"""The parity report as an auditor reads it: tolerances printed with the term that bound
each comparison, absolute errors beside atol-carried cells, drift per quantity, versions
first, kinds counted apart, empty quantities not passing, progress per side, and the
diagnostics' Bland–Altman and Q–Q plots."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from parity import compare, progress
from parity.compare import (
    AT_OPTIMUM,
    AT_R_THETA,
    CLASS_REASONS,
    compare_keyed,
    drift,
    element_points,
    worst_drift,
)
from parity.diag import run_diag_entry
from parity.diag_compare import get_entry
from parity.html import render_html, verdict_text
from parity.run import case_line, environment, lmm_entry, markdown, r_version

CONVENTIONS = [("Cook's distance", "three conventions")]


def _entry(kind: str, case: str, passed: bool = True, quantities=()) -> dict:
    return {"case": case, "kind": kind, "passed": passed, "mode": "stored",
            "classification": "agree", "seconds": 1.0, "quantities": list(quantities)}


# -- comparison: which tolerance bound, and empty quantities -------------------------------
def test_binding_names_the_term_that_carried_the_worst_element():
    # element a: bound 1e-6 + 1e-9·1 ≈ atol; element b: bound 1e-6 + 1e-9·1e6 = 1e-3, rtol
    q = compare_keyed("x", {"a": 1.0 + 5e-7, "b": 1e6 + 1e-4}, {"a": 1.0, "b": 1e6}, 1e-9,
                      1e-6, "exact-at-theta")
    assert q.passed and q.binding == "atol"
    assert q.tol_used == pytest.approx(5e-7 / (1e-6 + 1e-9), rel=1e-6)
    q = compare_keyed("x", {"a": 1.0, "b": 1e6 + 9e-4}, {"a": 1.0, "b": 1e6}, 1e-9, 1e-6,
                      "exact-at-theta")
    assert q.passed and q.binding == "rtol" and q.tol_used == pytest.approx(0.9, rel=1e-3)
    q = compare_keyed("x", {"a": 1.0}, {"a": 1.0}, 0.0, 0.0, "boundary")
    assert q.passed and q.binding == "none" and q.tol_used == 0.0
    q = compare_keyed("x", {"a": 2.0}, {"a": 1.0}, 0.0, 0.0, "boundary")
    assert not q.passed and q.tol_used == np.inf
    assert compare_keyed("x", {"a": np.nan}, {"a": 1.0}, 1e-9, 0.0, "c").tol_used == np.inf


def test_a_quantity_with_nothing_compared_fails():
    q = compare_keyed("ranef", {}, {}, 1e-8, 0.0, "exact-at-theta", "why")
    assert q.n == 0 and not q.passed and compare.NOTHING_COMPARED in q.why
    assert not compare.case_passed([q])


def test_rows_built_without_elements_still_say_which_term_applies():
    q = compare.QuantityResult("c", 1, 0.0, 0.0, 0.0, 1e-8, "refit-dependent", True)
    assert q.binding == "rtol" and q.as_dict()["binding"] == "rtol"
    assert compare.compare_objective(100.0, 100.0 - 1e-7).binding == "rtol"


def test_no_reason_cites_an_issue_number():
    texts = [*CLASS_REASONS.values(), *(r.why for r in AT_R_THETA + AT_OPTIMUM)]
    assert not [t for t in texts if re.search(r"issue\s*#?\d", t)]
    names = [r.name or r.quantity + "_at_r_theta" for r in AT_R_THETA]
    assert "devfun_at_r_points" in names and not [n for n in names if "_at_at_" in n]


def test_real_entries_render_without_issue_numbers(tmp_path):
    from parity.catalog import get_case
    from parity.data import case_data, case_fixtures_dir

    case = get_case("dyestuff_reml")
    fx = json.loads((case_fixtures_dir(case) / "dyestuff_reml.json").read_text())
    lmm = lmm_entry(case, fx, case_data(case), "stored")
    diag = run_diag_entry(get_entry("diag_dyestuff_batch"), "stored")
    env = {"mode": "stored", "mode_reason": "test", "R": "4.2.2", "lme4": "1.1.31"}
    html = render_html({"environment": env, "cases": [lmm, diag]}, CLASS_REASONS, CONVENTIONS)
    md = markdown(env, [lmm, diag])
    for text in (html, md):
        assert not re.search(r"issue\s*#?\d", text)
        assert "devfun_at_at" not in text and "devfun_at_r_points" in text
    assert "| bound by |" in md and ("| atol (" in md or "| rtol (" in md)


# -- the page -------------------------------------------------------------------------------
def test_kinds_are_counted_apart():
    cases = [_entry("lmm", "a"), _entry("lmm", "b", False), _entry("diagnostics", "d"),
             _entry("inference", "i")]
    assert verdict_text(cases) == ("1 of 2 LMM cases pass · 1 of 1 diagnostics entries pass "
                                   "· 1 of 1 inference entries pass")
    md = markdown({"mode": "stored", "mode_reason": "t"}, cases)
    assert md.splitlines()[2] == f"**{verdict_text(cases)}.**"


def test_versions_first_and_r_said_once():
    assert r_version("R version 4.2.2 Patched (2022-11-10 r83330)") == \
        "4.2.2 Patched (2022-11-10 r83330)"
    assert r_version("4.2.2") == "4.2.2" and r_version(None) is None
    manifest = {"cases": {"x": {"R": "R version 4.2.2 Patched", "lme4": "1.1.31",
                                "lmerTest": "3.1.3", "Matrix": "1.5.3"}}}
    env = environment("stored", "test", manifest)
    assert env["R"] == "4.2.2 Patched" and env["pbkrtest"]
    html = render_html({"environment": env, "cases": [_entry("lmm", "a")]}, CLASS_REASONS, [])
    top = html.split("<h2>")[0]
    assert "<b>R</b> 4.2.2 Patched" in top and "<b>lme4</b> 1.1.31" in top
    assert "R R version" not in html and "R version" not in html


def _q(name, rel, abs_err, binding, rtol=1e-9, atol=1e-6, n=3, passed=True, gating=True):
    return {"name": name, "n": n, "max_abs_err": abs_err, "max_rel_err": rel, "atol": atol,
            "rtol": rtol, "class": "exact-at-theta", "passed": passed, "gating": gating,
            "worst_key": "k", "missing": [], "why": "", "binding": binding, "tol_used": 0.3}


def test_atol_carried_cells_show_the_absolute_error_and_tolerances_are_printed():
    q1 = _q("residuals_at_r_theta", 1.0, 3e-13, "atol")
    q2 = _q("fixef_at_r_theta", 1e-14, 1e-13, "rtol")
    html = render_html({"environment": {}, "cases": [_entry("lmm", "a", True, [q1, q2])]},
                       CLASS_REASONS, [])
    matrix = html.split('<table class="matrix">')[1].split("</table>")[0]
    assert '1e+00<br><span class="abs">abs 3e-13</span>' in matrix
    assert ">1e-14</td>" in matrix  # rtol-bound: the relative error alone
    assert ">rtol</td>" in matrix and ">atol</td>" in matrix
    assert ">1e-09</td>" in matrix and ">1e-06</td>" in matrix
    assert "bound by atol (cases)" in matrix and ">1/1</td>" in matrix
    details = html.split("<h2>Cases</h2>")[1]
    assert "bound by (err / bound)" in details and "atol (3.0e-01)" in details


def test_empty_non_gating_quantity_shows_not_applicable():
    q = _q("cooksd[hlmdiag-refit]", 0.0, 0.0, "none", n=0, passed=False, gating=False)
    html = render_html({"environment": {}, "cases": [_entry("lmm", "a", True, [q])]},
                       CLASS_REASONS, [])
    assert '<td class="na"' in html and ">n/a</td>" in html
    md = markdown({"mode": "stored", "mode_reason": "t"}, [_entry("lmm", "a", True, [q])])
    assert "| not applicable |" in md


# -- drift -----------------------------------------------------------------------------------
def test_drift_is_measured_per_quantity_against_its_scale():
    live = {"fitted": {"a": 100.0, "b": 1e-9}, "fixef": {"x": 1.0}, "theta": {"t": 1.0}}
    stored = {"fitted": {"a": 100.0 + 1e-9, "b": 2e-9}, "fixef": {"x": 1.0}}
    rows = {d["name"]: d for d in drift(live, stored)}
    assert rows["fitted"]["max_rel_diff"] == pytest.approx(0.5)  # the near-zero element
    assert rows["fitted"]["max_diff_to_scale"] == pytest.approx(1e-9 / (100.0 + 1e-9))
    assert rows["theta"]["missing"] == "stored" and rows["fixef"]["max_abs_diff"] == 0.0
    w = worst_drift(list(rows.values()))
    assert w["name"] == "fitted"
    entry = {**_entry("lmm", "insteval_ml"), "drift": list(rows.values()), "seconds_r": 0.75}
    line = case_line(entry)
    assert "drift vs stored 1.0e-11 of max|R| (fitted)" in line
    assert "(R 0.8s, Python 0.2s)" in line


def test_drift_section_in_html_and_markdown():
    live_rows = drift({"fixef": {"x": 1.0 + 1e-12}, "ranef": {"a": 1.0}}, {"fixef": {"x": 1.0}})
    cases = [{**_entry("lmm", "a"), "mode": "live", "drift": live_rows}]
    html = render_html({"environment": {"mode": "live"}, "cases": cases}, CLASS_REASONS, [])
    section = html.split("<h2>Drift: live R against the stored fixtures</h2>")[1]
    section = section.split("<h2>")[0]
    assert "1.0e-12" in section and "missing from the stored side" in section
    md = markdown({"mode": "live", "mode_reason": "t"}, cases)
    assert "- a / fixef: max diff / max|stored| 1.0e-12" in md and "missing —" not in md
    assert "- a / ranef: the whole quantity is missing from the stored side" in md
    stored = render_html({"environment": {"mode": "stored"}, "cases": [_entry("lmm", "a")]},
                         CLASS_REASONS, [])
    assert "Not measured" in stored.split("Drift: live R against the stored fixtures</h2>")[1]
    assert "Not measured" in markdown({"mode": "stored", "mode_reason": "t"},
                                      [_entry("lmm", "a")])


# -- progress ----------------------------------------------------------------------------------
def test_progress_announces_each_side_in_live_mode(capsys):
    with progress.case("insteval_ml", announce=True) as sides:
        with progress.side("Python", "interlace.fit"):
            pass
        with progress.side("R", "lme4::lmer"):
            pass
    err = capsys.readouterr().err
    assert "insteval_ml: Python (interlace.fit) …" in err
    assert "insteval_ml: R (lme4::lmer) …" in err and "insteval_ml: R done in" in err
    assert set(sides) == {"Python", "R"}
    with progress.case("quiet") as sides:
        with progress.side("R"):
            pass
    assert capsys.readouterr().err == "" and "R" in sides


# -- diagnostics plots -----------------------------------------------------------------------
def test_element_points_keep_the_largest_differences():
    r = {str(i): float(i + 1) for i in range(1000)}
    py = {k: v + (1e-3 if k == "500" else 1e-12) for k, v in r.items()}
    pts = element_points(py, r, limit=100)
    assert pts["n"] == 1000 and len(pts["diff"]) == 100
    assert max(pts["diff"]) == pytest.approx(1e-3)
    worst = pts["diff"].index(max(pts["diff"]))
    assert pts["rel"][worst] == pytest.approx(1e-3 / 501, rel=1e-3)  # 4 significant digits
    assert element_points({"a": 0.0}, {"a": 0.0})["rel"] == [None]


def test_diagnostics_entries_get_bland_altman_and_qq_plots():
    out = run_diag_entry(get_entry("diag_dyestuff_batch"), "stored")
    with_points = [q for q in out["quantities"] if q.get("points")]
    assert with_points and all(q["points"]["n"] == q["n"] for q in with_points)
    html = render_html({"environment": {}, "cases": [out]}, CLASS_REASONS, CONVENTIONS)
    assert "Q–Q of the element-wise relative errors" in html
    details = html.split("<h2>Cases</h2>")[1]
    assert details.count('aria-label="relative errors, all quantities') == 1
    n_ba = sum(1 for q in with_points if q["points"]["diff"])
    assert details.count("<svg") == 1 + n_ba
    assert "ours − R&#x27;s" in details


def test_the_share_of_the_bound_agrees_with_the_verdict():
    """Every compared quantity passes exactly when its worst error used at most its bound
    (exempted GLMM optima held to a wider rtol included)."""
    from parity.catalog import load_catalog
    from parity.run import run

    cat = load_catalog()
    cases = [c for c in cat["cases"] if c["id"] in ("dyestuff2_ml", "machines_factor_slope")]
    glmm = [c for c in cat["glmm"] if c["id"] == "sleepstudy_gamma"]
    entries = run(cases, "stored", (), glmm, ())
    assert len(entries) == 3
    for e in entries:
        for q in e["quantities"]:
            if q["n"]:
                assert q["passed"] == (q["tol_used"] <= 1.0), (e["case"], q["name"])
