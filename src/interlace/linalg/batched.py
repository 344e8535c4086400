"""The profiled objective of many data sets at once, and a batched Newton optimizer.

Case deletion refits the same model to U data sets that differ from the full data
by a few rows.  Each data set is described by its cross-products in the blocked
layout of :class:`interlace.linalg.blocked.BlockedFactor` (notation of
:mod:`interlace.deviance.lmm`; Bates, Mächler, Bolker & Walker 2015, JSS 67(1),
sec. 3): for the term with the most levels (block 0) the per-level blocks
``A00`` (l0 × p0 × p0) and ``A0m = Z0ᵀ[X y]`` (l0 × p0 × m); for the other terms
(block R) the dense ``AR0``, ``ARR`` and ``ARm``; and ``XX = [X y]ᵀ[X y]``.

:func:`evaluate` computes lme4's criterion (REML or ML deviance, eq. 34 / 41) for
every data set at any number of θ points in one pass of array operations, the
same arithmetic as ``LmmDeviance`` (``L``, ``RZX``, ``RX``, ``pwrss``) with a
leading (set, point) batch.  :func:`newton` minimizes all U objectives together
by Newton's method with central finite-difference derivatives (the stencil of
lme4's ``deriv12``), so one pass evaluates every set at every stencil point.

Sets for which Newton is not safe — an optimum on or near the boundary of θ, a
Hessian that is not positive definite, no descent — are flagged for the caller,
who refits them one by one with lme4's own optimizer and boundary rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: matrices up to this order are factored by vectorized loops (no LAPACK call per matrix)
SMALL = 8
#: stop (after taking it) when every |Newton step| is below XTOL·(1 + |θ|): the
#: objective's rounding noise (~1e-14 relative) limits θ to about 1e-9 anyway
XTOL = 1e-7
#: Newton steps below LOCAL·(1 + |θ|) are taken without a line search
LOCAL = 1e-3
#: finite-difference step, lme4's deriv12 default
STEP = 1e-4
#: budget of floats per batched array (sets × stencil points × per-set size)
BATCH_FLOATS = 8_000_000


@dataclass
class BlockData:
    """Cross-products of U data sets in the blocked layout (leading axis: set).

    Attributes
    ----------
    A00 : ndarray (U, l0, p0, p0)
    A0m : ndarray (U, l0, p0, m)
    AR0, ARR, ARm : ndarray (U, qR, q0), (U, qR, qR), (U, qR, m) or None
        Present when the model has more than one random-effects term.
    XX : ndarray (U, m, m)
    n : ndarray (U,)
        Number of observations of each set.
    ldW : ndarray (U,)
        Σ log w over each set's observations (0 without prior weights).
    beta0 : ndarray (p,), optional
        The shift of the response the products were formed from
        (:mod:`interlace.linalg.centering`); :func:`pls` adds it to β̂.
    """

    A00: np.ndarray
    A0m: np.ndarray
    AR0: np.ndarray | None
    ARR: np.ndarray | None
    ARm: np.ndarray | None
    XX: np.ndarray
    n: np.ndarray
    ldW: np.ndarray
    beta0: np.ndarray | None = None
    _pairs: np.ndarray | None = field(default=None, repr=False)

    def take(self, idx: np.ndarray) -> BlockData:
        """The sets ``idx`` only."""
        sel = (lambda a: None if a is None else a[idx])  # noqa: E731
        out = BlockData(self.A00[idx], self.A0m[idx], sel(self.AR0), sel(self.ARR),
                        sel(self.ARm), self.XX[idx], self.n[idx], self.ldW[idx], self.beta0)
        if self._pairs is not None:
            out._pairs = self._pairs[idx]
        return out

    @property
    def pairs(self) -> np.ndarray:
        """:func:`pair_products` of ``A0m`` (formed on first use)."""
        if self._pairs is None:
            self._pairs = pair_products(self.A0m)
        return self._pairs


@dataclass(frozen=True)
class Structure:
    """What does not change between sets: term sizes, θ layout and the block order."""

    ps: tuple[int, ...]
    ls: tuple[int, ...]
    k0: int
    rest: tuple[int, ...]
    theta_slices: tuple[tuple[int, int], ...]
    tri_rows: tuple[np.ndarray, ...]
    tri_cols: tuple[np.ndarray, ...]
    p: int
    reml: bool

    @classmethod
    def of(cls, factor, layout, p: int, reml: bool) -> Structure:
        """The structure of a blocked factor (:class:`interlace.linalg.blocked.BlockedFactor`)
        with θ laid out as ``layout`` (:class:`interlace.covariance.CovarianceLayout`)."""
        terms = layout.terms
        return cls(tuple(factor.ps), tuple(factor.ls), factor.k0, tuple(factor.rest),
                   tuple((t.theta_slice.start, t.theta_slice.stop) for t in terms),
                   tuple(t.rows for t in terms), tuple(t.cols for t in terms), p, reml)

    @property
    def p0(self) -> int:
        """Columns of the block-0 term."""
        return self.ps[self.k0]

    @property
    def l0(self) -> int:
        """Levels of the block-0 term."""
        return self.ls[self.k0]

    @property
    def qR(self) -> int:
        """Size of the dense block R."""
        return sum(self.ps[k] * self.ls[k] for k in self.rest)

    @property
    def n_theta(self) -> int:
        """Length of θ."""
        return self.theta_slices[-1][1]

    def floats_per_point(self) -> int:
        """Floats held per set and point by :func:`evaluate` (its temporaries)."""
        m, l0, p0, qR = self.p + 1, self.l0, self.p0, self.qR
        if not qR:
            return int(8 * l0 * p0 * p0 + 4 * m * m + 16)
        return int(6 * l0 * p0 * (p0 + m) + 4 * qR * l0 * p0 + 5 * qR * qR + 3 * qR * m
                   + 3 * m * m + 16)

    def sets_per_pass(self) -> int:
        """How many sets :func:`newton` takes in one pass within :data:`BATCH_FLOATS`
        (every set at every point of the stencil)."""
        return max(1, BATCH_FLOATS // (len(stencil(self.n_theta)) * self.floats_per_point()))

    def templates(self, theta: np.ndarray) -> list[np.ndarray]:
        """Per term, the lower-triangular factors T at every θ in ``theta[..., k]``."""
        out = []
        for p, (a, b), r, c in zip(self.ps, self.theta_slices, self.tri_rows, self.tri_cols,
                                   strict=True):
            T = np.zeros(theta.shape[:-1] + (p, p))
            T[..., r, c] = theta[..., a:b]
            out.append(T)
        return out

    def canonical(self, theta: np.ndarray) -> np.ndarray:
        """θ with each column of every T whose diagonal is negative negated: the same TTᵀ,
        hence the same objective (the deviance depends on Λ only through ΛΛᵀ), with every
        diagonal non-negative."""
        out = np.array(theta, dtype=float, copy=True)
        for (a, _), r, c in zip(self.theta_slices, self.tri_rows, self.tri_cols, strict=True):
            seg = out[..., a:a + len(r)]
            diag = {int(cj): a + i for i, (ri, cj) in enumerate(zip(r, c, strict=True))
                    if ri == cj}
            for j, pos in diag.items():
                neg = out[..., pos] < 0
                if np.any(neg):
                    for i in (i for i, cj in enumerate(c) if cj == j):  # column j of T
                        seg[..., i] = np.where(neg, -seg[..., i], seg[..., i])
            out[..., a:a + len(r)] = seg
        return out

    def lambda_R(self, T: list[np.ndarray]) -> np.ndarray:
        """Λ_R (block diagonal over the block-R terms' levels) as dense (..., qR, qR)."""
        lead = T[0].shape[:-2]
        lam = np.zeros(lead + (self.qR, self.qR))
        off = 0
        for k in self.rest:
            p, nl = self.ps[k], self.ls[k]
            for lev in range(nl):
                s = off + lev * p
                lam[..., s:s + p, s:s + p] = T[k]
            off += p * nl
        return lam


# -- small dense linear algebra over a batch ------------------------------------------
def chol(M: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a stack of matrices; NaN where not positive definite."""
    p = M.shape[-1]
    if p > SMALL:
        try:
            return np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            flat = M.reshape(-1, p, p)
            out = np.full_like(flat, np.nan)
            for i, m in enumerate(flat):
                try:
                    out[i] = np.linalg.cholesky(m)
                except np.linalg.LinAlgError:
                    pass
            return out.reshape(M.shape)
    L = np.zeros_like(M)
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(p):
            s = M[..., j, j] - np.einsum("...k,...k->...", L[..., j, :j], L[..., j, :j])
            d = np.sqrt(np.where(s > 0, s, np.nan))
            L[..., j, j] = d
            for i in range(j + 1, p):
                L[..., i, j] = (M[..., i, j] - np.einsum("...k,...k->...", L[..., i, :j],
                                                         L[..., j, :j])) / d
    return L


def forward(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Solve L X = B for lower-triangular L (..., p, p) and B (..., p, r)."""
    p = L.shape[-1]
    if p > SMALL:
        return np.linalg.solve(L, B)
    X = np.empty(np.broadcast_shapes(L.shape[:-1], B.shape[:-2] + (p,)) + (B.shape[-1],))
    for i in range(p):
        acc = B[..., i, :]
        if i:
            acc = acc - np.einsum("...k,...kr->...r", L[..., i, :i], X[..., :i, :])
        X[..., i, :] = acc / L[..., i, i, None]
    return X


def _single_term(st: Structure, bd: BlockData, T0: np.ndarray):
    """ldL2 and S for a model with one random-effects term (block 0 only).

    With ``M_l = T0ᵀ A_l T0 + I`` per level, ``log|L|² = Σ_l log det M_l`` and
    ``CᵀC = Σ_l A0m_lᵀ W_l A0m_l`` with ``W_l = T0 M_l⁻¹ T0ᵀ``; the data products
    ``A0m_lᵀ[a] A0m_l[b]`` are formed once per set (``BlockData.pairs``), so each point
    costs one small matrix product over levels.
    """
    p0 = st.p0
    A = bd.A00[:, None]  # (U, 1, l0, p0, p0)
    if p0 == 1:
        t2 = T0[..., 0, 0] ** 2  # (U, P, 1)
        Mv = t2 * A[..., 0, 0] + 1.0  # (U, P, l0)
        ld = np.log(Mv).sum(-1)
        W = (t2 / Mv)[..., None]  # (U, P, l0, 1)
    elif p0 == 2:
        # closed forms for T0 = [[t1, 0], [t2, t3]] and A_l = [[a, b], [b, c]]
        t1, t2, t3 = T0[..., 0, 0], T0[..., 1, 0], T0[..., 1, 1]  # (U, P, 1)
        a, b, c = A[..., 0, 0], A[..., 1, 0], A[..., 1, 1]  # (U, 1, l0)
        bc = t1 * b + t2 * c
        m11 = t1 * (t1 * a + t2 * b) + t2 * bc + 1.0
        m21 = t3 * bc
        m22 = t3 * t3 * c + 1.0
        det = m11 * m22 - m21 * m21
        ld = np.log(det).sum(-1)
        i11, i21, i22 = m22 / det, -m21 / det, m11 / det
        W = np.empty(det.shape + (3,))
        W[..., 0] = t1 * t1 * i11
        W[..., 1] = t1 * (t2 * i11 + t3 * i21)
        W[..., 2] = t2 * (t2 * i11 + 2.0 * t3 * i21) + t3 * t3 * i22
    else:
        M = _sandwich(T0, A)
        L = chol(M)
        ld = 2.0 * _logdiag(L).sum((-1, -2))
        Minv = np.linalg.inv(np.where(np.isfinite(L).all((-1, -2))[..., None, None], M,
                                      np.eye(p0)))
        W = _sandwich(np.swapaxes(T0, -1, -2), Minv, plus_identity=False)
        W = W[..., _PAIRS[p0][0], _PAIRS[p0][1]]  # (U, P, l0, pairs)
    U, P = W.shape[:2]
    m = bd.XX.shape[-1]
    CtC = W.reshape(U, P, -1) @ bd.pairs  # (U, P, m*m)
    return ld, bd.XX[:, None] - CtC.reshape(U, P, m, m)


def _sandwich(T: np.ndarray, A: np.ndarray, plus_identity: bool = True) -> np.ndarray:
    """Tᵀ A T (+ I) for small T (..., p, p) and symmetric A, entry by entry."""
    p = T.shape[-1]
    AT = [[sum(A[..., a, b] * T[..., b, j] for b in range(p))
           for j in range(p)] for a in range(p)]
    M = np.empty(np.broadcast_shapes(T.shape, A.shape))
    for i in range(p):
        for j in range(i + 1):
            v = sum(T[..., a, i] * AT[a][j] for a in range(p))
            if plus_identity and i == j:
                v = v + 1.0
            M[..., i, j] = v
            M[..., j, i] = v
    return M


#: index pairs (a >= b) of a p × p symmetric matrix, p = 1..8
_PAIRS = {p: np.tril_indices(p) for p in range(1, SMALL + 1)}


def pair_products(A0m: np.ndarray) -> np.ndarray:
    """Per set and level the m × m products of the rows a, b (a ≥ b) of ``A0m_l``.

    ``A0m`` is (U, l0, p0, m); the result (U, l0 · pairs, m · m) holds
    ``A0m[a]ᵀA0m[b] + A0m[b]ᵀA0m[a]`` for a > b and ``A0m[a]ᵀA0m[a]`` for a = b, in the
    order of ``np.tril_indices(p0)``, so that ``CᵀC = Σ W_ab · products``.
    """
    U, l0, p0, m = A0m.shape
    ia, ib = _PAIRS[p0]
    out = A0m[:, :, ia, :, None] * A0m[:, :, ib, None, :]  # (U, l0, pairs, m, m)
    off = ia != ib
    out[:, :, off] += np.swapaxes(out[:, :, off], -1, -2)
    return out.reshape(U, l0 * len(ia), m * m)


def _logdiag(L: np.ndarray) -> np.ndarray:
    return np.log(np.diagonal(L, axis1=-2, axis2=-1))


# -- the objective ---------------------------------------------------------------------
def evaluate(st: Structure, bd: BlockData, theta: np.ndarray, *, full: bool = False):
    """lme4's criterion of every set at every point: ``theta`` is (U, P, k), result (U, P).

    With ``full=True`` also return the lower Cholesky factor of the Schur complement
    S of [X y] (``S = LLᵀ``: ``RX = L[:p, :p]ᵀ``, ``β`` solves ``RX β = L[p, :p]`` and
    ``pwrss = L[p, p]²``), as a dict with keys objective, L, ldL2.  NaN marks a
    failed factorization.
    """
    T = st.templates(theta)
    T0 = T[st.k0][:, :, None]  # (U, P, 1, p0, p0)
    A00 = bd.A00[:, None]  # (U, 1, l0, p0, p0)
    A0m = bd.A0m[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        if not st.rest:
            ld, S = _single_term(st, bd, T0)
        elif st.p0 == 1:
            t = T0[..., 0, 0]  # (U, P, 1)
            L00 = np.sqrt(t * t * A00[..., 0, 0] + 1.0)  # (U, P, l0)
            ld = 2.0 * np.log(L00).sum(-1)
            d0 = t / L00
            C0 = A0m[..., 0, :] * d0[..., None]  # (U, P, l0, m)
        else:
            T0t = np.swapaxes(T0, -1, -2)
            M00 = T0t @ A00 @ T0
            M00[..., np.arange(st.p0), np.arange(st.p0)] += 1.0
            L00 = chol(M00)
            ld = 2.0 * _logdiag(L00).sum((-1, -2))
            C0 = forward(L00, T0t @ A0m)  # (U, P, l0, p0, m)
            C0 = C0.reshape(C0.shape[:2] + (-1, C0.shape[-1]))
        if st.rest:
            S = bd.XX[:, None] - np.swapaxes(C0, -1, -2) @ C0
            lam = st.lambda_R(T)  # (U, P, qR, qR)
            lamT = np.swapaxes(lam, -1, -2)
            left = lamT @ bd.AR0[:, None]  # (U, P, qR, q0)
            if st.p0 == 1:
                LR0 = left * d0[:, :, None, :]
            else:
                # Λ0 L00⁻ᵀ per level: (L00⁻¹ Λ0ᵀ)ᵀ
                B0 = np.swapaxes(forward(L00, T0t), -1, -2)  # (U, P, l0, p0, p0)
                sh = left.shape
                LR0 = np.einsum("uvrla,uvlab->uvrlb",
                                left.reshape(sh[:3] + (st.l0, st.p0)), B0).reshape(sh)
            MRR = lamT @ bd.ARR[:, None] @ lam
            MRR -= LR0 @ np.swapaxes(LR0, -1, -2)
            MRR[..., np.arange(st.qR), np.arange(st.qR)] += 1.0
            LRR = chol(MRR)
            ld = ld + 2.0 * _logdiag(LRR).sum(-1)
            CR = forward(LRR, lamT @ bd.ARm[:, None] - LR0 @ C0)
            S = S - np.swapaxes(CR, -1, -2) @ CR
        LS = chol(S)
        p = st.p
        pwrss = LS[..., p, p] ** 2
        n = bd.n[:, None].astype(float)
        if st.reml:
            nmp = n - p
            obj = (ld + 2.0 * _logdiag(LS[..., :p, :p]).sum(-1) - bd.ldW[:, None]
                   + nmp * (1.0 + np.log(2.0 * np.pi * pwrss / nmp)))
        else:
            obj = ld - bd.ldW[:, None] + n * (1.0 + np.log(2.0 * np.pi * pwrss / n))
    obj = np.where(np.isfinite(obj), obj, np.nan)
    if full:
        return {"objective": obj, "L": LS, "ldL2": ld}
    return obj


def pls_parts(L: np.ndarray, ldL2: np.ndarray, p: int) -> dict:
    """ldL2, ldRX2, pwrss and RX (upper) from :func:`evaluate`'s ``full`` output (any
    leading shape): the ingredients of lmerTest's deviance in (θ, σ) and of vcov(β)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        diag = np.diagonal(L, axis1=-2, axis2=-1)
        ldRX2 = 2.0 * np.sum(np.log(np.abs(diag[..., :p])), axis=-1)
    return {"ldL2": ldL2, "ldRX2": ldRX2, "pwrss": L[..., p, p] ** 2,
            "RX": np.swapaxes(L[..., :p, :p], -1, -2).copy()}


def pls(st: Structure, bd: BlockData, theta: np.ndarray) -> dict:
    """β̂, σ², vcov(β̂) and the objective of each set at its θ (``theta`` is (U, k)).

    σ² is lme4's ``sigma(m)^2``: pwrss / (n − p) for REML, pwrss / n for ML;
    ``vcov = σ² (RXᵀRX)⁻¹``; β̂ includes the response's shift ``bd.beta0``.
    """
    out = evaluate(st, bd, theta[:, None, :], full=True)
    L = out["L"][:, 0]
    p = st.p
    LX = L[:, :p, :p]
    beta = np.linalg.solve(np.swapaxes(LX, -1, -2), L[:, p, :p][..., None])[..., 0]
    if bd.beta0 is not None:
        beta = beta + bd.beta0
    pwrss = L[:, p, p] ** 2
    denom = bd.n - p if st.reml else bd.n
    sigma2 = pwrss / denom
    Linv = np.linalg.inv(LX)
    vcov = sigma2[:, None, None] * (np.swapaxes(Linv, -1, -2) @ Linv)
    return {"objective": out["objective"][:, 0], "beta": beta, "sigma2": sigma2,
            "vcov": vcov, "pwrss": pwrss}


# -- Newton's method on all sets at once ---------------------------------------------------
def stencil(k: int, h: float = STEP) -> np.ndarray:
    """Offsets of lme4's deriv12 stencil: 0, ±h eⱼ, and (±h eᵢ ± h eⱼ) for i < j."""
    E = [np.zeros(k)]
    eye = np.eye(k) * h
    for j in range(k):
        E += [eye[j], -eye[j]]
    for i in range(k):
        for j in range(i + 1, k):
            E += [eye[i] + eye[j], eye[i] - eye[j], -eye[i] + eye[j], -eye[i] - eye[j]]
    return np.array(E)


def derivatives(F: np.ndarray, k: int, h: float = STEP) -> tuple[np.ndarray, np.ndarray]:
    """Central-difference gradient and Hessian from objective values on the stencil."""
    f0 = F[:, 0]
    fp, fm = F[:, 1:2 * k + 1:2], F[:, 2:2 * k + 1:2]
    g = (fp - fm) / (2.0 * h)
    H = np.zeros(F.shape[:1] + (k, k))
    idx = np.arange(k)
    H[:, idx, idx] = (fp - 2.0 * f0[:, None] + fm) / h**2
    c = 2 * k + 1
    for i in range(k):
        for j in range(i + 1, k):
            v = (F[:, c] - F[:, c + 1] - F[:, c + 2] + F[:, c + 3]) / (2.0 * h) ** 2
            H[:, i, j] = H[:, j, i] = v
            c += 4
    return g, H


@dataclass
class NewtonResult:
    """Per set: θ at the optimum, objective, status, iterations, evaluations, g and H there.

    ``status``: 0 converged; 1 the optimum is on or near a bound (refit with lme4's
    optimizer); 2 the Hessian is not positive definite; 3 no descent; 4 too many
    iterations.  ``gradient``/``hessian`` are the stencil derivatives at the
    returned θ (lme4's convergence checks use the same stencil).
    """

    theta: np.ndarray
    objective: np.ndarray
    status: np.ndarray
    iterations: np.ndarray
    n_evals: np.ndarray
    gradient: np.ndarray
    hessian: np.ndarray


def _flip_eigen(H: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """H with every eigenvalue λ replaced by max(|λ|, floor·max|λ|): a positive definite
    matrix whose Newton step descends where H is indefinite (the "saddle-free" step)."""
    lam, V = np.linalg.eigh(H)
    a = np.abs(lam)
    a = np.maximum(a, floor * np.max(a, axis=-1, keepdims=True) + 1e-300)
    return (V * a[..., None, :]) @ np.swapaxes(V, -1, -2)


def newton(fun, theta0: np.ndarray, lower: np.ndarray, *, h: float = STEP,
           max_iter: int = 50, xtol: float = XTOL, edge: float = 1e-3,
           modify: bool = False, canon=None) -> NewtonResult:
    """Minimize U objectives from ``theta0`` (U, k) by damped Newton steps.

    ``fun(idx, points)`` returns the objectives (len(idx), P) of the sets ``idx`` at
    ``points`` (len(idx), P, k).  A set stops with status 1 as soon as a diagonal θ
    comes within ``edge`` of its lower bound (there the finite-difference stencil
    would cross the bound and lme4's boundary rules apply).  ``modify``: where the
    Hessian is not positive definite, step along it with its eigenvalues made positive
    (and a line search) instead of stopping with status 2; a set still converges only
    where the Hessian is positive definite.  ``canon(theta)`` (U, k) → (U, k): an
    equivalent θ with non-negative diagonals (:meth:`Structure.canonical`), applied after
    every step, so that a step across a bound that only flips a column's sign is not taken
    for an approach to the bound.
    """
    U, k = theta0.shape
    E = stencil(k, h)
    theta = theta0.astype(float).copy()
    fval = np.full(U, np.nan)
    status = np.full(U, -1)
    iters = np.zeros(U, dtype=int)
    nev = np.zeros(U, dtype=int)
    grad = np.full((U, k), np.nan)
    hess = np.full((U, k, k), np.nan)
    bounded = np.isfinite(lower)
    near = lambda th: np.any(bounded & (th < lower + edge), axis=-1)  # noqa: E731
    status[near(theta)] = 1
    for _ in range(max_iter + 1):
        act = np.flatnonzero(status < 0)
        if not act.size:
            break
        F = fun(act, theta[act][:, None, :] + E[None])
        nev[act] += len(E)
        g, H = derivatives(F, k, h)
        f0 = F[:, 0]
        fval[act], grad[act], hess[act] = f0, g, H
        bad = ~np.all(np.isfinite(F), axis=1)
        LH = chol(H)
        notpd = ~np.all(np.isfinite(LH), axis=(1, 2))
        if modify:
            fix = np.flatnonzero(notpd & ~bad)
            if fix.size:
                LH[fix] = chol(_flip_eigen(H[fix]))
                notpd[fix] = ~np.all(np.isfinite(LH[fix]), axis=(1, 2))
                indefinite = np.zeros(len(act), dtype=bool)
                indefinite[fix] = ~notpd[fix]
            else:
                indefinite = np.zeros(len(act), dtype=bool)
        status[act[bad | notpd]] = 2
        ok = ~(bad | notpd)
        act, g, LH, f0 = act[ok], g[ok], LH[ok], f0[ok]
        if not act.size:
            continue
        step = -_chol_solve(LH, g)
        iters[act] += 1
        done = np.all(np.abs(step) <= xtol * (1.0 + np.abs(theta[act])), axis=1)
        if modify:
            done &= ~indefinite[ok]  # a small step at an indefinite point is no optimum
        theta[act[done]] += step[done]
        status[act[done]] = 0
        act, step, g, f0 = act[~done], step[~done], g[~done], f0[~done]
        # inside the region of quadratic convergence the full step is taken (there the
        # objective's change is at its rounding noise); larger steps are damped
        local = np.all(np.abs(step) <= LOCAL * (1.0 + np.abs(theta[act])), axis=1)
        if modify:
            local &= ~indefinite[ok][~done]
        theta[act[local]] += step[local]
        far = np.flatnonzero(~local)
        alpha = np.ones(len(far))
        pending = np.ones(len(far), dtype=bool)
        slope = np.minimum(np.einsum("uk,uk->u", g[far], step[far]), 0.0)
        for _ls in range(30):
            idx = np.flatnonzero(pending)
            if not idx.size:
                break
            sets = act[far[idx]]
            cand = theta[sets] + alpha[idx, None] * step[far[idx]]
            fc = fun(sets, cand[:, None, :])[:, 0]
            nev[sets] += 1
            accept = np.isfinite(fc) & (fc <= f0[far[idx]] + 1e-4 * alpha[idx] * slope[idx])
            theta[sets[accept]] = cand[accept]
            pending[idx[accept]] = False
            alpha[idx[~accept]] *= 0.5
        status[act[far[pending]]] = 3
        moved = act[np.setdiff1d(np.arange(len(act)), far[pending])]
        if canon is not None and moved.size:
            theta[moved] = canon(theta[moved])
        status[moved[near(theta[moved])]] = 1
    status[status < 0] = 4
    if canon is not None:
        theta = canon(theta)
    # objective and derivatives at the final θ of the converged sets
    conv = np.flatnonzero(status == 0)
    if conv.size:
        F = fun(conv, theta[conv][:, None, :] + E[None])
        nev[conv] += len(E)
        g, H = derivatives(F, k, h)
        fval[conv], grad[conv], hess[conv] = F[:, 0], g, H
        if modify:
            status[conv[~np.all(np.isfinite(chol(H)), axis=(1, 2))]] = 2
    return NewtonResult(theta, fval, status, iters, nev, grad, hess)


def _chol_solve(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve (L Lᵀ) x = b for stacks of lower-triangular L (U, k, k) and b (U, k)."""
    y = forward(L, b[..., None])
    Lt = np.swapaxes(L, -1, -2)
    k = L.shape[-1]
    x = np.empty_like(y)
    for i in range(k - 1, -1, -1):
        acc = y[..., i, :]
        if i < k - 1:
            acc = acc - np.einsum("...k,...kr->...r", Lt[..., i, i + 1:], x[..., i + 1:, :])
        x[..., i, :] = acc / Lt[..., i, i, None]
    return x[..., 0]
