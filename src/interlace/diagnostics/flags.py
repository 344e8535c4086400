"""``n_influential``: how many units an influence measure flags, by the diagnostics
guide's rules of thumb.

With n units (observations, or levels of the deletion factor) and p fixed effects:

* ``cooksd``: D > 4/n;
* ``mdffits``: MDFFITS > 2·√(p/n);
* ``covtrace``: |COVTRACE| > p;
* ``covratio``: COVRATIO < 0.9 or > 1.1;
* ``rvc``: |RVC| > 0.5 for some variance component (exact refits only).

These are heuristics (the guide's words: a flagged unit is worth inspecting, not
automatically removed); ``threshold=`` replaces a rule's cut-off.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interlace.errors import InterlaceError

MEASURES = ("cooksd", "mdffits", "covtrace", "covratio", "rvc")


def cutoff(measure: str, n: int, p: int) -> float:
    """The guide's threshold of ``measure`` for n units and p fixed effects (covratio: the
    distance from 1)."""
    return {"cooksd": 4.0 / n, "mdffits": 2.0 * np.sqrt(p / n), "covtrace": float(p),
            "covratio": 0.1, "rvc": 0.5}[measure]


def flagged(table: pd.DataFrame, measure: str, p: int,
            threshold: float | None = None) -> pd.Series:
    """Boolean per unit (row of an :func:`~interlace.diagnostics.hlm.hlm_influence` table):
    does ``measure`` exceed its threshold?"""
    if measure not in MEASURES:
        raise InterlaceError(f"measure must be one of {MEASURES}, not {measure!r}")
    cut = cutoff(measure, len(table), p) if threshold is None else float(threshold)
    if measure == "rvc":
        cols = [c for c in table.columns if c.startswith("rvc.")]
        if not cols:
            raise InterlaceError("measure 'rvc' needs exact refits: hlm_influence(res, "
                                 "approx=False) has the rvc.* columns")
        return (table[cols].abs() > cut).any(axis=1)
    if measure not in table.columns:
        raise InterlaceError(f"the influence table has no {measure!r} column")
    values = table[measure]
    if measure == "covratio":
        return (values - 1.0).abs() > cut
    if measure == "covtrace":
        return values.abs() > cut
    return values > cut


def n_influential(res, measure: str = "cooksd", level=1, threshold: float | None = None,
                  table: pd.DataFrame | None = None, **influence_kwargs) -> int:
    """The number of units that ``measure`` flags (see the module docstring).

    Parameters
    ----------
    res : CrossedLMEResult
    measure : {"cooksd", "mdffits", "covtrace", "covratio", "rvc"}
    level : 1 or str
        Observations, or a grouping factor's levels.
    threshold : float, optional
        Replaces the rule's cut-off (for covratio: the distance from 1).
    table : DataFrame, optional
        An :func:`~interlace.diagnostics.hlm.hlm_influence` table already computed at
        ``level``; otherwise it is computed (one-step measures unless ``approx=False`` is
        passed, which ``rvc`` needs).
    **influence_kwargs
        Passed to :func:`~interlace.diagnostics.hlm.hlm_influence`.
    """
    from interlace.diagnostics.hlm import hlm_influence

    if table is None:
        if measure == "rvc":
            influence_kwargs.setdefault("approx", False)
        table = hlm_influence(res, level=level, leverage=(), **influence_kwargs)
    return int(flagged(table, measure, len(res.fe_params), threshold).sum())
