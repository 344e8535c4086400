"""The hypothesis matrices of lmerTest 3.1-3's ``anova(m, type = "I" | "II" | "III")``:
one contrast matrix L per fixed-effects term, in the coefficients of lme4's X.

* **Type I** (``get_contrasts_type1``): the rows of Lᵀ from the Doolittle factorization of
  XᵀX (unit lower triangular L, entries below 1e-6 in absolute value set to 0), the
  term's rows.
* **Type II** (``get_contrasts_type2_unfolded``): a term contained in no other term gets
  identity rows for its columns; a contained term reorders X as [other columns | the term |
  the terms containing it] and takes its rows of that X's type I matrix.
* **Type III** (``get_contrasts_type3``): the full-indicator matrix rdX (intercept, then
  ``model.matrix(~ 0 + term)`` per term) expressed in X's coefficients,
  zapsmall(t(ginv(X) rdX)); for terms by decreasing order, the columns of a contained term
  replaced by their residuals on the columns of the terms containing it (``lm.fit``,
  zapsmall); the rows named as X's columns; per term the transposed columns, rows with
  Σ|·| ≤ 1e-8 dropped.  With a factor in X not coded by ``contr.treatment`` (an ordered
  factor's ``contr.poly``, or a chosen ``contr.sum`` ...) this is done on X remade with
  treatment contrasts and mapped by zapsmall(ginv(X_t) X).
* ``"2b"``: every term by the type II construction; ``"marginal"``: identity rows (drop1's);
  ``"yates"`` (:func:`interlace.inference.ls_means.yates_hypotheses`): the contrasts of a
  factor term's LS-means against its first level where the term is contained in another,
  type II's elsewhere.
* Models with one column or one term get the type I matrices for every type but Yates.

Containment (``term_contain``, SAS's definition): T1 is contained in T2 when T1's variables
are all in T2, T2 has more, and both have the same numeric variables, the variables being
those R's ``factors`` attribute codes 1.  R's numerical helpers are reproduced:
``MASS::ginv`` (SVD, singular values above √ε·d₁), ``zapsmall`` (R 4.2.2: ``round(x, 7 −
log10(max|x|))``) with R's ``round`` (nmath ``fround``), and Doolittle's loops in R's order.
"""

from __future__ import annotations

import math

import numpy as np

from interlace.design.fixed_terms import FixedTerms
from interlace.design.qr import column_rank_pivot
from interlace.errors import InterlaceError, warn

__all__ = ["doolittle", "fround", "ginv", "hypotheses", "is_estimable", "nullspace",
           "zapsmall"]

_LOG10_2 = math.log10(2.0)
_DBL_DIG = 15


def fround(x: float, digits: float) -> float:
    """R 4.2.2's ``round(x, digits)`` (nmath ``fround``): the nearer of the two decimal
    neighbours, the even one on a tie."""
    if not math.isfinite(x) or math.isnan(digits) or x == 0.0:
        return x
    if digits == 0.0:
        return float(np.rint(x))
    dig = int(math.floor(digits + 0.5))
    sgn = -1.0 if x < 0 else 1.0
    x = abs(x)
    l10x = _LOG10_2 * (0.5 + (math.frexp(x)[1] - 1))
    if l10x + dig > _DBL_DIG:
        return sgn * x
    pow10 = 10.0**dig if dig >= 0 else 1.0 / 10.0 ** (-dig)
    x10 = x * pow10
    i10 = math.floor(x10)
    xd, xu = i10 / pow10, math.ceil(x10) / pow10
    du, dd = xu - x, x - xd
    return sgn * (xu if (du < dd or (math.fmod(i10, 2.0) == 1 and du == dd)) else xd)


def zapsmall(x: np.ndarray, digits: int = 7) -> np.ndarray:
    """R 4.2.2's ``zapsmall(x)``: every entry rounded to ``digits − log10(max|x|)``
    decimals."""
    x = np.asarray(x, dtype=float)
    if x.size == 0 or np.all(np.isnan(x)):
        return x
    mx = float(np.nanmax(np.abs(x)))
    d = max(0.0, digits - math.log10(mx)) if mx > 0 else float(digits)
    return np.vectorize(lambda v: fround(float(v), d), otypes=[float])(x)


def ginv(X: np.ndarray, tol: float = math.sqrt(np.finfo(float).eps)) -> np.ndarray:
    """``MASS::ginv``: the Moore–Penrose inverse over singular values > tol·d₁."""
    U, d, Vt = np.linalg.svd(np.asarray(X, dtype=float), full_matrices=False)
    pos = d > max(tol * d[0], 0.0) if d.size else d > 0
    if not pos.any():
        return np.zeros(X.shape[::-1])
    return (Vt[pos].T / d[pos]) @ U[:, pos].T


