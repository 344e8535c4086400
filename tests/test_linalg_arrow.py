"""The two-level block-arrow Cholesky factor (interlace.linalg.arrow).

Checked against dense NumPy linear algebra on synthetic patterns with community
structure, and inside the blocked factor on InstEval (the one catalog model whose
dense block is large enough for the arrow form) against lme4's devfun and against
the same factor forced dense.
"""

from __future__ import annotations

import numpy as np
import pytest

import interlace.linalg.arrow as arrow_mod
from conftest import r_fixture
from interlace.linalg.arrow import ArrowCholesky, minimum_degree_split
from test_linalg_backends import _deviance, _state


def _clustered_spd(n_clusters: int, size: int, n_core: int, seed: int):
    """SPD matrix: dense clusters joined only through a dense core (lower pattern)."""
    rng = np.random.default_rng(seed)
    n = n_clusters * size + n_core
    core = np.arange(n_clusters * size, n)
    S = np.zeros((n, n))
    for k in range(n_clusters):
        idx = np.arange(k * size, (k + 1) * size)
        S[np.ix_(idx, idx)] = rng.normal(size=(size, size))
        links = rng.choice(core, size=n_core // 3, replace=False)
        S[np.ix_(idx, links)] = rng.normal(size=(size, len(links)))
    S[np.ix_(core, core)] = rng.normal(size=(n_core, n_core))
    M = S + S.T
    M[np.diag_indices(n)] = np.abs(M).sum(axis=1) + 1.0  # diagonally dominant: SPD
    rows, cols = np.nonzero(np.tril(M))
    perm = rng.permutation(n)  # hide the structure from the ordering
    M = M[np.ix_(perm, perm)]
    inv = np.argsort(perm)
    r, c = inv[rows], inv[cols]
    lo = np.minimum(r, c), np.maximum(r, c)
    return M, lo[1], lo[0]


def test_plan_finds_the_clusters_and_factor_matches_dense_algebra():
    M, rows, cols = _clustered_spd(n_clusters=6, size=60, n_core=90, seed=1)
    n = M.shape[0]
    A = ArrowCholesky.plan(rows, cols, n, min_order=0)
    # whole clusters become components (minimum degree may take the last one into C)
    assert not A.is_dense and len(A.comps) >= 5
    assert all(b - a == 60 for a, b in A.comps)
    ld = A.factor(M[rows, cols])
    assert ld == pytest.approx(np.linalg.slogdet(M)[1], rel=1e-12)
    L = A.lower()
    np.testing.assert_allclose(L @ L.T, M[np.ix_(A.perm, A.perm)], rtol=0, atol=1e-10 * n)
    B = np.random.default_rng(2).normal(size=(n, 3))
    Y = A.forward(B)
    np.testing.assert_allclose(Y.T @ Y, B.T @ np.linalg.solve(M, B), rtol=1e-10)
    np.testing.assert_allclose(A.backward(Y), np.linalg.solve(M, B), rtol=1e-9, atol=1e-12)
    Linv = A.inverse_factor()
    np.testing.assert_allclose(Linv.T @ Linv, np.linalg.inv(M), rtol=1e-9, atol=1e-14)


def test_refactoring_with_new_values_reuses_the_plan():
    M, rows, cols = _clustered_spd(n_clusters=4, size=50, n_core=60, seed=3)
    A = ArrowCholesky.plan(rows, cols, M.shape[0], min_order=0)
    for scale in (1.0, 3.0, 0.5):
        M2 = M * scale + np.diag(np.full(M.shape[0], 1.0 - scale))
        assert A.factor(M2[rows, cols]) == pytest.approx(np.linalg.slogdet(M2)[1], rel=1e-12)


def test_small_or_unstructured_patterns_get_the_dense_plan():
    M, rows, cols = _clustered_spd(n_clusters=3, size=20, n_core=20, seed=4)
    assert ArrowCholesky.plan(rows, cols, M.shape[0]).is_dense  # below MIN_ORDER
    n = 450
    r, c = np.tril_indices(n)
    full = ArrowCholesky.plan(r, c, n, min_order=0)
    assert full.is_dense
    X = np.random.default_rng(5).normal(size=(n, n))
    M = X @ X.T + n * np.eye(n)
    assert full.factor(M[r, c]) == pytest.approx(np.linalg.slogdet(M)[1], rel=1e-12)


def test_not_positive_definite_raises():
    M, rows, cols = _clustered_spd(n_clusters=4, size=40, n_core=40, seed=6)
    A = ArrowCholesky.plan(rows, cols, M.shape[0], min_order=0)
    M[0, 0] = -1.0
    with pytest.raises(np.linalg.LinAlgError):
        A.factor(M[rows, cols])


def test_minimum_degree_on_a_path_leaves_a_clique():
    # path 0-1-2-3-4: minimum degree eliminates from the ends; what is left is a clique
    r = np.array([1, 2, 3, 4])
    c = np.array([0, 1, 2, 3])
    elim, clique = minimum_degree_split(r, c, 5)
    assert elim[0] == 0 and sorted(np.concatenate([elim, clique])) == list(range(5))
    assert len(clique) <= 2
    again = minimum_degree_split(r, c, 5)
    assert np.array_equal(again[0], elim) and np.array_equal(again[1], clique)


@pytest.mark.parametrize("case_id", ["insteval_ml", "insteval_3crossed"])
def test_insteval_arrow_form_matches_lme4_and_the_dense_factor(case_id, monkeypatch):
    _, dev = _deviance(case_id, "blocked")
    arrow = dev.factor._arrow
    assert arrow is not None and not arrow.is_dense
    for d in r_fixture(case_id)["devfun_at"]:
        assert dev(np.asarray(d["theta"])) == pytest.approx(d["value"], rel=1e-10, abs=0)
    monkeypatch.setattr(arrow_mod, "MIN_ORDER", 10**9)
    _, dense = _deviance(case_id, "blocked")
    assert dense.factor._arrow.is_dense
    th = np.array([t["value"] for t in r_fixture(case_id)["theta"]])
    a, b = _state(dev, th), _state(dense, th)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-10)
    np.testing.assert_allclose(a[2], b[2], rtol=1e-9, atol=1e-12)
    for x, y in zip(dev.factor.minv_diag_blocks(), dense.factor.minv_diag_blocks(), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-14)


