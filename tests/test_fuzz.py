"""Fuzz tests (issue 9): random formulas and random awkward data frames.

Every outcome must be a fit whose numbers are finite (or that warns where they are not)
or an :class:`~interlace.errors.InterlaceError` subclass — never a raw internal
exception.  hypothesis runs with a fixed seed and a bounded number of examples, so CI
sees the same inputs every time.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import interlace
from interlace.errors import InterlaceError

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

TOKENS = ["y", "x", "z", "g", "h", "~", " ~ ", "+", " + ", "-", "*", ":", "/", "|", "||",
          "(", ")", "(1 | g)", "(x | g)", "(0 + x || h)", "1", "0", "I(", "log(", "exp(",
          "x^2", "^", ".", "%in%", "offset(", " ", ",", "factor(", "scale(", "`a b`", "'s'",
          "\"", "1e5", "-1", "!", "==", "=", "#", "\\", "\u00e9", "NA", "TRUE", "x:z",
          "poly(", "g/h", "(1|g:h)", "w", "5", "3.5", "-", "(", ")"]

RESPONSES = ["y", "log(z)", "y + 1", "x", "I(y * 2)", "z", "exp(y)", "h", "w"]
TERMS = ["x", "z", "log(z)", "I(x^2)", "x:z", "x*z", "factor(h)", "h", "g", "(1 | g)",
         "(x | g)", "(1 | h)", "(0 + x | g)", "(x || g)", "(1 | g/h)", "(1 | g:h)", "offset(z)",
         "-1", "0", "1", "scale(x)", "exp(x)", "(z | h)", "(h | g)", "x:h", "(1 | x)",
         "log(x)", "sqrt(z)", "I(1/x)", "(0 + h | g)", "`a b`"]


def _frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(8), n // 8)
    return pd.DataFrame({
        "y": rng.standard_normal(n) + g * 0.5,
        "x": rng.standard_normal(n),
        "z": rng.uniform(1, 2, n),
        "g": pd.Categorical([f"g{k}" for k in g]),
        "h": pd.Categorical([f"h{k % 4}" for k in range(n)]),
        "w": rng.uniform(0.5, 2.0, n),
        "a b": rng.standard_normal(n),
    })


def _outcome(call) -> str:
    """'error' (InterlaceError), 'fit' (finite numbers, or non-finite ones with a
    warning); anything else fails the test with the raw exception."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = call()
        except InterlaceError as e:
            event(f"error: {type(e).__name__}")
            return "error"
    if isinstance(res, interlace.CrossedLMEResult):
        with warnings.catch_warnings(record=True) as later:  # quantities computed on use
            warnings.simplefilter("always")
            lazy = [res.fe_df.to_numpy(), res.fittedvalues, res.resid,
                    *(np.ravel(np.asarray(v)) for v in res.random_effects_se.values())]
        caught = [*caught, *later]
        nums = np.concatenate([res.theta, res.fe_params.to_numpy(), res.fe_bse.to_numpy(),
                               [res.llf, res.sigma], *lazy])
        assert np.all(np.isfinite(nums)) or caught, "non-finite result without a warning"
        event("fit with warnings" if caught else "fit")
    return "fit"


@FUZZ
@given(st.one_of(
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14).map("".join),
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=10).map(lambda t: "y ~ " + "".join(t)),
    st.tuples(st.sampled_from(RESPONSES), st.lists(st.sampled_from(TERMS), min_size=1,
                                                   max_size=6)).map(
        lambda rt: f"{rt[0]} ~ " + " + ".join(rt[1]))))
def test_random_formulas(formula):
    _outcome(lambda: interlace.fit(formula, _frame()))


@FUZZ
@given(st.text(max_size=30))
def test_random_text_as_formula(text):
    _outcome(lambda: interlace.fit(text, _frame()))


@FUZZ
@given(st.sampled_from(["y ~ x + (1 | g)", "y ~ x + (x | g)", "y ~ 1 + (1 | g) + (1 | h)",
                        "y ~ x * z + (1 | g/h)", "y ~ factor(h) + (1 | g)"]),
       st.sampled_from([None, "groups", "random"]))
