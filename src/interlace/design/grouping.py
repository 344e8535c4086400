"""Grouping factors for random-effects terms (lme4 ``mkReTrms`` conventions)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interlace.design.evaluate import Factor, Logical, Value, _factor_from_values

__all__ = ["GroupSpec", "as_factor", "make_group", "map_group", "lme4_term_order"]


def as_factor(v: Value) -> Factor:
    """R ``factor(x)`` for a grouping variable (factors kept, others converted)."""
    if isinstance(v, Factor):
        return v
    if isinstance(v, Logical):
        arr = v.values
        return Factor(np.where(np.isnan(arr), -1, arr).astype(np.int64), ("FALSE", "TRUE"))
    return _factor_from_values(v)


@dataclass(frozen=True)
class GroupSpec:
    """What is needed to map new data onto a fitted grouping factor.

    Attributes
    ----------
    columns : tuple of str
        Component columns, first one varying slowest in the level order.
    component_levels : tuple of tuple of str
        Levels of each component factor (after dropping unused levels).
    observed : ndarray of int64
        Sorted combined codes of the observed level combinations.
    levels : tuple of str
        Level labels (``"a:b"`` joined for interactions).
    """

    columns: tuple[str, ...]
    component_levels: tuple[tuple[str, ...], ...]
    observed: np.ndarray
    levels: tuple[str, ...]


def _combine(codes: list[np.ndarray], sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    combined = np.zeros(len(codes[0]), dtype=np.int64)
    na = np.zeros(len(codes[0]), dtype=bool)
    for c, k in zip(codes, sizes, strict=True):
        combined = combined * k + np.maximum(c, 0)
        na |= c < 0
    return combined, na


def make_group(columns: tuple[str, ...], factors: list[Factor]) -> tuple[np.ndarray, GroupSpec]:
    """Form the (interaction) grouping factor with only observed levels.

    Parameters
    ----------
    columns : tuple of str
        Column names in lme4's interaction order.
    factors : list of Factor
        The component factors on the rows used.

    Returns
    -------
    codes : ndarray of int64
        0-based level code per row.
    spec : GroupSpec
    """
    facs = [f.drop_unused() for f in factors]
    if len(facs) == 1:
        f = facs[0]
        spec = GroupSpec(columns, (f.levels,), np.arange(len(f.levels)), f.levels)
        return f.codes, spec
    sizes = [len(f.levels) for f in facs]
    combined, _ = _combine([f.codes for f in facs], sizes)
    observed, codes = np.unique(combined, return_inverse=True)
    # decode each observed combination into its component labels
    parts = []
    rem = observed.copy()
    for f, k in zip(facs[::-1], sizes[::-1], strict=True):
        parts.append(np.asarray(f.levels, dtype=object)[rem % k])
        rem //= k
    parts = parts[::-1]
    labels = tuple(":".join(str(p[i]) for p in parts) for i in range(len(observed)))
    spec = GroupSpec(columns, tuple(f.levels for f in facs), observed, labels)
    return codes.astype(np.int64), spec


def map_group(spec: GroupSpec, factors: list[Factor]) -> np.ndarray:
    """Map new-data component factors onto fitted levels; unseen or missing -> -1."""
    mapped = []
    for f, lv in zip(factors, spec.component_levels, strict=True):
        pos = {label: i for i, label in enumerate(lv)}
        table = np.array([pos.get(label, -1) for label in f.levels] + [-1], dtype=np.int64)
        mapped.append(table[f.codes])  # code -1 indexes the trailing -1
    sizes = [len(lv) for lv in spec.component_levels]
    combined, na = _combine(mapped, sizes)
    if len(mapped) == 1:
        return np.where(na, -1, combined)
    idx = np.searchsorted(spec.observed, combined)
    idx_c = np.minimum(idx, len(spec.observed) - 1)
    found = (~na) & (spec.observed[idx_c] == combined)
    return np.where(found, idx_c, -1).astype(np.int64)


def lme4_term_order(nlevels: list[int]) -> list[int]:
    """lme4's ``mkReTrms`` term order.

    Terms are reordered by decreasing number of levels, via ``rev(order(nl))``
    (so ties come out in reverse formula order), but only if some term has more
    levels than the term before it.
    """
    nl = np.asarray(nlevels)
    if len(nl) < 2 or not np.any(np.diff(nl) > 0):
        return list(range(len(nl)))
    asc = sorted(range(len(nl)), key=lambda i: nl[i])  # stable, like R's order()
    return asc[::-1]
