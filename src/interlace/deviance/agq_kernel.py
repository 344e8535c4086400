"""lme4's adaptive Gauss–Hermite deviance (``glmerAGQ``) of one scalar term, compiled.

At PIRLS's final u and μ (:mod:`interlace.deviance.pirls_kernel`, stage 2), per level j
``devc0_j = û_j² + Σ devResid`` of its rows, and over the rule's nodes z with weights w
``mult_j = Σ w·exp(−½(devc_j(û + z/L_jj) − devc0_j) + z²/2)``; the value is
``Σ devc0_j + ldL2 − 2 Σ log mult_j`` (the arithmetic of ``GlmmDeviance._agq``).

The nodes are independent: :func:`agq_nodes` computes a range of them into its own rows,
so pieces of the rule can run on separate threads, and :func:`agq_combine` adds the rows
in node order — the same bits on any number of threads.

**Binary responses** (:func:`binary_plan`): for a 0/1 response with unit prior weights,
the logit link and a random intercept, a row's deviance residual is ``2 log F`` with
``F = 1 + exp(∓η)`` (− for y = 1), lme4's clamp of μ to [ε, 1 − ε] being the clamp of F
to [1/(1 − ε), 1/ε].  Along the rule η moves by the same ``c = λ z/L_jj`` for every row
of level j, so ``exp(∓η) = exp(∓η₀)·exp(∓c)``: one exponential per row per evaluation and
two per level and node, and a level's sum of logs is the log of its rows' product, taken
every :data:`BLOCK` rows (a product of that many clamped factors cannot overflow).  That
is :func:`agq_nodes_binary`: the same value to rounding (a few ulps per level, checked
against the row-by-row form in ``tests/test_agq_kernel.py``), an order of magnitude
less work than an exponential, a division and a logarithm per row and node.  One
exception: lme4 computes a 0's residual from 1 − μ, which for μ near 1 keeps only
ε/(1 − μ) of relative precision; those rows (exp(η) > :data:`E_ROWWISE`) are summed
row by row as lme4 does, so that the value stays lme4's.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from interlace.deviance.pirls_kernel import _JIT, EPS, _dev_resid, _linkinv

__all__ = ["BLOCK", "NO_BINARY", "agq_centre", "agq_combine", "agq_nodes",
           "agq_nodes_binary", "agq_range", "binary_plan"]

#: rows per product in :func:`agq_nodes_binary` (16 factors ≤ 1/ε stay below 1e251)
BLOCK = 16
#: the clamps of F = 1/μ (or 1/(1 − μ)): lme4's μ ∈ [ε, 1 − ε]
F_LO = 1.0 / (1.0 - EPS)
F_HI = 1.0 / EPS
#: the binary plan's place (:func:`agq_range`) when the model has none
NO_BINARY = (np.zeros(0, dtype=np.int64), np.zeros((0, 3), dtype=np.int64), 1.0)
#: |η₀| and |c| below this keep exp(±·) finite and non-zero with room for their product
EXP_SAFE = 300.0
#: a 0 with exp(η) above this is summed from μ (:func:`agq_nodes_binary`): below it, lme4's
#: 1 − μ is exact to ~ε·exp(η) < 2e-15 relative
E_ROWWISE = 8.0


@njit(**_JIT)
def _agq_centre(u, mu, codes, y, pw, fam):
    """``devc0_j = û_j² + Σ devResid`` of level j's rows, at PIRLS's final u and μ."""
    nlev = len(u)
    devc0 = np.empty(nlev)
    for j in range(nlev):
        devc0[j] = u[j] * u[j]
    sums = np.zeros(nlev)
    for i in range(len(y)):
        sums[codes[i]] += _dev_resid(y[i], mu[i], pw[i], fam)
    for j in range(nlev):
        devc0[j] += sums[j]
    return devc0


@njit(**_JIT)
def agq_nodes(u, L00, offset, xi, codes, lam, y, pw, fam, link, zs, ws, devc0, k0, k1, out):
    """Each level's term ``w·exp(−½(devc_j(û + z/L_jj) − devc0_j) + z²/2)`` of the nodes
    k0…k1−1 with z ≠ 0, into ``out[k]`` (one row per node: pieces of the rule can run on
    separate threads, and :func:`agq_combine` adds the rows in node order)."""
    nlev = len(u)
    U = np.empty(nlev)
    sums = np.empty(nlev)
    for k in range(k0, k1):
        z = zs[k]
        if z == 0.0:
            continue
        for j in range(nlev):
            U[j] = u[j] + z * (1.0 / L00[j])
            sums[j] = 0.0
        for i in range(len(y)):
            eta = offset[i] + xi[i] * lam * U[codes[i]]
            sums[codes[i]] += _dev_resid(y[i], _linkinv(eta, link), pw[i], fam)
        for j in range(nlev):
            devc = U[j] * U[j] + sums[j]
            out[k, j] = math.exp(-0.5 * (devc - devc0[j]) + 0.5 * (z * z)) * ws[k]


@njit(**_JIT)
def agq_combine(devc0, zs, ws, out, ldL2):
    """``Σ devc0 + ldL2 − 2 Σ log mult``, ``mult_j`` the nodes' terms added in node order
    (a node at z = 0 adds its weight)."""
    nlev = len(devc0)
    mult = np.zeros(nlev)
    for k in range(len(zs)):
        if zs[k] == 0.0:
            for j in range(nlev):
                mult[j] += ws[k]
        else:
            for j in range(nlev):
                mult[j] += out[k, j]
    total = 0.0
    for j in range(nlev):
        total += devc0[j]
    lm = 0.0
    for j in range(nlev):
        lm += math.log(mult[j])
    return total + ldL2 - 2.0 * lm


def binary_plan(y: np.ndarray, pw: np.ndarray, xi: np.ndarray, codes: np.ndarray,
                nlev: int) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The rows of a binary response in :func:`agq_nodes_binary`'s order — by level, the
    1s then the 0s — with each level's [first 1, first 0, end) positions and the common
    prior weight; None unless y is 0/1, the prior weights are one positive value and the
    term is an intercept (the caller checks the family: binomial, logit link)."""
    y, pw, xi = (np.asarray(a, dtype=float) for a in (y, pw, xi))
    if (not len(y) or not np.all((y == 0.0) | (y == 1.0)) or not np.all(xi == 1.0)
            or not np.all(pw == pw[0]) or not pw[0] > 0.0):
        return None
    order = np.lexsort((1.0 - y, codes))  # by level, then the 1s first
    counts = np.bincount(codes, minlength=nlev)
    ones = np.bincount(codes, weights=y, minlength=nlev).astype(np.int64)
    seg = np.zeros((nlev, 3), dtype=np.int64)
    seg[:, 2] = np.cumsum(counts)
    seg[:, 0] = seg[:, 2] - counts
    seg[:, 1] = seg[:, 0] + ones
    return order.astype(np.int64), seg, float(pw[0])


