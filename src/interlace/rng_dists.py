"""R 4.2.2's binomial, Poisson, gamma and exponential generators on R's stream
(:class:`interlace.rng.RRandom`), transcribed from R's nmath sources so that, after
``set.seed``, they return R's numbers:

* ``exp_rand`` — Ahrens & Dieter (1972), algorithm SA (``sexp.c``);
* ``rbinom`` — inversion when n·min(p, 1 − p) < 30, else Kachitvichyanukul & Schmeiser's
  BTPE (``rbinom.c``); a draw for p > ½ is n minus the draw for 1 − p;
* ``rpois`` — table inversion for μ < 10, else Ahrens & Dieter (1982)'s normal-based
  algorithm with Hermite-corrected acceptance (``rpois.c``);
* ``rgamma`` — Ahrens & Dieter's GS (1974) for shape < 1 and GD (1982) for shape ≥ 1
  (``rgamma.c``);
* ``rinvgauss`` — statmod 1.5.0's (the generator lme4 simulates the inverse Gaussian family
  with): Michael, Schucany & Haas (1976), n normals, then n uniforms.

R keeps each generator's set-up in static variables between calls; every cached value
is a function of the parameters alone, so recomputing it gives the same numbers.  The
vector forms recycle their parameters as R's ``rbinom(n, size, prob)`` etc. do.  Python's
``math`` functions are the C library's, as R's.
"""

from __future__ import annotations

import math

import numpy as np

from interlace.rng import _BIG, RRandom, r_qnorm

__all__ = ["UniformStream", "exp_rand", "norm_rand", "rbinom", "rexp", "rgamma",
           "rinvgauss", "rpois", "unif_rand"]

_Q_EXP = (0.6931471805599453, 0.9333736875190459, 0.9888777961838675, 0.9984959252914960,
          0.9998292811061389, 0.9999833164100727, 0.9999985691438767, 0.9999998906925558,
          0.9999999924734159, 0.9999999995283275, 0.9999999999728814, 0.9999999999985598,
          0.9999999999999289, 0.9999999999999968, 0.9999999999999999, 1.0000000000000000)
_M_1_SQRT_2PI = 0.398942280401432677939946059934


class UniformStream:
    """R's ``unif_rand()`` one number at a time, fast: uniforms are read ahead in blocks
    from a copy of the generator's state, and the generator itself is advanced by exactly
    the number used (:meth:`close`), so that draws that follow are R's next ones."""

    BLOCK = 4096

    def __init__(self, g: RRandom):
        self.g, self.buf, self.i = g, [], 0

    def __call__(self) -> float:
        if self.i == len(self.buf):
            self.close()
            state = (self.g._mt.copy(), self.g._mti)
            self.buf = self.g.uniform(self.BLOCK).tolist()
            self.g._mt, self.g._mti = state
        u = self.buf[self.i]
        self.i += 1
        return u

    def close(self) -> None:
        """Advance the generator past the uniforms used so far."""
        if self.i:
            self.g.uniform(self.i)
        self.buf, self.i = [], 0


def unif_rand(g: UniformStream) -> float:
    return g()


def norm_rand(g: UniformStream) -> float:
    """R's ``norm_rand()`` by inversion: two uniforms, as :meth:`RRandom.normal`."""
    u1 = g()
    u2 = g()
    return r_qnorm((math.trunc(_BIG * u1) + u2) / _BIG)


def exp_rand(g: UniformStream) -> float:
    """R's ``exp_rand()``: one standard exponential deviate."""
    a = 0.0
    u = unif_rand(g)
    while u <= 0.0 or u >= 1.0:
        u = unif_rand(g)
    while True:
        u += u
        if u > 1.0:
            break
        a += _Q_EXP[0]
    u -= 1.0
    if u <= _Q_EXP[0]:
        return a + u
    i = 0
    ustar = unif_rand(g)
    umin = ustar
    while True:
        ustar = unif_rand(g)
        if umin > ustar:
            umin = ustar
        i += 1
        if not u > _Q_EXP[i]:
            break
    return a + umin * _Q_EXP[0]


