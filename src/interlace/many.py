"""``interlace.fit_many``: one linear mixed model fitted to many responses.

The fixed and random structure is the same for every response (a gene, an item, a
simulated replicate); only y changes.  As lme4's ``refit(m, newresp)`` does, the model
matrices, the random-effects structure, ZᵀZ and the factor's symbolic plan are built once
and reused; a response costs its cross-products (O(n)) and its optimization.

Each response is fitted exactly as :func:`interlace.fit` fits it on its own, with the
same start, optimizer and control: the cross-products are formed by the same code from the
same numbers, so the objective is the same function to the last bit and the optimizer
takes the same path (a test checks the results against separate ``fit`` calls).

Missing values: a response's missing rows are dropped as ``fit`` drops them (with the
rows the other model columns miss).  Responses are grouped by their pattern of missing
rows and the design is built once per pattern, so a response whose missing rows differ
from the others' gets the model ``fit`` would build for it (its own rows, its own levels).

A response whose fit fails (an infinite value, no residual variation, lme4's "stop"
checks) gets a row of NaN with the reason in ``error``; a warning counts them.  Warnings
of the fits (convergence, singular fits, dropped rows) are not issued one by one: each
response's are in its ``messages``.

The loop runs through :func:`interlace.parallel.imap` (``n_jobs`` joblib workers, or a
Dask cluster configured with ``joblib.parallel_config(backend="dask")``); the design is
sent to each worker once.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from interlace.api import _method, _prepare, _start
from interlace.deviance.build import check_residual_variation, layout_and_terms
from interlace.deviance.lmm import LmmDeviance
from interlace.deviance.refit import ResponseRefit
from interlace.errors import DataError, InterlaceError, warn
from interlace.inference.satterthwaite import satterthwaite_many
from interlace.linalg import batched
from interlace.linalg.crossprod import CrossProducts
from interlace.linalg.threads import with_serial_blas
from interlace.optimize import optimize_theta, report_checks, split_control
from interlace.optimize.checks import conv_messages_many
from interlace.parallel import imap, n_workers, progress_bar
from interlace.results.result import CrossedLMEResult

__all__ = ["fit_many"]

#: the working name of the response column (the user's left-hand side is replaced)
RESPONSE = "interlace_fit_many_response__"


@dataclass
class _Pattern:
    """What every response with one pattern of missing rows shares (or, with ``error``,
    why none of them can be fitted)."""

    text: str
    design: Any
    layout: Any
    dev: LmmDeviance | None
    terms: list
    x0: np.ndarray
    ctl: Any
    method: str
    optimizer: Any
    data: pd.DataFrame | None
    fit_kwargs: dict
    messages: list[str]
    error: str | None = None

    @classmethod
    def failed(cls, error: str, messages: list[str]) -> _Pattern:
        return cls("", None, None, None, [], np.zeros(0), None, "", None, None, {},
                   messages, error)


#: what a response's fit may raise, reported in its row instead of stopping the others
_FIT_ERRORS = (InterlaceError, np.linalg.LinAlgError, ValueError, FloatingPointError)


def _clean(message: str) -> str:
    """A fit's message about the working response column, about "the response"."""
    return message.replace(RESPONSE, "the response")


def _rhs(formula: str) -> str:
    if not isinstance(formula, str):
        raise InterlaceError(f"formula must be a string such as '~ x + (1 | g)', got "
                             f"{type(formula).__name__}")
    return formula.split("~", 1)[1] if "~" in formula else formula


