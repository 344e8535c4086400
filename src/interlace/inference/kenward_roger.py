"""Kenward–Roger's adjusted covariance of β̂ and denominator df, as pbkrtest 0.5.2 computes
them (``vcovAdj``, ``Lb_ddf``, ``KRmodcomp``'s ``.KR_adjust``) for lmerTest 3.1-3's
``ddf = "Kenward-Roger"``.

pbkrtest parametrizes the marginal covariance linearly, Σ = Σ_k γ_k G_k: for each
random-effects term t (lme4's order) and each a ≤ b of its n_t columns, γ is the
(co)variance σ²(TTᵀ)_ab and G = Z_t (I_ℓ ⊗ E_ab) Z_tᵀ (E_ab = e_a e_bᵀ + e_b e_aᵀ, or
e_a e_aᵀ); the residual variance σ² comes last with G = I_n.  With Φ = vcov(β̂) =
(XᵀΣ⁻¹X)⁻¹ it forms

    P_k = −XᵀΣ⁻¹G_kΣ⁻¹X,  Q_kl = XᵀΣ⁻¹G_kΣ⁻¹G_lΣ⁻¹X,  K_kl = tr(Σ⁻¹G_kΣ⁻¹G_l),
    IE2 = K − 2 tr(ΦQ) + tr(ΦP_kΦP_l),  W = 2 IE2⁻¹ (ginv when min|eig| ≤ 1e-10),
    U = Σ_kl W_kl (Q_kl − P_kΦP_l),  Φ_A = Φ + 2ΦUΦ.

pbkrtest builds Σ⁻¹ as a dense n × n matrix.  Here everything is reduced to q- and
p-sized blocks (q = number of random effects) through C = ZΛ and M = CᵀC + I, the matrix
lme4 factors: with N = σ⁻²Σ = CCᵀ + I, CᵀN⁻¹ = M⁻¹Cᵀ, so for U, V ∈ {Z, X} and
a_U = CᵀU,

    UᵀN⁻¹V = UᵀV − a_Uᵀ M⁻¹ a_V,
    UᵀN⁻²V = UᵀN⁻¹V − (M⁻¹a_U)ᵀ(M⁻¹a_V),
    UᵀN⁻³V = UᵀN⁻²V − (M⁻²a_U)ᵀ(M⁻¹a_V),    tr N⁻² = n − q + tr M⁻².

With A = ZᵀΣ⁻¹Z, B = ZᵀΣ⁻¹X, A₂ = ZᵀΣ⁻²Z, B₂ = ZᵀΣ⁻²X and E_k the q × q pattern of
parameter k: P_k = −BᵀE_kB, Q_kl = BᵀE_kAE_lB, K_kl = tr(E_kAE_lA); for the residual
parameter P = −XᵀΣ⁻²X, Q_kr = BᵀE_kB₂, Q_rr = XᵀΣ⁻³X, K_kr = tr(E_kA₂), K_rr = tr Σ⁻².
The cost is that of dense q × q products instead of pbkrtest's n × n inverse.

pbkrtest ignores prior weights (its residual G is I_n), so weighted fits are refused
rather than given a covariance that does not belong to the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import linalg, stats

from interlace.covariance import CovarianceLayout
from interlace.errors import InterlaceError

__all__ = ["KRFit", "force_full_rank", "kr_adjust", "kr_coefficients", "kr_fit",
           "kr_from_deviance", "lb_ddf", "rank_matrix"]

#: pbkrtest's switch from solve() to MASS::ginv() for the expected information
CONDI_TOL = 1e-10


@dataclass(frozen=True)
class KRFit:
    """pbkrtest's ``vcovAdj`` result.

    Attributes
    ----------
    vcov : ndarray (p, p)
        Φ = vcov(β̂), unadjusted.
    vcov_adj : ndarray (p, p)
        Φ_A, the Kenward–Roger adjusted covariance.
    P : ndarray (m, p, p)
        pbkrtest's ``attr(PhiA, "P")``, one per variance parameter γ (σ² last).
    W : ndarray (m, m)
        ``attr(PhiA, "W")``: 2 IE2⁻¹, the asymptotic covariance of γ̂.
    condi : float
        min |eigenvalue| of IE2 (``attr(PhiA, "condi")``).
    gamma : ndarray (m,)
        The variance parameters γ in pbkrtest's order.
    """

    vcov: np.ndarray
    vcov_adj: np.ndarray
    P: np.ndarray
    W: np.ndarray
    condi: float
    gamma: np.ndarray


def _patterns(layout: CovarianceLayout) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rows, cols) of the ones of each E_k (q × q), in pbkrtest's order of γ."""
    out, off = [], 0
    for t in layout.terms:
        base = off + np.arange(t.n_levels) * t.p
        for a, b in zip(t.rows, t.cols, strict=True):
            if a == b:
                out.append((base + a, base + a))
            else:
                out.append((np.concatenate([base + a, base + b]),
                            np.concatenate([base + b, base + a])))
        off += t.n_levels * t.p
    return out


