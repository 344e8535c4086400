"""lmerTest 3.1-3's least-squares means: ``ls_means(m, which, level, ddf, pairwise)`` and
``difflsmeans``.

For each fixed term made only of factors (lmerTest's ``numeric_terms`` false), on the grid
of every combination of the fixed factors' levels with each numeric variable at its mean
(``expand.grid``, first factor fastest): with uX the model matrix of the grid (every column,
aliased ones too) and Lt the term's cell indicators on the grid (``model.matrix(~ 0 +
term)``), the LS-means contrasts are L = (Lt · 1/colSums(Lt))ᵀ uX, an equally weighted
average over the other factors' levels.  A row that is not estimable (|Σ_j (L N)_ij| ≥ √ε
with N the null space of the fitted model's full X, lmerTest's ``is_estimable``) is NaN;
the columns of aliased coefficients are dropped.  ``pairwise`` takes all differences
``"a - b"`` of a term's rows in ``combn`` order.  Each row is a ``contest1D`` t test with
its confidence interval (Satterthwaite or Kenward–Roger).

lmerTest evaluates the formula on a grid of the model frame's columns, which only works when
every function of the formula refers to variables that are themselves in the formula (it
fails, or reads the global environment, for ``log(x)`` without ``x``); such models are
refused here with the variable's name.
"""

from __future__ import annotations

from itertools import combinations, product

import numpy as np
import pandas as pd

from interlace.design.evaluate import Factor, Logical
from interlace.design.fixed_terms import fixed_terms
from interlace.errors import InterlaceError
from interlace.formula.ast import Name, deparse, names_in
from interlace.inference.ftests import T_COLUMNS, method_tests
from interlace.inference.lmertest_contrasts import is_estimable, nullspace

__all__ = ["ls_means", "difflsmeans", "yates_hypotheses"]


