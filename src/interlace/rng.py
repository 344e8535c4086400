"""R's default random numbers, bit for bit: ``set.seed(seed)``, ``runif``, ``rnorm``.

R (4.x) defaults to the Mersenne-Twister for uniforms and inversion for normals
(``RNGkind()``: "Mersenne-Twister", "Inversion", "Rejection").  What R does, from its
sources (``src/main/RNG.c``, ``src/nmath/snorm.c``, ``src/nmath/qnorm.c``):

* ``set.seed(s)``: the 32-bit seed is scrambled by 50 steps of the congruential generator
  s ← 69069·s + 1 (mod 2³²), then 625 more steps fill the generator's state (the position
  word and the 624 words of the twister); the position is then set to 624, so the first
  draw regenerates the whole state;
* ``unif_rand()``: Matsumoto & Nishimura's MT19937 (R's copy of their 1998 code), the
  tempered 32-bit word times 2.3283064365386963e-10, nudged off 0 and 1 (R's ``fixup``);
* ``norm_rand()`` by inversion: u = ⌊2²⁷·U₁⌋ + U₂, then ``qnorm(u / 2²⁷)`` with R's
  ``qnorm`` (Wichura's AS 241, as R 4.2 has it).

The arithmetic below is R's, operation for operation, so every double is R's.
:class:`RRandom` keeps the state between calls as R's session does.
"""

from __future__ import annotations

import math

import numpy as np

from interlace.errors import InterlaceError

__all__ = ["RRandom", "r_qnorm", "r_qnorm_array"]

_N, _M = 624, 397
_MATRIX_A, _UPPER, _LOWER = 0x9908B0DF, 0x80000000, 0x7FFFFFFF
_MASK32 = 0xFFFFFFFF
_I2_32M1 = 2.328306437080797e-10  # 1 / (2^32 - 1)
_BIG = 134217728  # 2^27


def _lcg(seed: int) -> int:
    return (69069 * seed + 1) & _MASK32


class RRandom:
    """R's random-number stream after ``set.seed(seed)`` (default kinds).

    Parameters
    ----------
    seed : int
        As R's ``set.seed``: any integer R accepts (taken modulo 2³², as R's cast).
    """

    def __init__(self, seed: int):
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise InterlaceError(f"seed must be an integer, got {seed!r}")
        if not -(2**31) < int(seed) < 2**31:
            raise InterlaceError(f"seed must be an R integer (|seed| < 2^31), got {seed}")
        s = int(seed) & _MASK32
        for _ in range(50):
            s = _lcg(s)
        state = []
        for _ in range(_N + 1):
            s = _lcg(s)
            state.append(s)
        self._mt = np.array(state[1:], dtype=np.uint32)
        self._mti = _N  # R's FixupSeeds: the position word becomes 624

    # -- the twister ---------------------------------------------------------------------
    def _regenerate(self) -> None:
        """R's loop over the 624 words, in stretches that read only words already final
        for that stretch: word k reads words k + 1 (not yet replaced) and k + 397 mod 624
        (replaced when k ≥ 227, by a stretch before this one)."""
        mt = self._mt.astype(np.uint64)
        up, lo, mag = np.uint64(_UPPER), np.uint64(_LOWER), np.uint64(_MATRIX_A)
        one = np.uint64(1)
        for a, b in ((0, 227), (227, 454), (454, 623), (623, 624)):
            k = np.arange(a, b)
            y = (mt[k] & up) | (mt[(k + 1) % _N] & lo)
            mt[k] = mt[(k + _M) % _N] ^ (y >> one) ^ np.where(y & one, mag, np.uint64(0))
        self._mt = mt.astype(np.uint32)
        self._mti = 0

    def _words(self, n: int) -> np.ndarray:
        """The next ``n`` tempered 32-bit words."""
        out = np.empty(n, dtype=np.uint64)
        k = 0
        while k < n:
            if self._mti >= _N:
                self._regenerate()
            take = min(n - k, _N - self._mti)
            out[k:k + take] = self._mt[self._mti:self._mti + take]
            self._mti += take
            k += take
        y = out
        y ^= y >> np.uint64(11)
        y ^= (y << np.uint64(7)) & np.uint64(0x9D2C5680)
        y ^= (y << np.uint64(15)) & np.uint64(0xEFC60000)
        y &= np.uint64(_MASK32)
        y ^= y >> np.uint64(18)
        return y

    # -- R's draws -------------------------------------------------------------------------
    def uniform(self, n: int) -> np.ndarray:
        """``runif(n)``: R's ``unif_rand()`` ``n`` times."""
        x = self._words(int(n)).astype(np.float64) * 2.3283064365386963e-10
        x[x <= 0.0] = 0.5 * _I2_32M1
        x[(1.0 - x) <= 0.0] = 1.0 - 0.5 * _I2_32M1
        return x

    def normal(self, n: int) -> np.ndarray:
        """``rnorm(n)``: R's ``norm_rand()`` by inversion, ``n`` times (two uniforms each)."""
        u = self.uniform(2 * int(n)).reshape(-1, 2)
        p = (np.trunc(_BIG * u[:, 0]) + u[:, 1]) / _BIG
        return r_qnorm_array(p)


