"""Predictions for new data and simulation from a fitted model.

``predict`` re-materializes the fixed- and random-effects model matrices of
``newdata`` with the training design's spec (same factor levels, contrasts and
transforms); a grouping level not seen in training is an error, as lme4's, unless
``allow_new_levels=True`` (then it contributes zero, lme4's ``allow.new.levels = TRUE``).
``simulate`` draws
``y* = Xβ̂ + offset + ZΛθ̂ u* σ̂ + ε*`` with ``u* ~ N(0, I)`` and
``ε* ~ N(0, σ̂²)``, as lme4's ``simulate.merMod`` with ``use.u = FALSE`` (which does not use
prior weights); an integer seed reproduces lme4's draws bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from interlace.errors import (
    DataError,
    InterlaceError,
    MissingDataWarning,
    ResponseWarning,
    warn,
)
from interlace.formula.ast import Name, names_in
from interlace.results.result import re_contribution


def _as_frame(newdata) -> pd.DataFrame:
    from interlace.design.frames import as_pandas

    newdata = as_pandas(newdata)
    if isinstance(newdata, pd.DataFrame):
        return newdata
    if isinstance(newdata, Mapping):
        try:
            return pd.DataFrame(dict(newdata))
        except ValueError as e:
            raise DataError(f"newdata: {e}") from None
    raise DataError(f"newdata must be a pandas DataFrame (or a dict of columns), not "
                    f"{type(newdata).__name__}: the formula's variables are looked up by name")


def _check_levels(result, nd, allow_new_levels: bool) -> None:
    """lme4's ``predict.merMod`` stops on missing or unseen grouping levels by default."""
    if allow_new_levels:
        return
    for term, g_na, new in zip(result._design.re_terms, nd.group_na, nd.new_levels,
                               strict=True):
        if g_na.any():
            raise DataError(
                f"NAs are not allowed in prediction data for grouping variables unless "
                f"allow_new_levels=True: grouping factor '{term.group}' is missing in "
                f"{int(g_na.sum())} row(s)")
        if new:
            shown = ", ".join(new[:10]) + (f" and {len(new) - 10} more" if len(new) > 10 else "")
            raise DataError(
                f"new levels detected in newdata: {shown} (grouping factor '{term.group}'); "
                "use allow_new_levels=True to predict them at the population level")


def predict(result, newdata=None, include_re: bool = True,
            allow_new_levels: bool = False) -> np.ndarray:
    """Conditional (``include_re``) or marginal predictions on the response scale.

    As lme4's ``predict.merMod``: a grouping level not seen when fitting, or a missing
    one, is an error unless ``allow_new_levels=True``, which predicts such rows at the
    population level (zero random effect).  Rows with a missing predictor are NaN, with a
    :class:`~interlace.errors.MissingDataWarning`.
    """
    if newdata is None and include_re is True:
        return np.array(result.fittedvalues)
    return linear_predictor(result, newdata, include_re, allow_new_levels)


def linear_predictor(result, newdata=None, include_re: bool = True,
                     allow_new_levels: bool = False) -> np.ndarray:
    """Xβ̂ + offset (+ Zb̂ with ``include_re``) for ``newdata`` or the fitted rows.

    With new data only the formula's ``offset()`` terms apply (an ``offset=`` argument is
    not replayed, as lme4); levels as :func:`predict`.
    """
    for name, flag in (("include_re", include_re), ("allow_new_levels", allow_new_levels)):
        if not isinstance(flag, bool | np.bool_):
            raise InterlaceError(f"{name} must be True or False, got {flag!r}")
    if newdata is None:
        d = result._design
        eta = d.X @ result.fe_params.to_numpy()
        if d.offset is not None:
            eta = eta + d.offset
        return eta + result._Zb() if include_re else eta
    frame = _as_frame(newdata)
    spec = result._design.spec
    missing = [c for c in _predictor_columns(spec, include_re) if c not in frame.columns]
    if missing:
        raise DataError(f"newdata lacks the column(s) {', '.join(missing)} used by the model")
    if not len(frame):
        return np.empty(0)
    nd = spec.materialize(frame)
    eta = nd.X @ result.fe_params.to_numpy()
    if nd.offset is not None:
        eta = eta + nd.offset
    if include_re:
        _check_levels(result, nd, allow_new_levels)
        eta = eta + re_contribution(nd.re, result._b, len(eta))
        for na in nd.term_na:
            eta[na] = np.nan
    n_na = int(np.isnan(eta).sum())
    if n_na:
        warn(f"{n_na} of {len(eta)} rows of newdata have missing values in the "
                      "model's variables: their predictions are NaN", MissingDataWarning)
    return eta


