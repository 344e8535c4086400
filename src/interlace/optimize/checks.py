"""Convergence checks at the optimum, with lme4's semantics (``checkConv``).

Derivatives are central finite differences with step 1e-4 (lme4's ``deriv12``):
gradient ``(f(x+δeⱼ) − f(x−δeⱼ)) / 2δ`` and the Hessian from the 2-D stencil
``[f(++) − f(+−) − f(−+) + f(−−)] / (2δ)²`` (diagonal: second difference).
Checks, with lme4's default tolerances:

* singular: any diagonal θ < 1e-4 → "boundary (singular) fit" (and no
  further checks, as lme4);
* gradient: ``min(|H⁻¹ᐟ² g|, |g|)`` scaled by the Cholesky of H must stay
  below 2e-3;
* Hessian: negative eigenvalues (< −1e-6), numerically singular, very large
  eigenvalue or eigenvalue ratio.

Rounding noise.  A difference quotient of values that differ only by rounding is noise,
not a derivative: with the objective's rounding error ``e`` (a few units in the last
place of |f|), a Hessian entry below ``4e/δ²`` and a gradient entry below ``e/δ`` are
indistinguishable from 0.  Such entries are set to 0 before the checks, so a direction in
which the objective is flat to rounding (e.g. the θ of a predictor on a 1e-12 scale) is
reported as lme4 reports it when its own values there are exactly equal: "unable to
evaluate scaled gradient" and "Hessian is numerically singular".  ``e`` is
``NOISE_ULPS`` units in the last place of |f(θ̂)|: over 30 points within 1e-13 of θ̂ the
objective spread by at most 55 units on every catalog case (``machines_factor_slope``),
so 64 units bound it; the smallest Hessian eigenvalue of a catalog case (0.13) is 20
times above the resulting threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from interlace.linalg.batched import derivatives, stencil

#: the objective's rounding noise near θ̂, in units in the last place of |f| (see above)
NOISE_ULPS = 64


def below_noise(g: np.ndarray, H: np.ndarray, fval: float,
                delta: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian with entries at the objective's rounding-noise level set to 0.

    Batched alike: ``g`` (..., k), ``H`` (..., k, k) and ``fval`` (...).
    """
    noise = NOISE_ULPS * np.spacing(np.abs(np.asarray(fval, dtype=float)))
    g = np.where(np.abs(g) <= noise[..., None] / delta, 0.0, g)
    H = np.where(np.abs(H) <= 4.0 * noise[..., None, None] / delta**2, 0.0, H)
    return g, H


