"""HLMdiag's residuals: conditional (EB), marginal, least-squares (LS), group level.

Source: HLMdiag 0.5.1.9000 (commit 6f1ee6d): ``R/hlm_resid.R`` (``hlm_resid.lmerMod``),
``R/LSresids.R`` (``LSresids.lmerMod``), ``R/residual_functions.R``
(``resid_marginal.lmerMod``, ``resid_conditional.lmerMod``) and ``R/pull_resid.R``.
Notation of :mod:`interlace.diagnostics.matrices` (V = σ²(I + ZΛΛᵀZᵀ), P, β̂ the
fit's fixed effects, b̂ its BLUPs); y is the response minus any offset.

Observation level (``level=1``), one row per observation, keyed by row label:

* ``.resid`` = y − Xβ̂ − Zb̂ (lme4's ``resid``), ``.fitted`` = Xβ̂ + Zb̂;
  standardized (``standardize=True``): ``.std.resid`` = ``.resid`` / σ̂.
* ``.mar.resid`` = y − Xβ̂, ``.mar.fitted`` = Xβ̂; standardized:
  ``.chol.mar.resid`` = C⁻¹(y − Xβ̂) with V = C Cᵀ the (lower) Cholesky factor
  (Houseman, Ryan & Coull 2004).
* LS residuals (``include_ls``): a separate OLS fit per level of the *first* grouping
  factor (lme4's ``flist[1]``) of y on the columns of X, without X's first column
  (HLMdiag assumes it is the intercept and lets ``lm`` add one) and without the columns
  constant within that level.  ``.ls.resid``, ``.ls.fitted``; ``standardize=True``:
  ``.std.ls.resid`` = R's ``rstandard``, rᵢ / (s √(1 − hᵢ)), s² = RSS / (nₖ − rank);
  ``standardize="semi"``: ``.semi.ls.resid`` = rᵢ / √(1 − hᵢ).  As R's ``lm`` /
  ``lm.influence``: columns are aliased by R's limited pivoting (a column whose
  residual norm after the previous kept columns is below 1e-7 of its own norm),
  leverages above 1 − 10ε are set to 1, residuals below 100ε·median|r| are taken as 0
  in ``rstandard``, and infinite results become NaN (HLMdiag's NA).  A group fitted
  perfectly (all |rᵢ| ≤ 1e-10 of its fitted values, e.g. two equal responses) has
  ``.std.ls.resid`` NaN (0 / 0); R returns NaN there when its residuals are exactly 0
  and rounding noise (±1) when they are ~1e-14.

Group level (``level="<factor>"``), one row per level, keyed by level label:

* EB: ``.ranef.<name>`` = b̂ (lme4's ``ranef``); ``standardize=True``:
  ``.std.ranef.<name>`` = b̂ / its conditional SD (``ranef(condVar=TRUE)``).
* LS (``include_ls``): for the highest (last) grouping factor, OLS coefficients of y on
  X within each level (lme4's ``lmList``) minus their mean over the levels
  (``ranef.lmList4``); ``standardize=True`` divides each column by its SD over the
  levels.  For an inner factor, the centring (and SD) is within each level of the next
  factor of ``flist`` (HLMdiag's "middle level").  Columns: the random-effect terms'
  names that are also fixed-effect columns.  (HLMdiag refuses crossed models; here an
  inner factor not nested in the next one is centred over all its levels, and the
  level-1 LS fits use the first factor, as for nested models.)  ``<name>`` is
  HLMdiag's ``.clean_names`` of the term name (``(Intercept)`` → ``intercept``,
  ``SexFemale`` → ``sex_female``).

Besides those tables HLMdiag offers ``resid_marginal(type)`` and
``resid_conditional(type)`` with ``type`` in raw, pearson, studentized, cholesky:

* marginal: raw r = y − Xβ̂; pearson r / √Vᵢᵢ; studentized r / √(V − X(XᵀV⁻¹X)⁻¹Xᵀ)ᵢᵢ;
  cholesky C⁻¹r.
* conditional: raw ε̂ = ``.resid``; pearson and cholesky ε̂ / σ̂ (R = σ²I);
  studentized ε̂ / √(σ⁴ Pᵢᵢ) (the diagonal of R P R).

Known HLMdiag defects not reproduced (the values here are keyed, so they cannot
shift): ``hlm_resid`` binds the LS columns sorted by numeric row name next to columns in
model-frame order (misaligned when the two orders differ); its group-level LS part stops
when ``lmList`` fails in every group (e.g. a fixed-effect factor constant within groups:
we then give the OLS coefficients with aliased columns dropped) or, with
``standardize=True``, when there is a single effect (lme4's ``diag(1/sd)`` on a
scalar); HLMdiag applies no offset.  Prior weights are ignored, as in HLMdiag.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy.linalg import solve_triangular

from interlace.diagnostics.matrices import group_codes, hlm_matrices
from interlace.errors import InterlaceError, RankDeficiencyWarning, warn
from interlace.linalg.threads import with_serial_blas

__all__ = ["clean_name", "hlm_resid", "ls_residuals", "resid_conditional", "resid_marginal"]

RESID_TYPES = ("raw", "pearson", "studentized", "cholesky")
_EPS = np.finfo(float).eps
#: LS residuals all below this fraction of the fitted values: a perfect fit
_ZERO_FIT = 1e-10


def clean_name(name: str) -> str:
    """HLMdiag's ``.clean_names`` for one name (snake case, alphanumerics only)."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s).lower()
    s = re.sub(r"[^0-9a-z]+", "_", s)
    return s.strip("_")