def _predictor_columns(spec, include_re: bool) -> list[str]:
    """Data columns the predictions need (not the response)."""
    f = spec.formula
    cols: list[str] = []
    nodes = [*f.fixed.variables, *f.fixed.offsets]
    if include_re:
        for rt in f.random:
            nodes.extend(rt.lhs.variables)
            nodes.extend(Name(c) for c in rt.group)
    for node in nodes:
        for nm in names_in(node):
            if nm not in cols:
                cols.append(nm)
    return cols


def _check_draw_args(nsim, seed) -> None:
    """``nsim`` a whole number ≥ 0, ``seed`` an integer, a numpy Generator or None."""
    if isinstance(nsim, bool) or not isinstance(nsim, int | np.integer) or nsim < 0:
        raise InterlaceError(f"nsim must be a whole number >= 0, got {nsim!r}")
    if seed is not None and not isinstance(seed, int | np.integer | np.random.Generator):
        raise InterlaceError(f"seed must be an integer, a numpy Generator or None, got "
                             f"{type(seed).__name__}")


def _rng(nsim, seed) -> np.random.Generator:
    """numpy's generator of ``seed`` (the arguments checked)."""
    _check_draw_args(nsim, seed)
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def simulate_glmm(result, nsim: int = 1, seed: int | None = None) -> np.ndarray:
    """Draw ``nsim`` responses from a fitted GLMM as lme4's ``simulate.merMod`` with
    ``use.u = FALSE``: u* ~ N(0, I) (not scaled by σ, as lme4's GLMM branch), η* = Xβ̂ +
    offset + ZΛθ̂u*, then the family's draw at μ* = g⁻¹(η*) (:meth:`Family.simulate`).
    Returns (n, nsim) of the response as glmer reads it: for the binomial family the
    proportion of successes (× the prior weights: the counts of ``cbind``).  An integer
    seed is R's ``set.seed``: R's draws (:func:`_simulate_glmm_r`)."""
    if seed is not None and not isinstance(seed, np.random.Generator):
        _check_draw_args(nsim, seed)
        return _simulate_glmm_r(result, nsim, seed)
    rng = _rng(nsim, seed)
    d, fam, dev = result._design, result.family, result._dev
    eta = linear_predictor(result, include_re=False)
    templates = result._layout.templates(result.theta)
    out = np.empty((result.nobs, nsim))
    with np.errstate(over="ignore"):
        for k in range(nsim):
            b = [rng.standard_normal((len(t.levels), T.shape[0])) @ T.T
                 for t, T in zip(d.re_terms, templates, strict=True)]
            mu = fam.link.linkinv(eta + re_contribution([(t.codes, t.Xi) for t in d.re_terms],
                                                        b, result.nobs))
            out[:, k] = fam.simulate(rng, mu, dev.weights, result.sigma)
    return out


def _simulate_glmm_r(result, nsim: int, seed: int) -> np.ndarray:
    """lme4 1.1-31's ``simulate(m, nsim, seed)`` of a GLMM on R's stream: the q·nsim random
    effects' normals first, η* = Xβ̂ + offset + ZΛθ̂u* (u* not scaled), μ* = g⁻¹(η*), then
    lme4's ``simfunList`` draw, called once on all n·nsim means, with R's own generators
    (:mod:`interlace.rng_dists`), the weights recycled as R recycles them: binomial
    ``rbinom(n·nsim, wts, μ*) / wts`` (a ``cbind`` response's trials as wts), Poisson
    ``rpois``, Gamma ``rgamma`` with shape σ·wts and rate shape/μ*, inverse Gaussian
    statmod's ``rinvgauss`` with shape wts/σ."""
    from interlace.rng import RRandom
    from interlace.rng_dists import rbinom, rgamma, rinvgauss, rpois

    fam, dev = result.family, result._dev
    name = fam.name
    if name not in ("binomial", "poisson", "Gamma", "inverse.gaussian"):
        raise InterlaceError(f"R's generator for the {name} family is not reproduced: pass a "
                             "numpy Generator as seed to draw from numpy's stream")
    r = RRandom(seed)
    n = result.nobs
    eta = _lme4_fixed(result)[:, None] + _r_random_effects(result, r, nsim)
    with np.errstate(over="ignore"):
        mu = fam.link.linkinv(eta)
    ftd = mu.ravel(order="F")
    wts = np.asarray(dev.weights, dtype=float)
    if name == "binomial":
        if np.any(wts % 1 != 0):
            raise InterlaceError("cannot simulate from non-integer prior.weights")
        y = rbinom(r, n * nsim, wts, ftd) / np.resize(wts, n * nsim)
    elif name == "poisson":
        if np.any(wts != 1):
            warn("ignoring prior weights", ResponseWarning)
        y = rpois(r, n * nsim, ftd)
    elif name == "Gamma":
        shape = float(result.sigma) * wts
        rate = np.resize(shape, n * nsim) / ftd
        y = rgamma(r, n * nsim, np.resize(shape, n * nsim), 1.0 / rate)
    else:
        y = rinvgauss(r, n * nsim, ftd, wts / float(result.sigma))
    return y.reshape(nsim, n).T


