"""Exact case deletion: refit a linear mixed model without each observation or group.

A deletion set D (one observation, or every observation of one level of a grouping
factor) changes only the model's cross-products (notation of
:mod:`interlace.deviance.lmm`; Bates, Mächler, Bolker & Walker 2015, JSS 67(1)):

    ZᵀZ − Z_DᵀZ_D,   Zᵀ[X y] − Z_Dᵀ[X y]_D,   [X y]ᵀ[X y] − [X y]_Dᵀ[X y]_D,

with rows scaled by √w, n − |D| observations and Σ log w over the remaining rows
(:mod:`interlace.diagnostics.downdate`).  Nothing else is rebuilt.  A level of a
grouping factor that loses all its rows keeps its columns of Z, now zero: its block
of ΛᵀZᵀZΛ + I is the identity, it adds nothing to log|L|² and its random effects are
zero, so the objective is exactly that of a fit to the subset data where the level no
longer exists (what lme4 does).

Two engines find each deleted fit's optimum:

* ``"newton"`` (default): all sets at once (:mod:`interlace.linalg.batched`),
  Newton steps with the finite-difference stencil of lme4's ``deriv12``, from the
  full fit's θ̂, to the optimum to about 1e-9 in θ (the objective's rounding noise).
  Sets whose optimum is on or near the boundary of θ, or where Newton is not safe
  (indefinite Hessian far from the optimum), go to ``"bobyqa"``; its result is then
  tightened (Newton when interior, a tight BOBYQA near a bound), never moving to a
  higher objective.
* ``"bobyqa"``: one set at a time with lme4's default optimizer (NLopt BOBYQA,
  ``nloptwrap`` settings), restart at the edge, boundary snap and convergence
  checks (:func:`interlace.optimize.optimize_theta`), started at θ̂ (``warm_start``)
  or at lme4's default start — the path lme4 itself takes.

Sets whose fixed-effects matrix loses rank are refitted from the subset data with
:func:`interlace.fit` (columns are dropped as lme4 drops them; their coefficients
are NaN).  Sets that lme4 would refuse (a grouping factor left with fewer than two
levels, or as many random effects as observations) are reported with NaN and the
reason in ``warnings``.
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from interlace.diagnostics.downdate import (
    DeletionProblem,
    group_sets,
    loses_rank,
    observation_sets,
    refusal,
    row_positions,
)
from interlace.errors import InterlaceError, ModelSpecError
from interlace.linalg import batched
from interlace.linalg.threads import with_serial_blas
from interlace.optimize import Control, optimize_theta
from interlace.optimize.checks import conv_messages_many
from interlace.parallel import imap, n_workers, progress_bar

__all__ = ["Deletions", "FitQuantities", "delete_refits", "delete_sets", "deletions_at",
           "group_sets", "observation_sets", "row_positions", "varcomp", "varcomp_table"]

@dataclass(frozen=True)
class FitQuantities:
    """β̂, vcov(β̂), σ², θ and HLMdiag's variance components of one fit."""

    fixef: pd.Series
    vcov: np.ndarray
    sigma2: float
    theta: pd.Series
    varcomp: pd.Series
    objective: float