@njit(**_JIT)
def _product_logs(P, q, t, end):
    """Σ log of the clamped factors 1 + P[t]·q over [t, end), a log per :data:`BLOCK`
    factors (four interleaved products: no long chain of dependent multiplications)."""
    s = 0.0
    while t < end:
        a0 = a1 = a2 = a3 = 1.0
        stop = min(t + BLOCK, end)
        while t + 4 <= stop:
            a0 *= min(max(1.0 + P[t] * q, F_LO), F_HI)
            a1 *= min(max(1.0 + P[t + 1] * q, F_LO), F_HI)
            a2 *= min(max(1.0 + P[t + 2] * q, F_LO), F_HI)
            a3 *= min(max(1.0 + P[t + 3] * q, F_LO), F_HI)
            t += 4
        while t < stop:
            a0 *= min(max(1.0 + P[t] * q, F_LO), F_HI)
            t += 1
        s += math.log((a0 * a1) * (a2 * a3))
    return s


@njit(**_JIT)
def agq_nodes_binary(u, L00, offset, lam, order, seg, w0, zs, ws, devc0, k0, k1, out):
    """:func:`agq_nodes` for a binary response (see the module doc; ``order``, ``seg`` and
    ``w0`` from :func:`binary_plan`).  Returns False, leaving ``out`` to the row-by-row
    form, where an exponential could leave the range the products are safe in.

    A 0 whose μ is near 1 (exp(η) above :data:`E_ROWWISE`) is summed as lme4 sums it,
    from μ: lme4's 1 − μ loses ε·exp(η) of relative precision there, which the product
    form, exact, would not reproduce."""
    nlev = len(u)
    n = len(order)
    P = np.empty(n)  # exp(∓η₀) in ``order``: − for the 1s, + for the 0s
    for j in range(nlev):
        for t in range(seg[j, 0], seg[j, 2]):
            eta0 = offset[order[t]] + lam * u[j]
            if not abs(eta0) <= EXP_SAFE:
                return False
            P[t] = math.exp(-eta0) if t < seg[j, 1] else math.exp(eta0)
    for k in range(k0, k1):
        z = zs[k]
        if z == 0.0:
            continue
        for j in range(nlev):
            U = u[j] + z * (1.0 / L00[j])
            c = lam * (z * (1.0 / L00[j]))
            if not abs(c) <= EXP_SAFE:
                return False
            s = _product_logs(P, math.exp(-c), seg[j, 0], seg[j, 1])  # the 1s
            q = math.exp(c)
            acc = 1.0
            rowwise = 0.0
            for t in range(seg[j, 1], seg[j, 2]):  # the 0s
                e = P[t] * q
                if e > E_ROWWISE:
                    eta = offset[order[t]] + lam * U
                    rowwise += _dev_resid(0.0, _linkinv(eta, 0), w0, 0)
                else:
                    acc *= min(max(1.0 + e, F_LO), F_HI)
                if t % BLOCK == BLOCK - 1:
                    s += math.log(acc)
                    acc = 1.0
            s += math.log(acc)
            devc = U * U + 2.0 * w0 * s + rowwise
            out[k, j] = math.exp(-0.5 * (devc - devc0[j]) + 0.5 * (z * z)) * ws[k]
    return True


@njit(**_JIT)
def agq_range(u, L00, offset, xi, codes, lam, y, pw, fam, link, zs, ws, devc0, k0, k1, out,
              has_binary, binary):
    """The nodes k0…k1−1 into ``out``: in the binary product form where the model has one
    (``binary``: :func:`binary_plan`'s triple) and it stays in range, else row by row."""
    if has_binary and agq_nodes_binary(u, L00, offset, lam, binary[0], binary[1], binary[2],
                                       zs, ws, devc0, k0, k1, out):
        return
    agq_nodes(u, L00, offset, xi, codes, lam, y, pw, fam, link, zs, ws, devc0, k0, k1, out)


@njit(**_JIT)
def agq_centre(u, mu, codes, y, pw, fam):
    """:func:`_agq_centre` for Python callers (see ``pirls_kernel``'s note on numba's cache
    and arrays handed back to Python)."""
    return _agq_centre(u, mu, codes, y, pw, fam)
