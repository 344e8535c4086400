"""HLMdiag's one-step deletion measures: Cook's D, MDFFITS, COVTRACE, COVRATIO.

Source: HLMdiag 0.5.1.9000 (commit 6f1ee6d), ``R/influence_functions.R``
(``cooks.distance.lmerMod``, ``mdffits.lmerMod``, ``covtrace.lmerMod``,
``covratio.lmerMod``) and its C++ ``src/cooksd_obs.cpp`` (``cooksdObs``),
``src/cooksd_subset.cpp`` (``cooksdSubset``), ``src/mdffits_subset.cpp``,
``src/covtrace.cpp``, ``src/covratio.cpp``.  θ̂ and σ̂ are held at the full fit's
values (no variance component is re-estimated); only β moves.  With the matrices
of :mod:`interlace.diagnostics.matrices` (V, P, e = y − Xβ̃, ``B = (XᵀV⁻¹X)⁻¹``)
and a deletion set D of k rows, HLMdiag computes

    A_D   = XᵀV⁻¹[:, D]                        (p × k)
    Δβ_D  = B A_D P_DD⁻¹ (V⁻¹e)_D               (β̃ − β̃ without D, "beta_cdd")
    B_D   = B + B A_D P_DD⁻¹ A_Dᵀ B             ((Xᵀ N_D X)⁻¹, N_D = V⁻¹ with D deleted)
    cooksd   = Δβ_Dᵀ B⁻¹ Δβ_D / p
    mdffits  = Δβ_Dᵀ B_D⁻¹ Δβ_D / p
    covtrace = | tr(B⁻¹ B_D) − p |
    covratio = det(B_D) / det(B)

(for single observations ``cooksdObs`` writes the same Δβ through
s = 1 / V⁻¹ᵢᵢ, x = s XᵀV⁻¹[:, i], h = xᵀBx: Δβ = B x (s (V⁻¹y)ᵢ − xᵀβ̃) / (s − h),
which equals the expression above since P_ii = (s − h) / s²).

We evaluate the same quantities in closed forms that avoid cancellation:
tr(B⁻¹B_D) − p = tr(A_Dᵀ B A_D P_DD⁻¹) and det(B_D)/det(B) = det(I + A_Dᵀ B A_D P_DD⁻¹)
(Sylvester), and B_D⁻¹ = B⁻¹ − A_D (V⁻¹)_DD⁻¹ A_Dᵀ (Woodbury, as P_DD + A_DᵀBA_D =
(V⁻¹)_DD).  For single observations these become scalars:
covtrace = |aᵢ|/P_ii and covratio = 1 + aᵢ/P_ii with aᵢ = (V⁻¹X)ᵢ B (V⁻¹X)ᵢᵀ.

Units are keyed by row labels (level 1) or level labels (groups; factor-level order).
HLMdiag returns group-level values in order of first appearance of the levels; as the
values are keyed here, order does not matter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interlace.diagnostics.matrices import HLMMatrices, Units, hlm_matrices, units

__all__ = ["ONESTEP_COLUMNS", "onestep"]

ONESTEP_COLUMNS = ("cooksd", "mdffits", "covtrace", "covratio")


def _observations(m: HLMMatrices) -> tuple[np.ndarray, np.ndarray]:
    """(measures n × 4, Δβ n × p) for single-observation deletion."""
    p = m.p
    B, Binv = m.XVXinv, m.XVX
    vx = m.VinvX
    Pd = m.P_diag
    a_vec = vx @ B                               # rows: B (V⁻¹X)ᵢᵀ
    a = np.einsum("ij,ij->i", a_vec, vx)         # (V⁻¹X)ᵢ B (V⁻¹X)ᵢᵀ
    dbeta = a_vec * (m.Vinv_e / Pd)[:, None]
    q_full = np.einsum("ij,jk,ik->i", dbeta, Binv, dbeta)
    vinv_ii = Pd + a
    q_del = q_full - np.einsum("ij,ij->i", vx, dbeta) ** 2 / vinv_ii
    out = np.column_stack([q_full / p, q_del / p, np.abs(a / Pd), 1.0 + a / Pd])
    return out, dbeta


def _subset(m: HLMMatrices, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cooksd, mdffits, covtrace, covratio) and Δβ for deleting ``rows``."""
    p = m.p
    B, Binv = m.XVXinv, m.XVX
    A = m.VinvX[rows]                            # A_Dᵀ (k × p)
    Pa = m.P_block(rows)
    sol = np.linalg.solve(Pa, np.column_stack([m.Vinv_e[rows], A]))
    Pe, PA = sol[:, 0], sol[:, 1:]
    dbeta = B @ (A.T @ Pe)
    K = A.T @ PA @ B                             # A_D P⁻¹ A_Dᵀ B  (p × p)
    cooksd = dbeta @ Binv @ dbeta / p
    VDD = Pa + A @ B @ A.T                       # (V⁻¹)_DD
    t = A @ dbeta
    mdf = (dbeta @ Binv @ dbeta - t @ np.linalg.solve(VDD, t)) / p
    covtrace = abs(np.trace(K))
    sign, logdet = np.linalg.slogdet(np.eye(p) + K)
    return np.array([cooksd, mdf, covtrace, sign * np.exp(logdet)]), dbeta


def onestep(res, level=1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """HLMdiag's one-step measures for every deletion unit of ``level``.

    Parameters
    ----------
    res : CrossedLMEResult
    level : 1 or str
        1 for single observations, or a grouping factor's name (whole levels deleted).

    Returns
    -------
    measures : DataFrame
        Index: unit labels; columns ``cooksd``, ``mdffits``, ``covtrace``, ``covratio``.
    beta_change : DataFrame
        Index: unit labels; columns: coefficient names; β̃ − β̃ without the unit
        (HLMdiag's ``beta_cdd``, ``include.attr = TRUE``).
    """
    m = hlm_matrices(res)
    u: Units = units(res, level)
    if u.is_obs:
        vals, dbeta = _observations(m)
    else:
        pairs = [_subset(m, r) for r in u.rows]
        vals = np.array([v for v, _ in pairs]).reshape(len(pairs), 4)
        dbeta = np.array([d for _, d in pairs]).reshape(len(pairs), m.p)
    names = list(res.fe_params.index)
    return (pd.DataFrame(vals, index=u.labels, columns=list(ONESTEP_COLUMNS)),
            pd.DataFrame(dbeta, index=u.labels, columns=names))
