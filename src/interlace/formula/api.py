"""Public formula objects: parsing, composing from keywords, and ``update``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from interlace.errors import FormulaError
from interlace.formula.ast import (
    BinOp,
    Call,
    Dot,
    Name,
    Node,
    Paren,
    UnaryOp,
    deparse,
    names_in,
)
from interlace.formula.parser import parse_expression
from interlace.formula.random import RandomTerm, expand_bars, is_bar, split_bars
from interlace.formula.terms import TermList, _Encoder, expand_terms

__all__ = ["Formula", "parse_formula", "compose_formula", "update_formula"]


@dataclass(frozen=True)
class Formula:
    """A parsed lme4 formula.

    Attributes
    ----------
    response : Node or None
        Left-hand side expression.
    fixed : TermList
        Fixed-effects terms (R ``terms.formula`` semantics) and offsets.
    random : tuple of RandomTerm
        Random-effects terms after lme4's ``||`` and ``/`` expansion.
    text : str
        The formula text as given.
    """

    response: Node | None
    fixed: TermList
    random: tuple[RandomTerm, ...]
    text: str

    def variables(self) -> list[str]:
        """Data column names used anywhere in the formula, in order of use.

        Returns
        -------
        list of str
            Response, fixed-effect, offset, random-effect and grouping columns.
        """
        out: list[str] = []

        def add(node: Node) -> None:
            for nm in names_in(node):
                if nm not in out:
                    out.append(nm)

        if self.response is not None:
            add(self.response)
        for v in self.fixed.variables:
            add(v)
        for o in self.fixed.offsets:
            add(o)
        for rt in self.random:
            for v in rt.lhs.variables:
                add(v)
            for g in rt.group:
                if g not in out:
                    out.append(g)
        return out

    def __str__(self) -> str:
        lhs = "" if self.response is None else deparse(self.response) + " "
        rhs = str(self.fixed)
        for rt in self.random:
            rhs += f" + ({rt.text})"
        return f"{lhs}~ {rhs}"


def _split_formula(node: Node, text: str) -> tuple[Node | None, Node]:
    if isinstance(node, BinOp) and node.op == "~":
        return node.left, node.right
    if isinstance(node, UnaryOp) and node.op == "~":
        return None, node.operand
    raise FormulaError(f"a formula needs '~' (e.g. 'y ~ x + (1 | g)'), got {text!r}")


def parse_formula(text: str) -> Formula:
    """Parse an lme4 formula.

    Parameters
    ----------
    text : str
        E.g. ``"Reaction ~ Days + (Days | Subject)"``.

    Returns
    -------
    Formula

    Raises
    ------
    FormulaError
        On syntax errors (with the offending token and position) or invalid terms.
    """
    if isinstance(text, Formula):
        return text
    if not isinstance(text, str):
        raise FormulaError(f"formula must be a string, got {type(text).__name__}")
    node = parse_expression(text)
    lhs, rhs = _split_formula(node, text)
    if lhs is not None and (is_bar(lhs) or isinstance(lhs, Dot)):
        raise FormulaError(f"invalid response {deparse(lhs)!r} in {text!r}")
    fixed_node, bars = split_bars(rhs, text)
    fixed = expand_terms(fixed_node, text, response=lhs)
    random = expand_bars(bars, text)
    return Formula(lhs, fixed, random, text)


def _as_list(x: str | Sequence[str] | None) -> list[str]:
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]  # type: ignore[list-item]


def compose_formula(
    formula: str,
    *,
    groups: str | Sequence[str] | None = None,
    random: str | Sequence[str] | None = None,
) -> Formula:
    """Build a formula from a fixed-effects formula and keyword random-effects specs.

    Parameters
    ----------
    formula : str
        E.g. ``"y ~ x"`` (may already contain random terms).
    groups : str or sequence of str, optional
        Grouping columns; each adds a random intercept ``(1 | g)``.
    random : str or sequence of str, optional
        Extra random terms such as ``"(1 + x | g)"`` or ``"1 + x | g"``.

    Returns
    -------
    Formula
    """
    if not isinstance(formula, str):
        raise FormulaError(f"formula must be a string such as 'y ~ x + (1 | g)', got "
                           f"{type(formula).__name__}")
    for what, val in (("groups", groups), ("random", random)):
        if val is not None and not all(isinstance(v, str) for v in _as_list(val)):
            raise FormulaError(f"{what} must be a column name or a list of them, got {val!r}")
    parts = [formula.strip()]
    for g in _as_list(groups):
        name = g if Name(g) == parse_expression(g) else f"`{g}`"
        parts.append(f"(1 | {name})")
    for r in _as_list(random):
        r = r.strip()
        node = parse_expression(r)
        if not is_bar(node):
            raise FormulaError(f"random term {r!r} is not of the form '(lhs | group)'")
        parts.append(r if isinstance(node, Paren) else f"({r})")
    return parse_formula(" + ".join(parts))


def _subst_dot(node: Node | None, repl: Node | None) -> Node | None:
    if node is None:
        return None
    if isinstance(node, Dot):
        if repl is None:
            raise FormulaError("'.' in update() refers to a missing part of the old formula")
        return repl
    if isinstance(node, BinOp):
        return BinOp(node.op, _subst_dot(node.left, repl), _subst_dot(node.right, repl))  # type: ignore[arg-type]
    if isinstance(node, UnaryOp):
        return UnaryOp(node.op, _subst_dot(node.operand, repl))  # type: ignore[arg-type]
    if isinstance(node, Paren):
        return Paren(_subst_dot(node.inner, repl))  # type: ignore[arg-type]
    if isinstance(node, Call):
        args = tuple(_subst_dot(a, repl) for a in node.args)
        return Call(node.fn, args, node.argnames)  # type: ignore[arg-type]
    return node


class _BarEncoder(_Encoder):
    """Encoder that treats parenthesised bar terms as ordinary variables (R's view)."""

    def encode(self, node: Node):  # type: ignore[no-untyped-def]
        if isinstance(node, Paren) and is_bar(node):
            return [frozenset([self.var(node)])]
        return super().encode(node)


def update_formula(old: str | Formula, new: str) -> Formula:
    """R's ``update.formula``: substitute ``.`` and simplify the right-hand side.

    Parameters
    ----------
    old : str or Formula
        The original formula.
    new : str
        The update, e.g. ``". ~ . + x"``, ``". ~ . - x"``, ``"log(.) ~ ."``.

    Returns
    -------
    Formula
    """
    old_text = old.text if isinstance(old, Formula) else old
    old_lhs, old_rhs = _split_formula(parse_expression(old_text), old_text)
    new_lhs, new_rhs = _split_formula(parse_expression(new), new)
    lhs = _subst_dot(new_lhs, old_lhs) if new_lhs is not None else old_lhs
    rhs = _subst_dot(new_rhs, Paren(old_rhs))
    assert rhs is not None
    enc = _BarEncoder(new, [lhs] if lhs is not None else None)
    terms = enc.encode(rhs)
    if lhs is not None:
        terms = [t for t in terms if t != frozenset([0])]
    terms = sorted(terms, key=len)
    labels = [":".join(deparse(enc.vars[i]) for i in sorted(t)) for t in terms]
    labels += [f"offset({deparse(o)})" for o in enc.offsets]
    if not labels:
        labels = ["1" if enc.intercept else "0"]
    elif not enc.intercept:
        labels.append("- 1")
    rhs_text = " + ".join(labels).replace("+ - 1", "- 1")
    text = (deparse(lhs) + " ~ " if lhs is not None else "~ ") + rhs_text
    return parse_formula(text)
