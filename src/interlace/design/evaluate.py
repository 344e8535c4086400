"""Evaluate formula variables (``x``, ``log(x)``, ``I(x^2)``, ``factor(g)``...) on a DataFrame.

Values are numeric arrays (float64, NaN = missing), :class:`Logical` (R logical,
stored as float 0/1/NaN) or :class:`Factor` (integer codes, -1 = missing).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from interlace.errors import DataError, FormulaError
from interlace.formula.ast import (
    BinOp,
    Call,
    Name,
    Node,
    Num,
    Paren,
    Str,
    UnaryOp,
    deparse,
    r_format_number,
)

__all__ = ["Factor", "Logical", "Value", "Evaluator", "r_sort_key", "SUPPORTED_FUNCTIONS"]


@dataclass(frozen=True)
class Factor:
    """An R factor: ``codes`` index ``levels`` (-1 = NA)."""

    codes: np.ndarray
    levels: tuple[str, ...]
    ordered: bool = False

    def subset(self, rows: np.ndarray) -> Factor:
        """Return the factor on ``rows`` (levels unchanged)."""
        return Factor(self.codes[rows], self.levels, self.ordered)

    def drop_unused(self) -> Factor:
        """Drop levels that do not occur (R ``droplevels``)."""
        valid = self.codes[self.codes >= 0]
        present = np.zeros(len(self.levels), dtype=bool)
        present[valid] = True
        if present.all():
            return self
        remap = np.cumsum(present) - 1
        codes = np.where(self.codes >= 0, remap[np.maximum(self.codes, 0)], -1)
        levels = tuple(lv for lv, keep in zip(self.levels, present, strict=True) if keep)
        return Factor(codes, levels, self.ordered)


@dataclass(frozen=True)
class Logical:
    """An R logical vector stored as float64 0/1 with NaN for NA."""

    values: np.ndarray


Value = np.ndarray | Logical | Factor

SUPPORTED_FUNCTIONS = (
    "I", "log", "log10", "log2", "log1p", "exp", "sqrt", "abs", "factor", "as.factor",
    "ordered", "as.numeric", "as.double", "as.integer", "scale", "offset", "cbind",
)

_UNARY_MATH = {
    "log10": np.log10,
    "log2": np.log2,
    "log1p": np.log1p,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "abs": np.abs,
}


def _char_class(ch: str) -> int:
    if ch.isspace():
        return 0
    cat = unicodedata.category(ch)
    if cat[0] in "PS":
        return 1
    if ch.isdigit():
        return 2
    if ch.isalpha():
        return 3
    return 4


def r_sort_key(s: str) -> tuple[Any, ...]:
    """Approximate the collation R uses to sort strings (ICU-like, case-insensitive first).

    Punctuation sorts before digits, digits before letters, letters compare
    case-insensitively with lower case first on ties (``a < A < b < B``).
    """
    primary = tuple((_char_class(c), c.casefold()) for c in s)
    return (primary, s.swapcase())


def _label_numbers(values: np.ndarray) -> list[str]:
    if np.issubdtype(values.dtype, np.integer):
        return [str(int(v)) for v in values]
    return [r_format_number(float(v)) for v in values]


def _factor_from_values(values: np.ndarray) -> Factor:
    """R ``factor(x)`` of a plain vector: levels are the sorted unique non-missing values."""
    if values.dtype == bool:
        uniq, codes = np.unique(values, return_inverse=True)
        return Factor(codes.astype(np.int64), tuple("TRUE" if u else "FALSE" for u in uniq))
    if np.issubdtype(values.dtype, np.number):
        fv = values.astype(np.float64) if not np.issubdtype(values.dtype, np.integer) else values
        na = np.isnan(fv) if fv.dtype.kind == "f" else np.zeros(len(fv), dtype=bool)
        uniq, inv = np.unique(fv[~na], return_inverse=True)
        codes = np.full(len(fv), -1, dtype=np.int64)
        codes[~na] = inv
        return Factor(codes, tuple(_label_numbers(uniq)))
    codes, uniques = pd.factorize(pd.Series(values, copy=False), use_na_sentinel=True)
    labels = [str(u) for u in uniques]
    order = sorted(range(len(labels)), key=lambda i: r_sort_key(labels[i]))
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels))
    codes = np.asarray(codes, dtype=np.int64)
    out = np.where(codes >= 0, rank[np.maximum(codes, 0)] if len(labels) else 0, -1)
    return Factor(out.astype(np.int64), tuple(labels[i] for i in order))


def column_value(series: pd.Series) -> Value:
    """Convert a DataFrame column into a :data:`Value` (R's view of the column)."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        cat_vals = cats.to_numpy()
        if np.issubdtype(cat_vals.dtype, np.number) and cat_vals.dtype != bool:
            labels = tuple(_label_numbers(cat_vals))
        else:
            labels = tuple(str(c) for c in cat_vals)
        codes = np.asarray(series.cat.codes.to_numpy(), dtype=np.int64)
        return Factor(codes, labels, bool(dtype.ordered))
    if pd.api.types.is_bool_dtype(dtype):
        return Logical(series.to_numpy(dtype=np.float64, na_value=np.nan))
    if pd.api.types.is_integer_dtype(dtype) and isinstance(dtype, np.dtype):
        return series.to_numpy()  # kept integer so factor() labels read like R integers
    if pd.api.types.is_numeric_dtype(dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        raise DataError(f"column '{series.name}' has a date/time type; convert it first")
    values = series.to_numpy(dtype=object)
    inferred = pd.api.types.infer_dtype(values, skipna=True)  # C speed: no loop for labels
    nested = None if inferred not in ("mixed", "mixed-integer", "unknown-array") else next(
        (v for v in values if isinstance(v, list | tuple | dict | set | np.ndarray)), None)
    if nested is not None:
        raise DataError(f"column '{series.name}' holds {type(nested).__name__} values, not "
                        "numbers or labels: interlace cannot use it in a model")
    na = pd.isna(values)
    if not na.any():
        fac = _factor_from_values(values.astype(str))
    else:
        fac = _factor_from_values(np.where(na, None, values))
    return fac


@dataclass
class Evaluator:
    """Evaluate expression nodes on a DataFrame, caching converted columns.

    Parameters
    ----------
    data : pandas.DataFrame
        The data.
    params : dict, optional
        Learned parameters (``scale()`` centring) to reuse, for new data.
    """

    data: pd.DataFrame
    params: dict[str, tuple[float, float]] | None = None
    learned: dict[str, tuple[float, float]] = field(default_factory=dict)
    _cache: dict[str, Value] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.data)

    def column(self, name: str) -> Value:
        """Return column ``name`` converted to a Value."""
        if name not in self._cache:
            if name not in self.data.columns:
                raise DataError(f"column '{name}' not found in data (used in the formula)")
            col = self.data[name]
            if isinstance(col, pd.DataFrame):
                raise DataError(f"column '{name}' appears {col.shape[1]} times in data; the "
                                "columns the formula uses must have unique names")
            self._cache[name] = column_value(col)
        return self._cache[name]

    def value(self, node: Node) -> Value:
        """Evaluate ``node`` to a length-n Value."""
        out = self._eval(node)
        if isinstance(out, Logical) and np.ndim(out.values) == 0:
            out = Logical(np.full(self.n, float(out.values)))
        if isinstance(out, np.ndarray) and out.ndim == 0:
            out = np.full(self.n, float(out))
        if isinstance(out, np.ndarray) and out.dtype == bool:
            return Logical(out.astype(np.float64))
        return out

    # ------------------------------------------------------------------
    def _num(self, v: Value, node: Node) -> np.ndarray:
        if isinstance(v, Factor):
            raise DataError(f"'{deparse(node)}' is a factor; arithmetic on it is not meaningful")
        if isinstance(v, Logical):
            return v.values
        return v

    def _eval(self, node: Node) -> Value:
        if isinstance(node, Name):
            if node.name not in self.data.columns:
                consts = {"TRUE": 1.0, "T": 1.0, "FALSE": 0.0, "F": 0.0, "pi": np.pi}
                if node.name in consts:
                    val = consts[node.name]
                    if node.name == "pi":
                        return np.asarray(val)
                    return Logical(np.full(self.n, val))
            return self.column(node.name)
        if isinstance(node, Num):
            return np.asarray(node.value)
        if isinstance(node, Paren):
            return self._eval(node.inner)
        if isinstance(node, Str):
            raise FormulaError(f"string constant {deparse(node)} is not supported in a formula")
        if isinstance(node, UnaryOp):
            v = self._eval(node.operand)
            if node.op == "!":
                return Logical(np.where(np.isnan(x := self._num(v, node)), np.nan, x == 0))
            x = self._num(v, node)
            return -x if node.op == "-" else x
        if isinstance(node, BinOp):
            return self._binop(node)
        if isinstance(node, Call):
            return self._call(node)
        raise FormulaError(f"cannot evaluate '{deparse(node)}'")

    def _binop(self, node: BinOp) -> Value:
        op = node.op
        if op in ("==", "!=") and (
            isinstance(node.right, Str) or isinstance(node.left, Str)
        ):
            fac_node, s = (node.left, node.right) if isinstance(node.right, Str) else (
                node.right, node.left)
            f = self._eval(fac_node)
            if not isinstance(f, Factor):
                raise DataError(f"cannot compare '{deparse(fac_node)}' with a string")
            assert isinstance(s, Str)
            idx = f.levels.index(s.value) if s.value in f.levels else -2
            eq = (f.codes == idx).astype(np.float64)
            eq[f.codes < 0] = np.nan
            return Logical(eq if op == "==" else np.where(np.isnan(eq), np.nan, 1 - eq))
        a = self._num(self._eval(node.left), node.left)
        b = self._num(self._eval(node.right), node.right)
        with np.errstate(all="ignore"):
            if op == "+":
                return a + b
            if op == "-":
                return a - b
            if op == "*":
                return a * b
            if op == "/":
                return a / b
            if op == "^":
                return np.power(a, b)
            if op == "%%":
                return np.mod(a, b)
            if op == "%/%":
                return np.floor_divide(a, b)
            cmp = {"<": np.less, ">": np.greater, "<=": np.less_equal,
                   ">=": np.greater_equal, "==": np.equal, "!=": np.not_equal}
            nan = np.isnan(a) | np.isnan(b)
            if op in cmp:
                return Logical(np.where(nan, np.nan, cmp[op](a, b)))
            if op in ("&", "&&"):
                return Logical(np.where(nan, np.nan, (a != 0) & (b != 0)))
            if op in ("|", "||"):
                return Logical(np.where(nan, np.nan, (a != 0) | (b != 0)))
        raise FormulaError(f"operator '{op}' is not supported in '{deparse(node)}'")

    def _call(self, node: Call) -> Value:
        fn, args = node.fn, node.args
        if fn not in SUPPORTED_FUNCTIONS:
            raise FormulaError(
                f"unknown function '{fn}' in '{deparse(node)}'; supported: "
                + ", ".join(SUPPORTED_FUNCTIONS)
            )
        if not args:
            raise FormulaError(f"'{deparse(node)}' needs an argument")
        if fn in ("I", "offset"):
            return self._eval(args[0])
        if fn == "cbind":  # a binomial response: successes and failures
            if len(args) != 2:
                raise FormulaError(f"cbind() takes successes and failures: '{deparse(node)}'")
            cols = [self._num(self._eval(a), a) for a in args]
            return np.column_stack([np.broadcast_to(np.asarray(c, dtype=np.float64), (self.n,))
                                    for c in cols])
        v = self._eval(args[0])
        if fn in ("factor", "as.factor", "ordered"):
            if isinstance(v, Factor):
                return Factor(v.codes, v.levels, v.ordered or fn == "ordered").drop_unused()
            if isinstance(v, Logical):
                arr = v.values
                codes = np.where(np.isnan(arr), -1, arr).astype(np.int64)
                return Factor(codes, ("FALSE", "TRUE"), fn == "ordered").drop_unused()
            f = _factor_from_values(v)
            return Factor(f.codes, f.levels, fn == "ordered")
        if fn in ("as.numeric", "as.double", "as.integer"):
            if isinstance(v, Factor):
                return np.where(v.codes >= 0, v.codes + 1.0, np.nan)
            x = self._num(v, node)
            return np.trunc(x) if fn == "as.integer" else x
        x = self._num(v, args[0])
        with np.errstate(all="ignore"):
            if fn == "log":
                if len(args) > 1:
                    base = self._num(self._eval(args[1]), args[1])
                    return np.log(x) / np.log(base)
                return np.log(x)
            if fn in _UNARY_MATH:
                return _UNARY_MATH[fn](x)
        if fn == "scale":
            return self._scale(node, x)
        raise FormulaError(f"unknown function '{fn}'")  # pragma: no cover

    def _scale(self, node: Call, x: np.ndarray) -> np.ndarray:
        key = deparse(node)
        opts = {"center": True, "scale": True}
        for nm, a in zip(node.argnames[1:], node.args[1:], strict=True):
            if nm not in opts or not isinstance(a, Name) or a.name not in ("TRUE", "FALSE"):
                raise FormulaError(f"only scale(x, center=TRUE/FALSE, scale=TRUE/FALSE) "
                                   f"is supported, got '{key}'")
            opts[nm] = a.name == "TRUE"
        if self.params is not None and key in self.params:
            center, sd = self.params[key]
        else:
            ok = x[~np.isnan(x)]
            center = float(ok.mean()) if opts["center"] and ok.size else 0.0
            if opts["scale"]:
                dev = ok - center
                denom = max(ok.size - 1, 1)
                sd = float(np.sqrt(np.dot(dev, dev) / denom))
            else:
                sd = 1.0
            self.learned[key] = (center, sd)
        return (x - center) / sd
