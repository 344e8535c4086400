"""Deletion sets and the model's cross-products without them (no refit here).

A deletion set D is a set of positions of the model's rows (one observation, or every
observation of one level of a grouping factor).  :class:`DeletionProblem` holds what
every deleted fit needs — Z and [X y] with rows scaled by √w, the full-data blocked
cross-products — and forms, per set, the downdated cross-products (notation of
:mod:`interlace.deviance.lmm`; Bates, Mächler, Bolker & Walker 2015, JSS 67(1))

    ZᵀZ − Z_DᵀZ_D,   Zᵀ[X y] − Z_Dᵀ[X y]_D,   [X y]ᵀ[X y] − [X y]_Dᵀ[X y]_D

in the layout of :class:`interlace.linalg.blocked.BlockedFactor`, either stacked for the
batched objective (:mod:`interlace.linalg.batched`) or as one set's own deviance
function.  It also states which sets lme4 would refuse and which lose rank in X.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from interlace.deviance.lmm import LmmDeviance
from interlace.errors import InterlaceError
from interlace.linalg import batched, make_factor
from interlace.linalg.blocked import BlockedFactor
from interlace.linalg.crossprod import CrossProducts, TermData, build_Z

__all__ = ["DeletionProblem", "group_sets", "loses_rank", "observation_sets", "refusal",
           "row_positions"]


class DeletionProblem:
    """The model's data in the form every deletion needs (built once per call)."""

    def __init__(self, res, reml: bool):
        des, dev = res._design, res._dev
        self.reml = reml
        self.X, self.re_terms = des.X, des.re_terms
        self.layout = res._layout
        self.terms = [TermData(t.codes, t.Xi, len(t.levels)) for t in des.re_terms]
        self.ps = [t.p for t in self.terms]
        self.ls = [t.n_levels for t in self.terms]
        self.n, self.p = dev.n, dev.p
        w = des.weights
        sqrtw = None if w is None else np.sqrt(w)
        self.logw = np.zeros(self.n) if w is None else np.log(w)
        # the shifted response the model's cross-products were formed from (y − offset − X b₀)
        Xy = np.column_stack([des.X, dev.cp.y0])
        self.Xy = Xy if sqrtw is None else Xy * sqrtw[:, None]
        self.Z = build_Z(self.terms, sqrtw).tocsr()
        self.cp = dev.cp
        self.backend = dev.backend
        self.base = BlockedFactor(self.cp, self.ps, self.ls)
        f = self.base
        self.batchable = (not f.qR) or f.dense_offdiag
        q = self.Z.shape[1]
        self.in0 = np.zeros(q, dtype=bool)
        self.in0[f.idx0] = True
        self.loc0 = np.full(q, -1)
        self.loc0[f.idx0] = np.arange(len(f.idx0))
        self.posR = np.full(q, -1)
        self.posR[f.idxR] = np.arange(f.qR)
        lay = self.layout
        self.struct = batched.Structure.of(f, lay, self.p, reml)
        self.lower = lay.lower()
        self.names = lay.names()

    # -- cross-products of the data without the rows D ----------------------------------
    def blocks(self, sets: list[np.ndarray]) -> batched.BlockData:
        """Blocked cross-products of every set (full data minus its rows)."""
        f, U = self.base, len(sets)
        rep = lambda a: np.repeat(a[None], U, axis=0)  # noqa: E731
        A00, A0m, XX = rep(f.A00), rep(f.A0m), rep(self.cp.XytXy)
        AR0 = ARR = ARm = None
        if f.qR:
            AR0, ARR, ARm = rep(f.AR0), rep(f.ARR), rep(f.ARm)
        n = np.empty(U, dtype=int)
        ldW = np.empty(U)
        p0 = f.p0
        for u, rows in enumerate(sets):
            n[u] = self.n - len(rows)
            ldW[u] = self.logw.sum() - self.logw[rows].sum()
            if not len(rows):
                continue
            cols, Zs = self.zrows(rows)
            Xyd = self.Xy[rows]
            dZZ, dZXy = Zs.T @ Zs, Zs.T @ Xyd
            XX[u] -= Xyd.T @ Xyd
            b0 = self.in0[cols]
            c0 = cols[b0]
            lev, comp = np.divmod(self.loc0[c0], p0)
            same = lev[:, None] == lev[None, :]
            ia, ib = np.nonzero(same)
            sub = dZZ[np.ix_(b0, b0)]
            A00[u, lev[ia], comp[ia], comp[ib]] -= sub[ia, ib]
            A0m[u, lev, comp] -= dZXy[b0]
            if f.qR:
                bR = ~b0
                rR = self.posR[cols[bR]]
                AR0[u][np.ix_(rR, self.loc0[c0])] -= dZZ[np.ix_(bR, b0)]
                ARR[u][np.ix_(rR, rR)] -= dZZ[np.ix_(bR, bR)]
                ARm[u, rR] -= dZXy[bR]
        return batched.BlockData(A00, A0m, AR0, ARR, ARm, XX, n, ldW, self.cp.shift)

    def zrows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The non-zero columns of Z's rows ``rows`` and those rows as a dense block."""
        Z = self.Z
        if len(rows) == 1:
            a, b = Z.indptr[rows[0]], Z.indptr[rows[0] + 1]
            return Z.indices[a:b], Z.data[None, a:b]
        Zd = Z[rows]
        cols = np.unique(Zd.indices)
        return cols, Zd[:, cols].toarray()

    def deviance(self, rows: np.ndarray, bd: batched.BlockData | None):
        """An ``LmmDeviance`` for the data without ``rows`` (own factor, own state)."""
        if bd is not None and self.batchable and self.backend == "blocked":
            f = copy.copy(self.base)
            f.A00, f.A0m = bd.A00[0], bd.A0m[0]
            if f.qR:
                f.AR0, f.ARR, f.ARm = bd.AR0[0], bd.ARR[0], bd.ARm[0]
            cp = CrossProducts(self.cp.ZtZ, self.cp.ZtXy, bd.XX[0], int(bd.n[0]), self.p,
                               self.cp.beta0)
            f.cp = cp
            return LmmDeviance.from_parts(cp, self.layout, float(bd.ldW[0]), self.reml, f)
        Zd = self.Z[rows]
        Xyd = self.Xy[rows]
        cp = CrossProducts((self.cp.ZtZ - (Zd.T @ Zd)).tocsc(), self.cp.ZtXy - Zd.T @ Xyd,
                           self.cp.XytXy - Xyd.T @ Xyd, self.n - len(rows), self.p,
                           self.cp.beta0)
        cp.ZtZ.sort_indices()
        factor = make_factor(cp, self.ps, self.ls, self.backend, like=self.base)
        ldW = float(self.logw.sum() - self.logw[rows].sum())
        return LmmDeviance.from_parts(cp, self.layout, ldW, self.reml, factor)


