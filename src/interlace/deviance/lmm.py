"""Profiled deviance and REML criterion of a linear mixed model, as lme4's ``devfun``.

Notation (Bates, Mächler, Bolker & Walker 2015, JSS 67(1), sec. 3):
for θ, ``L`` is the Cholesky factor of ``ΛθᵀZᵀWZΛθ + I``; ``RZX = L⁻¹ΛᵀZᵀWX``;
``RX`` is the Cholesky factor of ``XᵀWX − RZXᵀRZX``; β̂ and û solve the
penalized least-squares problem and ``pwrss = wrss + ‖û‖²``.  With
``ldL2 = log|L|²``, ``ldRX2 = log|RX|²``, ``ldW = Σ log wᵢ`` and ``n``
observations, lme4 minimizes

    ML:    ldL2 − ldW + n (1 + log(2π pwrss / n))                 (eq. 34)
    REML:  ldL2 − ldW + ldRX2 + (n−p)(1 + log(2π pwrss / (n−p)))   (eq. 41)

Those are exactly the expressions evaluated here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack, solve_triangular

from interlace.covariance import CovarianceLayout
from interlace.errors import NumericalError
from interlace.linalg import batched, make_factor
from interlace.linalg.crossprod import CrossProducts, TermData
from interlace.linalg.threads import AdaptiveThreads

#: largest dense block R for which the batched objective (:meth:`LmmDeviance.many`) is used
BATCH_MAX_QR = 64


@dataclass(frozen=True)
class PLSState:
    """The penalized least-squares quantities at one θ (lme4's merPredD after devfun)."""

    theta: np.ndarray
    ldL2: float
    ldRX2: float
    pwrss: float
    RX: np.ndarray
    beta: np.ndarray
    objective: float
    #: β̂ for the shifted response y₀ of the cross-products (β̂ = cp.beta0 + beta_y0); the
    #: factor's ``solve_u`` takes this one
    beta_y0: np.ndarray | None = None


class LmmDeviance:
    """θ → lme4's profiled deviance (ML) or REML criterion.

    Parameters
    ----------
    X, y : ndarray
        Fixed-effects matrix (n × p) and response (n,).
    terms : sequence of TermData
        Random-effects terms in lme4 order.
    layout : CovarianceLayout
        θ layout for the same terms.
    weights : ndarray, optional
        Prior weights.
    reml : bool
        REML criterion (True) or ML deviance (False).
    backend : {"auto", "blocked", "cholmod"}
        Factorization backend; "auto" uses CHOLMOD when scikit-sparse is installed
        and the model is large enough for it to pay off.
    offset : ndarray, optional
        Offset (n,), subtracted from y.

    The cross-products are formed from ``y − offset − X b₀`` with ``b₀`` the
    least-squares fit of y on X (:mod:`interlace.linalg.centering`): the same problem
    with β shifted by b₀, without the loss of precision of a response with a large mean.
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        terms: Sequence[TermData],
        layout: CovarianceLayout,
        weights: np.ndarray | None = None,
        reml: bool = True,
        backend: str = "auto",
        offset: np.ndarray | None = None,
    ):
        self.layout = layout
        self.reml = bool(reml)
        #: what the REML criterion subtracts from n (None: p); lme4 < 1.1-33's refit()
        #: used 1 (:mod:`interlace.deviance.refit`)
        self.reml_p: int | None = None
        self.n, self.p = X.shape
        self.cp = CrossProducts.build(X, y, terms, weights, offset)
        self.ldW = 0.0 if weights is None else float(np.sum(np.log(weights)))
        ps, ls = [t.p for t in terms], [t.n_levels for t in terms]
        self.factor = make_factor(self.cp, ps, ls, backend)
        self.backend = self.factor.name
        self.n_evals = 0
        self._threads = AdaptiveThreads()
        self._batch = self._batched_form()

    @classmethod
    def from_parts(cls, cp: CrossProducts, layout: CovarianceLayout, ldW: float, reml: bool,
                   factor) -> LmmDeviance:
        """A deviance on given cross-products and factor (e.g. a deletion's downdate)."""
        self = cls.__new__(cls)
        self.layout, self.reml, self.n, self.p = layout, bool(reml), cp.n, cp.p
        self.reml_p = None
        self.cp, self.ldW, self.factor = cp, float(ldW), factor
        self.backend, self.n_evals = getattr(factor, "name", "blocked"), 0
        self._threads = AdaptiveThreads()
        self._batch = None
        return self

    def with_cross_products(self, cp: CrossProducts, reml: bool | None = None) -> LmmDeviance:
        """This deviance on new cross-products of the same design (a new response, lme4's
        ``refit(m, newresp)``): the same layout, prior weights and factor plan; REML or ML
        as this one unless ``reml`` is given."""
        out = LmmDeviance.from_parts(cp, self.layout, self.ldW,
                                     self.reml if reml is None else reml,
                                     self.factor.with_cross_products(cp))
        out._batch = out._batched_form()  # the convergence checks' stencil in one pass
        return out

    def _batched_form(self):
        """Structure and data for :func:`interlace.linalg.batched.evaluate`, when it applies.

        Small blocks (block 0's per-level blocks up to ``batched.SMALL``, a dense block R
        of at most ``BATCH_MAX_QR`` columns): the objective is evaluated at many θ in one
        pass of array operations — cheaper than one :meth:`__call__` per point from a few points on
        (the convergence checks' stencil), dearer for a single point.
        """
        f = self.factor
        qR = getattr(f, "qR", None)
        if qR is None or qR > BATCH_MAX_QR or (qR and not f.dense_offdiag) \
                or f.p0 > batched.SMALL:
            return None
        st = batched.Structure.of(f, self.layout, self.p, self.reml)
        dense = (f.AR0[None], f.ARR[None], f.ARm[None]) if qR else (None, None, None)
        bd = batched.BlockData(f.A00[None], f.A0m[None], *dense,
                               self.cp.XytXy[None], np.array([self.n]), np.array([self.ldW]))
        return st, bd

    def many(self, thetas: np.ndarray) -> np.ndarray:
        """The objective at every row of ``thetas`` (P × k): one batched pass if possible."""
        thetas = np.atleast_2d(np.asarray(thetas, dtype=float))
        if self._batch is None:
            return np.array([self(t) for t in thetas])
        self.n_evals += len(thetas)
        vals = batched.evaluate(*self._batch, thetas[None])[0]
        if not np.all(np.isfinite(vals)):
            raise NumericalError("Downdated VtV is not positive definite at some θ: the "
                                 "fixed effects are (nearly) collinear given the random "
                                 "effects")
        return vals

    def pls_many(self, thetas: np.ndarray) -> dict | None:
        """ldL2, ldRX2, pwrss and RX (upper) at every θ of ``thetas`` (..., k) in one
        batched pass (arrays of shape ``thetas.shape[:-1]``, RX with (p, p) more), or None
        when the model has no batched form or a factorization fails at some θ (the caller
        then evaluates :meth:`pls` point by point)."""
        if self._batch is None:
            return None
        thetas = np.asarray(thetas, dtype=float)
        lead, k = thetas.shape[:-1], thetas.shape[-1]
        out = batched.evaluate(*self._batch, thetas.reshape(1, -1, k), full=True)
        L, ld = out["L"][0], out["ldL2"][0]
        parts = batched.pls_parts(L, ld, self.p)
        if not (np.all(np.isfinite(ld)) and np.all(np.isfinite(L))
                and np.all(parts["pwrss"] > 0)):
            return None
        self.n_evals += int(np.prod(lead, dtype=int))
        return {key: v.reshape(lead + v.shape[1:]) for key, v in parts.items()}

    def _schur(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Update the factor in place at θ; return ldL2 and the upper Cholesky of S."""
        self.n_evals += 1
        # the factorization is the one repeated operation where BLAS threads can pay: run
        # it under one thread or all, whichever is currently faster (machine load)
        try:
            ldL2, S = self._threads(self.factor.update,
                                    self.layout.templates(np.asarray(theta, dtype=float)))
        except NumericalError:
            raise
        except np.linalg.LinAlgError as e:
            raise NumericalError(
                "the random-effects cross-product (ΛᵀZᵀWZΛ + I) is not numerically positive "
                f"definite at θ = {np.asarray(theta).tolist()}: a random-effects term's "
                f"columns are on a very large scale? (rescale them) [{e}]") from None
        R, info = lapack.dpotrf(S, lower=0, clean=1, overwrite_a=1)
        if info != 0:
            raise NumericalError(
                "Downdated VtV is not positive definite: the fixed effects are (nearly) "
                f"collinear given the random effects (θ = {np.asarray(theta).tolist()}, "
                f"LAPACK dpotrf info={info})"
            )
        return ldL2, R

    def _criterion(self, ldL2: float, ldRX2: float, pwrss: float) -> float:
        n, p = self.n, self.p
        if not self.reml:
            return ldL2 - self.ldW + n * (1.0 + np.log(2.0 * np.pi * pwrss / n))
        nmp = n - (p if self.reml_p is None else self.reml_p)
        return ldL2 - self.ldW + ldRX2 + nmp * (1.0 + np.log(2.0 * np.pi * pwrss / nmp))

    def __call__(self, theta: np.ndarray) -> float:
        """The objective at θ (updates the factor in place)."""
        ldL2, R = self._schur(theta)
        p = self.p
        pwrss = R[p, p] ** 2
        ldRX2 = 2.0 * np.sum(np.log(np.abs(np.diag(R)[:p]))) if self.reml else 0.0
        return float(self._criterion(ldL2, ldRX2, pwrss))

    def pls(self, theta: np.ndarray) -> PLSState:
        """All penalized least-squares quantities at θ (updates the factor in place)."""
        theta = np.array(theta, dtype=float)
        ldL2, R = self._schur(theta)
        p = self.p
        RX = R[:p, :p].copy()
        pwrss = float(R[p, p] ** 2)
        ldRX2 = float(2.0 * np.sum(np.log(np.abs(np.diag(RX)))))
        beta_y0 = solve_triangular(RX, R[:p, p], lower=False) if p else np.zeros(0)
        obj = float(self._criterion(ldL2, ldRX2, pwrss))
        return PLSState(theta, float(ldL2), ldRX2, pwrss, RX, self.cp.shift + beta_y0, obj,
                        beta_y0)

    def solve_u(self, state: PLSState) -> np.ndarray:
        """Spherical random effects û at the state's θ (the factor must be at that θ)."""
        return self.factor.solve_u(state.beta_y0)

    def ml_deviance(self, state: PLSState) -> float:
        """The ML deviance at the state's θ (the profiled deviance, also for REML fits)."""
        n = self.n
        return float(state.ldL2 - self.ldW + n * (1.0 + np.log(2.0 * np.pi * state.pwrss / n)))