def _rbinom1(g: UniformStream, nin: float, pp: float) -> float:
    if not math.isfinite(nin) or float(round(nin)) != nin or not math.isfinite(pp) \
            or nin < 0 or pp < 0.0 or pp > 1.0:
        return math.nan
    if nin == 0 or pp == 0.0:
        return 0.0
    if pp == 1.0:
        return float(nin)
    n = int(nin)
    p = min(pp, 1.0 - pp)
    q = 1.0 - p
    np_ = n * p
    r = p / q
    gg = r * (n + 1)
    if np_ < 30.0:
        qn = _pow_di(q, n)
        while True:
            ix = 0
            f = qn
            u = unif_rand(g)
            while True:
                if u < f:
                    return float(n - ix if pp > 0.5 else ix)
                if ix > 110:
                    break
                u -= f
                ix += 1
                f *= (gg / ix - r)
    ffm = np_ + p
    m = int(ffm)
    fm = float(m)
    npq = np_ * q
    p1 = int(2.195 * math.sqrt(npq) - 4.6 * q) + 0.5
    xm = fm + 0.5
    xl = xm - p1
    xr = xm + p1
    c = 0.134 + 20.5 / (15.3 + fm)
    al = (ffm - xl) / (ffm - xl * p)
    xll = al * (1.0 + 0.5 * al)
    al = (xr - ffm) / (xr * q)
    xlr = al * (1.0 + 0.5 * al)
    p2 = p1 * (1.0 + c + c)
    p3 = p2 + c / xll
    p4 = p3 + c / xlr
    while True:
        u = unif_rand(g) * p4
        v = unif_rand(g)
        if u <= p1:
            ix = int(xm - p1 * v + u)
            break
        if u <= p2:
            x = xl + (u - p1) / c
            v = v * c + 1.0 - abs(xm - x) / p1
            if v > 1.0 or v <= 0.0:
                continue
            ix = int(x)
        elif u > p3:
            ix = int(xr - math.log(v) / xlr)
            if ix > n:
                continue
            v = v * (u - p3) * xlr
        else:
            ix = int(xl + math.log(v) / xll)
            if ix < 0:
                continue
            v = v * (u - p2) * xll
        k = abs(ix - m)
        if k <= 20 or k >= npq / 2 - 1:
            f = 1.0
            if m < ix:
                for i in range(m + 1, ix + 1):
                    f *= (gg / i - r)
            elif m != ix:
                for i in range(ix + 1, m + 1):
                    f /= (gg / i - r)
            if v <= f:
                break
        else:
            amaxp = (k / npq) * ((k * (k / 3.0 + 0.625) + 0.1666666666666) / npq + 0.5)
            ynorm = -k * k / (2.0 * npq)
            alv = math.log(v)
            if alv < ynorm - amaxp:
                break
            if alv <= ynorm + amaxp:
                x1 = ix + 1
                f1 = fm + 1.0
                z = n + 1 - fm
                w = n - ix + 1.0
                z2, x2, f2, w2 = z * z, x1 * x1, f1 * f1, w * w
                bound = (xm * math.log(f1 / x1) + (n - m + 0.5) * math.log(z / w)
                         + (ix - m) * math.log(w * p / (x1 * q))
                         + _stirling(f2) / f1 / 166320.0 + _stirling(z2) / z / 166320.0
                         + _stirling(x2) / x1 / 166320.0 + _stirling(w2) / w / 166320.0)
                if alv <= bound:
                    break
    return float(n - ix if pp > 0.5 else ix)


def _stirling(s2: float) -> float:
    return 13860.0 - (462.0 - (132.0 - (99.0 - 140.0 / s2) / s2) / s2) / s2


def _pow_di(x: float, n: int) -> float:
    """R's ``R_pow_di``: x^n by repeated squaring, as nmath computes it."""
    pow_ = 1.0
    if math.isnan(x):
        return x
    if n != 0:
        if not math.isfinite(x):
            return x ** n
        neg = n < 0
        if neg:
            n = -n
        while True:
            if n & 1:
                pow_ *= x
            n >>= 1
            if not n:
                break
            x *= x
        if neg:
            pow_ = 1.0 / pow_
    return pow_


_FACT = (1.0, 1.0, 2.0, 6.0, 24.0, 120.0, 720.0, 5040.0, 40320.0, 362880.0)
_A = (-0.5, 0.3333333, -0.2500068, 0.2000118, -0.1661269, 0.1421878, -0.1384794, 0.1250060)


