"""The GLMM deviance as lme4's ``glmer`` evaluates it: PIRLS, Laplace, AGQ and nAGQ = 0.

Notation as :mod:`interlace.deviance.lmm` (Bates, Mächler, Bolker & Walker 2015, JSS
67(1), sec. 5 for GLMMs): η = offset + Xβ + ZΛu, μ = g⁻¹(η), family and link as
:mod:`interlace.family`.  Every quantity follows lme4 1.1-31 (``src/external.cpp``
``pwrssUpdate``, ``glmerLaplace``, ``glmerAGQ``; ``R/modular.R``; ``src/respModule.cpp``):

**PIRLS** (penalized iteratively reweighted least squares) from a start η, with the
working weights ``w = μ'(η)·√(prior weight / V(μ))`` and the working response
``z = (η − offset) + (y − μ)/μ'(η)`` of the current iterate: the weighted penalized least
squares problem of the LMM (the same blocked factor of ΛᵀZᵀWZΛ + I and Schur complement
of [X z]) gives u — and β too in nAGQ = 0 mode — then η and μ are updated, and the
penalized deviance ``pdev = Σ devResid + ‖u‖²`` is compared with the previous one:
converged when ``|Δpdev / pdev| < 1e-7`` (tested before step-halving), else a larger pdev
halves the step towards the previous iterate up to 20 times; at most 100 iterations.
lme4's errors when these fail are kept.

**The lag.** The factor L (hence ``ldL2``, RX, ``ldRX2``) is the one built at the start
of the last iteration, i.e. from the working weights of the penultimate iterate, while u,
μ and the deviance residuals are at the final iterate.  lme4 reports and optimizes
exactly that; refactoring at the final iterate moves logLik by ~1e-4.

**Objectives** (deviance scale):

* stage 1 (nAGQ = 0 mode, θ only; u and β by PIRLS): ``ldL2 + ‖u‖² + aic(μ)``;
* stage 2 Laplace (nAGQ = 1, θ and β; u by PIRLS with Xβ in the offset):
  ``ldL2 + ‖u‖² + aic(μ)``;
* stage 2 adaptive Gauss–Hermite (nAGQ = k > 1, one grouping factor with one scalar
  term): per level j, ``devc0_j = û_j² + Σ devResid`` of its rows and, over the rule's
  nodes z with weights w, ``mult_j = Σ w·exp(−½(devc_j(û + z/L_jj) − devc0_j) + z²/2)``;
  the value is ``Σ devc0_j + ldL2 − 2 Σ log mult_j`` — on the deviance-residual scale,
  not the aic scale, as lme4 1.1-31 has it.

**Two implementations.**  This module's NumPy/LAPACK path computes every state in full
(with its factor, for the result's condVar and RX).  Inside :meth:`GlmmDeviance.values_only`
models with scalar terms, the binomial or Poisson family and the logit or log link are
evaluated by one compiled call (:mod:`interlace.deviance.pirls_kernel`), equal to rounding;
the optimizers and the profile evaluate there.

Every evaluation restarts from the same start ``lp0`` (η − offset), so the objective is
a deterministic function of its parameters: stage 1 starts from the PIRLS result at the
start θ (itself from ``offset + linkfun(mustart)``), stage 2 from the stage-1 result.  In
stage 2 the first iteration's weights and working response use η = offset + lp0 even
though the offset then holds Xβ, as lme4's ``resp$setOffset`` leaves η as it was.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.linalg import lapack, solve_triangular

from interlace.covariance import CovarianceLayout
from interlace.design.zmatrix import build_Z
from interlace.deviance import agq_kernel as ak
from interlace.deviance import pirls_kernel as pk
from interlace.deviance import stage2_kernel as s2k
from interlace.errors import ConvergenceError, NumericalError
from interlace.family import Family
from interlace.linalg import make_factor
from interlace.linalg.blocked import BlockDiagPattern, BlockedFactor
from interlace.linalg.crossprod import CrossProducts, TermData
from interlace.linalg.threads import ThreadSplit
from interlace.linalg.weighted import WeightedBlocks

__all__ = ["SPLIT", "GlmmDeviance", "PirlsState", "gauss_hermite"]

#: lme4's glmerControl defaults
TOL_PWRSS = 1e-7
MAXIT = 100
MAX_STEP_HALVINGS = 20
#: adaptive Gauss–Hermite on threads from this many (rows × nodes) evaluations
AGQ_THREADS_FROM = 4000
#: below this density, scalar terms' off-diagonal block is held sparse however small
#: (PIRLS refactors it every iteration; measured on grouseticks: 3 terms, 1% dense)
SPARSE_OFFDIAG_DENSITY = 0.1


#: one load measurement for every GLMM deviance of the process
SPLIT = ThreadSplit()


@dataclass(frozen=True)
class PirlsState:
    """The PIRLS result at one parameter point (lme4's ``pp`` and ``resp`` after devfun).

    ``ldL2``, ``RX``, ``ldRX2`` and ``factor`` are lagged (see the module docstring; the
    factor object may be the deviance's own, refreshed by its next evaluation:
    :meth:`GlmmDeviance.detach` gives a state that keeps it); u,
    β (nAGQ = 0 mode; zeros otherwise), η, μ, ``drsum`` (Σ devResid) and ``aic`` are at
    the final iterate.  ``lin`` is η − offset (lme4's ``linPred(1)``).
    """

    theta: np.ndarray
    u: np.ndarray
    beta: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    lin: np.ndarray
    ldL2: float
    RX: np.ndarray
    ldRX2: float
    drsum: float
    aic: float
    iterations: int
    factor: object
    #: the Laplace value as the compiled stage 2 forms it (``stage2_kernel.value``), set on
    #: the scalar-term kernel's stage-2 states so that both give the same bits
    laplace_value: float | None = None

    @property
    def laplace(self) -> float:
        """lme4's ``Laplace()``: ldL2 + ‖u‖² + aic (no ldRX2)."""
        if self.laplace_value is not None:
            return self.laplace_value
        return float(self.ldL2 + self.u @ self.u + self.aic)


def gauss_hermite(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z and weights w (Σw = 1) of the k-point Gauss–Hermite rule for N(0, 1), as
    lme4's ``GHrule(k)`` (whose table agrees with this to ~1e-14); k from 1 to 100.
    Computed once per k (read-only arrays: every AGQ evaluation asks for them)."""
    if not 1 <= k <= 100:
        raise NumericalError(f"nAGQ must be between 0 and 100 (lme4's GHrule), got {k}")
    return _gauss_hermite(int(k))


@functools.cache
def _gauss_hermite(k: int) -> tuple[np.ndarray, np.ndarray]:
    z, w = np.polynomial.hermite_e.hermegauss(k)
    w = w / w.sum()
    z.flags.writeable = w.flags.writeable = False
    return z, w


class GlmmDeviance:
    """lme4's GLMM deviance functions for one model.

    Parameters
    ----------
    X : ndarray (n, p)
        Fixed-effects matrix.
    y, n_trials, weights : ndarray (n,)
        The family's response, binomial trials and prior weights
        (:mod:`interlace.design.response`).
    offset : ndarray (n,) or None
        The model's offset (lme4's ``baseOffset``).
    terms : sequence of TermData
        Random-effects terms in lme4 order.
    layout : CovarianceLayout
        θ layout of the terms.
    family : Family
    backend : {"auto", "blocked", "cholmod"}
        Factorization backend of each PIRLS iteration.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, n_trials: np.ndarray, weights: np.ndarray,
                 offset: np.ndarray | None, terms: Sequence[TermData],
                 layout: CovarianceLayout, family: Family, backend: str = "auto"):
        self.X = np.ascontiguousarray(X, dtype=float)
        self.n, self.p = self.X.shape
        self.y = np.asarray(y, dtype=float)
        self.n_trials = np.asarray(n_trials, dtype=float)
        self.weights = np.asarray(weights, dtype=float)
        self._aic_constants = family.aic_constants(self.y, self.n_trials, self.weights)
        #: a 0/1 binomial response: where y is 1 (the deviance residuals' fast form)
        self._y_one = (self.y == 1.0 if family.name == "binomial"
                       and np.all((self.y == 0.0) | (self.y == 1.0)) else None)
        self.offset = np.zeros(self.n) if offset is None else np.asarray(offset, dtype=float)
        self.terms = list(terms)
        self.layout = layout
        self.family = family
        self.backend = backend
        self.Z = build_Z(self.terms).tocsr()
        self.Z.sort_indices()
        # Z's rows as K (column, value) tables, entries in CSR order, short rows padded
        # with zeros at their end (adding +0.0 to a partial sum changes no bit)
        counts = np.diff(self.Z.indptr)
        K = int(counts.max()) if self.Z.nnz else 1
        cols, vals = np.zeros((K, self.n), dtype=np.int64), np.zeros((K, self.n))
        row = np.repeat(np.arange(self.n), counts)
        pos = np.arange(self.Z.nnz) - self.Z.indptr[row]
        cols[pos, row], vals[pos, row] = self.Z.indices, self.Z.data
        self._zcols, self._zvals = list(cols), list(vals)
        self._lam = BlockDiagPattern([t.p for t in self.terms], [t.n_levels for t in self.terms])
        self.q = self.Z.shape[1]
        self.n_evals = 0
        # one factor for the model's structure, refreshed with each iteration's weights
        ps, ls = [t.p for t in self.terms], [t.n_levels for t in self.terms]
        cp0 = CrossProducts.build(self.X, np.zeros(self.n), self.terms, shift=False)
        self._base = make_factor(cp0, ps, ls, backend,
                                 sparse_offdiag_below=SPARSE_OFFDIAG_DENSITY)
        self._blocks = (WeightedBlocks(self._base, self.terms, self.X)
                        if isinstance(self._base, BlockedFactor) else None)
        #: the PIRLS state of the last evaluation (lme4's ``pp`` and ``resp`` after it)
        self.last_state: PirlsState | None = None
        #: the compiled kernel's arrays (:mod:`interlace.deviance.pirls_kernel`), when it
        #: covers the model; used for values only, inside :meth:`values_only`
        self._kernel = (self._kernel_arrays() if self._blocks is not None
                        and pk.eligible(family, self.terms) else None)
        self._fast = False
        #: the threads of independent pieces (AGQ nodes, a Hessian's points)
        self.split = SPLIT

    def _kernel_arrays(self) -> dict | None:
        fam = {"fam": pk.FAMILY_IDS[self.family.name],
               "link": pk.LINK_IDS[self.family.link.name], "aic": self._kernel_aic()}
        if self.terms[0].p > 1:  # one vector-valued term
            t = self.terms[0]
            return {**fam, "vector": True, "l0": int(t.n_levels),
                    "codes": np.ascontiguousarray(t.codes[None, :], dtype=np.int64),
                    "xv": np.ascontiguousarray(t.Xi.T, dtype=float)}
        plan = pk.plan_scalar(self.terms)
        if plan is None:
            return None
        ls = [t.n_levels for t in self.terms]
        return {**plan, "vector": False,
                "xv": np.ascontiguousarray([t.Xi[:, 0] for t in self.terms], dtype=float),
                "nlev": np.asarray(ls, dtype=np.int64),
                "offs": np.concatenate([[0], np.cumsum(ls)[:-1]]).astype(np.int64), **fam}

    def _kernel_aic(self) -> tuple:
        """The family's aic constants as the kernel takes them (``pirls_kernel._aic``), and
        whether the aic is the sum of the deviance residuals (binomial 0/1 responses with
        unit weights: ``pirls_kernel._finish``)."""
        c = self._aic_constants
        if self.family.name == "binomial":
            bernoulli = bool(np.all(self.weights == 1.0) and not np.any(self.n_trials > 1)
                             and np.all((self.y == 0.0) | (self.y == 1.0)))
            return (c["k"], c["m_k"], np.where(c["zero"], np.nan, c["scale"]), c["lchoose"],
                    bernoulli)
        z = np.zeros(self.n)
        return (z, z, np.asarray(c["lgamma"], dtype=float),
                np.asarray(c["integer"], dtype=float), False)

    def _first_weights(self, eta0: np.ndarray) -> tuple:
        """The kernel's first-iteration cache for u-only PIRLS from ``eta0``
        (:func:`~interlace.deviance.pirls_kernel.first_weights`): every stage-2 evaluation
        starts from the same η, so its weights are computed once per start."""
        kd = self._kernel
        held = kd.get("first")
        if held is None or not (held[0] is eta0 or bool((held[0] == eta0).all())):
            c = pk.first_weights(kd["codes"], kd["xv"], kd["k0"], kd["cell"], kd["rest_pos"],
                                 len(kd["cl_r"]), int(kd["nlev"][kd["k0"]]), kd["qR"],
                                 kd["colpat_ptr"], kd["colpat"], self.X, self.y, self.weights,
                                 eta0, kd["fam"], kd["link"])
            held = kd["first"] = (eta0.copy(), (True, *c))
        return held[1]

    @contextlib.contextmanager
    def values_only(self) -> Iterator[None]:
        """Evaluations inside give the deviance's values (and the state's vectors) from the
        compiled kernel when it covers the model; their states carry no factor (only L₀₀,
        for AGQ; stage-2 states no RX either), so the state a result keeps comes from an
        evaluation outside."""
        old = self._fast
        self._fast = self._kernel is not None
        try:
            yield
        finally:
            self._fast = old

    def with_response(self, y: np.ndarray) -> GlmmDeviance:
        """This deviance on a new response (glmer's scale) — lme4's ``refit(newresp)``:
        the design, the random-effects tables and the factor's plan are shared (the factor
        is refreshed by every evaluation, and results keep copies of it)."""
        new = copy.copy(self)
        new.y = np.asarray(y, dtype=float)
        if new.y.shape != self.y.shape:
            raise ValueError(f"a new response needs {self.n} values, got {new.y.shape}")
        fam = self.family
        new._aic_constants = fam.aic_constants(new.y, self.n_trials, self.weights)
        new._y_one = (new.y == 1.0 if fam.name == "binomial"
                      and np.all((new.y == 0.0) | (new.y == 1.0)) else None)
        new.last_state, new.n_evals = None, 0
        if self._kernel is not None:  # its own work arrays, aic constants and cache
            new._kernel = self._own_kernel({"aic": new._kernel_aic(), "first": None})
            new._kernel.pop("binary", None)
        return new

    def _own_kernel(self, changes: dict) -> dict:
        """A copy of the kernel's arrays with work arrays of its own (and ``changes``)."""
        kd = self._kernel
        return {**kd, "args": None, **{k: kd[k].copy() for k in ("ARR", "LRR") if k in kd},
                **changes}

    def stage2_compiled(self, nagq: int) -> bool:
        """Whether stage 2 evaluates as one compiled function
        (:mod:`~interlace.deviance.stage2_kernel`): scalar terms the kernel covers, Laplace,
        or a quadrature in the binary product form or too short for threads."""
        kd = self._kernel
        if kd is None or kd["vector"]:
            return False
        return (nagq <= 1 or self._agq_binary() is not None
                or self.n * nagq < AGQ_THREADS_FROM)

    def stage2_args(self, lp0: np.ndarray, nagq: int) -> tuple:
        """The arguments of :func:`~interlace.deviance.stage2_kernel.value` after the point
        and θ's length, for stage 2 from ``lp0`` (:meth:`stage2_compiled` models)."""
        kd = self._kernel
        eta0 = self.offset + lp0
        pre, post = self._kernel_call()
        zs, ws = gauss_hermite(nagq) if nagq > 1 else (np.zeros(1), np.zeros(1))
        binary = self._agq_binary() if nagq > 1 else None
        return (self.offset, eta0, self.X, pre, post, self._first_weights(eta0), int(nagq),
                zs, ws, self.y, self.weights, kd["fam"], kd["link"], binary is not None,
                binary if binary is not None else ak.NO_BINARY)

    def stage2_values(self, points, lp0: np.ndarray, nagq: int) -> np.ndarray:
        """Stage 2's deviance (Laplace or AGQ) at each of ``points`` (θ then β), the same
        bits as :meth:`laplace`/:meth:`agq` one by one.  Inside :meth:`values_only` the
        points go in contiguous pieces to :attr:`split`'s threads, each piece on a copy of
        this deviance with its own work arrays (the NumPy path shares its factor: one
        thread), and a :meth:`stage2_compiled` model evaluates a piece in one compiled
        call."""
        points = np.ascontiguousarray(points, dtype=float)
        k = self.layout.n_theta
        compiled = self._fast and self.stage2_compiled(nagq)

        def run(d: GlmmDeviance, idx: np.ndarray) -> np.ndarray:
            if not compiled:
                return np.array([d.laplace(p[:k], p[k:], lp0) if nagq <= 1
                                 else d.agq(p[:k], p[k:], lp0, nagq) for p in points[idx]])
            vals, bad, status = s2k.values(points[idx], k, *d.stage2_args(lp0, nagq))
            d.n_evals += len(idx) if bad < 0 else bad + 1
            if bad >= 0:
                raise d.kernel_failure(status, points[idx[bad], :k])
            return vals

        t = (self.split.threads() if self._fast and self._kernel is not None
             and len(points) > 1 else 1)
        chunks = np.array_split(np.arange(len(points)), max(1, min(t, len(points))))
        devs = [self] + [self._thread_copy() for _ in chunks[1:]]
        try:
            parts = self.split.map(lambda job: run(*job), list(zip(devs, chunks, strict=True)))
        finally:
            self.n_evals += sum(d.n_evals for d in devs[1:])
        return np.concatenate(parts)

    def _thread_copy(self) -> GlmmDeviance:
        """This deviance with kernel work arrays of its own (for another thread)."""
        clone = copy.copy(self)
        clone._kernel = self._own_kernel({})
        clone.n_evals = 0
        return clone

    def kernel_failure(self, status: int, theta) -> Exception:
        """The NumPy path's error for the kernel's failure ``status`` at θ (kept as the
        deviance's θ, as an evaluation there would)."""
        self._theta = np.array(theta, dtype=float)
        return _KERNEL_ERRORS[status](self._theta)

    def detach(self, state: PirlsState) -> PirlsState:
        """``state`` with a factor of its own: the deviance's shared factor is refreshed in
        place by its next evaluation, so a result keeps a copy."""
        if state.factor is not self._base:
            return state
        return replace(state, factor=copy.deepcopy(state.factor))

    # -- pieces -------------------------------------------------------------------------
    def eta_start(self, mustart: np.ndarray) -> np.ndarray:
        """lme4's ``mkRespMod``: η = offset + linkfun(mustart) (R's link function)."""
        return self.offset + self.family.link.linkfun(mustart)

    def _deviance_residuals(self, mu: np.ndarray) -> np.ndarray:
        """Under the caller's ``np.errstate`` (see :meth:`pirls`); μ (n,) or (k, n)."""
        if self._y_one is not None:
            return self.family.binary_dev_resids_raw(self._y_one, mu, self.weights)
        return self.family.dev_resids_raw(self.y, mu, self.weights)

    def _factor(self, eta: np.ndarray, mu: np.ndarray, offset: np.ndarray):
        """Factor of the weighted PLS problem at the iterate (η, μ): (factor, ldL2, R)."""
        link = self.family.link
        mueta = link.mu_eta_raw(eta)
        sqrtw = mueta * np.sqrt(self.weights / self.family.variance(mu))
        z = (eta - offset) + (self.y - mu) / mueta
        if self._blocks is not None:
            factor = self._base
            factor.refresh(*self._blocks.compute(sqrtw * sqrtw, z))
        else:  # CHOLMOD: the products formed again
            cp = CrossProducts.build(self.X, z, self.terms, weights=sqrtw * sqrtw, shift=False)
            factor = make_factor(cp, [t.p for t in self.terms],
                                 [t.n_levels for t in self.terms], self.backend)
        ldL2, S = factor.update(self._templates)
        R, info = lapack.dpotrf(S, lower=0, clean=1, overwrite_a=1)
        if info != 0:
            raise NumericalError("Downdated VtV is not positive definite: the fixed effects "
                                 f"are (nearly) collinear given the random effects "
                                 f"(θ = {self._theta.tolist()})")
        return factor, float(ldL2), R

    def _linear(self, beta: np.ndarray | None, u: np.ndarray) -> np.ndarray:
        """Xβ + ZΛu (lme4's ``linPred(1)``); β None: ZΛu alone (β = 0, stage 2).

        ZΛu is summed row by row in the column order of Z's CSR form, as a CSR product
        does, from per-row (column, value) tables: the same bits without scipy.sparse's
        per-call overhead."""
        v = self._lam.apply(self._templates, u)
        cols, vals = self._zcols, self._zvals
        zu = vals[0] * v[cols[0]]
        for c, x in zip(cols[1:], vals[1:], strict=True):
            zu += x * v[c]
        return zu if beta is None else self.X @ beta + zu

    # -- PIRLS ----------------------------------------------------------------------------
    def pirls(self, theta, eta0: np.ndarray, offset: np.ndarray, u_only: bool) -> PirlsState:
        """lme4's ``pwrssUpdate`` from η = ``eta0`` with ``offset`` (see the module doc)."""
        self.n_evals += 1
        self._theta = np.asarray(theta, dtype=float)
        if self._fast:  # scalar terms: θ is each term's λ, in term order
            return self._pirls_kernel(np.array(eta0, dtype=float), offset, u_only)
        self._templates = self.layout.templates(self._theta)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return self._pirls(np.array(eta0, dtype=float), offset, u_only)

    def _kernel_call(self) -> tuple:
        """The scalar kernel's arguments that do not change between evaluations, as two
        tuples around (offset, η₀, u_only): built once (``with_response`` drops them)."""
        kd = self._kernel
        args = kd.get("args")
        if args is None:
            pre = (kd["codes"], kd["xv"], kd["nlev"], kd["offs"], kd["k0"], kd["rest_pos"],
                   kd["qR"], kd["cell"], kd["cl_ptr"], kd["cl_r"], kd["rowpat_ptr"],
                   kd["rowpat"], kd["colpat_ptr"], kd["colpat"], kd["dense_gram"], kd["ARR"],
                   kd["LRR"], self.X, self.y, self.weights)
            post = (kd["fam"], kd["link"], MAXIT, TOL_PWRSS, MAX_STEP_HALVINGS, *kd["aic"])
            args = kd["args"] = (pre, post)
        return args

    def _pirls_kernel(self, eta: np.ndarray, offset: np.ndarray, u_only: bool) -> PirlsState:
        """:meth:`pirls` by the compiled kernel (values only: no factor in the state)."""
        kd = self._kernel
        offset = np.ascontiguousarray(offset, dtype=float)
        if kd["vector"]:
            out = pk.pirls_vector(self.layout.templates(self._theta)[0], kd["codes"],
                                  kd["xv"], kd["l0"], self.X, self.y, self.weights, offset,
                                  eta, bool(u_only), kd["fam"], kd["link"], MAXIT, TOL_PWRSS,
                                  MAX_STEP_HALVINGS, *kd["aic"])
        else:
            pre, post = self._kernel_call()
            cache = self._first_weights(eta) if u_only else _NO_CACHE
            out = pk.pirls_scalar(self._theta, *pre, offset, eta, bool(u_only), *post, *cache)
            if u_only:  # stage 2: the compiled stage 2's Laplace value
                return self._kernel_state(*out, u_only=True, value=True)
        return self._kernel_state(*out, u_only=u_only)

    def _kernel_state(self, status, iterations, u, beta, eta, mu, lin, ldL2, RX, drsum, aic,
                      L00, u_only=False, value=False) -> PirlsState:
        """The kernel's result as a (values-only) state, or the NumPy path's error.  In
        u-only mode RX is not formed (NaN), and neither is ldRX2; ``value``: the state
        carries the Laplace value as ``stage2_kernel.value`` forms it."""
        if status:
            raise self.kernel_failure(status, self._theta)
        if u_only or not self.p:
            ldRX2 = np.nan if self.p else 0.0
        else:
            ldRX2 = float(2.0 * np.sum(np.log(np.abs(np.diag(RX)))))
        laplace = float(ldL2 + pk.sqnorm(u) + aic) if value else None
        self.last_state = PirlsState(self._theta, u, beta, eta, mu, lin, float(ldL2), RX,
                                     ldRX2, float(drsum), float(aic), int(iterations),
                                     _KernelFactor(L00), laplace)
        return self.last_state

    def _pirls(self, eta: np.ndarray, offset: np.ndarray, u_only: bool) -> PirlsState:
        """:meth:`pirls` under one ``np.errstate`` for the whole loop (the family's raw
        kernels rely on it)."""
        p, fam = self.p, self.family
        linkinv = fam.link.linkinv_raw
        mu = linkinv(eta)
        delu, delb = np.zeros(self.q), np.zeros(p)
        oldpdev = np.finfo(float).max
        iterations = 0
        for iterations in range(1, MAXIT + 1):  # noqa: B007 (reported after the loop)
            olddelu, olddelb = delu, delb
            factor, ldL2, R = self._factor(eta, mu, offset)
            if u_only or not p:
                delb = np.zeros(p)
            else:
                delb = solve_triangular(R[:p, :p], R[:p, p], lower=False)
            delu = factor.solve_u(delb)
            lin = self._linear(None if u_only else delb, delu)
            eta = offset + lin
            mu = linkinv(eta)
            pdev = float(np.sum(self._deviance_residuals(mu)) + delu @ delu)
            change = abs((oldpdev - pdev) / pdev)
            if change < TOL_PWRSS:
                break
            if np.isnan(pdev) or pdev > oldpdev:
                for _ in range(MAX_STEP_HALVINGS):
                    if not (np.isnan(pdev) or pdev > oldpdev):
                        break
                    delu = 0.5 * (olddelu + delu)
                    if not u_only:
                        delb = 0.5 * (olddelb + delb)
                    lin = self._linear(None if u_only else delb, delu)
                    eta = offset + lin
                    mu = linkinv(eta)
                    pdev = float(np.sum(self._deviance_residuals(mu)) + delu @ delu)
                if np.isnan(pdev):
                    raise NumericalError("PIRLS loop resulted in NaN value")
                if pdev - oldpdev > TOL_PWRSS:
                    raise NumericalError("(maxstephalfit) PIRLS step-halvings failed to reduce "
                                         "deviance in pwrssUpdate")
            oldpdev = pdev
        else:
            raise ConvergenceError(f"pwrssUpdate did not converge in ({MAXIT}) iterations")
        RX = R[:p, :p].copy()
        ldRX2 = float(2.0 * np.sum(np.log(np.abs(np.diag(RX))))) if p else 0.0
        dres = self._deviance_residuals(mu)
        drsum = float(np.sum(dres))
        aic = fam.aic(self.y, self.n_trials, mu, self.weights, drsum, self._aic_constants)
        self.last_state = PirlsState(self._theta, delu, delb, eta, mu, lin, ldL2, RX, ldRX2,
                                     drsum, aic, iterations, factor)
        return self.last_state

    # -- objectives -----------------------------------------------------------------------
    def initial_lp0(self, theta, mustart: np.ndarray) -> PirlsState:
        """The nAGQ = 0 PIRLS at θ from ``offset + linkfun(mustart)``; its ``lin`` is the
        stage-1 start ``lp0`` (lme4's ``nAGQ0initStep``)."""
        return self.pirls(theta, self.eta_start(mustart), self.offset, u_only=False)

    def stage1(self, theta, lp0: np.ndarray) -> PirlsState:
        """Stage 1 (nAGQ = 0 mode): θ only, u and β by PIRLS from η = offset + lp0."""
        return self.pirls(theta, self.offset + lp0, self.offset, u_only=False)

    def stage2(self, theta, beta, lp0: np.ndarray) -> PirlsState:
        """Stage 2: u by PIRLS at (θ, β) from η = offset + lp0, with Xβ in the offset."""
        beta = np.asarray(beta, dtype=float)
        if self._fast and not self._kernel["vector"]:  # as the compiled stage 2 forms it
            offset = pk.plus_xbeta(self.offset, self.X, beta)
        else:
            offset = self.offset + self.X @ beta
        return self.pirls(theta, self.offset + lp0, offset, u_only=True)

    def laplace(self, theta, beta, lp0: np.ndarray) -> float:
        """The stage-2 Laplace deviance (lme4's devfun at nAGQ = 1)."""
        return self.stage2(theta, beta, lp0).laplace

    def agq(self, theta, beta, lp0: np.ndarray, nagq: int) -> float:
        """The stage-2 adaptive Gauss–Hermite deviance with ``nagq`` nodes (lme4's
        ``glmerAGQ``); one grouping factor with one scalar term only."""
        if len(self.terms) != 1 or self.terms[0].p != 1:
            raise NumericalError("nAGQ > 1 is only available for models with a single, scalar "
                                 "random-effects term")
        st = self.stage2(theta, beta, lp0)
        if isinstance(st.factor, _KernelFactor):
            return self._agq_kernel(st, beta, nagq)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return self._agq(st, beta, nagq)

    def _agq_kernel(self, st: PirlsState, beta, nagq: int) -> float:
        """:meth:`agq` by the compiled kernel: the rule's nodes in a few contiguous pieces,
        on as many threads as :attr:`split` gives (the same bits on any number)."""
        kd = self._kernel
        zs, ws = gauss_hermite(nagq)
        offset = pk.plus_xbeta(self.offset, self.X, np.asarray(beta, dtype=float))
        xi, codes, lam = kd["xv"][0], kd["codes"][0], float(self._theta[0])
        L00 = st.factor._L00
        devc0 = ak.agq_centre(st.u, st.mu, codes, self.y, self.weights, kd["fam"])
        out = np.zeros((len(zs), len(st.u)))
        binary = self._agq_binary()

        def piece(bounds):
            ak.agq_range(st.u, L00, offset, xi, codes, lam, self.y, self.weights, kd["fam"],
                         kd["link"], zs, ws, devc0, bounds[0], bounds[1], out,
                         binary is not None, binary if binary is not None else ak.NO_BINARY)

        # the row-by-row form on threads when it is long enough to pay for them
        k = (self.split.threads() if binary is None and self.n * nagq >= AGQ_THREADS_FROM
             else 1)
        cuts = np.linspace(0, len(zs), min(k, len(zs)) + 1).round().astype(int)
        self.split.map(piece, list(zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True)))
        return float(ak.agq_combine(devc0, zs, ws, out, st.ldL2))

    def _agq_binary(self):
        """:func:`~interlace.deviance.agq_kernel.binary_plan` of the model, once (None
        unless binomial with the logit link)."""
        kd = self._kernel
        if "binary" not in kd:
            kd["binary"] = None
            if self.family.name == "binomial" and self.family.link.name == "logit":
                kd["binary"] = ak.binary_plan(self.y, self.weights, kd["xv"][0],
                                              kd["codes"][0], int(self.terms[0].n_levels))
        return kd["binary"]

    def _agq(self, st: PirlsState, beta, nagq: int) -> float:
        term = self.terms[0]
        codes, nlev = term.codes, term.n_levels
        lam = float(self._templates[0][0, 0])
        offset = self.offset + self.X @ np.asarray(beta, dtype=float)
        sd = 1.0 / _diag_L(st.factor, nlev)
        dres0 = self._deviance_residuals(st.mu)
        devc0 = st.u * st.u + np.bincount(codes, weights=dres0, minlength=nlev)
        zs, ws = gauss_hermite(nagq)
        xi = term.Xi[:, 0]
        # every node at once (rows: nodes); elementwise work and per-(node, level) sums in
        # row order are what the node-by-node loop computes, the terms of mult are added
        # in node order as before
        nz = np.flatnonzero(zs != 0.0)
        U = st.u[None, :] + zs[nz, None] * sd[None, :]
        mu = self.family.link.linkinv_raw(offset[None, :] + xi[None, :] * lam * U[:, codes])
        dres = self._deviance_residuals(mu)
        cells = (np.arange(len(nz))[:, None] * nlev + codes[None, :]).ravel()
        sums = np.bincount(cells, weights=dres.ravel(), minlength=len(nz) * nlev)
        devc = U * U + sums.reshape(len(nz), nlev)
        terms = np.exp(-0.5 * (devc - devc0[None, :]) + 0.5 * (zs[nz] * zs[nz])[:, None])
        terms *= ws[nz, None]
        mult, k = np.zeros(nlev), 0
        for j, w in enumerate(ws):
            if zs[j] == 0.0:
                mult += w
            else:
                mult += terms[k]
                k += 1
        return float(np.sum(devc0) + st.ldL2 - 2.0 * np.sum(np.log(mult)))


