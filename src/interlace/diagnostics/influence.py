"""lme4's ``influence.merMod``: exact deletion refits and the measures lme4 derives from them.

lme4 1.1-31 refits the model once per deleted unit with ``update(model, data, subset =
.groups != del, start = list(theta = θ̂), control = lmerControl(optCtrl = list(maxfun =
1000)))``: the model's criterion (REML or ML) is kept, the start is the fitted θ̂ and the
control is lme4's default (``nloptwrap``; the ``maxfun`` entry is not an nloptr option and
changes nothing).  Units are the data's rows (row names) or, with ``groups``, the distinct
values of a column in order of first appearance.  From the refits:

* ``dfbeta``: β̂₍₋ᵢ₎ − β̂ (deleted minus full);
* ``dfbetas``: dfbeta / √diag(vcov(β̂₍₋ᵢ₎)) — the deleted fit's standard errors;
* ``cooks.distance``: dfbetaᵀ vcov(β̂)⁻¹ dfbeta · (n − p) / (n p) with vcov(β̂) of the
  full fit, p fixed effects and n the number of deleted **units** (observations, or
  groups with ``groups=``), as ``cooks.distance.influence.merMod`` computes it.

A GLMM (``glmerMod``) is refitted by the whole ``glmer`` from (θ̂, β̂), as lme4 does
(:mod:`interlace.diagnostics.glmm_deletion`); its σ² is 1 for binomial and Poisson
families and the deleted fits' vcov is lme4's default, from the Hessian.

For LMMs the refits are exact deletion refits (:mod:`interlace.diagnostics.deletion`), which
reach each deleted fit's optimum; lme4's own refits stop where its optimizer's
tolerances stop them (see the reproducibility floor in the parity report).  Units are
the observations the model used (lme4 also lists rows dropped for missing values, whose
"deletion" changes nothing).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interlace.diagnostics.deletion import Deletions, delete_sets, group_sets, observation_sets
from interlace.diagnostics.glmm_deletion import glmm_deletions
from interlace.linalg.threads import with_serial_blas
from interlace.results.glmm import GlmmResult

__all__ = ["Influence", "influence"]


class Influence:
    """Deleted-fit quantities in lme4's ``influence.merMod`` terms (see the module docstring).

    Attributes
    ----------
    fixef : DataFrame (units × coefficients)
        lme4's ``infl[["fixed.effects[-case]"]]``.
    theta : DataFrame (units × θ names)
        θ of each deleted fit.
    sigma : Series
        σ of each deleted fit.
    var_cov_comps : DataFrame
        lme4's ``var.cov.comps[-case]``: ``sigma^2`` then each term's ``v[...]`` and
        ``C[...]`` entries (prefixed ``group:`` when the model has several terms).
    vcov : ndarray (units × p × p)
        vcov(β̂) of each deleted fit (lme4's ``vcov[-case]``).
    converged : Series of bool
    groups : str
        ``"case"`` or the deletion column, as lme4's ``infl$groups``.
    deletions : Deletions
        The underlying refits.
    """

    def __init__(self, res, deletions: Deletions, groups: str):
        self.deletions = deletions
        self.groups = groups
        labels = deletions.labels
        self.labels = labels
        self.fixef = deletions.fixef
        self.fixef_original = res.fe_params.copy()
        self.vcov = deletions.vcov
        self.vcov_original = np.array(res.fe_cov)
        self.theta = deletions.theta
        self.theta_original = res.theta_named.copy()
        self.sigma = pd.Series(np.sqrt(deletions.sigma2), index=labels, name="sigma")
        self.converged = pd.Series(deletions.converged, index=labels, name="converged")
        self.var_cov_comps = _var_cov_comps(res, deletions.theta.to_numpy(),
                                            deletions.sigma2, labels)
        self.var_cov_comps_original = _var_cov_comps(
            res, res.theta[None], np.array([res.scale]), pd.Index(["original"])).iloc[0]

    def dfbeta(self) -> pd.DataFrame:
        """β̂₍₋ᵢ₎ − β̂ per unit (lme4's ``dfbeta(infl)``)."""
        return self.fixef - self.fixef_original

    def dfbetas(self) -> pd.DataFrame:
        """lme4's ``dfbetas(infl)``: dfbeta over the deleted fit's standard errors."""
        se = np.sqrt(np.diagonal(self.vcov, axis1=1, axis2=2))
        return self.dfbeta() / se

    def cooks_distance(self) -> pd.Series:
        """lme4's ``cooks.distance(infl)`` (n = number of deleted units; see module doc)."""
        db = self.dfbeta().to_numpy()
        n, p = db.shape
        Vinv = np.linalg.inv(self.vcov_original)
        d = np.einsum("ui,ij,uj->u", db, Vinv, db) * (n - p) / (n * p)
        return pd.Series(d, index=self.labels, name="cooks.distance")

    def __repr__(self) -> str:
        return f"<Influence groups={self.groups!r} units={len(self.labels)}>"


def _var_cov_comps(res, theta: np.ndarray, sigma2: np.ndarray, labels) -> pd.DataFrame:
    """lme4's var.cov.comps names and values from θ and σ² (one row per fit)."""
    layout = res._layout
    groups = layout.unique_groups()
    several = len(layout.terms) > 1
    cols, vals = ["sigma^2"], [sigma2]
    for t, g in zip(layout.terms, groups, strict=True):
        T = np.zeros((len(sigma2), t.p, t.p))
        T[:, t.rows, t.cols] = theta[:, t.theta_slice]
        S = sigma2[:, None, None] * (T @ np.swapaxes(T, 1, 2))
        prefix = f"{g}:" if several else ""
        cn = t.col_names
        for j in range(t.p):
            for i in range(j, t.p):
                name = f"v[{cn[i]}]" if i == j else f"C[{cn[i]},{cn[j]}]"
                cols.append(prefix + name)
                vals.append(S[:, i, j])
    return pd.DataFrame(np.column_stack(vals), index=labels, columns=cols)


@with_serial_blas
def influence(res, groups: str | None = None, n_jobs: int = 1, show_progress: bool = False,
              *, engine: str = "newton", control=None) -> Influence:
    """Exact deletion refits with lme4's ``influence.merMod`` conventions.

    Parameters
    ----------
    res : CrossedLMEResult or GlmmResult
        A GLMM is refitted by ``glmer`` itself, from (θ̂, β̂) with ``maxfun`` 1000, as
        lme4 refits a ``glmerMod`` (:mod:`interlace.diagnostics.glmm_deletion`);
        ``engine`` and ``control`` apply to LMMs only.
    groups : str, optional
        Delete whole groups: a column of the model's data or a grouping factor of the
        model (``"plate"``, ``"batch"``, ``"cask:batch"``); units in order of first
        appearance as lme4's ``unique``.  Default: single observations.
    n_jobs : int
        Parallel workers (joblib).
    show_progress : bool
        tqdm progress bar.
    engine : {"newton", "bobyqa"}
        ``"bobyqa"`` follows lme4's optimizer path unit by unit; ``"newton"`` (default)
        solves all units at once to the same optimum, more tightly (see
        :mod:`interlace.diagnostics.deletion`).
    control : dict or Control, optional
        lme4 control for the bobyqa refits (default: lme4's defaults, as influence.merMod).

    Returns
    -------
    Influence
    """
    if groups is None:
        labels, sets = observation_sets(res)
        name, level = "case", "1"
    else:
        labels, sets = group_sets(res, groups, order="appearance")
        name = level = groups
    if isinstance(res, GlmmResult):
        d = glmm_deletions(res, labels, sets, level, n_jobs=n_jobs, show_progress=show_progress)
        return Influence(res, d.require_all(), name)
    d = delete_sets(res, labels, sets, level=level, method="model", warm_start=True,
                    n_jobs=n_jobs, show_progress=show_progress, control=control, engine=engine)
    return Influence(res, d.require_all(), name)
