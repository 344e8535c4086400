"""Re-materialize design matrices for new data (``predict(newdata)``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from interlace.design.contrasts import DEFAULT_CONTRASTS
from interlace.design.evaluate import Evaluator, Factor, Logical, Value
from interlace.design.grouping import GroupSpec, as_factor, map_group
from interlace.design.model_matrix import model_matrix
from interlace.errors import DataError
from interlace.formula.api import Formula
from interlace.formula.ast import Name, Node, deparse
from interlace.formula.random import RandomTerm
from interlace.formula.terms import TermList

__all__ = ["VarKind", "DesignSpec", "NewDesign", "na_mask"]


@dataclass(frozen=True)
class VarKind:
    """How a variable looked in the training data.

    ``kind`` is ``"numeric"``, ``"logical"`` or ``"factor"``; for factors,
    ``levels``/``ordered`` are the fitted levels (unused ones dropped).
    """

    kind: str
    levels: tuple[str, ...] = ()
    ordered: bool = False

    @classmethod
    def of(cls, v: Value) -> VarKind:
        """Describe a (training) value."""
        if isinstance(v, Factor):
            return cls("factor", v.levels, v.ordered)
        if isinstance(v, Logical):
            return cls("logical")
        return cls("numeric")


def na_mask(v: Value) -> np.ndarray:
    """Boolean mask of missing entries of a value."""
    if isinstance(v, Factor):
        return v.codes < 0
    if isinstance(v, Logical):
        return np.isnan(v.values)
    arr = np.asarray(v)
    if arr.dtype.kind in "iub":
        return np.zeros(arr.shape[0], dtype=bool)
    return np.isnan(arr) if arr.ndim == 1 else np.isnan(arr).any(axis=1)


@dataclass(frozen=True)
class NewDesign:
    """Design matrices for new data.

    Attributes
    ----------
    X : ndarray, shape (m, p)
        Fixed-effects matrix with the fitted columns (rows with missing values are NaN).
    re : tuple of (codes, Xi)
        Per random-effects term (fitted order): level codes (-1 = unseen or missing
        level or a missing value in the term's columns) and the term's model matrix.
    offset : ndarray or None
        Sum of the formula's ``offset()`` terms (an ``offset=`` argument is not replayed).
    """

    X: np.ndarray
    re: tuple[tuple[np.ndarray, np.ndarray], ...]
    offset: np.ndarray | None
    #: per term: rows whose grouping factor is missing (NA) in the new data
    group_na: tuple[np.ndarray, ...] = ()
    #: per term: labels of grouping levels not seen when fitting, in order of appearance
    new_levels: tuple[tuple[str, ...], ...] = ()
    #: per term: rows with a missing value in the term's own columns (random slopes)
    term_na: tuple[np.ndarray, ...] = ()


@dataclass(frozen=True)
class DesignSpec:
    """Everything needed to rebuild X and the random-effects matrices for new data.

    Attributes
    ----------
    formula : Formula
        The parsed formula.
    kinds : dict
        Training description of every model-matrix variable (fixed and random LHS).
    scale_params : dict
        ``scale()`` centre and scale learned on the training data, by expression text.
    keep : tuple of int
        Indices of the full fixed-effects columns kept after rank-deficiency dropping.
    x_names : tuple of str
        Names of the kept columns.
    terms : tuple of RandomTerm
        Random terms in lme4 order.
    groups : tuple of GroupSpec
        Grouping factor of each random term (same order).
    all_x_names : tuple of str
        R's ``model.matrix`` column names before rank-deficiency dropping.
    contrasts : dict
        Per-variable contrast functions of the fixed-effects matrix (lmer's ``contrasts``).
    contrast_default : (str, str)
        The functions coding every other (unordered, ordered) factor.
    """

    formula: Formula
    kinds: dict[Node, VarKind]
    scale_params: dict[str, tuple[float, float]]
    keep: tuple[int, ...]
    x_names: tuple[str, ...]
    terms: tuple[RandomTerm, ...]
    groups: tuple[GroupSpec, ...]
    all_x_names: tuple[str, ...] = ()
    contrasts: dict[Node, str] = field(default_factory=dict)
    contrast_default: tuple[str, str] = DEFAULT_CONTRASTS

    @property
    def x_contrasts(self) -> dict[str, str]:
        """R's ``attr(model.matrix(m), "contrasts")``: the contrast function of every factor
        (and logical) of the fixed part, by variable name."""
        out = {}
        for v in self.formula.fixed.variables:
            kind = self.kinds.get(v)
            if kind is not None and kind.kind != "numeric":
                out[deparse(v)] = (self.contrasts.get(v)
                                   or self.contrast_default[int(kind.ordered)])
        return out

    # ------------------------------------------------------------------
    def _value(self, ev: Evaluator, node: Node) -> Value:
        v = ev.value(node)
        kind = self.kinds.get(node)
        if kind is None or kind.kind == "numeric":
            if isinstance(v, Factor):
                raise DataError(
                    f"'{deparse(node)}' is a factor in the new data but was numeric when fitting"
                )
            return v.values if isinstance(v, Logical) else v
        if kind.kind == "logical":
            if isinstance(v, Factor):
                raise DataError(f"'{deparse(node)}' must be logical (TRUE/FALSE) in the new data")
            return v if isinstance(v, Logical) else Logical(np.asarray(v, dtype=np.float64))
        fac = as_factor(v)
        pos = {label: i for i, label in enumerate(kind.levels)}
        table = np.array([pos.get(lv, -1) for lv in fac.levels], dtype=np.int64)
        if len(table) and fac.codes.size:
            mapped = np.where(fac.codes >= 0, table[np.maximum(fac.codes, 0)], -1)
            bad = (fac.codes >= 0) & (mapped < 0)
            if bad.any():
                new = sorted({fac.levels[c] for c in np.unique(fac.codes[bad])})
                raise DataError(
                    f"factor '{deparse(node)}' has new level(s) not present when fitting: "
                    + ", ".join(repr(x) for x in new)
                )
        else:
            mapped = np.full(fac.codes.shape, -1, dtype=np.int64)
        return Factor(mapped, kind.levels, kind.ordered)

    def _matrix(self, ev: Evaluator, terms: TermList,
                fixed: bool = False) -> tuple[np.ndarray, np.ndarray]:
        m = ev.n
        values = {v: self._value(ev, v) for v in terms.variables}
        na = np.zeros(m, dtype=bool)
        for v in values.values():
            na |= na_mask(v)
        X, _, _ = model_matrix(terms, values, m, self.contrasts if fixed else None,
                               self.contrast_default)
        return X, na

    def materialize(self, newdata: pd.DataFrame) -> NewDesign:
        """Build X, random-effects level codes/matrices and offset for ``newdata``.

        Parameters
        ----------
        newdata : pandas.DataFrame
            Must contain the formula's predictor and grouping columns (not the response).

        Returns
        -------
        NewDesign

        Raises
        ------
        DataError
            On a missing column or a new level of a fixed-effect factor.
        """
        ev = Evaluator(newdata, params=self.scale_params)
        X, na = self._matrix(ev, self.formula.fixed, fixed=True)
        X = X[:, list(self.keep)]
        if na.any():
            X[na] = np.nan
        re, group_na, new_levels, term_na = [], [], [], []
        for term, gspec in zip(self.terms, self.groups, strict=True):
            Xi, na_i = self._matrix(ev, term.lhs)
            facs = [as_factor(ev.value(Name(c))) for c in gspec.columns]
            codes = map_group(gspec, facs)
            g_na = np.zeros(len(codes), dtype=bool)
            for fac in facs:
                g_na |= fac.codes < 0
            unseen = (codes < 0) & ~g_na
            labels = [":".join(f.levels[f.codes[i]] for f in facs)
                      for i in np.flatnonzero(unseen)]
            new_levels.append(tuple(dict.fromkeys(labels)))
            group_na.append(g_na)
            term_na.append(na_i)
            re.append((np.where(na_i, -1, codes), Xi))
        offset = None
        for o in self.formula.fixed.offsets:
            val = ev.value(o)
            arr = np.asarray(val.values if isinstance(val, Logical) else val, dtype=np.float64)
            offset = arr if offset is None else offset + arr
        return NewDesign(X, tuple(re), offset, tuple(group_na), tuple(new_levels),
                         tuple(term_na))

    def fixed_matrix(self, newdata: pd.DataFrame) -> np.ndarray:
        """Fixed-effects model matrix (kept columns) for ``newdata``."""
        return self.materialize(newdata).X
