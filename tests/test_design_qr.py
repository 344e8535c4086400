"""Tests for the LINPACK dqrdc2-style QR used for lme4's rank-deficiency dropping."""

from __future__ import annotations

import numpy as np
import pytest

from interlace.design.qr import column_rank_pivot, qr_linpack


def reconstruct(res, n: int, p: int) -> np.ndarray:
    """Q R from LINPACK compact storage (Householder vectors below the diagonal)."""
    R = np.triu(res.qr[: min(n, p)])
    Q = np.eye(n)
    for l in reversed(range(min(n - 1, p))):  # noqa: E741
        v = res.qr[l:, l].copy()
        v[0] = res.qraux[l]
        if v[0] == 0:
            continue
        H = np.eye(n - l) - np.outer(v, v) / v[0]
        Q[l:, :] = H @ Q[l:, :]
    return Q[:, : min(n, p)] @ R


@pytest.mark.parametrize("seed", range(5))
def test_full_rank_reconstructs(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(20, 5))
    res = qr_linpack(X)
    assert res.rank == 5
    np.testing.assert_array_equal(res.pivot, np.arange(5))
    np.testing.assert_allclose(reconstruct(res, 20, 5), X, atol=1e-12)


def test_collinear_column_moves_to_end():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(15, 4))
    X[:, 1] = 2 * X[:, 0] - X[:, 2]
    res = qr_linpack(X)
    assert res.rank == 3
    # the first column (left to right) that is a combination of earlier ones is cycled out
    np.testing.assert_array_equal(res.pivot, [0, 1, 3, 2])


def test_zero_and_duplicate_columns():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(10, 5))
    X[:, 0] = 0.0
    X[:, 3] = X[:, 2]
    res = qr_linpack(X)
    assert res.rank == 3
    np.testing.assert_array_equal(res.pivot, [1, 2, 4, 0, 3])


def test_tolerance_boundary():
    rng = np.random.default_rng(5)
    base = rng.normal(size=(30, 2))
    tiny = np.c_[base, base[:, 0] + 1e-10 * rng.normal(size=30)]
    small = np.c_[base, base[:, 0] + 1e-4 * rng.normal(size=30)]
    assert qr_linpack(tiny).rank == 2
    assert qr_linpack(small).rank == 3


def test_wide_matrix_rank_limited_by_rows():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(3, 6))
    assert qr_linpack(X).rank == 3


@pytest.mark.parametrize("seed", range(20))
def test_fast_path_agrees(seed):
    rng = np.random.default_rng(seed)
    n, p = rng.integers(5, 40), rng.integers(2, 8)
    X = rng.normal(size=(n, p))
    if seed % 2 and p > 2:
        X[:, 1] = X[:, 0] * 3 + X[:, 2]
    if seed % 5 == 0:
        X[:, -1] = 0.0
    rank, pivot = column_rank_pivot(X)
    res = qr_linpack(X)
    assert rank == res.rank
    np.testing.assert_array_equal(pivot, res.pivot)
