"""influence() against lme4 1.1-31's influence.merMod (stored fixtures/r/diag/<id>.lme4.json).

The comparisons are the ``[lme4-influence]`` rows of ``nox -s parity``
(:func:`parity.diag_lme4.lme4_quantities`), element-wise, keyed by unit label and
coefficient / θ name:

* **At lme4's θ** (our full fit evaluated at lme4's θ̂ and every deleted fit at lme4's
  deleted θ) the numbers are a deterministic function of θ: fixef, σ, vcov,
  var.cov.comps, Cook's distance and DFBETAS must agree to 1e-8 relative (observed
  ≤ 1e-8; an absolute floor of 1e-8 × the column's largest value covers entries that are
  zero in one program and 1e-13 in the other).
* **Optimality**: our refits are exact; every unit's objective must be no worse than the
  objective at lme4's θ, beyond rounding noise (1e-11 relative).
* **At our optimum**: both programs optimize and lme4's refits stop where nloptwrap's
  tolerances stop them.  The bound is R's own reproducibility floor, measured in
  fixtures/r/diag/<id>.floor.json by refitting every unit through two routes that should
  reach the same optimum (influence.merMod's nloptwrap from θ̂ vs minqa's bobyqa from θ̂).
  Per quantity the metric is max|ours − R| / max|R| over units, per column; the tolerance
  is FLOOR_FACTOR × the largest floor of that quantity over the floor entries.  To
  compare the refits themselves, Cook's distance and DFBETAS are taken relative to lme4's
  full fit (our full fit agrees with lme4's to the optimum-dependent tolerances of the
  LMM parity tests).
"""

from __future__ import annotations

import copy
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from parity.data import ROOT, sha256_file
from parity.diag_compare import entries, failures, stored
from parity.diag_fixtures import FLOOR_ENTRIES
from parity.diag_glmm import is_glmm_entry
from parity.diag_lme4 import FLOOR_FACTOR, lme4_floor, lme4_quantities, our_influence

import interlace
from conftest import dataset, fitted
from interlace.diagnostics.influence import influence
from interlace.diagnostics.measures import lmer_influence_measures

DIAG = ROOT / "fixtures" / "r" / "diag"
ENTRIES = [e for e in entries("lme4_influence") if not is_glmm_entry(e)]  # GLMMs: own file
IDS = [e["id"] for e in ENTRIES]


def fixture(entry_id: str, kind: str = "lme4") -> dict:
    return stored(entry_id, kind)


def floor(quantity: str) -> float:
    """Largest max|a − b| / max|a| of a quantity over the floor entries (routes D vs E)."""
    return lme4_floor(quantity)[0]


def hlm_floor(quantity: str, pair: str) -> float:
    """As :func:`floor`, for HLMdiag's refit routes (``pair`` of the floor summaries)."""
    return max(fixture(e, "floor")["summary"][pair][quantity]["max_rel_to_scale"]
               for e in FLOOR_ENTRIES)


def _series(fx: dict, key: str, units) -> np.ndarray:
    return pd.Series(fx[key]).loc[units].to_numpy(dtype=float)


def _to_scale(py, r) -> float:
    py = np.asarray(py, dtype=float).reshape(len(py), -1)
    r = np.asarray(r, dtype=float).reshape(len(r), -1)
    return float(np.max(np.max(np.abs(py - r), axis=0) / np.max(np.abs(r), axis=0)))


def test_fixtures_are_current():
    """Every lme4/floor fixture was produced by the R script now in parity/r."""
    sha = sha256_file(ROOT / "parity" / "r" / "influence_reference.R")
    for eid in IDS:
        assert fixture(eid)["provenance"]["script_sha256"] == sha, eid
    for eid in FLOOR_ENTRIES:
        assert fixture(eid, "floor")["provenance"]["script_sha256"] == sha, eid


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_units_and_names_follow_lme4(entry):
    fx, inf = fixture(entry["id"]), our_influence(entry["id"])
    assert [str(u) for u in inf.labels] == [str(u) for u in fx["units"]]
    assert list(inf.dfbetas().columns) == list(fx["fit"]["fixef"])
    assert list(inf.theta.columns) == list(fx["fit"]["theta"])
    assert list(inf.var_cov_comps.columns) == list(fx["fit"]["var_cov_comps"])


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_matches_lme4_influence(entry):
    """At lme4's θ (1e-8), optimality of our refits, and within 3 × R's floor."""
    qs = lme4_quantities(entry, fixture(entry["id"]), "stored")
    assert not failures(qs)
    names = {q.name for q in qs}
    assert {"cooks_distance[lme4-influence]_at_r_theta", "objective_deleted[lme4-influence]",
            "dfbetas[lme4-influence]", "theta_deleted[lme4-influence]"} <= names


