"""pbkrtest 0.5.2's parametric-bootstrap likelihood-ratio test ``PBmodcomp(large, small,
nsim)`` for LMM fits.

Both models are used as ML fits (REML ones refitted by ML from scratch, as pbkrtest's
``update(REML = FALSE)``).  The observed statistic is t = 2(ℓ_large − ℓ_small), its
χ² p-value 1 − F_χ²(t; df) with df the difference in parameters (pbkrtest's ``1 − pchisq``,
not the upper tail).  The reference sample: ``nsim`` responses simulated from the small ML
fit (an integer seed is R's ``set.seed(seed)`` called before ``PBmodcomp``: pbkrtest 0.5.2
ignores its own ``seed`` argument), each refitted by both models from their estimates
(lme4's ``refit``), 2(ℓ_large* − ℓ_small*) — not clipped at 0.  With the n_pos positive
reference values, the bootstrap p-value is (1 + #{t < ref⁺})/(1 + n_pos).  ``summary()``
adds pbkrtest's Gamma, Bartlett and F approximations from the positive reference values'
mean and variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from interlace.errors import InterlaceError, warn
from interlace.inference.bootstrap import refit_many

__all__ = ["PBModComp", "pb_modcomp", "restriction_model"]


@dataclass(frozen=True)
class PBModComp:
    """pbkrtest's ``PBmodcomp`` result: ``test`` (rows ``LRT``, ``PBtest``; columns
    ``stat``, ``df``, ``p.value``), ``ref`` (the reference sample), ``nsim``, ``npos``,
    ``n_extreme`` and the formulas."""

    test: pd.DataFrame
    ref: np.ndarray
    nsim: int
    npos: int
    n_extreme: int
    formula_large: str
    formula_small: str

    def summary(self) -> pd.DataFrame:
        """pbkrtest's ``summary(PBmodcomp)`` table: rows ``LRT``, ``PBtest``, ``Gamma``,
        ``Bartlett``, ``F``; columns ``stat``, ``df``, ``ddf``, ``p.value``."""
        tobs, ndf = float(self.test.loc["LRT", "stat"]), float(self.test.loc["LRT", "df"])
        pos = self.ref[self.ref > 0]
        EE, VV = float(np.mean(pos)), float(np.var(pos, ddof=1))
        p_pb = float(self.test.loc["PBtest", "p.value"])
        bc = ndf * tobs / EE
        ddf = 2 * EE / (EE - 1)
        rows = {
            "LRT": [tobs, ndf, np.nan, float(self.test.loc["LRT", "p.value"])],
            "PBtest": [tobs, np.nan, np.nan, p_pb],
            "Gamma": [tobs, np.nan, np.nan,
                      1 - stats.gamma.cdf(tobs, a=EE**2 / VV, scale=VV / EE)],
            "Bartlett": [bc, ndf, np.nan, 1 - stats.chi2.cdf(bc, ndf)],
            "F": [tobs / ndf, ndf, ddf,
                  1 - stats.f.cdf(tobs / ndf, ndf, ddf) if ddf > 0 else np.nan],
        }
        return pd.DataFrame.from_dict(rows, orient="index",
                                      columns=["stat", "df", "ddf", "p.value"])

    def __repr__(self) -> str:
        return (f"large : {self.formula_large}\nsmall : {self.formula_small}\n"
                f"{self.test.to_string()}")


def _ml(res):
    if res.method == "ML":
        return res
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return res.update(method="ML")


def restriction_model(large, L):
    """pbkrtest's ``restriction_matrix2model(large, L)``: the large model refitted with
    fixed effects X·N, N the orthogonal complement of Lᵀ's columns (the last columns of
    LINPACK's complete ``qr.Q``), as columns ``.X1``, ``.X2``, … with no intercept and the
    same random-effects terms."""
    from interlace.design.qr import qr_linpack, qr_q
    from interlace.formula.ast import deparse
    from interlace.inference.kenward_roger import rank_matrix

    X = large.model.exog
    L = np.atleast_2d(np.asarray(L, dtype=float))
    if L.shape[1] != X.shape[1]:
        raise InterlaceError(f"the restriction matrix has {L.shape[1]} columns but the model "
                             f"has {X.shape[1]} coefficients")
    if not np.all(np.isfinite(L)):
        raise InterlaceError("the restriction matrix L has NaN or Inf")
    N = qr_q(qr_linpack(L.T), complete=True)[:, rank_matrix(L.T):]
    if N.shape[1] == 0:
        raise InterlaceError("the restriction matrix leaves no fixed effects")
    Xs = X @ N
    data = large._data.iloc[large._design.row_positions].copy()
    names = [f".X{j + 1}" for j in range(Xs.shape[1])]
    for j, nm in enumerate(names):
        data[nm] = Xs[:, j]
    spec = large._design.spec
    random = " + ".join(f"({t.text})" for t in large._design.re_terms)
    formula = f"{deparse(spec.formula.response)} ~ -1 + {' + '.join(names)} + {random}"
    return large.update(formula, data=data, method="ML")


def pb_modcomp(large, small, nsim: int = 1000, seed=None, n_jobs: int = 1,
               show_progress: bool = False) -> PBModComp:
    """pbkrtest's ``PBmodcomp(large, small, nsim)`` (see the module docstring).

    Parameters
    ----------
    large : CrossedLMEResult
    small : CrossedLMEResult, str or array_like
        The smaller model, a formula (lme4's ``update`` syntax) refitting ``large``, or a
        restriction matrix L (:func:`restriction_model`, pbkrtest's own construction).
    nsim : int
        Reference sample size.
    seed : int, numpy Generator or None
        An int is R's ``set.seed(seed)`` before the call.
    n_jobs, show_progress
        joblib workers and a progress bar for the refits.
    """
    if not hasattr(large.__class__, "satterthwaite"):
        raise InterlaceError("pb_modcomp() compares linear mixed model fits (interlace.fit)")
    if isinstance(small, str):
        small = large.update(small)
    elif not hasattr(small.__class__, "satterthwaite"):
        small = restriction_model(large, small)
    if small.nobs != large.nobs:
        raise InterlaceError(f"the models were fitted to different numbers of rows "
                             f"({large.nobs} and {small.nobs})")
    lg, sm = _ml(large), _ml(small)
    ys = sm.simulate(nsim, seed)

    def loglik(x):
        return x.llf

    ref_l = refit_many(lg, ys, loglik, n_jobs, show_progress, desc="large-model refits")
    ref_s = refit_many(sm, ys, loglik, n_jobs, show_progress, desc="small-model refits")
    ref = np.array([2.0 * (a[0][0] - b[0][0]) if a[1] is None and b[1] is None else np.nan
                    for a, b in zip(ref_l, ref_s, strict=True)])
    if np.isnan(ref).any():
        warn(f"{int(np.isnan(ref).sum())} of {nsim} reference refits failed; they are left "
             "out of the reference sample")
        ref = ref[~np.isnan(ref)]
    tobs = 2.0 * (lg.llf - sm.llf)
    ndf = float(lg.nparams - sm.nparams)
    p_chi = 1.0 - float(stats.chi2.cdf(tobs, ndf))
    pos = ref[ref > 0]
    n_extreme = int(np.sum(tobs < pos))
    p_pb = (1 + n_extreme) / (1 + pos.size)
    test = pd.DataFrame({"stat": [tobs, tobs], "df": [ndf, np.nan], "p.value": [p_chi, p_pb]},
                        index=["LRT", "PBtest"])
    return PBModComp(test=test, ref=ref, nsim=int(nsim), npos=int(pos.size),
                     n_extreme=n_extreme, formula_large=large.formula,
                     formula_small=small.formula)
