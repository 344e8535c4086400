"""Optimizer backends: one function per optimizer, same signature and return.

Each backend minimizes ``fun`` over a box (lower bounds may be −∞) from ``x0``
and returns an :class:`OptResult`.  Settings default to lme4's:
``"bobyqa"`` is NLopt's BOBYQA with ``xtol_abs = ftol_abs = 1e-8`` and
``maxeval = 1e5`` exactly as lme4's default ``nloptwrap``; ``"minqa"`` is minqa's BOBYQA
(lme4's ``optimizer = "bobyqa"``, interlace's port); ``"pybobyqa"`` is
Py-BOBYQA (pure Python, slower per iteration); ``"nelder_mead"`` and
``"lbfgsb"`` are SciPy's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from interlace.errors import InterlaceError

Objective = Callable[[np.ndarray], float]


@dataclass
class OptResult:
    """What a backend reports."""

    x: np.ndarray
    fun: float
    n_evals: int
    converged: bool
    message: str
    settings: dict = field(default_factory=dict)


def _known(settings: dict, allowed: tuple[str, ...], optimizer: str) -> None:
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise InterlaceError(f"unknown {optimizer} setting(s) {', '.join(unknown)}; "
                             f"valid: {', '.join(allowed)}")


def _nlopt_bobyqa(fun: Objective, x0, lower, upper, settings: dict) -> OptResult:
    """NLopt BOBYQA: the system libnlopt (as R's nloptr) if present, else the PyPI wheel."""
    from interlace.optimize import libnlopt

    _known(settings, ("xtol_abs", "ftol_abs", "maxeval", "xtol_rel", "ftol_rel", "library"),
           "bobyqa")
    # lme4's nloptwrap sets xtol_abs, ftol_abs and maxeval; the rest are nloptr's own
    # defaults (nloptr.get.default.options(): xtol_rel = 1e-4, ftol_rel = 0), and lme4's
    # fits often stop on xtol_rel, so it must be the same here to retrace lme4's steps.
    s = {"xtol_abs": 1e-8, "ftol_abs": 1e-8, "maxeval": 100000, "xtol_rel": 1e-4,
         "ftol_rel": 0.0, **settings}
    lib = s.pop("library", "system" if libnlopt.AVAILABLE else "pypi")
    args = (s["xtol_abs"], s["ftol_abs"], int(s["maxeval"]), s["xtol_rel"], s["ftol_rel"])
    if lib == "system":
        x, f, nev, code = libnlopt.bobyqa(fun, np.asarray(x0, float), np.asarray(lower, float),
                                          np.asarray(upper, float), *args)
        s["library"] = f"system libnlopt {libnlopt.version()}"
    else:
        x, f, nev, code = _pypi_nlopt(fun, x0, lower, upper, *args)
        s["library"] = "nlopt (PyPI)"
    ok = code > 0 and code != 5
    return OptResult(np.asarray(x), float(f), nev, ok, libnlopt.result_name(code), s)


def _pypi_nlopt(fun: Objective, x0, lower, upper, xtol_abs, ftol_abs, maxeval, xtol_rel,
                ftol_rel):
    import nlopt

    opt = nlopt.opt(nlopt.LN_BOBYQA, len(x0))
    opt.set_lower_bounds(lower)
    opt.set_upper_bounds(upper)
    opt.set_min_objective(lambda x, grad: fun(x))
    opt.set_xtol_abs(xtol_abs)
    opt.set_ftol_abs(ftol_abs)
    opt.set_xtol_rel(xtol_rel)
    opt.set_ftol_rel(ftol_rel)
    opt.set_maxeval(maxeval)
    try:
        x = opt.optimize(np.asarray(x0, dtype=float))
        code = opt.last_optimize_result()
    except nlopt.RoundoffLimited:  # pragma: no cover - rare
        x, code = np.asarray(x0, dtype=float), -4
    return x, opt.last_optimum_value(), opt.get_numevals(), code


def _pybobyqa(fun: Objective, x0, lower, upper, settings: dict) -> OptResult:
    import pybobyqa

    _known(settings, ("rhobeg", "rhoend", "maxfun"), "pybobyqa")
    big = 1e20
    lo = np.where(np.isfinite(lower), lower, -big)
    hi = np.where(np.isfinite(upper), upper, big)
    s = {"rhobeg": 0.2 * max(1.0, float(np.max(np.abs(x0)))), "rhoend": 1e-8,
         "maxfun": 100000, **settings}
    r = pybobyqa.solve(fun, np.asarray(x0, dtype=float), bounds=(lo, hi), rhobeg=s["rhobeg"],
                       rhoend=s["rhoend"], maxfun=int(s["maxfun"]), objfun_has_noise=False,
                       scaling_within_bounds=False, do_logging=False)
    ok = r.flag in (r.EXIT_SUCCESS, r.EXIT_SLOW_WARNING)
    return OptResult(np.asarray(r.x), float(r.f), int(r.nf), ok, str(r.msg), s)


def _minqa(fun: Objective, x0, lower, upper, settings: dict) -> OptResult:
    """minqa's BOBYQA (interlace's port, :mod:`interlace.optimize.powell`) with minqa's
    defaults, as lme4's ``optimizer = "bobyqa"`` (and its ``refitML``) runs it."""
    from interlace.optimize.powell import bobyqa

    _known(settings, ("npt", "rhobeg", "rhoend", "maxfun"), "minqa")
    x0 = np.array(x0, dtype=float)
    if np.all(x0 == 0):  # optwrap: a start of all zeros becomes 0.001
        x0[:] = 0.001
    return bobyqa(fun, x0, lower, upper, **settings)


def _scipy(method: str):
    def run(fun: Objective, x0, lower, upper, settings: dict) -> OptResult:
        from scipy.optimize import minimize

        bounds = list(zip(np.where(np.isfinite(lower), lower, None),
                          np.where(np.isfinite(upper), upper, None), strict=True))
        if method == "Nelder-Mead":
            s = {"xatol": 1e-10, "fatol": 1e-10, "maxfev": 100000, "adaptive": False, **settings}
        else:
            s = {"ftol": 1e-14, "gtol": 1e-9, "maxfun": 100000, "eps": 1e-8, **settings}
        r = minimize(fun, np.asarray(x0, dtype=float), method=method, bounds=bounds, options=s)
        return OptResult(np.asarray(r.x), float(r.fun), int(r.nfev), bool(r.success),
                         str(r.message), s)

    return run


BACKENDS: dict[str, Callable[..., OptResult]] = {
    "bobyqa": _nlopt_bobyqa,
    "minqa": _minqa,
    "pybobyqa": _pybobyqa,
    "nelder_mead": _scipy("Nelder-Mead"),
    "lbfgsb": _scipy("L-BFGS-B"),
}


def available_optimizers() -> list[str]:
    """Names of the optimizers whose packages are importable here."""
    out = []
    for name, mod in (("bobyqa", "nlopt"), ("minqa", "numpy"), ("pybobyqa", "pybobyqa"),
                      ("nelder_mead", "scipy"), ("lbfgsb", "scipy")):
        try:
            __import__(mod)
            out.append(name)
        except ImportError:  # pragma: no cover
            pass
    return out
