"""Predictions for new data and simulation from a fitted model.

``predict`` re-materializes the fixed- and random-effects model matrices of
``newdata`` with the training design's spec (same factor levels, contrasts and
transforms); a grouping level not seen in training contributes zero, as
lme4's ``predict(..., allow.new.levels = TRUE)``.  ``simulate`` draws
``y* = Xβ̂ + offset + ZΛθ̂ u* σ̂ + ε*`` with ``u* ~ N(0, I)`` and
``ε* ~ N(0, σ̂²/w)``, as lme4's ``simulate.merMod`` with ``use.u = FALSE``.
"""

from __future__ import annotations

import numpy as np

from interlace.results.result import re_contribution


def predict(result, newdata=None, include_re: bool = True) -> np.ndarray:
    """Conditional (``include_re``) or marginal predictions on the response scale."""
    if newdata is None:
        if include_re:
            return np.array(result.fittedvalues)
        d = result._design
        eta = d.X @ result.fe_params.to_numpy()
        return eta if d.offset is None else eta + d.offset
    nd = result._design.spec.materialize(newdata)
    eta = nd.X @ result.fe_params.to_numpy()
    if nd.offset is not None:
        eta = eta + nd.offset
    if include_re:
        eta = eta + re_contribution(nd.re, result._b, len(eta))
    return eta


def simulate(result, nsim: int = 1, seed: int | None = None) -> np.ndarray:
    """Draw ``nsim`` response vectors from the fitted model; returns (n, nsim)."""
    rng = np.random.default_rng(seed)
    d = result._design
    mu = predict(result, include_re=False)
    terms = [(t.codes, t.Xi) for t in d.re_terms]
    templates = result._layout.templates(result.theta)
    out = np.empty((result.nobs, nsim))
    for k in range(nsim):
        b = [result.sigma * (rng.standard_normal((len(t.levels), T.shape[0])) @ T.T)
             for t, T in zip(d.re_terms, templates, strict=True)]
        eps = rng.standard_normal(result.nobs) * result.sigma
        if d.weights is not None:
            eps = eps / np.sqrt(d.weights)
        out[:, k] = mu + re_contribution(terms, b, result.nobs) + eps
    return out
