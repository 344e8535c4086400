"""Blocked Cholesky factor of ΛᵀZᵀZΛ + I (pure NumPy/SciPy backend).

Notation as in Bates et al. (2015, JSS 67(1), sec. 3): for θ, the sparse
Cholesky factor L of ``M = ΛᵀZᵀZΛ + I``, then ``C = L⁻¹ΛᵀZᵀ[X y]`` and the
Schur complement ``S = [X y]ᵀ[X y] − CᵀC`` whose Cholesky factor holds RX
(upper left), the fixed-effects right-hand side, and √pwrss (last element).

Blocking (after MixedModels.jl): the random-effects term with the most levels
goes first (block 0).  Its block of M is block diagonal (``l0`` blocks of
``p0 × p0``) so its factor is computed level by level in a batch.  All other
terms form one dense block R; the off-diagonal block ``L_R0 = Λ_RᵀA_R0Λ_0
L_00⁻ᵀ`` keeps the sparsity of ``A_R0`` and all fill-in lands in the dense
``M_RR − L_R0 L_R0ᵀ``, factored by LAPACK.  When every term is scalar and A_R0 is
held sparse, ``M_RR`` is formed on its precomputed lower-triangle pattern and factored
by :class:`interlace.linalg.arrow.ArrowCholesky` (a block-arrow form of large sparse
patterns, otherwise the same dense LAPACK factor).  The order of the blocks does not
change any determinant or solution, only the cost.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.linalg import lapack

from interlace.errors import NumericalError
from interlace.linalg.arrow import ArrowCholesky
from interlace.linalg.crossprod import CrossProducts


def _batched_blocks(A, n_levels: int, p: int) -> np.ndarray:
    """Diagonal ``p × p`` blocks of a block-diagonal (sparse or dense) matrix as (l, p, p)."""
    base = np.arange(n_levels) * p
    ii, jj = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    r = (base[:, None, None] + ii[None]).ravel()
    c = (base[:, None, None] + jj[None]).ravel()
    return np.asarray(A[r, c]).reshape(n_levels, p, p)


class BlockDiagPattern:
    """Builds the sparse block-diagonal Λ of several terms quickly from their templates."""

    def __init__(self, ps: Sequence[int], ls: Sequence[int]):
        self.ps, self.ls = list(ps), list(ls)
        self.diagonal = all(p == 1 for p in ps)
        rows, cols, off = [], [], 0
        self._tri = []
        for p, n_lev in zip(ps, ls, strict=True):
            r, c = np.tril_indices(p)
            self._tri.append((r, c))
            base = off + np.arange(n_lev)[:, None] * p
            rows.append((base + r[None]).ravel())
            cols.append((base + c[None]).ravel())
            off += p * n_lev
        self.q = off
        self._rows = np.concatenate(rows) if rows else np.zeros(0, int)
        self._cols = np.concatenate(cols) if cols else np.zeros(0, int)

    def diag(self, templates: Sequence[np.ndarray]) -> np.ndarray:
        """Λ's diagonal when every term is scalar (all p = 1)."""
        return np.concatenate(
            [np.full(n_lev, T[0, 0]) for T, n_lev in zip(templates, self.ls, strict=True)]
        )

    def dense(self, templates: Sequence[np.ndarray]) -> np.ndarray:
        """Λ as a dense array (for small blocks)."""
        out = np.zeros((self.q, self.q))
        out[self._rows, self._cols] = self._data(templates)
        return out

    def _data(self, templates: Sequence[np.ndarray]) -> np.ndarray:
        return np.concatenate(
            [
                np.tile(T[r, c], n_lev)
                for T, (r, c), n_lev in zip(templates, self._tri, self.ls, strict=True)
            ]
        )

    def apply(self, templates: Sequence[np.ndarray], u: np.ndarray) -> np.ndarray:
        """Λu without forming Λ, summing each row in the order a CSR product of
        :meth:`matrix` does (column by column from 0), so the result is the same to the
        bit."""
        out = np.empty(self.q)
        off = 0
        for T, p, n_lev in zip(templates, self.ps, self.ls, strict=True):
            U = u[off:off + p * n_lev].reshape(n_lev, p)
            V = out[off:off + p * n_lev].reshape(n_lev, p)
            for r in range(p):
                acc = 0.0 + T[r, 0] * U[:, 0]
                for c in range(1, r + 1):
                    acc = acc + T[r, c] * U[:, c]
                V[:, r] = acc
            off += p * n_lev
        return out

    def matrix(self, templates: Sequence[np.ndarray]) -> sp.csr_matrix:
        """Λ as a sparse matrix."""
        return sp.csr_matrix((self._data(templates), (self._rows, self._cols)),
                             shape=(self.q, self.q))