def _rpois1(g: UniformStream, mu: float) -> float:
    if not math.isfinite(mu) or mu < 0:
        return math.nan
    if mu <= 0.0:
        return 0.0
    if mu < 10.0:
        m = max(1, int(mu))
        p0 = p = q = math.exp(-mu)
        pp = [0.0] * 36
        ll = 0
        while True:
            u = unif_rand(g)
            if u <= p0:
                return 0.0
            if ll != 0:
                for k in range(1 if u <= 0.458 else min(ll, m), ll + 1):
                    if u <= pp[k]:
                        return float(k)
                if ll == 35:
                    continue
            ll += 1
            for k in range(ll, 36):
                p *= mu / k
                q += p
                pp[k] = q
                if u <= q:
                    return float(k)
            ll = 35
    s = math.sqrt(mu)
    d = 6.0 * mu * mu
    big_l = math.floor(mu - 1.1484)
    pois = -1.0
    g_ = mu + s * norm_rand(g)
    if g_ >= 0.0:
        pois = math.floor(g_)
        if pois >= big_l:
            return pois
        fk = pois
        difmuk = mu - fk
        u = unif_rand(g)
        if d * u >= difmuk * difmuk * difmuk:
            return pois
    omega = _M_1_SQRT_2PI / s
    b1 = 0.0416666666666666667 / mu
    b2 = 0.3 * b1 * b1
    c3 = 0.1428571428571428571 * b1 * b2
    c2 = b2 - 15.0 * c3
    c1 = b1 - 6.0 * b2 + 45.0 * c3
    c0 = 1.0 - b1 + 3.0 * b2 - 15.0 * c3
    c = 0.1069 / mu
    kflag = 0 if g_ >= 0.0 else -1
    E = 0.0
    while True:
        if kflag != 0:  # Step E (every pass but the first when g >= 0)
            E = exp_rand(g)
            u = 2 * unif_rand(g) - 1.0
            t = 1.8 + (abs(E) if u >= 0 else -abs(E))  # R's fsign(E, u)
            if not t > -0.6744:
                continue
            pois = math.floor(mu + s * t)
            fk = pois
            difmuk = mu - fk
            kflag = 1
        if pois < 10:
            px = -mu
            py = mu ** pois / _FACT[int(pois)]
        else:
            dl = 0.0833333333333333333 / fk
            dl = dl * (1.0 - 4.8 * dl * dl)
            v = difmuk / fk
            if abs(v) <= 0.25:
                px = fk * v * v * (((((((_A[7] * v + _A[6]) * v + _A[5]) * v + _A[4]) * v
                                      + _A[3]) * v + _A[2]) * v + _A[1]) * v + _A[0]) - dl
            else:
                px = fk * math.log(1.0 + v) - difmuk - dl
            py = _M_1_SQRT_2PI / math.sqrt(fk)
        x = (0.5 - difmuk) / s
        x *= x
        fx = -0.5 * x
        fy = omega * (((c3 * x + c2) * x + c1) * x + c0)
        if kflag > 0:
            if c * abs(u) <= py * math.exp(px + E) - fy * math.exp(fx + E):
                return pois
        else:
            if fy - u * fy <= py * math.exp(px - fx):
                return pois
            kflag = 1


_QG = (0.04166669, 0.02083148, 0.00801191, 0.00144121, -7.388e-5, 2.4511e-4, 2.424e-4)
_AG = (0.3333333, -0.250003, 0.2000062, -0.1662921, 0.1423657, -0.1367177, 0.1233795)


def _poly_q(v: float) -> float:
    a1, a2, a3, a4, a5, a6, a7 = _AG
    return ((((((a7 * v + a6) * v + a5) * v + a4) * v + a3) * v + a2) * v + a1) * v


