"""R ``terms.formula`` semantics: expand a right-hand side into an ordered term list."""

from __future__ import annotations

from dataclasses import dataclass, field

from interlace.errors import FormulaError
from interlace.formula.ast import (
    BinOp,
    Call,
    Dot,
    Name,
    Node,
    Num,
    Paren,
    UnaryOp,
    deparse,
)

__all__ = ["TermList", "expand_terms"]

Term = tuple[Node, ...]


@dataclass(frozen=True)
class TermList:
    """An R-style term list.

    Attributes
    ----------
    intercept : bool
        Whether the model has an intercept.
    terms : tuple of tuple of Node
        Terms in R's order (sorted by degree, stable); each term lists its
        variables in R's variable order (first appearance in the formula).
    offsets : tuple of Node
        The ``offset(...)`` arguments, in order.
    variables : tuple of Node
        All variables of the terms, in R's variable order.
    """

    intercept: bool
    terms: tuple[Term, ...]
    offsets: tuple[Node, ...] = ()
    variables: tuple[Node, ...] = field(default=())

    @property
    def labels(self) -> tuple[str, ...]:
        """R's ``term.labels``, e.g. ``('Days', 'recipe:temperature')``."""
        return tuple(":".join(deparse(v) for v in t) for t in self.terms)

    def __str__(self) -> str:
        parts = ["1" if self.intercept else "0", *self.labels]
        parts += [f"offset({deparse(o)})" for o in self.offsets]
        return " + ".join(parts)


class _Encoder:
    """Mirror of R's EncodeVars: terms are frozensets of variable indices."""

    def __init__(self, text: str, variables: list[Node] | None = None) -> None:
        self.text = text
        self.vars: list[Node] = list(variables or [])
        self.intercept = True
        self.parity = True
        self.offsets: list[Node] = []

    def var(self, node: Node) -> int:
        if node not in self.vars:
            self.vars.append(node)
        return self.vars.index(node)

    @staticmethod
    def _trim(terms: list[frozenset[int]]) -> list[frozenset[int]]:
        out: list[frozenset[int]] = []
        for t in terms:
            if t and t not in out:
                out.append(t)
        return out

    def encode(self, node: Node) -> list[frozenset[int]]:
        if isinstance(node, Paren):
            return self.encode(node.inner)
        if isinstance(node, Num):
            if node.value == 1:
                self.intercept = self.parity
            elif node.value == 0:
                self.intercept = not self.parity
            else:
                raise FormulaError(
                    f"invalid model formula: numeric term {deparse(node)} in {self.text!r}"
                )
            return []
        if isinstance(node, Dot):
            raise FormulaError(
                f"'.' is only supported in update() formulas, not in {self.text!r}"
            )
        if isinstance(node, UnaryOp) and node.op == "-":
            self.parity = not self.parity
            self.encode(node.operand)
            self.parity = not self.parity
            return []
        if isinstance(node, UnaryOp) and node.op == "+":
            return self.encode(node.operand)
        if isinstance(node, Call) and node.fn == "offset":
            if len(node.args) != 1:
                raise FormulaError(f"offset() takes exactly one argument in {self.text!r}")
            self.offsets.append(node.args[0])
            return []
        if isinstance(node, BinOp):
            op = node.op
            if op == "+":
                return self._trim(self.encode(node.left) + self.encode(node.right))
            if op == ":" or op == "%in%":
                left, right = self.encode(node.left), self.encode(node.right)
                if op == "%in%":
                    union = frozenset().union(*right) if right else frozenset()
                    return self._trim([t | union for t in left])
                return self._trim([a | b for a in left for b in right])
            if op == "*":
                left, right = self.encode(node.left), self.encode(node.right)
                inter = [a | b for a in left for b in right]
                return self._trim(left + right + inter)
            if op == "/":
                left, right = self.encode(node.left), self.encode(node.right)
                union = frozenset().union(*left) if left else frozenset()
                return self._trim(left + [union | t for t in right])
            if op == "^":
                left = self.encode(node.left)
                power = node.right.inner if isinstance(node.right, Paren) else node.right
                if not isinstance(power, Num) or power.value < 1 or power.value != int(power.value):
                    raise FormulaError(
                        f"invalid power in formula term {deparse(node)!r} in {self.text!r}"
                    )
                result = list(left)
                for _ in range(int(power.value) - 1):
                    result = self._trim([a | b for a in left for b in result])
                return result
            if op == "-":
                left = self.encode(node.left)
                self.parity = not self.parity
                right = self.encode(node.right)
                self.parity = not self.parity
                return [t for t in left if t not in right]
            if op in ("|", "||"):
                raise FormulaError(
                    f"random-effects term '{deparse(node)}' must be in parentheses and added "
                    f"to the fixed part with '+' in {self.text!r}"
                )
        if isinstance(node, Name | Call | BinOp | UnaryOp):
            return [frozenset([self.var(node)])]
        raise FormulaError(f"invalid term {deparse(node)!r} in formula {self.text!r}")


def expand_terms(node: Node | None, text: str = "", response: Node | None = None) -> TermList:
    """Expand a right-hand-side expression with R's ``terms.formula`` rules.

    Parameters
    ----------
    node : Node or None
        The right-hand side (None means intercept only).
    text : str
        Full formula text, for error messages.
    response : Node, optional
        The response; R numbers it as the first variable and drops any
        right-hand-side term equal to it.

    Returns
    -------
    TermList
    """
    enc = _Encoder(text, [response] if response is not None else None)
    terms = [] if node is None else enc.encode(node)
    if response is not None:
        terms = [t for t in terms if t != frozenset([0])]
    terms = sorted(terms, key=len)  # stable: keeps first-appearance order within a degree
    used = sorted(set().union(*terms)) if terms else []
    varlist = enc.vars
    out_terms = tuple(tuple(varlist[i] for i in sorted(t)) for t in terms)
    start = 1 if response is not None else 0
    variables = tuple(varlist[i] for i in range(start, len(varlist)) if i in used)
    return TermList(enc.intercept, out_terms, tuple(enc.offsets), variables)
