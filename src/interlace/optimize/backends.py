"""Optimizer backends: one function per optimizer, same signature and return, and the
protocol by which users plug in their own (:func:`register`, or a callable as
``optimizer=``).

Each backend minimizes ``fun`` over a box (lower bounds may be −∞) from ``x0``
and returns an :class:`OptResult`.  Settings default to lme4's:
``"bobyqa"`` is NLopt's BOBYQA with ``xtol_abs = ftol_abs = 1e-8`` and
``maxeval = 1e5`` exactly as lme4's default ``nloptwrap``; ``"minqa"`` is minqa's BOBYQA
(lme4's ``optimizer = "bobyqa"``, interlace's port); ``"pybobyqa"`` is
Py-BOBYQA (pure Python, slower per iteration); ``"nelder_mead"`` and
``"lbfgsb"`` are SciPy's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


#: the built-in backends (a registered optimizer cannot take their names, nor glmer's stage
#: names "Nelder_Mead" and "nloptwrap")
BUILTIN = frozenset(BACKENDS) | {"Nelder_Mead", "nloptwrap"}
_USER: dict[str, Callable] = {}


def available_optimizers() -> list[str]:
    """Names of the optimizers whose packages are importable here, then the registered
    ones."""
    out = []
    for name, mod in (("bobyqa", "nlopt"), ("minqa", "numpy"), ("pybobyqa", "pybobyqa"),
                      ("nelder_mead", "scipy"), ("lbfgsb", "scipy")):
        try:
            __import__(mod)
            out.append(name)
        except ImportError:  # pragma: no cover
            pass
    return out + sorted(_USER)


def _field(out, *names, default=None):
    for n in names:
        if isinstance(out, Mapping) and n in out:
            return out[n]
        if not isinstance(out, Mapping) and hasattr(out, n):
            return getattr(out, n)
    return default


def coerce_result(out, name: str, n: int, evals: int) -> OptResult:
    """A user optimizer's return as an :class:`OptResult`, or an error naming what is
    wrong.  Accepted: an OptResult, or a mapping / object with ``x`` and ``fun`` (SciPy's
    ``OptimizeResult`` works), optionally the evaluations (``n_evals``, ``nfev`` or
    ``evaluations``; default: the calls counted), ``converged`` (or ``success``; default
    True) and ``message``."""
    if isinstance(out, OptResult):
        x, fun, nev, conv, msg = out.x, out.fun, out.n_evals, out.converged, out.message
    else:
        x, fun = _field(out, "x"), _field(out, "fun")
        if x is None or fun is None:
            raise InterlaceError(f"optimizer {name!r} must return the optimum as x and its "
                                 f"objective as fun (a mapping, an object or an OptResult); "
                                 f"got {type(out).__name__}")
        nev = _field(out, "n_evals", "nfev", "evaluations", default=evals)
        conv = _field(out, "converged", "success", default=True)
        msg = _field(out, "message", default="")
    try:
        xa = np.asarray(x, dtype=float).reshape(-1)
        fv = float(fun)
    except (TypeError, ValueError):
        raise InterlaceError(f"optimizer {name!r} returned a non-numeric x or fun") from None
    if xa.shape != (n,) or not np.all(np.isfinite(xa)):
        raise InterlaceError(f"optimizer {name!r} returned x of shape {xa.shape} (or not "
                             f"finite); the problem has {n} parameters")
    if not np.isfinite(fv):
        raise InterlaceError(f"optimizer {name!r} returned a non-finite objective {fv}")
    return OptResult(xa, fv, int(nev), bool(conv), str(msg))


def _wrap(name: str, fn: Callable) -> Callable[..., OptResult]:
    """A user optimizer as a backend: it is called as ``fn(objective, x0, lower, upper,
    settings)`` with copies of the arrays, and its return checked."""
    def backend(fun: Objective, x0, lower, upper, settings: dict) -> OptResult:
        calls = [0]

        def counted(x):
            calls[0] += 1
            return fun(np.asarray(x, dtype=float))

        x0 = np.array(x0, dtype=float)
        out = fn(counted, x0.copy(), np.array(lower, dtype=float),
                 np.array(upper, dtype=float), dict(settings))
        res = coerce_result(out, name, len(x0), calls[0])
        res.settings = dict(settings)
        return res

    backend.__name__ = name
    return backend


def register(name: str, fn: Callable, *, replace: bool = False) -> None:
    """Make ``fn`` available as ``optimizer=name`` (``fit``, each ``glmer`` stage,
    ``all_fit``, ``nox -s optimizers``).

    ``fn(objective, x0, lower, upper, settings)`` minimizes ``objective`` (a function of a
    1-d float array) from ``x0`` within the bounds (``lower`` may hold -inf, ``upper`` is
    +inf for θ) and returns the optimum: see :func:`coerce_result`.  ``settings`` is the
    control's ``opt_settings``.  Built-in names cannot be replaced; a registered name can
    with ``replace=True``.
    """
    if not isinstance(name, str) or not name:
        raise InterlaceError(f"an optimizer's name must be a non-empty string, got {name!r}")
    if name in BUILTIN:
        raise InterlaceError(f"{name!r} is a built-in optimizer; register under another name")
    if not callable(fn):
        raise InterlaceError(f"optimizer {name!r} must be callable, got {type(fn).__name__}")
    if name in _USER and not replace:
        raise InterlaceError(f"optimizer {name!r} is already registered (replace=True to "
                             "replace it)")
    _USER[name] = fn
    BACKENDS[name] = _wrap(name, fn)


def unregister(name: str) -> None:
    """Remove a registered optimizer."""
    if name not in _USER:
        raise InterlaceError(f"no registered optimizer {name!r}")
    del _USER[name]
    del BACKENDS[name]


def resolve(optimizer) -> tuple[str, Callable[..., OptResult]]:
    """(name, backend) of ``optimizer=``: a backend's name, or a callable following the
    :func:`register` protocol (named by its ``__name__``)."""
    if callable(optimizer) and not isinstance(optimizer, str):
        name = getattr(optimizer, "__name__", type(optimizer).__name__)
        return name, _wrap(name, optimizer)
    if isinstance(optimizer, str) and optimizer in BACKENDS:
        return optimizer, BACKENDS[optimizer]
    raise InterlaceError(f"unknown optimizer {optimizer!r}; choose one of "
                         f"{', '.join(BACKENDS)}, a registered name or a callable "
                         "(interlace.optimize.register)")
