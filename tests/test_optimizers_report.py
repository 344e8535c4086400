"""``python -m parity.optimizers`` on two quick cases × two optimizers (reports in tmp)."""

from __future__ import annotations

import json
import math

import pytest
from parity import optimizers

CASES = ["dyestuff_reml", "sleepstudy_slopes_reml"]
OPTS = ["bobyqa", "nelder_mead"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    mp = pytest.MonkeyPatch()
    mp.setattr(optimizers, "REPORTS", out)
    argv = [a for c in CASES for a in ("--case", c)] + [a for o in OPTS
                                                          for a in ("--optimizer", o)]
    try:
        status = optimizers.main(argv)
    finally:
        mp.undo()
    return status, json.loads((out / "optimizers.json").read_text()), \
        (out / "optimizers.md").read_text()


def test_json_structure(report):
    status, js, _ = report
    assert set(js) >= {"environment", "optimizers", "results"}
    env = js["environment"]
    for key in ("python", "numpy", "scipy", "interlace", "R", "lme4", "packages"):
        assert env.get(key), key
    assert [o["name"] for o in js["optimizers"]] == OPTS
    assert all({"name", "available", "reason"} <= set(o) for o in js["optimizers"])
    pairs = {(r["case"], r["optimizer"]) for r in js["results"]}
    assert pairs == {(c, o) for c in CASES for o in OPTS}
    assert status == (0 if all(r["passed"] for r in js["results"]) else 1)


def test_gaps_and_pass_rule(report):
    _, js, _ = report
    for r in js["results"]:
        assert r["error"] is None
        assert math.isfinite(r["gap"]) and math.isfinite(r["rel_gap"])
        assert r["gap"] == pytest.approx(r["objective"] - r["r_objective"], abs=0, rel=1e-12)
        assert r["rel_gap"] == pytest.approx(r["gap"] / abs(r["r_objective"]), rel=1e-12)
        rule = r["objective"] <= r["r_objective"] + 1e-6 * abs(r["r_objective"])
        assert r["passed"] is rule
        assert r["evaluations"] > 0 and r["seconds"] > 0
        assert isinstance(r["converged"], bool) and isinstance(r["warnings"], list)


def test_markdown_table(report):
    _, js, md = report
    assert "| case | bobyqa | nelder_mead |" in md
    for c in CASES:
        assert any(line.startswith(f"| {c} |") for line in md.splitlines())
    assert "## Summary per optimizer" in md
    n_pass = sum(r["passed"] for r in js["results"])
    assert f"**{n_pass} of {len(js['results'])} pairs pass.**" in md


def test_unavailable_optimizer_is_listed(monkeypatch):
    monkeypatch.setattr(optimizers, "available_optimizers", lambda: ["bobyqa"])
    table = optimizers.optimizer_table(["bobyqa", "pybobyqa"])
    assert table[0]["available"] and not table[1]["available"]
    assert table[1]["reason"]


def test_fail_and_error_rows(tmp_path, monkeypatch):
    from parity.catalog import get_case
    from parity.data import load_dataset

    case = get_case("dyestuff_reml")
    data = load_dataset(case["dataset"])
    above = optimizers.fit_one(case, data, "bobyqa", r_obj=100.0)  # ours ≈ 319.7
    assert above["gap"] > 0 and above["passed"] is False and above["error"] is None
    broken = optimizers.fit_one({**case, "formula": "Nope ~ 1 + (1|Batch)"}, data, "bobyqa", 1.0)
    assert broken["error"] and broken["passed"] is False and broken["objective"] is None
    broken["case"] = "broken"  # one table row each
    opts = optimizers.optimizer_table(["bobyqa"])
    md = optimizers.markdown(optimizers.environment(), opts, [above, broken])
    assert "**FAIL**" in md and "ERROR FAIL" in md and "## Failures" in md
    monkeypatch.setattr(optimizers, "REPORTS", tmp_path)
    monkeypatch.setattr(optimizers, "RTOL", -1.0)  # nothing can pass
    assert optimizers.main(["--case", "dyestuff_reml", "--optimizer", "bobyqa"]) == 1


def test_glmm_cases_run_every_glmer_optimizer_pair(tmp_path, monkeypatch):
    """A [[glmm]] case is fitted by glmer with every (stage 1, stage 2) pair and compared
    with lme4's default fit; the default pair is lme4's path, so its gap is rounding."""
    monkeypatch.setattr(optimizers, "REPORTS", tmp_path)
    status = optimizers.main(["--case", "cbpp_cbind"])
    js = json.loads((tmp_path / "optimizers.json").read_text())
    rows = {r["optimizer"]: r for r in js["results"]}
    assert set(rows) == {optimizers.glmm_name(p) for p in optimizers.GLMM_OPTIMIZERS}
    assert all(r["kind"] == "glmm" and r["error"] is None for r in rows.values())
    assert abs(rows["bobyqa+Nelder_Mead"]["rel_gap"]) < 1e-12
    fx = json.loads((optimizers.FIXTURES / "glmm" / "cbpp_cbind.json").read_text())
    assert rows["bobyqa+Nelder_Mead"]["evaluations"] == fx["optinfo"]["feval"]  # lme4's
    assert status == (0 if all(r["passed"] for r in rows.values()) else 1)
    md = (tmp_path / "optimizers.md").read_text()
    assert "## GLMMs: glmer's two stages" in md and "| cbpp_cbind |" in md
