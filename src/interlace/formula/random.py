"""lme4's random-effects term handling: findbars, nobars, ``||`` and ``/`` expansion."""

from __future__ import annotations

from dataclasses import dataclass

from interlace.errors import FormulaError
from interlace.formula.ast import BinOp, Name, Node, Num, Paren, UnaryOp, deparse, names_in
from interlace.formula.terms import TermList, expand_terms

__all__ = ["RandomTerm", "is_bar", "split_bars", "expand_bars"]


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(lhs | group)`` after lme4's expansions.

    Attributes
    ----------
    lhs : TermList
        The model for the random effects (intercept flag + terms).
    group : tuple of str
        Data columns whose interaction is the grouping factor, in the order
        lme4 forms it (``b:a`` gives ``('b', 'a')``).
    text : str
        lme4's term name, e.g. ``'Days | Subject'``, ``'0 + x | g'``.
    group_name : str
        lme4's grouping-factor name, e.g. ``'Subject'``, ``'cask:batch'``, ``'c:(b:a)'``.
    lhs_expr : Node
        The left-hand-side expression as written (after ``||`` expansion).
    """

    lhs: TermList
    group: tuple[str, ...]
    text: str
    group_name: str
    lhs_expr: Node


def is_bar(node: Node) -> bool:
    """Return True if ``node`` is ``(a | b)`` or ``(a || b)`` (parenthesised or bare)."""
    while isinstance(node, Paren):
        node = node.inner
    return isinstance(node, BinOp) and node.op in ("|", "||")


def _strip(node: Node) -> BinOp:
    while isinstance(node, Paren):
        node = node.inner
    assert isinstance(node, BinOp)
    return node


def _contains_bar(node: Node) -> bool:
    if isinstance(node, BinOp):
        return node.op in ("|", "||") or _contains_bar(node.left) or _contains_bar(node.right)
    if isinstance(node, Paren):
        return _contains_bar(node.inner)
    return False


def split_bars(rhs: Node | None, text: str) -> tuple[Node | None, list[BinOp]]:
    """Separate a right-hand side into its fixed part and its bar terms (lme4 nobars/findbars).

    Bars must be summands (joined by ``+``); elsewhere they are an error.

    Parameters
    ----------
    rhs : Node or None
        Right-hand side of the formula.
    text : str
        Formula text for error messages.

    Returns
    -------
    fixed : Node or None
        The right-hand side without bar terms (None if nothing is left).
    bars : list of BinOp
        The bar terms in order of appearance.
    """
    bars: list[BinOp] = []

    def walk(node: Node) -> Node | None:
        if is_bar(node):
            bars.append(_strip(node))
            return None
        if isinstance(node, BinOp) and node.op == "+":
            left, right = walk(node.left), walk(node.right)
            if left is None:
                return right
            if right is None:
                return left
            return BinOp("+", left, right)
        if isinstance(node, BinOp) and node.op == "-" and not _contains_bar(node.right):
            left = walk(node.left)
            return UnaryOp("-", node.right) if left is None else BinOp("-", left, node.right)
        if isinstance(node, Paren) and isinstance(node.inner, BinOp) and node.inner.op == "+":
            inner = walk(node.inner)
            return None if inner is None else Paren(inner)
        if _contains_bar(node):
            raise FormulaError(
                f"random-effects terms like '(x | g)' can only be added with '+'; "
                f"found one inside '{deparse(node)}' in {text!r}"
            )
        return node

    fixed = None if rhs is None else walk(rhs)
    return fixed, bars


def _slash_terms(node: Node) -> list[Node]:
    if isinstance(node, BinOp) and node.op == "/":
        return _slash_terms(node.left) + _slash_terms(node.right)
    return [node]


def _check_group(node: Node, text: str) -> None:
    if isinstance(node, Name):
        return
    if isinstance(node, Paren):
        _check_group(node.inner, text)
        return
    if isinstance(node, BinOp) and node.op == ":":
        _check_group(node.left, text)
        _check_group(node.right, text)
        return
    raise FormulaError(
        f"grouping factor '{deparse(node)}' must be a column name or an interaction of "
        f"column names (a:b, a/b) in {text!r}"
    )


def _expand_slash(group: Node) -> list[Node]:
    parts = _slash_terms(group)
    chain: list[Node] = [parts[0]]
    for part in parts[1:]:
        chain.append(BinOp(":", part, chain[-1]))
    return chain[::-1]


def _make_term(lhs: Node, group: Node, text: str) -> RandomTerm:
    _check_group(group, text)
    lhs_terms = expand_terms(lhs, text)
    if lhs_terms.offsets:
        raise FormulaError(f"offset() is not allowed in a random-effects term in {text!r}")
    cols = tuple(names_in(group))
    gname = deparse(group)
    return RandomTerm(lhs_terms, cols, f"{deparse(lhs)} | {gname}", gname, lhs)


def expand_bars(bars: list[BinOp], text: str) -> tuple[RandomTerm, ...]:
    """Apply lme4's ``expandDoubleVerts`` then ``expandSlash`` to bar terms.

    Parameters
    ----------
    bars : list of BinOp
        Bar expressions from :func:`split_bars`.
    text : str
        Formula text for error messages.

    Returns
    -------
    tuple of RandomTerm
        In lme4's ``findbars`` order.
    """
    single: list[tuple[Node, Node]] = []
    for bar in bars:
        if bar.op == "||":
            tl = expand_terms(bar.left, text)
            if tl.intercept:
                single.append((Num(1.0), bar.right))
            for term in tl.terms:
                expr: Node = term[0]
                for v in term[1:]:
                    expr = BinOp(":", expr, v)
                single.append((BinOp("+", Num(0.0), expr), bar.right))
        else:
            single.append((bar.left, bar.right))
    out: list[RandomTerm] = []
    for lhs, group in single:
        if _contains_bar(lhs) or _contains_bar(group):
            raise FormulaError(f"nested '|' in random-effects term in {text!r}")
        for g in _expand_slash(group):
            out.append(_make_term(lhs, g, text))
    return tuple(out)
