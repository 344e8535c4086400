"""Snapshots (pytest-regressions) of Python-only outputs: summary() text, VarCorr, OptSummary.

These have no R reference to compare with (the text layout is ours), so they are pinned
against accidental change: regenerate with ``pytest tests/test_snapshots.py
--force-regen`` after an intended change, and review the diff.  Values are printed at
display precision (5 significant digits for VarCorr), which does not depend on the last
bits of the optimum; cases on flat surfaces (catalog exemptions) are left out.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
from parity.pyside import fit_case

from conftest import catalog_cases, dataset, fitted, r_fixture

CASES = ["sleepstudy_slopes_reml", "dyestuff2_reml", "penicillin_crossed",
         "orthodont_rankdef", "machines_nested", "cake_ordered"]


@pytest.mark.parametrize("case_id", CASES)
def test_summary_text(case_id, file_regression):
    file_regression.check(fitted(case_id).summary().as_text(), basename=f"summary_{case_id}",
                          extension=".txt")


@pytest.mark.parametrize("case_id", ["sleepstudy_slopes_reml", "pastes_nested"])
def test_varcorr_table(case_id, data_regression):
    res = fitted(case_id)
    rows = [{k: (float(f"{float(v):.5g}") if isinstance(v, float) else v) for k, v in r.items()}
            for r in res._layout.varcorr(res.theta, res.sigma)]
    data_regression.check({"theta_names": list(res.theta_names), "varcorr": rows},
                          basename=f"varcorr_{case_id}")


#: lines lme4 prints right after a block without a blank line in between
_AFTER = re.compile(r"^(fit warnings|optimizer \(|convergence code|boundary \(singular\)|"
                    r"Some predictor|Model failed|Model is nearly)")


def _same_text(ours: list[str], r: list[str]) -> None:
    """Line for line equal, except a number may differ by one unit in its last printed
    digit (a rounding knife-edge: our value at lme4's θ̂ differs from lme4's at ~1e-14)."""
    assert len(ours) == len(r), (ours, r)
    for a, b in zip(ours, r, strict=True):
        if a == b:
            continue
        assert len(a) == len(b), (a, b)
        for x, y in zip(a.split(), b.split(), strict=True):
            if x != y:
                ulp = 10.0 ** -len(y.split(".")[1]) if "." in y else 1.0
                assert abs(float(x) - float(y)) <= ulp * 1.000001, (a, b)


def _r_block(lines: list[str], title: str) -> list[str]:
    """The block of a printed summary that starts at ``title`` (to a blank or a message)."""
    k = lines.index(title)
    end = next((i for i in range(k + 1, len(lines))
                if not lines[i].strip() or _AFTER.match(lines[i])), len(lines))
    return lines[k:end]


@pytest.mark.parametrize("case_id", [c["id"] for c in catalog_cases("quick")])
def test_correlation_block_is_lme4s(case_id):
    """'Correlation of Fixed Effects' character for character as lme4 prints it.

    Compared at lme4's θ̂ (``evaluate_at``), so the numbers are lme4's; the text is
    ``fixtures/r/<case>.json``'s ``summary_text`` (lme4's print, width 80).
    """
    fx = r_fixture(case_id)
    r_lines = fx["summary_text"]
    case = next(c for c in catalog_cases(None) if c["id"] == case_id)
    theta = [t["value"] for t in fx["theta"]]
    ours = fit_case(case, dataset(case["dataset"]), theta=theta).summary().as_text()
    ours = ours.splitlines()
    if "Correlation of Fixed Effects:" in r_lines:
        title = "Correlation of Fixed Effects:"
        _same_text(_r_block(ours, title), _r_block(r_lines, title))
    else:  # p > 12 (or 1): lmerTest's print shows nothing
        assert "Correlation of Fixed Effects:" not in ours


@pytest.mark.parametrize("case_id", [c["id"] for c in catalog_cases("quick")])
def test_title_is_lmertests(case_id):
    """The title with ``[lmerModLmerTest]`` wrapped as R wraps it, and the REML criterion
    or the AIC table, as lmerTest prints them (the formula line is the formula as written:
    R prints its own deparse of it, with its spacing)."""
    fx = r_fixture(case_id)
    case = next(c for c in catalog_cases(None) if c["id"] == case_id)
    theta = [t["value"] for t in fx["theta"]]
    ours = fit_case(case, dataset(case["dataset"]), theta=theta).summary().as_text()
    r = [x for x in fx["summary_text"]
         if not x.startswith(("   Data:", "Control:", "Formula:"))]
    ours = [x for x in ours.splitlines() if not x.startswith("Formula:")]
    k = r.index("Scaled residuals: ")
    _same_text(ours[:k], r[:k])


@pytest.mark.parametrize("case_id", [c["id"] for c in catalog_cases("quick")])
def test_random_effects_block_is_lme4s(case_id):
    """'Random effects' (VarCorr table and group counts) character for character, at
    lme4's θ̂, against lme4's printed summary in ``fixtures/r/<case>.json``."""
    fx = r_fixture(case_id)
    case = next(c for c in catalog_cases(None) if c["id"] == case_id)
    theta = [t["value"] for t in fx["theta"]]
    ours = fit_case(case, dataset(case["dataset"]), theta=theta).summary().as_text()
    _same_text(_r_block(ours.splitlines(), "Random effects:"),
               _r_block(fx["summary_text"], "Random effects:"))


@pytest.mark.parametrize("case_id", [c["id"] for c in catalog_cases("quick")])
def test_fixed_effects_block_is_lme4s(case_id):
    """'Fixed effects' (printCoefmat with Satterthwaite df, P values, stars and legend)
    character for character at lme4's θ̂, against lme4's printed summary.

    The df are lmerTest's own here: ours agree to ~1e-6 relative (numerical derivatives;
    ``test_inference_satterthwaite``), which R's 5-decimal print can expose in the last
    digit; this test is about the layout and every other number.
    """
    fx = r_fixture(case_id)
    case = next(c for c in catalog_cases(None) if c["id"] == case_id)
    theta = [t["value"] for t in fx["theta"]]
    res = fit_case(case, dataset(case["dataset"]), theta=theta)
    res.__dict__["fe_df"] = pd.Series(fx["satterthwaite_df"])[res.fe_params.index]
    ours = res.summary().as_text()
    _same_text(_r_block(ours.splitlines(), "Fixed effects:"),
               _r_block(fx["summary_text"], "Fixed effects:"))


@pytest.mark.parametrize("case_id", [c["id"] for c in catalog_cases("quick")])
def test_residual_and_fit_blocks_are_lme4s(case_id):
    """'Scaled residuals' and, for ML fits, the AIC/BIC/logLik/deviance/df.resid line, as
    lme4 prints them (at lme4's θ̂)."""
    fx = r_fixture(case_id)
    case = next(c for c in catalog_cases(None) if c["id"] == case_id)
    theta = [t["value"] for t in fx["theta"]]
    ours = fit_case(case, dataset(case["dataset"]), theta=theta).summary().as_text()
    ours, r = ours.splitlines(), fx["summary_text"]
    k_o, k_r = ours.index("Scaled residuals: "), r.index("Scaled residuals: ")
    _same_text(ours[k_o:k_o + 3], r[k_r:k_r + 3])
    if case["method"] == "ML":
        _same_text(ours[k_o - 3:k_o - 1], r[k_r - 3:k_r - 1])


@pytest.mark.parametrize("case_id", ["dyestuff2_reml"])
def test_footer_is_lme4s(case_id):
    """lme4's ``.prt.warn`` footer of a singular fit, from our own fit: the optimizer's
    convergence line (lme4 names NLopt's BOBYQA ``nloptwrap``), the message, an empty
    line."""
    fx = r_fixture(case_id)
    case = next(c for c in catalog_cases(None) if c["id"] == case_id)
    ours = fit_case(case, dataset(case["dataset"])).summary().as_text().splitlines()
    r = fx["summary_text"]
    k = next(i for i, x in enumerate(r) if x.startswith("optimizer ("))
    want = list(r[k:])
    while want and not want[-1]:  # the text's final newline
        want.pop()
    assert ours[-len(want):] == want
