"""Tokenizer and recursive-descent (precedence-climbing) parser for R formulas."""

from __future__ import annotations

import re
from dataclasses import dataclass

from interlace.errors import FormulaError
from interlace.formula.ast import (
    PREC_NOT,
    PREC_UNARY,
    RIGHT_ASSOC,
    BinOp,
    Call,
    Dot,
    Name,
    Node,
    Num,
    Paren,
    Str,
    UnaryOp,
    binary_prec,
)

__all__ = ["Token", "tokenize", "parse_expression"]


@dataclass(frozen=True)
class Token:
    """A lexical token.

    ``kind`` is one of NAME, NUM, STR, OP, LPAREN, RPAREN, COMMA, EOF; ``pos`` is
    the 0-based offset (error messages report it 1-based, as a column number).
    """

    kind: str
    text: str
    pos: int
    value: object = None


_DIGITS = "0123456789"
_NUM_RE = re.compile(r"(0[xX][0-9a-fA-F]+|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)(L?)")
#: R names: a letter (any script, as R in a UTF-8 locale) or a dot not before a digit,
#: then letters, digits, dots and underscores
_NAME_RE = re.compile(r"([^\W\d_]|\.(?![0-9]))[\w.]*|\.")
_OPS = ["||", "&&", "==", "!=", "<=", ">=", "~", "+", "-", "*", "/", "^", ":", "|", "&",
        "<", ">", "!", "="]


def _err(msg: str, pos: int, text: str) -> FormulaError:
    return FormulaError(f"{msg} at position {pos + 1} in {text!r}")


def tokenize(text: str) -> list[Token]:
    """Split formula text into tokens.

    Parameters
    ----------
    text : str
        Formula source.

    Returns
    -------
    list of Token
        Ending with an EOF token.

    Raises
    ------
    FormulaError
        On a character that cannot start a token.
    """
    toks: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
            continue
        if c == "`":
            j = text.find("`", i + 1)
            if j < 0:
                raise _err("unterminated backtick name", i, text)
            toks.append(Token("NAME", text[i : j + 1], i, text[i + 1 : j]))
            i = j + 1
            continue
        if c in "\"'":
            j = i + 1
            buf = []
            while j < n and text[j] != c:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise _err("unterminated string", i, text)
            toks.append(Token("STR", text[i : j + 1], i, "".join(buf)))
            i = j + 1
            continue
        if c in _DIGITS or (c == "." and i + 1 < n and text[i + 1] in _DIGITS):
            m = _NUM_RE.match(text, i)
            assert m is not None
            body, is_int = m.group(1), bool(m.group(4))
            val = float(int(body, 16)) if body[:2].lower() == "0x" else float(body)
            toks.append(Token("NUM", m.group(0), i, (val, is_int)))
            i = m.end()
            continue
        m = _NAME_RE.match(text, i) if (c.isalpha() or c == ".") else None
        if m is not None:
            toks.append(Token("NAME", m.group(0), i, m.group(0)))
            i = m.end()
            continue
        if c == "%":
            j = text.find("%", i + 1)
            if j < 0:
                raise _err("unterminated %operator%", i, text)
            toks.append(Token("OP", text[i : j + 1], i))
            i = j + 1
            continue
        if c == "(":
            toks.append(Token("LPAREN", c, i))
            i += 1
            continue
        if c == ")":
            toks.append(Token("RPAREN", c, i))
            i += 1
            continue
        if c == ",":
            toks.append(Token("COMMA", c, i))
            i += 1
            continue
        for op in _OPS:
            if text.startswith(op, i):
                toks.append(Token("OP", op, i))
                i += len(op)
                break
        else:
            raise _err(f"unexpected character {c!r}", i, text)
    toks.append(Token("EOF", "", n))
    return toks


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def advance(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def error(self, tok: Token | None = None) -> FormulaError:
        tok = tok or self.tok
        if tok.kind == "EOF":
            return FormulaError(
                f"unexpected end of input at position {tok.pos + 1} in {self.text!r}"
            )
        return _err(f"unexpected {tok.text!r}", tok.pos, self.text)

    def expect(self, kind: str) -> Token:
        if self.tok.kind != kind:
            raise self.error()
        return self.advance()

    def _binop_prec(self, tok: Token) -> int | None:
        if tok.kind != "OP" or tok.text in ("!", "="):
            return None
        return binary_prec(tok.text)

    def expr(self, min_prec: int = 0) -> Node:
        left = self.unary()
        while True:
            tok = self.tok
            p = self._binop_prec(tok)
            if p is None or p < min_prec:
                break
            self.advance()
            next_min = p if tok.text in RIGHT_ASSOC else p + 1
            if tok.text == "~":
                raise _err("unexpected '~'", tok.pos, self.text)
            right = self.expr(next_min)
            left = BinOp(tok.text, left, right)
        return left

    def unary(self) -> Node:
        tok = self.tok
        if tok.kind == "OP" and tok.text in ("-", "+"):
            self.advance()
            # unary minus binds looser than ^ but tighter than ':'
            return UnaryOp(tok.text, self.expr(PREC_UNARY))
        if tok.kind == "OP" and tok.text == "!":
            self.advance()
            return UnaryOp("!", self.expr(PREC_NOT))
        return self.primary()

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind == "NUM":
            self.advance()
            val, is_int = tok.value  # type: ignore[misc]
            return Num(float(val), bool(is_int))
        if tok.kind == "STR":
            self.advance()
            return Str(str(tok.value))
        if tok.kind == "LPAREN":
            self.advance()
            inner = self.expr()
            self.expect("RPAREN")
            return Paren(inner)
        if tok.kind == "NAME":
            self.advance()
            name = str(tok.value)
            if self.tok.kind == "LPAREN":
                return self.call(name)
            if name == "." and tok.text == ".":
                return Dot()
            return Name(name)
        raise self.error()

    def call(self, fn: str) -> Node:
        self.expect("LPAREN")
        args: list[Node] = []
        names: list[str | None] = []
        if self.tok.kind != "RPAREN":
            while True:
                nm = None
                if (
                    self.tok.kind == "NAME"
                    and self.toks[self.i + 1].kind == "OP"
                    and self.toks[self.i + 1].text == "="
                ):
                    nm = str(self.advance().value)
                    self.advance()
                args.append(self.expr())
                names.append(nm)
                if self.tok.kind == "COMMA":
                    self.advance()
                    continue
                break
        self.expect("RPAREN")
        return Call(fn, tuple(args), tuple(names))


def parse_expression(text: str) -> Node:
    """Parse a formula text (``y ~ x``, ``~ x``) or a plain expression into a node.

    A two-sided formula becomes ``BinOp('~', lhs, rhs)``; a one-sided formula
    ``UnaryOp('~', rhs)``.

    Parameters
    ----------
    text : str
        Source text.

    Returns
    -------
    Node

    Raises
    ------
    FormulaError
        With the offending token and its (0-based) character position.
    """
    p = _Parser(text)
    if p.tok.kind == "OP" and p.tok.text == "~":
        p.advance()
        node: Node = UnaryOp("~", p.expr(3))
    else:
        lhs = p.expr(3)
        if p.tok.kind == "OP" and p.tok.text == "~":
            p.advance()
            node = BinOp("~", lhs, p.expr(3))
        else:
            node = lhs
    if p.tok.kind != "EOF":
        raise p.error()
    return node
