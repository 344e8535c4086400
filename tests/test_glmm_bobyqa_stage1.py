"""glmer's stage 1 through interlace's BOBYQA port, against lme4's own run.

Each GLMM fixture traces minqa's ``bobyqa`` on lme4's stage-1 deviance function from
glmer's start with optwrap's control (``stage1_bobyqa``), and that run ends exactly at the
θ̂₁ glmer's stage 2 starts from.  Given lme4's deviance values, the port must ask for the
same points, bit for bit, and stop at the same θ̂₁ with the same code and count.

On our own deviance (equal to lme4's to a few ulps, not bit for bit) the path may leave
lme4's: BOBYQA takes discrete decisions (a trust-region step on or inside the boundary)
that the last bit of a deviance value can flip.  What remains is stopping within
BOBYQA's own tolerance: its trust radius ends at rhoend (1e-6 of the start radius), and
two runs' last points sit up to a few rhoend apart (measured: 4.9 rhoend on
sleepstudy_invgauss), so θ̂₁ is compared at 10 rhoend there, and its deviance may not
be higher than lme4's by more than 1e-10 relative.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from parity.catalog import load_catalog
from parity.glmm_side import glmm_deviance

from conftest import ROOT
from interlace.optimize.powell import bobyqa

GLMM = ROOT / "fixtures" / "r" / "glmm"
CASES = [c for c in load_catalog()["glmm"] if c["level"] == "quick"]


def _fixture(case) -> dict:
    return json.loads((GLMM / f"{case['id']}.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_port_replays_lme4s_stage1(case):
    bq = _fixture(case)["stage1_bobyqa"]
    table = [(np.asarray(p, dtype=float), v)
             for p, v in zip(bq["trace_par"], bq["trace_val"], strict=True)]
    asked = []

    def lme4_value(x):
        asked.append(np.array(x))
        for p, v in table:
            if np.array_equal(p, x):
                return v
        raise AssertionError(f"the port asked for {x.tolist()}, a point lme4 never "
                             f"evaluated (call {len(asked)})")

    res = bobyqa(lme4_value, np.asarray(bq["x0"]), np.asarray(bq["lower"]),
                 np.full(len(bq["x0"]), np.inf))
    assert len(asked) == len(table)
    for i, (a, (p, _)) in enumerate(zip(asked, table, strict=True)):
        assert np.array_equal(a, p), f"call {i}: {a.tolist()} vs lme4's {p.tolist()}"
    np.testing.assert_array_equal(res.x, bq["par"])
    assert res.fun == bq["fval"] and res.n_evals == bq["feval"]
    assert res.settings["ierr"] == bq["ierr"]


@pytest.mark.parametrize("case", [c for c in CASES if c["nAGQ"] > 0],
                         ids=[c["id"] for c in CASES if c["nAGQ"] > 0])
def test_traced_run_is_glmers_stage1(case):
    """The traced run ends where glmer's stage 2 starts (bit for bit)."""
    fx = _fixture(case)
    np.testing.assert_array_equal(fx["stage1_bobyqa"]["par"], fx["stage2_nm"]["theta1"])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_stage1_on_our_deviance_stops_within_bobyqas_tolerance(case):
    bq = _fixture(case)["stage1_bobyqa"]
    design, _, dev = glmm_deviance(case)
    x0 = np.asarray(bq["x0"])
    assert not np.all(x0 == 0.001)  # lme4's start: 1 on the diagonal of every term
    lp0 = dev.initial_lp0(x0, design.mustart).lin
    res = bobyqa(lambda th: dev.stage1(th, lp0).laplace, x0, np.asarray(bq["lower"]),
                 np.full(len(x0), np.inf))
    rhobeg = min(0.95, 0.2 * np.max(np.abs(x0)))
    np.testing.assert_allclose(res.x, bq["par"], rtol=0, atol=10 * 1e-6 * rhobeg)
    assert res.fun <= bq["fval"] + 1e-10 * abs(bq["fval"])
