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


def predict(result, newdata=None, include_re: bool = True) -> np.ndarray:
    """Conditional (``include_re``) or marginal predictions on the response scale."""
    if newdata is None:
        d = result._design
        eta = d.X @ result.fe_params.to_numpy()
        if d.offset is not None:
            eta = eta + d.offset
        return eta + result._Zb() if include_re else eta
    nd = result._design.spec.materialize(newdata)
    eta = nd.X @ result.fe_params.to_numpy()
    if nd.offset is not None:
        eta = eta + nd.offset
    if include_re:
        for (codes, Xi), b in zip(nd.re, result._b, strict=True):
            seen = codes >= 0
            contrib = np.zeros(len(eta))
            contrib[seen] = np.einsum("ij,ij->i", Xi[seen], b[codes[seen]])
            eta = eta + contrib
    return eta


def simulate(result, nsim: int = 1, seed: int | None = None) -> np.ndarray:
    """Draw ``nsim`` response vectors from the fitted model; returns (n, nsim)."""
    rng = np.random.default_rng(seed)
    d = result._design
    mu = d.X @ result.fe_params.to_numpy()
    if d.offset is not None:
        mu = mu + d.offset
    out = np.empty((result.nobs, nsim))
    templates = result._layout.templates(result.theta)
    w = d.weights
    for k in range(nsim):
        y = mu.copy()
        for term, T in zip(d.re_terms, templates, strict=True):
            u = rng.standard_normal((len(term.levels), T.shape[0]))
            b = result.sigma * (u @ T.T)
            y += np.einsum("ij,ij->i", term.Xi, b[term.codes])
        eps = rng.standard_normal(result.nobs) * result.sigma
        if w is not None:
            eps = eps / np.sqrt(w)
        out[:, k] = y + eps
    return out
