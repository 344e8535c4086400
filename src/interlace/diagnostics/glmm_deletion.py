"""Deletion refits of a GLMM as lme4's ``influence.merMod`` runs them for a ``glmerMod``.

lme4 1.1-31 refits the model without each unit with ``update(model, data, subset = .groups
!= del, start = list(theta = θ̂, fixef = β̂), control = glmerControl(optCtrl = list(maxfun =
1000)))``: the whole ``glmer`` — the initial PIRLS at lme4's default θ, stage 1 (BOBYQA over
θ from θ̂) and stage 2 (Nelder–Mead over (θ, β) from (θ̂₁, β̂)), both with ``maxfun`` 1000
— on the subset data, so a level of a grouping factor that loses all its rows is dropped
(lme4's model frame drops unused levels).  For nAGQ = 0 only θ is started (lme4 refuses
``fixef`` with nAGQ = 0).  Each deleted fit's vcov is lme4's default ``vcov``: from its
finite-difference Hessian when that is positive definite, else from RX.  A unit counts as
converged, as in lme4, when the last optimizer reported no failure and gave no warning.

Unlike the LMM's (:mod:`interlace.diagnostics.deletion`), nothing is downdated: PIRLS
works on the rows themselves, and the refit reuses :func:`interlace.glmer` through the
result's own refit function, so every deleted fit is a fit lme4 would make from the same
start.
"""

from __future__ import annotations

import warnings as _warnings

import numpy as np
import pandas as pd

from interlace.diagnostics.deletion import (
    Deletions,
    FitQuantities,
    subset_arguments,
    varcomp,
    varcomp_table,
)

__all__ = ["INFLUENCE_MAXFUN", "glmm_deletions"]

#: influence.merMod's ``maxfun`` (both glmer stages)
INFLUENCE_MAXFUN = 1000


def _influence_control(res) -> dict:
    """The model's control (its checks and actions) with influence.merMod's maxfun."""
    given = res._fit_kwargs.get("control")
    ctl = dict(given) if isinstance(given, dict) else {}  # a Control object: lme4 replaces it
    opt = res._fit_kwargs.get("optimizer", ("bobyqa", "Nelder_Mead"))
    opt = (opt, opt) if isinstance(opt, str) else tuple(opt)
    key = {"bobyqa": "maxfun", "Nelder_Mead": "maxfun", "pybobyqa": "maxfun",
           "nloptwrap": "maxeval"}  # SciPy's own limits stay
    ctl["opt_settings"] = {f"stage{i + 1}": ({key[o]: INFLUENCE_MAXFUN} if o in key else {})
                           for i, o in enumerate(opt)}
    ctl.pop("start", None)
    return ctl


def _refit(res, rows: np.ndarray, start: dict, control: dict) -> dict:
    """One deleted fit from the data without the model rows ``rows``."""
    data, kw = subset_arguments(res, rows)
    kw.update(control=control, start=start)
    names, p = list(res.fe_params.index), len(res.fe_params)
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        try:
            r = res._refit(res.formula, data, **kw)
        except Exception as exc:  # noqa: BLE001 (reported per unit, as lme4 stops)
            return dict(failed=f"{type(exc).__name__}: {exc}")
    beta = r.fe_params.reindex(names).to_numpy()
    vcov = r.vcov().reindex(index=names, columns=names).to_numpy() if p else np.zeros((0, 0))
    theta = pd.Series(r.theta, index=r.theta_names).reindex(res.theta_names).to_numpy()
    last = r.stages[-1]
    return dict(theta=theta, beta=beta, vcov=vcov, sigma2=r.scale, objective=r.objective,
                converged=bool(last.converged and not r.optimizer_warnings),
                messages=[str(w.message) for w in caught], n_evals=last.n_evals,
                templates=r._layout.templates(r.theta))


def _refit_unit(res, start: dict, control, rows: np.ndarray) -> dict:
    return _refit(res, rows, start, control)


def glmm_deletions(res, labels: pd.Index, sets: list[np.ndarray], level: str = "1",
                   n_jobs: int = 1, show_progress: bool = False) -> Deletions:
    """influence.merMod's deletion refits of a GLMM result, one per set of model rows.

    Parameters
    ----------
    res : GlmmResult
    labels : pandas.Index
        The units' labels.
    sets : list of ndarray
        Each unit's model rows.
    level : str
        ``"1"`` (observations) or the column whose levels are deleted.
    n_jobs, show_progress
        joblib workers and a tqdm bar.

    Returns
    -------
    Deletions
        ``engine`` is ``"refit"`` for every unit (``"failed"`` where glmer raised, with
        its message in ``warnings``).
    """
    from interlace.parallel import imap, progress_bar

    start = {"theta": np.array(res.theta)}
    if res.nAGQ > 0:
        start["fixef"] = res.fe_params.to_numpy()
    control = _influence_control(res)
    # the fit travels once per chunk of units (once per worker on Dask)
    with progress_bar(show_progress, len(sets), "glmer deletion refits") as progress:
        out = list(imap(_refit_unit, sets, shared=(res, start, control), n_jobs=n_jobs,
                        chunks_per_worker=4, progress=progress))
    U, p, k = len(sets), len(res.fe_params), len(res.theta)
    names = list(res.fe_params.index)
    fixef, theta = np.full((U, p), np.nan), np.full((U, k), np.nan)
    vcov, sigma2 = np.full((U, p, p), np.nan), np.full(U, np.nan)
    objective, n_evals = np.full(U, np.nan), np.zeros(U, dtype=int)
    converged, engine, msgs = np.zeros(U, dtype=bool), np.full(U, "refit", dtype=object), []
    templates = [np.full((U, t.p, t.p), np.nan) for t in res._layout.terms]
    for u, r in enumerate(out):
        if "failed" in r:
            engine[u] = "failed"
            msgs.append([r["failed"]])
            continue
        fixef[u], theta[u], vcov[u], sigma2[u] = r["beta"], r["theta"], r["vcov"], r["sigma2"]
        objective[u], n_evals[u], converged[u] = r["objective"], r["n_evals"], r["converged"]
        msgs.append(r["messages"])
        for T, Tu in zip(templates, r["templates"], strict=True):
            T[u] = Tu
    vc_names, vc_vals = varcomp_table(templates, sigma2)
    original = FitQuantities(
        fixef=res.fe_params.copy(), vcov=np.array(res.fe_cov), sigma2=float(res.scale),
        theta=res.theta_named.copy(),
        varcomp=varcomp(res._layout.templates(res.theta), float(res.scale)),
        objective=float(res.objective))
    return Deletions(
        labels=labels, level=str(level),
        fixef=pd.DataFrame(fixef, index=labels, columns=names), vcov=vcov, sigma2=sigma2,
        theta=pd.DataFrame(theta, index=labels, columns=res.theta_names),
        varcomp=pd.DataFrame(vc_vals, index=labels, columns=vc_names), objective=objective,
        converged=converged, warnings=msgs, engine=engine.astype(str), n_evals=n_evals,
        method=res.method, original=original, rows=list(sets))