#: q_R × q_0 size below which the off-diagonal block is held as a dense array
DENSE_OFFDIAG_LIMIT = 250_000
#: q_R below which a non-diagonal Λ_R is built dense
DENSE_LAMBDA_LIMIT = 500
#: ZᵀZ of at most this order is densified once at setup (scipy.sparse slicing costs more)
DENSE_SETUP_LIMIT = 400


class BlockedFactor:
    """Blocked Cholesky factorization of ΛᵀZᵀZΛ + I and the Schur complement of [X y].

    Parameters
    ----------
    cp : CrossProducts
        Cross-products of the model (Z columns in lme4 term order).
    ps, ls : sequence of int
        Columns and levels per term, in lme4 term order.
    like : BlockedFactor, optional
        A factor of the same terms on more data (case deletion): its block-arrow ordering
        is reused instead of planned again.
    sparse_offdiag_below : float
        With scalar terms, hold A_R0 sparse (the block-arrow path) when its density is below
        this even where it is small enough to be dense (0: by size only).
    """

    def __init__(self, cp: CrossProducts, ps: Sequence[int], ls: Sequence[int],
                 like: BlockedFactor | None = None, sparse_offdiag_below: float = 0.0):
        self.cp = cp
        self.ps, self.ls = list(ps), list(ls)
        offs = np.concatenate([[0], np.cumsum([p * n for p, n in zip(ps, ls, strict=True)])])
        self.k0 = int(np.argmax(ls))
        self.rest = [k for k in range(len(ps)) if k != self.k0]
        p0, l0 = ps[self.k0], ls[self.k0]
        self.p0, self.l0 = p0, l0
        idx0 = np.arange(offs[self.k0], offs[self.k0 + 1])
        idxR = (
            np.concatenate([np.arange(offs[k], offs[k + 1]) for k in self.rest])
            if self.rest
            else np.zeros(0, dtype=int)
        )
        self.idx0, self.idxR = idx0, idxR
        self.qR = len(idxR)
        m = cp.ZtXy.shape[1]
        ZtZ = cp.ZtZ.tocsr()
        # small ZᵀZ: slice one dense copy (scipy.sparse fancy indexing costs more)
        ZtZd = ZtZ.toarray() if ZtZ.shape[0] <= DENSE_SETUP_LIMIT else None

        def block(rows: np.ndarray, cols: np.ndarray):
            return ZtZd[np.ix_(rows, cols)] if ZtZd is not None else ZtZ[rows][:, cols]

        self.A00 = _batched_blocks(block(idx0, idx0), l0, p0)
        self.A0m = cp.ZtXy[idx0].reshape(l0, p0, m)
        self.lamR = BlockDiagPattern([ps[k] for k in self.rest], [ls[k] for k in self.rest])
        if self.qR:
            AR0, ARR = block(idxR, idx0), block(idxR, idxR)
            self.ARR = ARR.toarray() if sp.issparse(ARR) else ARR
            self.ARm = cp.ZtXy[idxR]
            self._diagR = np.diag_indices(self.qR)
            self._arrow: ArrowCholesky | None = None
            # small off-diagonal blocks are cheaper dense than through scipy.sparse objects,
            # unless they are nearly empty and refactored many times (PIRLS): then scalar
            # terms take the sparse Gram pattern below the given density
            nnz = AR0.nnz if sp.issparse(AR0) else np.count_nonzero(AR0)
            sparse_wanted = (nnz < sparse_offdiag_below * self.qR * len(idx0)
                             and self.lamR.diagonal and p0 == 1)
            self.dense_offdiag = (self.qR * len(idx0) <= DENSE_OFFDIAG_LIMIT
                                  and not sparse_wanted)
            if self.dense_offdiag:
                self.AR0 = AR0.toarray() if sp.issparse(AR0) else AR0
            else:
                self.AR0 = sp.csr_matrix(AR0)
                self.AR0.sort_indices()
                self._AR0_rows = np.repeat(np.arange(self.qR), np.diff(self.AR0.indptr))
                if self.lamR.diagonal and p0 == 1:
                    self._gram_pattern(getattr(like, "_arrow", None))

    def with_cross_products(self, cp: CrossProducts) -> BlockedFactor:
        """This factor on cross-products that differ only in the response (lme4's
        ``refit(newresp)``): the same blocks and plan, the response's columns replaced.
        The copy shares the factor's arrays; it is refactored at its own θ before use."""
        new = copy.copy(self)
        new.cp = cp
        m = cp.ZtXy.shape[1]
        new.A0m = cp.ZtXy[self.idx0].reshape(self.l0, self.p0, m)
        if self.qR:
            new.ARm = cp.ZtXy[self.idxR]
        return new

    def refresh(self, A00, A0m, AR0, ARR, ARm, XX) -> None:
        """New cross-product values on the same structure (in place; PIRLS reweighting).

        The blocks are as :class:`~interlace.linalg.weighted.WeightedBlocks` gives them; a
        sparse A_R0 must have this factor's pattern.  The block-arrow plan is kept and the
        Gram products of A_R0 are recomputed.
        """
        self.A00, self.A0m = A00, A0m
        self.cp = CrossProducts(self.cp.ZtZ, self.cp.ZtXy, XX, self.cp.n, self.cp.p)
        if not self.qR:
            return
        self.ARR, self.ARm = ARR, ARm
        if self.dense_offdiag:
            self.AR0 = AR0
            return
        self.AR0 = AR0
        if self._arrow is not None:
            if self._csr_src is None:  # where each CSC-ordered value sits in A_R0's CSR data
                order = sp.csr_matrix((np.arange(1, AR0.nnz + 1, dtype=float), AR0.indices,
                                       AR0.indptr), shape=AR0.shape).tocsc()
                order.sort_indices()
                to_csr = order.data.astype(np.int64) - 1
                self._csr_src = (to_csr[self._gram_src_i], to_csr[self._gram_src_j])
            i, j = self._csr_src
            self._gram_P.data[:] = AR0.data[i] * AR0.data[j]
            self._gram_ARR = self.ARR.ravel()[self._gram_targets]

    # -- per-θ update ---------------------------------------------------------------
    def update(self, templates: Sequence[np.ndarray]) -> tuple[float, np.ndarray]:
        """Refactor in place for new term templates; return (ldL2, Schur complement S)."""
        T0 = templates[self.k0]
        p0 = self.p0
        if p0 == 1:
            t = T0[0, 0]
            L00 = np.sqrt(t * t * self.A00[:, 0, 0] + 1.0)
            ld = 2.0 * np.sum(np.log(L00))
            C0 = self.A0m[:, 0, :] * (t / L00)[:, None]  # (l0, m)
            self._B0diag = t / L00
        else:
            M00 = T0.T @ self.A00 @ T0 + np.eye(p0)
            L00 = np.linalg.cholesky(M00)
            ld = 2.0 * np.sum(np.log(np.diagonal(L00, axis1=1, axis2=2)))
            Linv = np.linalg.inv(L00)
            C0 = (Linv @ (T0.T @ self.A0m)).reshape(self.l0 * p0, -1)
            self._Linv00 = Linv
        self._L00 = L00
        C0 = C0.reshape(self.l0 * p0, -1)
        S = self.cp.XytXy - C0.T @ C0
        self._C0 = C0
        if self.qR:
            lam = self._lam([templates[k] for k in self.rest])
            if self._arrow is not None:  # scalar terms: values on the precomputed pattern
                # L_R0 C0 = Λ_R A_R0 diag(d²) A_0m without forming L_R0 (built when needed)
                w = self._B0diag * self._B0diag
                rhs = lam[:, None] * (self.ARm - self.AR0 @ (w[:, None] * self.A0m[:, 0, :]))
                LR0 = None
                ld += self._arrow.factor(self._scalar_values(lam, w))
                CR = self._arrow.forward(rhs)
                URR = None
            else:
                LR0 = self._lower_offdiag(T0, lam)
                rhs = self._lamRT(lam, self.ARm) - LR0 @ C0
                MRR = self._lambda_sandwich(lam)
                MRR[self._diagR] += 1.0
                MRR -= self._gram(LR0, lam)
                # MRR is C-ordered and symmetric, so MRRᵀ is a Fortran-ordered copy-free
                # view: LAPACK factors it in place as UᵀU with U = L_RRᵀ.
                URR, info = lapack.dpotrf(MRR.T, lower=0, clean=0, overwrite_a=1)
                if info != 0:
                    raise NumericalError(
                        f"Cholesky of the dense block failed (info={info})")
                ld += 2.0 * np.sum(np.log(URR[self._diagR]))
                CR, info = lapack.dtrtrs(URR, rhs, lower=0, trans=1)
            S -= CR.T @ CR
            self._LR0, self._URR, self._CR = LR0, URR, CR
            self._T0, self._lamR = T0, lam
        return float(ld), S

    def _offdiag(self):
        """L_R0 at the last θ (formed on first use after the scalar-terms update)."""
        if self._LR0 is None:
            self._LR0 = self._lower_offdiag(self._T0, self._lamR)
        return self._LR0

    def _offdiag_t_times(self, x: np.ndarray) -> np.ndarray:
        """L_R0ᵀ x.  Scalar terms with a sparse A_R0 (L_R0 not formed by the update): the
        products of L_R0's entries with x summed into each column in row order — the
        order, hence the bits, of the CSC product of the formed L_R0ᵀ — without building
        it."""
        if self._LR0 is None and not self.dense_offdiag:
            A, rows = self.AR0, self._AR0_rows
            data = A.data * self._lamR[rows] * self._B0diag[A.indices]
            return np.bincount(A.indices, weights=data * x[rows], minlength=self.AR0.shape[1])
        return self._offdiag().T @ x

    def _gram_pattern(self, like: ArrowCholesky | None) -> None:
        """Precompute P with vec(A_R0 diag(w) A_R0ᵀ) = P w (lower triangle) for scalar terms.

        Also plans the block-arrow factor of M_RR on that pattern (reusing ``like``'s
        ordering when given).

        With every term scalar, ``L_R0 L_R0ᵀ = diag(λ_R) A_R0 diag(d²) A_R0ᵀ diag(λ_R)``
        where only ``d`` (one value per level of block 0) depends on θ, so the Gram
        matrix is one sparse matrix–vector product per evaluation.
        """
        A = self.AR0.tocsc()
        A.sort_indices()
        counts = np.diff(A.indptr)
        # P's columns are block 0's levels sorted by their number of nonzeros, so the pairs
        # of one count class fill a contiguous stretch (w is permuted alike per evaluation)
        order = np.argsort(counts, kind="stable")
        cs = counts[order]
        npairs = cs * (cs + 1) // 2
        indptr = np.concatenate([[0], np.cumsum(npairs)])
        idx_t = np.int32 if self.qR * self.qR < 2**31 else np.int64
        flat = np.empty(indptr[-1], dtype=idx_t)
        vals = np.empty(indptr[-1])
        src_i = np.empty(indptr[-1], dtype=np.int64)  # positions in A.data of each product
        src_j = np.empty(indptr[-1], dtype=np.int64)
        bounds = np.searchsorted(cs, np.arange(cs.max() + 2) if len(cs) else [0])
        for c in range(1, len(bounds) - 1):  # columns with c nonzeros, all at once
            a, b = bounds[c], bounds[c + 1]
            if b == a:
                continue
            ii, jj = np.tril_indices(c)
            start = A.indptr[order[a:b]][:, None]
            rows_i, rows_j = A.indices[start + ii[None, :]], A.indices[start + jj[None, :]]
            lo, hi = indptr[a], indptr[b]
            flat[lo:hi] = (rows_i.astype(idx_t) * self.qR + rows_j).ravel()
            src_i[lo:hi] = (start + ii[None, :]).ravel()
            src_j[lo:hi] = (start + jj[None, :]).ravel()
            vals[lo:hi] = A.data[src_i[lo:hi]] * A.data[src_j[lo:hi]]
        self._gram_order = order
        self._gram_src_i, self._gram_src_j = src_i, src_j
        self._csr_src = None  # the same positions in CSR order (refresh), made on first use
        # the lower triangle of M_RR that can be nonzero: the Gram pattern, A_RR's own
        # pattern (cross-products of different terms) and the diagonal
        present = np.zeros(self.qR * self.qR, dtype=bool)  # dedupe by a bitmap, not a sort
        present[flat] = True
        present[np.flatnonzero(np.tril(self.ARR).ravel())] = True
        present[np.arange(self.qR) * (self.qR + 1)] = True
        targets = np.flatnonzero(present)
        rank = np.empty(self.qR * self.qR, dtype=idx_t)  # position of each target
        rank[targets] = np.arange(len(targets), dtype=idx_t)
        # built column by column (no duplicates within a column); CSC's product is as fast
        self._gram_P = sp.csc_matrix((vals, rank[flat], indptr), shape=(len(targets), A.shape[1]))
        self._gram_rows, self._gram_cols = np.divmod(targets, self.qR)
        self._gram_diag = np.flatnonzero(self._gram_rows == self._gram_cols)
        self._gram_targets = targets
        self._gram_ARR = self.ARR.ravel()[targets]
        self._arrow = ArrowCholesky.plan(self._gram_rows, self._gram_cols, self.qR,
                                         like=like)

    def _scalar_values(self, lam: np.ndarray, w: np.ndarray) -> np.ndarray:
        """I + Λ_R (A_RR − A_R0 diag(w) A_R0ᵀ) Λ_R on its lower-triangle pattern (scalar terms)."""
        vals = self._gram_ARR - self._gram_P @ w[self._gram_order]
        if lam.min() == lam.max():  # one scalar term: Λ_R = λI
            vals *= lam[0] * lam[0]
        else:
            vals *= lam[self._gram_rows] * lam[self._gram_cols]
        vals[self._gram_diag] += 1.0
        return vals

    def _lam(self, Tr: Sequence[np.ndarray]):
        """Λ_R once per θ: its diagonal (all terms scalar), a dense array or a sparse matrix."""
        if self.lamR.diagonal:
            return self.lamR.diag(Tr)
        if self.qR <= DENSE_LAMBDA_LIMIT:
            return self.lamR.dense(Tr)
        return self.lamR.matrix(Tr).tocsr()

    def _gram(self, LR0, lam) -> np.ndarray:
        """L_R0 L_R0ᵀ as a dense array."""
        if self.dense_offdiag:
            return LR0 @ LR0.T
        return (LR0 @ LR0.T).toarray()

    def _lamRT(self, lam, B: np.ndarray) -> np.ndarray:
        """Λ_Rᵀ B for a dense B."""
        if self.lamR.diagonal:
            return lam[:, None] * B
        return np.asarray(lam.T @ B)

    def _lambda_sandwich(self, lam) -> np.ndarray:
        """Λ_Rᵀ A_RR Λ_R as a new dense array."""
        if self.lamR.diagonal:
            return self.ARR * np.outer(lam, lam)
        if isinstance(lam, np.ndarray):
            return lam.T @ self.ARR @ lam
        LT = lam.T.tocsr()
        return np.asarray(LT @ np.asarray(LT @ self.ARR).T)

    def _B0_blocks(self, T0: np.ndarray) -> np.ndarray:
        """Λ_0 L00⁻ᵀ per level of block 0, (l0, p0, p0)."""
        return T0 @ np.transpose(self._Linv00, (0, 2, 1))

    def _lower_offdiag(self, T0: np.ndarray, lam):
        """L_R0 = Λ_Rᵀ A_R0 Λ_0 L_00⁻ᵀ, sparse with the pattern of A_R0."""
        A = self.AR0
        if self.dense_offdiag:
            left = self._lamRT(lam, A)
            if self.p0 == 1:
                return left * self._B0diag[None, :]
            out = np.einsum("rlp,lpq->rlq", left.reshape(self.qR, self.l0, self.p0),
                            self._B0_blocks(T0))
            return out.reshape(self.qR, -1)
        if self.lamR.diagonal and self.p0 == 1:
            data = A.data * lam[self._AR0_rows] * self._B0diag[A.indices]
            return sp.csr_matrix((data, A.indices, A.indptr), shape=A.shape)
        left = sp.diags(lam) @ A if self.lamR.diagonal else sp.csr_matrix(lam).T @ A
        if self.p0 == 1:
            return (left @ sp.diags(self._B0diag)).tocsr()
        B0 = sp.bsr_matrix(
            (self._B0_blocks(T0), np.arange(self.l0), np.arange(self.l0 + 1)),
            shape=(self.l0 * self.p0, self.l0 * self.p0),
        )
        return (left @ B0).tocsr()

    # -- after the optimum ------------------------------------------------------------
    def solve_u(self, beta: np.ndarray) -> np.ndarray:
        """Spherical random effects u (lme4 column order) for the last θ and this β."""
        p = self.cp.p
        rhs0 = self._C0[:, p] - self._C0[:, :p] @ beta
        u = np.empty(len(self.idx0) + self.qR)
        if self.qR:
            rhsR = self._CR[:, p] - self._CR[:, :p] @ beta
            if self._arrow is not None:
                uR = self._arrow.backward(rhsR[:, None])[:, 0]
            else:
                uR = sla.solve_triangular(self._URR, rhsR, lower=False)
            rhs0 = rhs0 - self._offdiag_t_times(uR)
            u[self.idxR] = uR
        if self.p0 == 1:
            u0 = rhs0 / self._L00
        else:
            r = rhs0.reshape(self.l0, self.p0, 1)
            u0 = (np.transpose(self._Linv00, (0, 2, 1)) @ r).ravel()
        u[self.idx0] = u0
        return u

    def minv_diag_blocks(self) -> list[np.ndarray]:
        """Diagonal per-level blocks of M⁻¹ for each term (lme4 order), each (l, p, p)."""
        out: list[np.ndarray | None] = [None] * len(self.ps)
        p0 = self.p0
        if p0 == 1:
            Linv0 = (1.0 / self._L00)[:, None, None]
        else:
            Linv0 = self._Linv00
        inner = np.broadcast_to(np.eye(p0), (self.l0, p0, p0)).copy()
        if self.qR:
            if self._arrow is not None:
                LRRinv = self._arrow.inverse_factor()  # (L⁻¹P)ᵀ(L⁻¹P) = M_RR⁻¹
            else:
                LRRinv = sla.solve_triangular(self._URR, np.eye(self.qR), lower=False,
                                              trans="T")
            LR0 = self._offdiag()
            if not self.dense_offdiag:
                LR0 = LR0.toarray()
            W = LRRinv @ LR0  # (qR, q0)
            Wb = W.reshape(self.qR, self.l0, p0)
            inner += np.einsum("kli,klj->lij", Wb, Wb)
            G = LRRinv.T @ LRRinv  # (M⁻¹)_RR
            off = 0
            for k in self.rest:
                p, n_lev = self.ps[k], self.ls[k]
                blk = G[off : off + p * n_lev, off : off + p * n_lev]
                idx = np.arange(n_lev)[:, None] * p + np.arange(p)[None]
                out[k] = blk[idx[:, :, None], idx[:, None, :]]
                off += p * n_lev
        LinvT = np.transpose(Linv0, (0, 2, 1))
        out[self.k0] = LinvT @ inner @ Linv0
        return out  # type: ignore[return-value]