def nullspace(A: np.ndarray) -> np.ndarray:
    """lmerTest's ``nullspace``: right singular vectors beyond the rank (d > 1e-8·d₁)."""
    _, d, Vt = np.linalg.svd(A, full_matrices=True)
    rank = int(np.sum(d > max(1e-8 * d[0], 0.0))) if d.size else 0
    return Vt[rank:].T


def is_estimable(L: np.ndarray, N: np.ndarray) -> np.ndarray:
    """lmerTest's ``is_estimable``: |Σ_j (L N)_ij| < √ε for each row (all when N is empty)."""
    if N.shape[1] == 0:
        return np.ones(L.shape[0], dtype=bool)
    return np.abs((L @ N).sum(axis=1)) < np.sqrt(np.finfo(float).eps)


def doolittle(x: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """lmerTest's ``doolittle``: x = LU with unit lower triangular L; a multiplier whose
    pivot |U_ii| < eps is 0, then entries of L and U below eps in absolute value are 0.
    Each sum is accumulated in R's order (k = 1, …, i − 1)."""
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    L, U = np.eye(n), np.zeros((n, n))
    for i in range(n):
        u = x[i].copy()
        for k in range(i):
            u = u - L[i, k] * U[k]
        U[i] = u
        if i + 1 < n:
            col = x[i + 1:, i].copy()
            for k in range(i):
                col = col - L[i + 1:, k] * U[k, i]
            L[i + 1:, i] = 0.0 if abs(U[i, i]) < eps else col / U[i, i]
    L[np.abs(L) < eps] = 0.0
    U[np.abs(U) < eps] = 0.0
    return L, U


def _type1_matrix(X: np.ndarray) -> np.ndarray:
    p = X.shape[1]
    return np.ones((1, 1)) if p == 1 else doolittle(X.T @ X)[0].T


def _columns(labels, intercept: bool, assign: np.ndarray) -> dict[str, list[int]]:
    """lmerTest's ``term2colX``: the columns of X of each term (none for an aliased one)."""
    out: dict[str, list[int]] = {}
    if intercept:
        out["(Intercept)"] = [int(i) for i in np.flatnonzero(assign == 0)]
    for j, lab in enumerate(labels, start=1):
        out[lab] = [int(i) for i in np.flatnonzero(assign == j)]
    return out


def containment(ft: FixedTerms) -> dict[str, list[str]]:
    """lmerTest's ``containment``: for each term, the terms that contain it."""
    out = {}
    for a, (va, na) in enumerate(zip(ft.coded, ft.numeric, strict=True)):
        out[ft.labels[a]] = [ft.labels[b] for b, (vb, nb) in enumerate(
            zip(ft.coded, ft.numeric, strict=True))
            if va <= vb and len(vb - va) > 0 and na == nb]
    return out


def _type1(ft: FixedTerms) -> dict[str, np.ndarray]:
    X, p = ft.X, ft.X.shape[1]
    if p == 0:
        return {}
    if p == 1 and ft.intercept:
        return {}
    L = _type1_matrix(X)
    cols = _columns(ft.labels, ft.intercept, ft.assign)
    return {lab: L[cols[lab]] for lab in ft.labels}


def _marginal(ft: FixedTerms, which) -> dict[str, np.ndarray]:
    eye = np.eye(ft.X.shape[1])
    cols = _columns(ft.labels, ft.intercept, ft.assign)
    return {lab: eye[cols[lab]] for lab in which}


def _type2(ft: FixedTerms, which, contained) -> dict[str, np.ndarray]:
    X = ft.X
    cols = _columns(ft.labels, ft.intercept, ft.assign)
    col_term = np.empty(X.shape[1], dtype=object)
    for lab, idx in cols.items():
        col_term[idx] = lab
    out = {}
    for lab in which:
        mine = [c for t in [lab, *contained[lab]] for c in cols[t]]
        others = [c for c in range(X.shape[1]) if c not in set(mine)]
        order = others + mine
        Lc = _type1_matrix(X[:, order])
        rows = [i for i, c in enumerate(order) if col_term[c] == lab]
        back = np.argsort(order)
        out[lab] = Lc[rows][:, back]
    return out


def _type2_unfolded(ft: FixedTerms) -> dict[str, np.ndarray]:
    contained = containment(ft)
    marginal = [lab for lab in ft.labels if not contained[lab]]
    rest = [lab for lab in ft.labels if contained[lab]]
    out = {**_marginal(ft, marginal), **_type2(ft, rest, contained)}
    return {lab: out[lab] for lab in ft.labels}


def lm_resid(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``resid(lm.fit(x, y))``: y minus its projection on x's columns of full rank (LINPACK
    pivoting, tol 1e-7)."""
    if x.shape[1] == 0:
        return y
    rank, pivot = column_rank_pivot(x, tol=1e-7)
    Q = np.linalg.qr(x[:, pivot[:rank]])[0]
    return y - Q @ (Q.T @ y)


def _ensure_full_rank(X: np.ndarray, names, assign):
    rank, pivot = column_rank_pivot(X, tol=1e-7)
    if rank == X.shape[1]:
        return X, names, assign
    keep = [int(i) for i in pivot[:rank]]
    return X[:, keep], [names[i] for i in keep], assign[keep]


def _extract_type3(ft: FixedTerms, X: np.ndarray, names, assign) -> dict[str, np.ndarray]:
    blocks, rd_names = [], []
    if ft.intercept:
        blocks.append(np.ones((ft.n, 1)))
        rd_names.append("(Intercept)")
    for j in range(len(ft.labels)):
        M, nm = ft.term_matrix(j)
        blocks.append(M)
        rd_names.extend(nm)
    rdX = np.hstack(blocks)
    empty = [rd_names[i] for i in np.flatnonzero(np.all(rdX == 0, axis=0))]
    if empty:
        warn(f"Missing cells for: {', '.join(empty)}. \nInterpret type III hypotheses "
             "with care.")
    L = zapsmall((ginv(X) @ rdX).T)
    cols = _columns(ft.labels, ft.intercept, np.asarray(assign))
    contained = containment(ft)
    by_order = sorted(range(len(ft.labels)), key=lambda j: -ft.order[j])
    for j in by_order:
        lab = ft.labels[j]
        if contained[lab]:
            xc = [c for t in contained[lab] for c in cols[t]]
            L[:, cols[lab]] = zapsmall(lm_resid(L[:, xc], L[:, cols[lab]]))
    pos = {nm: i for i, nm in enumerate(rd_names)}
    missing = [nm for nm in names if nm not in pos]
    if missing:
        raise InterlaceError(f"type III contrasts: coefficient(s) {missing} have no column "
                             "in the full-indicator design")
    L = L[[pos[nm] for nm in names]]
    out = {}
    for lab in ft.labels:
        Lt = L[:, cols[lab]].T
        out[lab] = Lt[np.sum(np.abs(Lt), axis=1) > 1e-8]
    return out


def _type3(ft: FixedTerms) -> dict[str, np.ndarray]:
    if not ft.recoded:
        return _extract_type3(ft, ft.X, list(ft.x_names), ft.assign)
    Xt, names, assign = ft.treatment_matrix()
    Xt, names, assign = _ensure_full_rank(Xt, list(names), assign)
    L3 = _extract_type3(ft, Xt, names, assign)
    mapping = zapsmall(ginv(Xt) @ ft.X)
    return {lab: L @ mapping for lab, L in L3.items()}


TYPES = {"1": "1", "I": "1", "2": "2", "II": "2", "3": "3", "III": "3", "2b": "2b",
         "marginal": "marginal", "yates": "yates"}
#: lmerTest's marginal contrasts (``drop1``): identity rows of each term's columns
MARGINAL = "marginal"


def hypotheses(ft: FixedTerms, type: str | int = 3) -> dict[str, np.ndarray]:
    """lmerTest's list of hypothesis matrices for ``anova(m, type)`` (or ``"marginal"``,
    ``drop1``'s), by term label."""
    key = TYPES.get(str(type))
    if key is None:
        raise InterlaceError(f"type must be 1, 2 or 3 (or 'I', 'II', 'III'; lmerTest's "
                             f"'2b', 'marginal', 'yates'), not {type!r}")
    if key == "yates":
        raise InterlaceError("Yates contrasts need the fit (interlace.inference.ls_means)")
    if key == "1" or ft.X.shape[1] <= 1 or len(ft.labels) <= 1:
        out = _type1(ft)
    elif key == MARGINAL:
        out = _marginal(ft, ft.labels)
    elif key == "2":
        out = _type2_unfolded(ft)
    elif key == "2b":
        out = _type2(ft, ft.labels, containment(ft))
    else:
        out = _type3(ft)
    return dict(out)