def _rgamma1(g: UniformStream, a: float, scale: float) -> float:
    if math.isnan(a) or math.isnan(scale):
        return math.nan
    if a <= 0.0 or scale <= 0.0:
        return 0.0 if (scale == 0.0 or a == 0.0) else math.nan
    if not math.isfinite(a) or not math.isfinite(scale):
        return math.inf
    if a < 1.0:
        e = 1.0 + 0.36787944117144232159 * a
        while True:
            p = e * unif_rand(g)
            if p >= 1.0:
                x = -math.log((e - p) / a)
                if exp_rand(g) >= (1.0 - a) * math.log(x):
                    break
            else:
                x = math.exp(math.log(p) / a)
                if exp_rand(g) >= x:
                    break
        return scale * x
    s2 = a - 0.5
    s = math.sqrt(s2)
    d = 5.656854 - s * 12.0
    t = norm_rand(g)
    x = s + 0.5 * t
    ret = x * x
    if t >= 0.0:
        return scale * ret
    u = unif_rand(g)
    if d * u <= t * t * t:
        return scale * ret
    r = 1.0 / a
    q1, q2, q3, q4, q5, q6, q7 = _QG
    q0 = ((((((q7 * r + q6) * r + q5) * r + q4) * r + q3) * r + q2) * r + q1) * r
    if a <= 3.686:
        b, si, c = 0.463 + s + 0.178 * s2, 1.235, 0.195 / s - 0.079 + 0.16 * s
    elif a <= 13.022:
        b, si, c = 1.654 + 0.0076 * s2, 1.68 / s + 0.275, 0.062 / s + 0.024
    else:
        b, si, c = 1.77, 0.75, 0.1515 / s
    if x > 0.0:
        v = t / (s + s)
        if abs(v) <= 0.25:
            q = q0 + 0.5 * t * t * _poly_q(v)
        else:
            q = q0 - s * t + 0.25 * t * t + (s2 + s2) * math.log(1.0 + v)
        if math.log(1.0 - u) <= q:
            return scale * ret
    while True:
        e = exp_rand(g)
        u = unif_rand(g)
        u = u + u - 1.0
        t = b - si * e if u < 0.0 else b + si * e
        if t >= -0.71874483771719:
            v = t / (s + s)
            if abs(v) <= 0.25:
                q = q0 + 0.5 * t * t * _poly_q(v)
            else:
                q = q0 - s * t + 0.25 * t * t + (s2 + s2) * math.log(1.0 + v)
            if q > 0.0:
                w = math.expm1(q)
                if c * abs(u) <= w * math.exp(e - 0.5 * t * t):
                    break
    x = s + 0.5 * t
    return scale * x * x


def _recycled(n: int, *params) -> list[tuple]:
    arrs = [np.atleast_1d(np.asarray(p, dtype=float)) for p in params]
    return [tuple(float(a[i % a.size]) for a in arrs) for i in range(int(n))]


def _draws(g: RRandom, one, params: list[tuple]) -> np.ndarray:
    stream = UniformStream(g)
    try:
        return np.array([one(stream, *p) for p in params], dtype=float)
    finally:
        stream.close()


def rexp(g: RRandom, n: int) -> np.ndarray:
    """R's ``rexp(n)``."""
    return _draws(g, exp_rand, [()] * int(n))


def rbinom(g: RRandom, n: int, size, prob) -> np.ndarray:
    """R's ``rbinom(n, size, prob)`` (parameters recycled)."""
    return _draws(g, _rbinom1, _recycled(n, size, prob))


def rpois(g: RRandom, n: int, mu) -> np.ndarray:
    """R's ``rpois(n, lambda)`` (recycled)."""
    return _draws(g, _rpois1, _recycled(n, mu))


def rgamma(g: RRandom, n: int, shape, scale) -> np.ndarray:
    """R's ``rgamma(n, shape, scale = scale)`` (recycled; R's ``rate`` is 1/scale, computed
    by the caller as R computes it)."""
    return _draws(g, _rgamma1, _recycled(n, shape, scale))


def rinvgauss(g: RRandom, n: int, mean, shape) -> np.ndarray:
    """statmod 1.5.0's ``rinvgauss(n, mean, shape)`` for positive finite means and shapes
    (dispersion φ = 1/shape, both recycled): Y = rnorm(n)², X₁ = 1 + Yφμ/2·(1 − √(1 +
    4/(Yφμ))) (or 1/(Yφμ) where Yφμ > 5e5), the first root where runif(n) < 1/(1 + X₁),
    else 1/X₁, times μ."""
    n = int(n)
    mu = np.resize(np.asarray(mean, dtype=float), n)
    phi = np.resize(1.0 / np.asarray(shape, dtype=float), n)
    if not (np.all(np.isfinite(mu) & (mu > 0)) and np.all(np.isfinite(phi) & (phi > 0))):
        raise ValueError("rinvgauss: means and shapes must be positive and finite here")
    Y = g.normal(n) ** 2
    Yphi = Y * phi * mu
    big = Yphi > 5e5
    X1 = np.where(big, 1.0 / np.where(big, Yphi, 1.0),
                  1.0 + Yphi / 2.0 * (1.0 - np.sqrt(1.0 + 4.0 / np.where(big, 1.0, Yphi))))
    first = g.uniform(n) < 1.0 / (1.0 + X1)
    return mu * np.where(first, X1, 1.0 / X1)
