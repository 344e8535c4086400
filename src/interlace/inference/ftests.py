"""lmerTest 3.1-3's tests of linear contrasts of the fixed effects (Satterthwaite's method):
``contest(m, L, joint = TRUE | FALSE)``, ``contestMD`` and ``contest1D``.

For a contrast matrix L (rows l_m) and the fit's Satterthwaite ingredients
(:class:`~interlace.inference.satterthwaite.SatterthwaiteFit`: V = vcov(β̂), A = vcov of
the variance parameters, J_i = ∂V/∂varpar_i):

* **one row** (``contest1D``): estimate l′β̂ − rhs, SE √(l′Vl), df 2(l′Vl)² / (g′Ag) with
  g_i = l′J_i l, t, its two-sided p-value and the Wald interval;
* **several rows, jointly** (``contestMD``): with rhs ≠ 0, β̂ ← β̂ − L⁺rhs; the eigen
  decomposition of L V L′ (LAPACK's ``dsyevr``, as R's ``eigen``; eigenvalues in decreasing
  order) keeps the q eigenvalues above max(√ε·d₁, 0); with P′L's first q rows l̃_m,
  t²_m = (l̃_m′β̂)²/d_m, F = Σt²_m/q, ν_m = 2d_m²/(∇_m′A∇_m) with ∇_m,i = l̃_m′J_i l̃_m, and
  the denominator df from ``get_Fstat_ddf``: ν for one row, the mean when all ν agree to
  1e-8, 2 when some ν ≤ 2, else 2E/(E − q) with E = Σν_m/(ν_m − 2).  ``Sum Sq`` = F·σ²·q,
  ``Mean Sq`` = F·σ²; a rank-1 L goes through the one-row test with F = t².

The denominator df depends on the rows of L, not only their span (lmerTest's own
behaviour): give lmerTest's L to get lmerTest's numbers.

With ``ddf = "Kenward-Roger"`` (REML fits), a row's test uses the adjusted covariance Φ_A
(its SE is √(l′Φ_A l)) and pbkrtest's ``Lb_ddf``; the joint test is pbkrtest's
``KRmodcomp(m, L, betaH)`` with β_H = L⁺rhs, tabled as lmerTest does: ``Mean Sq`` = F·σ²
with F the unscaled statistic, ``F value`` = λF (:mod:`interlace.inference.kenward_roger`).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
from scipy import linalg, stats

from interlace.errors import InterlaceError, warn
from interlace.inference import kenward_roger as kr
from interlace.inference.satterthwaite import (
    NAN_ROW,
    Contest1D,
    SatterthwaiteFit,
    contest1d,
    t_test,
)

__all__ = ["contest", "contest_md", "fstat_ddf"]

F_COLUMNS = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
T_COLUMNS = ["Estimate", "Std. Error", "df", "t value", "lower", "upper", "Pr(>|t|)"]
DDF = ("Satterthwaite", "Kenward-Roger")


def fstat_ddf(nu: np.ndarray, tol: float = 1e-8) -> float:
    """lmerTest's ``get_Fstat_ddf``: the F statistic's denominator df from the ν of its
    t² components."""
    nu = np.asarray(nu, dtype=float)
    if nu.size == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2.0)))
    return 2.0 * E / (E - nu.size)


def contest_md(fit: SatterthwaiteFit, L, beta, sigma: float, rhs=0.0) -> dict:
    """lmerTest's ``contestMD`` (Satterthwaite): the joint F test of ``L β = rhs``."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    beta = np.asarray(beta, dtype=float)
    rhs = np.broadcast_to(np.asarray(rhs, dtype=float), (L.shape[0],))
    if np.any(rhs != 0):
        beta = beta - np.linalg.pinv(L) @ rhs
    if L.shape[0] == 1:
        return _one_row(fit, L[0], beta, sigma)
    VL = L @ fit.vcov_beta @ L.T
    d, P = linalg.eigh(VL, driver="evr")
    d, P = d[::-1], P[:, ::-1]  # R's eigen: decreasing
    tol = max(np.sqrt(np.finfo(float).eps) * d[0], 0.0)
    q = int(np.sum(d > tol))
    if q < L.shape[0] and np.any(rhs != 0):
        warn("Contrast is rank deficient and test may be affected")
    PtL = (P.T @ L)[:q]
    if q == 1:
        return _one_row(fit, PtL[0], beta, sigma)
    t2 = (PtL @ beta) ** 2 / d[:q]
    F = float(np.sum(t2) / q)
    grads = np.einsum("mi,kij,mj->mk", PtL, fit.jac, PtL)
    nu = 2.0 * d[:q] ** 2 / np.einsum("mk,kl,ml->m", grads, fit.vcov_varpar, grads)
    ddf = fstat_ddf(nu)
    return _f_row(F, q, ddf, sigma)


def _one_row(fit: SatterthwaiteFit, l, beta, sigma: float) -> dict:
    c = contest1d(fit, l, beta)
    return _f_row(c.t**2, 1, c.df, sigma)


