"""Leverage for any random-effects structure, against a brute-force dense computation.

HLMdiag refuses crossed models ("leverage.mer has not yet been implemented for models
with crossed random effects").  Its definition (``leverage.lmerMod``) does not need
nesting: with V = σ²I + σ²ZΛΛᵀZᵀ,

    H1 = X (XᵀV⁻¹X)⁻¹ XᵀV⁻¹,   H2 = σ²ZΛΛᵀZᵀ V⁻¹ (I − H1),
    overall = diag(H1 + H2), fixef = diag(H1), ranef = diag(H2), ranef.uc = diag(ZΛΛᵀZᵀ).

``parity.diag.brute_force`` builds those n × n matrices literally with numpy (dense X, Z,
Λ, V, an explicit inverse).  It reproduces HLMdiag on the nested models (so the definition
is demonstrably HLMdiag's) and our Woodbury-based ``leverage`` on the crossed ones.
"""

from __future__ import annotations

import pytest
from parity.compare import EXACT
from parity.diag import brute_force
from parity.diag_compare import AT_R, compare_columns, failures, fit, get_entry, py_keyed, r_keyed
from parity.diag_compare import at_r_theta as _at_r_theta
from parity.diag_compare import stored as _stored
from parity.diag_lme4 import brute_force_quantity

from interlace.diagnostics.hlm import hlm_influence
from interlace.diagnostics.leverage import leverage

COLUMNS = ("overall", "fixef", "ranef", "ranef.uc")
CROSSED = ["diag_penicillin", "diag_penicillin_plate"]
NESTED = ["diag_sleepstudy_subject", "diag_pastes_batch", "diag_orthodont_subject",
          "diag_ergostool"]


def _same(name: str, ours, ref, tol: float) -> list[str]:
    """Failures of ``ours`` (DataFrame) against ``ref`` ({column: {label: v}}) per column."""
    cols = [((c,), py_keyed(ours[c]), ref[c]) for c in COLUMNS]
    return failures(compare_columns(name, cols, tol, tol, EXACT, ""))


@pytest.mark.parametrize("entry_id", NESTED)
def test_brute_force_is_hlmdiag(entry_id):
    """The dense definition reproduces HLMdiag's leverage (at lme4's θ̂)."""
    fx = _stored(entry_id, "hlmdiag")
    res = _at_r_theta(entry_id)
    for key, lev in (("obs", "1"), ("group", fx["level"])):
        if key in fx["leverage"]:
            ref = {c: r_keyed(fx["leverage"][key][c]) for c in COLUMNS}
            assert not _same(f"{entry_id} brute {key}", brute_force(res, lev), ref, AT_R)


@pytest.mark.parametrize("entry_id", CROSSED + NESTED)
@pytest.mark.parametrize("at", ["at_r_theta", "optimum"])
def test_leverage_equals_brute_force(entry_id, at):
    """Ours (Woodbury, no n × n matrix) equals the dense definition, crossed or nested
    (the ``leverage[brute-force]`` rows of the parity report)."""
    assert not failures(brute_force_quantity(get_entry(entry_id), at))


def test_crossed_leverage_in_hlm_influence():
    """hlm_influence gives leverage columns for a crossed model (HLMdiag warns, gives none)."""
    res = fit("penicillin_crossed")
    tab = hlm_influence(res, "plate", leverage=list(COLUMNS))
    bf = brute_force(res, "plate")
    tab.columns = [c.removeprefix("leverage.") for c in tab.columns]
    assert not _same("plate", tab, {c: py_keyed(bf[c]) for c in COLUMNS}, 1e-10)
    # the sample factor (6 levels) too, and the hat matrix's trace identity
    obs = leverage(res)
    H1_trace = obs["fixef"].sum()
    assert abs(H1_trace - res._design.X.shape[1]) < 1e-10
    assert ((obs["overall"] > 0) & (obs["overall"] < 1)).all()