def test_keyword_forms(formula, extra):
    kw = {"groups": "h"} if extra == "groups" else {"random": "(0 + x | h)"} if extra else {}
    _outcome(lambda: interlace.fit(formula, _frame(), **kw))


# -- data frames with random awkward columns ---------------------------------------------------
KINDS = ["normal", "nan", "inf", "constant", "integer", "bool", "string", "tiny", "huge",
         "few_levels", "all_nan", "object_mixed", "duplicate"]


def _column(kind: str, n: int, rng: np.random.Generator):
    if kind == "normal":
        return rng.standard_normal(n)
    if kind == "nan":
        v = rng.standard_normal(n)
        v[rng.choice(n, size=max(1, n // 5), replace=False)] = np.nan
        return v
    if kind == "inf":
        v = rng.standard_normal(n)
        v[rng.integers(n)] = rng.choice([np.inf, -np.inf])
        return v
    if kind == "constant":
        return np.full(n, 3.0)
    if kind == "integer":
        return rng.integers(0, 5, n)
    if kind == "bool":
        return rng.integers(0, 2, n).astype(bool)
    if kind == "string":
        return np.array([f"s{k}" for k in rng.integers(0, 6, n)], dtype=object)
    if kind == "tiny":
        return rng.standard_normal(n) * 1e-12
    if kind == "huge":
        return rng.standard_normal(n) * 1e12 + 1e15
    if kind == "few_levels":
        return pd.Categorical(rng.choice(["a", "b"], n))
    if kind == "all_nan":
        return np.full(n, np.nan)
    if kind == "object_mixed":
        return np.array([1, "a", None, 2.5] * (n // 4) + [1] * (n % 4), dtype=object)
    raise ValueError(kind)


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(kinds=st.fixed_dictionaries({c: st.sampled_from(KINDS) for c in ("y", "x", "g")}),
       n=st.integers(4, 60), n_groups=st.integers(1, 12), seed=st.integers(0, 1000),
       formula=st.sampled_from(["y ~ x + (1 | g)", "y ~ x + (x | g)", "y ~ 1 + (1 | g)",
                                "y ~ log(x) + (1 | g)", "y ~ x + (1 | g) + (1 | x)"]),
       weights=st.sampled_from([None, "ones", "some_zero", "negative", "nan"]))
def test_random_data_frames(kinds, n, n_groups, seed, formula, weights):
    rng = np.random.default_rng(seed)
    cols = {}
    for name, kind in kinds.items():
        if kind == "duplicate":
            continue
        cols[name] = _column(kind, n, rng)
    if "g" not in cols or kinds["g"] in ("normal", "tiny", "huge"):
        cols["g"] = pd.Categorical([f"g{k}" for k in rng.integers(0, n_groups, n)])
    d = pd.DataFrame({k: v for k, v in cols.items()})
    for name, kind in kinds.items():
        if kind == "duplicate":
            d = pd.concat([d, pd.DataFrame({name: rng.standard_normal(n)}),
                           pd.DataFrame({name: rng.standard_normal(n)})], axis=1)
    w = {None: None, "ones": np.ones(n), "some_zero": np.r_[0.0, np.ones(n - 1)],
         "negative": np.r_[-1.0, np.ones(n - 1)], "nan": np.r_[np.nan, np.ones(n - 1)]}[weights]
    _outcome(lambda: interlace.fit(formula, d, weights=w))


@pytest.mark.parametrize("newdata", [
    pd.DataFrame({"x": [0.1, np.nan], "g": ["g1", "g2"]}),
    pd.DataFrame({"x": [0.1], "g": [None]}),
    pd.DataFrame({"x": ["a"], "g": ["g1"]}),
    pd.DataFrame({"g": ["g1"]}),
    pd.DataFrame(),
    {"x": [0.5], "g": ["g1"]},
    [1, 2, 3],
    np.zeros((2, 2)),
    None,
])
def test_predict_inputs(newdata):
    res = interlace.fit("y ~ x + (1 | g)", _frame())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = res.predict(newdata)
        except InterlaceError:
            return
    assert np.asarray(out).ndim == 1
