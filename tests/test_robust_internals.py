"""Issue 9's building blocks: the shifted response, BLAS thread policy, error plumbing."""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest

import interlace
from conftest import dataset
from interlace.design.checks import InputChecks
from interlace.errors import InterlaceError, ModelSpecError, NumericalError
from interlace.linalg import threads
from interlace.linalg.centering import dd_residual, shift_response
from interlace.optimize.backends import BACKENDS


def _exact_residual(X, y, b, offset=None):
    out = []
    for i in range(len(y)):
        r = Fraction(float(y[i])) - (Fraction(float(offset[i])) if offset is not None else 0)
        for j in range(X.shape[1]):
            r -= Fraction(float(X[i, j])) * Fraction(float(b[j]))
        out.append(float(r))  # correctly rounded
    return np.array(out)


def test_dd_residual_is_the_correctly_rounded_exact_residual():
    rng = np.random.default_rng(0)
    n = 60
    X = np.column_stack([np.ones(n), rng.standard_normal(n), rng.integers(0, 2, n),
                         rng.standard_normal(n) * 1e6])
    b = np.array([1e9 + 0.123, -3.7, 2.5e-3, 1.1e-7])
    y = X @ b + rng.standard_normal(n)
    off = rng.standard_normal(n) * 1e8
    got = dd_residual(X, y + off, b, off)
    exact = _exact_residual(X, y + off, b, off)
    # double-double: within a unit in the last place of the residual itself
    assert np.all(np.abs(got - exact) <= 2 * np.spacing(np.abs(exact)))


def test_shift_response_is_orthogonal_and_exact_for_its_shift():
    rng = np.random.default_rng(1)
    X = np.column_stack([np.ones(200), rng.standard_normal(200)])
    y = 1e10 + 3.0 * X[:, 1] + rng.standard_normal(200)
    w = rng.uniform(0.5, 2.0, 200)
    s = shift_response(X, y, weights=w)
    np.testing.assert_array_equal(s.y0, dd_residual(X, y, s.beta0))
    # the shifted response carries no more than the residuals (no 1e10 left in it)
    assert np.max(np.abs(s.y0)) < 10
    # what is left along X is the rounding of b₀ itself (a double near 1e10)
    assert abs(np.sum(w * s.y0) / np.sum(w)) <= 4 * np.spacing(s.beta0[0])


def test_serial_blas_limits_and_restores():
    before = threads.max_threads()
    with threads.serial_blas():
        ctl = threads._controller()
        if ctl is not None:
            assert all(lib.num_threads == 1 for lib in ctl.lib_controllers
                       if lib.user_api == "blas")
    ctl = threads._controller()
    if ctl is not None:
        assert max(lib.num_threads for lib in ctl.lib_controllers
                   if lib.user_api == "blas") == before


def test_adaptive_threads_follow_the_free_cores(monkeypatch):
    at = threads.AdaptiveThreads(threads=2)
    calls = []

    def slow():
        calls.append(1)
        import time
        time.sleep(threads.MIN_SECONDS * 1.5)
        return 7

    assert at(slow) == 7 and at.enabled  # long enough for threads to matter
    assert at.choice == 1  # nothing measured yet: one thread
    at._load.available = True
    at._load.ncpu = 2
    monkeypatch.setattr(at._load, "others", lambda: 0.05)  # idle machine
    at._since = -1e9
    at(slow)
    assert at.choice == 2
    monkeypatch.setattr(at._load, "others", lambda: 0.98)  # one core taken
    at._since = -1e9
    at(slow)
    assert at.choice == 1
    quick = threads.AdaptiveThreads(threads=2)
    quick(lambda: None)
    assert not quick.enabled  # too short: never switched


def test_cpu_load_reads_proc_stat():
    load = threads.CpuLoad()
    if not load.available:
        pytest.skip("no /proc/stat here")
    sum(i * i for i in range(200_000))  # our own work is not "others"
    others = load.others()
    assert others is not None and 0.0 <= others <= load.ncpu


@pytest.mark.parametrize("name", ["bobyqa", "pybobyqa", "nelder_mead", "lbfgsb"])
def test_exceptions_inside_the_objective_come_back_unchanged(name, capfd):
    class Boom(Exception):
        pass

    k = [0]

    def f(x):
        k[0] += 1
        if k[0] == 3:
            raise Boom("from inside the objective")
        return float((x[0] - 1.0) ** 2)

    with pytest.raises(Boom, match="from inside the objective"):
        BACKENDS[name](f, np.array([2.0]), np.array([0.0]), np.array([np.inf]), {})
    out, err = capfd.readouterr()
    assert err == "" and out == ""