def _responses(data: pd.DataFrame, responses) -> tuple[list[str], np.ndarray]:
    """The responses' names and values (rows of ``data`` × responses), checked."""
    from interlace.design.frames import as_pandas

    if responses is None:
        raise DataError("fit_many needs responses: a list of data's columns or a frame of "
                        "response columns with data's rows")
    if isinstance(responses, str):
        responses = [responses]
    frame = as_pandas(responses)
    if isinstance(frame, pd.DataFrame):
        if len(frame) != len(data):
            raise DataError(f"the response frame has {len(frame)} rows and data {len(data)}: "
                            "it must have one row per row of data")
        if isinstance(responses, pd.DataFrame) and not frame.index.equals(data.index):
            raise DataError("the response frame's index differs from data's: its rows must "
                            "be data's rows (reindex it, e.g. frame.loc[data.index])")
        names = [str(c) for c in frame.columns]
        block = frame
    else:
        names = [str(c) for c in responses]
        missing = [c for c in names if c not in data.columns]
        if missing:
            raise DataError(f"response column(s) {missing} not found in data")
        block = None
    if not names:
        raise DataError("fit_many needs at least one response")
    dup = sorted(c for c, k in Counter(names).items() if k > 1)
    if dup:
        raise DataError(f"response names must be unique; repeated: {dup}")
    if block is None:
        block = data[names]
    for j, (nm, dt) in enumerate(zip(names, block.dtypes, strict=True)):
        if pd.api.types.is_bool_dtype(dt) or not (pd.api.types.is_numeric_dtype(dt)
                                                  or block.iloc[:, j].isna().all()):
            raise DataError(f"response '{nm}' must be numeric (dtype {dt})")
    return names, block.to_numpy(dtype=float, na_value=np.nan)


def _pattern(text_rhs, data, y, args) -> _Pattern:
    """Build the design and deviance of the responses with ``y``'s missing rows."""
    work = data.assign(**{RESPONSE: y})
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            input_checks, ctl = split_control(args["control"])
            text, design, layout, dev = _prepare(
                f"{RESPONSE} ~ {text_rhs}", work, args["groups"], args["random"],
                args["method"], args["weights"], args["offset"], args["na_action"],
                args["backend"], input_checks, args["contrasts"])
            x0 = _start(ctl, layout)
        except InterlaceError as e:
            error = _clean(f"{type(e).__name__}: {e}")
    messages = [_clean(str(w.message)) for w in caught]
    if error is not None:
        return _Pattern.failed(error, messages)
    terms = layout_and_terms(design)[1]
    fit_kwargs = dict(groups=None, random=None, method=args["method"],
                      optimizer=args["optimizer"], weights=args["weights"],
                      offset=args["offset"], na_action=args["na_action"],
                      control=args["control"], backend=args["backend"],
                      contrasts=args["contrasts"])
    return _Pattern(text, design, layout, dev, terms, x0, ctl, args["method"],
                    args["optimizer"], work, fit_kwargs, messages)


def _fit_response(pat: _Pattern, y: np.ndarray) -> CrossedLMEResult:
    """``fit`` of this pattern's model to response ``y`` (the design's rows)."""
    d = pat.design
    design = replace(d, y=y)
    # fit's own cross-products code (not ResponseRefit's update of them), so that the
    # objective is fit's to the last bit
    dev = pat.dev.with_cross_products(CrossProducts.build(d.X, y, pat.terms, d.weights,
                                                          d.offset))
    check_residual_variation(design, dev)
    theta, _, summary, checks = optimize_theta(
        dev, pat.x0.copy(), pat.layout.lower(), pat.layout.names(), optimizer=pat.optimizer,
        method=pat.method, control=pat.ctl)
    report_checks(checks, pat.ctl, summary, summary.optimizer)
    return CrossedLMEResult(design=design, layout=pat.layout, deviance=dev,
                            state=dev.pls(theta), opt=summary, checks=checks,
                            method=pat.method, formula=pat.text, data=pat.data,
                            fit_kwargs=pat.fit_kwargs, refit=None)


def _cells(names, estimate, se, df, t, p, varcorr: list[dict]) -> dict[str, Any]:
    """A row's coefficient cells (``estimate[β]`` … ``p[β]``) and its variance components
    (``sd[group:term]``, ``cor[group:term:term]``, ``sigma``) from the layout's
    ``varcorr`` rows."""
    row: dict[str, Any] = {}
    for stat, vals in (("estimate", estimate), ("se", se), ("df", df), ("t", t), ("p", p)):
        row.update({f"{stat}[{nm}]": float(v) for nm, v in zip(names, vals, strict=True)})
    for r in varcorr:
        if r["grp"] == "Residual":
            row["sigma"] = float(r["sdcor"])
        elif r["var2"] is None:
            row[f"sd[{r['grp']}:{r['var1']}]"] = float(r["sdcor"])
        else:
            row[f"cor[{r['grp']}:{r['var1']}:{r['var2']}]"] = float(r["sdcor"])
    return row


