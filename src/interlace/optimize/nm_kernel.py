"""lme4's Nelder–Mead state machine compiled (numba): :mod:`interlace.optimize.nelder_mead`
drives it from Python for any objective, and glmer's stage 2 runs it in one compiled loop
with the deviance kernel (:mod:`interlace.optimize.glmm_loop`), so both evaluate the same
points.

The machine is the port described in :mod:`~interlace.optimize.nelder_mead` (lme4 1.1-31's
``src/optimizer.cpp``), reverse communication: :func:`nm_start` sets it up, then each
value of the objective at ``xeval`` goes to :func:`nm_newf`, which moves ``xeval`` to the
next point or returns a stop code.  Its state is a handful of arrays (the simplex ``pts``,
one vertex per column, and ``vals``; the best point ``xbest``; ``xeval``, ``xcur`` and the
centroid ``c``) plus ``fs`` (floats) and ``ist`` (integers) indexed by the F_* and I_*
constants.  The centroid's sum over the vertices is NumPy's pairwise sum (what the Python
port's ``pts.sum(axis=1)`` computed), and NaN values order as NumPy's argmin/argmax and
Python's min/max order them, so every step is the former Python port's to the bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["nm_newf", "nm_start"]

ALPHA, BETA, GAMMA, DELTA = 1.0, 0.5, 2.0, 0.5
#: fs: the lowest value so far, the simplex's lowest and highest values, the value kept
#: from the last reflection, and the value below which the run stops
F_MINF, F_FL, F_FH, F_FOLD, F_MINFMAX = range(5)
#: ist: lowest and highest vertex, stage, the next vertex to evaluate at a (re)start,
#: evaluations, the most evaluations
I_IL, I_IH, I_STAGE, I_INIT, I_NEVALS, I_MAXFUN = range(6)
RESTART, POSTREFLECT, POSTEXPAND, POSTCONTRACT = range(4)

_JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath=False)


@njit(**_JIT)
def _close(a, b):
    return abs(a - b) <= 1e-13 * (abs(a) + abs(b))


@njit(**_JIT)
def _block(a, lo, n):
    """NumPy's pairwise sum of a[lo:lo + n] for n ≤ 128 (``pairwise_sum`` in its loops):
    in order below 8 terms, else eight interleaved partial sums."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(**_JIT)
def _pairwise(a):
    """NumPy's pairwise sum of ``a``: above 128 terms, the sum of the two halves' (the
    first a multiple of 8 long), recursively — walked here with an explicit stack."""
    if len(a) <= 128:
        return _block(a, 0, len(a))
    los = np.zeros(64, dtype=np.int64)
    ns = np.zeros(64, dtype=np.int64)
    stage = np.zeros(64, dtype=np.int64)
    left = np.zeros(64)
    top = 0
    ns[0] = len(a)
    ret = 0.0
    while True:
        lo, m = los[top], ns[top]
        if m <= 128:
            ret = _block(a, lo, m)
            top -= 1
            if top < 0:
                return ret
            continue
        n2 = m // 2
        n2 -= n2 % 8
        if stage[top] == 0:  # the first half
            stage[top] = 1
            top += 1
            los[top], ns[top], stage[top] = lo, n2, 0
        elif stage[top] == 1:  # the second half
            left[top] = ret
            stage[top] = 2
            top += 1
            los[top], ns[top], stage[top] = lo + n2, m - n2, 0
        else:
            ret = left[top] + ret
            top -= 1
            if top < 0:
                return ret


@njit(**_JIT)
def _arg_extreme(v, highest):
    """np.argmin (np.argmax with ``highest``): the first lowest (highest) entry, or the
    first NaN."""
    k = 0
    for i in range(len(v)):
        if np.isnan(v[i]):
            return i
        if (v[i] > v[k]) if highest else (v[i] < v[k]):
            k = i
    return k


@njit(**_JIT)
def _reflect(c, scale, xold, lb, ub, out):
    """out = c + scale·(c − xold), clamped to the bounds (Python's max/min); False when
    it equals the centroid or ``xold`` to 1e-13 in every coordinate."""
    equalc = True
    equalold = True
    for i in range(len(c)):
        v = c[i] + scale * (c[i] - xold[i])
        if lb[i] > v:
            v = lb[i]
        if ub[i] < v:
            v = ub[i]
        equalc = equalc and _close(v, c[i])
        equalold = equalold and _close(v, xold[i])
        out[i] = v
    return not (equalc or equalold)