@dataclass(frozen=True)
class Deletions:
    """Deleted-fit quantities, one row per deleted unit (see :func:`delete_refits`).

    Attributes
    ----------
    labels : pandas.Index
        Deleted units: observation row labels (R's row names) or group levels (str).
    level : str
        ``"1"`` or the grouping factor whose levels were deleted.
    fixef : DataFrame (units × coefficient names)
    vcov : ndarray (units × p × p)
        vcov(β̂) of each deleted fit (σ² (RXᵀRX)⁻¹, as lme4's ``vcov``).
    sigma2 : ndarray (units,)
        Residual variance of each deleted fit (lme4's ``sigma(m)^2``).
    theta : DataFrame (units × θ names, lme4's names and order)
    varcomp : DataFrame (units × HLMdiag ``varcomp.mer`` names)
        ``sigma2``, ``D11``, ``D21``, ``D22``, ...: lower triangle of the block-diagonal
        VarCorr matrix; entries exactly zero are dropped by ``varcomp.mer`` and are NaN
        here.
    objective : ndarray (units,)
        lme4's criterion at each deleted fit's optimum.
    converged : ndarray of bool
    warnings : list of list of str
        Per unit: lme4-style convergence messages, or why the unit has no refit.
    engine : ndarray of str
        Per unit: ``"newton"``, ``"bobyqa"``, ``"refit"`` (rank loss: refitted from
        the subset data) or ``"failed"``.
    n_evals : ndarray of int
        Objective evaluations per unit.
    method : str
        ``"REML"`` or ``"ML"``: the criterion of the refits.
    original : FitQuantities
        The full-data fit by the same method (a REML refit of an ML model when
        ``method="REML"``).
    """

    labels: pd.Index
    level: str
    fixef: pd.DataFrame
    vcov: np.ndarray
    sigma2: np.ndarray
    theta: pd.DataFrame
    varcomp: pd.DataFrame
    objective: np.ndarray
    converged: np.ndarray
    warnings: list[list[str]]
    engine: np.ndarray
    n_evals: np.ndarray
    method: str
    original: FitQuantities
    rows: list[np.ndarray] = field(repr=False, default_factory=list)

    def require_all(self) -> Deletions:
        """Raise lme4's error when a deleted fit was refused (lme4's ``influence()`` and
        HLMdiag's ``case_delete()`` stop on the first failing refit); else return self."""
        failed = np.flatnonzero(self.engine == "failed")
        if failed.size:
            what = "observation" if self.level == "1" else f"level of '{self.level}'"
            shown = ", ".join(repr(self.labels[u]) for u in failed[:5])
            more = f" and {failed.size - 5} more" if failed.size > 5 else ""
            raise ModelSpecError(
                f"{self.warnings[failed[0]][0]}: the model cannot be refitted without "
                f"{what} {shown}{more}")
        return self


# ---------------------------------------------------------------------------------------
def varcomp(templates: list[np.ndarray], sigma2: float) -> pd.Series:
    """HLMdiag's ``varcomp.mer``: σ² and the lower triangle of bdiag(VarCorr), zeros dropped.

    The block-diagonal matrix of the terms' covariances σ² T Tᵀ is taken as diagonal
    when every off-diagonal entry is below 1e-10 in absolute value (HLMdiag's
    ``isDiagonal``); then the names are ``D11``, ``D22``, ...; otherwise the lower
    triangle is taken column by column and named ``D<row><col>``.  Entries exactly
    zero are dropped, as HLMdiag does.
    """
    names, vals = varcomp_table([T[None] for T in templates], np.array([sigma2]))
    row = pd.Series(vals[0], index=names)
    return row[row.notna()]


def varcomp_table(templates: list[np.ndarray], sigma2: np.ndarray) -> tuple[list[str], np.ndarray]:
    """:func:`varcomp` for U fits at once: names (all candidates) and values (U, names).

    ``templates`` are per term (U, p, p); entries ``varcomp.mer`` drops are NaN.
    """
    U = len(sigma2)
    q = sum(T.shape[-1] for T in templates)
    V = np.zeros((U, q, q))
    off = 0
    for T in templates:
        k = T.shape[-1]
        V[:, off:off + k, off:off + k] = sigma2[:, None, None] * (T @ np.swapaxes(T, -1, -2))
        off += k
    jj, ii = np.triu_indices(q)  # column-major lower triangle: (i, j) with i >= j
    names = ["sigma2"] + [f"D{i + 1}{j + 1}" for i, j in zip(ii, jj, strict=True)]
    vals = np.column_stack([sigma2, V[:, ii, jj]])
    offd = V - np.einsum("uii->ui", V)[:, :, None] * np.eye(q)
    diagonal = np.all(np.abs(offd) < 1e-10, axis=(1, 2))
    vals[np.ix_(diagonal, np.concatenate([[False], ii != jj]))] = np.nan
    vals[vals == 0] = np.nan
    return names, vals


