"""interlace's BOBYQA port against R's ``minqa::bobyqa``, evaluation for evaluation.

``fixtures/r/minqa/bobyqa_paths.json`` (from ``parity/r/minqa_reference.R``) holds, per
test problem, every call R made to the objective (minqa's check call at ``par``, the
Fortran's ``feval`` calls, then ``rval()``'s call at the result) and minqa's result.  The
port must make the same calls at the same points (to 1e-12) and return the same result.
The objectives below are the R script's, with the same arithmetic in the same order, so
that equal points give equal values.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from conftest import ROOT
from interlace.optimize.powell import bobyqa

FIXTURE = ROOT / "fixtures" / "r" / "minqa" / "bobyqa_paths.json"
DATA = json.loads(FIXTURE.read_text())
PROBLEMS = [p for p in DATA["problems"] if not p["minqa_rescue_garbage"]]
GARBAGE = [p for p in DATA["problems"] if p["minqa_rescue_garbage"]]


def _num(v) -> float:
    """A double as io.R writes it: "Inf", "-Inf", "NaN" as strings, NA as null."""
    if isinstance(v, str):
        return {"Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}[v]
    return math.nan if v is None else float(v)


def _arr(vs) -> np.ndarray:
    return np.array([_num(v) for v in vs], dtype=float)


# ---- the R script's objectives ------------------------------------------------------

def quadform(y, A):
    n = len(y)
    v = 0.0
    for i in range(n):
        for j in range(n):
            v = v + y[i] * A[i * n + j] * y[j]
    return v


def rosenbrock(x):
    v = 0.0
    for i in range(len(x) - 1):
        a = x[i + 1] - x[i] * x[i]
        b = 1 - x[i]
        v = v + 100 * a * a + b * b
    return v


def variance_at_zero(x):
    a = x[0] + 0.3
    return a * a + 0.1 * x[0] * x[0] * x[0] * x[0]


def profile_1d(x):
    q = 1 + x[0] * x[0]
    return 10 * math.log(q) + 30 / q


A3 = [4, 1.5, 0.5, 1.5, 3, 1, 0.5, 1, 2]


def quad_corr3(x):
    b = [1, -2, 0.5]
    v = 0.5 * quadform(x, A3)
    for i in range(3):
        v = v - b[i] * x[i]
    return v


def theta3(x):
    a = x[0] - 0.8
    b = x[1] - 0.3 * x[0] + 0.1
    c = x[2] + 0.2
    return a * a + 2 * b * b + c * c * (1 + x[0] * x[0])


def flat5(x):
    a = x[0] - 0.3
    b = x[1] + 0.2
    c = x[2] - x[0]
    d = x[4] - 1
    return a * a + 2 * b * b + c * c + 0.5 * d * d + 0.3 * x[0] * x[1]


S5 = [0.1, 0.3, 1, 3, 10]
C5 = [0.1, 0.2, 0.3, 0.4, 0.5]


def scaled5(x):
    v = 0.0
    for i in range(5):
        t = S5[i] * (x[i] - C5[i])
        v = v + t * t
    return v + 0.1 * (x[0] - C5[0]) * (x[4] - C5[4])


A8 = [2.0 if i == j else 0.5 if abs(i - j) == 1 else 0.0 for i in range(8) for j in range(8)]
M8 = [0.5, -0.3, 0.2, -0.4, 0.1, 0.7, -0.2, 0.3]


def theta8(x):
    y = [x[i] - M8[i] for i in range(8)]
    v = quadform(y, A8)
    for i in range(8):
        v = v + 0.1 * y[i] * y[i] * y[i] * y[i]
    return v


A4R = [3.8204, -4.5922, 0.9892, 3.3195, -4.5922, 6.0065, -1.4651, -3.4663,
       0.9892, -1.4651, 0.794, 1.2195, 3.3195, -3.4663, 1.2195, 5.22]
S4R = [0.037, 0.094, 0.287, 0.86]
C4R = [-2.72, -0.61, 0.38, 0.46]


def rescue4(x):
    y = [(x[i] - C4R[i]) * S4R[i] for i in range(4)]
    v = quadform(y, A4R)
    for i in range(4):
        v = v + abs(y[i])
    return v


A3Q = [2.0661, -1.443, 1.8819, -1.443, 2.4456, -1.8965, 1.8819, -1.8965, 1.9695]
S3Q = [21.495, 52.443, 0.015]
C3Q = [1.29, 0.4, 0.2]


def quad3q(x):
    return quadform([(x[i] - C3Q[i]) * S3Q[i] for i in range(3)], A3Q)


def narrow2(x):
    a = x[0] - 1.3
    b = x[1] - 0.2
    return a * a + 5 * b * b


def nonfinite2(x):
    if x[0] + x[1] > 2.5:
        return math.inf
    if x[0] < -1:
        return math.nan
    a = x[0] - 1.5
    b = x[1] - 1.5
    return a * a + b * b + 0.5 * a * b


def near2(x):
    a = x[0] - 0.1
    b = x[1] - 1.95
    return a * a + 3 * b * b + 0.2 * x[0] * x[1]


A3C = [8.0683, -0.2322, 0.2069, -0.2322, 4.8159, 3.6684, 0.2069, 3.6684, 4.7815]
S3C = [8.406, 0.358, 27.343]
C3C = [-0.08, -0.67, 0.76]


def cliff3(x):
    if x[0] > C3C[0] + 0.5:
        return math.inf
    return quadform([(x[i] - C3C[i]) * S3C[i] for i in range(3)], A3C)


A2G = [0.69, 1.6541, 1.6541, 4.8431]
S2G = [2.351, 2.96]
C2G = [0.9, -1.15]


def quad2g(x):
    return quadform([(x[i] - C2G[i]) * S2G[i] for i in range(2)], A2G)


FUNCTIONS = {
    "rosenbrock_n2_box": rosenbrock,
    "rosenbrock_n2_upper_active": rosenbrock,
    "variance_n1_at_zero": variance_at_zero,
    "profile_n1_interior": profile_1d,
    "quad_corr_n3_free": quad_corr3,
    "theta_n3_start_on_bound": theta3,
    "flat_n5": flat5,
    "scaled_n5_free": scaled5,
    "theta_n8_mixed": theta8,
    "rosenbrock_n3_maxfun": rosenbrock,
    "maxfun_below_npt_n2": rosenbrock,
    "rescue_n4_tiny_rhobeg": rescue4,
    "ierr3_n3_tiny_rhoend": quad3q,
    "narrow_range_n2": narrow2,
    "npt_full_n3": rosenbrock,
    "nonfinite_n2": nonfinite2,
    "near_bounds_n2": near2,
    "cliff_n3_start_inf": cliff3,
    "rescue_evals_n2_minqa_garbage": quad2g,
}

TOL = 1e-12


def _run(problem):
    """The port on ``problem``'s objective, with every call recorded."""
    fun = FUNCTIONS[problem["name"]]
    xs, fs = [], []

    def recorder(x):
        v = fun([float(t) for t in x])
        xs.append(np.array(x, dtype=float))
        fs.append(v)
        return v

    ctrl = {k: v for k, v in problem["control"].items() if k != "iprint"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = bobyqa(recorder, _arr(problem["x0"]), _arr(problem["lower"]),
                     _arr(problem["upper"]), **ctrl)
    return res, xs, fs, [str(w.message) for w in caught]


def test_fixture_covers_the_brief():
    ns = {p["n"] for p in PROBLEMS}
    assert {1, 2, 3, 5, 8} <= ns
    assert len(PROBLEMS) >= 10
    assert {p["result"]["ierr"] for p in PROBLEMS} >= {0, 1, 3}
    assert set(FUNCTIONS) == {p["name"] for p in DATA["problems"]}
    assert DATA["provenance"]["minqa"] == "1.2.5"


@pytest.mark.parametrize("problem", PROBLEMS, ids=[p["name"] for p in PROBLEMS])
def test_path_is_minqas(problem):
    res, xs, fs, warned = _run(problem)
    rx = [_arr(x) for x in problem["trace"]["x"]]
    rf = _arr(problem["trace"]["f"])
    r = problem["result"]
    # The same points, in the same order.
    for i, (a, b) in enumerate(zip(xs, rx, strict=False)):
        if not np.all(np.abs(a - b) <= TOL + TOL * np.abs(b)):
            pytest.fail(f"{problem['name']}: first divergence at call {i} of {len(rx)}: "
                        f"R x = {b.tolist()}, port x = {a.tolist()} "
                        f"(R f = {rf[i]!r}, port f = {fs[i]!r})")
    assert len(xs) == len(rx), f"port made {len(xs)} calls, R {len(rx)}"
    # Equal points give equal values (the objectives are the R script's arithmetic).
    np.testing.assert_allclose(np.array(fs, dtype=float), rf, rtol=1e-14, atol=0,
                               equal_nan=True)
    # minqa's result.
    assert res.n_evals == r["feval"]
    assert len(rx) == r["feval"] + 2  # minqa's check call, the Fortran's, rval()'s
    np.testing.assert_allclose(res.x, _arr(r["par"]), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(res.fun, _num(r["fval"]), rtol=1e-14, atol=0)
    assert res.settings["ierr"] == r["ierr"]
    assert res.message == r["msg"]
    assert res.converged == (r["ierr"] == 0)
    assert res.settings["rescue_evals"] == 0  # R evaluates garbage there: see powell.py
    assert warned == problem["warnings"]  # minqa's warnings, in R's order


@pytest.mark.parametrize("problem", GARBAGE, ids=[p["name"] for p in GARBAGE])
def test_path_is_minqas_up_to_rescues_garbage_call(problem, monkeypatch):
    """minqa's RESCUE calls ``CALFUN(N,X,IPRINT)`` with ``X`` an undefined local (Powell's
    code passes ``W``, the new point), so minqa.so evaluates the objective at stack
    contents, which include the per-process random stack canary.  R's path after that call
    is not reproducible even by R; the port evaluates Powell's point.  Up to that call the
    paths must be the same; at it, R's point is not the one Powell's code evaluates."""
    import interlace.optimize.powell as powell

    first_rescue_call = []
    rescue = powell.rescue

    def spy(*args, **kwargs):
        before = len(seen)
        out = rescue(*args, **kwargs)
        if out[2] and not first_rescue_call:
            first_rescue_call.append(before)
        return out

    seen = []
    monkeypatch.setattr(powell, "rescue", spy)
    fun = FUNCTIONS[problem["name"]]

    def recorder(x):
        seen.append(np.array(x, dtype=float))
        return fun([float(t) for t in x])

    ctrl = {k: v for k, v in problem["control"].items() if k != "iprint"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bobyqa(recorder, _arr(problem["x0"]), _arr(problem["lower"]),
                     _arr(problem["upper"]), **ctrl)
    assert first_rescue_call, "the port no longer makes RESCUE evaluate F here"
    k = first_rescue_call[0]
    rx = [_arr(x) for x in problem["trace"]["x"]]
    for i in range(k):
        np.testing.assert_allclose(seen[i], rx[i], rtol=TOL, atol=TOL, err_msg=f"call {i}")
    lo, hi = _arr(problem["lower"]), _arr(problem["upper"])
    assert np.all((seen[k] >= lo) & (seen[k] <= hi))  # Powell's point, inside the box
    if len(rx) > k:  # minqa's garbage (else R stopped: "non-finite x values ...")
        assert not np.allclose(seen[k], rx[k], rtol=1e-6, atol=0)
    else:
        assert problem["result"]["error"] is not None
    assert res.settings["rescue_evals"] > 0


def test_exception_in_objective_propagates():
    class Boom(Exception):
        pass

    for at in (1, 3, 60):  # minqa's check call, PRELIM, the main loop
        err = Boom(f"from call {at}")
        calls = []

        def fun(x, at=at, err=err, calls=calls):
            calls.append(x.copy())
            if len(calls) == at:
                raise err
            return rosenbrock(list(x))

        with pytest.raises(Boom) as info:
            bobyqa(fun, [-1.2, 1.0], [-5, -5], [5, 5])
        assert info.value is err
        assert len(calls) == at


def test_defaults_are_minqas():
    res = bobyqa(rosenbrock, [-1.2, 1.0], -np.inf, np.inf, maxfun=5000)
    assert res.settings["npt"] == 4
    assert res.settings["rhobeg"] == min(0.95, 0.2 * 1.2)
    assert res.settings["rhoend"] == 1e-6 * res.settings["rhobeg"]
    one = bobyqa(variance_at_zero, [1.0], 0.0, np.inf)
    assert one.settings["npt"] == 3
    assert one.converged and abs(one.x[0]) < 1e-6
