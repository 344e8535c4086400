"""lme4's ``allFit``: one model refitted with every available optimizer, side by side."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from interlace.optimize.backends import available_optimizers

__all__ = ["all_fit", "default_optimizers"]

#: glmer's own stage optimizers, each used for both stages as lme4's allFit does
_GLMM_STAGES = ("bobyqa", "Nelder_Mead", "nloptwrap")


def default_optimizers(glmm: bool) -> list[str]:
    """The optimizers :func:`all_fit` tries: for an LMM every available backend (registered
    ones included); for a GLMM glmer's stage optimizers and the other backends, each for both
    stages (lme4's ``allFit`` sets ``glmerControl(optimizer = name)``)."""
    names = available_optimizers()
    if not glmm:
        return names
    return [*_GLMM_STAGES, *(n for n in names if n not in ("bobyqa", "minqa"))]


def all_fit(res, optimizers=None) -> pd.DataFrame:
    """Refit ``res`` with each optimizer (``res.update(optimizer=...)``) and tabulate.

    Returns one row per optimizer: its objective (lme4's criterion), the difference from
    the best, evaluations, convergence, seconds, the warnings raised (lme4's convergence and
    singular-fit messages), an error when the refit failed, and θ and β by name.
    """
    glmm = hasattr(res, "stages")
    names = default_optimizers(glmm) if optimizers is None else list(optimizers)
    rows = []
    for opt in names:
        label = opt if isinstance(opt, str) else getattr(opt, "__name__", repr(opt))
        row: dict = {"optimizer": label}
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                r = res.update(optimizer=opt)
            except Exception as exc:  # a failing optimizer is a row, as in lme4's allFit
                r, row["error"] = None, f"{type(exc).__name__}: {exc}"
        row["seconds"] = time.perf_counter() - t0
        row["warnings"] = "; ".join(dict.fromkeys(str(w.message) for w in caught))
        if r is not None:
            stages = getattr(r, "stages", None) or [r.optinfo]
            row.update(objective=float(r.objective), converged=bool(r.converged),
                       evaluations=int(sum(s.n_evals or 0 for s in stages)))
            row.update({f"theta:{k}": v for k, v in zip(r.theta_names, r.theta, strict=True)})
            row.update({f"fixef:{k}": v for k, v in r.fe_params.items()})
        rows.append(row)
    out = pd.DataFrame(rows).set_index("optimizer")
    for col in ("objective", "evaluations", "converged", "error"):
        if col not in out:
            out[col] = np.nan
    out.insert(1, "gap", out["objective"] - out["objective"].min())
    front = ["objective", "gap", "evaluations", "converged", "seconds", "warnings", "error"]
    return out[front + [c for c in out.columns if c not in front]]