# -- engines -----------------------------------------------------------------------------------
def _newton_task(st: batched.Structure, bd: batched.BlockData, theta0: np.ndarray,
                 lower: np.ndarray):
    def fun(idx, pts):
        return batched.evaluate(st, bd if len(idx) == len(bd.n) else bd.take(idx), pts)

    if theta0.ndim == 1:
        theta0 = np.repeat(theta0[None], len(bd.n), axis=0)
    nr = batched.newton(fun, theta0, lower)
    ok = np.flatnonzero(nr.status == 0)
    q = batched.pls(st, bd.take(ok), nr.theta[ok]) if ok.size else None
    return nr, ok, q


def _newton_chunk(prob: DeletionProblem, theta0: np.ndarray, sets: list[np.ndarray]):
    """:func:`_newton_task` on the cross-products of ``sets`` (formed here, chunk by chunk)."""
    return _newton_task(prob.struct, prob.blocks(sets), theta0, prob.lower)


def _bobyqa_unit(prob: DeletionProblem, start: np.ndarray, control: Control, optimizer,
                 rows: np.ndarray) -> dict:
    return _bobyqa_task(prob, [rows], start, control, optimizer)[0]


def _bobyqa_task(prob: DeletionProblem, sets: list[np.ndarray], start: np.ndarray,
                 control: Control, optimizer="bobyqa"):
    out = []
    for rows in sets:
        dev = prob.deviance(rows, prob.blocks([rows]) if prob.batchable else None)
        method = "REML" if prob.reml else "ML"
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            theta, _, summ, checks = optimize_theta(dev, np.array(start, dtype=float),
                                                    prob.lower, prob.names, method=method,
                                                    control=control, optimizer=optimizer)
        s = dev.pls(theta)
        msgs = list(checks.messages)
        if not summ.converged:
            msgs.insert(0, f"optimizer {summ.optimizer}: {summ.message}")
        out.append(dict(theta=theta, objective=s.objective, beta=s.beta, RX=s.RX,
                        pwrss=s.pwrss, converged=bool(summ.converged), messages=msgs,
                        n_evals=dev.n_evals))
    return out


def _split(idx: np.ndarray, size: int) -> list[np.ndarray]:
    return [idx[i:i + size] for i in range(0, len(idx), max(1, size))]


