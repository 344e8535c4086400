"""Cholesky factor of a matrix with a fixed sparsity pattern, in two-level block-arrow form.

The dense block R of :mod:`interlace.linalg.blocked` (the Schur complement of the
largest term) is often far from dense: for InstEval's instructors about a fifth of its
entries can be nonzero.  A fill-reducing ordering then pays, but a general sparse
factorization does not (its scatter of many medium-sized updates costs more than the
flops it saves).  This module keeps everything in a few dense BLAS calls:

* **Plan** (once per model, from the pattern only).  Minimum-degree elimination on the
  pattern's graph, with indistinguishable vertices eliminated together, runs until
  the remaining vertices form a clique.  A prefix ``F`` of that order (the one with
  the fewest flops among a few candidates) is split into the connected components
  ``F_1, …, F_k`` of the pattern restricted to ``F``; there are no entries between
  different components, and the rest is ``C``.  In the order
  ``[F_1, …, F_k, C]`` the matrix is a block arrow::

      M = [ M_11              M_1C ]
          [       …           …    ]
          [             M_kk  M_kC ]
          [ M_C1  …     M_Ck  M_CC ]

* **Factor** (each evaluation): ``L_ii = chol(M_ii)``, ``L_Ci = M_Ci L_iiᵀ⁻¹`` and
  ``L_CC = chol(M_CC − Σ L_Ci L_Ciᵀ)``: k small Cholesky factors and triangular
  solves, one rank-|F| update and one Cholesky factor of size |C|, all LAPACK/BLAS on
  dense blocks held in one buffer.  Fill inside the blocks is not tracked.

The plan is used only when its flop count is well below the dense factor's; otherwise
the plan is trivial (``F`` empty) and the factor is the dense Cholesky.  The ordering
is this module's own (no CHOLMOD), so the numbers do not depend on which optional
packages are installed.  Supernodal Cholesky (CHOLMOD; Chen et al. 2008, ACM TOMS 35)
and MixedModels.jl's blocked factor are the same idea at more levels.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas, lapack
from scipy.sparse.csgraph import connected_components

from interlace.errors import NumericalError

#: dense blocks smaller than this are factored as they are (ordering costs more than it saves)
MIN_ORDER = 400
#: use the arrow form only when its flops are below this fraction of the dense factor's
MAX_FLOP_RATIO = 0.75
#: prefixes of the minimum-degree order tried as the eliminated set F
SPLIT_CANDIDATES = 24


def _bits(idx: np.ndarray, words: int) -> np.ndarray:
    """A bitset (uint64 words) with the bits ``idx`` set."""
    out = np.zeros(words * 64, dtype=bool)
    out[idx] = True
    return np.packbits(out, bitorder="little").view("<u8")


def _members(row: np.ndarray, n: int) -> np.ndarray:
    """Indices of the bits set in a bitset."""
    return np.flatnonzero(np.unpackbits(row.view(np.uint8), bitorder="little")[:n])


def minimum_degree_split(rows: np.ndarray, cols: np.ndarray, n: int
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-degree elimination until the rest is a clique: (eliminated F in order, C).

    ``rows, cols`` are the pattern's entries (either triangle or both; the diagonal is
    ignored).  Ties go to the lowest index, so the result is deterministic.
    """
    words = (n + 63) // 64
    dense = np.zeros((n, words * 64), dtype=bool)
    off = rows != cols
    dense[rows[off], cols[off]] = True
    dense[cols[off], rows[off]] = True
    adj = np.packbits(dense, axis=1, bitorder="little").view("<u8")  # (n, words)
    alive = _bits(np.arange(n), words)
    deg = np.bitwise_count(adj).sum(axis=1).astype(np.int64)
    dead = np.zeros(n, dtype=bool)
    order: list[np.ndarray] = []
    n_alive = n
    big = n + 1  # the degree given to eliminated vertices
    one = np.uint64(1)
    while n_alive:
        v = int(np.argmin(deg))
        if deg[v] >= n_alive - 1:
            break  # every remaining vertex is adjacent to all others
        row = adj[v] & alive
        nb = _members(row, n)
        # vertices indistinguishable from v (same closed neighbourhood) go with it
        closed = row.copy()
        closed[v // 64] |= one << np.uint64(v % 64)
        own = np.zeros((len(nb), words), dtype="<u8")
        own[np.arange(len(nb)), nb // 64] = one << (nb % 64).astype("<u8")
        is_same = np.all(((adj[nb] & alive) | own) == closed, axis=1)
        group = np.concatenate([[v], nb[is_same]])
        rest = nb[~is_same]
        alive &= ~_bits(group, words)
        dead[group] = True
        deg[group] = big
        n_alive -= len(group)
        order.append(group)
        if len(rest):  # the rest of the neighbourhood becomes a clique
            adj[rest] |= row & alive
            adj[rest, rest // 64] &= ~(one << (rest % 64).astype("<u8"))
            deg[rest] = np.bitwise_count(adj[rest] & alive).sum(axis=1)
    eliminated = np.concatenate(order) if order else np.zeros(0, dtype=np.int64)
    return eliminated.astype(np.int64), np.flatnonzero(~dead)


def _best_split(rows: np.ndarray, cols: np.ndarray, n: int
                ) -> tuple[float, np.ndarray, list[tuple[int, int]]] | None:
    """The cheapest arrow form: (flops / dense flops, permutation, component bounds).

    Minimum degree may end by eliminating separator vertices, which joins the
    components, so a few prefixes of its order are compared by their flops.  None when
    minimum degree eliminates nothing.
    """
    elim, clique = minimum_degree_split(rows, cols, n)
    if not len(elim):
        return None
    g = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    g = (g + g.T).tocsr()
    order = np.concatenate([elim, clique])
    best: tuple[float, int, np.ndarray] | None = None  # (flop ratio, |F|, component labels)
    for t in np.unique(np.linspace(0, len(elim), SPLIT_CANDIDATES + 1).astype(int))[1:]:
        F = order[:t]
        n_comp, label = connected_components(g[F][:, F], directed=False)
        sizes = np.bincount(label, minlength=n_comp).astype(float)
        c = float(n - t)
        flops = (sizes**3).sum() / 3 + c * (sizes**2).sum() + c * c * t + c**3 / 3
        if best is None or flops / (n**3 / 3) < best[0]:
            best = (flops / (n**3 / 3), int(t), label)
    ratio, t, label = best
    by_comp = np.argsort(label, kind="stable")  # elimination order kept within each
    perm = np.concatenate([order[:t][by_comp], order[t:]])
    bounds = np.concatenate([[0], np.cumsum(np.bincount(label))])
    comps = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return ratio, perm, comps


class ArrowCholesky:
    """Lower Cholesky factor ``L L ᵀ = P M Pᵀ`` of a matrix with a fixed pattern.

    Build with :meth:`plan`; each :meth:`factor` call takes the values on the pattern
    (in the order of the ``rows, cols`` given to :meth:`plan`) and refactors in place.
    ``P`` is the permutation ``perm`` (new position → original index).
    """

    def __init__(self, n: int, perm: np.ndarray, comps: list[tuple[int, int]],
                 rows: np.ndarray, cols: np.ndarray):
        self.n, self.perm = n, perm
        self.nF = comps[-1][1] if comps else 0
        self.c = n - self.nF
        self.comps = comps
        pos = np.empty(n, dtype=np.int64)
        pos[perm] = np.arange(n)
        # buffer: the components' diagonal blocks, then L_CF (c × nF), then M_CC (c × c),
        # each in Fortran order
        offs, o = [], 0
        for a, b in comps:
            offs.append(o)
            o += (b - a) ** 2
        off_cf = o
        off_cc = off_cf + self.c * self.nF
        self._buf = np.zeros(off_cc + self.c * self.c)
        self._diag = [self._buf[o:o + (b - a) ** 2].reshape(b - a, b - a, order="F")
                      for o, (a, b) in zip(offs, comps, strict=True)]
        self._cf = self._buf[off_cf:off_cc].reshape(self.c, self.nF, order="F")
        self._cc = self._buf[off_cc:].reshape(self.c, self.c, order="F")
        self._cf_cols = [self._cf[:, a:b] for a, b in comps]
        # destination of each pattern entry (lower triangle in the new order)
        pr, pc = pos[rows], pos[cols]
        hi, lo = np.maximum(pr, pc), np.minimum(pr, pc)
        dest = np.empty(len(rows), dtype=np.int64)
        in_c = lo >= self.nF
        dest[in_c] = off_cc + (hi[in_c] - self.nF) + (lo[in_c] - self.nF) * self.c
        cross = (hi >= self.nF) & ~in_c
        dest[cross] = off_cf + (hi[cross] - self.nF) + lo[cross] * self.c
        inner = hi < self.nF
        comp_of = np.zeros(max(self.nF, 1), dtype=np.int64)
        for k, (a, b) in enumerate(comps):
            comp_of[a:b] = k
        k = comp_of[lo[inner]]
        if np.any(comp_of[hi[inner]] != k):
            raise ValueError("pattern has entries between different components")
        starts = np.array([a for a, _ in comps], dtype=np.int64)
        sizes = np.array([b - a for a, b in comps], dtype=np.int64)
        dest[inner] = (np.array(offs, dtype=np.int64)[k] + (hi[inner] - starts[k])
                       + (lo[inner] - starts[k]) * sizes[k])
        self._dest = dest
        edges = np.linspace(0, self.c, 17).astype(int)
        self._bands = [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]

    @classmethod
    def plan(cls, rows: np.ndarray, cols: np.ndarray, n: int, *, min_order: int | None = None,
             max_flop_ratio: float | None = None, like: ArrowCholesky | None = None
             ) -> ArrowCholesky:
        """Choose the arrow form for the pattern ``(rows, cols)`` (or the dense one).

        Defaults: the module's ``MIN_ORDER`` and ``MAX_FLOP_RATIO``.  ``like``: reuse the
        ordering of a plan made for a larger pattern of the same order (e.g. the full
        data's, for a case-deletion refit: deleting rows only removes entries), with
        buffers of its own.
        """
        if like is not None and like.n == n:
            try:
                return cls(n, like.perm, like.comps, rows, cols)
            except ValueError:  # entries between its components: plan afresh
                pass
        min_order = MIN_ORDER if min_order is None else min_order
        max_flop_ratio = MAX_FLOP_RATIO if max_flop_ratio is None else max_flop_ratio
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        split = _best_split(rows, cols, n) if n >= min_order else None
        if split is None or split[0] > max_flop_ratio:
            return cls(n, np.arange(n), [], rows, cols)  # the dense factor
        _, perm, comps = split
        return cls(n, perm, comps, rows, cols)

    @property
    def is_dense(self) -> bool:
        """True for the trivial plan (one dense block)."""
        return not self.comps

    def factor(self, values: np.ndarray) -> float:
        """Refactor for new values on the pattern; return log det(M)."""
        for blk in self._diag:
            blk.fill(0.0)
        self._cf.fill(0.0)
        for a, b in self._bands:  # the previous factor sits in the lower triangle
            self._cc[a:, a:b] = 0.0
        self._buf[self._dest] = values
        ld = 0.0
        for k, blk in enumerate(self._diag):
            L, info = lapack.dpotrf(blk, lower=1, clean=0, overwrite_a=1)
            if info != 0:
                raise NumericalError(f"Cholesky of a diagonal block failed (info={info})")
            ld += 2.0 * np.sum(np.log(np.diagonal(L)))
            if self.c:
                blas.dtrsm(1.0, L, self._cf_cols[k], side=1, lower=1, trans_a=1, overwrite_b=1)
        if self.nF and self.c:
            blas.dsyrk(-1.0, self._cf, beta=1.0, c=self._cc, lower=1, overwrite_c=1)
        if self.c:
            _, info = lapack.dpotrf(self._cc, lower=1, clean=0, overwrite_a=1)
            if info != 0:
                raise NumericalError(f"Cholesky of the dense block failed (info={info})")
            ld += 2.0 * np.sum(np.log(np.diagonal(self._cc)))
        return float(ld)

    def forward(self, B: np.ndarray) -> np.ndarray:
        """``L⁻¹ P B`` (rows in the new order)."""
        Y = np.asfortranarray(B[self.perm], dtype=float)
        for (a, b), blk in zip(self.comps, self._diag, strict=True):
            Y[a:b], _ = lapack.dtrtrs(blk, Y[a:b], lower=1)
        if self.c:
            if self.nF:
                Y[self.nF:] = blas.dgemm(-1.0, self._cf, Y[:self.nF], 1.0, Y[self.nF:])
            Y[self.nF:], _ = lapack.dtrtrs(self._cc, Y[self.nF:], lower=1)
        return Y

    def backward(self, Y: np.ndarray) -> np.ndarray:
        """``Pᵀ L⁻ᵀ Y`` (``Y`` in the new order, the result in the original order)."""
        X = np.array(Y, dtype=float, order="F")
        if self.c:
            X[self.nF:], _ = lapack.dtrtrs(self._cc, X[self.nF:], lower=1, trans=1)
            if self.nF:
                X[:self.nF] = blas.dgemm(-1.0, self._cf, X[self.nF:], 1.0, X[:self.nF],
                                         trans_a=1)
        for (a, b), blk in zip(self.comps, self._diag, strict=True):
            X[a:b], _ = lapack.dtrtrs(blk, X[a:b], lower=1, trans=1)
        out = np.empty_like(X)
        out[self.perm] = X
        return out

    def lower(self) -> np.ndarray:
        """The factor L as a dense lower-triangular array (new order)."""
        L = np.zeros((self.n, self.n))
        for (a, b), blk in zip(self.comps, self._diag, strict=True):
            L[a:b, a:b] = np.tril(blk)
        L[self.nF:, :self.nF] = self._cf
        L[self.nF:, self.nF:] = np.tril(self._cc)
        return L

    def inverse_factor(self) -> np.ndarray:
        """``L⁻¹ P`` as a dense array: its Gram matrix ``(L⁻¹P)ᵀ(L⁻¹P)`` is ``M⁻¹``."""
        Linv = lapack.dtrtri(self.lower(), lower=1)[0]
        out = np.empty_like(Linv)
        out[:, self.perm] = Linv
        return out