# ---------------------------------------------------------------------------------------
def refusal(prob: DeletionProblem, rows: np.ndarray) -> str | None:
    """lme4's refusals for the subset data (``checkNlevels``, ``checkZdims``), or None."""
    n = prob.n - len(rows)
    keep = np.ones(prob.n, dtype=bool)
    keep[rows] = False
    seen: dict[str, int] = {}
    for t, rt in zip(prob.terms, prob.re_terms, strict=True):
        nl = int(np.unique(t.codes[keep]).size)
        seen.setdefault(rt.group, nl)
        if nl < 2:
            return "grouping factors must have > 1 sampled level"
        if nl >= n:
            return ("number of levels of each grouping factor must be < number of "
                    f"observations (problems: {rt.group})")
        if n <= nl * t.p:
            return (f"number of observations (={n}) <= number of random effects "
                    f"(={nl * t.p}) for term ({rt.text})")
    if prob.reml and n - prob.p <= 0:
        return f"REML needs more observations ({n}) than fixed effects ({prob.p})"
    return None


def loses_rank(prob: DeletionProblem, sets: list[np.ndarray]) -> np.ndarray:
    """Which sets leave a rank-deficient X (lme4's qr(X, tol = 1e-7) rank < p)?"""
    from interlace.design.qr import column_rank_pivot

    X = prob.X
    out = np.zeros(len(sets), dtype=bool)
    if not X.shape[1]:
        return out
    Q, _ = np.linalg.qr(X)
    h = np.einsum("ij,ij->i", Q, Q)
    for u, rows in enumerate(sets):
        if len(rows) == 1 and h[rows[0]] < 1.0 - 1e-6:
            continue
        keep = np.ones(prob.n, dtype=bool)
        keep[rows] = False
        rank, _ = column_rank_pivot(X[keep], tol=1e-7)
        out[u] = rank < X.shape[1]
    return out


# -- deletion sets -------------------------------------------------------------------------
def row_positions(res) -> np.ndarray:
    """Positions in the fitted data frame of the observations the model used."""
    return np.asarray(res._design.row_positions)


def observation_sets(res) -> tuple[pd.Index, list[np.ndarray]]:
    """One set per observation used by the model, labelled by its row label."""
    return pd.Index(res._design.row_labels), [np.array([i]) for i in range(res.nobs)]


def group_sets(res, group: str, order: str = "levels") -> tuple[pd.Index, list[np.ndarray]]:
    """The rows of every level of ``group``: a grouping factor of the model or a data column.

    ``order="levels"`` lists levels in the factor's level order (HLMdiag's ``split``);
    ``"appearance"`` in order of first appearance in the data (lme4's ``unique``).
    Levels are labelled by their string form.
    """
    term = next((t for t in res._design.re_terms if t.group == group), None)
    if term is not None:
        codes, levels = np.asarray(term.codes), [str(v) for v in term.levels]
    else:
        data = res._data
        if not isinstance(data, pd.DataFrame) or group not in data.columns:
            groups = sorted({t.group for t in res._design.re_terms})
            raise InterlaceError(f"{group!r} is neither a grouping factor of the model "
                                 f"({', '.join(groups)}) nor a column of its data")
        vals = data[group].iloc[row_positions(res)]
        if isinstance(vals.dtype, pd.CategoricalDtype):
            present = vals.cat.remove_unused_categories()
            codes = np.asarray(present.cat.codes)
            levels = [str(v) for v in present.cat.categories]
        else:
            codes, uniq = pd.factorize(vals, sort=True)
            levels = [str(v) for v in uniq]
    if order == "appearance":
        _, first = np.unique(codes[codes >= 0], return_index=True)
        seen = np.unique(codes[codes >= 0])[np.argsort(first)]
    else:
        seen = np.unique(codes[codes >= 0])
    sets = [np.flatnonzero(codes == j) for j in seen]
    return pd.Index([levels[j] for j in seen], dtype=object), sets
