"""Tests for interlace.design (model matrices, NA handling, lme4 checks, new-data specs).

Column names and term orders embedded here were checked with R 4.2.2 / lme4
1.1-31; each is preceded by the R expression that produced it.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest

from interlace.design import build_design, contr_poly, lme4_term_order
from interlace.errors import (
    DataError,
    FormulaError,
    MissingDataWarning,
    ModelSpecError,
    RankDeficiencyWarning,
)


@pytest.fixture
def small() -> pd.DataFrame:
    half = pd.DataFrame(
        {
            "y": [1.0, 2.5, 2.0, 4.0, 3.5, 6.0],
            "f": ["a", "b", "c", "a", "b", "c"],
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 7.0],
            "o": [1, 2, 3, 4, 5, 6],
            "b": [True, False, True, True, False, False],
            "h": ["u", "v", "u", "v", "u", "v"],
            "t": [10.0, 20.0, 1e5, 10.0, 20.0, 1e5],
            "g": [1, 1, 2, 2, 3, 3],
        }
    )
    other = half.assign(y=half["y"] ** 2, x=half["x"] ** 1.5 - 3, b=~half["b"])
    df = pd.concat([half, other], ignore_index=True)
    df["o"] = pd.Categorical(df["o"], ordered=True)
    return df


def names(formula: str, data: pd.DataFrame) -> tuple[str, ...]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_design(formula, data).spec.all_x_names


# ------------------------------------------------------------------ fixed effects names


@pytest.mark.parametrize(
    "rhs, expected",
    [
        # R: colnames(model.matrix(~ f*x, d))
        ("f*x", ("(Intercept)", "fb", "fc", "x", "fb:x", "fc:x")),
        # R: colnames(model.matrix(~ o, d))   (o ordered, 6 levels)
        ("o", ("(Intercept)", "o.L", "o.Q", "o.C", "o^4", "o^5")),
        # R: colnames(model.matrix(~ b + h, d))   (b logical, h character)
        ("b + h", ("(Intercept)", "bTRUE", "hv")),
        # R: colnames(model.matrix(~ 0 + x:f + f, d))
        ("0 + x:f + f", ("fa", "fb", "fc", "x:fa", "x:fb", "x:fc")),
        # R: colnames(model.matrix(~ f:h - 1, d))
        ("f:h - 1", ("fa:hu", "fb:hu", "fc:hu", "fa:hv", "fb:hv", "fc:hv")),
        # R: colnames(model.matrix(~ x + f:h, d))
        ("x + f:h", ("(Intercept)", "x", "fa:hu", "fb:hu", "fc:hu", "fa:hv", "fb:hv", "fc:hv")),
        # R: colnames(model.matrix(~ f*h - f, d))
        ("f*h - f", ("(Intercept)", "hv", "fb:hu", "fc:hu", "fb:hv", "fc:hv")),
        # R: colnames(model.matrix(~ (f + h + x)^2, d))
        (
            "(f + h + x)^2",
            ("(Intercept)", "fb", "fc", "hv", "x", "fb:hv", "fc:hv", "fb:x", "fc:x", "hv:x"),
        ),
        # R: colnames(model.matrix(~ factor(t) + I(x > 2) + log(x) + scale(x) + sqrt(x), d))
        (
            "factor(t) + I(x > 2) + log(x) + scale(x) + sqrt(x)",
            ("(Intercept)", "factor(t)20", "factor(t)1e+05", "I(x > 2)TRUE", "log(x)",
             "scale(x)", "sqrt(x)"),
        ),
    ],
)
def test_fixed_names(small, rhs, expected):
    assert names(f"y ~ {rhs}", small) == expected


def test_treatment_and_interaction_values(small):
    d = build_design("y ~ f*x", small)
    f = small["f"].to_numpy()
    x = small["x"].to_numpy()
    np.testing.assert_array_equal(d.X[:, 1], (f == "b").astype(float))
    np.testing.assert_array_equal(d.X[:, 5], (f == "c") * x)


def test_full_dummy_first_factor_varies_fastest(small):
    d = build_design("y ~ f:h - 1", small)
    f, h = small["f"].to_numpy(), small["h"].to_numpy()
    np.testing.assert_array_equal(d.X[:, 4], ((f == "b") & (h == "v")).astype(float))


def test_contr_poly_properties():
    for k in range(2, 9):
        C, nm = contr_poly(tuple(str(i) for i in range(k)))
        assert C.shape == (k, k - 1)
        np.testing.assert_allclose(C.T @ C, np.eye(k - 1), atol=1e-13)
        np.testing.assert_allclose(C.sum(axis=0), 0, atol=1e-13)
        assert C[-1, 0] > 0 and np.all(np.diff(C[:, 0]) > 0)  # linear term increasing
        assert nm[:3] == (".L", ".Q", ".C")[: k - 1]


def test_scale_is_r_scale(small):
    d = build_design("y ~ scale(x)", small)
    x = small["x"].to_numpy()
    np.testing.assert_allclose(d.X[:, 1], (x - x.mean()) / x.std(ddof=1))


def test_unused_categories_dropped():
    df = pd.DataFrame(
        {
            "y": np.arange(8.0),
            "f": pd.Categorical(list("aabbccab"), categories=["z", "a", "b", "c"]),
            "g": [1, 1, 2, 2, 3, 3, 4, 4],
        }
    )
    # R: colnames(lFormula(y ~ f + (1|g), dd)$X) with unused level "z" -> reference is "a"
    assert build_design("y ~ f + (1|g)", df).x_names == ("(Intercept)", "fb", "fc")


def test_string_levels_sorted_and_numeric_labels():
    df = pd.DataFrame({"y": np.arange(6.0), "s": ["b", "a", "c", "b", "a", "c"],
                       "k": [3, 1, 2, 3, 1, 2]})
    assert build_design("y ~ s", df).x_names == ("(Intercept)", "sb", "sc")
    assert build_design("y ~ factor(k)", df).x_names == (
        "(Intercept)", "factor(k)2", "factor(k)3")


# ------------------------------------------------------------------ errors


def test_missing_column_and_unknown_function(small):
    with pytest.raises(DataError, match="column 'Dayz' not found in data"):
        build_design("y ~ Dayz", small)
    with pytest.raises(FormulaError, match="unknown function 'poly'"):
        build_design("y ~ poly(x, 2)", small)
    with pytest.raises(DataError, match="response 'f' must be numeric"):
        build_design("f ~ x", small)


def test_one_level_factor_error():
    df = pd.DataFrame({"y": [1.0, 2, 3], "f": ["a", "a", "a"]})
    with pytest.raises(DataError, match="2 or more levels"):
        build_design("y ~ f", df)


# ------------------------------------------------------------------ rank deficiency


def test_rank_deficiency_drops_like_lme4():
    rng = np.random.default_rng(1)
    n = 40
    df = pd.DataFrame(
        {
            "distance": rng.normal(size=n),
            "age": np.tile([8.0, 10, 12, 14], n // 4),
            "Sex": np.repeat(["Male", "Female"], n // 2),
            "Subject": np.repeat(np.arange(10), 4),
        }
    )
    # R: attr(lme4::getME(lmer(distance ~ age + I(2*age) + Sex + (1|Subject),
    #      nlme::Orthodont), "X"), "col.dropped") -> I(2 * age) (column 3)
    msg = r"dropping 1 column / coefficient: I\(2 \* age\)"
    with pytest.warns(RankDeficiencyWarning, match=msg):
        d = build_design("distance ~ age + I(2*age) + Sex + (1|Subject)", df)
    assert d.dropped == ("I(2 * age)",)
    assert d.x_names == ("(Intercept)", "age", "SexMale")
    assert d.X.shape == (n, 3)
    assert d.spec.keep == (0, 1, 3)


def test_rank_deficiency_plural(small):
    df = small.assign(x2=small["x"] * 3, x3=small["x"] + 1)
    with pytest.warns(RankDeficiencyWarning, match="dropping 2 columns / coefficients: x2, x3"):
        build_design("y ~ x + x2 + x3", df)


# ------------------------------------------------------------------ missing data


def test_na_omit_warns_and_labels_rows():
    df = pd.DataFrame(
        {
            "y": [1.0, 2, np.nan, 4, 5, 6, 7, 8],
            "x": [1.0, np.nan, 3, 4, 5, 6, 7, 8],
            "g": ["a", "a", "b", "b", None, "c", "c", "a"],
            "unused": np.nan,
        },
        index=list("ABCDEFGH"),
    )
    msg = "dropped 3 of 8 rows with missing values in: y, x, g"
    with pytest.warns(MissingDataWarning, match=msg):
        d = build_design("y ~ x + (1|g)", df)
    assert list(d.row_labels) == ["A", "D", "F", "G", "H"]
    assert d.n_input_rows == 8
    assert d.re_terms[0].levels == ("a", "b", "c")
    with pytest.raises(DataError, match="na_action='fail'"):
        build_design("y ~ x + (1|g)", df, na_action="fail")
    with pytest.raises(DataError, match="no rows left"):
        build_design("unused ~ x", df)


# ------------------------------------------------------------------ random effects


def test_re_term_structure(small):
    d = build_design("y ~ x + (f | g)", small)
    (t,) = d.re_terms
    assert t.col_names == ("(Intercept)", "fb", "fc")
    assert t.group == "g" and t.levels == ("1", "2", "3")
    np.testing.assert_array_equal(t.codes, [0, 0, 1, 1, 2, 2] * 2)
    np.testing.assert_array_equal(t.Xi[:, 2], (small["f"] == "c").astype(float))
    d0 = build_design("y ~ x + (0 + f | g)", small)
    assert d0.re_terms[0].col_names == ("fa", "fb", "fc")


def test_nested_interaction_levels_and_names():
    df = pd.DataFrame(
        {
            "y": np.arange(12.0),
            "batch": pd.Categorical(list("AABBCCAABBCC"), categories=list("CBA")),
            "cask": list("abababbaabab"),
        }
    )
    d = build_design("y ~ (1|batch/cask)", df)
    # R: names(lFormula(strength ~ (1|batch/cask), Pastes)$reTrms$cnms) -> "cask:batch" "batch"
    assert [t.group for t in d.re_terms] == ["cask:batch", "batch"]
    # first component varies slowest, second component in its own level order
    assert d.re_terms[0].levels == ("a:C", "a:B", "a:A", "b:C", "b:B", "b:A")
    assert [t.text for t in d.re_terms] == ["1 | cask:batch", "1 | batch"]


def test_lme4_term_ordering():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": rng.normal(size=9), "x": rng.normal(size=9),
                       "g1": np.tile([1, 2, 3], 3), "g2": [1, 2, 3, 4, 5, 1, 2, 3, 4],
                       "g3": np.repeat([1, 2, 3], 3)})
    d = build_design("y ~ x + (1|g1) + (1|g2) + (1|g3)", df)
    # R: names(lFormula(y ~ x + (1|g1) + (1|g2) + (1|g3), dd)$reTrms$cnms) -> "g2" "g3" "g1"
    assert [t.group for t in d.re_terms] == ["g2", "g3", "g1"]
    # no increase anywhere -> formula order kept (lme4 only reorders if any(diff(nl) > 0))
    assert lme4_term_order([18, 18]) == [0, 1]
    assert lme4_term_order([30, 10]) == [0, 1]
    # Penicillin: (1|sample) has 6 levels, (1|plate) 24 -> plate first
    assert lme4_term_order([6, 24]) == [1, 0]


def test_double_vert_terms(small):
    d = build_design("y ~ x + (x || g)", small)
    # R: names(lFormula(Reaction ~ Days + (Days||Subject), sleepstudy)$reTrms$cnms)
    assert [t.group for t in d.re_terms] == ["g", "g"]
    assert [t.col_names for t in d.re_terms] == [("(Intercept)",), ("x",)]


@pytest.mark.parametrize(
    "g, msg",
    [
        # R: lFormula(y ~ x + (1|g), data.frame(y=1:4, x=c(1,3,2,5), g=1))
        ([1, 1, 1, 1], "grouping factors must have > 1 sampled level"),
        # R: lFormula(y ~ x + (1|g), data.frame(y=1:4, x=c(1,3,2,5), g=1:4))
        ([1, 2, 3, 4], r"number of levels of each grouping factor must be < number of "
                       r"observations \(problems: g\)"),
    ],
)
def test_lme4_level_checks(g, msg):
    df = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [1.0, 3, 2, 5], "g": g})
    with pytest.raises(ModelSpecError, match=msg):
        build_design("y ~ x + (1|g)", df)


def test_lme4_nre_check():
    df = pd.DataFrame({"y": np.arange(6.0), "x": [1.0, 3, 2, 5, 4, 4], "g": [1, 1, 2, 2, 3, 3]})
    # R: lFormula(y ~ x + (x|g), data.frame(y=1:6, x=c(1,3,2,5,4,4), g=c(1,1,2,2,3,3)))
    with pytest.raises(ModelSpecError, match=r"number of observations \(=6\) <= number of random "
                       r"effects \(=6\) for term \(x \| g\); the random-effects parameters and "
                       r"the residual variance \(or scale parameter\) are probably unidentifiable"):
        build_design("y ~ x + (x|g)", df)


# ------------------------------------------------------------------ weights / offset


def test_weights_and_offsets(small):
    small = small.assign(x=small["x"].abs() + 1)
    d = build_design("y ~ x + offset(log(x)) + (1|g)", small, weights="x", offset=np.ones(12))
    np.testing.assert_allclose(d.weights, small["x"])
    np.testing.assert_allclose(d.offset, np.log(small["x"]) + 1)
    with pytest.raises(DataError, match="negative weights not allowed"):
        build_design("y ~ x", small, weights=-small["x"].to_numpy())
    with pytest.raises(DataError, match="NA/NaN/Inf in weights"):
        build_design("y ~ x", small, weights=np.r_[np.inf, np.ones(11)])
    with pytest.raises(DataError, match="length 3"):
        build_design("y ~ x", small, offset=[1.0, 2.0, 3.0])


# ------------------------------------------------------------------ new data


def test_spec_materialize_new_data(small):
    d = build_design("y ~ f*scale(x) + b + (x | g)", small)
    nd = d.spec.materialize(small)
    np.testing.assert_allclose(nd.X, d.X)
    np.testing.assert_array_equal(nd.re[0][0], d.re_terms[0].codes)
    np.testing.assert_allclose(nd.re[0][1], d.re_terms[0].Xi)

    new = pd.DataFrame({"f": ["c", "a"], "x": [2.0, 10.0], "b": [False, True], "g": [3, 99]})
    nd = d.spec.materialize(new)
    x = small["x"].to_numpy()
    sx = (new["x"].to_numpy() - x.mean()) / x.std(ddof=1)
    assert nd.X.shape == (2, len(d.x_names))
    np.testing.assert_allclose(nd.X[:, d.x_names.index("scale(x)")], sx)
    np.testing.assert_allclose(nd.X[:, d.x_names.index("fc")], [1.0, 0.0])
    np.testing.assert_array_equal(nd.re[0][0], [2, -1])  # unseen group -> -1

    with pytest.raises(DataError, match="new level.*'zz'"):
        d.spec.materialize(new.assign(f=["zz", "a"]))


def test_spec_interaction_groups():
    df = pd.DataFrame({"y": np.arange(8.0), "a": list("xxyyxxyy"), "b": [1, 2, 1, 2, 1, 2, 1, 1]})
    d = build_design("y ~ (1|a:b)", df)
    assert d.re_terms[0].levels == ("x:1", "x:2", "y:1", "y:2")
    new = pd.DataFrame({"a": ["y", "x", "z"], "b": [2, 1, 1]})
    np.testing.assert_array_equal(d.spec.materialize(new).re[0][0], [3, 0, -1])


# ------------------------------------------------------------------ performance


def test_build_is_fast_on_large_data():
    rng = np.random.default_rng(2)
    n = 73_000
    df = pd.DataFrame(
        {
            "y": rng.integers(1, 6, n),
            "s": pd.Categorical(rng.integers(0, 2972, n)),
            "d": pd.Categorical(rng.integers(0, 1128, n)),
            "service": pd.Categorical(rng.integers(0, 2, n)),
            "dept": pd.Categorical(rng.integers(0, 14, n)),
            "lectage": pd.Categorical(rng.integers(0, 6, n), ordered=True),
        }
    )
    f = "y ~ service + lectage + (1|s) + (1|d) + (1|dept:service)"
    build_design(f, df)
    t0 = time.perf_counter()
    d = build_design(f, df)
    elapsed = time.perf_counter() - t0
    assert [t.group for t in d.re_terms] == ["s", "d", "dept:service"]
    assert elapsed < 0.5  # typically ~15 ms; generous bound for loaded CI machines