def deriv12(fun: Callable[[np.ndarray], float], x: np.ndarray, fx: float,
            delta: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """Central-difference gradient and Hessian of ``fun`` at ``x`` (no bounds), as lme4's.

    The stencil and the difference formulas are :func:`interlace.linalg.batched.stencil`
    and :func:`~interlace.linalg.batched.derivatives`.  When ``fun`` has a ``many``
    method (the deviance's batched form) every point goes in one call.
    """
    x = np.asarray(x, dtype=float)
    k = len(x)
    pts = x + stencil(k, delta)[1:]  # the centre's value is fx
    many = getattr(fun, "many", None)
    f = many(pts) if many is not None else np.array([fun(p) for p in pts])
    g, H = derivatives(np.concatenate([[fx], f])[None], k, delta)
    return g[0], H[0]


@dataclass
class ConvCheck:
    """Outcome of the convergence checks (lme4's ``optinfo$conv$lme4``)."""

    code: int = 0
    messages: list[str] = field(default_factory=list)
    singular: bool = False
    gradient: np.ndarray | None = None
    hessian: np.ndarray | None = None
    #: per message, the check that gave it: "singular", "grad" or "hess" (lme4's
    #: check.conv.singular, check.conv.grad, check.conv.hess)
    kinds: list[str] = field(default_factory=list)

    def add(self, kind: str, message: str) -> None:
        """Record a message of one check."""
        self.messages.append(message)
        self.kinds.append(kind)

    @property
    def warnings(self) -> list[str]:
        """Messages that lme4 raises as warnings (everything but the singular message)."""
        return [m for m, k in zip(self.messages, self.kinds, strict=True) if k != "singular"]


def _check_hessian(H: np.ndarray, tol: float) -> tuple[int, list[str]]:
    try:
        ev = np.linalg.eigvalsh(H)
    except np.linalg.LinAlgError:
        return -6, ["Problem with Hessian check (infinite or missing values?)"]
    neg = int(np.sum(ev < -tol))
    if neg:
        return -3, ["Model failed to converge: degenerate  Hessian with "
                    f"{neg} negative eigenvalues"]
    try:
        np.linalg.cholesky(H)
        chol_ok = True
    except np.linalg.LinAlgError:
        chol_ok = False
    if np.any(np.abs(ev) < tol) or not chol_ok:
        return -4, [" Hessian is numerically singular: parameters are not uniquely determined"]
    code, msgs = 0, []
    if ev.max() * tol > 1:
        code = 2
        msgs = ["Model is nearly unidentifiable: very large eigenvalue\n - Rescale variables?"]
    if ev.min() / ev.max() < tol:
        code = 3
        msgs.append("Model is nearly unidentifiable: large eigenvalue ratio\n - Rescale variables?")
    return code, msgs


def check_singular(theta: np.ndarray, lower: np.ndarray, tol: float = 1e-4) -> ConvCheck:
    """lme4's first check: a θ with lower bound 0 (a relative SD) below ``tol`` is a
    boundary (singular) fit; the other checks are then skipped."""
    res = ConvCheck()
    theta = np.asarray(theta)[:len(lower)]
    res.singular = bool(np.any(theta[np.asarray(lower) == 0] < tol))
    if res.singular:
        res.add("singular", "boundary (singular) fit: see help('isSingular')")
    return res


def check_convergence(
    fun: Callable[[np.ndarray], float],
    theta: np.ndarray,
    fval: float,
    lower: np.ndarray,
    *,
    singular_tol: float = 1e-4,
    grad_tol: float = 2e-3,
    hess_tol: float = 1e-6,
    calc_derivs: bool = True,
    grad_reltol: float | None = None,
) -> ConvCheck:
    """Run lme4's checks at the optimum ``theta`` (``fun`` may update state in place).

    ``grad_reltol``: lme4's ``check.conv.grad``'s ``relTol`` (off by default): also
    flag ``max|g/θ|`` above it.
    """
    res = check_singular(theta, lower, singular_tol)
    if res.singular or not calc_derivs:
        return res
    g, H = below_noise(*deriv12(fun, theta, fval), fval)
    return check_derivatives(res, g, H, theta, grad_tol=grad_tol, hess_tol=hess_tol,
                             grad_reltol=grad_reltol)


def check_derivatives(res: ConvCheck, g: np.ndarray, H: np.ndarray, coefs: np.ndarray, *,
                      grad_tol: float = 2e-3, hess_tol: float = 1e-6,
                      grad_reltol: float | None = None) -> ConvCheck:
    """lme4's gradient and Hessian checks (``checkConv`` after the singular check) at the
    parameters ``coefs`` from their derivatives; adds to and returns ``res``.

    The gradient message names "component 1" whatever the component, as lme4 1.1-31's
    does (its ``which.max`` is taken of the maximum, a scalar).
    """
    res.gradient, res.hessian = g, H
    if np.any(~np.isfinite(g)):
        res.code = -5
        res.add("grad", "Gradient contains NAs")
        return res
    try:
        R = np.linalg.cholesky(H).T  # upper, as R's chol
        scgrad = np.linalg.solve(R, g)
        mingrad = np.minimum(np.abs(scgrad), np.abs(g))
        mx = float(np.max(mingrad))
        if mx > grad_tol:
            res.code = -1
            res.add("grad",
                    f"Model failed to converge with max|grad| = {mx:.6g} (tol = {grad_tol:g}, "
                    "component 1)")
    except np.linalg.LinAlgError:
        res.code = -1
        res.add("grad", "unable to evaluate scaled gradient")
    if grad_reltol is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = float(np.max(np.abs(g / coefs)))
        if rel > grad_reltol:
            res.code = -2
            res.add("grad", f"Model failed to converge with max|relative grad| = {rel:.6g} "
                            f"(tol = {grad_reltol:g})")
    code, msgs = _check_hessian(H, hess_tol)
    if code != 0:
        res.code = code
        for m in msgs:
            res.add("hess", m)
    return res


def conv_messages_many(g: np.ndarray, H: np.ndarray, f: np.ndarray) -> list[list[str]]:
    """lme4's checkConv messages (gradient and Hessian checks) for U fits at once, from the
    stencil gradient and Hessian (U, k), (U, k, k) and the objective f (U,) there (entries
    at its rounding noise count as 0, as one fit's)."""
    from interlace.linalg import batched

    g, H = below_noise(g, H, f)
    U = len(g)
    out: list[list[str]] = [[] for _ in range(U)]
    L = batched.chol(H)
    okL = np.all(np.isfinite(L), axis=(1, 2))
    sc = np.full_like(g, np.nan)
    if okL.any():
        sc[okL] = np.linalg.solve(np.swapaxes(L[okL], 1, 2), g[okL][..., None])[..., 0]
    mg = np.minimum(np.abs(sc), np.abs(g))
    finite = np.all(np.isfinite(H), axis=(1, 2))
    ev = np.full((U, H.shape[1]), np.nan)
    ev[finite] = np.linalg.eigvalsh(H[finite])
    with np.errstate(invalid="ignore", divide="ignore"):
        flag = (~okL | ~finite | np.any(ev < -1e-6, axis=1) | np.any(np.abs(ev) < 1e-6, axis=1)
                | (ev.max(axis=1) * 1e-6 > 1) | (ev.min(axis=1) / ev.max(axis=1) < 1e-6))
    for u in range(U):
        if not okL[u]:
            out[u].append("unable to evaluate scaled gradient")
        elif mg[u].max() > 2e-3:
            out[u].append(f"Model failed to converge with max|grad| = {mg[u].max():.6g} "
                          "(tol = 0.002, component 1)")
        if flag[u]:
            out[u] += _check_hessian(H[u], 1e-6)[1]
    return out
