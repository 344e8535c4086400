"""lme4's input checks (``lmerControl``'s ``checkControl``): messages, options and defaults.

Source: lme4 1.1-31, ``R/lmer.R`` (``lFormula``), ``R/utilities.R`` (``checkNlevels``,
``checkZdims``, ``checkZrank``, ``checkScaleX``, ``chkRank.drop.cols``, ``wmsg``) and
``R/lmerControl.R`` (the defaults).  Each check has lme4's option values and default
action; "message" and "warning" both become a Python warning (Python has no separate
message channel), "stop" raises :class:`~interlace.errors.ModelSpecError`.

=======================  ====================  =========================================
option                   default               what
=======================  ====================  =========================================
``check_nlev_gtr_1``     ``"stop"``            every grouping factor has ≥ 2 levels
``check_nobs_vs_nlev``   ``"stop"``            levels < observations, per factor
``check_nlev_gtreq_5``   ``"ignore"``          levels ≥ 5, per factor
``check_nobs_vs_nRE``    ``"stop"``            observations > random effects, per term
``check_nobs_vs_rankZ``  ``"ignore"``          observations > rank(Z) (``…Small``: only
                                               when n·q ≤ 1e6)
``check_rankX``          ``"message+drop.cols"`` rank-deficient X: drop columns
``check_scaleX``         ``"warning"``         predictor SDs within a factor 1000
=======================  ====================  =========================================

Options may be given with R's dotted names too (``"check.scaleX"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from interlace.errors import ModelCheckWarning, ModelSpecError, warn

__all__ = ["InputChecks", "check_nlevels", "check_scale_x", "check_zdims", "check_zrank",
           "apply_action"]

_BASIC = ("message", "warning", "stop", "ignore")
_SMALL = _BASIC + tuple(a + "Small" for a in _BASIC)
_RANKX = ("message+drop.cols", "silent.drop.cols", "warn+drop.cols", "stop.deficient",
          "ignore")
_SCALEX = ("warning", "stop", "ignore")
#: lme4's rescaling options of check.scaleX, not implemented (they change X's scale)
_SCALEX_RESCALE = ("silent.rescale", "message+rescale", "warn+rescale")
#: checkZrank's "Small" limit on the size of Z
ZRANK_NONSMALL = 1e6


@dataclass(frozen=True)
class InputChecks:
    """lme4's ``checkControl`` options (defaults as ``lmerControl()``)."""

    check_nlev_gtr_1: str = "stop"
    check_nobs_vs_nlev: str = "stop"
    check_nlev_gtreq_5: str = "ignore"
    check_nobs_vs_nRE: str = "stop"
    check_nobs_vs_rankZ: str = "ignore"
    check_rankX: str = "message+drop.cols"
    check_scaleX: str = "warning"

    def __post_init__(self) -> None:
        allowed = {"check_nobs_vs_rankZ": _SMALL, "check_rankX": _RANKX,
                   "check_scaleX": _SCALEX + _SCALEX_RESCALE}
        for f in fields(self):
            val = getattr(self, f.name)
            ok = allowed.get(f.name, _BASIC)
            if val not in ok:
                raise ModelSpecError(f"invalid control level {val!r} in {f.name}: valid "
                                     f"options are {{{', '.join(map(repr, ok))}}}")
        if self.check_scaleX in _SCALEX_RESCALE:
            raise ModelSpecError(f"check_scaleX={self.check_scaleX!r} (lme4 rescales X and "
                                 "reports coefficients on the rescaled columns) is not "
                                 "supported; rescale the predictors yourself or use "
                                 "'warning', 'stop' or 'ignore'")

    @classmethod
    def split(cls, control: Mapping | None) -> tuple[InputChecks, dict]:
        """The input-check options of a control dict, and the remaining entries.

        Keys may use R's dotted names (``check.nlev.gtr.1``) or underscores.
        """
        if not control:
            return cls(), {}
        names = {f.name for f in fields(cls)}
        mine, rest = {}, {}
        for key, val in dict(control).items():
            k = str(key).replace(".", "_")
            (mine if k in names else rest)[k if k in names else key] = val
        return cls(**mine), rest


def apply_action(action: str, message: str) -> None:
    """lme4's ``switch(cc, warning = warning(...), stop = stop(...))`` for one check."""
    base = action.removesuffix("Small")
    if base == "stop":
        raise ModelSpecError(message)
    if base in ("warning", "message"):
        warn(message, ModelCheckWarning)


