"""``interlace.plot``: the pictures lme4, lattice and HLMdiag users look at (matplotlib).

Every function returns a matplotlib ``Figure`` built without pyplot (no display, no global
state: it renders anywhere, ``fig.savefig("x.png")``); pass ``fig=`` to draw into an
existing one.  matplotlib is an optional dependency (``pip install matplotlib``).

* :func:`resid_fitted` — residuals against fitted values (lme4's ``plot(m)``);
* :func:`qq` — normal Q–Q plots of the residuals or of each random-effects column
  (``qqnorm(resid(m))``, ``qqmath(ranef(m))``);
* :func:`caterpillar` — random effects with condVar intervals, sorted
  (``dotplot(ranef(m, condVar = TRUE))``);
* :func:`influence_index` — an influence measure per unit with the diagnostics guide's
  cut-off and the flagged units labelled (HLMdiag's ``dotplot_diag``);
* :func:`profile_zeta` — ζ against each parameter of a profile (``xyplot(profile(m))``);
* :func:`dfbetas_heatmap` — DFBETAS, units × coefficients, with the 2/√n cut-off.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from interlace.diagnostics.flags import cutoff
from interlace.errors import InterlaceError

__all__ = ["caterpillar", "dfbetas_heatmap", "influence_index", "profile_zeta", "qq",
           "resid_fitted"]


def _figure(fig, n_panels: int = 1, ncols: int | None = None, size=(4.2, 3.4)):
    """A Figure with ``n_panels`` axes (a new one unless ``fig`` is given)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InterlaceError("interlace.plot needs matplotlib (pip install matplotlib)") \
            from exc
    ncols = ncols or min(n_panels, 3)
    nrows = -(-n_panels // ncols)
    fig = fig or Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def resid_fitted(res, fig=None):
    """Conditional residuals against fitted values, with the zero line."""
    fig, (ax,) = _figure(fig)
    ax.scatter(np.asarray(res.fittedvalues), np.asarray(res.resid), s=10, alpha=0.7)
    ax.axhline(0.0, color="grey", lw=1, ls="--")
    ax.set(xlabel="fitted values", ylabel="residuals", title="Residuals vs fitted")
    return fig


def _qq_panel(ax, values: np.ndarray, title: str) -> None:
    v = np.sort(values[np.isfinite(values)])
    n = len(v)
    q = stats.norm.ppf((np.arange(1, n + 1) - 0.5) / n)  # ppoints(n) for n > 10
    ax.scatter(q, v, s=10, alpha=0.7)
    q1, q3 = np.percentile(v, [25, 75])
    z1, z3 = stats.norm.ppf([0.25, 0.75])
    slope = (q3 - q1) / (z3 - z1)
    ax.axline((z1, q1), slope=slope, color="grey", lw=1)  # R's qqline
    ax.set(xlabel="standard normal quantiles", ylabel="sample quantiles", title=title)


def qq(res, which: str = "residuals", fig=None):
    """Normal Q–Q plot of the residuals (``which="residuals"``) or of every random-effects
    column (``which="ranef"``, one panel per grouping factor and term), with R's
    ``qqline`` through the quartiles."""
    if which == "residuals":
        fig, (ax,) = _figure(fig)
        _qq_panel(ax, np.asarray(res.resid, dtype=float), "Residuals")
        return fig
    if which != "ranef":
        raise InterlaceError(f"which must be 'residuals' or 'ranef', not {which!r}")
    frame = res.ranef_frame()
    keys = list(frame.groupby(["grpvar", "term"], sort=False).groups)
    fig, axes = _figure(fig, len(keys))
    for ax, (g, t) in zip(axes, keys, strict=True):
        rows = frame[(frame["grpvar"] == g) & (frame["term"] == t)]
        _qq_panel(ax, rows["condval"].to_numpy(dtype=float), f"{g}: {t}")
    return fig


def caterpillar(res, group: str | None = None, level: float = 0.95, fig=None):
    """Random effects with intervals condval ± qnorm((1 + level)/2)·condsd, sorted by the
    first term's value (lme4's ``dotplot(ranef(m, condVar = TRUE))``); one panel per
    term of ``group`` (default: the first grouping factor)."""
    frame = res.ranef_frame()
    group = group or frame["grpvar"].iloc[0]
    if group not in set(frame["grpvar"]):
        raise InterlaceError(f"group must be one of {sorted(set(frame['grpvar']))}, not "
                             f"{group!r}")
    sub = frame[frame["grpvar"] == group]
    terms = list(dict.fromkeys(sub["term"]))
    order = (sub[sub["term"] == terms[0]].sort_values("condval")["grp"].astype(str).tolist())
    z = stats.norm.ppf((1 + level) / 2)
    fig, axes = _figure(fig, len(terms), ncols=len(terms),
                        size=(3.6, max(3.0, 0.18 * len(order) + 1)))
    for ax, term in zip(axes, terms, strict=True):
        rows = sub[sub["term"] == term].set_index(sub[sub["term"] == term]["grp"].astype(str))
        rows = rows.loc[order]
        y = np.arange(len(order))
        ax.errorbar(rows["condval"], y, xerr=z * rows["condsd"], fmt="o", ms=3, lw=1,
                    capsize=0)
        ax.axvline(0.0, color="grey", lw=1, ls="--")
        ax.set_yticks(y, order, fontsize=7)
        ax.set(title=term, xlabel=f"condval ± {z:.2f}·condsd")
    axes[0].set_ylabel(group)
    return fig


def internal_cutoff(values: np.ndarray) -> float:
    """HLMdiag's ``internal_cutoff``: Q3 + 3·IQR of the values (R's default quantiles)."""
    q1, q3 = np.nanpercentile(values, [25, 75])
    return float(q3 + 3 * (q3 - q1))


def influence_index(table: pd.DataFrame, measure: str = "cooksd", p: int | None = None,
                    threshold: float | str | None = None, fig=None):
    """An influence measure per unit (a column of :func:`interlace.hlm_influence`, e.g.
    ``cooksd``, ``mdffits``, ``leverage.overall``, ``rvc.sigma2``) against the unit's index,
    with a cut-off and the units above it labelled.  The cut-off is the diagnostics
    guide's (Cook's D 4/n, MDFFITS 2√(p/n) — give ``p``, the number of fixed effects —,
    |COVTRACE| p, |RVC| 0.5), ``threshold`` when given, or HLMdiag's ``dotplot_diag(cutoff
    = "internal")`` one, Q3 + 3·IQR, with ``threshold="internal"`` and for leverage, for
    which the guide gives none."""
    if measure not in table.columns:
        raise InterlaceError(f"the influence table has no column {measure!r} (columns: "
                             f"{list(table.columns)})")
    v = table[measure].to_numpy(dtype=float)
    n = len(v)
    if threshold == "internal" or (threshold is None and measure.startswith("leverage.")):
        threshold = internal_cutoff(np.abs(v) if measure.startswith("rvc.") else v)
    elif isinstance(threshold, str):
        raise InterlaceError(f"threshold must be a number or 'internal', not {threshold!r}")
    elif threshold is None:
        if measure in ("cooksd", "mdffits", "covtrace"):
            if measure != "cooksd" and p is None:
                raise InterlaceError(f"{measure}'s cut-off needs p, the number of fixed "
                                     "effects (p=len(res.fe_params))")
            threshold = cutoff(measure, n, p or 1)
        elif measure.startswith("rvc."):
            threshold = cutoff("rvc", n, 1)
    fig, (ax,) = _figure(fig, size=(6.0, 3.4))
    x = np.arange(1, n + 1)
    shown = np.abs(v) if measure.startswith("rvc.") else v
    over = shown > threshold if threshold is not None else np.zeros(n, dtype=bool)
    ax.scatter(x[~over], v[~over], s=10, color="#2c3e50", alpha=0.7)
    ax.scatter(x[over], v[over], s=14, color="#e74c3c")
    if threshold is not None:
        ax.axhline(threshold, color="#e74c3c", ls="--", lw=1)
        if measure.startswith("rvc."):
            ax.axhline(-threshold, color="#e74c3c", ls="--", lw=1)
    for xi, vi, label in zip(x[over], v[over], table.index[over], strict=True):
        ax.annotate(str(label), (xi, vi), textcoords="offset points", xytext=(3, 3),
                    fontsize=7)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # units are counted, not measured
    ax.set(xlabel="unit (index)", ylabel=measure,
           title=f"{measure}" + ("" if threshold is None else f" — cut-off {threshold:.3g}"))
    return fig


def profile_zeta(prof, level: float = 0.95, fig=None):
    """ζ (signed square root of the deviance change) against each parameter of a
    :class:`~interlace.inference.profile.Profile` (``res.profile()``), with the lines
    ζ = ±qnorm((1 + level)/2) whose crossings are the profile interval."""
    table = prof.table
    names = list(dict.fromkeys(table[".par"]))
    fig, axes = _figure(fig, len(names))
    z = stats.norm.ppf((1 + level) / 2)
    for ax, name in zip(axes, names, strict=True):
        rows = table[table[".par"] == name].sort_values(name)
        ax.plot(rows[name], rows[".zeta"], "o-", ms=3, lw=1)
        for h in (-z, 0.0, z):
            ax.axhline(h, color="grey", lw=1, ls="--" if h else ":")
        ax.set(xlabel=name, ylabel="ζ", title=name)
    return fig


def dfbetas_heatmap(dfbetas: pd.DataFrame, fig=None):
    """DFBETAS (units × coefficients, e.g. ``influence(res).dfbetas()``) as a heat map on a
    diverging scale, the cells beyond the cut-off 2/√n outlined."""
    v = dfbetas.to_numpy(dtype=float)
    n = v.shape[0]
    cut = 2.0 / np.sqrt(n)
    fig, (ax,) = _figure(fig, size=(1.2 * v.shape[1] + 2.5, max(3.0, 0.16 * n + 1)))
    lim = float(np.nanmax(np.abs(v))) or 1.0
    im = ax.imshow(v, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                   interpolation="nearest")
    rows, cols = np.nonzero(np.abs(v) > cut)
    for r, c in zip(rows, cols, strict=True):
        ax.add_patch(_rect(c, r))
    ax.set_xticks(range(v.shape[1]), [str(c) for c in dfbetas.columns], rotation=30,
                  ha="right")
    ax.set_yticks(range(n), [str(i) for i in dfbetas.index], fontsize=6)
    ax.set(title=f"DFBETAS (outlined: |value| > 2/√n = {cut:.3g})")
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def _rect(x: int, y: int):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor="black", lw=1.2)