#: no first-iteration cache (the kernel's arguments when β is updated too)
_NO_CACHE = (False, np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0),
             np.zeros((0, 0)))


class _KernelFactor:
    """What a kernel evaluation keeps of its factor: the diagonal block's L₀₀ (AGQ)."""

    __slots__ = ("_L00",)

    def __init__(self, L00: np.ndarray):
        self._L00 = L00

    def minv_diag_blocks(self):
        raise NumericalError("a values-only PIRLS state has no factor: evaluate the deviance "
                             "outside GlmmDeviance.values_only() for one")


def _kernel_error(cls, message: str):
    return lambda theta: cls(message.format(theta=np.asarray(theta).tolist()))


#: the kernel's status codes as the NumPy path's errors
_KERNEL_ERRORS = {
    1: _kernel_error(NumericalError, "PIRLS loop resulted in NaN value"),
    2: _kernel_error(NumericalError, "(maxstephalfit) PIRLS step-halvings failed to reduce "
                     "deviance in pwrssUpdate"),
    3: _kernel_error(ConvergenceError, f"pwrssUpdate did not converge in ({MAXIT}) iterations"),
    4: _kernel_error(NumericalError, "Downdated VtV is not positive definite: the fixed "
                     "effects are (nearly) collinear given the random effects (θ = {theta})"),
    5: _kernel_error(NumericalError, "Cholesky of the dense block failed"),
}


def _diag_L(factor, nlev: int) -> np.ndarray:
    """Diagonal of the (lagged) factor L of a single scalar term, level by level."""
    L00 = getattr(factor, "_L00", None)
    if L00 is None or np.ndim(L00) != 1 or len(L00) != nlev:
        raise NumericalError("adaptive quadrature needs the diagonal factor of a single scalar "
                             "term")
    return np.asarray(L00, dtype=float)
