"""The fixed-effects terms of a fitted model as R's ``terms`` object describes them, and the
model matrices lmerTest rebuilds from the model frame (:mod:`interlace.inference.
lmertest_contrasts`): per term its label, variables, order and numeric variables (R's
``dataClasses``), the columns of lme4's X it owns (``assign``), X remade with treatment
contrasts, and each term's full-indicator matrix ``model.matrix(~ 0 + term)``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from interlace.design.evaluate import Evaluator, Factor, Logical, Value
from interlace.design.model_matrix import model_matrix
from interlace.formula.ast import Node
from interlace.formula.terms import TermList

__all__ = ["FixedTerms", "fixed_terms"]


@dataclass(frozen=True)
class FixedTerms:
    """A fit's fixed-effects terms (see the module docstring).

    ``assign`` is R's ``attr(X, "assign")`` of lme4's X (after rank-deficiency dropping):
    0 for the intercept, j for the j-th term label.  ``recoded`` says whether a factor of
    the fixed part is coded by another function than ``contr.treatment`` (``contr.poly``
    for an ordered factor by default, or a chosen contrast), in which case lmerTest maps
    its type III hypotheses from treatment coding.
    """

    terms: TermList
    labels: tuple[str, ...]
    #: per term, the variables whose entry in R's ``attr(terms, "factors")`` is 1 (not 2:
    #: a variable whose margin is absent from the earlier terms), as lmerTest's
    #: ``term_contain`` reads them, and those of them that are numeric
    coded: tuple[frozenset, ...]
    numeric: tuple[frozenset, ...]
    X: np.ndarray
    x_names: tuple[str, ...]
    assign: np.ndarray
    recoded: bool
    values: dict
    n: int
    spec: object = None

    @property
    def intercept(self) -> bool:
        return self.terms.intercept

    @property
    def keep(self) -> list[int]:
        """The columns of :meth:`full_matrix` lme4 kept (those of ``X``)."""
        return list(self.spec.keep)

    @property
    def order(self) -> tuple[int, ...]:
        """R's ``attr(terms, "order")``: the number of variables of each term."""
        return tuple(len(t) for t in self.terms.terms)

    def treatment_matrix(self) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
        """``model.matrix(terms, model.frame, contrasts.arg = contr.treatment for all)``:
        X, its names and its assign (before any column dropping)."""
        contrasts = {v: "contr.treatment" for v, val in self.values.items()
                     if isinstance(val, Factor | Logical)}
        X, names, assign = model_matrix(self.terms, self.values, self.n, contrasts)
        return X, names, np.asarray(assign)

    def term_matrix(self, j: int, values: dict | None = None,
                    n: int | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
        """``model.matrix(~ 0 + term_j, model.frame)`` (or of ``values``, ``n`` rows):
        every factor of the term coded by all its levels."""
        values = self.values if values is None else values
        term = self.terms.terms[j]
        tl = TermList(intercept=False, terms=(term,), variables=tuple(term))
        X, names, _ = model_matrix(tl, {v: values[v] for v in term},
                                   self.n if n is None else n)
        return X, names

    def evaluate(self, frame: pd.DataFrame) -> dict:
        """The fixed terms' variables evaluated on another frame, factors on the fitted
        levels (as when predicting)."""
        ev = Evaluator(frame, params=self.spec.scale_params)
        return {v: self.spec._value(ev, v) for v in self.terms.variables}

    def full_matrix(self, values: dict | None = None, n: int | None = None
                    ) -> tuple[np.ndarray, tuple[str, ...]]:
        """R's model matrix of the fixed terms with every column (aliased ones too), on the
        fitted data or on ``values`` of ``n`` rows."""
        X, names, _ = model_matrix(self.terms, self.values if values is None else values,
                                   self.n if n is None else n, self.spec.contrasts,
                                   self.spec.contrast_default)
        return X, names


def _is_numeric(v: Value) -> bool:
    """R's ``dataClasses`` "numeric": a numeric vector (not a factor, logical or matrix)."""
    return not isinstance(v, Factor | Logical) and np.ndim(np.asarray(v)) == 1


def _factor_ones(terms: TermList) -> tuple[frozenset, ...]:
    """The variables coded 1 in R's ``factors`` matrix: the term without the variable is
    empty or is a margin of an earlier term (R's ``TermCode``, symbolic, whatever the
    variables' classes)."""
    sets = [frozenset(t) for t in terms.terms]
    out = []
    for j, term in enumerate(terms.terms):
        ones = [v for v in term
                if not (rest := sets[j] - {v}) or any(rest <= prev for prev in sets[:j])]
        out.append(frozenset(ones))
    return tuple(out)


def fixed_terms(design, data: pd.DataFrame) -> FixedTerms:
    """The fixed terms of a model built by :func:`interlace.design.build.build_design` from
    ``data`` (the rows it used are re-evaluated exactly as when fitting)."""
    spec = design.spec
    terms = spec.formula.fixed
    rows = data.iloc[design.row_positions]
    ev = Evaluator(rows, params=spec.scale_params)
    values: dict[Node, Value] = {v: spec._value(ev, v) for v in terms.variables}
    n = design.n
    _, _, assign_full = model_matrix(terms, values, n)
    assign = np.asarray(assign_full)[list(spec.keep)]
    coded = _factor_ones(terms)
    numeric = tuple(frozenset(v for v in c if _is_numeric(values[v])) for c in coded)
    recoded = any(fn != "contr.treatment" for fn in spec.x_contrasts.values())
    return FixedTerms(terms, terms.labels, coded, numeric, design.X, design.x_names, assign,
                      recoded, values, n, spec)