def _f_row(F: float, q: int, ddf: float, sigma: float, scale: float = 1.0) -> dict:
    ms = F * sigma**2
    F = F * scale
    return {"Sum Sq": ms * q, "Mean Sq": ms, "NumDF": float(q), "DenDF": ddf, "F value": F,
            "Pr(>F)": float(stats.f.sf(F, q, ddf))}


def kr_contest_md(fit: kr.KRFit, L, beta, sigma: float, rhs=0.0) -> dict:
    """lmerTest's ``contestMD(ddf = "Kenward-Roger")``: pbkrtest's ``KRmodcomp(m, L,
    betaH)`` with β_H = L⁺rhs (0 when every rhs is 0), as lmerTest tables it."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    rhs = np.broadcast_to(np.asarray(rhs, dtype=float), (L.shape[0],))
    full = kr.force_full_rank(L)
    if full.shape[0] < L.shape[0] and np.any(rhs != 0):
        warn("Contrast is rank deficient and test may be affected")
    beta_h = np.linalg.pinv(L) @ rhs if np.any(rhs != 0) else 0.0
    test = kr.kr_adjust(fit, full, beta, beta_h)
    return _f_row(test["statU"], test["ndf"], test["ddf"], sigma, test["F.scaling"])


def kr_contest1d(fit: kr.KRFit, l, beta, rhs: float = 0.0, level: float = 0.95) -> Contest1D:
    """lmerTest's ``contest1D(ddf = "Kenward-Roger")``: SE √(l′Φ_A l), df ``Lb_ddf(l)``."""
    l = np.asarray(l, dtype=float).ravel()
    if np.isnan(l).any():
        return NAN_ROW
    return t_test(float(l @ np.asarray(beta, dtype=float)),
                  float(np.sqrt(l @ fit.vcov_adj @ l)), kr.lb_ddf(fit, l), rhs, level)


def method_tests(res, ddf: str):
    """lmerTest's joint F test and one-row t test of method ``ddf`` ("Satterthwaite" or
    "Kenward-Roger"), bound to the fit's ingredients: (F(L, beta, sigma, rhs=0),
    t(l, beta, rhs=0, level=0.95))."""
    if ddf == "Kenward-Roger":
        return partial(kr_contest_md, res.kenward_roger), partial(kr_contest1d,
                                                                  res.kenward_roger)
    return partial(contest_md, res.satterthwaite), partial(contest1d, res.satterthwaite)


def contest(res, L, ddf: str = "Satterthwaite", joint: bool = True, rhs=0.0,
            level: float = 0.95, check_estimability: bool = False) -> pd.DataFrame:
    """lmerTest's ``contest(m, L, rhs, joint, ddf)`` for an LMM fit.

    Parameters
    ----------
    res : CrossedLMEResult
    L : array_like (p,) or (m, p), or a DataFrame with the coefficients as columns
        Contrast rows (a DataFrame's columns are matched to the coefficients by name).
    ddf : {"Satterthwaite", "Kenward-Roger"}
        lmerTest's methods (Kenward–Roger for REML fits only, as lmerTest).
    joint : bool
        True: one F test of all rows (``contestMD``); False: a t test per row
        (``contest1D``).
    rhs : float or array_like
        The hypothesised values of L β.
    level : float
        Confidence level of the per-row intervals.
    check_estimability : bool
        With ``joint=False``, as lmerTest: L is written in every column of the model matrix
        (aliased columns too), a row not estimable (lmerTest's ``is_estimable`` on the null
        space of that matrix) gives an all-NaN row, and the aliased columns are dropped.

    Returns
    -------
    DataFrame
        joint: one row with ``Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F)``; otherwise a
        row per contrast with ``Estimate, Std. Error, df, t value, lower, upper,
        Pr(>|t|)``.
    """
    if ddf not in DDF:
        raise InterlaceError(f"'arg' should be one of \"Satterthwaite\", \"Kenward-Roger\" "
                             f"(got {ddf!r})")
    if not hasattr(res, "satterthwaite"):
        raise InterlaceError("contest() needs a linear mixed model fit (interlace.fit)")
    names = list(res.fe_params.index)
    estimable = keep = None
    if check_estimability and not joint:
        from interlace.design.fixed_terms import fixed_terms
        from interlace.inference.lmertest_contrasts import is_estimable, nullspace

        ft = fixed_terms(res._design, res._data)
        X_full, all_names = ft.full_matrix()
        keep = ft.keep
        names = list(all_names)
    index = None
    if isinstance(L, pd.DataFrame | pd.Series):
        frame = L.to_frame().T if isinstance(L, pd.Series) else L
        missing = [c for c in frame.columns if c not in names]
        if missing:
            raise InterlaceError(f"contrast columns {missing} are not coefficients {names}")
        index = list(frame.index)
        L = frame.reindex(columns=names, fill_value=0.0).to_numpy(dtype=float)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    if L.shape[1] != len(names):
        what = "model-matrix columns" if keep is not None else "coefficients"
        raise InterlaceError(f"contrast has {L.shape[1]} columns but the model has "
                             f"{len(names)} {what} ({', '.join(names)})")
    if keep is not None:
        estimable = is_estimable(np.nan_to_num(L), nullspace(X_full))
        L = np.where(estimable[:, None], L, np.nan)[:, keep]
    if L.shape[0] == 0:
        raise InterlaceError("the contrast matrix L has no rows")
    if not 0.0 < level < 1.0:
        raise InterlaceError(f"level must be strictly between 0 and 1, got {level!r}")
    beta = res.fe_params.to_numpy()
    f_test, t_row = method_tests(res, ddf)
    if joint:
        if not np.all(np.isfinite(L)):
            raise InterlaceError("a joint test needs finite contrasts; L has NaN or Inf "
                                 "(joint=False gives an all-NA row for such a contrast, as "
                                 "lmerTest's contest1D)")
        row = f_test(L, beta, res.sigma, rhs)
        return pd.DataFrame([row], columns=F_COLUMNS)
    rhs = np.broadcast_to(np.asarray(rhs, dtype=float), (L.shape[0],))
    rows = []
    for l_row, r in zip(L, rhs, strict=True):
        c = t_row(l_row, beta, rhs=float(r), level=level)
        rows.append([c.estimate, c.se, c.df, c.t, c.lower, c.upper, c.p_value])
    return pd.DataFrame(rows, columns=T_COLUMNS, index=index)