def _row(res: CrossedLMEResult) -> dict:
    ct = res.coef_table()
    row = _cells(ct.index, *(ct[c] for c in ("Estimate", "Std. Error", "df", "t value",
                                             "Pr(>|t|)")),
                 res._layout.varcorr(res.theta, res.sigma))
    row["logLik"] = float(res.llf)
    row["AIC"], row["BIC"] = float(res.aic), float(res.bic)
    row["REMLcrit" if res.method == "REML" else "deviance"] = float(res.objective)
    row["nobs"] = int(res.nobs)
    row["converged"] = bool(res.converged)
    row["singular"] = bool(res.is_singular)
    row["n_evals"] = int(res.optinfo.n_evals)
    row["engine"] = "exact"
    return row


def _task(patterns: list[_Pattern], item) -> tuple[dict | None, str | None, list[str]]:
    k, y = item
    pat = patterns[k]
    if pat.error is not None:
        return None, pat.error, list(pat.messages)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            row, err = _row(_fit_response(pat, y[pat.design.row_positions])), None
        except _FIT_ERRORS as e:
            row, err = None, _clean(f"{type(e).__name__}: {e}")
    msgs = list(pat.messages)
    for w in caught:
        m = _clean(str(w.message))
        if m not in msgs:
            msgs.append(m)
    return row, err, msgs


