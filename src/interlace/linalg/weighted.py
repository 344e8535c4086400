"""Weighted cross-products in the blocked layout, for weights that change every iteration.

PIRLS (:mod:`interlace.deviance.glmm`) solves a weighted penalized least-squares problem
per iteration: the cross-products of √W[Z X z] with new working weights W and working
response z, on the same sparsity pattern every time.  Rather than forming Z, ZᵀWZ and
slicing it into blocks again, :class:`WeightedBlocks` maps every row's contributions to
their place in the blocks of :class:`~interlace.linalg.blocked.BlockedFactor` once, and
each iteration sums them with ``numpy.bincount`` (O(n·k²) for k random-effect columns per
row), then :meth:`BlockedFactor.refresh` takes the new values on the old structure (its
block-arrow plan and Gram pattern are kept).  Notation of :mod:`interlace.linalg.blocked`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from interlace.linalg.crossprod import TermData

__all__ = ["WeightedBlocks"]

#: rows × columns of [X z] from which the per-level sums go through scipy.sparse
SPARSE_SUMS_FROM = 4096


class WeightedBlocks:
    """The blocks ``A00, A0m, AR0, ARR, ARm, XX`` of √W[Z X z] for any W and z.

    Parameters
    ----------
    factor : BlockedFactor
        A factor of the same terms (its block order, and the pattern of a sparse A_R0).
    terms : sequence of TermData
        The random-effects terms (lme4 order).
    X : ndarray (n, p)
    """

    def __init__(self, factor, terms: Sequence[TermData], X: np.ndarray):
        self.f = factor
        self.X = X
        self.n, self.p = X.shape
        self._M = np.empty((self.n, self.p + 1))  # [X z], z filled in per call
        self._M[:, :-1] = X
        t0 = terms[factor.k0]
        self.codes0, self.x0 = t0.codes.astype(np.int64), t0.Xi
        self.l0, self.p0 = factor.l0, factor.p0
        self.q0 = self.l0 * self.p0
        self.col0 = (self.codes0[:, None] * self.p0 + np.arange(self.p0)[None, :])  # (n, p0)
        cols, vals, start = [], [], 0
        for k in factor.rest:
            t = terms[k]
            cols.append(start + t.codes.astype(np.int64)[:, None] * t.p + np.arange(t.p)[None])
            vals.append(t.Xi)
            start += t.q
        self.qR = start
        self.colsR = np.hstack(cols) if cols else np.zeros((self.n, 0), dtype=np.int64)
        self.valsR = np.hstack(vals) if vals else np.zeros((self.n, 0))
        kR = self.colsR.shape[1]
        # per term column a, its products with W[X z] summed into each level in row order
        # from 0: for large data by the sparse (levels × rows) matrix of its values x_a,
        # for small data (where a scipy.sparse call costs more) by a bincount into
        # (level, column) cells — the same sums in the same order, so the same bits
        m = self.p + 1
        self._sparse_sums = self.n * m >= SPARSE_SUMS_FROM
        if self._sparse_sums:
            rows = np.arange(self.n)

            def by_level(codes, x, n_levels):
                S = sp.csr_matrix((x, (codes, rows)), shape=(n_levels, self.n))
                S.sort_indices()
                return S

            self._S0 = [by_level(self.codes0, self.x0[:, a], self.l0) for a in range(self.p0)]
            self._SR = [by_level(self.colsR[:, a], self.valsR[:, a], self.qR)
                        for a in range(kR)]
        else:
            self._cells0 = (self.codes0[:, None] * m + np.arange(m)[None, :]).ravel()
            self._cellsR = [(self.colsR[:, a, None] * m + np.arange(m)[None, :]).ravel()
                            for a in range(kR)]
        if not self.qR:
            return
        qR, q0 = self.qR, self.q0
        # every (row, column pair) lands in the same cell each time: the cells and each
        # contribution's cell are found once.  Each cell of A_RR gets contributions from
        # one pair of columns only (different terms, or different columns of one term, hit
        # different cells), so summing all pairs at once adds in the same order as pair by
        # pair.
        pairs = [(a, b) for a in range(kR) for b in range(kR)]
        keys = np.concatenate([self.colsR[:, a] * qR + self.colsR[:, b] for a, b in pairs])
        self._rr_cells, self._rr_pos = np.unique(keys, return_inverse=True)
        self._rr_a = np.array([a for a, _ in pairs])
        self._rr_b = np.array([b for _, b in pairs])
        keys0 = np.concatenate([self.colsR[:, a] * q0 + self.col0[:, b]
                                for a in range(kR) for b in range(self.p0)])
        self._r0_a = np.repeat(np.arange(kR), self.p0)
        self._r0_b = np.tile(np.arange(self.p0), kR)
        if factor.dense_offdiag:
            self._r0_pos, self._r0_len = keys0, qR * q0
        else:
            A = factor.AR0
            pattern = (np.repeat(np.arange(qR), np.diff(A.indptr)).astype(np.int64) * q0
                       + A.indices)
            self._r0_pos, self._r0_len = np.searchsorted(pattern, keys0), len(pattern)
            # one sparse A_R0 whose values are replaced each time (the factor takes it)
            self._AR0 = sp.csr_matrix((np.zeros(len(pattern)), A.indices, A.indptr),
                                      shape=(qR, q0))

    def compute(self, W: np.ndarray, z: np.ndarray):
        """Blocks of √W[Z X z] for weights W (n,) and response z (n,): a
        :class:`~interlace.linalg.crossprod.CrossProducts`-like tuple
        ``(A00, A0m, AR0, ARR, ARm, XX)``."""
        M = self._M
        M[:, -1] = z
        WM = M * W[:, None]
        m = M.shape[1]
        l0, p0, c0 = self.l0, self.p0, self.codes0
        A00 = np.empty((l0, p0, p0))
        A0m = np.empty((l0, p0, m))
        for a in range(p0):
            wa = W * self.x0[:, a]
            for b in range(a, p0):
                A00[:, a, b] = A00[:, b, a] = np.bincount(c0, weights=wa * self.x0[:, b],
                                                          minlength=l0)
            if self._sparse_sums:
                A0m[:, a, :] = self._S0[a] @ WM
            else:  # small: a bincount costs less than a scipy.sparse call
                A0m[:, a, :] = np.bincount(self._cells0, weights=(self.x0[:, a, None] * WM)
                                           .ravel(), minlength=l0 * m).reshape(l0, m)
        XX = M.T @ WM
        if not self.qR:
            return A00, A0m, None, None, None, XX
        qR = self.qR
        n_r = self.colsR.shape[1]
        VR = self.valsR * W[:, None]  # W·x_a per row and column
        ARR = np.zeros(qR * qR)
        ARR[self._rr_cells] = np.bincount(
            self._rr_pos, weights=np.concatenate([VR[:, a] * self.valsR[:, b] for a, b in
                                                  zip(self._rr_a, self._rr_b, strict=True)]),
            minlength=len(self._rr_cells))
        ARm = np.zeros((qR, m))
        for a in range(n_r):
            if self._sparse_sums:
                ARm += self._SR[a] @ WM
            else:
                ARm += np.bincount(self._cellsR[a], weights=(self.valsR[:, a, None] * WM).ravel(),
                                   minlength=qR * m).reshape(qR, m)
        data = np.bincount(self._r0_pos, weights=np.concatenate(
            [VR[:, a] * self.x0[:, b] for a, b in zip(self._r0_a, self._r0_b, strict=True)]),
            minlength=self._r0_len)
        if self.f.dense_offdiag:
            AR0 = data.reshape(qR, self.q0)
        else:
            AR0 = self._AR0
            AR0.data[:] = data
        return A00, A0m, AR0, ARR.reshape(qR, qR), ARm, XX
