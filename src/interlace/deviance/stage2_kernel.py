"""glmer's stage-2 deviance at (θ, β) as one compiled function: the PIRLS kernel with Xβ
in the offset, then ``ldL2 + ‖u‖² + aic`` (Laplace) or the quadrature (nAGQ > 1).

:func:`value` is what :meth:`~interlace.deviance.glmm.GlmmDeviance.laplace` and
:meth:`~interlace.deviance.glmm.GlmmDeviance.agq` compute inside ``values_only`` for
scalar terms — the same offset (``plus_xbeta``), the same ‖u‖² (``sqnorm``), the same
quadrature pieces, so the same bits — without the interpreter between the pieces.
:func:`values` evaluates many points in one call (a finite-difference Hessian's), and
lme4's Nelder–Mead runs around :func:`value` in one compiled loop
(:mod:`interlace.optimize.glmm_loop`).

The arguments after the point are built once per stage-2 start by
:meth:`~interlace.deviance.glmm.GlmmDeviance.stage2_args`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from interlace.deviance import agq_kernel as ak
from interlace.deviance import pirls_kernel as pk

__all__ = ["value", "values"]

_JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath=False)


@njit(**_JIT)
def value(x, k, base_offset, eta0, X, pre, post, cache, nagq, zs, ws, y, pw, fam, link,
          has_binary, binary):
    """The deviance at x = (θ, β) (k = len θ): (value, kernel status); status ≠ 0 is the
    PIRLS failure the Python path raises, and the value is then NaN."""
    theta = x[:k].copy()
    offset = pk._plus_xbeta(base_offset, X, x[k:])
    (status, _it, u, _b, _eta, mu, _lin, ldL2, _RX, _drsum, aic,
     L00) = pk._pirls_scalar(theta, *pre, offset, eta0, True, *post, *cache)
    if status != 0:
        return np.nan, status
    if nagq <= 1:
        return ldL2 + pk.sqnorm(u) + aic, 0
    xi, codes = pre[1][0], pre[0][0]
    lam = theta[0]
    devc0 = ak._agq_centre(u, mu, codes, y, pw, fam)
    out = np.zeros((len(zs), len(u)))
    ak.agq_range(u, L00, offset, xi, codes, lam, y, pw, fam, link, zs, ws, devc0, 0, len(zs),
                 out, has_binary, binary)
    return ak.agq_combine(devc0, zs, ws, out, ldL2), 0


@njit(**_JIT)
def values(points, k, base_offset, eta0, X, pre, post, cache, nagq, zs, ws, y, pw, fam,
           link, has_binary, binary):
    """:func:`value` at each row of ``points``: (values, index of the first failure or −1,
    its status)."""
    out = np.empty(points.shape[0])
    for i in range(points.shape[0]):
        f, status = value(points[i], k, base_offset, eta0, X, pre, post, cache, nagq, zs, ws,
                          y, pw, fam, link, has_binary, binary)
        if status != 0:
            return out, i, status
        out[i] = f
    return out, -1, 0