def _column_sum(cols: list[np.ndarray]) -> np.ndarray:
    """Σ of the columns from 0 in their order (a sparse product's per-row order)."""
    out = np.zeros_like(cols[0])
    for c in cols:
        out = out + c
    return out


def _lme4_fixed(result) -> np.ndarray:
    """Xβ̂ (+ offset) summed column by column from 0, as R's reference BLAS ``dgemv``
    (lme4's ``predict(re.form = NA)``), without a BLAS library's own order or FMA."""
    d = result._design
    beta = result.fe_params.to_numpy()
    eta = _column_sum([d.X[:, j] * beta[j] for j in range(d.X.shape[1])])
    return eta if d.offset is None else eta + d.offset


def _r_normals(r, rows: int, nsim: int) -> np.ndarray:
    """R's ``matrix(rnorm(rows * nsim), ncol = nsim)`` from the stream ``r``."""
    return r.normal(rows * nsim).reshape(nsim, rows).T


def _r_random_effects(result, r, nsim: int) -> np.ndarray:
    """lme4's unscaled random-effects draw of ``simulate``: ZΛ u for u = the q·nsim normals
    next in R's stream ``r`` (n × nsim)."""
    q = sum(len(t.levels) * t.Xi.shape[1] for t in result._design.re_terms)
    return _lme4_sim_reff(result, _r_normals(r, q, nsim))


def _lme4_sim_reff(result, u: np.ndarray) -> np.ndarray:
    """lme4's ``t(Λᵀ Zᵀ) %*% u`` for each column of u (q × nsim): U = ZΛ entry by entry
    (Σ over the term's columns of Z in order, from 0), then each row's Σ U_ij u_j over the
    columns j in order, from 0 — CHOLMOD's order for the sparse products."""
    d = result._design
    parts, off = [], 0
    for t, T in zip(d.re_terms, result._layout.templates(result.theta), strict=True):
        p = T.shape[0]
        for c in range(p):  # column c of the term's block: Λ[k, c] for k ≥ c
            U = _column_sum([t.Xi[:, k] * T[k, c] for k in range(c, p)])
            parts.append(U[:, None] * u[off + np.asarray(t.codes) * p + c])
        off += p * len(t.levels)
    return _column_sum(parts)


def simulate(result, nsim: int = 1, seed: int | np.random.Generator | None = None
             ) -> np.ndarray:
    """Draw ``nsim`` response vectors from the fitted model; returns (n, nsim).

    An integer ``seed`` is R's ``set.seed(seed)``: the draws are lme4's ``simulate(m, nsim,
    seed)`` bit for bit (R's default generators, :mod:`interlace.rng`; the random effects'
    q·nsim normals first, then the n·nsim residual normals; lme4 1.1-31 ignores prior
    weights here, and so does this).  A numpy Generator (or None) draws the same model
    from numpy's stream instead."""
    _check_draw_args(nsim, seed)
    if seed is not None and not isinstance(seed, np.random.Generator):
        from interlace.rng import RRandom

        r = RRandom(seed)  # refuses what R's set.seed does not take
        b = _r_random_effects(result, r, nsim)
        eps = _r_normals(r, result.nobs, nsim)
        return _lme4_fixed(result)[:, None] + result.sigma * (b + eps)
    rng = _rng(nsim, seed)
    d = result._design
    mu = predict(result, include_re=False)
    terms = [(t.codes, t.Xi) for t in d.re_terms]
    templates = result._layout.templates(result.theta)
    out = np.empty((result.nobs, nsim))
    for k in range(nsim):
        b = [result.sigma * (rng.standard_normal((len(t.levels), T.shape[0])) @ T.T)
             for t, T in zip(d.re_terms, templates, strict=True)]
        eps = rng.standard_normal(result.nobs) * result.sigma
        out[:, k] = mu + re_contribution(terms, b, result.nobs) + eps
    return out


def simulate_conditional(result, nsim: int = 1,
                         seed: int | np.random.Generator | None = None) -> np.ndarray:
    """lme4's ``simulate(m, nsim, seed, use.u = TRUE)``: the fitted values (with the
    predicted random effects) plus σ times n·nsim residual normals, R's stream for an
    integer seed (no random effects are drawn); returns (n, nsim)."""
    _check_draw_args(nsim, seed)
    n = result.nobs
    if seed is not None and not isinstance(seed, np.random.Generator):
        from interlace.rng import RRandom

        eps = _r_normals(RRandom(seed), n, nsim)
    else:
        eps = _rng(nsim, seed).standard_normal((n, nsim))
    return np.asarray(result.fittedvalues, dtype=float)[:, None] + result.sigma * eps
