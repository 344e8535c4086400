"""The subroutines of Powell's BOBYQA that BOBYQB calls, as minqa 1.2.5 ships them.

PRELIM (initial interpolation set and model), TRSBOX (trust-region step in a box), ALTMOV
(alternative step that keeps the interpolation set well posed), RESCUE (rebuilds BMAT and
ZMAT from scratch) and UPDATEBOBYQA (BOBYQA's UPDATE of BMAT and ZMAT), ported line for
line from minqa's ``src/prelim.f``, ``trsbox.f``, ``altmov.f``, ``rescue.f`` and
``updatebobyqa.f`` (Powell 2009, Cambridge NA Report NA2009/06).  See
:mod:`interlace.optimize.powell` for the driver and what could not be ported exactly.

Conventions, chosen so that every line can be checked against the Fortran:

* arrays are Python lists indexed from 1 like the Fortran (element 0 is unused); the
  two-dimensional ``XPT(K,J)``, ``BMAT(I,J)``, ``ZMAT(K,J)`` and ``PTSAUX(I,J)`` are
  lists of rows, ``xpt[k][j]``;
* every scalar expression keeps the Fortran's order of evaluation (``A*B*C`` is
  ``(A*B)*C``, ``X**2`` is ``X*X``, ``-A*B`` is ``-(A*B)``, sums accumulate in loop
  order), because gfortran -O2 (no FMA, no reassociation, no vectorised reductions in
  minqa.so) evaluates them exactly so, and IEEE double arithmetic is then bit for bit
  the same in Python;
* GOTO-based control flow becomes a ``while True`` loop over a ``label`` variable named
  after the Fortran statement labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["altmov", "prelim", "rescue", "trsbox", "update"]

HALF, ONE, TWO, ZERO = 0.5, 1.0, 2.0, 0.0


def dsqrt(x: float) -> float:
    """Fortran DSQRT: NaN, not an exception, for a negative or NaN argument."""
    return math.sqrt(x) if x >= ZERO else math.nan


def bounded_point(out, step, xbase, xl, xu, sl, su, n) -> None:
    """``out`` = XBASE + ``step`` inside [XL, XU], exactly the bound where ``step`` is at
    SL or SU: the point BOBYQA evaluates F at (Powell's four copies of this loop)."""
    for i in range(1, n + 1):
        out[i] = min(max(xl[i], xbase[i] + step[i]), xu[i])
        if step[i] == sl[i]:
            out[i] = xl[i]
        if step[i] == su[i]:
            out[i] = xu[i]


def zmat_beta(npt, nptm, zmat, w, vlag) -> float:
    """BETA = −Σ_jj (ZMAT(.,jj)ᵀ W)² and VLAG += ZMAT (ZMATᵀ W), column by column in
    Powell's order (BOBYQB's and RESCUE's shared loop)."""
    beta = ZERO
    for jj in range(1, nptm + 1):
        sum_ = ZERO
        for k in range(1, npt + 1):
            sum_ = sum_ + zmat[k][jj] * w[k]
        beta = beta - sum_ * sum_
        for k in range(1, npt + 1):
            vlag[k] = vlag[k] + sum_ * zmat[k][jj]
    return beta


def prelim(n, npt, x, xl, xu, rhobeg, maxfun, xbase, xpt, fval, gopt, hq, pq, bmat, zmat,
           ndim, sl, su, calfun: Callable) -> tuple[int, int]:
    """PRELIM: the first NPT points and the initial quadratic model.  Returns (NF, KOPT)."""
    rhosq = rhobeg * rhobeg
    recip = ONE / rhosq
    np_ = n + 1
    # Set XBASE to the initial vector of variables, and the initial elements of XPT,
    # BMAT, HQ, PQ and ZMAT to zero.
    for j in range(1, n + 1):
        xbase[j] = x[j]
        for k in range(1, npt + 1):
            xpt[k][j] = ZERO
        for i in range(1, ndim + 1):
            bmat[i][j] = ZERO
    for ih in range(1, (n * np_) // 2 + 1):
        hq[ih] = ZERO
    for k in range(1, npt + 1):
        pq[k] = ZERO
        for j in range(1, npt - np_ + 1):
            zmat[k][j] = ZERO
    nf = 0
    kopt = 1
    fbeg = stepa = stepb = ZERO
    ipt = jpt = 0
    while True:  # label 50
        nfm = nf
        nfx = nf - n
        nf = nf + 1
        if nfm <= 2 * n:
            if 1 <= nfm <= n:
                stepa = rhobeg
                if su[nfm] == ZERO:
                    stepa = -stepa
                xpt[nf][nfm] = stepa
            elif nfm > n:
                stepa = xpt[nf - n][nfx]
                stepb = -rhobeg
                if sl[nfx] == ZERO:
                    stepb = min(TWO * rhobeg, su[nfx])
                if su[nfx] == ZERO:
                    stepb = max(-TWO * rhobeg, sl[nfx])
                xpt[nf][nfx] = stepb
        else:
            itemp = (nfm - np_) // n
            jpt = nfm - itemp * n - n
            ipt = jpt + itemp
            if ipt > n:
                itemp = jpt
                jpt = ipt - n
                ipt = itemp
            xpt[nf][ipt] = xpt[ipt + 1][ipt]
            xpt[nf][jpt] = xpt[jpt + 1][jpt]
        # Calculate the next value of F.
        bounded_point(x, xpt[nf], xbase, xl, xu, sl, su, n)
        f = calfun(x)
        fval[nf] = f
        if nf == 1:
            fbeg = f
            kopt = 1
        elif f < fval[kopt]:
            kopt = nf
        # Nonzero initial elements of BMAT and of the quadratic model.
        if nf <= 2 * n + 1:
            if 2 <= nf <= n + 1:
                gopt[nfm] = (f - fbeg) / stepa
                if npt < nf + n:
                    bmat[1][nfm] = -ONE / stepa
                    bmat[nf][nfm] = ONE / stepa
                    bmat[npt + nfm][nfm] = -(HALF * rhosq)
            elif nf >= n + 2:
                ih = (nfx * (nfx + 1)) // 2
                temp = (f - fbeg) / stepb
                diff = stepb - stepa
                hq[ih] = TWO * (temp - gopt[nfx]) / diff
                gopt[nfx] = (gopt[nfx] * stepb - temp * stepa) / diff
                if stepa * stepb < ZERO:
                    if f < fval[nf - n]:
                        fval[nf] = fval[nf - n]
                        fval[nf - n] = f
                        if kopt == nf:
                            kopt = nf - n
                        xpt[nf - n][nfx] = stepb
                        xpt[nf][nfx] = stepa
                bmat[1][nfx] = -((stepa + stepb) / (stepa * stepb))
                bmat[nf][nfx] = -(HALF / xpt[nf - n][nfx])
                bmat[nf - n][nfx] = -bmat[1][nfx] - bmat[nf][nfx]
                zmat[1][nfx] = math.sqrt(TWO) / (stepa * stepb)
                zmat[nf][nfx] = math.sqrt(HALF) / rhosq
                zmat[nf - n][nfx] = -zmat[1][nfx] - zmat[nf][nfx]
        else:
            # Off-diagonal second derivatives of the Lagrange functions and of the model.
            ih = (ipt * (ipt - 1)) // 2 + jpt
            zmat[1][nfx] = recip
            zmat[nf][nfx] = recip
            zmat[ipt + 1][nfx] = -recip
            zmat[jpt + 1][nfx] = -recip
            temp = xpt[nf][ipt] * xpt[nf][jpt]
            hq[ih] = (fbeg - fval[ipt + 1] - fval[jpt + 1] + f) / temp
        if not (nf < npt and nf < maxfun):
            return nf, kopt


def trsbox(n, npt, xpt, xopt, gopt, hq, pq, sl, su, delta, xnew, d, gnew, xbdi, s, hs,
           hred) -> tuple[float, float]:
    """TRSBOX: truncated CG step in the trust region and the box.  Returns (DSQ, CRVMIN).

    ``gnew`` is BOBYQB's ``W(1..N)``: BOBYQB reads the final gradient from there.
    """
    iterc = 0
    nact = 0
    for i in range(1, n + 1):
        xbdi[i] = ZERO
        if xopt[i] <= sl[i]:
            if gopt[i] >= ZERO:
                xbdi[i] = -ONE
        elif xopt[i] >= su[i]:
            if gopt[i] <= ZERO:
                xbdi[i] = ONE
        if xbdi[i] != ZERO:
            nact = nact + 1
        d[i] = ZERO
        gnew[i] = gopt[i]
    delsq = delta * delta
    qred = ZERO
    crvmin = -ONE
    # Scalars that the Fortran leaves undefined until first set.
    beta = gredsq = stepsq = blen = ggsav = sdec = ZERO
    dredsq = dredg = sredg = angbd = xsav = ZERO
    itermax = itcsav = iact = 0
    label = 20
    while True:
        if label == 20:
            beta = ZERO
            label = 30
        if label == 30:
            stepsq = ZERO
            for i in range(1, n + 1):
                if xbdi[i] != ZERO:
                    s[i] = ZERO
                elif beta == ZERO:
                    s[i] = -gnew[i]
                else:
                    s[i] = beta * s[i] - gnew[i]
                stepsq = stepsq + s[i] * s[i]
            if stepsq == ZERO:
                label = 190
                continue
            if beta == ZERO:
                gredsq = stepsq
                itermax = iterc + n - nact
            if gredsq * delsq <= 1.0e-4 * qred * qred:
                label = 190
                continue
            label = 210
            continue
        if label == 50:
            resid = delsq
            ds = shs = ZERO
            for i in range(1, n + 1):
                if xbdi[i] == ZERO:
                    resid = resid - d[i] * d[i]
                    ds = ds + s[i] * d[i]
                    shs = shs + s[i] * hs[i]
            if resid <= ZERO:
                label = 90
                continue
            temp = dsqrt(stepsq * resid + ds * ds)
            if ds < ZERO:
                blen = (temp - ds) / stepsq
            else:
                blen = resid / (temp + ds)
            stplen = blen
            if shs > ZERO:
                stplen = min(blen, gredsq / shs)
            # Reduce STPLEN if necessary in order to preserve the simple bounds.
            iact = 0
            for i in range(1, n + 1):
                if s[i] != ZERO:
                    xsum = xopt[i] + d[i]
                    if s[i] > ZERO:
                        temp = (su[i] - xsum) / s[i]
                    else:
                        temp = (sl[i] - xsum) / s[i]
                    if temp < stplen:
                        stplen = temp
                        iact = i
            # Update CRVMIN, GNEW and D.  SDEC is the decrease in Q.
            sdec = ZERO
            if stplen > ZERO:
                iterc = iterc + 1
                temp = shs / stepsq
                if iact == 0 and temp > ZERO:
                    crvmin = min(crvmin, temp)
                    if crvmin == -ONE:
                        crvmin = temp
                ggsav = gredsq
                gredsq = ZERO
                for i in range(1, n + 1):
                    gnew[i] = gnew[i] + stplen * hs[i]
                    if xbdi[i] == ZERO:
                        gredsq = gredsq + gnew[i] * gnew[i]
                    d[i] = d[i] + stplen * s[i]
                sdec = max(stplen * (ggsav - HALF * stplen * shs), ZERO)
                qred = qred + sdec
            # Restart the conjugate gradient method if it has hit a new bound.
            if iact > 0:
                nact = nact + 1
                xbdi[iact] = ONE
                if s[iact] < ZERO:
                    xbdi[iact] = -ONE
                delsq = delsq - d[iact] * d[iact]
                if delsq <= ZERO:
                    label = 90
                    continue
                label = 20
                continue
            if stplen < blen:
                if iterc == itermax:
                    label = 190
                    continue
                if sdec <= 0.01 * qred:
                    label = 190
                    continue
                beta = gredsq / ggsav
                label = 30
                continue
            label = 90
        if label == 90:
            crvmin = ZERO
            label = 100
        if label == 100:
            # Prepare for the alternative iteration on the trust region boundary.
            if nact >= n - 1:
                label = 190
                continue
            dredsq = dredg = gredsq = ZERO
            for i in range(1, n + 1):
                if xbdi[i] == ZERO:
                    dredsq = dredsq + d[i] * d[i]
                    dredg = dredg + d[i] * gnew[i]
                    gredsq = gredsq + gnew[i] * gnew[i]
                    s[i] = d[i]
                else:
                    s[i] = ZERO
            itcsav = iterc
            label = 210
            continue
        if label == 120:
            iterc = iterc + 1
            temp = gredsq * dredsq - dredg * dredg
            if temp <= 1.0e-4 * qred * qred:
                label = 190
                continue
            temp = dsqrt(temp)
            for i in range(1, n + 1):
                if xbdi[i] == ZERO:
                    s[i] = (dredg * d[i] - dredsq * gnew[i]) / temp
                else:
                    s[i] = ZERO
            sredg = -temp
            # Bound ANGBD on the tangent of half the angle, or fix a free variable that
            # has reached a bound and go back to label 100.
            angbd = ONE
            iact = 0
            label = 150
            for i in range(1, n + 1):
                if xbdi[i] == ZERO:
                    tempa = xopt[i] + d[i] - sl[i]
                    tempb = su[i] - xopt[i] - d[i]
                    if tempa <= ZERO:
                        nact = nact + 1
                        xbdi[i] = -ONE
                        label = 100
                        break
                    elif tempb <= ZERO:
                        nact = nact + 1
                        xbdi[i] = ONE
                        label = 100
                        break
                    ssq = d[i] * d[i] + s[i] * s[i]
                    t = xopt[i] - sl[i]
                    temp = ssq - t * t
                    if temp > ZERO:
                        temp = dsqrt(temp) - s[i]
                        if angbd * temp > tempa:
                            angbd = tempa / temp
                            iact = i
                            xsav = -ONE
                    t = su[i] - xopt[i]
                    temp = ssq - t * t
                    if temp > ZERO:
                        temp = dsqrt(temp) + s[i]
                        if angbd * temp > tempb:
                            angbd = tempb / temp
                            iact = i
                            xsav = ONE
            if label == 100:
                continue
            label = 210  # then 150: HHD and the curvatures of the alternative iteration
            continue
        if label == 150:
            shs = dhs = dhd = ZERO
            for i in range(1, n + 1):
                if xbdi[i] == ZERO:
                    shs = shs + s[i] * hs[i]
                    dhs = dhs + d[i] * hs[i]
                    dhd = dhd + d[i] * hred[i]
            # Greatest reduction in Q for equally spaced ANGT in [0, ANGBD].
            redmax = ZERO
            isav = 0
            redsav = ZERO
            rdprev = rdnext = ZERO
            iu = int(17.0 * angbd + 3.1)
            angt = ZERO
            for i in range(1, iu + 1):
                angt = angbd * float(i) / float(iu)
                sth = (angt + angt) / (ONE + angt * angt)
                temp = shs + angt * (angt * dhd - dhs - dhs)
                rednew = sth * (angt * dredg - sredg - HALF * sth * temp)
                if rednew > redmax:
                    redmax = rednew
                    isav = i
                    rdprev = redsav
                elif i == isav + 1:
                    rdnext = rednew
                redsav = rednew
            if isav == 0:
                label = 190
                continue
            if isav < iu:
                temp = (rdnext - rdprev) / (redmax + redmax - rdprev - rdnext)
                angt = angbd * (float(isav) + HALF * temp) / float(iu)
            cth = (ONE - angt * angt) / (ONE + angt * angt)
            sth = (angt + angt) / (ONE + angt * angt)
            temp = shs + angt * (angt * dhd - dhs - dhs)
            sdec = sth * (angt * dredg - sredg - HALF * sth * temp)
            if sdec <= ZERO:
                label = 190
                continue
            # Update GNEW, D and HRED; fix a variable whose bound restricted the angle.
            dredg = gredsq = ZERO
            for i in range(1, n + 1):
                gnew[i] = gnew[i] + (cth - ONE) * hred[i] + sth * hs[i]
                if xbdi[i] == ZERO:
                    d[i] = cth * d[i] + sth * s[i]
                    dredg = dredg + d[i] * gnew[i]
                    gredsq = gredsq + gnew[i] * gnew[i]
                hred[i] = cth * hred[i] + sth * hs[i]
            qred = qred + sdec
            if iact > 0 and isav == iu:
                nact = nact + 1
                xbdi[iact] = xsav
                label = 100
                continue
            if sdec > 0.01 * qred:
                label = 120
                continue
            label = 190
        if label == 190:
            dsq = ZERO
            for i in range(1, n + 1):
                xnew[i] = max(min(xopt[i] + d[i], su[i]), sl[i])
                if xbdi[i] == -ONE:
                    xnew[i] = sl[i]
                if xbdi[i] == ONE:
                    xnew[i] = su[i]
                d[i] = xnew[i] - xopt[i]
                dsq = dsq + d[i] * d[i]
            return dsq, crvmin
        if label == 210:
            # HS = (second derivative matrix of Q) times S.
            ih = 0
            for j in range(1, n + 1):
                hs[j] = ZERO
                for i in range(1, j + 1):
                    ih = ih + 1
                    if i < j:
                        hs[j] = hs[j] + hq[ih] * s[i]
                    hs[i] = hs[i] + hq[ih] * s[j]
            for k in range(1, npt + 1):
                if pq[k] != ZERO:
                    xk = xpt[k]
                    temp = ZERO
                    for j in range(1, n + 1):
                        temp = temp + xk[j] * s[j]
                    temp = temp * pq[k]
                    for i in range(1, n + 1):
                        hs[i] = hs[i] + temp * xk[i]
            if crvmin != ZERO:
                label = 50
                continue
            if iterc > itcsav:
                label = 150
                continue
            for i in range(1, n + 1):
                hred[i] = hs[i]
            label = 120
            continue


def altmov(n, npt, xpt, xopt, bmat, zmat, ndim, sl, su, kopt, knew, adelt, xnew, xalt,
           glag, hcol, w) -> tuple[float, float]:
    """ALTMOV: XNEW on a line through XOPT, XALT a constrained Cauchy step of the KNEW-th
    Lagrange function.  Returns (ALPHA, CAUCHY)."""
    const = ONE + math.sqrt(2.0)
    for k in range(1, npt + 1):
        hcol[k] = ZERO
    for j in range(1, npt - n):
        temp = zmat[knew][j]
        for k in range(1, npt + 1):
            hcol[k] = hcol[k] + temp * zmat[k][j]
    alpha = hcol[knew]
    ha = HALF * alpha
    # Gradient of the KNEW-th Lagrange function at XOPT.
    for i in range(1, n + 1):
        glag[i] = bmat[knew][i]
    for k in range(1, npt + 1):
        temp = ZERO
        for j in range(1, n + 1):
            temp = temp + xpt[k][j] * xopt[j]
        temp = hcol[k] * temp
        for i in range(1, n + 1):
            glag[i] = glag[i] + temp * xpt[k][i]
    # Search for a large denominator along the lines through XOPT and another point.
    presav = ZERO
    ksav, stpsav = kopt, ZERO  # undefined in the Fortran if no PREDSQ is positive
    for k in range(1, npt + 1):
        if k == kopt:
            continue
        dderiv = distsq = ZERO
        for i in range(1, n + 1):
            temp = xpt[k][i] - xopt[i]
            dderiv = dderiv + glag[i] * temp
            distsq = distsq + temp * temp
        subd = adelt / dsqrt(distsq)
        slbd = -subd
        sumin = min(ONE, subd)
        # Revise SLBD and SUBD because of the bounds in SL and SU.  (ILBD, IUBD, ISBD and
        # IBDSAV are not kept: minqa 1.2.5 sets IBDSAV = 0 before its only use.)
        for i in range(1, n + 1):
            temp = xpt[k][i] - xopt[i]
            if temp > ZERO:
                if slbd * temp < sl[i] - xopt[i]:
                    slbd = (sl[i] - xopt[i]) / temp
                if subd * temp > su[i] - xopt[i]:
                    subd = max(sumin, (su[i] - xopt[i]) / temp)
            elif temp < ZERO:
                if slbd * temp > su[i] - xopt[i]:
                    slbd = (su[i] - xopt[i]) / temp
                if subd * temp < sl[i] - xopt[i]:
                    subd = max(sumin, (sl[i] - xopt[i]) / temp)
        if k == knew:
            diff = dderiv - ONE
            step = slbd
            vlag = slbd * (dderiv - slbd * diff)
            temp = subd * (dderiv - subd * diff)
            if abs(temp) > abs(vlag):
                step = subd
                vlag = temp
            tempd = HALF * dderiv
            tempa = tempd - diff * slbd
            tempb = tempd - diff * subd
            if tempa * tempb < ZERO:
                temp = tempd * tempd / diff
                if abs(temp) > abs(vlag):
                    step = tempd / diff
                    vlag = temp
        else:
            step = slbd
            vlag = slbd * (ONE - slbd)
            temp = subd * (ONE - subd)
            if abs(temp) > abs(vlag):
                step = subd
                vlag = temp
            if subd > HALF:
                if abs(vlag) < 0.25:
                    step = HALF
                    vlag = 0.25
            vlag = vlag * dderiv
        # PREDSQ for this line; PRESAV the largest so far.
        temp = step * (ONE - step) * distsq
        predsq = vlag * vlag * (vlag * vlag + ha * temp * temp)
        if predsq > presav:
            presav = predsq
            ksav = k
            stpsav = step
    # XNEW, satisfying the bound constraints exactly.
    for i in range(1, n + 1):
        temp = xopt[i] + stpsav * (xpt[ksav][i] - xopt[i])
        xnew[i] = max(sl[i], min(su[i], temp))
    # The constrained Cauchy step, in W, first downhill (IFLAG = 0), then uphill.
    bigstp = adelt + adelt
    iflag = 0
    csave = cauchy = ZERO
    while True:  # label 100
        wfixsq = ggfree = ZERO
        for i in range(1, n + 1):
            w[i] = ZERO
            tempa = min(xopt[i] - sl[i], glag[i])
            tempb = max(xopt[i] - su[i], glag[i])
            if tempa > ZERO or tempb < ZERO:
                w[i] = bigstp
                ggfree = ggfree + glag[i] * glag[i]
        if ggfree == ZERO:
            return alpha, ZERO
        step = ZERO
        while True:  # label 120
            temp = adelt * adelt - wfixsq
            if temp > ZERO:
                wsqsav = wfixsq
                step = dsqrt(temp / ggfree)
                ggfree = ZERO
                for i in range(1, n + 1):
                    if w[i] == bigstp:
                        temp = xopt[i] - step * glag[i]
                        if temp <= sl[i]:
                            w[i] = sl[i] - xopt[i]
                            wfixsq = wfixsq + w[i] * w[i]
                        elif temp >= su[i]:
                            w[i] = su[i] - xopt[i]
                            wfixsq = wfixsq + w[i] * w[i]
                        else:
                            ggfree = ggfree + glag[i] * glag[i]
                if wfixsq > wsqsav and ggfree > ZERO:
                    continue
            break
        # The remaining free components of W, and XALT.
        gw = ZERO
        for i in range(1, n + 1):
            if w[i] == bigstp:
                w[i] = -step * glag[i]
                xalt[i] = max(sl[i], min(su[i], xopt[i] + w[i]))
            elif w[i] == ZERO:
                xalt[i] = xopt[i]
            elif glag[i] > ZERO:
                xalt[i] = sl[i]
            else:
                xalt[i] = su[i]
            gw = gw + glag[i] * w[i]
        # CURV, the curvature of the KNEW-th Lagrange function along W; maybe scale W.
        curv = ZERO
        for k in range(1, npt + 1):
            temp = ZERO
            for j in range(1, n + 1):
                temp = temp + xpt[k][j] * w[j]
            curv = curv + hcol[k] * temp * temp
        if iflag == 1:
            curv = -curv
        if curv > -gw and curv < -(const * gw):
            scale = -gw / curv
            for i in range(1, n + 1):
                temp = xopt[i] + scale * w[i]
                xalt[i] = max(sl[i], min(su[i], temp))
            t = HALF * gw * scale
            cauchy = t * t
        else:
            t = gw + HALF * curv
            cauchy = t * t
        if iflag == 0:
            for i in range(1, n + 1):
                glag[i] = -glag[i]
                w[n + i] = xalt[i]
            csave = cauchy
            iflag = 1
            continue
        if csave > cauchy:
            for i in range(1, n + 1):
                xalt[i] = w[n + i]
            cauchy = csave
        return alpha, cauchy


def update(n, npt, bmat, zmat, ndim, vlag, beta, denom, knew, w) -> None:
    """UPDATEBOBYQA: revise BMAT and ZMAT for moving the KNEW-th interpolation point."""
    nptm = npt - n - 1
    ztest = ZERO
    for k in range(1, npt + 1):
        for j in range(1, nptm + 1):
            ztest = max(ztest, abs(zmat[k][j]))
    ztest = 1.0e-20 * ztest
    # Rotations that put zeros in the KNEW-th row of ZMAT.
    for j in range(2, nptm + 1):
        if abs(zmat[knew][j]) > ztest:
            temp = dsqrt(zmat[knew][1] * zmat[knew][1] + zmat[knew][j] * zmat[knew][j])
            tempa = zmat[knew][1] / temp
            tempb = zmat[knew][j] / temp
            for i in range(1, npt + 1):
                temp = tempa * zmat[i][1] + tempb * zmat[i][j]
                zmat[i][j] = tempa * zmat[i][j] - tempb * zmat[i][1]
                zmat[i][1] = temp
        zmat[knew][j] = ZERO
    # The first NPT components of the KNEW-th column of HLAG, in W.
    for i in range(1, npt + 1):
        w[i] = zmat[knew][1] * zmat[i][1]
    alpha = w[knew]
    tau = vlag[knew]
    vlag[knew] = vlag[knew] - ONE
    # Complete the updating of ZMAT.
    temp = dsqrt(denom)
    tempb = zmat[knew][1] / temp
    tempa = tau / temp
    for i in range(1, npt + 1):
        zmat[i][1] = tempa * zmat[i][1] - tempb * vlag[i]
    # Finally, update BMAT.
    for j in range(1, n + 1):
        jp = npt + j
        w[jp] = bmat[knew][j]
        tempa = (alpha * vlag[jp] - tau * w[jp]) / denom
        tempb = (-beta * w[jp] - tau * vlag[jp]) / denom
        for i in range(1, jp + 1):
            bmat[i][j] = bmat[i][j] + tempa * vlag[i] + tempb * w[i]
            if i > npt:
                bmat[jp][i - npt] = bmat[i][j]


def _pts_ip_iq(ptsid_k: float, np_: int) -> tuple[int, int]:
    """The integer parts p and q coded in PTSID(K): ``IP=PTSID(K)``,
    ``IQ=DFLOAT(NP)*PTSID(K)-DFLOAT(IP*NP)`` (Fortran truncation towards zero)."""
    ip = int(ptsid_k)
    iq = int(float(np_) * ptsid_k - float(ip * np_))
    return ip, iq


def rescue(n, npt, xl, xu, maxfun, xbase, xpt, fval, xopt, gopt, hq, pq, bmat, zmat, ndim,
           sl, su, nf, delta, kopt, vlag, ptsaux, ptsid, w,
           calfun: Callable) -> tuple[int, int, int]:
    """RESCUE: new BMAT and ZMAT from scratch around XOPT, replacing interpolation points
    that cause near linear dependence.  Returns (NF, KOPT, the number of CALFUN calls).

    ``ptsaux`` is a list of three rows (row 0 unused).  minqa's RESCUE passes an
    undeclared local scalar ``X`` to CALFUN instead of the new point ``W(1..N)``, so R
    evaluates the objective at stack garbage there; this port evaluates Powell's
    intended point (see :mod:`interlace.optimize.powell`).
    """
    np_ = n + 1
    sfrac = HALF / float(np_)
    nptm = npt - np_
    ncalls = 0
    # Shift the interpolation points so that XOPT becomes the origin; zero ZMAT.
    sumpq = winc = ZERO
    for k in range(1, npt + 1):
        distsq = ZERO
        for j in range(1, n + 1):
            xpt[k][j] = xpt[k][j] - xopt[j]
            distsq = distsq + xpt[k][j] * xpt[k][j]
        sumpq = sumpq + pq[k]
        w[ndim + k] = distsq
        winc = max(winc, distsq)
        for j in range(1, nptm + 1):
            zmat[k][j] = ZERO
    # Update HQ for the shift of XBASE to the trust region centre.
    ih = 0
    for j in range(1, n + 1):
        w[j] = HALF * sumpq * xopt[j]
        for k in range(1, npt + 1):
            w[j] = w[j] + pq[k] * xpt[k][j]
        for i in range(1, j + 1):
            ih = ih + 1
            hq[ih] = hq[ih] + w[i] * xopt[j] + w[j] * xopt[i]
    # Shift XBASE, SL, SU and XOPT; zero BMAT; set PTSAUX.
    for j in range(1, n + 1):
        xbase[j] = xbase[j] + xopt[j]
        sl[j] = sl[j] - xopt[j]
        su[j] = su[j] - xopt[j]
        xopt[j] = ZERO
        ptsaux[1][j] = min(delta, su[j])
        ptsaux[2][j] = max(-delta, sl[j])
        if ptsaux[1][j] + ptsaux[2][j] < ZERO:
            ptsaux[1][j], ptsaux[2][j] = ptsaux[2][j], ptsaux[1][j]
        if abs(ptsaux[2][j]) < HALF * abs(ptsaux[1][j]):
            ptsaux[2][j] = HALF * ptsaux[1][j]
        for i in range(1, ndim + 1):
            bmat[i][j] = ZERO
    fbase = fval[kopt]
    # Identifiers of the artificial points along the coordinate directions from XOPT,
    # and the corresponding nonzero elements of BMAT and ZMAT.
    ptsid[1] = sfrac
    for j in range(1, n + 1):
        jp = j + 1
        jpn = jp + n
        ptsid[jp] = float(j) + sfrac
        if jpn <= npt:
            ptsid[jpn] = float(j) / float(np_) + sfrac
            temp = ONE / (ptsaux[1][j] - ptsaux[2][j])
            bmat[jp][j] = -temp + ONE / ptsaux[1][j]
            bmat[jpn][j] = temp + ONE / ptsaux[2][j]
            bmat[1][j] = -bmat[jp][j] - bmat[jpn][j]
            zmat[1][j] = math.sqrt(2.0) / abs(ptsaux[1][j] * ptsaux[2][j])
            zmat[jp][j] = zmat[1][j] * ptsaux[2][j] * temp
            zmat[jpn][j] = -(zmat[1][j] * ptsaux[1][j] * temp)
        else:
            bmat[1][j] = -ONE / ptsaux[1][j]
            bmat[jp][j] = ONE / ptsaux[1][j]
            bmat[j + npt][j] = -(HALF * (ptsaux[1][j] * ptsaux[1][j]))
    # Any remaining identifiers, with their nonzero elements of ZMAT.
    if npt >= n + np_:
        for k in range(2 * np_, npt + 1):
            iw = int((float(k - np_) - HALF) / float(n))
            ip = k - np_ - iw * n
            iq = ip + iw
            if iq > n:
                iq = iq - n
            ptsid[k] = float(ip) + float(iq) / float(np_) + sfrac
            temp = ONE / (ptsaux[1][ip] * ptsaux[1][iq])
            zmat[1][k - np_] = temp
            zmat[ip + 1][k - np_] = -temp
            zmat[iq + 1][k - np_] = -temp
            zmat[k][k - np_] = temp
    nrem = npt
    kold = 1
    knew = kopt
    beta = denom = ZERO
    label = 80
    while True:
        if label == 80:
            # Exchange PTSID(KOLD) with PTSID(KNEW).
            for j in range(1, n + 1):
                bmat[kold][j], bmat[knew][j] = bmat[knew][j], bmat[kold][j]
            for j in range(1, nptm + 1):
                zmat[kold][j], zmat[knew][j] = zmat[knew][j], zmat[kold][j]
            ptsid[kold] = ptsid[knew]
            ptsid[knew] = ZERO
            w[ndim + knew] = ZERO
            nrem = nrem - 1
            if knew != kopt:
                vlag[kold], vlag[knew] = vlag[knew], vlag[kold]
                # The KNEW-th point changes from provisional to original.
                update(n, npt, bmat, zmat, ndim, vlag, beta, denom, knew, w)
                if nrem == 0:
                    return nf, kopt, ncalls
                for k in range(1, npt + 1):
                    w[ndim + k] = abs(w[ndim + k])
            label = 120
        if label == 120:
            # KNEW: an original point not yet reinstated, preferring closeness to XOPT.
            dsqmin = ZERO
            for k in range(1, npt + 1):
                if w[ndim + k] > ZERO:
                    if dsqmin == ZERO or w[ndim + k] < dsqmin:
                        knew = k
                        dsqmin = w[ndim + k]
            if dsqmin == ZERO:
                break  # label 260
            # The W-vector of the chosen original interpolation point.
            for j in range(1, n + 1):
                w[npt + j] = xpt[knew][j]
            for k in range(1, npt + 1):
                sum_ = ZERO
                if k == kopt:
                    pass
                elif ptsid[k] == ZERO:
                    for j in range(1, n + 1):
                        sum_ = sum_ + w[npt + j] * xpt[k][j]
                else:
                    ip, iq = _pts_ip_iq(ptsid[k], np_)
                    if ip > 0:
                        sum_ = w[npt + ip] * ptsaux[1][ip]
                    if iq > 0:
                        iw = 1
                        if ip == 0:
                            iw = 2
                        sum_ = sum_ + w[npt + iq] * ptsaux[iw][iq]
                w[k] = HALF * sum_ * sum_
            # VLAG and BETA for reinstating XPT(KNEW,.).
            for k in range(1, npt + 1):
                sum_ = ZERO
                for j in range(1, n + 1):
                    sum_ = sum_ + bmat[k][j] * w[npt + j]
                vlag[k] = sum_
            beta = zmat_beta(npt, nptm, zmat, w, vlag)
            bsum = distsq = ZERO
            for j in range(1, n + 1):
                sum_ = ZERO
                for k in range(1, npt + 1):
                    sum_ = sum_ + bmat[k][j] * w[k]
                jp = j + npt
                bsum = bsum + sum_ * w[jp]
                for ip in range(npt + 1, ndim + 1):
                    sum_ = sum_ + bmat[ip][j] * w[ip]
                bsum = bsum + sum_ * w[jp]
                vlag[jp] = sum_
                distsq = distsq + xpt[knew][j] * xpt[knew][j]
            beta = HALF * distsq * distsq + beta - bsum
            vlag[kopt] = vlag[kopt] + ONE
            # KOLD: the provisional point to delete, avoiding a small denominator.
            denom = vlmxsq = ZERO
            for k in range(1, npt + 1):
                if ptsid[k] != ZERO:
                    hdiag = ZERO
                    for j in range(1, nptm + 1):
                        hdiag = hdiag + zmat[k][j] * zmat[k][j]
                    den = beta * hdiag + vlag[k] * vlag[k]
                    if den > denom:
                        kold = k
                        denom = den
                vlmxsq = max(vlmxsq, vlag[k] * vlag[k])
            if denom <= 1.0e-2 * vlmxsq:
                w[ndim + knew] = -w[ndim + knew] - winc
                label = 120
                continue
            label = 80
            continue
    # Label 260: evaluate F at the provisional points that remain, updating the model.
    for kpt in range(1, npt + 1):
        if ptsid[kpt] == ZERO:
            continue
        if nf >= maxfun:
            return -1, kopt, ncalls
        ih = 0
        for j in range(1, n + 1):
            w[j] = xpt[kpt][j]
            xpt[kpt][j] = ZERO
            temp = pq[kpt] * w[j]
            for i in range(1, j + 1):
                ih = ih + 1
                hq[ih] = hq[ih] + temp * w[i]
        pq[kpt] = ZERO
        ip, iq = _pts_ip_iq(ptsid[kpt], np_)
        xp = xq = ZERO
        ihp = ihq = 0
        if ip > 0:
            xp = ptsaux[1][ip]
            xpt[kpt][ip] = xp
        if iq > 0:
            xq = ptsaux[1][iq]
            if ip == 0:
                xq = ptsaux[2][iq]
            xpt[kpt][iq] = xq
        # VQUAD, the value of the current model at the new point.
        vquad = fbase
        if ip > 0:
            ihp = (ip + ip * ip) // 2
            vquad = vquad + xp * (gopt[ip] + HALF * xp * hq[ihp])
        if iq > 0:
            ihq = (iq + iq * iq) // 2
            vquad = vquad + xq * (gopt[iq] + HALF * xq * hq[ihq])
            if ip > 0:
                iw = max(ihp, ihq) - abs(ip - iq)
                vquad = vquad + xp * xq * hq[iw]
        for k in range(1, npt + 1):
            temp = ZERO
            if ip > 0:
                temp = temp + xp * xpt[k][ip]
            if iq > 0:
                temp = temp + xq * xpt[k][iq]
            vquad = vquad + HALF * pq[k] * temp * temp
        bounded_point(w, xpt[kpt], xbase, xl, xu, sl, su, n)
        nf = nf + 1
        ncalls += 1
        f = calfun(w)  # minqa: CALFUN(N,X,IPRINT) with X an undefined local; see above
        fval[kpt] = f
        if f < fval[kopt]:
            kopt = kpt
        diff = f - vquad
        # Update the quadratic model.
        for i in range(1, n + 1):
            gopt[i] = gopt[i] + diff * bmat[kpt][i]
        for k in range(1, npt + 1):
            sum_ = ZERO
            for j in range(1, nptm + 1):
                sum_ = sum_ + zmat[k][j] * zmat[kpt][j]
            temp = diff * sum_
            if ptsid[k] == ZERO:
                pq[k] = pq[k] + temp
            else:
                ip, iq = _pts_ip_iq(ptsid[k], np_)
                ihq = (iq * iq + iq) // 2
                if ip == 0:
                    hq[ihq] = hq[ihq] + temp * (ptsaux[2][iq] * ptsaux[2][iq])
                else:
                    ihp = (ip * ip + ip) // 2
                    hq[ihp] = hq[ihp] + temp * (ptsaux[1][ip] * ptsaux[1][ip])
                    if iq > 0:
                        hq[ihq] = hq[ihq] + temp * (ptsaux[1][iq] * ptsaux[1][iq])
                        iw = max(ihp, ihq) - abs(iq - ip)
                        hq[iw] = hq[iw] + temp * ptsaux[1][ip] * ptsaux[1][iq]
        ptsid[kpt] = ZERO
    return nf, kopt, ncalls
