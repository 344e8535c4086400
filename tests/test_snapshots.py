"""Snapshots (pytest-regressions) of Python-only outputs: summary() text, VarCorr, OptSummary.

These have no R reference to compare with (the text layout is ours), so they are pinned
against accidental change: regenerate with ``pytest tests/test_snapshots.py
--force-regen`` after an intended change, and review the diff.  Values are printed at
display precision (5 significant digits for VarCorr), which does not depend on the last
bits of the optimum; cases on flat surfaces (catalog exemptions) are left out.
"""

from __future__ import annotations

import pytest

from conftest import fitted

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