def _lambda(layout: CovarianceLayout, theta: np.ndarray) -> sp.csr_matrix:
    blocks = [sp.kron(sp.identity(t.n_levels), sp.csr_matrix(T))
              for t, T in zip(layout.terms, layout.templates(theta), strict=True)]
    return sp.block_diag(blocks, format="csr")


def _gamma(layout: CovarianceLayout, theta: np.ndarray, sigma: float) -> np.ndarray:
    parts = [S[t.rows, t.cols] for t, S in zip(layout.terms, layout.covariances(theta, sigma),
                                                strict=True)]
    return np.concatenate([*parts, [sigma**2]])


class _Sandwich:
    """UᵀN⁻ᵏV for U, V ∈ {Z, X}, k = 1, 2, 3, from the q- and p-sized cross-products."""

    def __init__(self, ZtZ, ZtX, XtX, Lam):
        LtZtZ = np.asarray((Lam.T @ ZtZ).todense()) if sp.issparse(ZtZ) else Lam.T @ ZtZ
        self.cross = {("Z", "Z"): np.asarray(ZtZ.todense()) if sp.issparse(ZtZ) else ZtZ,
                      ("Z", "X"): ZtX, ("X", "X"): XtX}
        self.a = {"Z": LtZtZ, "X": Lam.T @ ZtX}
        S = LtZtZ @ Lam  # ΛᵀZᵀZΛ, dense q × q
        M = (S + S.T) / 2.0 + np.eye(S.shape[0])
        self.chol = linalg.cho_factor(M, lower=True)
        self.m1 = {u: linalg.cho_solve(self.chol, a) for u, a in self.a.items()}
        self.m2 = {u: linalg.cho_solve(self.chol, m) for u, m in self.m1.items()}
        Minv = linalg.cho_solve(self.chol, np.eye(S.shape[0]))
        self.tr_m2 = float(np.sum(Minv * Minv))

    def __call__(self, u: str, v: str, k: int) -> np.ndarray:
        out = self.cross[(u, v)] - self.a[u].T @ self.m1[v]
        if k >= 2:
            out = out - self.m1[u].T @ self.m1[v]
        if k >= 3:
            out = out - self.m2[u].T @ self.m1[v]
        return out


def _pattern_apply(pat, B: np.ndarray) -> np.ndarray:
    """E_k B for the pattern's (rows, cols) ones."""
    rows, cols = pat
    out = np.zeros_like(B)
    np.add.at(out, rows, B[cols])
    return out


