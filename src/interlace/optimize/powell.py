"""Powell's BOBYQA exactly as R's ``minqa::bobyqa`` (minqa 1.2.5) runs it.

lme4's ``glmer`` optimizes its first stage (θ only) with ``minqa::bobyqa(par, fn, lower,
upper, control = list(iprint = 0))``.  To retrace that stage evaluation for evaluation,
this module ports, line for line and in the same order of floating-point operations:

* minqa's R wrapper ``bobyqa()`` (``R/minqa.R``) and ``commonArgs()``: the default and
  the clamping of ``npt``, the defaults of ``rhobeg`` and ``rhoend``, the check
  evaluation ``fn(par)`` made before the Fortran starts, the bound checks and the
  reduction of ``rhobeg`` when a range ``upper - lower`` is below ``2 * rhobeg``, and
  the translation of the Fortran's ``IERR`` into minqa's ``ierr`` and ``msg``;
* minqa's C++ glue (``src/minqa.cpp``): ``calfun`` counts evaluations (``feval``),
  refuses non-finite ``x`` and replaces a non-finite objective value by ``DBL_MAX``;
  ``rval`` evaluates ``fn`` once more at the returned ``par`` to report ``fval``;
* the Fortran of Powell's BOBYQA as shipped in minqa (``src/bobyqa.f``, ``bobyqb.f``;
  the subroutines are in :mod:`interlace.optimize.powell_steps`), with John Nash's
  ``IERR`` exits and minqa 1.2.5's ``IBDSAV = 0`` in ALTMOV.

Every call of ``fun`` that R makes is made here, in the same order: the check at ``x0``,
the ``feval`` evaluations of the Fortran, then the evaluation at the result.  Only the
``feval`` middle ones are counted in ``n_evals``, as minqa counts them.

One thing cannot be reproduced: minqa's RESCUE calls ``CALFUN(N,X,IPRINT)`` where
Powell's code has ``CALFUN(N,W,F)``; ``X`` is not an argument of RESCUE, so it is an
undefined local scalar and minqa.so evaluates the objective at whatever lies on the
stack there (for N ≥ 2 this includes the stack-protector canary, which is random per
process; for N = 1 only an uninitialised stack slot).  That happens only when RESCUE
cannot reinstate every old interpolation point and must compute new function values:
rarely with minqa's default ``npt = n + 2``, more often with a larger ``npt``.  R's path
is then not even reproducible between R sessions.  This port evaluates Powell's intended
point instead and counts those calls in ``settings["rescue_evals"]``.  RESCUE calls that
reinstate every point (no evaluation) are reproduced exactly.

References
----------
M. J. D. Powell (2009), "The BOBYQA algorithm for bound constrained optimization without
derivatives", Cambridge NA Report NA2009/06, University of Cambridge.

K. M. Mullen, J. C. Nash, D. Bates, R. Varadhan, minqa: Derivative-free optimization
algorithms by quadratic approximation, R package version 1.2.5 (2022).

Settings (minqa's defaults; ``n = len(x0)``)
--------------------------------------------
npt : int
    Number of interpolation points, ``min(n + 2, 2n)``, then clamped by minqa to
    ``[n + 2, (n + 1)(n + 2)/2]`` (so ``n + 2``, and 3 when ``n = 1``).
rhobeg : float
    Initial trust-region radius, ``min(0.95, 0.2 * max(abs(x0)))``; reduced to
    ``0.2 * min(upper - lower)`` if some range is below ``2 * rhobeg``.
rhoend : float
    Final radius, ``1e-6 * rhobeg`` (of the ``rhobeg`` before any reduction).
maxfun : int
    Limit on the Fortran's evaluations (10000).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import numpy as np

from interlace.errors import InterlaceError, NumericalError, warn
from interlace.optimize.backends import OptResult
from interlace.optimize.powell_steps import (
    altmov,
    bounded_point,
    prelim,
    rescue,
    trsbox,
    update,
    zmat_beta,
)

__all__ = ["MESSAGES", "bobyqa"]

HALF, ONE, TEN, TENTH, TWO, ZERO = 0.5, 1.0, 10.0, 0.1, 2.0, 0.0
DBL_MAX = sys.float_info.max

#: The Fortran's IERR -> minqa's (ierr, msg), from R/minqa.R.
MESSAGES = {
    0: (0, "Normal exit from bobyqa"),
    10: (2, "bobyqa -- NPT is not in the required interval"),
    320: (5, "bobyqa detected too much cancellation in denominator"),
    390: (1, "bobyqa -- maximum number of function evaluations exceeded"),
    430: (3, "bobyqa -- a trust region step failed to reduce q"),
    20: (4, "bobyqa -- one of the box constraint ranges is too small (< 2*RHOBEG)"),
}


def _vec(v: list[float]) -> list[float]:
    """A 1-based list (element 0 unused) holding the values of ``v``."""
    return [ZERO, *(float(t) for t in v)]


def _mat(rows: int, cols: int) -> list[list[float]]:
    return [[ZERO] * (cols + 1) for _ in range(rows + 1)]


def _farthest_useful(n, npt, nptm, zmat, vlag, beta, xpt, centre, delsq, skip, denom):
    """BOBYQB's choice of the interpolation point to replace: the largest
    max(1, (|XPT(k) − centre|²/DELSQ)²) · DEN(k) over k ≠ ``skip`` (0: none), with
    DEN(k) = BETA·HDIAG(k) + VLAG(k)².  Returns (KNEW, DENOM, SCADEN, BIGLSQ); KNEW 0
    and DENOM as given when no point scores above 0."""
    scaden = biglsq = ZERO
    knew = 0
    for k in range(1, npt + 1):
        if k == skip:
            continue
        hdiag = ZERO
        for jj in range(1, nptm + 1):
            hdiag = hdiag + zmat[k][jj] * zmat[k][jj]
        den = beta * hdiag + vlag[k] * vlag[k]
        distsq = ZERO
        for j in range(1, n + 1):
            t = xpt[k][j] - centre[j]
            distsq = distsq + t * t
        t = distsq / delsq
        temp = max(ONE, t * t)
        if temp * den > scaden:
            scaden = temp * den
            knew = k
            denom = den
        biglsq = max(biglsq, temp * (vlag[k] * vlag[k]))
    return knew, denom, scaden, biglsq


def _bobyqa_fortran(n, npt, x, xl, xu, rhobeg, rhoend, maxfun, calfun) -> tuple[int, int]:
    """SUBROUTINE BOBYQA: check the ranges, move X off the bounds where the initial
    model needs it, and run BOBYQB.  ``x`` (1-based) is overwritten with the result.
    Returns (IERR, number of RESCUE evaluations)."""
    np_ = n + 1
    if npt < n + 2 or npt > ((n + 2) * np_) // 2:
        return 10, 0
    sl = [ZERO] * (n + 1)
    su = [ZERO] * (n + 1)
    for j in range(1, n + 1):
        temp = xu[j] - xl[j]
        if temp < rhobeg + rhobeg:
            return 20, 0
        sl[j] = xl[j] - x[j]
        su[j] = xu[j] - x[j]
        if sl[j] >= -rhobeg:
            if sl[j] >= ZERO:
                x[j] = xl[j]
                sl[j] = ZERO
                su[j] = temp
            else:
                x[j] = xl[j] + rhobeg
                sl[j] = -rhobeg
                su[j] = max(xu[j] - x[j], rhobeg)
        elif su[j] <= rhobeg:
            if su[j] <= ZERO:
                x[j] = xu[j]
                sl[j] = -temp
                su[j] = ZERO
            else:
                x[j] = xu[j] - rhobeg
                sl[j] = min(xl[j] - x[j], -rhobeg)
                su[j] = rhobeg
    return _bobyqb(n, npt, x, xl, xu, rhobeg, rhoend, maxfun, sl, su, calfun)


def _bobyqb(n, npt, x, xl, xu, rhobeg, rhoend, maxfun, sl, su, calfun) -> tuple[int, int]:
    """SUBROUTINE BOBYQB, the main iteration.  Returns (IERR, RESCUE evaluations)."""
    np_ = n + 1
    nptm = npt - np_
    nh = (n * np_) // 2
    ndim = npt + n
    xbase = [ZERO] * (n + 1)
    xpt = _mat(npt, n)
    fval = [ZERO] * (npt + 1)
    xopt = [ZERO] * (n + 1)
    gopt = [ZERO] * (n + 1)
    hq = [ZERO] * (nh + 1)
    pq = [ZERO] * (npt + 1)
    bmat = _mat(ndim, n)
    zmat = _mat(npt, max(nptm, 1))
    xnew = [ZERO] * (n + 1)
    xalt = [ZERO] * (n + 1)
    d = [ZERO] * (n + 1)
    vlag = [ZERO] * (ndim + 1)
    # W: BOBYQB's own uses need W(1..2*NPT); W(1..N) is also TRSBOX's GNEW, which is read
    # at label 60 (BDTEST).  The other work arrays of the callees are kept separately:
    # each callee sets them before reading them and BOBYQB never reads them back.
    w = [ZERO] * (3 * ndim + 1)
    xbdi, s, hs, hred = ([ZERO] * (n + 1) for _ in range(4))
    glag, hcol, w_alt = [ZERO] * (n + 1), [ZERO] * (npt + 1), [ZERO] * (2 * n + 1)
    w_upd = [ZERO] * (ndim + 1)
    ptsaux, ptsid = _mat(2, n), [ZERO] * (npt + 1)
    w_res = [ZERO] * (ndim + npt + 1)
    ierr = 0
    nrescue = 0

    # PRELIM: XBASE, XPT, FVAL, GOPT, HQ, PQ, BMAT, ZMAT, NF and KOPT.
    nf, kopt = prelim(n, npt, x, xl, xu, rhobeg, maxfun, xbase, xpt, fval, gopt, hq, pq,
                      bmat, zmat, ndim, sl, su, calfun)
    xoptsq = ZERO
    for i in range(1, n + 1):
        xopt[i] = xpt[kopt][i]
        xoptsq = xoptsq + xopt[i] * xopt[i]
    fsave = fval[1]
    f = fsave
    # Scalars that the Fortran defines before use on every path (given initial values
    # here only so that Python knows them).
    kbase = 1
    rho = rhobeg
    delta = rho
    nresc = nf
    ntrits = 0
    diffa = diffb = diffc = ZERO
    itest = 0
    nfsav = nf
    dsq = crvmin = dnorm = ratio = distsq = adelt = alpha = cauchy = ZERO
    beta = denom = vquad = fopt = diff = ZERO
    knew = 0
    if nf < npt:
        ierr = 390
        label = 720
    else:
        label = 20

    while True:
        if label == 20:
            # Update GOPT before the first iteration and after RESCUE with evaluations.
            if kopt != kbase:
                ih = 0
                for j in range(1, n + 1):
                    for i in range(1, j + 1):
                        ih = ih + 1
                        if i < j:
                            gopt[j] = gopt[j] + hq[ih] * xopt[i]
                        gopt[i] = gopt[i] + hq[ih] * xopt[j]
                if nf > npt:
                    for k in range(1, npt + 1):
                        temp = ZERO
                        for j in range(1, n + 1):
                            temp = temp + xpt[k][j] * xopt[j]
                        temp = pq[k] * temp
                        for i in range(1, n + 1):
                            gopt[i] = gopt[i] + temp * xpt[k][i]
            label = 60

        if label == 60:
            # A trust-region step.  If it is shorter than HALF*RHO, NTRITS = -1 and the
            # branch is to 650 or 680 instead of evaluating F at XNEW.
            dsq, crvmin = trsbox(n, npt, xpt, xopt, gopt, hq, pq, sl, su, delta, xnew, d,
                                 w, xbdi, s, hs, hred)
            dnorm = min(delta, math.sqrt(dsq))
            if dnorm < HALF * rho:
                ntrits = -1
                t = TEN * rho
                distsq = t * t
                if nf <= nfsav + 2:
                    label = 650
                    continue
                # Is the work with this RHO complete?  Compare the errors of the model
                # at the last three points with the likely improvements near XOPT.
                errbig = max(diffa, diffb, diffc)
                frhosq = 0.125 * rho * rho
                if crvmin > ZERO and errbig > frhosq * crvmin:
                    label = 650
                    continue
                bdtol = errbig / rho
                label = 680
                for j in range(1, n + 1):
                    bdtest = bdtol
                    if xnew[j] == sl[j]:
                        bdtest = w[j]
                    if xnew[j] == su[j]:
                        bdtest = -w[j]
                    if bdtest < bdtol:
                        curv = hq[(j + j * j) // 2]
                        for k in range(1, npt + 1):
                            curv = curv + pq[k] * (xpt[k][j] * xpt[k][j])
                        bdtest = bdtest + HALF * curv * rho
                        if bdtest < bdtol:
                            label = 650
                            break
                continue
            ntrits = ntrits + 1
            label = 90

        if label == 90:
            # Shift XBASE to XOPT if XOPT is far from XBASE (severe cancellation).
            if dsq <= 1.0e-3 * xoptsq:
                fracsq = 0.25 * xoptsq
                sumpq = ZERO
                for k in range(1, npt + 1):
                    sumpq = sumpq + pq[k]
                    sum_ = -(HALF * xoptsq)
                    for i in range(1, n + 1):
                        sum_ = sum_ + xpt[k][i] * xopt[i]
                    w[npt + k] = sum_
                    temp = fracsq - HALF * sum_
                    for i in range(1, n + 1):
                        w[i] = bmat[k][i]
                        vlag[i] = sum_ * xpt[k][i] + temp * xopt[i]
                        ip = npt + i
                        for j in range(1, i + 1):
                            bmat[ip][j] = bmat[ip][j] + w[i] * vlag[j] + vlag[i] * w[j]
                # The revisions of BMAT that depend on ZMAT.
                for jj in range(1, nptm + 1):
                    sumz = sumw = ZERO
                    for k in range(1, npt + 1):
                        sumz = sumz + zmat[k][jj]
                        vlag[k] = w[npt + k] * zmat[k][jj]
                        sumw = sumw + vlag[k]
                    for j in range(1, n + 1):
                        sum_ = (fracsq * sumz - HALF * sumw) * xopt[j]
                        for k in range(1, npt + 1):
                            sum_ = sum_ + vlag[k] * xpt[k][j]
                        w[j] = sum_
                        for k in range(1, npt + 1):
                            bmat[k][j] = bmat[k][j] + sum_ * zmat[k][jj]
                    for i in range(1, n + 1):
                        ip = i + npt
                        temp = w[i]
                        for j in range(1, i + 1):
                            bmat[ip][j] = bmat[ip][j] + temp * w[j]
                # Complete the shift, including the second derivative parameters.
                ih = 0
                for j in range(1, n + 1):
                    w[j] = -(HALF * sumpq * xopt[j])
                    for k in range(1, npt + 1):
                        w[j] = w[j] + pq[k] * xpt[k][j]
                        xpt[k][j] = xpt[k][j] - xopt[j]
                    for i in range(1, j + 1):
                        ih = ih + 1
                        hq[ih] = hq[ih] + w[i] * xopt[j] + xopt[i] * w[j]
                        bmat[npt + i][j] = bmat[npt + j][i]
                for i in range(1, n + 1):
                    xbase[i] = xbase[i] + xopt[i]
                    xnew[i] = xnew[i] - xopt[i]
                    sl[i] = sl[i] - xopt[i]
                    su[i] = su[i] - xopt[i]
                    xopt[i] = ZERO
                xoptsq = ZERO
            label = 210 if ntrits == 0 else 230

        if label == 190:
            # RESCUE: new BMAT and ZMAT around XOPT (moves XBASE to XOPT too).
            nfsav = nf
            kbase = kopt
            nf, kopt, ncalls = rescue(n, npt, xl, xu, maxfun, xbase, xpt, fval, xopt, gopt,
                                      hq, pq, bmat, zmat, ndim, sl, su, nf, delta, kopt,
                                      vlag, ptsaux, ptsid, w_res, calfun)
            nrescue += ncalls
            xoptsq = ZERO
            if kopt != kbase:
                for i in range(1, n + 1):
                    xopt[i] = xpt[kopt][i]
                    xoptsq = xoptsq + xopt[i] * xopt[i]
            if nf < 0:
                nf = maxfun
                ierr = 390
                label = 720
                continue
            nresc = nf
            if nfsav < nf:
                nfsav = nf
                label = 20
                continue
            if ntrits > 0:
                label = 60
                continue
            label = 210

        if label == 210:
            # ALTMOV: two alternative new positions for the KNEW-th point.
            alpha, cauchy = altmov(n, npt, xpt, xopt, bmat, zmat, ndim, sl, su, kopt, knew,
                                   adelt, xnew, xalt, glag, hcol, w_alt)
            for i in range(1, n + 1):
                d[i] = xnew[i] - xopt[i]
            label = 230

        if label == 230:
            # VLAG and BETA for the current D; W(NPT+K) = D'XPT(K,.) for VQUAD.
            for k in range(1, npt + 1):
                suma = sumb = sum_ = ZERO
                xk, bk = xpt[k], bmat[k]
                for j in range(1, n + 1):
                    suma = suma + xk[j] * d[j]
                    sumb = sumb + xk[j] * xopt[j]
                    sum_ = sum_ + bk[j] * d[j]
                w[k] = suma * (HALF * suma + sumb)
                vlag[k] = sum_
                w[npt + k] = suma
            beta = zmat_beta(npt, nptm, zmat, w, vlag)
            dsq = bsum = dx = ZERO
            for j in range(1, n + 1):
                dsq = dsq + d[j] * d[j]
                sum_ = ZERO
                for k in range(1, npt + 1):
                    sum_ = sum_ + w[k] * bmat[k][j]
                bsum = bsum + sum_ * d[j]
                jp = npt + j
                for i in range(1, n + 1):
                    sum_ = sum_ + bmat[jp][i] * d[i]
                vlag[jp] = sum_
                bsum = bsum + sum_ * d[j]
                dx = dx + d[j] * xopt[j]
            beta = dx * dx + dsq * (xoptsq + dx + dx + HALF * dsq) + beta - bsum
            vlag[kopt] = vlag[kopt] + ONE
            if ntrits == 0:
                # Maybe replace the ALTMOV step by the Cauchy step; maybe RESCUE.
                denom = vlag[knew] * vlag[knew] + alpha * beta
                if denom < cauchy and cauchy > ZERO:
                    for i in range(1, n + 1):
                        xnew[i] = xalt[i]
                        d[i] = xnew[i] - xopt[i]
                    cauchy = ZERO
                    continue  # label 230
                if denom <= HALF * (vlag[knew] * vlag[knew]):
                    if nf > nresc:
                        label = 190
                        continue
                    ierr = 320
                    label = 720
                    continue
            else:
                # KNEW: the point to delete for the trust-region step; maybe RESCUE.
                knew, denom, scaden, biglsq = _farthest_useful(
                    n, npt, nptm, zmat, vlag, beta, xpt, xopt, delta * delta, kopt, denom)
                if scaden <= HALF * biglsq:
                    if nf > nresc:
                        label = 190
                        continue
                    ierr = 320
                    label = 720
                    continue
            label = 360

        if label == 360:
            # F at XBASE+XNEW, unless MAXFUN evaluations have been made.
            bounded_point(x, xnew, xbase, xl, xu, sl, su, n)
            if nf >= maxfun:
                ierr = 390
                label = 720
                continue
            nf = nf + 1
            f = calfun(x)
            if ntrits == -1:
                fsave = f
                label = 720
                continue
            # DIFF, the error of the model's prediction of the change in F.
            fopt = fval[kopt]
            vquad = ZERO
            ih = 0
            for j in range(1, n + 1):
                vquad = vquad + d[j] * gopt[j]
                for i in range(1, j + 1):
                    ih = ih + 1
                    temp = d[i] * d[j]
                    if i == j:
                        temp = HALF * temp
                    vquad = vquad + hq[ih] * temp
            for k in range(1, npt + 1):
                vquad = vquad + HALF * pq[k] * (w[npt + k] * w[npt + k])
            diff = f - fopt - vquad
            diffc = diffb
            diffb = diffa
            diffa = abs(diff)
            if dnorm > rho:
                nfsav = nf
            # DELTA after a trust-region step.
            if ntrits > 0:
                if vquad >= ZERO:
                    ierr = 430
                    label = 720
                    continue
                ratio = (f - fopt) / vquad
                if ratio <= TENTH:
                    delta = min(HALF * delta, dnorm)
                elif ratio <= 0.7:
                    delta = max(HALF * delta, dnorm)
                else:
                    delta = max(HALF * delta, dnorm + dnorm)
                if delta <= 1.5 * rho:
                    delta = rho
                # KNEW and DENOM again if the new F is less than FOPT.
                if f < fopt:
                    ksav = knew
                    densav = denom
                    knew, denom, scaden, biglsq = _farthest_useful(
                        n, npt, nptm, zmat, vlag, beta, xpt, xnew, delta * delta, 0, denom)
                    if scaden <= HALF * biglsq:
                        knew = ksav
                        denom = densav
            # Update BMAT, ZMAT and the second derivative terms of the model.
            update(n, npt, bmat, zmat, ndim, vlag, beta, denom, knew, w_upd)
            ih = 0
            pqold = pq[knew]
            pq[knew] = ZERO
            for i in range(1, n + 1):
                temp = pqold * xpt[knew][i]
                for j in range(1, i + 1):
                    ih = ih + 1
                    hq[ih] = hq[ih] + temp * xpt[knew][j]
            for jj in range(1, nptm + 1):
                temp = diff * zmat[knew][jj]
                for k in range(1, npt + 1):
                    pq[k] = pq[k] + temp * zmat[k][jj]
            # Include the new point; the changes to GOPT at the old XOPT.
            fval[knew] = f
            for i in range(1, n + 1):
                xpt[knew][i] = xnew[i]
                w[i] = bmat[knew][i]
            for k in range(1, npt + 1):
                suma = ZERO
                for jj in range(1, nptm + 1):
                    suma = suma + zmat[knew][jj] * zmat[k][jj]
                sumb = ZERO
                for j in range(1, n + 1):
                    sumb = sumb + xpt[k][j] * xopt[j]
                temp = suma * sumb
                for i in range(1, n + 1):
                    w[i] = w[i] + temp * xpt[k][i]
            for i in range(1, n + 1):
                gopt[i] = gopt[i] + diff * w[i]
            # XOPT, GOPT and KOPT if the new F is less than FOPT.
            if f < fopt:
                kopt = knew
                xoptsq = ZERO
                ih = 0
                for j in range(1, n + 1):
                    xopt[j] = xnew[j]
                    xoptsq = xoptsq + xopt[j] * xopt[j]
                    for i in range(1, j + 1):
                        ih = ih + 1
                        if i < j:
                            gopt[j] = gopt[j] + hq[ih] * d[i]
                        gopt[i] = gopt[i] + hq[ih] * d[j]
                for k in range(1, npt + 1):
                    temp = ZERO
                    for j in range(1, n + 1):
                        temp = temp + xpt[k][j] * d[j]
                    temp = pq[k] * temp
                    for i in range(1, n + 1):
                        gopt[i] = gopt[i] + temp * xpt[k][i]
            # The least Frobenius norm interpolant; its gradient at XOPT in VLAG(NPT+I).
            if ntrits > 0:
                for k in range(1, npt + 1):
                    vlag[k] = fval[k] - fval[kopt]
                    w[k] = ZERO
                for j in range(1, nptm + 1):
                    sum_ = ZERO
                    for k in range(1, npt + 1):
                        sum_ = sum_ + zmat[k][j] * vlag[k]
                    for k in range(1, npt + 1):
                        w[k] = w[k] + sum_ * zmat[k][j]
                for k in range(1, npt + 1):
                    sum_ = ZERO
                    for j in range(1, n + 1):
                        sum_ = sum_ + xpt[k][j] * xopt[j]
                    w[k + npt] = w[k]
                    w[k] = sum_ * w[k]
                gqsq = gisq = ZERO
                for i in range(1, n + 1):
                    sum_ = ZERO
                    for k in range(1, npt + 1):
                        sum_ = sum_ + bmat[k][i] * vlag[k] + xpt[k][i] * w[k]
                    if xopt[i] == sl[i]:
                        t, u = min(ZERO, gopt[i]), min(ZERO, sum_)
                        gqsq = gqsq + t * t
                        gisq = gisq + u * u
                    elif xopt[i] == su[i]:
                        t, u = max(ZERO, gopt[i]), max(ZERO, sum_)
                        gqsq = gqsq + t * t
                        gisq = gisq + u * u
                    else:
                        gqsq = gqsq + gopt[i] * gopt[i]
                        gisq = gisq + sum_ * sum_
                    vlag[npt + i] = sum_
                # Replace the model by the least Frobenius norm interpolant if the test
                # has held three times in a row.
                itest = itest + 1
                if gqsq < TEN * gisq:
                    itest = 0
                if itest >= 3:
                    for i in range(1, max(npt, nh) + 1):
                        if i <= n:
                            gopt[i] = vlag[npt + i]
                        if i <= npt:
                            pq[i] = w[npt + i]
                        if i <= nh:
                            hq[i] = ZERO
                        itest = 0
            # Another trust-region step after a sufficient decrease or an alternative step.
            if ntrits == 0:
                label = 60
                continue
            if f <= fopt + TENTH * vquad:
                label = 60
                continue
            # Otherwise, are the interpolation points close enough to the best point?
            t, u = TWO * delta, TEN * rho
            distsq = max(t * t, u * u)
            label = 650

        if label == 650:
            knew = 0
            for k in range(1, npt + 1):
                sum_ = ZERO
                for j in range(1, n + 1):
                    t = xpt[k][j] - xopt[j]
                    sum_ = sum_ + t * t
                if sum_ > distsq:
                    knew = k
                    distsq = sum_
            # If KNEW > 0, ALTMOV moves the KNEW-th point to within ADELT of XOPT (via
            # label 90); else another trust-region step, unless this RHO is done.
            if knew > 0:
                dist = math.sqrt(distsq)
                if ntrits == -1:
                    delta = min(TENTH * delta, HALF * dist)
                    if delta <= 1.5 * rho:
                        delta = rho
                ntrits = 0
                adelt = max(min(TENTH * dist, delta), rho)
                dsq = adelt * adelt
                label = 90
                continue
            if ntrits == -1:
                label = 680
            elif ratio > ZERO:
                label = 60
                continue
            elif max(delta, dnorm) > rho:
                label = 60
                continue
            else:
                label = 680

        if label == 680:
            # The work with this RHO is complete: the next RHO and DELTA.
            if rho > rhoend:
                delta = HALF * rho
                ratio = rho / rhoend
                if ratio <= 16.0:
                    rho = rhoend
                elif ratio <= 250.0:
                    rho = math.sqrt(ratio) * rhoend
                else:
                    rho = TENTH * rho
                delta = max(delta, rho)
                ntrits = 0
                nfsav = nf
                label = 60
                continue
            # Return, after another Newton-Raphson step if it is too short to have been
            # tried before.
            if ntrits == -1:
                label = 360
                continue
            label = 720

        if label == 720:
            if fval[kopt] <= fsave:
                bounded_point(x, xopt, xbase, xl, xu, sl, su, n)
                f = fval[kopt]
            return ierr, nrescue


def _as_real(value) -> float:
    """R's ``Rf_asReal`` of the objective's value (its first element)."""
    return float(np.asarray(value, dtype=float).reshape(-1)[0])


def bobyqa(fun: Callable[[np.ndarray], float], x0, lower, upper, *, npt: int | None = None,
           rhobeg: float | None = None, rhoend: float | None = None,
           maxfun: int = 10000) -> OptResult:
    """Minimize ``fun`` over the box ``[lower, upper]`` from ``x0`` as ``minqa::bobyqa``.

    Parameters
    ----------
    fun : callable
        Objective ``fun(x) -> float``; called with a fresh array each time.  Exceptions
        it raises propagate unchanged.
    x0, lower, upper : array_like
        Start and bounds (``lower``/``upper`` may be scalars and may be infinite).
    npt, rhobeg, rhoend, maxfun
        minqa's ``control`` settings; ``None`` means minqa's default (module docstring).

    Returns
    -------
    OptResult
        ``x`` minqa's ``par``; ``fun`` its ``fval`` (``fun`` evaluated once more at
        ``par``); ``n_evals`` its ``feval``; ``converged`` whether ``ierr == 0``;
        ``message`` minqa's ``msg``; ``settings`` npt, rhobeg, rhoend, maxfun, ierr and
        rescue_evals (RESCUE evaluations, at which R's minqa evaluates garbage).
    """
    par = np.array(x0, dtype=float).reshape(-1)
    n = par.size
    if n == 0 or not np.all(np.isfinite(par)):
        raise InterlaceError("all(is.finite(par)) is not TRUE")
    # commonArgs(): npt, rhobeg, rhoend.
    npt_ = min(n + 2, 2 * n) if npt is None else int(npt)
    npt_ = max(n + 2, min(npt_, ((n + 1) * (n + 2)) // 2))
    if npt_ > 2 * n + 1:
        warn("Setting npt > 2 * length(par) + 1 is not recommended.")
    rb = min(0.95, 0.2 * float(np.max(np.abs(par)))) if rhobeg is None else float(rhobeg)
    re = 1.0e-6 * rb if rhoend is None else float(rhoend)
    if not 0 < re:
        raise InterlaceError("0 < ctrl$rhoend is not TRUE")
    if not re <= rb:
        raise InterlaceError("ctrl$rhoend <= ctrl$rhobeg is not TRUE")
    maxfun = int(maxfun)
    if maxfun < 10 * n ** 2:
        warn("maxfun < 10 * length(par)^2 is not recommended.")
    # bobyqa(): the check evaluation at par, then the bounds.
    check = np.asarray(fun(par.copy()))
    if check.size != 1 or not np.issubdtype(check.dtype, np.number):
        raise InterlaceError("Objective function must return a single numeric value.")
    lo = np.array(lower, dtype=float).reshape(-1)
    hi = np.array(upper, dtype=float).reshape(-1)
    if lo.size == 1:
        lo = np.repeat(lo, n)
    if hi.size == 1:
        hi = np.repeat(hi, n)
    if lo.size != n or hi.size != n or not np.all(lo < hi):
        raise InterlaceError("length(lower) == n, length(upper) == n and all(lower < upper) "
                             "must hold")
    if np.any((par < lo) | (par > hi)):
        raise InterlaceError("Starting values violate bounds")
    rng = hi - lo
    if np.any(rng < 2 * rb):
        warn("All upper - lower must be >= 2*rhobeg. Changing rhobeg")
        rb = 0.2 * float(np.min(rng))
    # (minqa's "Jens modification", which moves par when a range is below rhobeg, can
    # never act after the reduction above, so it is omitted.)

    feval = 0

    def calfun(xs: list[float]) -> float:  # minqa.cpp's calfun
        nonlocal feval
        feval += 1
        xv = np.array(xs[1:n + 1], dtype=float)
        if not np.all(np.isfinite(xv)):
            raise NumericalError("non-finite x values not allowed in calfun")
        f = _as_real(fun(xv))
        return f if math.isfinite(f) else DBL_MAX

    x = _vec(par)
    ierr, nrescue = _bobyqa_fortran(n, npt_, x, _vec(lo), _vec(hi), rb, re, maxfun, calfun)
    xr = np.array(x[1:], dtype=float)
    fval = _as_real(fun(xr.copy()))  # minqa.cpp's rval()
    code, msg = MESSAGES[ierr]
    settings = {"npt": npt_, "rhobeg": rb, "rhoend": re, "maxfun": maxfun, "ierr": code,
                "rescue_evals": nrescue}
    return OptResult(xr, fval, feval, code == 0, msg, settings)
