"""Tests for interlace.formula (parser, R terms semantics, lme4 random-term expansion).

Expected labels/orders were checked against R 4.2.2 / lme4 1.1-31; the R
expression that produced each expectation is quoted in a comment.
"""

from __future__ import annotations

import pytest

from interlace.errors import FormulaError
from interlace.formula import (
    Call,
    Name,
    compose_formula,
    deparse,
    parse_expression,
    parse_formula,
    r_format_number,
    update_formula,
)


def labels(text: str) -> tuple[str, ...]:
    return parse_formula(text).fixed.labels


def bars(text: str) -> list[str]:
    return [rt.text for rt in parse_formula(text).random]


# ---------------------------------------------------------------- parsing


def test_basic_structure():
    f = parse_formula("Reaction ~ Days + (Days | Subject)")
    assert f.response == Name("Reaction")
    assert f.fixed.intercept
    assert f.fixed.labels == ("Days",)
    (rt,) = f.random
    assert rt.text == "Days | Subject"
    assert rt.group == ("Subject",)
    assert rt.lhs.intercept and rt.lhs.labels == ("Days",)


def test_response_expressions():
    assert deparse(parse_formula("incidence/size ~ period").response) == "incidence/size"
    assert parse_formula("log(y) ~ x").response == Call("log", (Name("y"),))
    assert parse_formula("~ x").response is None


@pytest.mark.parametrize(
    "text, pos, tok",
    [
        ("y ~ x + (1|g))", 14, "')'"),
        ("y ~ x ~ z", 7, "'~'"),
        ("y ~ x + * z", 9, "'*'"),
        ("y ~ x $ z", 7, "'$'"),
    ],
)
def test_syntax_error_positions(text, pos, tok):
    with pytest.raises(FormulaError) as exc:
        parse_formula(text)
    msg = str(exc.value)
    assert f"at position {pos}" in msg
    assert tok in msg
    assert repr(text) in msg


def test_unexpected_end():
    with pytest.raises(FormulaError, match="unexpected end of input"):
        parse_formula("y ~ log(x")


def test_backticks_and_numbers():
    f = parse_formula("y ~ `my var` + I(x^2) + I(2*x) + log(x, 2)")
    # R: colnames(model.matrix(~ `my var` + log(x, 2), ...)) -> "`my var`" "log(x, 2)"
    assert f.fixed.labels == ("`my var`", "I(x^2)", "I(2 * x)", "log(x, 2)")
    assert f.variables() == ["y", "my var", "x"]


def test_deparse_like_r():
    # R: deparse(quote(I(x>=2 & x!=3 | !x %in% c(1,2))))
    assert deparse(parse_expression("I(x>=2 & x!=3 | !x %in% c(1,2))")) == (
        "I(x >= 2 & x != 3 | !x %in% c(1, 2))"
    )
    # R: deparse(quote(I(-x^2 + (x*3) - 2e5 + 1e-3 + 3L + x %% 2))); exp(x/2) has no spaces
    assert deparse(parse_expression("I(-x^2 + (x*3) - 2e5 + 1e-3 + 3L + x %% 2)")) == (
        "I(-x^2 + (x * 3) - 2e+05 + 0.001 + 3L + x%%2)"
    )
    assert deparse(parse_expression("exp(x/2)")) == "exp(x/2)"


@pytest.mark.parametrize(
    "value, text",
    # R: as.character(c(100000, 123456, 0.1, 1e-20, 1/3, 1e15, 0.0001, 0.00012, -1.5))
    [
        (100000.0, "1e+05"),
        (123456.0, "123456"),
        (0.1, "0.1"),
        (1e-20, "1e-20"),
        (1 / 3, "0.333333333333333"),
        (1e15, "1e+15"),
        (0.0001, "1e-04"),
        (0.00012, "0.00012"),
        (-1.5, "-1.5"),
        (0.1 + 0.2, "0.3"),
    ],
)
def test_r_format_number(value, text):
    assert r_format_number(value) == text


# ---------------------------------------------------------------- fixed-part terms


def test_crossing_and_ordering():
    assert labels("y ~ a*b") == ("a", "b", "a:b")
    # R: attr(terms(~ b + a + a:b), "term.labels") -> "b" "a" "b:a"
    assert labels("y ~ b + a + a:b") == ("b", "a", "b:a")
    # R: attr(terms(~ (a+b+c)^2 - a:b), "term.labels")
    assert labels("y ~ (a+b+c)^2 - a:b") == ("a", "b", "c", "a:c", "b:c")
    # R: attr(terms(~ a/b + c %in% a), "term.labels")
    assert labels("y ~ a/b + c %in% a") == ("a", "a:b", "a:c")
    assert labels("y ~ a:b + a") == ("a", "a:b")
    assert labels("y ~ x + x + x:x") == ("x",)
    assert labels("y ~ a*b - a") == ("b", "a:b")