def _central(q):
    """AS 241's rational function for |p − 0.5| ≤ 0.425 (q = p − 0.5; a float or an array:
    only +, ×, ÷, which NumPy and C round alike)."""
    r = 0.180625 - q * q
    return (q * (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r
                      + 67265.770927008700853) * r + 45921.953931549871457) * r
                    + 13731.693765509461125) * r + 1971.5909503065514427) * r
                  + 133.14166789178437745) * r + 3.387132872796366608)
            / (((((((r * 5226.495278852854561 + 28729.085735721942674) * r
                    + 39307.89580009271061) * r + 21213.794301586595867) * r
                  + 5394.1960214247511077) * r + 687.1870074920579083) * r
                + 42.313330701600911252) * r + 1.0))


def r_qnorm_array(p: np.ndarray) -> np.ndarray:
    """:func:`r_qnorm` of each element: the central branch at once, the tails (which take
    a logarithm: the C library's, as R's) one by one."""
    p = np.asarray(p, dtype=float)
    q = p - 0.5
    out = _central(q)
    for i in np.flatnonzero(np.abs(q) > 0.425):
        out[i] = r_qnorm(float(p[i]))
    return out


def r_qnorm(p: float) -> float:
    """R 4.2's ``qnorm(p)`` (lower tail, not log) for 0 < p < 1: Wichura's AS 241, with
    R's coefficients and order of operations."""
    q = p - 0.5
    if abs(q) <= 0.425:
        return _central(q)
    r = (0.5 - p + 0.5) if q > 0 else p  # min(p, 1 - p), as R's R_DT_CIv
    r = math.sqrt(-math.log(r))
    if r <= 5.0:
        r += -1.6
        val = ((((((((r * 7.7454501427834140764e-4 + 0.0227238449892691845833) * r
                     + 0.24178072517745061177) * r + 1.27045825245236838258) * r
                   + 3.64784832476320460504) * r + 5.7694972214606914055) * r
                 + 4.6303378461565452959) * r + 1.42343711074968357734)
               / (((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r
                       + 0.0151986665636164571966) * r + 0.14810397642748007459) * r
                     + 0.68976733498510000455) * r + 1.6763848301838038494) * r
                   + 2.05319162663775882187) * r + 1.0))
    else:
        r += -5.0
        val = ((((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r
                     + 0.0012426609473880784386) * r + 0.026532189526576123093) * r
                   + 0.29656057182850489123) * r + 1.7848265399172913358) * r
                 + 5.4637849111641143699) * r + 6.6579046435011037772)
               / (((((((r * 2.04426310338993978564e-15 + 1.4215117583164458887e-7) * r
                       + 1.8463183175100546818e-5) * r + 7.868691311456132591e-4) * r
                     + 0.0148753612908506148525) * r + 0.13692988092273580531) * r
                   + 0.59983220655588793769) * r + 1.0))
    return -val if q < 0.0 else val
