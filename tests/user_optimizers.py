"""Optimizers as a user writes them (interlace.optimize.register's protocol), for the tests
of the optimizer protocol and of ``nox -s optimizers -- --optimizer module:function``."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize


def powell(objective, x0, lower, upper, settings):
    """SciPy's bounded Powell; returns SciPy's OptimizeResult (x, fun, nfev, success)."""
    bounds = list(zip(np.where(np.isfinite(lower), lower, None),
                      np.where(np.isfinite(upper), upper, None), strict=True))
    return minimize(objective, x0, method="Powell", bounds=bounds,
                    options={"xtol": 1e-10, "ftol": 1e-14, "maxfev": 20000, **settings})


def coordinate_search(objective, x0, lower, upper, settings):
    """A plain compass search, returning a dict without an evaluation count."""
    x, f, step = np.array(x0, float), objective(x0), 0.5
    while step > settings.get("tol", 1e-9):
        moved = False
        for i in range(len(x)):
            for d in (step, -step):
                y = x.copy()
                y[i] = min(max(y[i] + d, lower[i]), upper[i])
                fy = objective(y)
                if fy < f:
                    x, f, moved = y, fy, True
        if not moved:
            step /= 2
    return {"x": x, "fun": f, "converged": True, "message": "step below tol"}