def _grid(ft, data: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    plain = {v.name for v in ft.terms.variables if isinstance(v, Name)}
    for v in ft.terms.variables:
        if not isinstance(v, Name):
            missing = [c for c in names_in(v) if c not in plain and c in data.columns]
            if missing:
                raise InterlaceError(
                    f"ls_means() evaluates the formula on a grid of its variables, and "
                    f"'{deparse(v)}' needs column(s) {missing} that are not variables of the "
                    "fixed part themselves (lmerTest fails here too)")
    factors, numerics = {}, {}
    for v in ft.terms.variables:
        if isinstance(v, Name):
            val = ft.values[v]
            if isinstance(val, Logical):
                raise InterlaceError(f"ls_means(): '{v.name}' is logical; lmerTest's grid "
                                     "has no logical variables (it fails here too)")
            if isinstance(val, Factor):
                factors[v.name] = list(val.levels)
            else:
                numerics[v.name] = float(np.mean(np.asarray(
                    data.iloc[rows][v.name], dtype=float)))
    columns = {**factors, **{k: [m] for k, m in numerics.items()}}
    names = list(columns)
    cells = list(product(*[columns[k] for k in reversed(names)]))  # first varies fastest
    grid = pd.DataFrame([tuple(reversed(c)) for c in cells], columns=names)
    for k in factors:
        grid[k] = pd.Categorical(grid[k], categories=factors[k])
    return grid


def _factor_terms(ft) -> list[int]:
    return [j for j, t in enumerate(ft.terms.terms)
            if all(isinstance(ft.values[v], Factor) for v in t)]


def _contrasts(res, which) -> tuple[dict[str, pd.DataFrame], object]:
    ft = fixed_terms(res._design, res._data)
    fac = _factor_terms(ft)
    labels = [ft.labels[j] for j in fac]
    if which is None:
        which = labels
    elif isinstance(which, str):
        which = [which]
    bad = [w for w in which if w not in labels]
    if bad:
        raise InterlaceError(f"ls_means: {bad} are not factor terms of the model "
                             f"(factor terms: {labels})")
    grid = _grid(ft, res._data, res._design.row_positions)
    gvals = ft.evaluate(grid)
    uX, _ = ft.full_matrix(gvals, len(grid))
    out = {}
    for lab in which:
        Lt, cells = ft.term_matrix(ft.labels.index(lab), gvals, len(grid))
        L = (Lt / Lt.sum(axis=0)).T @ uX
        out[lab] = pd.DataFrame(L, index=list(cells))
    return out, ft


def _pairs(L: pd.DataFrame) -> pd.DataFrame:
    levs = list(L.index)
    if len(levs) < 2:
        raise InterlaceError("pairwise differences need a term with at least two levels")
    rows, names = [], []
    for a, b in combinations(range(len(levs)), 2):
        rows.append(L.iloc[a].to_numpy() - L.iloc[b].to_numpy())
        names.append(f"{levs[a]} - {levs[b]}")
    return pd.DataFrame(rows, index=names, columns=L.columns)


def ls_means(res, which=None, level: float = 0.95, ddf: str = "Satterthwaite",
             pairwise: bool = False) -> pd.DataFrame:
    """lmerTest's ``ls_means(m, which, level, ddf, pairwise)`` for an LMM fit.

    Parameters
    ----------
    res : CrossedLMEResult
    which : str or list of str, optional
        Factor terms (default: every term made only of factors).
    level : float
        Confidence level of the intervals.
    ddf : {"Satterthwaite", "Kenward-Roger"}
    pairwise : bool
        All pairwise differences of each term's LS-means (``difflsmeans``).

    Returns
    -------
    DataFrame
        lmerTest's columns ``Estimate``, ``Std. Error``, ``df``, ``t value``, ``lower``,
        ``upper``, ``Pr(>|t|)``, rows named as lmerTest's (``SexFemale``,
        ``SexMale - SexFemale``); ``attrs`` hold ``hypotheses`` (the contrasts by term, on
        every column of the model matrix, aliased ones too, as lmerTest's),
        ``heading``, ``ddf`` and ``confidence_level``.
    """
    if not hasattr(res.__class__, "satterthwaite"):
        raise InterlaceError("ls_means() needs a linear mixed model fit (interlace.fit)")
    if ddf not in ("Satterthwaite", "Kenward-Roger"):
        raise InterlaceError(f"ddf must be 'Satterthwaite' or 'Kenward-Roger', not {ddf!r}")
    if not 0.0 < float(level) < 1.0:
        raise InterlaceError(f"level must be strictly between 0 and 1, got {level!r}")
    Llist, ft = _contrasts(res, which)
    if pairwise:
        Llist = {lab: _pairs(L) for lab, L in Llist.items()}
    X_full, all_names = ft.full_matrix()
    N = nullspace(X_full)
    keep = ft.keep
    beta = res.fe_params.to_numpy()
    test = method_tests(res, ddf)[1]
    rows, index = [], []
    for L in Llist.values():
        M = L.to_numpy()
        est = is_estimable(M, N)
        for name, row, ok in zip(L.index, M[:, keep], est, strict=True):
            c = test(row if ok else np.full(len(keep), np.nan), beta, level=level)
            rows.append([c.estimate, c.se, c.df, c.t, c.lower, c.upper, c.p_value])
            index.append(name)
    out = pd.DataFrame(rows, columns=T_COLUMNS, index=pd.Index(index, dtype=object))
    out.attrs.update(
        hypotheses={lab: pd.DataFrame(L.to_numpy(), index=L.index, columns=list(all_names))
                    for lab, L in Llist.items()},
        heading="Least Squares Means table:", ddf=ddf, confidence_level=float(level))
    return out


def difflsmeans(res, which=None, level: float = 0.95, ddf: str = "Satterthwaite"
                ) -> pd.DataFrame:
    """lmerTest's ``difflsmeans``: :func:`ls_means` with ``pairwise=True``."""
    return ls_means(res, which=which, level=level, ddf=ddf, pairwise=True)


def yates_hypotheses(res) -> dict[str, np.ndarray]:
    """lmerTest's ``get_contrasts_yates``: identity rows for a term contained in no other,
    for a factor term contained in another the differences of its LS-means from its first
    level's (``get_yates_contrast``, with lmerTest's warning when some are not estimable),
    type II's for the others; on the fit's coefficients."""
    from interlace.errors import warn
    from interlace.inference.lmertest_contrasts import _marginal, _type2, containment

    ft = fixed_terms(res._design, res._data)
    contained = containment(ft)
    factor_labels = {ft.labels[j] for j in _factor_terms(ft)}
    yates = [lab for lab in ft.labels if lab in factor_labels and contained[lab]]
    marginal = [lab for lab in ft.labels if not contained[lab]]
    rest = [lab for lab in ft.labels if lab not in yates and lab not in marginal]
    out = {**_marginal(ft, marginal), **_type2(ft, rest, contained)}
    if yates:
        Llist, _ = _contrasts(res, yates)
        N = nullspace(ft.full_matrix()[0])
        keep = ft.keep
        bad = []
        for lab, L in Llist.items():
            M = L.to_numpy()
            if not is_estimable(M, N).all():
                bad.append(lab)
            out[lab] = (M[1:] - M[0])[:, keep]
        if bad:
            warn(f"Yates contrast is not uniquely defined for: {', '.join(bad)}")
    return {lab: out[lab] for lab in ft.labels}
