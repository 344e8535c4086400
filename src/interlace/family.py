"""GLM families and links as lme4's ``glmer`` computes them.

lme4 (1.1-31, ``src/glmFamily.cpp``) evaluates the inverse link, its derivative, the
variance, the deviance residuals and the ``aic`` of the families it knows in its own C++
code, not with R's family objects; the two differ at the extremes (clamps) and by an ulp
here and there.  This module follows lme4's C++ versions, and R's own functions only where
lme4 calls R's: the link function applied to ``mustart`` (the start η), the inverse link of
``predict(newdata, type = "response")`` and the family's ``initialize`` (response forms,
start values and the messages for bad responses).  ε is ``DBL_EPSILON``.

=========  ======================================  ==================================
link       inverse link (lme4's C++)               its derivative dμ/dη
=========  ======================================  ==================================
logit      max(ε, min(1−ε, plogis η))              max(ε, dlogis η)
probit     min(1−ε, Φ(η))                          φ(η)
cloglog    max(ε, min(1−ε, −expm1(−e^η)))          max(ε, exp(η − e^η))
log        max(ε, e^η)                             max(ε, e^η)
inverse    1/η                                     −1/η²
identity   η                                       1
cauchit    min(1−ε, pcauchy η)                     dcauchy η
sqrt       η² (R's closure)                        2η
1/mu^2     1/√η (R's closure)                      −1/(2η^1.5)
=========  ======================================  ==================================

Families: binomial (variance max(ε, μ(1−μ))), poisson (μ), Gamma (μ²), inverse.gaussian
(μ³) and gaussian with a non-identity link (1), each with lme4's deviance residuals and
``aic`` (binomial: the trials m are the totals when any exceeds 1, else the prior weights,
rounded; Gamma and inverse Gaussian: a plug-in dispersion and the constant 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from interlace.errors import DataError, InterlaceError, ResponseWarning, warn

__all__ = ["FAMILIES", "LINKS", "Family", "Link", "make_family"]

EPS = float(np.finfo(float).eps)
_M_1_SQRT_2PI = 0.398942280401432677939946059934
#: R's dnorm switches to a split-argument formula above this |x|
_DNORM_SPLIT = 5.0


def _plogis(eta):
    """R's ``plogis``: 1 / (1 + exp(−η)) (overflow of exp(−η) gives 0, silently)."""
    return 1.0 / (1.0 + np.exp(-eta))


def _dlogis(eta):
    """R's ``dlogis``: e / (1 + e)² with e = exp(−|η|)."""
    e = np.exp(-np.abs(eta))
    f = 1.0 + e
    return e / (f * f)


def _dnorm(x):
    """R's ``dnorm`` (with its split of x beyond 5 for full accuracy)."""
    x = np.abs(np.asarray(x, dtype=float))
    out = _M_1_SQRT_2PI * np.exp(-0.5 * x * x)
    big = x >= _DNORM_SPLIT
    if np.any(big):
        xb = x[big]
        x1 = np.ldexp(np.rint(np.ldexp(xb, 16)), -16)
        x2 = xb - x1
        with np.errstate(under="ignore"):
            vb = _M_1_SQRT_2PI * (np.exp(-0.5 * x1 * x1) * np.exp((-0.5 * x2 - x1) * x2))
        out[big] = np.where(xb > 38.58601, 0.0, vb)
    return out


