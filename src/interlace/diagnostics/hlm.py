"""HLMdiag's influence table and augmented data: ``hlm_influence``, ``hlm_augment``.

Source: HLMdiag 0.5.1.9000 (commit 6f1ee6d), ``R/hlm_influence.R``
(``hlm_influence.lmerMod``), ``R/hlm_augment.R`` and, for the exact measures,
``R/diagnostic_functions.R`` (``cooks.distance.case_delete``, ``mdffits.case_delete``,
``covtrace.case_delete``, ``covratio.case_delete``, ``rvc.case_delete``) on the
refits of ``R/case_delete.R``.

``approx=True`` gives the one-step measures of :mod:`interlace.diagnostics.onestep`
(θ̂, σ̂ held fixed).  ``approx=False`` refits the model without each unit
(:func:`interlace.diagnostics.deletion.delete_refits`) and, with β̂, vcov(β̂) and the
variance components of the model's own fit ("original") and of each deleted fit
("deleted"), computes HLMdiag's case-deletion formulas

    cooksd   = (β̂ − β̂₍ᵤ₎)ᵀ vcov(β̂)⁻¹ (β̂ − β̂₍ᵤ₎) / p
    mdffits  = (β̂ − β̂₍ᵤ₎)ᵀ vcov(β̂₍ᵤ₎)⁻¹ (β̂ − β̂₍ᵤ₎) / p
    covtrace = | tr(vcov(β̂)⁻¹ vcov(β̂₍ᵤ₎)) − p |
    covratio = det vcov(β̂₍ᵤ₎) / det vcov(β̂)
    rvc.<c>  = varcomp₍ᵤ₎[c] / varcomp[c] − 1

where varcomp is HLMdiag's ``varcomp.mer``: ``sigma2`` and the lower triangle of the
block-diagonal random-effects covariance (``D11``, ``D21``, ``D22``, …).

Conventions.  HLMdiag's refits (``lmer(formula(model), data = model@frame[-i, ])``)
always use REML and lme4's default control and start, whatever the model's method,
while its "original" quantities are the model's own (so an ML model's RVC compares
REML refits with the ML fit).  ``method="REML"`` reproduces that (the originals are the
model's own fit in both conventions); ``method="model"`` refits with the model's own
method.  The deleted fits are the optima of the refit criterion (tightly converged by
``delete_refits``); HLMdiag's cold starts change only where R's optimizer stops.

Known HLMdiag defects not reproduced: at a grouping-factor level its one-step values
follow the order of first appearance of the levels but its leverage and refit values
follow the factor-level order, all labelled in order of appearance (mislabelled when the
orders differ, e.g. nlme's ordered ``Subject`` factors); its RVC divides by position, so
a deleted fit with a variance exactly 0 (dropped by ``varcomp.mer``) shifts the
components (here: by name, that component's RVC is −1); with one fixed effect its exact
Cook's D and MDFFITS fail at level 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from interlace.design.evaluate import Evaluator
from interlace.diagnostics.leverage import LEVERAGE_COLUMNS
from interlace.diagnostics.leverage import leverage as _leverage
from interlace.diagnostics.matrices import units
from interlace.diagnostics.onestep import onestep
from interlace.diagnostics.residuals import hlm_resid
from interlace.errors import DataError, InterlaceError, InterlaceWarning, warn
from interlace.linalg.threads import with_serial_blas

__all__ = ["cooks_distance", "covratio", "covtrace", "exact_measures", "hlm_augment",
           "hlm_influence", "mdffits", "rvc"]


def _original_varcomp(res) -> pd.Series:
    from interlace.diagnostics.deletion import varcomp

    return varcomp(res._layout.templates(res.theta), res.scale)


def exact_measures(res, level=1, *, n_jobs: int = 1, show_progress: bool = False,
                   method: str = "REML", **refit_kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """HLMdiag's case-deletion measures from exact refits.

    Parameters
    ----------
    res : CrossedLMEResult
    level : 1 or str
        Observations or a grouping factor's name.
    n_jobs, show_progress : int, bool
        Passed to :func:`~interlace.diagnostics.deletion.delete_refits`.
    method : {"REML", "model"}
        Refit criterion (see the module docstring).
    **refit_kwargs
        Further arguments of ``delete_refits`` (``warm_start``, ``control``, ``engine``,
        ``optimizer``).

    Returns
    -------
    measures : DataFrame
        Index: unit labels; ``cooksd``, ``mdffits``, ``covtrace``, ``covratio``,
        ``rvc.<component>``.
    beta_change : DataFrame
        β̂ − β̂₍ᵤ₎ per unit.
    """
    from interlace.diagnostics.deletion import delete_refits

    lev = "1" if str(level) == "1" else str(level)
    units(res, lev)  # validates the level
    d = delete_refits(res, lev, method=method, n_jobs=n_jobs, show_progress=show_progress,
                      **refit_kwargs).require_all()
    names = list(res.fe_params.index)
    beta0 = res.fe_params.to_numpy()
    V0 = np.asarray(res.fe_cov)
    p = len(beta0)
    B = d.fixef.reindex(columns=names).to_numpy()
    delta = beta0[None, :] - B
    V0inv = np.linalg.inv(V0)
    cooks = np.einsum("ij,jk,ik->i", delta, V0inv, delta) / p
    Vd = np.asarray(d.vcov)
    with np.errstate(invalid="ignore"):
        mdf = np.array([dl @ np.linalg.solve(v, dl) / p if np.all(np.isfinite(v)) else np.nan
                        for dl, v in zip(delta, Vd, strict=True)])
        ctr = np.abs(np.einsum("jk,ikj->i", V0inv, Vd) - p)
        _, ld0 = np.linalg.slogdet(V0)
        cr = np.array([np.linalg.det(v) / np.exp(ld0) if np.all(np.isfinite(v)) else np.nan
                       for v in Vd])
    out = pd.DataFrame({"cooksd": cooks, "mdffits": mdf, "covtrace": ctr, "covratio": cr},
                       index=d.labels)
    vc0 = _original_varcomp(res)
    vcd = d.varcomp.reindex(columns=vc0.index)
    ok = np.isfinite(B).all(axis=1)
    vcd.loc[ok] = vcd.loc[ok].fillna(0.0)
    rv = vcd / vc0 - 1.0
    for c in vc0.index:
        out[f"rvc.{c}"] = rv[c].to_numpy()
    return out, pd.DataFrame(delta, index=d.labels, columns=names)


@with_serial_blas
def hlm_influence(res, level=1, approx: bool = True,
                  leverage: str | Sequence[str] = ("overall",), n_jobs: int = 1,
                  show_progress: bool = False, method: str = "REML",
                  **refit_kwargs) -> pd.DataFrame:
    """HLMdiag's ``hlm_influence``: influence measures per observation or group level.

    Parameters
    ----------
    res : CrossedLMEResult
    level : 1 or str
        1 deletes single observations (index: row labels); a grouping factor's name
        deletes its levels (index: level labels, factor-level order).
    approx : bool
        True: HLMdiag's one-step approximations; False: exact refits (adds ``rvc.*``).
    leverage : str or sequence of {"overall", "fixef", "ranef", "ranef.uc"}
        Leverage columns to add (``leverage.<type>``); also given for crossed models
        (HLMdiag has none there; see :mod:`interlace.diagnostics.leverage`).
    n_jobs, show_progress, method, **refit_kwargs
        Refits only (``approx=False``): see :func:`exact_measures` (``optimizer=``: the
        refits' optimizer, a name or a callable; with ``approx=True`` it has no effect and
        says so).

    Returns
    -------
    pandas.DataFrame
        Columns ``cooksd``, ``mdffits``, ``covtrace``, ``covratio``, [``rvc.*``],
        ``leverage.*``.
    """
    types = [leverage] if isinstance(leverage, str) else list(leverage)
    bad = [t for t in types if t not in LEVERAGE_COLUMNS]
    if bad:
        raise InterlaceError(f"leverage types must be among {LEVERAGE_COLUMNS}, not {bad}")
    if approx:
        if refit_kwargs.get("optimizer") is not None:
            warn("hlm_influence: optimizer= has no effect with approx=True (the one-step "
                 "measures refit nothing); pass approx=False for refits with it",
                 InterlaceWarning)
        meas, _ = onestep(res, level)
    else:
        meas, _ = exact_measures(res, level, n_jobs=n_jobs, show_progress=show_progress,
                                 method=method, **refit_kwargs)
    if types:
        lev = _leverage(res, level)
        for t in types:
            meas[f"leverage.{t}"] = lev[t].reindex(meas.index).to_numpy()
    return meas


def _measure(res, name: str, level, approx: bool, include_attr: bool, kwargs: dict):
    if approx:
        meas, beta = onestep(res, level)
    else:
        meas, beta = exact_measures(res, level, **kwargs)
    s = meas[name]
    if include_attr:
        return pd.concat([s, beta], axis=1)
    return s


def cooks_distance(res, level=1, approx: bool = True, include_attr: bool = False,
                   **refit_kwargs):
    """Cook's distance per unit: HLMdiag's one-step (``approx=True``) or case-deletion.

    ``include_attr=True`` adds the change of each coefficient (β̂ − β̂₍ᵤ₎), as
    HLMdiag's ``include.attr``.  ``refit_kwargs`` go to :func:`exact_measures`.
    """
    return _measure(res, "cooksd", level, approx, include_attr, refit_kwargs)


def mdffits(res, level=1, approx: bool = True, include_attr: bool = False, **refit_kwargs):
    """MDFFITS per unit (one-step or case-deletion; see :func:`cooks_distance`)."""
    return _measure(res, "mdffits", level, approx, include_attr, refit_kwargs)


def covtrace(res, level=1, approx: bool = True, **refit_kwargs) -> pd.Series:
    """COVTRACE per unit (one-step or case-deletion)."""
    return _measure(res, "covtrace", level, approx, False, refit_kwargs)


def covratio(res, level=1, approx: bool = True, **refit_kwargs) -> pd.Series:
    """COVRATIO per unit (one-step or case-deletion)."""
    return _measure(res, "covratio", level, approx, False, refit_kwargs)


def rvc(res, level=1, **refit_kwargs) -> pd.DataFrame:
    """Relative variance change per unit and variance component (always refits)."""
    meas, _ = exact_measures(res, level, **refit_kwargs)
    out = meas[[c for c in meas.columns if c.startswith("rvc.")]]
    out.columns = [c[4:] for c in out.columns]
    return out


def _model_rows(res, data) -> pd.DataFrame:
    """The rows of ``data`` the model used, in the model's order, checked against the fit.

    Rows are found by label (a unique index holding the model's row labels), else by
    position (data as long as the fitted data), else ``data`` is taken as the model's rows
    (as long as the observations used).  Either way the response, fixed-effects matrix and
    grouping levels rebuilt from those rows must equal the model's, so diagnostics cannot
    be attached to the wrong rows.
    """
    des = res._design
    if data is res._data:
        return data.iloc[des.row_positions]
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if data.index.is_unique and des.row_labels.isin(data.index).all():
        frame = data.loc[des.row_labels]
    elif len(data) == des.n_input_rows:
        frame = data.iloc[des.row_positions]
    elif len(data) == res.nobs:
        frame = data
    else:
        raise DataError(f"cannot match the model's {res.nobs} rows to `data` ({len(data)} rows): "
                        "give the data the model was fitted to, with its index")
    _check_same_rows(res, frame)
    return frame


def _check_same_rows(res, frame: pd.DataFrame) -> None:
    """DataError unless ``frame``'s response, X and grouping levels are the model's."""
    des = res._design
    spec = des.spec
    try:
        nd = spec.materialize(frame)
        yv = Evaluator(frame, params=spec.scale_params).value(spec.formula.response)
    except InterlaceError as e:
        raise DataError(f"`data` does not hold the variables the model was fitted to: {e}"
                        ) from None
    y = np.asarray(getattr(yv, "values", yv), dtype=float)
    same = (y == des.y) & np.all(nd.X == des.X, axis=1)
    for (codes, _), term in zip(nd.re, des.re_terms, strict=True):
        same &= codes == term.codes
    if not same.all():
        bad = np.flatnonzero(~same)
        raise DataError(
            f"`data` does not hold the rows the model was fitted to: the response, "
            f"predictors or grouping levels differ in {bad.size} row(s), first at row "
            f"{frame.index[bad[0]]!r}; give the data the model was fitted to (any row order, "
            "with its index)")


def hlm_augment(res, data=None, level=1, include_ls: bool = True, approx: bool = True,
                leverage: str | Sequence[str] = ("overall",), **influence_kwargs):
    """HLMdiag's ``hlm_augment``: residuals and influence measures joined to the data.

    Parameters
    ----------
    res : CrossedLMEResult
    data : pandas.DataFrame, optional
        The data the model was fitted to (default: the fit's own data); level 1 only.
    level : 1 or str
        1: one row per observation used (the data's rows and index); a grouping
        factor's name: one row per level (group-level residuals and influence).
    include_ls : bool
        Include LS residuals (:func:`~interlace.diagnostics.residuals.hlm_resid`).
    approx, leverage, **influence_kwargs
        Passed to :func:`hlm_influence`.

    Returns
    -------
    pandas.DataFrame
        The residual columns of ``hlm_resid`` (``.resid``, ``.fitted``, ``.ls.resid``,
        ``.ls.fitted``, ``.mar.resid``, ``.mar.fitted``; group level ``.ranef.*``,
        ``.ls.*``) then ``.cooksd``, ``.mdffits``, ``.covtrace``, ``.covratio``,
        [``.rvc.*``], ``.leverage`` (overall) and ``.leverage.<type>`` for other types.
        HLMdiag names the influence columns without the leading dot and the overall
        leverage ``leverage.overall``.
    """
    resid = hlm_resid(res, level, include_ls=include_ls)
    infl = hlm_influence(res, level, approx=approx, leverage=leverage, **influence_kwargs)
    ren = {c: "." + c for c in infl.columns}
    ren["leverage.overall"] = ".leverage"
    infl = infl.rename(columns=ren)
    if str(level) != "1":
        return resid.join(infl)
    frame = _model_rows(res, res._data if data is None else data)
    out = frame.copy()
    for c in resid.columns:
        out[c] = resid[c].to_numpy()
    for c in infl.columns:
        out[c] = infl[c].to_numpy()
    return out
