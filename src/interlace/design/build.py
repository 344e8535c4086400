"""Turn a formula and a DataFrame into lme4's model matrices (``lFormula`` equivalent)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from interlace.design.checks import (
    InputChecks,
    check_nlevels,
    check_scale_x,
    check_zdims,
    check_zrank,
)
from interlace.design.contrasts import DEFAULT_CONTRASTS, Contrasts
from interlace.design.evaluate import Evaluator, Factor, Logical, Value
from interlace.design.grouping import GroupSpec, as_factor, lme4_term_order, make_group
from interlace.design.model_matrix import model_matrix
from interlace.design.qr import column_rank_pivot
from interlace.design.response import glm_response
from interlace.design.spec import DesignSpec, VarKind, na_mask
from interlace.design.zmatrix import build_Z
from interlace.errors import (
    DataError,
    FormulaError,
    InterlaceError,
    MissingDataWarning,
    ModelSpecError,
    RankDeficiencyWarning,
    ZeroWeightWarning,
    warn,
)
from interlace.family import Family
from interlace.formula.api import Formula, parse_formula
from interlace.formula.ast import Name, Node, deparse, names_in

__all__ = ["ReTerm", "Design", "build_design"]

ArrayLike = np.ndarray | Sequence[float] | pd.Series


@dataclass(frozen=True)
class ReTerm:
    """One random-effects term, as lme4's ``mkReTrms`` builds it.

    Attributes
    ----------
    group : str
        Grouping-factor name (``'Subject'``, ``'cask:batch'``).
    codes : ndarray of int, shape (n,)
        0-based level index of each observation.
    levels : tuple of str
        Level labels (observed levels only; ``'a:A'`` for interactions).
    Xi : ndarray, shape (n, p_i)
        The term's raw model matrix.
    col_names : tuple of str
        Column names of ``Xi`` (lme4 ``cnms``).
    text : str
        lme4's term name, e.g. ``'Days | Subject'``.
    """

    group: str
    codes: np.ndarray
    levels: tuple[str, ...]
    Xi: np.ndarray
    col_names: tuple[str, ...]
    text: str

    @property
    def n_levels(self) -> int:
        """Number of levels of the grouping factor."""
        return len(self.levels)


@dataclass(frozen=True)
class Design:
    """Model matrices and metadata for a linear mixed model.

    Attributes
    ----------
    y : ndarray, shape (n,)
    X : ndarray, shape (n, p)
        Fixed-effects matrix after dropping rank-deficient columns.
    x_names : tuple of str
    dropped : tuple of str
        Columns dropped for rank deficiency (lme4 ``col.dropped``).
    re_terms : tuple of ReTerm
        In lme4's order.
    weights, offset : ndarray or None
    row_labels : pandas.Index
        Index labels of the rows used.
    n_input_rows : int
    spec : DesignSpec
        Rebuilds matrices for new data.
    row_positions : ndarray of int
        Positions in the input data of the rows used (labels may repeat; positions don't).
    n_trials, mustart : ndarray or None
        GLMMs only (:mod:`interlace.design.response`): binomial trials per row (1 unless
        ``cbind``) and R's ``mustart``; ``y`` is then the family's response (proportions)
        and ``weights`` the prior weights after ``initialize``.
    """

    y: np.ndarray
    X: np.ndarray
    x_names: tuple[str, ...]
    dropped: tuple[str, ...]
    re_terms: tuple[ReTerm, ...]
    weights: np.ndarray | None
    offset: np.ndarray | None
    row_labels: pd.Index
    n_input_rows: int
    spec: DesignSpec
    row_positions: np.ndarray
    n_trials: np.ndarray | None = None
    mustart: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of observations used."""
        return int(self.y.shape[0])


def _numeric_arg(
    arg: str | ArrayLike | None, what: str, ev: Evaluator, n: int
) -> tuple[np.ndarray | None, str]:
    if arg is None:
        return None, what
    if isinstance(arg, str):
        val = ev.column(arg)
        if isinstance(val, Factor):
            raise DataError(f"{what} column '{arg}' must be numeric")
        arr = val.values if isinstance(val, Logical) else val
        return np.asarray(arr, dtype=np.float64), arg
    try:
        arr = np.asarray(arg, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise DataError(f"{what} must be numeric (a column name or numbers), got "
                        f"{type(arg).__name__}") from None
    if arr.shape[0] != n:
        raise DataError(f"{what} has length {arr.shape[0]} but data has {n} rows")
    return arr, what


def _subset(v: Value, rows: np.ndarray | None) -> Value:
    if rows is None:
        return v.drop_unused() if isinstance(v, Factor) else v
    if isinstance(v, Factor):
        return v.subset(rows).drop_unused()
    if isinstance(v, Logical):
        return Logical(v.values[rows])
    return np.asarray(v)[rows]


def _plural(k: int, word: str) -> str:
    return f"{k} {word}{'s' if k != 1 else ''}"


def build_design(
    formula: Formula | str,
    data: pd.DataFrame,
    *,
    weights: str | ArrayLike | None = None,
    offset: str | ArrayLike | None = None,
    na_action: str = "omit",
    checks: InputChecks | None = None,
    family: Family | None = None,
    contrasts: Contrasts | None = None,
) -> Design:
    """Build lme4's fixed- and random-effects design from a formula and data.

    Parameters
    ----------
    formula : Formula or str
        Two-sided lme4 formula.
    data : pandas.DataFrame
        The data.
    weights, offset : str or array-like, optional
        A column name or a vector as long as ``data``; ``offset`` adds to any
        ``offset()`` terms in the formula.
    na_action : {"omit", "fail"}
        Drop rows with missing values in used columns (with a
        :class:`~interlace.errors.MissingDataWarning`) or raise.
    checks : InputChecks, optional
        lme4's input checks and their actions (default: ``lmerControl()``'s).
    family : Family, optional
        A GLMM's family: the response is read by the family (:mod:`~interlace.design.
        response`: factors, logicals and ``cbind`` for the binomial), zero weights are kept
        (they carry no information but lme4's likelihood handles them) and no check of a
        constant response is made here.
    contrasts : Contrasts, optional
        How factors are coded (default: R's, treatment and polynomial contrasts):
        per-variable choices code the fixed-effects matrix, the defaults every other
        factor, in the random-effects matrices too (:mod:`interlace.design.contrasts`).

    Returns
    -------
    Design

    Raises
    ------
    DataError, FormulaError, ModelSpecError

    Notes
    -----
    Rows with zero prior weight carry no information; they are left out with a
    :class:`~interlace.errors.ZeroWeightWarning`, as ``lm()`` does.  (lme4 keeps them, and
    its objective is then infinite at every θ, so its estimates are arbitrary.)
    """
    f = parse_formula(formula) if isinstance(formula, str) else formula
    if not isinstance(f, Formula):
        raise FormulaError(f"formula must be a string, got {type(formula).__name__}")
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if na_action not in ("omit", "fail"):
        raise InterlaceError(f"na_action must be 'omit' or 'fail', got {na_action!r}")
    if f.response is None:
        raise DataError(f"the formula needs a response (left-hand side): {f.text!r}")
    checks = checks or InputChecks()
    contrasts = contrasts or Contrasts()
    n_in = len(data)
    ev = Evaluator(data)

    # ---- evaluate every model-frame variable on the full data (R evaluates before na.omit)
    frame: dict[Node, Value] = {}
    order: list[Node] = [f.response, *f.fixed.variables, *f.fixed.offsets]
    for rt in f.random:
        order.extend(rt.lhs.variables)
        order.extend(Name(c) for c in rt.group)
    for node in order:
        if node not in frame:
            frame[node] = ev.value(node)
    w_arr, w_src = _numeric_arg(weights, "weights", ev, n_in)
    o_arr, o_src = _numeric_arg(offset, "offset", ev, n_in)

    # ---- missing values
    na = np.zeros(n_in, dtype=bool)
    na_cols: list[str] = []
    for node, val in frame.items():
        m = na_mask(val)
        if m.any():
            na |= m
            for c in _na_sources(node, m, ev):
                if c not in na_cols:
                    na_cols.append(c)
    for arr, src in ((w_arr, w_src), (o_arr, o_src)):
        if arr is not None and np.isnan(arr).any():
            na |= np.isnan(arr)
            if src not in na_cols:
                na_cols.append(src)
    n_na = int(na.sum())
    if n_na:
        if na_action == "fail":
            raise DataError(
                f"{n_na} of {n_in} rows have missing values in: {', '.join(na_cols)} "
                f"(na_action='fail')"
            )
        if n_na == n_in:
            raise DataError(
                f"no rows left after removing missing values in: {', '.join(na_cols)}"
            )
        warn(
            f"dropped {n_na} of {n_in} rows with missing values in: {', '.join(na_cols)}",
            MissingDataWarning
        )
    if n_in == 0:
        raise DataError("data has no rows")
    _check_finite(frame, ~na, data.index)
    for arr, src, what in ((w_arr, w_src, "weights"), (o_arr, o_src, "offset")):
        if arr is not None:
            _check_finite_array(arr[~na], src, data.index[~na], what)
    keep = ~na
    if w_arr is not None:
        if np.any(w_arr[keep] < 0):
            raise DataError(f"negative weights not allowed (weights: {w_src})")
        zero = keep & (w_arr == 0)
        if zero.any() and family is None:
            if zero.sum() == keep.sum():
                raise DataError(f"all weights are zero (weights: {w_src})")
            warn(
                f"dropped {int(zero.sum())} of {n_in} rows with zero weight"
                + ("" if w_src == "weights" else f" (weights: {w_src})")
                + ": they do not contribute to the likelihood",
                ZeroWeightWarning)
            keep &= ~zero
    rows = None if keep.all() else np.flatnonzero(keep)
    values = {node: _subset(v, rows) for node, v in frame.items()}
    n = int(keep.sum())

    # ---- response
    yv = values[f.response]
    if family is None:
        if isinstance(yv, Factor):
            raise DataError(f"response '{deparse(f.response)}' must be numeric, not a "
                            "factor/string (a binomial response needs interlace.glmer)")
        y = np.asarray(yv.values if isinstance(yv, Logical) else yv, dtype=np.float64)
        if y.ndim != 1:
            raise DataError(f"response '{deparse(f.response)}' has two columns: cbind(...) is "
                            "a binomial response, for interlace.glmer")
    for v in f.fixed.variables:
        if "cbind(" in deparse(v):
            raise FormulaError(f"cbind() is only for the response: '{deparse(v)}'")

    # ---- weights / offset
    w = None if w_arr is None else (w_arr if rows is None else w_arr[rows])
    off = None if o_arr is None else (o_arr if rows is None else o_arr[rows])
    for o in f.fixed.offsets:
        ov = values[o]
        if isinstance(ov, Factor):
            raise DataError(f"offset '{deparse(o)}' must be numeric")
        arr = np.asarray(ov.values if isinstance(ov, Logical) else ov, dtype=np.float64)
        off = arr if off is None else off + arr

    n_trials = mustart = None
    if family is not None:
        resp = glm_response(yv, family, w, deparse(f.response))
        y, n_trials, w, mustart = resp.y, resp.n, resp.weights, resp.mustart

    # ---- random effects (mkReTrms), then lme4's checks
    re_terms, groups, re_order = _build_re(f, values, n, checks, family is not None,
                                           contrasts.default)
    if family is None:
        _check_response(y, off, deparse(f.response))
    x_contrasts = _fixed_contrasts(f, values, contrasts)
    X_full, names_full, _ = model_matrix(f.fixed, values, n, x_contrasts, contrasts.default)
    if not np.all(np.isfinite(X_full)):
        bad = [names_full[j] for j in np.flatnonzero(~np.isfinite(X_full).all(axis=0))]
        raise DataError(f"NA/NaN/Inf in the fixed-effects model matrix, column(s): "
                        f"{', '.join(bad)} (overflow in a product of columns?)")

    # ---- rank deficiency (lme4 chkRank.drop.cols with qr(X, tol=1e-7, LAPACK=FALSE))
    keep_cols, dropped = _rank_columns(X_full, names_full, checks.check_rankX)
    X = X_full[:, list(keep_cols)] if dropped else X_full
    x_names = tuple(names_full[i] for i in keep_cols)
    check_scale_x(X, checks)

    kinds = {v: VarKind.of(values[v]) for v in f.fixed.variables}
    for rt in f.random:
        kinds.update({v: VarKind.of(values[v]) for v in rt.lhs.variables})
    ordered_terms = tuple(f.random[i] for i in re_order)
    spec = DesignSpec(
        f, kinds, dict(ev.learned), keep_cols, x_names, ordered_terms, groups, names_full,
        x_contrasts, contrasts.default
    )
    row_labels = data.index if rows is None else data.index[rows]
    positions = np.arange(n_in) if rows is None else rows
    return Design(y, X, x_names, dropped, re_terms, w, off, row_labels, n_in, spec, positions,
                  n_trials, mustart)


def _na_sources(node: Node, mask: np.ndarray, ev: Evaluator) -> list[str]:
    """What to name for a variable's missing values: its columns where they are missing
    too, else the expression that made them (``log(Days)`` of a negative ``Days``)."""
    cols = names_in(node)
    if isinstance(node, Name) or not cols:
        return cols or [deparse(node)]
    in_cols = np.zeros_like(mask)
    for c in cols:
        try:
            in_cols |= na_mask(ev.column(c))
        except InterlaceError:  # a constant such as pi, not a column
            continue
    return [c for c in cols] if np.all(in_cols[mask]) else [deparse(node)]


def _first_rows(mask: np.ndarray, labels: pd.Index, k: int = 3) -> str:
    rows = [repr(labels[i]) for i in np.flatnonzero(mask)[:k]]
    more = int(mask.sum()) - len(rows)
    return ", ".join(rows) + (f" and {more} more" if more > 0 else "")


def _check_finite_array(arr: np.ndarray, name: str, labels: pd.Index, what: str) -> None:
    bad = np.isinf(arr)
    if bad.any():
        raise DataError(f"NA/NaN/Inf in {what} '{name}': {int(bad.sum())} infinite value(s), "
                        f"at row(s) {_first_rows(bad, labels)}")


def _check_finite(frame: dict[Node, Value], used: np.ndarray, labels: pd.Index) -> None:
    """lme4 stops on an infinite value in y, X or the offset ("NA/NaN/Inf in 'y'")."""
    for node, val in frame.items():
        if isinstance(val, Factor):
            continue
        arr = np.asarray(val.values if isinstance(val, Logical) else val)
        if arr.dtype.kind != "f":
            continue
        bad = np.isinf(arr) & (used if arr.ndim == 1 else used[:, None])
        if bad.ndim > 1:
            bad = bad.any(axis=1)
        if bad.any():
            raise DataError(f"NA/NaN/Inf in '{deparse(node)}': {int(bad.sum())} infinite "
                            f"value(s), at row(s) {_first_rows(bad, labels)}")


def _check_response(y: np.ndarray, offset: np.ndarray | None, name: str) -> None:
    """A constant response leaves no residual variation: lme4's objective is −∞ there."""
    r = y if offset is None else y - offset
    if r.size and np.ptp(r) == 0:
        what = (f"'{name}' is {y[0]:g}" if offset is None
                else f"'{name}' minus the offset is {r[0]:g}")
        raise DataError(f"response is constant: {what} in every row used, so the variance "
                        "components cannot be estimated")


def _rank_columns(X_full: np.ndarray, names_full: Sequence[str],
                  action: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """lme4's ``chkRank.drop.cols``: which columns of X to keep, which were dropped."""
    keep = tuple(range(X_full.shape[1]))
    if not X_full.shape[1] or action == "ignore":
        return keep, ()
    rank, pivot = column_rank_pivot(X_full, tol=1e-7)
    p = X_full.shape[1]
    if rank == p:
        return keep, ()
    if action == "stop.deficient":
        raise ModelSpecError(
            f"the fixed-effects model matrix is column rank deficient (rank(X) = {rank} < "
            f"{p} = p);\nthe fixed effects will be jointly unidentifiable")
    keep = tuple(int(i) for i in pivot[:rank])
    dropped = tuple(names_full[i] for i in sorted(set(range(p)) - set(keep)))
    if action != "silent.drop.cols":
        k = len(dropped)
        warn(
            f"fixed-effect model matrix is rank deficient so dropping "
            f"{_plural(k, 'column')} / {'coefficients' if k != 1 else 'coefficient'}: "
            + ", ".join(dropped),
            RankDeficiencyWarning
        )
    return keep, dropped


def _fixed_contrasts(f: Formula, values: dict[Node, Value],
                     contrasts: Contrasts) -> dict[Node, str]:
    """The per-variable contrasts of the fixed-effects matrix, keyed by variable, after
    checking that each names a factor (or logical) of the fixed part."""
    fixed = {deparse(v): v for v in f.fixed.variables}
    out: dict[Node, str] = {}
    for name, fn in contrasts.by_variable.items():
        node = fixed.get(name)
        if node is None:
            raise DataError(
                f"contrasts given for '{name}', which is not a variable of the fixed-effects "
                f"part of the formula (its variables: {', '.join(fixed) or 'none'}); "
                "contrasts code the fixed-effects matrix only")
        if not isinstance(values[node], Factor | Logical):
            raise DataError(f"contrasts apply only to factors: '{name}' is numeric")
        out[node] = fn
    return out


def _build_re(
    f: Formula, values: dict[Node, Value], n: int, checks: InputChecks, allow_n: bool = False,
    default: tuple[str, str] = DEFAULT_CONTRASTS,
) -> tuple[tuple[ReTerm, ...], tuple[GroupSpec, ...], list[int]]:
    built: list[tuple[ReTerm, GroupSpec]] = []
    group_cache: dict[tuple[str, ...], tuple[np.ndarray, GroupSpec]] = {}
    for rt in f.random:
        if rt.group not in group_cache:
            facs = [as_factor(values[Name(c)]) for c in rt.group]
            group_cache[rt.group] = make_group(rt.group, facs)
        codes, gspec = group_cache[rt.group]
        Xi, cn, _ = model_matrix(rt.lhs, values, n, None, default)
        if not Xi.shape[1]:
            raise ModelSpecError(f"random-effects term ({rt.text}) has no columns: give it an "
                                 "intercept or a variable, e.g. (1 | g)")
        if not np.all(np.isfinite(Xi)):
            raise DataError(f"NA/NaN/Inf in the random-effects model matrix of ({rt.text})")
        built.append((ReTerm(rt.group_name, codes, gspec.levels, Xi, cn, rt.text), gspec))
    order = lme4_term_order([len(t.levels) for t, _ in built])
    built = [built[i] for i in order]
    terms = tuple(t for t, _ in built)
    nlevels: dict[str, int] = {}
    for t in terms:
        nlevels.setdefault(t.group, t.n_levels)
    check_nlevels(nlevels, n, checks, allow_n)
    check_zdims([(t.text, t.n_levels * t.Xi.shape[1]) for t in terms], n, checks, allow_n)
    if checks.check_nobs_vs_rankZ not in ("ignore", "ignoreSmall"):
        check_zrank(build_Z(terms), n, checks, allow_n)
    return terms, tuple(g for _, g in built), order