def _pcauchy(x):
    """R's ``pcauchy`` (lower tail)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore"):
        y = np.arctan(1.0 / x) / np.pi
    mid = 0.5 + np.arctan(x) / np.pi
    return np.where(np.abs(x) > 1, np.where(x > 0, 1.0 - y, -y), mid)


@dataclass(frozen=True)
class Link:
    """A link: ``linkfun`` (R's, for the start η), ``linkinv`` and ``mu_eta`` (lme4's C++),
    ``r_linkinv`` (R's family object, for ``predict(newdata, type="response")``)."""

    name: str

    def linkfun(self, mu):
        mu = np.asarray(mu, dtype=float)
        n = self.name
        with np.errstate(divide="ignore", invalid="ignore"):
            if n == "logit":
                return np.log(mu / (1.0 - mu))
            if n == "probit":
                return special.ndtri(mu)
            if n == "cloglog":
                return np.log(-np.log(1.0 - mu))
            if n == "log":
                return np.log(mu)
            if n == "inverse":
                return 1.0 / mu
            if n == "identity":
                return mu.copy()
            if n == "cauchit":
                return np.tan(np.pi * (mu - 0.5))
            if n == "sqrt":
                return np.sqrt(mu)
            if n == "1/mu^2":
                return 1.0 / (mu * mu)
        raise InterlaceError(f"unknown link {n!r}")  # pragma: no cover

    def linkinv(self, eta):
        """lme4's inverse link (its C++ clamps)."""
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return self.linkinv_raw(np.asarray(eta, dtype=float))

    def linkinv_raw(self, eta: np.ndarray) -> np.ndarray:
        """:meth:`linkinv` of a float array, under the caller's ``np.errstate`` (PIRLS
        sets one for its whole loop: entering one per call costs more than the call)."""
        n = self.name
        if n == "logit":
            return np.maximum(EPS, np.minimum(1.0 - EPS, _plogis(eta)))
        if n == "probit":
            return np.minimum(1.0 - EPS, special.ndtr(eta))
        if n == "cloglog":
            return np.maximum(EPS, np.minimum(1.0 - EPS, -np.expm1(-np.exp(eta))))
        if n == "log":
            return np.maximum(EPS, np.exp(eta))
        if n == "inverse":
            return 1.0 / eta
        if n == "identity":
            return eta.copy()
        if n == "cauchit":
            return np.minimum(1.0 - EPS, _pcauchy(eta))
        if n == "sqrt":
            return eta * eta
        if n == "1/mu^2":
            return 1.0 / np.sqrt(eta)
        raise InterlaceError(f"unknown link {n!r}")  # pragma: no cover

    def mu_eta(self, eta):
        """dμ/dη (lme4's C++ ``muEta``)."""
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return self.mu_eta_raw(np.asarray(eta, dtype=float))

    def mu_eta_raw(self, eta: np.ndarray) -> np.ndarray:
        """:meth:`mu_eta` of a float array, under the caller's ``np.errstate``."""
        n = self.name
        if n == "logit":
            return np.maximum(EPS, _dlogis(eta))
        if n == "probit":
            return _dnorm(eta)
        if n == "cloglog":
            return np.maximum(EPS, np.exp(eta - np.exp(eta)))
        if n == "log":
            return np.maximum(EPS, np.exp(eta))
        if n == "inverse":
            return -1.0 / (eta * eta)
        if n == "identity":
            return np.ones_like(eta)
        if n == "cauchit":
            return 1.0 / (np.pi * (1.0 + eta * eta))
        if n == "sqrt":
            return 2.0 * eta
        if n == "1/mu^2":
            return -1.0 / (2.0 * eta**1.5)
        raise InterlaceError(f"unknown link {n!r}")  # pragma: no cover

    def r_linkinv(self, eta):
        """R's ``family$linkinv`` (its own clamps), as ``predict(type="response")`` uses."""
        eta = np.asarray(eta, dtype=float)
        n = self.name
        with np.errstate(over="ignore"):
            if n == "logit":
                e = np.where(eta < -30, EPS, np.where(eta > 30, 1.0 / EPS, np.exp(eta)))
                return e / (1.0 + e)
            if n == "probit":
                t = -special.ndtri(EPS)
                return special.ndtr(np.clip(eta, -t, t))
            if n == "cloglog":
                return np.maximum(np.minimum(-np.expm1(-np.exp(eta)), 1.0 - EPS), EPS)
            if n == "log":
                return np.maximum(np.exp(eta), EPS)
            if n == "cauchit":
                t = -np.tan(np.pi * (EPS - 0.5))
                return _pcauchy(np.clip(eta, -t, t))
        return self.linkinv(eta)


#: links lme4 accepts per family (R's family constructors), the first is the default
LINKS: dict[str, tuple[str, ...]] = {
    "binomial": ("logit", "probit", "cloglog", "cauchit", "log"),
    "poisson": ("log", "sqrt", "identity"),
    "Gamma": ("inverse", "log", "identity"),
    "inverse.gaussian": ("1/mu^2", "inverse", "identity", "log"),
    "gaussian": ("identity", "log", "inverse"),
}
FAMILIES = tuple(LINKS)


def _ylogy(y, mu):
    """lme4's ``y_log_y``: y·log(y/μ), 0 where y is 0 (under the caller's errstate)."""
    return np.where(y != 0, y * np.log(y / mu), 0.0)


@dataclass(frozen=True)
class Family:
    """A GLM family with its link (``Family("binomial", Link("logit"))``)."""

    name: str
    link: Link

    @property
    def has_scale(self) -> bool:
        """lme4's ``useSc``: a dispersion parameter is estimated (not binomial/poisson)."""
        return self.name not in ("binomial", "poisson")

    def variance(self, mu):
        mu = np.asarray(mu, dtype=float)
        if self.name == "binomial":
            return np.maximum(EPS, mu * (1.0 - mu))
        if self.name == "poisson":
            return mu
        if self.name == "Gamma":
            return mu * mu
        if self.name == "inverse.gaussian":
            return mu * mu * mu
        return np.ones_like(mu)

    def dev_resids(self, y, mu, wt):
        """Deviance residuals (squared, weighted), lme4's ``devResid``."""
        y, mu, wt = (np.asarray(a, dtype=float) for a in (y, mu, wt))
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.dev_resids_raw(y, mu, wt)

    def dev_resids_raw(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """:meth:`dev_resids` of float arrays, under the caller's ``np.errstate``."""
        if self.name == "binomial":
            return 2.0 * wt * (_ylogy(y, mu) + _ylogy(1.0 - y, 1.0 - mu))
        if self.name == "poisson":
            return 2.0 * wt * (_ylogy(y, mu) - (y - mu))
        if self.name == "Gamma":
            return -2.0 * wt * (np.where(y > 0, np.log(y / mu), 0.0) - (y - mu) / mu)
        if self.name == "inverse.gaussian":
            return wt * (y - mu) ** 2 / (y * mu * mu)
        return wt * (y - mu) ** 2

    @staticmethod
    def binary_dev_resids_raw(one: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """The binomial :meth:`dev_resids` of a 0/1 response (``one``: where y is 1): one
        term of lme4's two is y·log(y/μ) = log(1/μ), the other (1 − y)·log(…) = 0, so
        ``2·wt·log(1/p)`` with p = μ or 1 − μ gives the same bits with one logarithm
        instead of two (under the caller's errstate)."""
        return 2.0 * wt * np.log(1.0 / np.where(one, mu, 1.0 - mu))

    def aic_constants(self, y, n, wt) -> dict:
        """The parts of :meth:`aic` that do not depend on μ, for a response evaluated many
        times (PIRLS); :meth:`aic` with them gives the same bits as without."""
        y, n, wt = (np.asarray(a, dtype=float) for a in (y, n, wt))
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.name == "binomial":
                m = np.rint(n if np.any(n > 1) else wt)
                k = np.rint(m * y)
                return {"k": k, "m_k": m - k, "zero": m <= 0,
                        "scale": wt / np.where(m > 0, m, 1),
                        "lchoose": (special.gammaln(m + 1) - special.gammaln(k + 1)
                                    - special.gammaln(m - k + 1))}
            if self.name == "poisson":
                return {"lgamma": special.gammaln(y + 1), "integer": y == np.rint(y)}
            if self.name in ("Gamma", "inverse.gaussian"):
                return {"logy": np.log(y), "sw": float(np.sum(wt))}
        return {}

    def aic(self, y, n, mu, wt, dev: float, constants: dict | None = None) -> float:
        """lme4's ``aic()`` of the family at μ (−2 log-likelihood, up to its constants);
        ``constants`` from :meth:`aic_constants` of the same (y, n, wt) save their work."""
        y, n, mu, wt = (np.asarray(a, dtype=float) for a in (y, n, mu, wt))
        c = self.aic_constants(y, n, wt) if constants is None else constants
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.name == "binomial":
                ld = c["lchoose"] + special.xlogy(c["k"], mu) + special.xlog1py(c["m_k"], -mu)
                return float(-2.0 * np.sum(np.where(c["zero"], 0.0, c["scale"] * ld)))
            if self.name == "poisson":
                ld = special.xlogy(y, mu) - mu - c["lgamma"]
                ld = np.where(c["integer"], ld, -np.inf)  # R's dpois of a non-integer
                return float(-2.0 * np.sum(wt * ld))
            if self.name == "Gamma":
                disp = dev / c["sw"]
                shape, scale = 1.0 / disp, mu * disp
                ld = ((shape - 1.0) * c["logy"] - y / scale - special.gammaln(shape)
                      - shape * np.log(scale))
                return float(-2.0 * np.sum(wt * ld) + 2.0)
            if self.name == "inverse.gaussian":
                sw = c["sw"]
                return float(sw * (math.log(2 * math.pi * dev / sw) + 1.0)
                             + 3.0 * np.sum(wt * c["logy"]) + 2.0)
            nobs = y.size
            return float(nobs * (math.log(2 * math.pi * dev / nobs) + 1.0) + 2.0
                         - np.sum(np.log(wt)))

    def simulate(self, rng: np.random.Generator, mu: np.ndarray, wt: np.ndarray,
                 sigma: float) -> np.ndarray:
        """Responses drawn at the means ``mu`` with prior weights ``wt``, as lme4 1.1-31's
        ``simfunList`` draws them (numpy's generators, not R's stream): binomial
        ``rbinom(wt, μ) / wt`` (the proportion; non-integer weights are an error),
        poisson ``rpois(μ)`` (weights ignored, with lme4's warning), Gamma with shape
        ``σ·wt`` and rate shape/μ (lme4's own choice of shape: σ, not 1/σ²),
        inverse.gaussian with mean μ and shape ``wt/σ``, gaussian ``N(μ, σ²)``."""
        mu, wt = np.asarray(mu, dtype=float), np.asarray(wt, dtype=float)
        name = self.name
        if name == "binomial":
            if np.any(wt % 1 != 0):
                raise InterlaceError("cannot simulate from non-integer prior.weights")
            return rng.binomial(wt.astype(np.int64), mu) / wt
        if name in ("poisson", "gaussian") and np.any(wt != 1):
            warn("ignoring prior weights", ResponseWarning)
        if name == "poisson":
            return rng.poisson(mu).astype(float)
        if name == "Gamma":
            shape = sigma * wt
            return rng.gamma(shape, mu / shape)
        if name == "inverse.gaussian":
            return rng.wald(mu, wt / sigma)
        return rng.normal(mu, sigma)

    def initialize(self, y, weights, column: str):
        """R's ``family$initialize``: the response, trials n, prior weights and ``mustart``.

        ``y`` is a vector, or a (rows × 2) array of successes and failures (``cbind``) for
        the binomial family.  Messages are R's.
        """
        w = np.asarray(weights, dtype=float)
        y = np.asarray(y, dtype=float)
        name = self.name
        if name == "binomial":
            if y.ndim == 2:
                if np.any(y < 0):
                    raise DataError(f"counts must be non-negative in the binomial response "
                                    f"{column}")
                if np.any(np.abs(y - np.rint(y)) > 1e-3):
                    warn(f"non-integer counts in a binomial glm! ({column})", ResponseWarning)
                n = y[:, 0] + y[:, 1]
                with np.errstate(invalid="ignore", divide="ignore"):
                    yy = np.where(n == 0, 0.0, y[:, 0] / n)
                return yy, n, w * n, (n * yy + 0.5) / (n + 1.0)
            y = np.where(w == 0, 0.0, y)
            if np.any((y < 0) | (y > 1)):
                raise DataError(f"y values must be 0 <= y <= 1 (binomial response {column}); "
                                "give counts as cbind(successes, failures) or proportions "
                                "with weights = totals")
            if np.any(np.abs(w * y - np.rint(w * y)) > 1e-3):
                warn(f"non-integer #successes in a binomial glm! ({column}: the weights of "
                     "proportions are the binomial totals)", ResponseWarning)
            return y, np.ones_like(y), w, (w * y + 0.5) / (w + 1.0)
        if y.ndim != 1:
            raise DataError(f"a two-column response ({column}) is only for the binomial family")
        if name == "poisson":
            if np.any(y < 0):
                raise DataError(f"negative values not allowed for the 'Poisson' family "
                                f"({column})")
            return y, np.ones_like(y), w, y + 0.1
        if name == "Gamma":
            if np.any(y <= 0):
                raise DataError(f"non-positive values not allowed for the 'Gamma' family "
                                f"({column})")
            return y, np.ones_like(y), w, y.copy()
        if name == "inverse.gaussian":
            if np.any(y <= 0):
                raise DataError(f"positive values only are allowed for the 'inverse.gaussian' "
                                f"family ({column})")
            return y, np.ones_like(y), w, y.copy()
        link = self.link.name
        if (link == "inverse" and np.any(y == 0)) or (link == "log" and np.any(y <= 0)):
            raise DataError(f"cannot find valid starting values: please specify some "
                            f"({column} with the gaussian family's {link} link)")
        return y, np.ones_like(y), w, y.copy()


def make_family(family, link: str | None = None) -> Family:
    """A :class:`Family` from a name (``"binomial"``, ``"poisson(link='sqrt')"`` is not
    parsed: give ``link=``) or a Family; unknown families and links are errors naming the
    ones lme4 supports."""
    if isinstance(family, Family):
        if link is not None and link != family.link.name:
            family = Family(family.name, Link(link))
        name, lk = family.name, family.link.name
    elif isinstance(family, str):
        name = {"gamma": "Gamma", "inverse_gaussian": "inverse.gaussian"}.get(family, family)
        lk = link
    else:
        raise InterlaceError(f"family must be a family name or a Family, got "
                             f"{type(family).__name__}")
    if name not in LINKS:
        raise InterlaceError(f"family {name!r} is not supported; glmer families: "
                             f"{', '.join(FAMILIES)} (quasi families are not, as in lme4)")
    lk = LINKS[name][0] if lk is None else lk
    if lk not in LINKS[name]:
        raise InterlaceError(f"link {lk!r} is not available for the {name} family; "
                             f"choose one of {', '.join(LINKS[name])}")
    return Family(name, Link(lk))
