"""BOBYQA through the system NLopt C library (the one R's nloptr links), via ctypes.

lme4's default optimizer is ``nloptwrap``: NLopt's BOBYQA called through R's
nloptr, which on Debian links the system ``libnlopt.so.0``.  Driving that same
library from Python, with nloptwrap's settings (and nloptr's default
xtol_rel = 1e-4), reproduces lme4's optimizer path evaluation for evaluation while
the objectives agree (~1e-13): sleepstudy and Orthodont stop after the same
evaluations at θ within 1e-9.  On long flat paths (e.g. Pixel, BodyWeight)
rounding eventually separates the paths.  When the library is absent,
:mod:`interlace.optimize.backends` falls back to the ``nlopt`` wheel from PyPI
(same algorithm, possibly a different release).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

import numpy as np

NLOPT_LN_BOBYQA = 34
_FUNC = ctypes.CFUNCTYPE(
    ctypes.c_double, ctypes.c_uint, ctypes.POINTER(ctypes.c_double),
    ctypes.POINTER(ctypes.c_double), ctypes.c_void_p,
)
_RESULTS = {1: "NLOPT_SUCCESS", 2: "NLOPT_STOPVAL_REACHED", 3: "NLOPT_FTOL_REACHED",
            4: "NLOPT_XTOL_REACHED", 5: "NLOPT_MAXEVAL_REACHED", 6: "NLOPT_MAXTIME_REACHED",
            -1: "NLOPT_FAILURE", -2: "NLOPT_INVALID_ARGS", -3: "NLOPT_OUT_OF_MEMORY",
            -4: "NLOPT_ROUNDOFF_LIMITED", -5: "NLOPT_FORCED_STOP"}


def _load() -> ctypes.CDLL | None:
    for name in ("libnlopt.so.0", ctypes.util.find_library("nlopt")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.nlopt_create.restype = ctypes.c_void_p
        lib.nlopt_create.argtypes = [ctypes.c_int, ctypes.c_uint]
        lib.nlopt_destroy.argtypes = [ctypes.c_void_p]
        dbl_p = ctypes.POINTER(ctypes.c_double)
        for fn in ("nlopt_set_lower_bounds", "nlopt_set_upper_bounds"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p, dbl_p]
        lib.nlopt_set_min_objective.argtypes = [ctypes.c_void_p, _FUNC, ctypes.c_void_p]
        for fn in ("nlopt_set_xtol_abs1", "nlopt_set_ftol_abs", "nlopt_set_xtol_rel",
                   "nlopt_set_ftol_rel"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_double]
        lib.nlopt_set_maxeval.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.nlopt_force_stop.argtypes = [ctypes.c_void_p]
        lib.nlopt_optimize.argtypes = [ctypes.c_void_p, dbl_p, dbl_p]
        lib.nlopt_version.argtypes = [ctypes.POINTER(ctypes.c_int)] * 3
        return lib
    return None


_LIB = _load()
AVAILABLE = _LIB is not None


def version() -> str | None:
    """The system NLopt version, or None when it is not installed."""
    if _LIB is None:
        return None
    v = [ctypes.c_int() for _ in range(3)]
    _LIB.nlopt_version(*[ctypes.byref(x) for x in v])
    return ".".join(str(x.value) for x in v)


def bobyqa(fun: Callable[[np.ndarray], float], x0: np.ndarray, lower: np.ndarray,
           upper: np.ndarray, xtol_abs: float, ftol_abs: float, maxeval: int,
           xtol_rel: float = 0.0, ftol_rel: float = 0.0) -> tuple[np.ndarray, float, int, int]:
    """Minimize with the system library; returns (x, f, n_evals, nlopt result code)."""
    assert _LIB is not None
    n = len(x0)
    opt = _LIB.nlopt_create(NLOPT_LN_BOBYQA, n)
    counter = [0]
    raised: list[BaseException] = []

    def cb(nn, x, grad, data):
        # an exception must not cross the C frames (ctypes would print it and return 0):
        # keep it, stop NLopt, and raise it again once nlopt_optimize has returned
        if raised:
            return float("nan")
        counter[0] += 1
        try:
            return float(fun(np.ctypeslib.as_array(x, shape=(nn,)).copy()))
        except BaseException as e:  # noqa: BLE001 - re-raised below, unchanged
            raised.append(e)
            _LIB.nlopt_force_stop(opt)
            return float("nan")

    cfun = _FUNC(cb)
    arr = ctypes.c_double * n
    try:
        _LIB.nlopt_set_lower_bounds(opt, arr(*lower))
        _LIB.nlopt_set_upper_bounds(opt, arr(*upper))
        _LIB.nlopt_set_min_objective(opt, cfun, None)
        _LIB.nlopt_set_xtol_abs1(opt, xtol_abs)
        _LIB.nlopt_set_ftol_abs(opt, ftol_abs)
        _LIB.nlopt_set_xtol_rel(opt, xtol_rel)
        _LIB.nlopt_set_ftol_rel(opt, ftol_rel)
        _LIB.nlopt_set_maxeval(opt, int(maxeval))
        x = arr(*x0)
        f = ctypes.c_double()
        code = _LIB.nlopt_optimize(opt, x, ctypes.byref(f))
        if raised:
            raise raised[0]
        return np.array(x[:]), f.value, counter[0], int(code)
    finally:
        _LIB.nlopt_destroy(opt)


def result_name(code: int) -> str:
    """NLopt's name of a result code."""
    return _RESULTS.get(code, str(code))