def _response(res) -> np.ndarray:
    des = res._design
    return des.y if des.offset is None else des.y - des.offset


# -- OLS the way R's lm does it -------------------------------------------------------------
def _ols(X: np.ndarray, y: np.ndarray, tol: float = 1e-7):
    """lm(y ~ X - 1): (coef with NaN for aliased columns, fitted, resid, hat, rank)."""
    n, k = X.shape
    Q = np.zeros((n, 0))
    keep = []
    for j in range(k):
        col = X[:, j]
        norm0 = np.linalg.norm(col)
        r = col - Q @ (Q.T @ col)
        r = r - Q @ (Q.T @ r)
        nr = np.linalg.norm(r)
        if norm0 > 0 and nr > tol * norm0:
            Q = np.column_stack([Q, r / nr])
            keep.append(j)
    fitted = Q @ (Q.T @ y)
    resid = y - fitted
    hat = np.einsum("ij,ij->i", Q, Q)
    coef = np.full(k, np.nan)
    if keep:
        Xk = X[:, keep]
        coef[keep] = np.linalg.lstsq(Xk, y, rcond=None)[0]
    return coef, fitted, resid, hat, len(keep)


def _std_ls(resid: np.ndarray, fitted: np.ndarray, hat: np.ndarray, rank: int,
            kind) -> np.ndarray:
    """R's rstandard (kind True) or HLMdiag's semi-standardized LS residuals."""
    h = np.where(hat > 1 - 10 * _EPS, 1.0, hat)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "semi":
            out = resid / np.sqrt(1 - h)
        else:
            e = resid.copy()
            med = np.median(np.abs(e)) if e.size else 0.0
            e[np.abs(e) < 100 * _EPS * med] = 0.0
            sd = np.sqrt(np.sum(resid**2) / (len(resid) - rank))
            out = e / (np.sqrt(1 - h) * sd)
            if np.all(np.abs(resid) <= _ZERO_FIT * max(1.0, np.max(np.abs(fitted)))):
                out = np.full_like(resid, np.nan)  # a perfect fit: 0 / 0
    out = np.asarray(out, dtype=float)
    out[~np.isfinite(out)] = np.nan
    return out


def _flist(res) -> list[str]:
    """lme4's ``flist`` names: the distinct grouping factors in term order."""
    out: list[str] = []
    for t in res._design.re_terms:
        if t.group not in out:
            out.append(t.group)
    return out