def _refit_sets(prob: DeletionProblem, sets: list[np.ndarray], idx: np.ndarray, *, engine: str,
                newton_start: np.ndarray, start: np.ndarray, control: Control, n_jobs: int,
                progress, optimizer="bobyqa") -> dict[int, dict]:
    """Refit the sets ``idx``; return per set theta, objective, beta, vcov, sigma2, ..."""
    out: dict[int, dict] = {}
    todo = np.asarray(idx, dtype=int)
    p, reml = prob.p, prob.reml
    workers = n_workers(n_jobs)
    if engine == "newton" and prob.batchable and todo.size:
        size = prob.struct.sets_per_pass()
        if workers > 1:
            size = min(size, -(-todo.size // workers))
        chunks = _split(todo, size)
        # the problem (design, cross-products) is sent once per worker, a chunk's sets each
        results = imap(_newton_chunk, [[sets[i] for i in c] for c in chunks],
                       shared=(prob, newton_start), n_jobs=n_jobs)
        rest = []
        for c, (nr, ok, q) in zip(chunks, results, strict=True):
            for j, u in enumerate(c):
                if nr.status[j] != 0:
                    rest.append(u)
            msgs = conv_messages_many(nr.gradient[ok], nr.hessian[ok], q["objective"])
            for j_ok, j in enumerate(ok):
                u = int(c[j])
                out[u] = dict(theta=nr.theta[j], objective=float(q["objective"][j_ok]),
                              beta=q["beta"][j_ok], vcov=q["vcov"][j_ok],
                              sigma2=float(q["sigma2"][j_ok]), converged=True,
                              messages=msgs[j_ok], engine="newton",
                              n_evals=int(nr.n_evals[j]))
            if progress is not None:
                progress.update(len(ok))
        todo = np.array(rest, dtype=int)
    if not todo.size:
        return out
    results = imap(_bobyqa_unit, [sets[u] for u in todo],
                   shared=(prob, start, control, optimizer), n_jobs=n_jobs,
                   chunks_per_worker=4, progress=progress)
    for u, r in zip(todo, results, strict=True):
        n_u = prob.n - len(sets[u])
        sigma2 = r["pwrss"] / (n_u - p if reml else n_u)
        RXi = np.linalg.inv(r["RX"])
        out[int(u)] = dict(theta=r["theta"], objective=r["objective"], beta=r["beta"],
                           vcov=sigma2 * (RXi @ RXi.T), sigma2=sigma2,
                           converged=r["converged"], messages=r["messages"],
                           engine="bobyqa", n_evals=r["n_evals"])
    if engine == "newton" and prob.batchable:
        _polish(prob, sets, todo, out)
    return out


def _polish(prob: DeletionProblem, sets: list[np.ndarray], idx: np.ndarray, out: dict) -> None:
    """Tighten lme4's optimum: Newton where it is interior, a tight BOBYQA near a bound.

    Both start at the BOBYQA result and are kept only if they lower the objective, so a
    unit never moves to another optimum; a tight BOBYQA keeps lme4's boundary rules.
    """
    bounded = np.isfinite(prob.lower)
    th = np.array([out[int(u)]["theta"] for u in idx]).reshape(len(idx), -1)
    interior = np.all(~bounded | (th >= prob.lower + 1e-3), axis=1)
    inner = idx[interior]
    if inner.size:
        starts = np.array([out[int(u)]["theta"] for u in inner])
        nr, ok, q = _newton_task(prob.struct, prob.blocks([sets[u] for u in inner]), starts,
                                 prob.lower)
        msgs = conv_messages_many(nr.gradient[ok], nr.hessian[ok], q["objective"])
        for j_ok, j in enumerate(ok):
            u = int(inner[j])
            if q["objective"][j_ok] > out[u]["objective"] + 1e-10 * abs(out[u]["objective"]):
                continue
            out[u] = dict(theta=nr.theta[j], objective=float(q["objective"][j_ok]),
                          beta=q["beta"][j_ok], vcov=q["vcov"][j_ok],
                          sigma2=float(q["sigma2"][j_ok]), converged=True,
                          messages=msgs[j_ok], engine="bobyqa+newton",
                          n_evals=out[u]["n_evals"] + int(nr.n_evals[j]))
    tight = Control(calc_derivs=False,
                    opt_settings=dict(xtol_abs=1e-11, ftol_abs=1e-13, xtol_rel=0.0))
    for u in idx[~interior]:
        u = int(u)
        r = _bobyqa_task(prob, [sets[u]], out[u]["theta"], tight)[0]
        if r["objective"] >= out[u]["objective"]:
            continue
        n_u = prob.n - len(sets[u])
        sigma2 = r["pwrss"] / (n_u - prob.p if prob.reml else n_u)
        RXi = np.linalg.inv(r["RX"])
        out[u] = dict(out[u], theta=r["theta"], objective=r["objective"], beta=r["beta"],
                      vcov=sigma2 * (RXi @ RXi.T), sigma2=sigma2, engine="bobyqa+tight",
                      n_evals=out[u]["n_evals"] + r["n_evals"])


def subset_arguments(res, rows: np.ndarray) -> tuple[pd.DataFrame, dict]:
    """The fitted data without the model rows ``rows``, and the model's fitting keyword
    arguments with vector weights and offsets subset to match (for ``res._refit``)."""
    data = res._data
    keep = np.ones(len(data), dtype=bool)
    keep[row_positions(res)[rows]] = False
    kw = {k: v for k, v in res._fit_kwargs.items() if k not in ("groups", "random")}
    for key in ("weights", "offset"):
        v = kw.get(key)
        if v is not None and not isinstance(v, str):
            kw[key] = np.asarray(v)[keep]
    return data.iloc[np.flatnonzero(keep)], kw


def _subset_refit(res, rows: np.ndarray, method: str, start: np.ndarray | None,
                  optimizer="bobyqa") -> dict:
    """Refit from the data without ``rows`` with the model's own fitting function
    (:func:`interlace.fit`; rank-deficient X)."""
    data, kw = subset_arguments(res, rows)
    kw.update(method=method, optimizer=optimizer,
              control=Control(start=None if start is None else np.array(start)))
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        r = res._refit(res.formula, data, **kw)
    names = list(res.fe_params.index)
    beta = r.fe_params.reindex(names).to_numpy()
    vcov = pd.DataFrame(r.fe_cov, index=r.fe_params.index, columns=r.fe_params.index)
    vcov = vcov.reindex(index=names, columns=names).to_numpy()
    theta = pd.Series(r.theta, index=r.theta_names).reindex(res.theta_names).to_numpy()
    return dict(theta=theta, objective=r.objective, beta=beta, vcov=vcov, sigma2=r.scale,
                converged=r.converged, messages=[str(w.message) for w in caught],
                engine="refit", n_evals=r.optinfo.n_evals)


def _quantities(prob: DeletionProblem, r: dict, coef_names: list[str]) -> FitQuantities:
    th = np.asarray(r["theta"], dtype=float)
    vc = varcomp(prob.layout.templates(th), r["sigma2"])
    return FitQuantities(pd.Series(r["beta"], index=coef_names), np.asarray(r["vcov"]),
                         float(r["sigma2"]), pd.Series(th, index=prob.names), vc,
                         float(r["objective"]))


# -- public ----------------------------------------------------------------------------------
@with_serial_blas
def delete_refits(res, level: str | int = "1", *, method: str = "REML", warm_start: bool = True,
                  n_jobs: int = 1, show_progress: bool = False, control=None,
                  engine: str = "newton", optimizer=None) -> Deletions:
    """Refit the model without each observation (``level="1"``) or each level of a factor.

    Parameters
    ----------
    res : CrossedLMEResult
    level : "1" or str
        ``"1"`` (or 1) deletes single observations; a grouping factor's name (e.g.
        ``"Subject"``) deletes all observations of one of its levels at a time, levels
        in the factor's level order (HLMdiag's order).
    method : {"REML", "model"}
        ``"REML"``: refit by REML whatever the model's method, HLMdiag's convention;
        ``"model"``: keep the model's method (lme4's ``influence`` convention).
    warm_start : bool
        Start lme4's optimizer (engine ``"bobyqa"`` and the fallback of ``"newton"``) at
        the full-data optimum under the refit criterion (lme4's ``influence``) or, if
        False, at lme4's default start (HLMdiag's refits).
    n_jobs : int
        Parallel workers (joblib; -1 = all CPUs).
    show_progress : bool
        tqdm progress bar.
    control : dict or Control, optional
        lme4 control for the ``"bobyqa"`` refits (default: ``lmerControl()`` defaults).
    engine : {"newton", "bobyqa"}
        See the module docstring: both refit to the same optimum; "newton" does all
        sets at once to about 1e-9 in θ, "bobyqa" follows lme4's optimizer path.
    optimizer : str or callable, optional
        Refit every set one at a time with this optimizer (a name of
        :mod:`interlace.optimize`, a registered one, or a callable of its protocol)
        instead of the engines' own: implies ``engine="bobyqa"``'s one-at-a-time refits.

    Returns
    -------
    Deletions
    """
    lvl = str(level)
    if lvl == "1":
        labels, sets = observation_sets(res)
    else:
        labels, sets = group_sets(res, lvl, order="levels")
    return delete_sets(res, labels, sets, level=lvl, method=method, warm_start=warm_start,
                       n_jobs=n_jobs, show_progress=show_progress, control=control,
                       engine=engine, optimizer=optimizer)


def delete_sets(res, labels: pd.Index, sets: list[np.ndarray], *, level: str = "1",
                method: str = "REML", warm_start: bool = True, n_jobs: int = 1,
                show_progress: bool = False, control=None, engine: str = "newton",
                optimizer=None) -> Deletions:
    """:func:`delete_refits` for arbitrary deletion sets (positions of the model's rows)."""
    if method not in ("REML", "model"):
        raise InterlaceError(f"method must be 'REML' or 'model', not {method!r}")
    if engine not in ("newton", "bobyqa"):
        raise InterlaceError(f"engine must be 'newton' or 'bobyqa', not {engine!r}")
    if optimizer is not None:
        from interlace.optimize.backends import resolve

        resolve(optimizer)  # an unknown name or a non-callable is an error naming it
        engine = "bobyqa"
    opt = "bobyqa" if optimizer is None else optimizer
    crit = "REML" if method == "REML" else res.method
    prob = DeletionProblem(res, crit == "REML")
    ctl = Control.from_user(control)
    coef = list(res.fe_params.index)
    # the full-data fit under the refit criterion
    if crit == res.method:
        original = FitQuantities(res.fe_params.copy(), res.fe_cov.copy(), res.scale,
                                 res.theta_named.copy(),
                                 varcomp(res._layout.templates(res.theta), res.scale),
                                 res.objective)
    else:
        start0 = res.theta if warm_start else res._layout.start()
        r0 = _refit_sets(prob, [np.zeros(0, dtype=int)], np.array([0]), engine=engine,
                         newton_start=res.theta, start=start0, control=ctl, n_jobs=1,
                         progress=None, optimizer=opt)[0]
        original = _quantities(prob, r0, coef)
    theta_hat = original.theta.to_numpy()
    start = theta_hat if warm_start else res._layout.start()

    U = len(sets)
    results: dict[int, dict] = {}
    refusals = {u: msg for u in range(U) if (msg := refusal(prob, sets[u])) is not None}
    ok = np.array([u for u in range(U) if u not in refusals], dtype=int)
    deficient = ok[loses_rank(prob, [sets[u] for u in ok])] if ok.size else ok
    regular = np.setdiff1d(ok, deficient)
    with progress_bar(show_progress, U, f"deletion refits ({level})", unit="fit") as progress:
        results.update(_refit_sets(prob, sets, regular, engine=engine, newton_start=theta_hat,
                                   start=start, control=ctl, n_jobs=n_jobs,
                                   progress=progress, optimizer=opt))
        for u in deficient:
            results[int(u)] = _subset_refit(res, sets[u], crit, start, opt)
            if progress is not None:
                progress.update(1)
        if progress is not None:
            progress.update(len(refusals))

    p, k = len(coef), len(prob.names)
    fixef = np.full((U, p), np.nan)
    vcov = np.full((U, p, p), np.nan)
    sigma2, obj = np.full(U, np.nan), np.full(U, np.nan)
    theta = np.full((U, k), np.nan)
    conv = np.zeros(U, dtype=bool)
    eng = np.full(U, "failed", dtype=object)
    nev = np.zeros(U, dtype=int)
    msgs: list[list[str]] = [[] for _ in range(U)]
    for u in range(U):
        r = results.get(u)
        if r is None:
            msgs[u] = [refusals[u]]
            continue
        fixef[u], vcov[u], sigma2[u], obj[u] = r["beta"], r["vcov"], r["sigma2"], r["objective"]
        theta[u], conv[u], eng[u], nev[u] = r["theta"], r["converged"], r["engine"], r["n_evals"]
        msgs[u] = list(r["messages"])
    names, vals = varcomp_table(prob.struct.templates(np.nan_to_num(theta)), sigma2)
    vals[~np.all(np.isfinite(theta), axis=1)] = np.nan
    cols = list(original.varcomp.index)
    cols += [c for c, used in zip(names, np.any(np.isfinite(vals), axis=0), strict=True)
             if used and c not in cols]
    vc = pd.DataFrame(vals, index=labels, columns=names).reindex(columns=cols)
    return Deletions(
        labels=labels, level=level,
        fixef=pd.DataFrame(fixef, index=labels, columns=coef),
        vcov=vcov, sigma2=sigma2,
        theta=pd.DataFrame(theta, index=labels, columns=prob.names),
        varcomp=vc, objective=obj, converged=conv, warnings=msgs, engine=eng, n_evals=nev,
        method=crit, original=original, rows=list(sets))


@with_serial_blas
def deletions_at(res, theta, level: str | int = "1", *, method: str = "model",
                 labels: pd.Index | None = None, sets: list[np.ndarray] | None = None
                 ) -> Deletions:
    """Deleted-fit quantities at given θ per unit, without optimizing (e.g. at lme4's θ).

    ``theta`` is a DataFrame (units × θ names, indexed by unit label) or an array
    (units × θ) in the order of the units of ``level`` (or of ``labels``/``sets``).
    Everything else is as :func:`delete_refits` (``engine`` is ``"at_theta"``), except
    ``original``, which is the model's own fit.
    """
    if sets is None:
        lvl = str(level)
        labels, sets = observation_sets(res) if lvl == "1" else group_sets(res, lvl)
    lvl = str(level)
    crit = "REML" if method == "REML" else res.method
    prob = DeletionProblem(res, crit == "REML")
    if isinstance(theta, pd.DataFrame):
        pos = {str(k): i for i, k in enumerate(labels)}
        idx = [pos[str(k)] for k in theta.index]
        labels = pd.Index([labels[i] for i in idx], dtype=labels.dtype)
        sets = [sets[i] for i in idx]
        th = theta.reindex(columns=prob.names).to_numpy(dtype=float)
    else:
        th = np.asarray(theta, dtype=float).reshape(len(sets), -1)
    U, p = len(sets), prob.p
    if prob.batchable:
        q = batched.pls(prob.struct, prob.blocks(sets), th)
        beta, vcov, sigma2, obj = q["beta"], q["vcov"], q["sigma2"], q["objective"]
    else:
        beta, vcov = np.empty((U, p)), np.empty((U, p, p))
        sigma2, obj = np.empty(U), np.empty(U)
        for u in range(U):
            s = prob.deviance(sets[u], None).pls(th[u])
            n_u = prob.n - len(sets[u])
            sigma2[u] = s.pwrss / (n_u - p if prob.reml else n_u)
            RXi = np.linalg.inv(s.RX)
            beta[u], vcov[u], obj[u] = s.beta, sigma2[u] * (RXi @ RXi.T), s.objective
    coef = list(res.fe_params.index)
    names, vals = varcomp_table(prob.struct.templates(th), sigma2)
    vc = pd.DataFrame(vals, index=labels, columns=names)
    vc = vc.loc[:, vc.notna().any(axis=0)]
    original = FitQuantities(res.fe_params.copy(), res.fe_cov.copy(), res.scale,
                             res.theta_named.copy(),
                             varcomp(res._layout.templates(res.theta), res.scale), res.objective)
    return Deletions(
        labels=labels, level=lvl, fixef=pd.DataFrame(beta, index=labels, columns=coef),
        vcov=vcov, sigma2=sigma2, theta=pd.DataFrame(th, index=labels, columns=prob.names),
        varcomp=vc, objective=obj, converged=np.ones(U, dtype=bool),
        warnings=[[] for _ in range(U)], engine=np.full(U, "at_theta", dtype=object),
        n_evals=np.ones(U, dtype=int), method=crit, original=original, rows=list(sets))