def kr_fit(ZtZ, ZtX: np.ndarray, XtX: np.ndarray, n: int, layout: CovarianceLayout,
           theta, sigma: float, vcov: np.ndarray) -> KRFit:
    """pbkrtest's ``vcovAdj(m)`` for a REML fit, without n × n matrices.

    Parameters
    ----------
    ZtZ : sparse or ndarray (q, q)
        ZᵀZ, Z in lme4's column order (unweighted).
    ZtX, XtX : ndarray
        ZᵀX (q, p) and XᵀX (p, p), X after lme4's rank-deficiency column dropping.
    n : int
        Number of observations.
    layout : CovarianceLayout
        The random-effects terms.
    theta, sigma : the fit's θ̂ and σ̂.
    vcov : ndarray (p, p)
        lme4's ``vcov(m)`` = σ²(RXᵀRX)⁻¹ at (θ, σ).

    Returns
    -------
    KRFit
    """
    theta = np.asarray(theta, dtype=float)
    s2 = float(sigma) ** 2
    Phi = np.asarray(vcov, dtype=float)
    sw = _Sandwich(ZtZ, np.asarray(ZtX, float), np.asarray(XtX, float), _lambda(layout, theta))
    A, B = sw("Z", "Z", 1) / s2, sw("Z", "X", 1) / s2
    A2, B2 = sw("Z", "Z", 2) / s2**2, sw("Z", "X", 2) / s2**2
    F2, F3 = sw("X", "X", 2) / s2**2, sw("X", "X", 3) / s2**3
    q = A.shape[0]
    tr_s2 = (n - q + sw.tr_m2) / s2**2
    pats = _patterns(layout)
    m = len(pats) + 1
    EB = [_pattern_apply(pat, B) for pat in pats]
    AEB = [A @ eb for eb in EB]
    P = np.empty((m, *Phi.shape))
    for k, eb in enumerate(EB):
        P[k] = -(B.T @ eb)
    P[-1] = -F2
    P = (P + np.swapaxes(P, 1, 2)) / 2.0  # forceSymmetric
    Q = np.empty((m, m, *Phi.shape))
    K = np.empty((m, m))
    for k, (rk, ck) in enumerate(pats):
        for j, (rj, cj) in enumerate(pats):
            Q[k, j] = EB[k].T @ AEB[j]
            # tr(E_k A E_j A) = Σ_{(i,l)∈E_k} Σ_{(r,s)∈E_j} A[l, r] A[s, i]
            K[k, j] = float(np.sum(A[np.ix_(ck, rj)] * A[np.ix_(cj, rk)].T))
        Q[k, -1] = EB[k].T @ B2
        Q[-1, k] = Q[k, -1].T
        K[k, -1] = K[-1, k] = float(np.sum(A2[ck, rk]))
    Q[-1, -1] = F3
    K[-1, -1] = tr_s2
    PhiP = np.einsum("ij,kjl->kil", Phi, P)  # Φ P_k
    IE2 = (K - 2.0 * np.einsum("ij,klji->kl", Phi, Q)
           + np.einsum("kij,lji->kl", PhiP, PhiP))
    IE2 = (IE2 + IE2.T) / 2.0
    condi = float(np.min(np.abs(linalg.eigvalsh(IE2))))
    W = 2.0 * (np.linalg.solve(IE2, np.eye(m)) if condi > CONDI_TOL else np.linalg.pinv(IE2))
    W = (W + W.T) / 2.0
    U = np.zeros_like(Phi)
    for k in range(m):
        for j in range(m):
            U += W[k, j] * (Q[k, j] - P[k] @ Phi @ P[j])
    PhiA = Phi + 2.0 * Phi @ U @ Phi
    return KRFit(vcov=Phi, vcov_adj=PhiA, P=P, W=W, condi=condi,
                 gamma=_gamma(layout, theta, float(sigma)))


def _a1_a2(fit: KRFit, L: np.ndarray) -> tuple[float, float]:
    Phi = fit.vcov
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    u = np.einsum("ij,kjl,lm->kim", Theta @ Phi, fit.P, Phi)  # ΘΦ P_k Φ
    tr = np.einsum("kii->k", u)
    A1 = float(tr @ fit.W @ tr)
    A2 = float(np.einsum("kl,kij,lji->", fit.W, u, u))
    return A1, A2


def _scaling(A1: float, A2: float, q: float) -> dict:
    B = (A1 + 6.0 * A2) / (2.0 * q)
    g = ((q + 1.0) * A1 - (q + 4.0) * A2) / ((q + 2.0) * A2)
    D = 3.0 * q + 2.0 * (1.0 - g)
    c1, c2, c3 = g / D, (q - g) / D, (q + 2.0 - g) / D
    V0, V1, V2 = 1.0 + c1 * B, 1.0 - c2 * B, 1.0 - c3 * B
    if abs(V0) < 1e-10:
        V0 = 0.0
    x = 1.0 - A2 / q
    ratio = 1.0 if (abs(x) < 1e-14 and abs(V1) < 1e-14) else x / V1
    rho = ratio**2 * V0 / V2 / q
    ddf = 4.0 + (q + 2.0) / (q * rho - 1.0)
    scale = 1.0 if abs(ddf - 2.0) < 0.01 else ddf * (1.0 - A2 / q) / (ddf - 2.0)
    return {"A1": A1, "A2": A2, "V0": V0, "V1": V1, "V2": V2, "rho": rho,
            "F.scaling": scale, "ddf": ddf}


