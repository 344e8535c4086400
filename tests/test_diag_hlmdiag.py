"""HLMdiag parity: one-step influence measures, leverage and exact refits.

References: ``fixtures/r/diag/<id>.hlmdiag.json`` written by ``parity/r/hlmdiag_reference.R``
(HLMdiag 0.5.1.9000 at commit 6f1ee6d).  The comparisons are those of ``nox -s parity``
(:mod:`parity.diag_hlm`): element-wise, keyed by row label or level label, as
``|py − r| ≤ rtol·|r| + atol·max|r|`` per column (max over elements):

* at lme4's θ̂ (our quantities evaluated at R's θ): rtol = atol = 1e-8: same θ, same
  formulas, so only rounding may differ;
* at our own optimum: rtol = atol = ``opt_tol(entry)`` = max(1e-5, 3·δθ) where δθ is the
  largest relative difference between our θ̂ and lme4's (justified in
  :func:`parity.diag_compare.opt_tol`: R's optimizer, not the formulas);
* exact refits (``approx=False``) against HLMdiag's cold-start REML refits, on the units
  where R's refit reached the optimum, within R's measured reproducibility floor
  (:func:`parity.diag_hlm.refit_quantities`).

The tests here also check what the report does not show: unit sets, column names, and
that a perturbation of a reference beyond the tolerance is caught.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from parity import diag_hlm
from parity.diag_compare import entries, failures, fit, get_entry, stored
from parity.diag_hlm import (
    influence_table_quantity,
    leverage_quantity,
    onestep_quantities,
    r_rvc,
    refit_quantities,
)

from interlace.diagnostics.hlm import hlm_influence
from interlace.diagnostics.onestep import onestep

ONESTEP = [e["id"] for e in entries("hlmdiag_onestep")]
NESTED = [e for e in ONESTEP if stored(e, "hlmdiag")["nested"]]
REFIT = [e["id"] for e in entries("hlmdiag_refit")]
WHERE = ["at_r_theta", "optimum"]


def at_optimum(entry_id: str):
    """Our own fit of the entry's model (cached in parity.diag_compare)."""
    return fit(get_entry(entry_id)["model"])


# -- one-step measures ------------------------------------------------------------------------
@pytest.mark.parametrize("entry_id", ONESTEP)
@pytest.mark.parametrize("at", WHERE)
def test_onestep_matches_hlmdiag(entry_id, at):
    assert not failures(onestep_quantities(get_entry(entry_id), at))


@pytest.mark.parametrize("entry_id", ONESTEP)
def test_onestep_units(entry_id):
    e = get_entry(entry_id)
    meas, _ = onestep(at_optimum(entry_id), 1 if e["level"] == "1" else e["level"])
    assert set(meas.index.map(str)) == set(stored(entry_id, "hlmdiag")["units"]["onestep"])


@pytest.mark.parametrize("entry_id", ONESTEP)
def test_hlm_influence_table(entry_id):
    """hlm_influence(approx=TRUE) against HLMdiag's own table, at R's θ."""
    e = get_entry(entry_id)
    assert not failures(influence_table_quantity(e))
    if not stored(entry_id, "hlmdiag")["nested"]:  # HLMdiag has none for crossed models
        types = ["overall", "fixef", "ranef", "ranef.uc"]
        tab = hlm_influence(at_optimum(entry_id), e["level"] if e["level"] != "1" else 1,
                            leverage=types)
        assert tab[[f"leverage.{t}" for t in types]].notna().all().all()


# -- leverage ---------------------------------------------------------------------------------
@pytest.mark.parametrize("entry_id", NESTED)
@pytest.mark.parametrize("at", WHERE)
def test_leverage_matches_hlmdiag(entry_id, at):
    assert not failures(leverage_quantity(get_entry(entry_id), at))


# -- exact refits -------------------------------------------------------------------------------
@pytest.mark.parametrize("entry_id", REFIT)
def test_refit_matches_hlmdiag(entry_id):
    """approx=False against HLMdiag's refits.

    1. Our deleted fits are optima: at no unit does R's refit θ (rebuilt from its
       variance components) give a lower REML criterion than ours by more than 1e-6
       (R's cold starts stop short on some units: up to 0.012 on Orthodont), and R's
       refit reached the optimum on at least half of the units.
    2. Element-wise, on those units, |py − r| ≤ tol_q · max|r| with tol_q R's own
       disagreement between refit routes for the same quantity (``floor_for``), at least
       ``opt_tol`` (the full fit's β̂, vcov and variance components enter every measure).
    """
    qs = refit_quantities(get_entry(entry_id))
    assert not failures(qs)
    assert qs[0].name == "objective_deleted[hlmdiag-refit]" and qs[0].n > 0


