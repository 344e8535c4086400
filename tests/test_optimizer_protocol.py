"""Bring your own optimizer (issue 12): ``optimizer=`` takes a callable following a
documented protocol, ``interlace.optimize.register`` names one, ``res.all_fit()`` refits a
model with every optimizer, and ``nox -s optimizers -- --optimizer module:function`` runs
the catalog with a user's optimizer beside the built-in ones."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from parity import optimizers

import interlace
import user_optimizers
from conftest import dataset
from interlace.errors import InterlaceError
from interlace.optimize import BACKENDS, available_optimizers, register, unregister

SLEEP = "Reaction ~ Days + (Days | Subject)"


def _quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **kw)


@pytest.fixture(scope="module")
def base():
    return _quiet(interlace.fit, SLEEP, dataset("sleepstudy"))


@pytest.mark.parametrize("fn", [user_optimizers.powell, user_optimizers.coordinate_search])
def test_a_callable_reaches_lme4s_optimum(base, fn):
    res = _quiet(interlace.fit, SLEEP, dataset("sleepstudy"), optimizer=fn)
    assert res.optinfo.optimizer == fn.__name__
    assert res.objective == pytest.approx(base.objective, rel=1e-9)
    np.testing.assert_allclose(res.theta, base.theta, rtol=1e-4)
    assert res.optinfo.n_evals > 0 and res.optinfo.path  # counted when not returned


def test_register_names_an_optimizer(base):
    register("powell_test", user_optimizers.powell)
    try:
        assert "powell_test" in available_optimizers() and "powell_test" in BACKENDS
        res = _quiet(interlace.fit, SLEEP, dataset("sleepstudy"), optimizer="powell_test")
        assert res.objective == pytest.approx(base.objective, rel=1e-9)
        with pytest.raises(InterlaceError, match="already registered"):
            register("powell_test", user_optimizers.powell)
        register("powell_test", user_optimizers.coordinate_search, replace=True)
        g = _quiet(interlace.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                   dataset("cbpp"), family="binomial", optimizer="powell_test")
        ref = _quiet(interlace.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                     dataset("cbpp"), family="binomial")
        assert g.objective == pytest.approx(ref.objective, rel=1e-8)
        assert [s.optimizer for s in g.stages] == ["powell_test", "powell_test"]
    finally:
        unregister("powell_test")
    assert "powell_test" not in BACKENDS


@pytest.mark.parametrize("name", ["bobyqa", "Nelder_Mead", "nloptwrap", ""])
def test_builtin_names_cannot_be_taken(name):
    with pytest.raises(InterlaceError):
        register(name, user_optimizers.powell)


@pytest.mark.parametrize("out, match", [
    ({"fun": 1.0}, "must return the optimum as x"),
    ({"x": [1.0], "fun": 1.0}, r"shape \(1,\)"),
    ({"x": [1.0, np.nan, 1.0], "fun": 1.0}, "not finite"),
    ({"x": [1.0, 0.0, 1.0], "fun": float("nan")}, "non-finite objective"),
    ({"x": "abc", "fun": 1.0}, "non-numeric"),
])
def test_bad_returns_are_named(out, match):
    with pytest.raises(InterlaceError, match=match):
        interlace.fit(SLEEP, dataset("sleepstudy"), optimizer=lambda *a: out)


def test_all_fit_tabulates_every_optimizer(base):
    def broken(objective, x0, lower, upper, settings):
        raise RuntimeError("diverged")

    tab = base.all_fit(["bobyqa", "nelder_mead", user_optimizers.powell, broken])
    assert list(tab.index) == ["bobyqa", "nelder_mead", "powell", "broken"]
    ok = tab.loc[["bobyqa", "nelder_mead", "powell"]]
    assert (ok["gap"] >= 0).all() and (ok["gap"] < 1e-6).all()
    assert tab.loc["broken", "error"] == "RuntimeError: diverged"
    for name in base.theta_names:
        np.testing.assert_allclose(ok[f"theta:{name}"], base.theta[base.theta_names.index(name)],
                                   rtol=1e-4, atol=1e-6)
    assert list(ok.columns[:7]) == ["objective", "gap", "evaluations", "converged", "seconds",
                                    "warnings", "error"]
    default = base.all_fit()
    assert set(default.index) >= {"bobyqa", "minqa", "nelder_mead", "lbfgsb"}


def test_optimizers_session_runs_a_users_optimizer(tmp_path, monkeypatch):
    monkeypatch.setattr(optimizers, "REPORTS", tmp_path)
    spec = "user_optimizers:powell"
    try:
        status = optimizers.main(["--case", "dyestuff_reml", "--case", "cbpp_cbind",
                                  "--optimizer", spec])
    finally:
        if spec in BACKENDS:
            unregister(spec)
    js = json.loads((tmp_path / "optimizers.json").read_text())
    names = [o["name"] for o in js["optimizers"]]
    assert names[-1] == spec and "bobyqa" in names  # beside the built-in ones
    mine = [r for r in js["results"] if spec in r["optimizer"]]
    assert {r["case"] for r in mine} == {"dyestuff_reml", "cbpp_cbind"}
    glmm = next(r for r in mine if r["case"] == "cbpp_cbind")
    assert glmm["optimizer"] == f"{spec}+{spec}"
    assert all(r["error"] is None and r["passed"] for r in mine)
    assert status == (0 if all(r["passed"] for r in js["results"]) else 1)
    with pytest.raises(SystemExit, match="choose from"):
        optimizers.main(["--optimizer", "nosuch"])


def test_a_users_non_convergence_is_reported_by_name():
    def gave_up(objective, x0, lower, upper, settings):
        r = user_optimizers.powell(objective, x0, lower, upper, settings)
        return {"x": r.x, "fun": r.fun, "success": False, "message": "budget spent"}

    with pytest.warns(interlace.ConvergenceWarning, match="optimizer gave_up did not converge"):
        res = interlace.fit(SLEEP, dataset("sleepstudy"), optimizer=gave_up)
    assert not res.converged
    assert "optimizer (gave_up) convergence code: 1 (budget spent)" in str(res.summary())
