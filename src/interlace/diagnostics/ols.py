"""DFBETAS of an ordinary least-squares fit from one QR decomposition (no refits, no loop).

For y = Xβ + e with X = QR (thin QR, X of full column rank p), residuals e, leverages
hᵢ = ‖Qᵢ‖² and SSE = Σ eᵢ², deleting observation i gives exactly (Belsley, Kuh &
Welsch 1980, ch. 2)

    β̂ − β̂₍ᵢ₎ = (XᵀX)⁻¹ xᵢ eᵢ / (1 − hᵢ) = R⁻¹ Qᵢᵀ eᵢ / (1 − hᵢ)
    s²₍ᵢ₎     = (SSE − eᵢ² / (1 − hᵢ)) / (n − p − 1)
    DFBETASᵢⱼ = (β̂ − β̂₍ᵢ₎)ⱼ / (s₍ᵢ₎ √((XᵀX)⁻¹)ⱼⱼ),   (XᵀX)⁻¹ = R⁻¹R⁻ᵀ.

This is statsmodels' ``OLSInfluence(results).dfbetas`` (full-data minus deleted
estimate, deleted-fit residual variance, full-data unscaled covariance), which that
class computes with n leave-one-out regressions.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

__all__ = ["ols_dfbetas_qr"]


def ols_dfbetas_qr(ols) -> np.ndarray:
    """DFBETAS (n × p) of a fitted statsmodels OLS model, as ``OLSInfluence(ols).dfbetas``.

    Parameters
    ----------
    ols : statsmodels RegressionResults of an ``OLS`` model
        (``smf.ols(...).fit()`` or ``sm.OLS(y, X).fit()``).

    Returns
    -------
    ndarray, shape (n_obs, n_params)
        Columns in the order of ``ols.model.exog_names``.

    Raises
    ------
    TypeError
        For weighted or generalized least squares (their deletion formulas differ).
    ValueError
        When X is rank deficient or some observation has leverage 1 (its deleted fit
        does not exist), or n − p − 1 ≤ 0.
    """
    model = getattr(ols, "model", None)
    if model is None or type(model).__name__ != "OLS":
        kind = type(model).__name__ if model is not None else type(ols).__name__
        raise TypeError(f"ols_dfbetas_qr needs a fitted statsmodels OLS model, not {kind}")
    X = np.asarray(model.exog, dtype=float)
    e = np.asarray(ols.resid, dtype=float)
    n, p = X.shape
    if n - p - 1 <= 0:
        raise ValueError(f"need n - p - 1 > 0 (n = {n}, p = {p})")
    Q, R = np.linalg.qr(X)
    d = np.abs(np.diag(R))
    if d.min() <= 1e-10 * d.max():
        raise ValueError("the design matrix is rank deficient")
    h = np.einsum("ij,ij->i", Q, Q)
    one_h = 1.0 - h
    if np.any(one_h <= 1e-12):
        raise ValueError("an observation has leverage 1: its deleted fit is not identified")
    Rinv = solve_triangular(R, np.eye(p), lower=False)
    dbeta = (Q * (e / one_h)[:, None]) @ Rinv.T  # rows: R⁻¹ Qᵢᵀ eᵢ / (1 − hᵢ)
    s2 = (e @ e - e**2 / one_h) / (n - p - 1)
    scale = np.sqrt(np.einsum("ij,ij->i", Rinv, Rinv))  # √diag((XᵀX)⁻¹)
    return dbeta / np.sqrt(s2)[:, None] / scale[None, :]