def ls_residuals(res, standardize=False) -> pd.DataFrame:
    """HLMdiag's ``LSresids(model, level = 1, standardize)``, keyed by row label.

    Columns: ``.ls.resid`` (or ``.std.ls.resid`` / ``.semi.ls.resid``) and ``.ls.fitted``.
    """
    if standardize not in (False, True, "semi"):
        raise InterlaceError("standardize must be False, True or 'semi'")
    X, y = res._design.X, _response(res)
    codes, _ = group_codes(res, _flist(res)[0])
    n = len(y)
    Xr = X[:, 1:]
    fitted, resid, std = np.empty(n), np.empty(n), np.empty(n)
    ranks = {}
    for g in np.unique(codes):
        rows = np.flatnonzero(codes == g)
        Xg = Xr[rows]
        varying = ~np.all(Xg == Xg[:1], axis=0)
        D = np.column_stack([np.ones(len(rows)), Xg[:, varying]])
        _, f, r, h, rank = _ols(D, y[rows])
        fitted[rows], resid[rows] = f, r
        ranks[g] = rank
        if standardize is not False:
            std[rows] = _std_ls(r, f, h, rank, standardize)
    if len(set(ranks.values())) > 1:
        warn("LS residuals might be inaccurate as one or more groups are rank "
                      "deficient (HLMdiag's warning)", RankDeficiencyWarning)
    name = {False: ".ls.resid", True: ".std.ls.resid", "semi": ".semi.ls.resid"}[standardize]
    vals = resid if standardize is False else std
    return pd.DataFrame({name: vals, ".ls.fitted": fitted}, index=res._design.row_labels)


# -- marginal / conditional residuals --------------------------------------------------------
def resid_marginal(res, type: str = "raw") -> pd.Series:  # noqa: A002 (HLMdiag's name)
    """HLMdiag's ``resid_marginal``: raw, pearson, studentized or cholesky (see module)."""
    if type not in RESID_TYPES:
        raise InterlaceError(f"type must be one of {RESID_TYPES}, not {type!r}")
    m = hlm_matrices(res)
    r = _response(res) - res._design.X @ res.fe_params.to_numpy()
    if type == "pearson":
        r = r / np.sqrt(m.sigma2 * (1.0 + m.zdz_diag))
    elif type == "studentized":
        xbx = np.einsum("ij,jk,ik->i", m.X, m.XVXinv, m.X)
        r = r / np.sqrt(m.sigma2 * (1.0 + m.zdz_diag) - xbx)
    elif type == "cholesky":
        r = solve_triangular(m.chol_V, r, lower=True)
    return pd.Series(r, index=m.labels, name=f"marginal.{type}")


def resid_conditional(res, type: str = "raw") -> pd.Series:  # noqa: A002 (HLMdiag's name)
    """HLMdiag's ``resid_conditional``: raw, pearson, studentized or cholesky."""
    if type not in RESID_TYPES:
        raise InterlaceError(f"type must be one of {RESID_TYPES}, not {type!r}")
    r = np.asarray(res.resid, dtype=float)
    if type in ("pearson", "cholesky"):
        r = r / res.sigma
    elif type == "studentized":
        m = hlm_matrices(res)
        r = r / np.sqrt(m.sigma2**2 * m.P_diag)
    return pd.Series(r, index=res._design.row_labels, name=f"conditional.{type}")


# -- group level ------------------------------------------------------------------------------
def _group_ls(res, group: str, standardize: bool) -> pd.DataFrame:
    """LS group-level residuals of ``group`` (columns: ranef names in X)."""
    flist = _flist(res)
    codes, labels = group_codes(res, group)
    terms = [t for t in res._design.re_terms if t.group == group]
    names = [c for t in terms for c in t.col_names]
    x_names = list(res._design.x_names)
    cols = [c for c in dict.fromkeys(names) if c in x_names]
    if len(cols) < len(dict.fromkeys(names)):
        warn("The model contains a random effect term for variables with no fixed "
                      "effect term; some LS group level residuals cannot be calculated "
                      "(HLMdiag's warning)", UserWarning)
    idx = [x_names.index(c) for c in cols]
    X, y = res._design.X, _response(res)
    present = np.unique(codes)
    coefs = np.full((len(labels), len(cols)), np.nan)
    for g in present:
        rows = np.flatnonzero(codes == g)
        coefs[g] = _ols(X[rows], y[rows])[0][idx]
    k = flist.index(group)
    outer = np.zeros(len(labels), dtype=int)
    if k < len(flist) - 1:
        hcodes, _ = group_codes(res, flist[k + 1])
        pairs = np.unique(np.column_stack([codes, hcodes]), axis=0)
        if len(pairs) == len(np.unique(codes)):  # nested in the next factor
            outer[pairs[:, 0]] = pairs[:, 1]
    out = np.full_like(coefs, np.nan)
    for h in np.unique(outer[present]):
        sel = present[outer[present] == h]
        block = coefs[sel] - np.nanmean(coefs[sel], axis=0)
        if standardize:
            block = block / np.nanstd(block, axis=0, ddof=1)
        out[sel] = block
    frame = pd.DataFrame(out[present], index=pd.Index([labels[g] for g in present], name=group),
                         columns=cols)
    return frame