@pytest.mark.parametrize(
    "text, intercept",
    [
        ("y ~ x", True),
        ("y ~ 0 + x", False),
        ("y ~ x + 0", False),
        ("y ~ x - 1", False),
        ("y ~ -1 + x", False),
        ("y ~ x - 1 + 1", True),
        ("y ~ 1", True),
        ("y ~ (1 | g)", True),
    ],
)
def test_intercept(text, intercept):
    assert parse_formula(text).fixed.intercept is intercept


def test_offsets_and_variables():
    f = parse_formula("y ~ x + offset(log(n)) + (z | g)")
    assert f.fixed.labels == ("x",)
    assert [deparse(o) for o in f.fixed.offsets] == ["log(n)"]
    assert f.variables() == ["y", "x", "n", "z", "g"]


def test_invalid_terms():
    with pytest.raises(FormulaError, match="numeric term 2"):
        parse_formula("y ~ 2 + x")
    with pytest.raises(FormulaError, match="only be added with"):
        parse_formula("y ~ x * (1 | g)")
    with pytest.raises(FormulaError, match="grouping factor"):
        parse_formula("y ~ (1 | g + h)")
    with pytest.raises(FormulaError, match="needs '~'"):
        parse_formula("y + x")


# ---------------------------------------------------------------- random terms


def test_findbars_expansions():
    # R: lme4::findbars(y ~ (1|a/b))
    assert bars("y ~ (1|a/b)") == ["1 | b:a", "1 | a"]
    # R: lme4::findbars(y ~ (1|a/b/c))
    assert bars("y ~ (1|a/b/c)") == ["1 | c:(b:a)", "1 | b:a", "1 | a"]
    # R: lme4::findbars(y ~ (1|a/(b:c)))
    assert bars("y ~ (1|a/(b:c))") == ["1 | (b:c):a", "1 | a"]
    # R: lme4::findbars(y ~ (x||g)); findbars(y ~ (0+x+z||g)); findbars(y ~ (f||g))
    assert bars("y ~ (x||g)") == ["1 | g", "0 + x | g"]
    assert bars("y ~ (0+x+z||g)") == ["0 + x | g", "0 + z | g"]
    # R: lme4::findbars(y ~ (1+x||g/h))
    assert bars("y ~ (1+x||g/h)") == ["1 | h:g", "1 | g", "0 + x | h:g", "0 + x | g"]
    assert bars("y ~ (x|a:b)") == ["x | a:b"]
    assert bars("y ~ (1 + x + z | g) + (1|h)") == ["1 + x + z | g", "1 | h"]


def test_random_term_fields():
    f = parse_formula("y ~ (1|a/b/c) + (0 + f | g)")
    first = f.random[0]
    assert first.group == ("c", "b", "a")
    assert first.group_name == "c:(b:a)"
    last = f.random[-1]
    assert not last.lhs.intercept and last.lhs.labels == ("f",)


# ---------------------------------------------------------------- composition / update


def test_compose_formula():
    f = compose_formula("y ~ x", groups=["a", "b"], random=["(1 + x | g)", "1 | h"])
    assert [rt.text for rt in f.random] == ["1 | a", "1 | b", "1 + x | g", "1 | h"]
    assert [rt.text for rt in compose_formula("y ~ x", groups="g").random] == ["1 | g"]
    with pytest.raises(FormulaError):
        compose_formula("y ~ x", random="x + z")


def test_update_formula():
    # R: update(y ~ a*b + (1|g), . ~ . - a:b) -> y ~ a + b + (1 | g)
    f = update_formula("y ~ a*b + (1|g)", ". ~ . - a:b")
    assert f.fixed.labels == ("a", "b") and bars(f.text) == ["1 | g"]
    # R: update(y ~ x + (1|g), log(.) ~ . - x + z) -> log(y) ~ (1 | g) + z
    f = update_formula("y ~ x + (1|g)", "log(.) ~ . - x + z")
    assert deparse(f.response) == "log(y)" and f.fixed.labels == ("z",)
    # R: update(y ~ x + (x|g), . ~ . - (x|g) + (1|g)) -> y ~ x + (1 | g)
    f = update_formula("y ~ x + (x|g)", ". ~ . - (x|g) + (1|g)")
    assert bars(f.text) == ["1 | g"]
    f = update_formula("y ~ 0 + x + offset(o) + (x|g)", ". ~ . + w")
    assert not f.fixed.intercept and f.fixed.labels == ("x", "w")
    assert [deparse(o) for o in f.fixed.offsets] == ["o"]
    assert update_formula(parse_formula("y ~ x"), ". ~ . - 1").fixed.intercept is False
