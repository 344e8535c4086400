"""The ``fit_many`` part of ``nox -s bench``: one design, many responses, in one run.

2,000 responses simulated from lme4's sleepstudy model ``Reaction ~ Days + (Days |
Subject)`` (180 rows, 18 subjects; R's ``simulate(m, 2000, seed = 2026)`` draws) are
fitted by

* ``interlace.fit_many(..., engine="exact")`` (each response on lme4's optimizer path) and
  ``engine="newton"`` (all together), serially and on a 2-worker Dask ``LocalCluster``
  (the cluster started outside the timing);
* a loop of ``interlace.fit`` + ``coef_table()`` (the same table, one fit at a time);
* in R (:file:`parity/r/bench_many.R`): a loop of ``lme4::lmer`` (no df, no p), a loop of
  ``lmerTest::lmer`` + ``coef(summary(m))`` (the table ``fit_many`` returns), and a loop
  of ``lme4::refit(m, y)``.

Each timing is one pass over all responses (they are long); the ratios are per response.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import interlace
from parity.data import DATA_DIR, load_dataset
from parity.rscript import run_r_json

DATASET, RHS, N, SEED = "sleepstudy", "~ Days + (Days | Subject)", 2000, 2026


def _seconds(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _fit_loop(data: pd.DataFrame, Y: pd.DataFrame) -> None:
    for name in Y.columns:
        interlace.fit(".y " + RHS, data.assign(**{".y": Y[name]})).coef_table()


def time_python(data: pd.DataFrame, Y: pd.DataFrame, workers: int = 2) -> dict:
    """Seconds of each Python way over all of ``Y``'s responses, and whether the cluster's
    frames equal the serial ones."""
    import joblib
    from dask.distributed import Client, LocalCluster

    out: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interlace.fit_many(RHS, data, Y.iloc[:, :8], engine="newton")  # warm-up (imports)
        out["exact"], exact = _seconds(lambda: interlace.fit_many(RHS, data, Y))
        out["newton"], newton = _seconds(
            lambda: interlace.fit_many(RHS, data, Y, engine="newton"))
        out["fit_loop"], _ = _seconds(lambda: _fit_loop(data, Y))
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None, silence_logs=40) as cluster, \
                Client(cluster), joblib.parallel_config(backend="dask"):
            for engine in ("exact", "newton"):  # workers warm (imports, compiled kernels)
                interlace.fit_many(RHS, data, Y.iloc[:, :8], engine=engine)
            out["exact_cluster"], ec = _seconds(lambda: interlace.fit_many(RHS, data, Y))
            out["newton_cluster"], nc = _seconds(
                lambda: interlace.fit_many(RHS, data, Y, engine="newton"))
    out["cluster_equals_serial"] = bool(ec.equals(exact) and nc.equals(newton))
    out["newton_engine_rows"] = int((newton["engine"] == "newton").sum())
    out["newton_max_rel_diff_se"] = float(np.nanmax(np.abs(
        newton.filter(like="se[").to_numpy() / exact.filter(like="se[").to_numpy() - 1)))
    return out


def run(tmp_dir, n: int = N) -> dict:
    """Both sides in one run; the rows of the bench report."""
    data = load_dataset(DATASET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = interlace.fit("Reaction " + RHS, data)
    Y = pd.DataFrame(m.simulate(n, seed=SEED), index=data.index,
                     columns=[f"y{j + 1}" for j in range(n)])
    csv = Path(tmp_dir) / "responses.csv"
    Y.to_csv(csv, index=False, float_format="%.17g")
    py = time_python(data, Y)
    r = json.loads(run_r_json("bench_many.R", {
        "data_dir": str(DATA_DIR), "dataset": DATASET, "formula": RHS,
        "responses_csv": str(csv), "n": {"lme4": n, "lmerTest": n, "refit": n}},
        Path(tmp_dir) / "bench_many.json", label="bench_many").read_text())
    per = {k: py[k] / n for k in ("exact", "newton", "exact_cluster", "newton_cluster",
                                  "fit_loop")}
    rs = r["seconds_per_response"]
    rows = []
    for key, what in (("exact", "fit_many, exact engine"), ("newton", "fit_many, Newton engine"),
                      ("exact_cluster", "fit_many, exact, 2-worker LocalCluster"),
                      ("newton_cluster", "fit_many, Newton, 2-worker LocalCluster"),
                      ("fit_loop", "loop of interlace.fit + coef_table()")):
        rows.append({"task": what, "seconds_per_response": per[key],
                     "ratio_lmerTest_loop": rs["lmerTest"] / per[key],
                     "ratio_lme4_loop": rs["lme4"] / per[key],
                     "ratio_refit_loop": rs["refit"] / per[key],
                     "ratio_our_fit_loop": per["fit_loop"] / per[key]})
    return {"responses": n, "design": f"{DATASET} {RHS}", "rows": rows,
            "r_seconds_per_response": rs, "R": r["R"], "lme4": r["lme4"],
            "lmerTest": r["lmerTest"], "cluster_speedup_exact": py["exact"] / py["exact_cluster"],
            "cluster_speedup_newton": py["newton"] / py["newton_cluster"],
            "cluster_equals_serial": py["cluster_equals_serial"],
            "newton_engine_rows": py["newton_engine_rows"],
            "newton_max_rel_diff_se": py["newton_max_rel_diff_se"]}


def lines(res: dict) -> list[str]:
    """The bench report's table."""
    rs = res["r_seconds_per_response"]
    out = ["", f"fit_many: {res['responses']} responses of {res['design']} (R per response: "
           f"lme4::lmer {1e3 * rs['lme4']:.1f} ms, lmerTest::lmer + summary "
           f"{1e3 * rs['lmerTest']:.1f} ms, lme4::refit {1e3 * rs['refit']:.1f} ms)", "",
           "| way | ms per response | lmerTest loop / it | lme4 loop / it | refit loop / it "
           "| our fit loop / it |", "|---|---:|---:|---:|---:|---:|"]
    for row in res["rows"]:
        out.append(f"| {row['task']} | {1e3 * row['seconds_per_response']:.2f} | "
                   f"{row['ratio_lmerTest_loop']:.1f}× | {row['ratio_lme4_loop']:.1f}× | "
                   f"{row['ratio_refit_loop']:.1f}× | {row['ratio_our_fit_loop']:.1f}× |")
    out += ["", f"2-worker LocalCluster against serial: exact {res['cluster_speedup_exact']:.2f}×, "
            f"Newton {res['cluster_speedup_newton']:.2f}×; frames identical to serial: "
            f"{res['cluster_equals_serial']}; Newton settled {res['newton_engine_rows']} of "
            f"{res['responses']} (max relative SE difference from the exact engine "
            f"{res['newton_max_rel_diff_se']:.1e})"]
    return out