def _group_resid(res, group: str, standardize, include_ls: bool) -> pd.DataFrame:
    codes, labels = group_codes(res, group)
    eb = res.random_effects[group]
    eb = eb.to_frame() if isinstance(eb, pd.Series) else eb
    std = standardize is True
    if std:
        se = res.random_effects_se[group]
        eb = eb / (se.to_frame() if isinstance(se, pd.Series) else se)
    prefix = ".std." if std else "."
    present = pd.Index([labels[g] for g in np.unique(codes)], name=group)
    out = eb.loc[present].copy()
    out.index = present
    out.columns = [f"{prefix}ranef.{clean_name(c)}" for c in eb.columns]
    if include_ls:
        ls = _group_ls(res, group, std)
        ls.columns = [f"{prefix}ls.{clean_name(c)}" for c in ls.columns]
        out = out.join(ls)
    return out


# -- the table -----------------------------------------------------------------------------
@with_serial_blas
def hlm_resid(res, level=1, type: str | None = None,  # noqa: A002 (HLMdiag's name)
              standardize=False, include_ls: bool = True):
    """HLMdiag's ``hlm_resid`` (table) or ``pull_resid`` (one type).

    Parameters
    ----------
    res : CrossedLMEResult
    level : 1 or str
        1: observation-level residuals (index: row labels); a grouping factor's name:
        group-level residuals (index: level labels).
    type : {None, "eb", "ls", "marginal"}
        None returns the whole table; otherwise one Series as HLMdiag's ``pull_resid``
        (level 1 only): the EB (conditional), LS or marginal residuals.
    standardize : {False, True, "semi"}
        See the module docstring; ``"semi"`` affects only the level-1 LS residuals.
    include_ls : bool
        Include the least-squares residuals (a fit per group).

    Returns
    -------
    pandas.DataFrame or pandas.Series
        Columns named as HLMdiag names them (see the module docstring).  HLMdiag also
        prepends the model frame (level 1) or level-2 variables (group level); use
        :func:`interlace.diagnostics.hlm.hlm_augment` to join residuals to the data.
    """
    if standardize not in (False, True, "semi"):
        raise InterlaceError("standardize must be False, True or 'semi'")
    if str(level) != "1":
        if type is not None:
            raise InterlaceError("type selects a level-1 residual (HLMdiag's pull_resid)")
        return _group_resid(res, str(level), standardize, include_ls)
    std = standardize is True
    labels = res._design.row_labels
    eb_name = ".std.resid" if std else ".resid"
    eb = np.asarray(res.resid, dtype=float) / (res.sigma if std else 1.0)
    mar_name = ".chol.mar.resid" if std else ".mar.resid"
    mar = resid_marginal(res, "cholesky" if std else "raw").to_numpy()
    if type is not None:
        if type == "eb":
            return pd.Series(eb, index=labels, name=eb_name)
        if type == "marginal":
            return pd.Series(mar, index=labels, name=mar_name)
        if type == "ls":
            ls = ls_residuals(res, standardize)
            return ls.iloc[:, 0]
        raise InterlaceError(f"type must be None, 'eb', 'ls' or 'marginal', not {type!r}")
    offset = res._design.offset
    xb = res._design.X @ res.fe_params.to_numpy() + (0.0 if offset is None else offset)
    out = pd.DataFrame({eb_name: eb, ".fitted": np.asarray(res.fittedvalues, dtype=float)},
                       index=labels)
    if include_ls:  # by position: row labels may repeat (e.g. after pd.concat)
        ls = ls_residuals(res, standardize)
        for c in ls.columns:
            out[c] = ls[c].to_numpy()
    out[mar_name] = mar
    out[".mar.fitted"] = xb
    return out