def lb_ddf(fit: KRFit, L) -> float:
    """pbkrtest's ``Lb_ddf(L, vcov(m), vcovAdj(m))``: the KR df of L β (q = nrow(L))."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    return _scaling(*_a1_a2(fit, L), float(L.shape[0]))["ddf"]


def kr_coefficients(fit: KRFit) -> tuple[np.ndarray, np.ndarray]:
    """lmerTest's ``contest1D(m, e_i, ddf = "Kenward-Roger")`` for every coefficient: the
    adjusted standard errors √(Φ_A)_ii and the df ``Lb_ddf(e_i)``."""
    p = fit.vcov.shape[0]
    eye = np.eye(p)
    return np.sqrt(np.diag(fit.vcov_adj)), np.array([lb_ddf(fit, eye[i]) for i in range(p)])


def rank_matrix(L) -> int:
    """``Matrix::rankMatrix`` (tolNorm2): singular values above max(dim)·ε·σ₁."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    s = np.linalg.svd(L, compute_uv=False)
    return int(np.sum(s > max(L.shape) * np.finfo(float).eps * s[0])) if s.size else 0


def kr_adjust(fit: KRFit, L, beta, beta_h=0.0) -> dict:
    """pbkrtest's ``.KR_adjust``: the KR F test of L(β − β_H) = 0.

    Returns a dict with ``stat`` (λ·F), ``statU`` (F), ``ndf`` (rank of L), ``ddf``,
    ``F.scaling`` (λ), ``p.value``, ``p.valueU`` and pbkrtest's ``aux`` entries
    (``A1, A2, V0, V1, V2, rho``).
    """
    L = np.atleast_2d(np.asarray(L, dtype=float))
    q = rank_matrix(L)
    if q == 0:
        raise InterlaceError("the restriction matrix L has rank 0")
    out = _scaling(*_a1_a2(fit, L), float(q))
    d = np.asarray(beta, dtype=float) - np.broadcast_to(np.asarray(beta_h, float),
                                                        np.shape(beta))
    Ld = L @ d
    wald = float(Ld @ np.linalg.solve(L @ fit.vcov_adj @ L.T, Ld))
    FU = wald / q
    F = out["F.scaling"] * FU
    out.update(ndf=q, statU=FU, stat=F,
               **{"p.value": float(stats.f.sf(F, q, out["ddf"])),
                  "p.valueU": float(stats.f.sf(FU, q, out["ddf"]))})
    return out


def force_full_rank(L) -> np.ndarray:
    """pbkrtest's ``force_full_rank``: a rank-deficient L (``rankMatrix``) replaced by
    t(qr.Q(qr(t(L)))[, 1:qr(L)$rank]), an orthonormal basis of its row space (LINPACK's QR,
    as R's ``qr``)."""
    from interlace.design.qr import qr_linpack, qr_q

    L = np.atleast_2d(np.asarray(L, dtype=float))
    if rank_matrix(L) < L.shape[0]:
        r = qr_linpack(L).rank
        return qr_q(qr_linpack(L.T))[:, :r].T
    return L


def kr_from_deviance(dev, theta, sigma: float, vcov: np.ndarray | None = None) -> KRFit:
    """:func:`kr_fit` for an :class:`~interlace.deviance.lmm.LmmDeviance` at (θ, σ): Φ is
    ``vcov`` if given (a fit's), else σ²(RXᵀRX)⁻¹ from its penalized least squares at θ
    (lme4's ``vcov``; this moves the deviance's factor)."""
    if not dev.reml:
        raise InterlaceError("Kenward-Roger's method is only available for REML model fits")
    cp, p = dev.cp, dev.p
    if vcov is None:
        RXinv = linalg.solve_triangular(dev.pls(np.asarray(theta, dtype=float)).RX, np.eye(p))
        Phi = float(sigma) ** 2 * (RXinv @ RXinv.T)
    else:
        Phi = np.asarray(vcov, dtype=float)
    return kr_fit(cp.ZtZ, cp.ZtXy[:, :p], cp.XytXy[:p, :p], dev.n, dev.layout, theta,
                  sigma, Phi)