_TYPE_NAMES = {"1": "Type I", "2": "Type II", "3": "Type III", "2b": "Type IIb",
               "marginal": "Marginal", "yates": "Yates"}
LME4_COLUMNS = ["npar", "Sum Sq", "Mean Sq", "F value"]


def single_anova(res, type: str | int = 3, ddf: str = "Satterthwaite") -> pd.DataFrame:
    """lmerTest's ``anova(m, type, ddf)`` of one LMM fit: an F test per fixed term.

    ``type`` 1, 2 or 3 ("I", "II", "III") chooses lmerTest's hypothesis matrices
    (:mod:`interlace.inference.lmertest_contrasts`), each tested by :func:`contest_md`
    (Satterthwaite) or KR's (``"Kenward-Roger"``); terms whose matrix has no rows get an
    all-NaN row at the end, as lmerTest.  ``ddf="lme4"`` gives lme4's own table (sequential
    sums of squares from R_X β̂, ``npar``, ``Sum Sq``, ``Mean Sq``, ``F value``; ``type`` is
    ignored, as lmerTest ignores it).  ``attrs["heading"]`` is lmerTest's heading and
    ``attrs["hypotheses"]`` the matrices (columns named by coefficient).
    """
    from interlace.design.fixed_terms import fixed_terms
    from interlace.inference.lmertest_contrasts import TYPES, hypotheses

    if ddf == "lme4":
        return _lme4_anova(res)
    if ddf not in DDF:
        raise InterlaceError(f"ddf must be 'Satterthwaite', 'Kenward-Roger' or 'lme4', not "
                             f"{ddf!r}")
    if str(type) not in TYPES:
        raise InterlaceError(f"type must be 1, 2 or 3 (or 'I', 'II', 'III'; lmerTest's "
                             f"'2b', 'marginal', 'yates'), not {type!r}")
    ft = fixed_terms(res._design, res._data)
    if TYPES[str(type)] == "yates":
        from interlace.inference.ls_means import yates_hypotheses

        hyps = yates_hypotheses(res)
    else:
        hyps = hypotheses(ft, type)
    beta = res.fe_params.to_numpy()
    f_test = method_tests(res, ddf)[0]
    rows, index = [], []
    for lab, L in hyps.items():
        if L.shape[0]:
            rows.append(f_test(L, beta, res.sigma))
            index.append(lab)
    for lab in ft.labels:
        if lab in hyps and not hyps[lab].shape[0]:
            rows.append(dict.fromkeys(F_COLUMNS, np.nan))
            index.append(lab)
    table = pd.DataFrame(rows, columns=F_COLUMNS, index=pd.Index(index, dtype=object))
    key = TYPES.get(str(type), str(type))
    method = "Satterthwaite's" if ddf == "Satterthwaite" else "Kenward-Roger's"
    table.attrs["heading"] = f"{_TYPE_NAMES[key]} Analysis of Variance Table with {method} method"
    names = list(res.fe_params.index)
    table.attrs["hypotheses"] = {lab: pd.DataFrame(L + 0.0, columns=names)  # no -0.0
                                 for lab, L in hyps.items()}
    return table


def _lme4_anova(res) -> pd.DataFrame:
    """lme4's ``anova(m)`` of one model (``anova.merMod``'s single-model branch)."""
    from interlace.design.fixed_terms import fixed_terms

    ft = fixed_terms(res._design, res._data)
    ss = (res._state.RX @ res.fe_params.to_numpy()) ** 2
    index, rows = [], []
    for j in np.unique(ft.assign):
        cols = ft.assign == j
        if j == 0 and ft.intercept:
            continue
        s = float(ss[cols].sum())
        k = int(cols.sum())
        index.append(ft.labels[j - 1])
        rows.append([float(k), s, s / k, s / k / res.sigma**2])
    table = pd.DataFrame(rows, columns=LME4_COLUMNS, index=pd.Index(index, dtype=object))
    table.attrs["heading"] = "Analysis of Variance Table"
    return table