def _wmsg(n: int, cmp_val: int, msg1: str, msg2: str, msg3: str = "",
          allow_n: bool = False) -> tuple[bool, str]:
    """lme4's ``wmsg``; ``allow_n`` (GLMMs, no residual variance): n = cmp_val is allowed."""
    if allow_n:
        return n < cmp_val, (f"{msg1} (={n}) < {msg2} (={cmp_val}){msg3}; the random-effects "
                             "parameters are probably unidentifiable")
    text = (f"{msg1} (={n}) <= {msg2} (={cmp_val}){msg3}; the random-effects parameters and "
            "the residual variance (or scale parameter) are probably unidentifiable")
    return n <= cmp_val, text


def check_nlevels(nlevels: Mapping[str, int], n: int, checks: InputChecks,
                  allow_n: bool = False) -> None:
    """lme4's ``checkNlevels``: levels per grouping factor against 2, n and 5
    (``allow_n``, as lme4 for GLMMs: as many levels as observations is allowed)."""
    if any(k < 2 for k in nlevels.values()):
        apply_action(checks.check_nlev_gtr_1, "grouping factors must have > 1 sampled level")
    bad = [g for g, k in nlevels.items() if (k > n if allow_n else k >= n)]
    if bad:
        apply_action(checks.check_nobs_vs_nlev,
                     f"number of levels of each grouping factor must be {'<=' if allow_n else '<'}"
                     f" number of observations (problems: {', '.join(bad)})")
    if any(k < 5 for k in nlevels.values()):
        apply_action(checks.check_nlev_gtreq_5,
                     "grouping factors with < 5 sampled levels may give unreliable estimates")


def check_zdims(term_sizes: Sequence[tuple[str, int]], n: int, checks: InputChecks,
                allow_n: bool = False) -> None:
    """lme4's ``checkZdims``: observations against random effects, per term (name, q)."""
    for name, q in term_sizes:
        unident, text = _wmsg(n, q, "number of observations", "number of random effects",
                              f" for term ({name})", allow_n)
        if unident:
            apply_action(checks.check_nobs_vs_nRE, text)


def _rank(Z: sp.spmatrix) -> int:
    """Numerical rank of Z by pivoted QR (tolerance max(dim)·ε, as Matrix::rankMatrix)."""
    A = Z.toarray() if sp.issparse(Z) else np.asarray(Z)
    if A.shape[0] < A.shape[1]:
        A = A.T
    if not A.size:
        return 0
    R = sla.qr(A, mode="r", pivoting=True)[0]
    d = np.abs(np.diag(R))
    return int(np.sum(d > max(A.shape) * np.finfo(float).eps * d[0])) if d[0] > 0 else 0


def check_zrank(Z: sp.spmatrix, n: int, checks: InputChecks, allow_n: bool = False) -> None:
    """lme4's ``checkZrank``: observations against rank(Z) (off by default)."""
    action = checks.check_nobs_vs_rankZ
    if action == "ignore" or action == "ignoreSmall":
        return
    if action.endswith("Small") and Z.shape[0] * Z.shape[1] > ZRANK_NONSMALL:
        return
    unident, text = _wmsg(n, _rank(Z), "number of observations", "rank(Z)", allow_n=allow_n)
    if unident:
        apply_action(action, text)


def check_scale_x(X: np.ndarray, checks: InputChecks) -> None:
    """lme4's ``checkScaleX``: the SDs of X's non-0/1 columns, against each other and 1.

    Warns (or stops) when two such columns' SDs differ by a factor above 1000, or one SD
    is above 1000 or below 1/1000.
    """
    if checks.check_scaleX == "ignore" or not X.size:
        return
    cont = ~np.all((X == 0) | (X == 1), axis=0)
    if not cont.any():
        return
    sd = np.std(X[:, cont], axis=0, ddof=1) if X.shape[0] > 1 else np.full(cont.sum(), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        logsd = np.abs(np.log(sd))
        logcomp = np.abs(np.log(sd[:, None] / sd[None, :]))[np.tril_indices(len(sd), -1)]
    vals = np.concatenate([logcomp, logsd])
    if np.any(vals > np.log(1000.0)):
        message = "Some predictor variables are on very different scales: consider rescaling"
        apply_action(checks.check_scaleX, message)