@njit(**_JIT)
def nm_start(lb, ub, xstep, x, maxfun, minf_max):
    """The initial simplex (x, then x + xstepᵢ·eᵢ pushed inside the bounds lme4's way) and
    state.  Returns (code, pts, vals, xbest, xeval, xcur, c, fs, ist): code 0, or −1 (x not
    feasible) or −2 (no feasible simplex)."""
    n = len(x)
    pts = np.empty((n, n + 1))
    for i in range(n):
        for j in range(n + 1):
            pts[i, j] = x[i]
    vals = np.full(n + 1, np.finfo(np.float64).tiny)
    fs = np.array([np.inf, 0.0, 0.0, 0.0, minf_max])
    ist = np.array([0, 0, RESTART, 0, 0, maxfun], dtype=np.int64)
    out = (pts, vals, x.copy(), x.copy(), np.zeros(n), np.zeros(n), fs, ist)
    for i in range(n):
        if x[i] - lb[i] < 0 or ub[i] - x[i] < 0:
            return (-1,) + out
    for i in range(n):
        j = i + 1
        s = xstep[i]
        pts[i, j] += s
        if pts[i, j] > ub[i]:
            pts[i, j] = ub[i] if ub[i] - x[i] > abs(s) * 0.1 else x[i] - abs(s)
        if pts[i, j] < lb[i]:
            if x[i] - lb[i] > abs(s) * 0.1:
                pts[i, j] = lb[i]
            else:
                pts[i, j] = x[i] + abs(s)
                if pts[i, j] > ub[i]:
                    far = ub[i] if ub[i] - x[i] > x[i] - lb[i] else lb[i]
                    pts[i, j] = 0.5 * (far + x[i])
        if _close(pts[i, j], x[i]):
            return (-2,) + out
    return (0,) + out


@njit(**_JIT)
def _restart(lb, ub, xt, pts, vals, xeval, xcur, c, fs, ist):
    n = len(c)
    il = _arg_extreme(vals, False)
    ih = _arg_extreme(vals, True)
    ist[I_IL], ist[I_IH] = il, ih
    fs[F_FL], fs[F_FH] = vals[il], vals[ih]
    done = True
    for i in range(n):
        c[i] = (_pairwise(pts[i]) - pts[i, ih]) / n
    for i in range(n):
        dev = 0.0
        for j in range(n + 1):  # np.max(|pts − c|): NaN if any is NaN
            d = abs(pts[i, j] - c[i])
            if np.isnan(d) or d > dev:
                dev = d
                if np.isnan(d):
                    break
        if not (dev < xt[i] or dev == 0.0):
            done = False
    if done:
        return 3
    if not _reflect(c, ALPHA, pts[:, ih], lb, ub, xcur):
        return 3
    xeval[:] = xcur
    ist[I_STAGE] = POSTREFLECT
    return 0


@njit(**_JIT)
def nm_newf(f, lb, ub, xt, pts, vals, xbest, xeval, xcur, c, fs, ist):
    """The objective's value ``f`` at ``xeval``: 0 with ``xeval`` the next point, or the
    stop code (1 below ``minf_max``, 3 converged, −4 more than ``maxfun`` evaluations)."""
    n = len(c)
    ist[I_NEVALS] += 1
    if f < fs[F_MINF]:
        fs[F_MINF] = f
        xbest[:] = xeval
        if fs[F_MINF] < fs[F_MINFMAX]:
            return 1
    if ist[I_MAXFUN] > 0 and ist[I_NEVALS] > ist[I_MAXFUN]:
        return -4
    ih = ist[I_IH]
    if ist[I_INIT] <= n:  # the simplex's vertices, one after another
        vals[ist[I_INIT]] = f
        ist[I_INIT] += 1
        if ist[I_INIT] > n:
            return _restart(lb, ub, xt, pts, vals, xeval, xcur, c, fs, ist)
        xeval[:] = pts[:, ist[I_INIT]]
        return 0
    stage = ist[I_STAGE]
    if stage == POSTREFLECT:
        if f < fs[F_FL]:
            if not _reflect(c, GAMMA, pts[:, ih], lb, ub, xeval):
                return 3
            ist[I_STAGE] = POSTEXPAND
            fs[F_FOLD] = f
            return 0
        if f < fs[F_FH]:
            vals[ih] = f
            pts[:, ih] = xeval
            return _restart(lb, ub, xt, pts, vals, xeval, xcur, c, fs, ist)
        if not _reflect(c, -BETA if fs[F_FH] <= f else BETA, pts[:, ih], lb, ub, xcur):
            return 3
        fs[F_FOLD] = f
        xeval[:] = xcur
        ist[I_STAGE] = POSTCONTRACT
        return 0
    if stage == POSTEXPAND:
        if f < vals[ih]:
            pts[:, ih] = xeval
            vals[ih] = f
        else:
            pts[:, ih] = xcur
            vals[ih] = fs[F_FOLD]
        return _restart(lb, ub, xt, pts, vals, xeval, xcur, c, fs, ist)
    # POSTCONTRACT
    if f < fs[F_FOLD] and f < fs[F_FH]:
        pts[:, ih] = xeval
        vals[ih] = f
        return _restart(lb, ub, xt, pts, vals, xeval, xcur, c, fs, ist)
    il = ist[I_IL]
    best = pts[:, il].copy()
    xnew = np.empty(n)
    for i in range(n + 1):
        if i != il:
            if not _reflect(best, -DELTA, pts[:, i], lb, ub, xnew):
                return 3
            pts[:, i] = xnew
    ist[I_INIT] = 0
    xeval[:] = pts[:, 0]
    return 0
