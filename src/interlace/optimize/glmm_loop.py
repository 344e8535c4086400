"""glmer's stage 2 as one compiled loop: lme4's Nelder–Mead (:mod:`.nm_kernel`) around the
PIRLS kernel and, for nAGQ > 1, the quadrature (:mod:`interlace.deviance.agq_kernel`).

The Python-driven run (:func:`interlace.optimize.nelder_mead.nelder_mead` with the
deviance's ``laplace``/``agq``) pays some 60 µs of interpreter per evaluation — the
machine's step, the objective's wrappers, the call into the kernel — which is most of an
evaluation of a small model (cbpp: ~15 µs of PIRLS).  Here every evaluation is a compiled
call: the same machine, the same kernel, the same offset (``plus_xbeta``) and the same
‖u‖² (``sqnorm``) as the Python path, so the points, values and result are that path's to
the bit (``tests/test_glmm_loop.py``).  Every evaluated point and value is kept for the
optimizer summary's path.

Scope (``GlmmDeviance.stage2_compiled``): models the scalar-term kernel evaluates, inside
``values_only``, Laplace or adaptive Gauss–Hermite whose rule is the binary product form
or short enough not to be worth threads (the row-by-row rule on threads stays with the
Python-driven run).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from interlace.deviance import stage2_kernel as s2k
from interlace.deviance.glmm import GlmmDeviance
from interlace.optimize.nelder_mead import nm_result, nm_setup
from interlace.optimize.nm_kernel import nm_newf

__all__ = ["stage2_nelder_mead"]

_JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath=False)


@njit(**_JIT)
def _loop(lb, ub, xt, pts, vals, xbest, xeval, xcur, c, fs, ist, path_x, path_f, k, args):
    """Nelder–Mead over (θ, β) with :func:`~interlace.deviance.stage2_kernel.value`.
    Returns (code, evaluations, kernel status): status ≠ 0 stops the run at its point
    (path_x[evaluations])."""
    count = 0
    while True:
        path_x[count] = xeval
        f, status = s2k.value(xeval, k, *args)
        if status != 0:
            return 0, count, status
        path_f[count] = f
        count += 1
        code = nm_newf(f, lb, ub, xt, pts, vals, xbest, xeval, xcur, c, fs, ist)
        if code != 0:
            return code, count, 0


def stage2_nelder_mead(dev: GlmmDeviance, x0, lower, xst, lp0: np.ndarray, nagq: int,
                       settings: dict) -> tuple:
    """lme4's Nelder–Mead on stage 2 from ``x0`` (θ then β), compiled (see the module doc;
    call inside ``dev.values_only()``).  Returns (OptResult, path as [(x, f)]); a PIRLS
    failure raises the Python path's error at the point where it happened."""
    settings = dict(settings)
    xst = settings.pop("xst", xst)
    bounds, state, nm_settings = nm_setup(x0, lower, np.inf, xst, **settings)
    k = dev.layout.n_theta
    maxfun = nm_settings["maxfun"]
    size = (maxfun if maxfun > 0 else 100_000) + 1
    path_x, path_f = np.empty((size, len(x0))), np.empty(size)
    code, count, status = _loop(*bounds, *state, path_x, path_f, k,
                                dev.stage2_args(lp0, nagq))
    dev.n_evals += count + (1 if status else 0)
    if status:
        raise dev.kernel_failure(status, path_x[count, :k])
    path = [(path_x[i].tolist(), float(path_f[i])) for i in range(count)]
    return nm_result(int(code), int(count), state, nm_settings), path
