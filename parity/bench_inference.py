"""The inference part of ``nox -s bench``: interlace against lmerTest/pbkrtest and lme4 on
the issue's two targets, in one run (models fitted first on both sides, outside the
timings; the median of a few repetitions):

* Kenward–Roger: ``res.coef_table("Kenward-Roger")`` (its vcovAdj computed afresh each
  time) against lmerTest's ``summary(m, ddf = "Kenward-Roger")`` on Hsb82
  ``mAch ~ meanses * cses + sector + (cses | school)`` (n = 7185);
* parametric bootstrap: ``res.bootstrap(1000, seed, fun=fixed effects)`` against
  ``bootMer(m, fixef, nsim = 1000, seed)`` on sleepstudy ``Reaction ~ Days + (Days |
  Subject)`` (correct REML refits on our side; lme4 1.1-31 refits its own criterion).
"""

from __future__ import annotations

import statistics
import time
import warnings

import interlace
from parity.data import DATA_DIR, load_dataset
from parity.rscript import run_r_json

KR = {"dataset": "Hsb82", "formula": "mAch ~ meanses * cses + sector + (cses | school)",
      "reps": 3}
BOOT = {"dataset": "sleepstudy", "formula": "Reaction ~ Days + (Days | Subject)",
        "nsim": 1000, "seed": 1, "reps": 3}


def _times(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def time_python() -> dict:
    """Median seconds of our two computations."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kr = interlace.fit(KR["formula"], load_dataset(KR["dataset"]))

        def kr_table():
            kr.__dict__.pop("kenward_roger", None)  # vcovAdj afresh, as lmerTest does
            return kr.coef_table("Kenward-Roger")

        bm = interlace.fit(BOOT["formula"], load_dataset(BOOT["dataset"]))
        kr_table()  # warm-up (imports)
        kr_s = _times(kr_table, KR["reps"])
        boot_s = _times(lambda: bm.bootstrap(BOOT["nsim"], seed=BOOT["seed"],
                                             fun=lambda r: r.fe_params), BOOT["reps"])
    return {"kr_seconds": kr_s, "boot_seconds": boot_s}


def run(tmp_dir) -> list[dict]:
    """Both sides, one run; rows for the bench report."""
    from pathlib import Path

    ours = time_python()
    r = run_r_json("bench_inference.R", {"data_dir": str(DATA_DIR), "kr": KR, "boot": BOOT},
                   Path(tmp_dir) / "bench_inference.json", label="bench_inference")
    import json

    theirs = json.loads(Path(r).read_text())
    rows = []
    for key, what, r_what in (
            ("kr", "Kenward-Roger coef_table, Hsb82 (n = 7185)",
             'lmerTest summary(m, ddf = "Kenward-Roger")'),
            ("boot", f"bootstrap, {BOOT['nsim']} refits, sleepstudy",
             f"bootMer(m, fixef, nsim = {BOOT['nsim']})")):
        py = statistics.median(ours[f"{key}_seconds"])
        rr = statistics.median(theirs[f"{key}_seconds"])
        rows.append({"task": what, "r_task": r_what, "python_median_s": py,
                     "r_median_s": rr, "ratio_r_over_ours": rr / py,
                     "python_seconds": ours[f"{key}_seconds"],
                     "r_seconds": theirs[f"{key}_seconds"]})
    return rows
