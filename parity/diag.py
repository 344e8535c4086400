"""Influence-diagnostics entries of ``nox -s parity``: interlace against HLMdiag and lme4.

Each ``[[diagnostics]]`` catalog entry (a model case and a deletion level) is compared
with the R references of its ``sources``, element-wise and keyed by unit label (and
coefficient, column or component name) as :func:`parity.compare.compare_keyed` does.
Quantity names label the convention:

* ``[hlmdiag-onestep]`` — HLMdiag's one-step measures (``hlm_influence(approx = TRUE)``):
  θ̂ and σ̂ held at the full fit, β moved by the one-step formula; no refit;
* ``[hlmdiag]`` — HLMdiag's leverage and residuals;
* ``[hlmdiag-refit]`` — HLMdiag's refits (``approx = FALSE``): REML, default
  ``lmerControl()``, cold start, whatever the model's method (interlace ``method="REML"``);
* ``[lme4-influence]`` — lme4's ``influence.merMod``: the model's method and control,
  warm start at θ̂; Cook's D scaled by (n − p)/(n·p) with n = units;
* ``[brute-force]`` — our leverage against a dense n × n computation of HLMdiag's
  definition (crossed models, where HLMdiag has none).

Tolerance classes: ``*_at_r_theta`` rows are exact-at-theta (our quantities at lme4's
θ̂: rtol 1e-8 + 1e-8·max|R|); rows at our optimum are optimum-dependent (max(1e-5,
3·δθ)); refit rows are refit-dependent (R's measured reproducibility floor, on the units
where R's refit converged).  Each row's ``why`` gives the number and its evidence.
The comparisons live in :mod:`parity.diag_hlm` and :mod:`parity.diag_lme4` (shared
helpers: :mod:`parity.diag_compare`); the tests call the same functions.

Modes: HLMdiag is not in Debian, so its numbers always come from the stored fixtures
(``fixtures/r/diag/<id>.hlmdiag.json``); lme4's come from live R in live mode
(:func:`parity.diag_fixtures.live_lme4`), with drift rows against the stored ones.
"""

from __future__ import annotations

from parity import progress
from parity.compare import REFIT, QuantityResult, drift
from parity.diag_compare import entries, get_entry, model_case, stored
from parity.diag_fixtures import live_lme4
from parity.diag_glmm import glmm_case, glmm_influence_quantities, is_glmm_entry
from parity.diag_hlm import (
    influence_table_quantity,
    leverage_quantity,
    onestep_quantities,
    refit_quantities,
    resid_quantities,
)
from parity.diag_lme4 import brute_force, brute_force_quantity, lme4_canonical, lme4_quantities

__all__ = ["brute_force", "classify", "entries", "entry_level", "get_entry", "run_diag_entry"]

COOKS_CONVENTIONS = [
    ("cooksd[hlmdiag-onestep]", "HLMdiag `cooks.distance(m)` / `hlm_influence(m, approx = "
     "TRUE)`: no refit; θ̂ and σ̂ stay at the full fit and β moves by the one-step "
     "(GLS-deletion) formula; D = Δβᵀ vcov(β̂)⁻¹ Δβ / p. interlace: "
     "`hlm_influence(res)` / `cooks_distance(res)`."),
    ("cooksd[hlmdiag-refit]", "HLMdiag `hlm_influence(m, approx = FALSE)`: each unit deleted "
     "and the model refitted by `lmer` with REML and default `lmerControl()` from lme4's "
     "default start (cold), whatever the model's method; D = Δβᵀ vcov(β̂)⁻¹ Δβ / p with the "
     "model's own β̂ and vcov. interlace: `hlm_influence(res, approx=False)` "
     "(method=\"REML\"; method=\"model\" keeps the model's method)."),
    ("cooks_distance[lme4-influence]", "lme4 `cooks.distance(influence(m))`: refits keep the "
     "model's method and control, warm-started at θ̂; D = Δβᵀ vcov(β̂)⁻¹ Δβ · (n − p)/(n·p) "
     "with n the number of deleted units (observations or groups); DFBETAS divide by the "
     "deleted fit's standard errors. interlace: `influence(res).cooks_distance()`."),
]


def entry_level(entry: dict) -> str:
    """quick/full of a diagnostics entry: its model case's level."""
    case = glmm_case(entry["model"]) if is_glmm_entry(entry) else model_case(entry["model"])
    return "full" if case["level"] == "full" else "quick"


def classify(qs: list[QuantityResult]) -> str:
    """Where the gating discrepancies of an entry come from."""
    failed = [q for q in qs if q.gating and not q.passed]
    if not failed:
        return "agree"
    if any(q.name.endswith("_at_r_theta") for q in failed):
        return "formula problem (disagrees at R's θ)"
    if any(q.name.startswith("objective_deleted") for q in failed):
        return "refit problem (a deleted fit of ours is worse than R's)"
    if any(q.cls == REFIT for q in failed):
        return "refit difference beyond R's reproducibility floor"
    return "optimizer difference (agrees at R's θ; optima differ)"


def run_diag_entry(entry: dict, mode: str) -> dict:
    """Every comparison of one diagnostics entry, in the report shape of an LMM case.

    Parameters
    ----------
    entry : dict
        A ``[[diagnostics]]`` catalog entry.
    mode : {"live", "stored"}
        "live": lme4's influence reference is computed now in the embedded R and the
        entry gets ``drift`` rows against the stored one.  HLMdiag's is always stored.

    Returns
    -------
    dict
        ``case``, ``kind`` ("diagnostics"), ``model``, ``level``, ``sources``, ``mode``,
        ``passed``, ``classification``, ``quantities`` (``QuantityResult.as_dict()`` plus
        ``max_err_to_scale`` and ``tol_to_scale``) and, live, ``drift``.
    """
    eid, src, qs = entry["id"], entry["sources"], []
    if "hlmdiag_onestep" in src:
        nested = stored(eid, "hlmdiag")["nested"]
        for at in ("at_r_theta", "optimum"):
            qs += onestep_quantities(entry, at)
            if nested:
                qs += [leverage_quantity(entry, at), *resid_quantities(entry, at)]
        qs.append(influence_table_quantity(entry))
    if "hlmdiag_refit" in src:
        qs += refit_quantities(entry)
    live = mode == "live" and "lme4_influence" in src
    if "lme4_influence" in src:
        if live:
            with progress.side("R", "lme4 influence()"):
                fx = live_lme4(entry)
        else:
            fx = stored(eid, "lme4")
        compare = glmm_influence_quantities if is_glmm_entry(entry) else lme4_quantities
        qs += compare(entry, fx, "live R" if live else f"{eid}.lme4.json")
    if "brute_force" in src:
        qs += [brute_force_quantity(entry, at) for at in ("at_r_theta", "optimum")]
    out = {"case": eid, "kind": "diagnostics", "model": entry["model"],
           "model_kind": "glmm" if is_glmm_entry(entry) else "lmm",
           "level": str(entry["level"]), "sources": list(src),
           "mode": ("live (lme4 influence), stored (HLMdiag)" if live
                    else "stored (HLMdiag, lme4 influence)"),
           "passed": all(q.passed for q in qs if q.gating), "classification": classify(qs),
           "quantities": [q.as_dict() for q in qs]}
    if live:
        out["drift"] = drift(lme4_canonical(fx), lme4_canonical(stored(eid, "lme4")))
    return out