def _newton_start(pat: _Pattern, y0: np.ndarray) -> np.ndarray:
    """Newton's common start: the exact fit of the pattern's first response, unless that
    is at a bound (then lme4's default start)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            th = np.asarray(_fit_response(pat, y0).theta, dtype=float)
    except _FIT_ERRORS:
        return pat.layout.start()
    lower = pat.layout.lower()
    near = np.isfinite(lower) & (th < lower + 1e-2)
    return pat.layout.start() if near.any() else th


def _newton_task(pat: _Pattern, item) -> list:
    """The Newton engine on one chunk of a pattern's responses (columns of Y, the
    design's rows): per response a row, or None where Newton did not settle (near a bound,
    an indefinite Hessian, no descent): those go to the exact engine."""
    theta0, Y = item
    B = Y.shape[1]
    got = ResponseRefit(pat.design, pat.dev).blocks(Y)
    if got is None:
        return [None] * B
    st, bd = got
    layout, d = pat.layout, pat.design

    def evaluate(idx, pts):
        return batched.evaluate(st, bd if len(idx) == B else bd.take(idx), pts)

    with np.errstate(all="ignore"):
        nr = batched.newton(evaluate, np.repeat(theta0[None], B, axis=0), layout.lower(),
                            modify=True, canon=st.canonical)
    ok = np.flatnonzero(nr.status == 0)
    out: list = [None] * B
    if not ok.size:
        return out
    sub = bd.take(ok)
    q = batched.pls(st, sub, nr.theta[ok])
    conv = conv_messages_many(nr.gradient[ok], nr.hessian[ok], q["objective"])

    def pls_many(th):  # (B, P, k): every set at its own points
        e = batched.evaluate(st, sub, th, full=True)
        return batched.pls_parts(e["L"], e["ldL2"], st.p)

    sigma = np.sqrt(q["sigma2"])
    df, _, smsgs = satterthwaite_many(pls_many, nr.theta[ok], sigma, d.n, len(d.x_names),
                                      pat.method == "REML")
    se = np.sqrt(np.einsum("bjj->bj", q["vcov"]))
    t = q["beta"] / se
    pval = 2.0 * stats.t.sf(np.abs(t), df)
    npar = len(d.x_names) + layout.n_theta + 1
    diag = layout.diagonal_mask()
    crit = "REMLcrit" if pat.method == "REML" else "deviance"
    for j, u in enumerate(ok):
        row = _cells(d.x_names, q["beta"][j], se[j], df[j], t[j], pval[j],
                     layout.varcorr(nr.theta[u], float(sigma[j])))
        obj = float(q["objective"][j])
        row.update(logLik=-0.5 * obj, AIC=obj + 2.0 * npar, BIC=obj + npar * np.log(d.n))
        row[crit] = obj
        row.update(nobs=int(d.n), converged=not conv[j],
                   singular=bool(np.any(nr.theta[u][diag] < 1e-4)),
                   n_evals=int(nr.n_evals[u]), engine="newton")
        msgs = list(pat.messages) + list(conv[j]) + list(smsgs[j])
        if not np.all(np.isfinite(df[j])):
            msgs.append("Satterthwaite df not finite: the deviance's Hessian in the variance "
                        "parameters is singular or indefinite here")
        out[u] = (row, None, msgs)
    return out


#: a pattern of missing rows shared by fewer responses is left to the exact engine (the
#: Newton engine's start costs one exact fit)
NEWTON_MIN = 4


def _newton_rows(patterns: list[_Pattern], items: list, n_jobs) -> dict[int, tuple]:
    """Rows of the responses the Newton engine settles: {item index: (row, None, msgs)}."""
    members: dict[int, list[int]] = {}
    for i, (k, _) in enumerate(items):
        if patterns[k].error is None:
            members.setdefault(k, []).append(i)
    out: dict[int, tuple] = {}
    for k, idx in members.items():
        pat = patterns[k]
        st = ResponseRefit(pat.design, pat.dev).structure()
        if st is None or len(idx) < NEWTON_MIN:
            continue
        rows = pat.design.row_positions
        Y = np.column_stack([items[i][1][rows] for i in idx])
        theta0 = _newton_start(pat, Y[:, 0])
        size = min(st.sets_per_pass(), -(-len(idx) // n_workers(n_jobs)))
        starts = range(0, len(idx), size)
        chunks = [(theta0, Y[:, a:a + size]) for a in starts]
        for a, got in zip(starts, imap(_newton_task, chunks, shared=(pat,), n_jobs=n_jobs),
                          strict=True):
            for i, r in zip(idx[a:a + size], got, strict=True):
                if r is not None:
                    out[i] = r
    return out


@with_serial_blas
def fit_many(formula: str, data: Any, responses=None, *, groups=None, random=None,
             method: str = "REML", optimizer: Any = "bobyqa", weights: Any = None,
             offset: Any = None, na_action: str = "omit", control: Any = None,
             backend: str = "auto", contrasts: Any = None, engine: str = "exact",
             n_jobs: int = 1, show_progress: bool = False):
    """Fit one linear mixed model to each of many responses (see the module docstring).

    Parameters
    ----------
    formula : str
        The model's right-hand side, e.g. ``"~ Days + (Days | Subject)"``; a left-hand
        side, if given, is replaced by each response.
    data : pandas or polars DataFrame
        The predictors (and, with a list of names, the responses).
    responses : list of str, or DataFrame
        Columns of ``data``, or a frame of response columns with ``data``'s rows (for a
        pandas frame, ``data``'s index).
    groups, random, method, optimizer, weights, offset, na_action, control, backend,
    contrasts
        As :func:`interlace.fit`; the same for every response.
    engine : {"exact", "newton"}
        ``"exact"``: each response fitted as ``fit`` fits it (lme4's optimizer path; the
        same numbers as separate ``fit`` calls).  ``"newton"``: the responses of a design
        optimized together by the batched Newton method of the deletion diagnostics (from
        the first response's θ̂), their Satterthwaite df computed together; each optimum
        is the criterion's own, at least as low as the optimizer's (θ̂ and β̂ differ from
        lme4's by its stopping tolerance, ~1e-6 relative), many times faster.  A response
        Newton does not settle (an optimum near a bound, an indefinite Hessian) is fitted
        by the exact engine; the ``engine`` column says which.
    n_jobs : int
        joblib workers (-1: all CPUs); inside ``joblib.parallel_config(backend="dask")``
        the fits run on the Dask cluster.  The results do not depend on it.
    show_progress : bool
        A tqdm bar over the responses.

    Returns
    -------
    DataFrame (pandas, or polars for polars ``data``)
        One row per response, indexed by its name (polars: a ``response`` column), with
        ``estimate[β]``, ``se[β]``, ``df[β]`` (Satterthwaite), ``t[β]``, ``p[β]`` per
        coefficient; ``sd[group:term]``, ``cor[group:term1:term2]`` and ``sigma``
        (lme4's ``VarCorr``); ``logLik``, ``AIC``, ``BIC``, ``REMLcrit`` (REML) or
        ``deviance`` (ML); ``nobs``, ``converged``, ``singular``, ``n_evals``, ``engine``;
        ``messages`` (the fit's warnings) and ``error`` (why a row is NaN).
    """
    from interlace.design.frames import as_pandas, kind_of, native

    kind = kind_of(data)
    data = as_pandas(data)
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas or polars DataFrame, got {type(data).__name__}")
    method = _method(method)
    if engine not in ("exact", "newton"):
        raise InterlaceError(f"engine must be 'exact' or 'newton', not {engine!r}")
    rhs = _rhs(formula)
    names, Y = _responses(data, responses)
    args = dict(groups=groups, random=random, method=method, optimizer=optimizer,
                weights=weights, offset=offset, na_action=na_action, control=control,
                backend=backend, contrasts=contrasts)
    patterns: list[_Pattern] = []
    keys: dict[bytes, int] = {}
    items: list[tuple[int, np.ndarray]] = []
    for j, nm in enumerate(names):
        y = Y[:, j]
        if np.isinf(y).any():
            rows = data.index[np.isinf(y)][:5].tolist()
            patterns.append(_Pattern.failed(f"DataError: response '{nm}' has infinite "
                                            f"values (rows {rows})", []))
            items.append((len(patterns) - 1, y))
            continue
        key = np.isnan(y).tobytes()
        if key not in keys:
            keys[key] = len(patterns)
            patterns.append(_pattern(rhs, data, y, args))
        items.append((keys[key], y))
    with progress_bar(show_progress, len(names), "fit_many") as progress:
        done = _newton_rows(patterns, items, n_jobs) if engine == "newton" else {}
        if progress is not None:
            progress.update(len(done))
        rest = [i for i in range(len(items)) if i not in done]
        exact = imap(_task, [items[i] for i in rest], shared=(patterns,), n_jobs=n_jobs,
                     progress=progress, chunks_per_worker=4)
        done.update(zip(rest, exact, strict=True))
        out = [done[i] for i in range(len(items))]
    frame = _frame(names, out, method)
    failed = frame["error"].notna()
    if failed.any():
        first = frame.index[failed][0]
        warn(f"fit_many: {int(failed.sum())} of {len(names)} responses could not be fitted "
             f"(their rows are NaN; see the 'error' column), e.g. '{first}': "
             f"{frame.loc[first, 'error']}")
    return native(frame, kind, label="response")


def _frame(names: list[str], out: list, method: str) -> pd.DataFrame:
    cols: list[str] = []
    for row, _, _ in out:
        for c in row or {}:
            if c not in cols:
                cols.append(c)
    order = ["estimate", "se", "df", "t", "p", "sd", "cor"]
    tail = ["sigma", "logLik", "AIC", "BIC", "REMLcrit" if method == "REML" else "deviance",
            "nobs", "converged", "singular", "n_evals", "engine"]
    head = [c for stat in order for c in cols if c.startswith(stat + "[")]
    columns = head + [c for c in tail if c in cols or c in ("nobs", "converged")]
    recs = []
    for row, _, msgs in out:
        rec = {c: np.nan for c in columns}
        if row is None:
            rec.update(nobs=0, converged=False)
        else:
            rec.update(row)
        rec["messages"] = "; ".join(msgs)
        recs.append(rec)
    frame = pd.DataFrame.from_records(recs, columns=[*columns, "messages"])
    frame.index = pd.Index(names, name="response")
    frame["error"] = pd.Series([err for _, err, _ in out], index=frame.index, dtype=object)
    frame["nobs"] = frame["nobs"].astype(int)
    frame["converged"] = frame["converged"].astype(bool)
    return frame
