"""summary() of a GLMM against lme4's printed ``summary(glmerMod)``, block by block.

At lme4's (θ̂, β̂) with lme4's Hessian-based vcov (ours is compared in
``test_glmm_result``; the print is about the layout and every other number): the title
and family lines, the AIC table, scaled (Pearson) residuals, the random-effects table
(with a residual row only for families with a dispersion), the coefficient table with
z or t values and normal P values, and the correlations.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from parity.catalog import load_catalog
from parity.glmm_parity import evaluate_at_lme4

from conftest import ROOT, dataset
from test_snapshots import _r_block, _same_text

GLMM = ROOT / "fixtures" / "r" / "glmm"
CASES = [c for c in load_catalog()["glmm"] if c["nAGQ"] > 0]


def _ours(case):
    fx = json.loads((GLMM / f"{case['id']}.json").read_text())
    res = evaluate_at_lme4(case, fx, dataset(case["dataset"]))
    names = list(res.fe_params.index)
    V = np.array([[fx["vcov_hessian"][a][b] for b in names] for a in names])
    res.fe_cov = V
    res.fe_bse = res.fe_bse * 0 + np.sqrt(np.diag(V))
    return fx, res.summary().as_text().splitlines()


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_summary_blocks_are_lme4s(case):
    fx, ours = _ours(case)
    r = fx["summary_text"]
    # title (wrapped as lme4 wraps it) and family
    n_title = next(i for i, line in enumerate(r) if line.startswith(" Family:"))
    assert ours[:n_title + 1] == r[:n_title + 1]
    # AIC table and scaled residuals
    ko, kr = ours.index("Scaled residuals: "), r.index("Scaled residuals: ")
    _same_text(ours[ko - 3:ko - 1], r[kr - 3:kr - 1])
    _same_text(ours[ko:ko + 3], r[kr:kr + 3])
    for title in ("Random effects:", "Fixed effects:"):
        _same_text(_r_block(ours, title), _r_block(r, title))
    if "Correlation of Fixed Effects:" in r:
        title = "Correlation of Fixed Effects:"
        _same_text(_r_block(ours, title), _r_block(r, title))
