"""Live R through rpy2: lme4 references computed in-process, in the fixtures' schema.

The R code is the one that writes the stored fixtures (``parity/r/lmer_reference.R``,
sourced with ``parity/r/io.R``), so a live reference and a stored fixture differ only by
what changed in the R installation (reported as *drift* by :mod:`parity.run`).

Live mode also asks R for its devfun at interlace's θ̂ (label ``py_theta_hat``), so the
objective can be checked in both directions: ours at R's θ and R's at ours.
"""

from __future__ import annotations

import json
from functools import cache

from parity.data import case_data_files
from parity.rscript import R_DIR

PY_THETA_LABEL = "py_theta_hat"


def unavailable_reason() -> str:
    """Why live mode cannot run here ('' when it can): rpy2, R, lme4, lmerTest, digest."""
    try:
        import rpy2.robjects as ro  # noqa: F401  (starts the embedded R)
    except Exception as exc:  # ImportError, or R not found by rpy2
        return f"rpy2 cannot start R ({type(exc).__name__}: {exc})"
    missing = [p for p in ("lme4", "lmerTest", "jsonlite", "digest")
               if not _r_has_package(p)]
    return f"R packages missing: {', '.join(missing)}" if missing else ""


def _r_has_package(name: str) -> bool:
    import rpy2.robjects as ro
    return bool(ro.r(f'isTRUE(requireNamespace("{name}", quietly = TRUE))')[0])


@cache
def _session():
    """Source the reference code once per process; return rpy2's ``robjects``."""
    import rpy2.robjects as ro
    ro.r["source"](str(R_DIR / "io.R"))
    ro.r["source"](str(R_DIR / "lmer_reference.R"))
    return ro


def request(case: dict, extra_theta: list[dict] | None = None) -> dict:
    """The request lmer_reference() takes (the same one parity.fixtures writes)."""
    return {
        "id": case["id"],
        "dataset": case["dataset"],
        "formula": case["formula"],
        "REML": case["method"] == "REML",
        "weights": case.get("weights"),
        "offset": case.get("offset"),
        "contrasts": case.get("contrasts"),
        "contrasts_default": case.get("contrasts_default"),
        "r_optimizer": case.get("r_optimizer"),
        **case_data_files(case),
        "extra_theta": extra_theta or [],
    }


def reference(case: dict, py_theta=None) -> dict:
    """Fit ``case`` in the embedded R; with ``py_theta``, also R's devfun at that θ."""
    ro = _session()
    extra = None if py_theta is None else [{"label": PY_THETA_LABEL,
                                            "theta": [float(t) for t in py_theta]}]
    text = ro.r["lmer_reference_json"](json.dumps(request(case, extra)), str(R_DIR))[0]
    return json.loads(text)


def versions() -> dict:
    """R-side versions of the live session (same keys as a fixture's provenance)."""
    ro = _session()
    code = ('c(R = R.version.string, lme4 = as.character(packageVersion("lme4")), '
            'lmerTest = as.character(packageVersion("lmerTest")), '
            'Matrix = as.character(packageVersion("Matrix")), '
            'pbkrtest = if (requireNamespace("pbkrtest", quietly = TRUE)) '
            'as.character(packageVersion("pbkrtest")) else "not installed")')
    vals = ro.r(code)
    return dict(zip(vals.names, list(vals), strict=True))
