"""WeightedBlocks + BlockedFactor.refresh equal a factor built afresh from √W[Z X z]."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import dataset
from interlace.design import build_design
from interlace.formula import compose_formula
from interlace.linalg import make_factor
from interlace.linalg.blocked import BlockedFactor
from interlace.linalg.crossprod import CrossProducts, TermData
from interlace.linalg.weighted import WeightedBlocks


@pytest.mark.parametrize(("name", "formula", "theta"), [
    ("cbpp", "incidence ~ period + (1 | herd)", [0.7]),
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", [0.9, 0.1, 0.3]),
    ("Orthodont", "distance ~ age + (age | Subject) + (1 | Sex)", [1.1, -0.2, 0.4, 0.6]),
    ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", [1.5, 3.5]),
    ("InstEval", "y ~ service + (1 | s) + (1 | d) + (1 | dept)", [0.3, 0.5, 0.2]),
])
def test_refreshed_factor_equals_a_fresh_one(name, formula, theta):
    d = dataset(name)
    des = build_design(compose_formula(formula), d)
    terms = [TermData(t.codes, t.Xi, len(t.levels)) for t in des.re_terms]
    ps, ls = [t.p for t in terms], [t.n_levels for t in terms]
    from interlace.covariance import CovarianceLayout

    layout = CovarianceLayout.from_terms([t.group for t in des.re_terms],
                                         [t.col_names for t in des.re_terms], ls)
    templates = layout.templates(np.asarray(theta))
    base = make_factor(CrossProducts.build(des.X, np.zeros(des.n), terms, shift=False), ps, ls,
                       "blocked")
    assert isinstance(base, BlockedFactor)
    blocks = WeightedBlocks(base, terms, des.X)
    rng = np.random.default_rng(1)
    for _ in range(2):
        W = rng.uniform(0.2, 3.0, des.n)
        z = des.y + rng.standard_normal(des.n)
        base.refresh(*blocks.compute(W, z))
        ld_a, S_a = base.update(templates)
        u_a = base.solve_u(np.zeros(des.X.shape[1]))
        fresh = make_factor(CrossProducts.build(des.X, z, terms, weights=W, shift=False), ps,
                            ls, "blocked")
        ld_b, S_b = fresh.update(templates)
        u_b = fresh.solve_u(np.zeros(des.X.shape[1]))
        assert ld_a == pytest.approx(ld_b, rel=1e-12)
        np.testing.assert_allclose(S_a, S_b, rtol=1e-10, atol=1e-10 * np.abs(S_b).max())
        np.testing.assert_allclose(u_a, u_b, rtol=1e-9, atol=1e-9 * np.abs(u_b).max())


@pytest.mark.parametrize("ps,ls", [([1], [15]), ([2], [18]), ([3, 1], [7, 11]),
                                   ([4, 2, 1], [5, 3, 9])])
def test_lambda_apply_is_the_sparse_product_to_the_bit(ps, ls):
    from interlace.linalg.blocked import BlockDiagPattern

    rng = np.random.default_rng(sum(ps) * 100 + sum(ls))
    pat = BlockDiagPattern(ps, ls)
    T = [np.tril(rng.normal(size=(p, p))) for p in ps]
    u = rng.normal(size=pat.q)
    np.testing.assert_array_equal(pat.apply(T, u), pat.matrix(T) @ u)