@pytest.mark.parametrize(("key", "factor", "fails"), [
    ("cooks_distance", 1 + 1e-6, "cooks_distance[lme4-influence]_at_r_theta"),
    ("sigma_deleted", 1 + 1e-3, "sigma_deleted[lme4-influence]"),
])
def test_a_perturbed_reference_is_caught(key, factor, fails):
    fx = copy.deepcopy(fixture("diag_sleepstudy"))
    fx[key]["8"] = float(fx[key]["8"]) * factor
    qs = {q.name: q for q in lme4_quantities(ENTRIES[0], fx, "perturbed")}
    assert not qs[fails].passed and qs[fails].worst_key == "8"


def test_bobyqa_engine_follows_lme4s_path():
    """engine="bobyqa" replays lme4's optimizer: most units agree with R to ~1e-8."""
    fx = fixture("diag_sleepstudy")
    inf = influence(fitted("sleepstudy_slopes_reml"), engine="bobyqa")
    units = [str(u) for u in fx["units"]]
    r = _series(fx, "cooks_distance", units)
    rel = np.abs(inf.cooks_distance().to_numpy() - r) / np.abs(r)
    assert np.median(rel) < 1e-6
    assert _to_scale(inf.cooks_distance(), r) < FLOOR_FACTOR * floor("cooks")


def test_group_labels_in_order_of_appearance():
    inf = our_influence("diag_penicillin_plate")
    data = dataset("Penicillin")
    assert list(inf.labels) == [str(x) for x in pd.unique(data["plate"].astype(str))]


def test_lmer_influence_measures_keys_and_conventions():
    res = fitted("sleepstudy_slopes_reml")
    m = lmer_influence_measures(res)
    assert list(m) == ["cooks", "hat", "hat_overall", "hat_fixef", "dfbetas", "dffits",
                       "residuals", "sigma"]
    inf = our_influence("diag_sleepstudy")
    # REML model: the same refits as lme4's influence, so the same DFBETAS
    np.testing.assert_allclose(m["dfbetas"], inf.dfbetas(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(m["sigma"], inf.sigma, rtol=1e-8)
    np.testing.assert_allclose(m["residuals"], res.resid, rtol=0, atol=0)
    np.testing.assert_array_equal(m["hat"], m["hat_overall"])  # one grouping factor
    # HLMdiag's exact Cook's distance (hlm_influence(approx = FALSE)) within R's floor
    hl = DIAG / "diag_sleepstudy.hlmdiag.json"
    if hl.exists():
        r = pd.Series(json.loads(hl.read_text())["refit"]["measures"]["cooksd"])
        r = r.loc[[str(u) for u in m["cooks"].index]].to_numpy(dtype=float)
        tol = FLOOR_FACTOR * max(hlm_floor("cooksd", "A_cold_nloptwrap vs B_warm_nloptwrap"),
                                 hlm_floor("cooksd", "A_cold_nloptwrap vs C_cold_bobyqa"))
        assert _to_scale(m["cooks"], r) <= tol


def test_lmer_influence_measures_dffits_definition():
    """dffits = xᵢᵀ(β̂ − β̂₍₋ᵢ₎) / ((σ̂₍₋ᵢ₎/σ̂)√(xᵢᵀ vcov(β̂) xᵢ)), checked on brute-force refits."""
    res = fitted("ergostool")
    m = lmer_influence_measures(res)
    X, V, b = res._design.X, np.asarray(res.fe_cov), res.fe_params.to_numpy()
    for i in (0, 17):
        sub = res._data.drop(index=res._data.index[i])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = interlace.fit(res.formula, sub, control=dict(
                opt_settings=dict(xtol_abs=1e-12, ftol_abs=1e-14, xtol_rel=0.0)))
        want = X[i] @ (b - r.fe_params.to_numpy()) / (
            (r.sigma / res.sigma) * np.sqrt(X[i] @ V @ X[i]))
        assert m["dffits"].iloc[i] == pytest.approx(want, rel=1e-5)
