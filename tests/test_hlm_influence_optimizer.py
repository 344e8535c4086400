"""hlm_influence(..., optimizer=...) as the FAQ uses it: the refits (approx=False) run with
the given optimizer, a name or a callable of interlace's protocol; with approx=True (no
refits) it has no effect and says so; an unknown optimizer is an error naming it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

import interlace
from conftest import dataset


@pytest.fixture(scope="module")
def res():
    return interlace.fit("Reaction ~ Days + (Days | Subject)", dataset("sleepstudy"))


def test_refits_use_the_named_optimizer(res):
    """optimizer="bobyqa" refits each subject with lme4's BOBYQA (nloptwrap settings), the
    path of engine="bobyqa" exactly; its optimum is lme4's, which stops within R's own
    refit floor (up to ~1e-3 of a column's scale on the variance ratios) of the tight
    optimum of the default Newton engine."""
    base = interlace.hlm_influence(res, level="Subject", approx=False)
    named = interlace.hlm_influence(res, level="Subject", approx=False, optimizer="bobyqa")
    path = interlace.hlm_influence(res, level="Subject", approx=False, engine="bobyqa")
    assert named.equals(path)
    scale = base.abs().max()
    assert ((named - base).abs().max() / scale).max() < 5e-3
    nm = interlace.hlm_influence(res, level="Subject", approx=False, optimizer="nelder_mead")
    assert not nm.equals(named)  # another optimizer, another path
    assert ((nm - base).abs().max() / scale).max() < 5e-2


def test_refits_use_a_callable_optimizer(res):
    calls = []

    def powell(objective, x0, lower, upper, settings):
        calls.append(1)
        bounds = [(lo, None if not np.isfinite(up) else up) for lo, up in zip(lower, upper,
                                                                               strict=True)]
        return minimize(objective, x0, method="Powell", bounds=bounds,
                        options={"xtol": 1e-10, "ftol": 1e-14, "maxfev": 20000})

    base = interlace.hlm_influence(res, level="Subject", approx=False)
    got = interlace.hlm_influence(res, level="Subject", approx=False, optimizer=powell)
    assert len(calls) == 18  # one refit per subject, each through the user's optimizer
    scale = base.abs().max()
    assert ((got - base).abs().max() / scale).max() < 1e-4


def test_one_step_measures_say_the_optimizer_has_no_effect(res):
    with pytest.warns(interlace.errors.InterlaceWarning, match="no effect with approx=True"):
        out = interlace.hlm_influence(res, optimizer="bobyqa")
    assert out.equals(interlace.hlm_influence(res))


def test_an_unknown_optimizer_is_named(res):
    with pytest.raises(interlace.InterlaceError, match="unknown optimizer 'nope'"):
        interlace.hlm_influence(res, level="Subject", approx=False, optimizer="nope")
