"""The sparse random-effects model matrix Z (lme4's ``t(Zt)``), from the terms' codes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import scipy.sparse as sp

__all__ = ["build_Z"]


class _Term(Protocol):  # pragma: no cover - typing only
    codes: np.ndarray
    Xi: np.ndarray

    @property
    def n_levels(self) -> int: ...


def build_Z(terms: Sequence[_Term], sqrtw: np.ndarray | None = None) -> sp.csr_matrix:
    """Z (n × q), rows scaled by √w.

    Columns in lme4's order: term by term, within a term level by level, within a level
    column by column.  Each term gives its level codes (n,), its raw columns ``Xi``
    (n × p) and its number of levels.
    """
    n = terms[0].codes.shape[0]
    rows, cols, vals = [], [], []
    off = 0
    for t in terms:
        p = t.Xi.shape[1]
        base = off + t.codes.astype(np.int64) * p
        for j in range(p):
            rows.append(np.arange(n))
            cols.append(base + j)
            vals.append(t.Xi[:, j])
        off += t.n_levels * p
    data = np.concatenate(vals)
    r = np.concatenate(rows)
    if sqrtw is not None:
        data = data * sqrtw[r]
    Z = sp.csr_matrix((data, (r, np.concatenate(cols))), shape=(n, off))
    Z.sum_duplicates()
    return Z
