"""HLMdiag's leverage: the diagonal of the mixed model's hat matrix, split in two parts.

Source: HLMdiag 0.5.1.9000 (commit 6f1ee6d), ``R/influence_functions.R``
``leverage.lmerMod``, after Demidenko & Stukel (2005, Statistics in Medicine 24) and
Nobre & Singer (2007, Biometrical Journal 49).  With G = σ² ZΛΛᵀZᵀ (covariance of Zb),
V = σ²I + G and β̂ the GLS estimator at θ̂, the fitted values ŷ = Xβ̂ + Zb̂ are H y with

    H1 = X (XᵀV⁻¹X)⁻¹ XᵀV⁻¹                 (fixed-effects part, "fixef")
    H2 = G V⁻¹ (I − H1)                      (random-effects part, "ranef")
    H  = H1 + H2                             ("overall")

and HLMdiag reports, per observation, ``overall = diag(H)``, ``fixef = diag(H1)``,
``ranef = diag(H2)`` and the *unconfounded* ``ranef.uc = diag(G) / σ² =
diag(ZΛΛᵀZᵀ)``.  At a grouping-factor level it reports the mean of each column over
the level's observations (``aggregate(..., mean)``, factor-level order; ``overall``
is the sum of the group means of ``fixef`` and ``ranef``).  All four depend on θ only
(σ² cancels).  HLMdiag forms H1 and H2 as dense n × n matrices and refuses crossed
models; the definition does not need nesting, so it is computed here for any
random-effects structure, without n × n matrices (notation of
:mod:`interlace.diagnostics.matrices`: V⁻¹ = (I − S)/σ², S = U M⁻¹ Uᵀ = G V⁻¹):

    diag(H1)_i = xᵢ B (V⁻¹X)ᵢᵀ,                     B = (XᵀV⁻¹X)⁻¹
    diag(H2)_i = S_ii − ((S X) B)ᵢ · (V⁻¹X)ᵢ,        S X = X − σ² V⁻¹X.

The crossed case is validated against a brute-force dense computation of H1 and H2
(tests/test_diag_leverage.py), which also reproduces HLMdiag on nested models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interlace.diagnostics.matrices import hlm_matrices, units
from interlace.linalg.threads import with_serial_blas

__all__ = ["LEVERAGE_COLUMNS", "leverage"]

LEVERAGE_COLUMNS = ("overall", "fixef", "ranef", "ranef.uc")


def _observation_leverage(res) -> pd.DataFrame:
    m = hlm_matrices(res)
    B, vx = m.XVXinv, m.VinvX
    h1 = np.einsum("ij,jk,ik->i", m.X, B, vx)
    sx = m.X - m.sigma2 * vx
    h2 = m.s_diag() - np.einsum("ij,jk,ik->i", sx, B, vx)
    return pd.DataFrame({"overall": h1 + h2, "fixef": h1, "ranef": h2,
                         "ranef.uc": m.zdz_diag}, index=m.labels)


@with_serial_blas
def leverage(res, level=1) -> pd.DataFrame:
    """HLMdiag's ``leverage(model, level)``: columns overall, fixef, ranef, ranef.uc.

    Parameters
    ----------
    res : CrossedLMEResult
    level : 1 or str
        1: one row per observation (index: row labels); a grouping factor's name: one
        row per level (index: level labels, factor-level order) holding the means over
        the level's observations, ``overall`` = mean fixef + mean ranef.

    Returns
    -------
    pandas.DataFrame
    """
    obs = _observation_leverage(res)
    u = units(res, level)
    if u.is_obs:
        return obs
    vals = obs.to_numpy()
    means = np.array([vals[r].mean(axis=0) for r in u.rows]).reshape(len(u.rows), 4)
    out = pd.DataFrame(means, index=u.labels, columns=list(LEVERAGE_COLUMNS))
    out["overall"] = out["fixef"] + out["ranef"]
    return out