def test_warnings_point_at_the_users_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        interlace.fit("Yield ~ 1 + (1 | Batch)", dataset("Dyestuff2"))
    assert caught and all(w.filename == __file__ for w in caught)


def test_numerical_error_is_both_kinds():
    assert issubclass(NumericalError, InterlaceError)
    assert issubclass(NumericalError, np.linalg.LinAlgError)


def test_input_checks_take_r_names_and_validate():
    checks, rest = InputChecks.split({"check.nlev.gtreq.5": "warning", "check_scaleX": "stop",
                                      "restart_edge": False})
    assert checks.check_nlev_gtreq_5 == "warning" and checks.check_scaleX == "stop"
    assert rest == {"restart_edge": False}
    with pytest.raises(ModelSpecError, match="invalid control level"):
        InputChecks(check_nobs_vs_nlev="perhaps")
    with pytest.raises(ModelSpecError, match="not supported"):
        InputChecks(check_scaleX="warn+rescale")
    assert InputChecks(check_nobs_vs_rankZ="warningSmall").check_nobs_vs_rankZ == "warningSmall"


F = "Reaction ~ Days + (1 | Subject)"
MISUSE = {
    "simulate negative": lambda m, d: m.simulate(-1),
    "simulate text": lambda m, d: m.simulate("a"),
    "simulate seed text": lambda m, d: m.simulate(1, seed="x"),
    "confint method": lambda m, d: m.confint(method="foo"),
    "confint parm": lambda m, d: m.confint(parm="nope"),
    "na_action": lambda m, d: interlace.fit(F, d, na_action="drop"),
    "backend": lambda m, d: interlace.fit(F, d, backend="gpu"),
    "method": lambda m, d: interlace.fit(F, d, method="OLS"),
    "optimizer": lambda m, d: interlace.fit(F, d, optimizer="adam"),
    "optimizer setting": lambda m, d: interlace.fit(F, d, control={"opt_settings": {"x": 1}}),
    "weights text": lambda m, d: interlace.fit(F, d, weights=["a"] * len(d)),
    "weights length": lambda m, d: interlace.fit(F, d, weights=[1, 2]),
    "control type": lambda m, d: interlace.fit(F, d, control=5),
    "start text": lambda m, d: interlace.fit(F, d, control={"start": "a"}),
    "update argument": lambda m, d: m.update(foo=1),
    "predict flag": lambda m, d: m.predict(d.iloc[:2], include_re="x"),
    "one row": lambda m, d: interlace.fit(F, d.iloc[:1]),
    "empty": lambda m, d: interlace.fit(F, d.iloc[:0]),
    "hlm level": lambda m, d: interlace.hlm_resid(m, level="nope"),
    "influence groups": lambda m, d: interlace.influence(m, groups="nope"),
    "evaluate_at nan": lambda m, d: interlace.evaluate_at(F, d, [np.nan]),
}


@pytest.mark.parametrize("name", list(MISUSE))
def test_api_misuse_is_an_interlace_error(name):
    d = dataset("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = interlace.fit(F, d)
        with pytest.raises(InterlaceError):
            MISUSE[name](m, d)


def test_check_boundary_moves_near_bound_parameters_that_lower_the_objective():
    """lme4's check.boundary: θ within tol above 0 goes to 0 when the objective drops
    there; β (beyond ``lower``) is never touched; the objective is evaluated again."""
    from interlace.optimize.driver import check_boundary

    calls = []

    def f(x):
        calls.append(np.array(x))
        return float(x[0] + (x[1] - 0.5) ** 2 - 10 * x[2] + (x[3] + 2e-6) ** 2)

    par = np.array([3e-6, 4e-6, 2e-6, 1e-6])  # θ₀ wants 0, θ₁ is interior, θ₂ wants up
    fval = f(par)
    new, val, moved = check_boundary(f, par, fval, np.zeros(3), 1e-5)
    assert moved == [0]
    np.testing.assert_array_equal(new, [0.0, 4e-6, 2e-6, 1e-6])
    assert val == f(new)
    assert len(calls) == 1 + 3 + 1 + 1  # the call above, three trials, the re-evaluation
    far = np.array([1.0, 0.5, 1.0, 0.0])
    assert check_boundary(f, far, f(far), np.zeros(3), 1e-5) == (far, f(far), [])