def test_plan_reused_for_a_sub_pattern_and_refused_for_a_wider_one():
    M, rows, cols = _clustered_spd(n_clusters=5, size=50, n_core=60, seed=7)
    n = M.shape[0]
    A = ArrowCholesky.plan(rows, cols, n, min_order=0)
    # drop a third of the off-diagonal entries (as deleting observations does)
    keep = (rows == cols) | (np.arange(len(rows)) % 3 != 0)
    M2 = M.copy()
    M2[rows[~keep], cols[~keep]] = M2[cols[~keep], rows[~keep]] = 0.0
    B = ArrowCholesky.plan(rows[keep], cols[keep], n, like=A)
    assert np.array_equal(B.perm, A.perm) and B.comps == A.comps and B._buf is not A._buf
    assert B.factor(M2[rows[keep], cols[keep]]) == pytest.approx(np.linalg.slogdet(M2)[1],
                                                                 rel=1e-12)
    # an entry joining two components: the ordering cannot be reused, a fresh plan is made
    (a0, _), (a1, _) = A.comps[0], A.comps[1]
    i, j = A.perm[a1], A.perm[a0]
    wide_r, wide_c = np.append(rows, max(i, j)), np.append(cols, min(i, j))
    C = ArrowCholesky.plan(wide_r, wide_c, n, min_order=0, like=A)
    M3 = M.copy()
    M3[i, j] = M3[j, i] = 0.5
    assert C.factor(M3[wide_r, wide_c]) == pytest.approx(np.linalg.slogdet(M3)[1], rel=1e-12)
