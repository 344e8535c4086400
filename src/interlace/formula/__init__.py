"""Parse lme4 formula strings with R's semantics.

The main entry point is :func:`parse_formula`; :func:`compose_formula` builds
formulas from the ``groups=`` / ``random=`` keyword forms and
:func:`update_formula` implements R's ``update.formula`` dot-substitution.
"""

from interlace.formula.api import Formula, compose_formula, parse_formula, update_formula
from interlace.formula.ast import (
    BinOp,
    Call,
    Dot,
    Name,
    Node,
    Num,
    Paren,
    Str,
    UnaryOp,
    deparse,
    names_in,
    r_format_number,
)
from interlace.formula.parser import parse_expression, tokenize
from interlace.formula.random import RandomTerm
from interlace.formula.terms import TermList, expand_terms

__all__ = [
    "Formula",
    "RandomTerm",
    "TermList",
    "parse_formula",
    "compose_formula",
    "update_formula",
    "parse_expression",
    "tokenize",
    "expand_terms",
    "deparse",
    "names_in",
    "r_format_number",
    "Node",
    "Name",
    "Num",
    "Str",
    "Call",
    "BinOp",
    "UnaryOp",
    "Paren",
    "Dot",
]
