"""Expression nodes for R formulas and an R-compatible deparser.

The nodes are small frozen dataclasses, so they hash and compare structurally;
two variables are "the same variable" exactly when their nodes are equal, which
mirrors how R matches variables in ``terms.formula``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = [
    "Node",
    "Name",
    "Num",
    "Str",
    "Call",
    "BinOp",
    "UnaryOp",
    "Paren",
    "Dot",
    "deparse",
    "r_format_number",
    "names_in",
]


@dataclass(frozen=True)
class Node:
    """Base class of every expression node."""

    def __str__(self) -> str:
        return deparse(self)


@dataclass(frozen=True)
class Name(Node):
    """A symbol (data column or function name)."""

    name: str


@dataclass(frozen=True)
class Num(Node):
    """A numeric literal; ``integer`` is True for R's ``1L`` form."""

    value: float
    integer: bool = False


@dataclass(frozen=True)
class Str(Node):
    """A string literal."""

    value: str


@dataclass(frozen=True)
class Call(Node):
    """A function call ``fn(args...)``; ``argnames[i]`` is None for positional args."""

    fn: str
    args: tuple[Node, ...]
    argnames: tuple[str | None, ...] = ()

    def __post_init__(self) -> None:
        if len(self.argnames) != len(self.args):
            object.__setattr__(self, "argnames", (None,) * len(self.args))


@dataclass(frozen=True)
class BinOp(Node):
    """A binary operator application."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class UnaryOp(Node):
    """A prefix operator (``-``, ``+``, ``!``)."""

    op: str
    operand: Node


@dataclass(frozen=True)
class Paren(Node):
    """Explicit parentheses (R keeps them as a ``(`` call)."""

    inner: Node


@dataclass(frozen=True)
class Dot(Node):
    """The formula ``.`` placeholder."""


# --------------------------------------------------------------------------
# precedence table (higher binds tighter), following R's ?Syntax
# --------------------------------------------------------------------------

PREC_TILDE = 2
BINARY_PREC: dict[str, int] = {
    "~": PREC_TILDE,
    "||": 3,
    "|": 3,
    "&&": 4,
    "&": 4,
    # "!" (unary) is 5
    "==": 6,
    "!=": 6,
    "<": 6,
    ">": 6,
    "<=": 6,
    ">=": 6,
    "+": 7,
    "-": 7,
    "*": 8,
    "/": 8,
    # %any% is 9
    ":": 10,
    # unary minus / plus is 11
    "^": 12,
}
PREC_NOT = 5
PREC_SPECIAL = 9
PREC_UNARY = 11
PREC_ATOM = 100
RIGHT_ASSOC = {"^"}

# operators R deparses without surrounding spaces
_TIGHT_OPS = {"/", "^", ":", "%%", "%/%"}

_SYNTACTIC = re.compile(r"^((([A-Za-z]|[.][A-Za-z._])[A-Za-z0-9._]*)|[.])$")
_RESERVED = {
    "if", "else", "repeat", "while", "function", "for", "next", "break", "TRUE", "FALSE",
    "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_", "in",
}


def binary_prec(op: str) -> int:
    """Return the precedence of binary operator ``op``."""
    if op.startswith("%"):
        return PREC_SPECIAL
    return BINARY_PREC[op]


def _prec(node: Node) -> int:
    if isinstance(node, BinOp):
        return binary_prec(node.op)
    if isinstance(node, UnaryOp):
        return PREC_NOT if node.op == "!" else PREC_UNARY
    return PREC_ATOM


def r_format_number(x: float, digits: int = 15) -> str:
    """Format a double the way R's ``as.character``/``deparse`` does.

    Uses the minimal number of significant digits (at most ``digits``) that
    represents ``x`` to ``digits`` significant digits, and R's rule of choosing
    fixed notation unless scientific notation is strictly narrower.

    Parameters
    ----------
    x : float
        The value.
    digits : int
        Maximum significant digits (R uses 15).

    Returns
    -------
    str
    """
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if x == 0:
        return "0"
    target = float(f"{x:.{digits - 1}e}")
    sig = digits
    for d in range(1, digits + 1):
        if float(f"{x:.{d - 1}e}") == target:
            sig = d
            break
    sci = f"{target:.{sig - 1}e}"
    mant, exp_s = sci.split("e")
    exponent = int(exp_s)
    sci = f"{mant}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    decimals = max(0, sig - 1 - exponent)
    fixed = f"{target:.{decimals}f}"
    return fixed if len(fixed) <= len(sci) else sci


def _deparse_name(name: str) -> str:
    if _SYNTACTIC.match(name) and name not in _RESERVED:
        return name
    return "`" + name.replace("`", "\\`") + "`"


def deparse(node: Node) -> str:
    """Deparse an expression node the way R's ``deparse`` prints it.

    Parameters
    ----------
    node : Node
        The expression.

    Returns
    -------
    str
        R's text, e.g. ``I(2 * age)``, ``log(x^2)``, ``c:(b:a)``.
    """
    if isinstance(node, Name):
        return _deparse_name(node.name)
    if isinstance(node, Num):
        if node.integer:
            return f"{int(node.value)}L"
        return r_format_number(node.value)
    if isinstance(node, Str):
        return '"' + node.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(node, Dot):
        return "."
    if isinstance(node, Paren):
        return "(" + deparse(node.inner) + ")"
    if isinstance(node, Call):
        parts = []
        for nm, arg in zip(node.argnames, node.args, strict=True):
            txt = deparse(arg)
            parts.append(txt if nm is None else f"{_deparse_name(nm)} = {txt}")
        return f"{_deparse_name(node.fn)}({', '.join(parts)})"
    if isinstance(node, UnaryOp):
        inner = deparse(node.operand)
        if _prec(node.operand) < _prec(node):
            inner = f"({inner})"
        return node.op + inner
    if isinstance(node, BinOp):
        p = binary_prec(node.op)
        left, right = deparse(node.left), deparse(node.right)
        lp, rp = _prec(node.left), _prec(node.right)
        if node.op in RIGHT_ASSOC:
            if lp <= p:
                left = f"({left})"
            if rp < p:
                right = f"({right})"
        else:
            if lp < p:
                left = f"({left})"
            if rp <= p:
                right = f"({right})"
        if node.op in _TIGHT_OPS:
            return f"{left}{node.op}{right}"
        return f"{left} {node.op} {right}"
    raise TypeError(f"cannot deparse {node!r}")


def names_in(node: Node) -> list[str]:
    """Return the variable names referenced by ``node`` (not function names), in order.

    Parameters
    ----------
    node : Node
        The expression.

    Returns
    -------
    list of str
        Unique names in order of first appearance.
    """
    out: list[str] = []

    def walk(n: Node) -> None:
        if isinstance(n, Name):
            if n.name not in out and n.name not in ("TRUE", "FALSE", "T", "F", "pi"):
                out.append(n.name)
        elif isinstance(n, Call):
            for a in n.args:
                walk(a)
        elif isinstance(n, BinOp):
            walk(n.left)
            walk(n.right)
        elif isinstance(n, UnaryOp):
            walk(n.operand)
        elif isinstance(n, Paren):
            walk(n.inner)

    walk(node)
    return out
