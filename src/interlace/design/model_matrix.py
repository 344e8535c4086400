"""R ``model.matrix`` for a term list: contrasts, coding rules, column order and names."""

from __future__ import annotations

import numpy as np

from interlace.design.contrasts import CONTRASTS, DEFAULT_CONTRASTS
from interlace.design.evaluate import Factor, Logical, Value
from interlace.errors import DataError
from interlace.formula.ast import Node, deparse
from interlace.formula.terms import TermList

__all__ = ["term_codings", "model_matrix"]

NUMERIC, CONTRAST, FULL = 0, 1, 2
_LOGICAL_LEVELS = ("FALSE", "TRUE")


def _levels(v: Value) -> tuple[str, ...] | None:
    if isinstance(v, Factor):
        return v.levels
    if isinstance(v, Logical):
        return _LOGICAL_LEVELS
    return None


def term_codings(terms: TermList, values: dict[Node, Value]) -> list[list[int]]:
    """How each variable of each term is coded (R's ``TermCode`` plus the no-intercept rule).

    Returns
    -------
    list of list of int
        Per term, per variable: 0 numeric, 1 contrasts, 2 full indicator coding.
    """
    sets = [frozenset(t) for t in terms.terms]
    codes: list[list[int]] = []
    for j, term in enumerate(terms.terms):
        row = []
        for v in term:
            if _levels(values[v]) is None:
                row.append(NUMERIC)
                continue
            rest = sets[j] - {v}
            if not rest or any(rest <= prev for prev in sets[:j]):
                row.append(CONTRAST)
            else:
                row.append(FULL)
        codes.append(row)
    if not terms.intercept:
        order = {v: i for i, v in enumerate(terms.variables)}
        for j, term in enumerate(terms.terms):
            facs = [i for i, v in enumerate(term) if codes[j][i] != NUMERIC]
            if facs:
                first = min(facs, key=lambda i: order[term[i]])
                codes[j][first] = FULL
                break
    return codes


def _factor_block(
    v: Value, node: Node, coding: int, contrasts: dict[Node, str], default: tuple[str, str]
) -> tuple[np.ndarray, list[str]]:
    levels = _levels(v)
    assert levels is not None
    name = deparse(node)
    if len(levels) < 2:
        raise DataError(
            f"contrasts can be applied only to factors with 2 or more levels: '{name}' "
            f"has {len(levels)} level{'s' if len(levels) != 1 else ''} in the data used"
        )
    if isinstance(v, Logical):
        codes = np.where(np.isnan(v.values), -1, v.values).astype(np.int64)
        ordered = False
    else:
        codes, ordered = v.codes, v.ordered
    if coding == FULL:
        mat, suffix = np.eye(len(levels)), levels
    else:
        mat, suffix = CONTRASTS[contrasts.get(node) or default[int(ordered)]](levels)
    block = mat[codes]
    if (codes < 0).any():
        block[codes < 0] = np.nan
    return block, [name + s for s in suffix]


def model_matrix(
    terms: TermList,
    values: dict[Node, Value],
    n: int,
    contrasts: dict[Node, str] | None = None,
    default: tuple[str, str] = DEFAULT_CONTRASTS,
) -> tuple[np.ndarray, tuple[str, ...], list[int]]:
    """Build R's model matrix for ``terms``.

    Parameters
    ----------
    terms : TermList
        Expanded terms.
    values : dict
        Evaluated variables (already restricted to the rows used, unused levels dropped).
    n : int
        Number of rows.
    contrasts : dict, optional
        Per-variable contrast function by R name (``"contr.sum"``, ...;
        :data:`interlace.design.contrasts.CONTRASTS`), as ``model.matrix``'s
        ``contrasts.arg``.
    default : (str, str)
        The functions for the other unordered and ordered factors (R's
        ``options("contrasts")``).

    Returns
    -------
    X : ndarray, shape (n, p)
    names : tuple of str
        R's column names.
    assign : list of int
        Term index of each column (0 = intercept), like R's ``assign`` attribute.
    """
    contrasts = contrasts or {}
    codings = term_codings(terms, values)
    blocks: list[np.ndarray] = []
    names: list[str] = []
    assign: list[int] = []
    if terms.intercept:
        blocks.append(np.ones((n, 1)))
        names.append("(Intercept)")
        assign.append(0)
    for j, (term, coding) in enumerate(zip(terms.terms, codings, strict=True), start=1):
        mat: np.ndarray | None = None
        cur: list[str] = []
        for v, code in zip(term, coding, strict=True):
            val = values[v]
            if code == NUMERIC:
                arr = np.asarray(val, dtype=np.float64).reshape(n, -1)
                bnames = [deparse(v)]
            else:
                arr, bnames = _factor_block(val, v, code, contrasts, default)
            if mat is None:
                mat, cur = arr, bnames
            else:
                # the earlier variable varies fastest
                mat = (arr[:, :, None] * mat[:, None, :]).reshape(n, -1)
                cur = [f"{a}:{b}" for b in bnames for a in cur]
        assert mat is not None
        blocks.append(mat)
        names.extend(cur)
        assign.extend([j] * mat.shape[1])
    X = np.hstack(blocks) if blocks else np.zeros((n, 0))
    return np.ascontiguousarray(X, dtype=np.float64), tuple(names), assign
