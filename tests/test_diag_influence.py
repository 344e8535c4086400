"""influence() against lme4 1.1-31's influence.merMod (stored fixtures/r/diag/<id>.lme4.json).

Element-wise, keyed by unit label and coefficient / θ name:

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

import json
import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest
from parity.catalog import load_catalog
from parity.data import ROOT, sha256_file
from parity.diag_fixtures import FLOOR_ENTRIES

import interlace
from conftest import dataset, fitted
from interlace.diagnostics.deletion import deletions_at, group_sets, observation_sets
from interlace.diagnostics.influence import Influence, influence
from interlace.diagnostics.measures import lmer_influence_measures

DIAG = ROOT / "fixtures" / "r" / "diag"
ENTRIES = [e for e in load_catalog()["diagnostics"] if "lme4_influence" in e["sources"]]
IDS = [e["id"] for e in ENTRIES]
CASES = {c["id"]: c for c in load_catalog()["cases"]}
#: margin over R's measured reproducibility floor
FLOOR_FACTOR = 3.0


@cache
def fixture(entry_id: str, kind: str = "lme4") -> dict:
    return json.loads((DIAG / f"{entry_id}.{kind}.json").read_text())


@cache
def floor(quantity: str, pair: str = "D_warm_nloptwrap vs E_warm_bobyqa") -> float:
    """Largest max|a − b| / max|a| of a quantity over the floor entries (one route pair)."""
    vals = []
    for eid in FLOOR_ENTRIES:
        summ = fixture(eid, "floor")["summary"][pair]
        vals += [v["max_rel_to_scale"] for k, v in summ.items()
                 if k.split(".")[0] == quantity and v["max_rel_to_scale"] is not None]
    return max(vals)


@cache
def ours(entry_id: str) -> Influence:
    e = next(x for x in ENTRIES if x["id"] == entry_id)
    return influence(fitted(e["model"]), groups=None if e["level"] == "1" else e["level"])


def _frame(fx: dict, key: str, units, cols) -> np.ndarray:
    return pd.DataFrame(fx[key]).T.loc[units, cols].to_numpy(dtype=float)


def _series(fx: dict, key: str, units) -> np.ndarray:
    return pd.Series(fx[key]).loc[units].to_numpy(dtype=float)


def _to_scale(py, r) -> float:
    py = np.asarray(py, dtype=float).reshape(len(py), -1)
    r = np.asarray(r, dtype=float).reshape(len(r), -1)
    return float(np.max(np.max(np.abs(py - r), axis=0) / np.max(np.abs(r), axis=0)))


def _close(py, r, rtol):
    py = np.asarray(py, dtype=float).reshape(len(py), -1)
    r = np.asarray(r, dtype=float).reshape(len(r), -1)
    atol = rtol * np.max(np.abs(r), axis=0)
    err = np.abs(py - r) - (atol + rtol * np.abs(r))
    where = np.unravel_index(err.argmax(), err.shape)
    assert np.all(err <= 0), f"worst excess {err.max():.3g} at {where}"


def test_fixtures_are_current():
    """Every lme4/floor fixture was produced by the R script now in parity/r."""
    sha = sha256_file(ROOT / "parity" / "r" / "influence_reference.R")
    for eid in IDS:
        assert fixture(eid)["provenance"]["script_sha256"] == sha, eid
    for eid in FLOOR_ENTRIES:
        assert fixture(eid, "floor")["provenance"]["script_sha256"] == sha, eid


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_units_and_names_follow_lme4(entry):
    fx, inf = fixture(entry["id"]), ours(entry["id"])
    assert [str(u) for u in inf.labels] == [str(u) for u in fx["units"]]
    assert list(inf.dfbetas().columns) == list(fx["fit"]["fixef"])
    assert list(inf.theta.columns) == list(fx["fit"]["theta"])
    assert list(inf.var_cov_comps.columns) == list(fx["fit"]["var_cov_comps"])


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_exact_at_lme4_theta(entry):
    fx = fixture(entry["id"])
    case = CASES[entry["model"]]
    kw = {"method": case["method"]}
    if case.get("weights"):
        kw["weights"] = case["weights"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = interlace.evaluate_at(case["formula"], dataset(case["dataset"]),
                                    list(fx["fit"]["theta"].values()), **kw)
    level = entry["level"]
    labels, sets = (observation_sets(res) if level == "1"
                    else group_sets(res, level, order="appearance"))
    units = [str(u) for u in fx["units"]]
    theta = pd.DataFrame(fx["theta_deleted"]).T.loc[units, res.theta_names].astype(float)
    inf = Influence(res, deletions_at(res, theta, level, labels=labels, sets=sets), level)
    coef = list(res.fe_params.index)
    _close(res.fe_params, list(fx["fit"]["fixef"].values()), 1e-8)
    _close(inf.fixef, _frame(fx, "fixef_deleted", units, coef), 1e-8)
    _close(inf.sigma, _series(fx, "sigma_deleted", units), 1e-8)
    _close(inf.var_cov_comps, _frame(fx, "var_cov_comps_deleted", units,
                                     list(inf.var_cov_comps.columns)), 1e-8)
    r_vcov = np.array([[[fx["vcov_deleted"][u][a][b] for b in coef] for a in coef]
                       for u in units])
    _close(inf.vcov.reshape(len(units), -1), r_vcov.reshape(len(units), -1), 1e-8)
    _close(inf.cooks_distance(), _series(fx, "cooks_distance", units), 1e-8)
    _close(inf.dfbetas(), _frame(fx, "dfbetas", units, coef), 1e-8)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_refits_no_worse_than_lme4(entry):
    fx, inf = fixture(entry["id"]), ours(entry["id"])
    res = fitted(entry["model"])
    units = [str(u) for u in fx["units"]]
    theta = pd.DataFrame(fx["theta_deleted"]).T.loc[units, res.theta_names].astype(float)
    at_r = deletions_at(res, theta, entry["level"], labels=inf.labels,
                        sets=inf.deletions.rows)
    obj = inf.deletions.objective
    assert np.all(obj <= at_r.objective + 1e-11 * np.abs(at_r.objective))


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_refits_within_lme4_reproducibility_floor(entry):
    fx, inf = fixture(entry["id"]), ours(entry["id"])
    units = [str(u) for u in fx["units"]]
    coef = list(inf.fixef.columns)
    # Cook's distance and DFBETAS relative to lme4's full fit (see module docstring)
    inf.fixef_original = pd.Series(fx["fit"]["fixef"])[coef]
    inf.vcov_original = np.array([[fx["fit"]["vcov"][a][b] for b in coef] for a in coef])
    got = {
        "cooks": _to_scale(inf.cooks_distance(), _series(fx, "cooks_distance", units)),
        "dfbetas": _to_scale(inf.dfbetas(), _frame(fx, "dfbetas", units, coef)),
        "fixef": _to_scale(inf.fixef, _frame(fx, "fixef_deleted", units, coef)),
        "sigma": _to_scale(inf.sigma, _series(fx, "sigma_deleted", units)),
        "theta": _to_scale(inf.theta, _frame(fx, "theta_deleted", units,
                                             list(inf.theta.columns))),
    }
    bad = {q: (v, FLOOR_FACTOR * floor(q)) for q, v in got.items() if v > FLOOR_FACTOR * floor(q)}
    assert not bad, bad


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
    inf = ours("diag_penicillin_plate")
    data = dataset("Penicillin")
    assert list(inf.labels) == [str(x) for x in pd.unique(data["plate"].astype(str))]


def test_lmer_influence_measures_keys_and_conventions():
    res = fitted("sleepstudy_slopes_reml")
    m = lmer_influence_measures(res)
    assert list(m) == ["cooks", "hat", "hat_overall", "hat_fixef", "dfbetas", "dffits",
                       "residuals", "sigma"]
    inf = ours("diag_sleepstudy")
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
        tol = FLOOR_FACTOR * max(floor("cooksd", "A_cold_nloptwrap vs B_warm_nloptwrap"),
                                 floor("cooksd", "A_cold_nloptwrap vs C_cold_bobyqa"))
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
                opt_settings=dict(xtol_abs=1e-12, ftol_abs=1e-14)))
        want = X[i] @ (b - r.fe_params.to_numpy()) / (
            (r.sigma / res.sigma) * np.sqrt(X[i] @ V @ X[i]))
        assert m["dffits"].iloc[i] == pytest.approx(want, rel=1e-5)