@pytest.mark.parametrize("entry_id", REFIT)
def test_hlmdiag_rvc_defect_is_positional(entry_id):
    """Where HLMdiag's own rvc differs from the by-name RVC, the deleted fit lost a zero."""
    fx = stored(entry_id, "hlmdiag")
    by_name = r_rvc(fx)
    for c, vals in fx["refit"]["measures"]["rvc"].items():
        for u, v in vals.items():
            v = np.nan if v in (None, "NaN") else float(v)
            if abs(v - by_name[c][u]) > 1e-12 * (1 + abs(v)):
                assert len(fx["refit"]["varcomp_delete"][u]) < len(
                    fx["refit"]["varcomp_original"])


def _perturbed(entry_id: str, path: tuple, unit: str, factor: float) -> dict:
    fx = copy.deepcopy(stored(entry_id, "hlmdiag"))
    node = fx
    for k in path:
        node = node[k]
    node[unit] = float(node[unit]) * factor
    return fx


@pytest.mark.parametrize(("path", "factor", "fails", "passes"), [
    (("onestep", "cooksd"), 1 + 1e-6, "cooksd[hlmdiag-onestep]_at_r_theta",
     "cooksd[hlmdiag-onestep]"),
    (("onestep", "covratio"), 1 + 1e-3, "covratio[hlmdiag-onestep]", None),
    (("leverage", "obs", "overall"), 1 + 1e-6, "leverage[hlmdiag]_at_r_theta", None),
    (("refit", "measures", "cooksd"), 1.05, "cooksd[hlmdiag-refit]", None),
])
def test_a_perturbed_reference_is_caught(monkeypatch, path, factor, fails, passes):
    """The comparisons are not vacuous: one element moved beyond the tolerance fails."""
    entry_id, unit = "diag_sleepstudy", "8"  # unit 8: the largest Cook's distance
    fx = _perturbed(entry_id, path, unit, factor)
    monkeypatch.setattr(diag_hlm, "stored",
                        lambda i, k: fx if (i, k) == (entry_id, "hlmdiag") else stored(i, k))
    e = get_entry(entry_id)
    qs = (refit_quantities(e) if path[0] == "refit" else
          [leverage_quantity(e, a) for a in WHERE] if path[0] == "leverage" else
          [q for a in WHERE for q in onestep_quantities(e, a)])
    by_name = {q.name: q for q in qs}
    assert not by_name[fails].passed and by_name[fails].worst_key.split(" / ")[-1] == unit
    if passes:
        assert by_name[passes].passed


def test_hlm_influence_exact_columns_and_conventions():
    """approx=False: HLMdiag's columns; on an ML model, method="REML" (HLMdiag's refits)
    and method="model" (ML refits) differ, both against the ML model's own fit."""
    res = at_optimum("diag_sleepstudy_ml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reml = hlm_influence(res, "Subject", approx=False, leverage=["overall", "fixef"])
        ml = hlm_influence(res, "Subject", approx=False, method="model")
    assert list(reml.columns) == ["cooksd", "mdffits", "covtrace", "covratio", "rvc.sigma2",
                                  "rvc.D11", "rvc.D21", "rvc.D22", "leverage.overall",
                                  "leverage.fixef"]
    assert len(reml) == 18
    assert (reml["rvc.D11"] - ml["rvc.D11"]).abs().min() > 1e-2  # REML vs ML D11: ~8%
    one = hlm_influence(res, "Subject")
    assert np.allclose(one["leverage.overall"], reml["leverage.overall"])


def test_exact_refits_crossed():
    """approx=False on a crossed model (HLMdiag: "not implemented"): finite, HLMdiag's
    columns, and the one-step measures as a first-order approximation of the exact ones."""
    res = at_optimum("diag_penicillin_plate")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = hlm_influence(res, "plate", approx=False)
    one = hlm_influence(res, "plate")
    assert list(exact.columns) == ["cooksd", "mdffits", "covtrace", "covratio", "rvc.sigma2",
                                   "rvc.D11", "rvc.D22", "leverage.overall"]
    assert np.isfinite(exact.to_numpy()).all()
    rel = (exact["cooksd"] - one["cooksd"]).abs() / one["cooksd"].abs().max()
    assert rel.max() < 0.05
