"""Leverage for any random-effects structure, against a brute-force dense computation.

HLMdiag refuses crossed models ("leverage.mer has not yet been implemented for models
with crossed random effects").  Its definition (``leverage.lmerMod``) does not need
nesting: with V = σ²I + σ²ZΛΛᵀZᵀ,

    H1 = X (XᵀV⁻¹X)⁻¹ XᵀV⁻¹,   H2 = σ²ZΛΛᵀZᵀ V⁻¹ (I − H1),
    overall = diag(H1 + H2), fixef = diag(H1), ranef = diag(H2), ranef.uc = diag(ZΛΛᵀZᵀ).

``brute_force`` builds those n × n matrices literally with numpy (dense X, Z, Λ, V,
an explicit inverse).  It reproduces HLMdiag on the nested models (so the definition
is demonstrably HLMdiag's) and our Woodbury-based ``leverage`` on the crossed ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interlace.diagnostics.hlm import hlm_influence
from interlace.diagnostics.leverage import leverage
from interlace.linalg.crossprod import TermData, build_Z
from test_diag_hlmdiag import AT_R, at_optimum, at_r_theta, check, hlmdiag

COLUMNS = ("overall", "fixef", "ranef", "ranef.uc")


def brute_force(res, level=1) -> pd.DataFrame:
    """HLMdiag's leverage definition with dense n × n matrices."""
    des = res._design
    X = des.X
    Z = build_Z([TermData(t.codes, t.Xi, len(t.levels)) for t in des.re_terms]).toarray()
    blocks = []
    for t, T in zip(des.re_terms, res._layout.templates(res.theta), strict=True):
        blocks += [T] * len(t.levels)
    q = sum(b.shape[0] for b in blocks)
    Lam = np.zeros((q, q))
    off = 0
    for b in blocks:
        k = b.shape[0]
        Lam[off:off + k, off:off + k] = b
        off += k
    n = X.shape[0]
    s2 = res.scale
    ZDZ = s2 * Z @ Lam @ Lam.T @ Z.T
    V = s2 * np.eye(n) + ZDZ
    Vinv = np.linalg.inv(V)
    H1 = X @ np.linalg.inv(X.T @ Vinv @ X) @ X.T @ Vinv
    H2 = ZDZ @ Vinv @ (np.eye(n) - H1)
    obs = pd.DataFrame({"overall": np.diag(H1 + H2), "fixef": np.diag(H1),
                        "ranef": np.diag(H2), "ranef.uc": np.diag(ZDZ) / s2},
                       index=des.row_labels)
    if str(level) == "1":
        return obs
    term = next(t for t in des.re_terms if t.group == level)
    g = pd.Series([term.levels[c] for c in term.codes], index=obs.index)
    out = obs.groupby(g.to_numpy(), sort=False).mean()
    out["overall"] = out["fixef"] + out["ranef"]
    return out


CROSSED = ["diag_penicillin", "diag_penicillin_plate"]
NESTED = ["diag_sleepstudy_subject", "diag_pastes_batch", "diag_orthodont_subject",
          "diag_ergostool"]


@pytest.mark.parametrize("entry_id", NESTED)
def test_brute_force_is_hlmdiag(entry_id):
    """The dense definition reproduces HLMdiag's leverage (at lme4's θ̂)."""
    fx = hlmdiag(entry_id)
    res = at_r_theta(entry_id)
    level = fx["level"]
    for key, lev in (("obs", "1"), ("group", level)):
        if key not in fx["leverage"]:
            continue
        bf = brute_force(res, lev)
        for col in COLUMNS:
            check(bf[col], fx["leverage"][key][col], AT_R, f"{entry_id} brute {key} {col}")


@pytest.mark.parametrize("entry_id", CROSSED + NESTED)
@pytest.mark.parametrize("where", ["at_r_theta", "optimum"])
def test_leverage_equals_brute_force(entry_id, where):
    """Ours (Woodbury, no n × n matrix) equals the dense definition, crossed or nested."""
    res = at_r_theta(entry_id) if where == "at_r_theta" else at_optimum(entry_id)
    level = hlmdiag(entry_id)["level"]
    for lev in dict.fromkeys(["1", level]):
        ours = leverage(res, 1 if lev == "1" else lev)
        bf = brute_force(res, lev)
        assert sorted(ours.index.map(str)) == sorted(bf.index.map(str))
        for col in COLUMNS:
            check(ours[col], bf[col].rename(index=str), 1e-10, f"{entry_id} {lev} {col}")


def test_crossed_leverage_in_hlm_influence():
    """hlm_influence gives leverage columns for a crossed model (HLMdiag warns, gives none)."""
    res = at_optimum("diag_penicillin_plate")
    tab = hlm_influence(res, "plate", leverage=list(COLUMNS))
    bf = brute_force(res, "plate")
    for col in COLUMNS:
        check(tab[f"leverage.{col}"], bf[col].rename(index=str), 1e-10, f"plate {col}")
    # the sample factor (6 levels) too, and the hat matrix's trace identity
    obs = leverage(res)
    H1_trace = obs["fixef"].sum()
    assert abs(H1_trace - res._design.X.shape[1]) < 1e-10
    assert ((obs["overall"] > 0) & (obs["overall"] < 1)).all()
