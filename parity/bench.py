"""``nox -s bench``: interlace vs lme4 on the same models, in one run.

Times the whole ``interlace.fit`` call and the whole ``lme4::lmer`` call (data
already in memory on both sides), reports medians and the ratio lme4/ours, and
writes ``reports/bench.json`` and ``reports/bench.md``.  Nothing here asserts a
timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import interlace
from parity.catalog import load_catalog
from parity.data import DATA_DIR, load_dataset
from parity.diag_fixtures import bench_sleepstudy

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports"
#: (case id, repetitions): the issue's targets are on these models
DEFAULT = [("sleepstudy_slopes_reml", 15), ("penicillin_crossed", 15), ("pastes_nested", 15),
           ("machines_factor_slope", 7), ("insteval_ml", 3)]


def time_python(case: dict, reps: int) -> list[float]:
    """Per-fit wall times of ``reps`` samples, each a batch of whole ``interlace.fit`` calls.

    As on the R side, each sample times a batch of fits lasting at least 0.2 s (after
    one warm-up), so both sides are measured the same way.
    """
    data = load_dataset(case["dataset"])
    kw = dict(method=case["method"], optimizer=case.get("optimizer", "bobyqa"))
    if case.get("weights"):
        kw["weights"] = case["weights"]
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        interlace.fit(case["formula"], data, **kw)
        inner = max(1, int(np.ceil(0.2 / max(time.perf_counter() - t0, 1e-6))))
        for _ in range(reps):
            t0 = time.perf_counter()
            for _ in range(inner):
                interlace.fit(case["formula"], data, **kw)
            out.append((time.perf_counter() - t0) / inner)
    return out


def time_r(cases: list[tuple[dict, int]]) -> dict:
    """Median lme4 times from one Rscript run."""
    req = [dict(id=c["id"], formula=c["formula"], REML=c["method"] == "REML",
                weights=c.get("weights"), reps=reps,
                data_csv=str(DATA_DIR / f"{c['dataset']}.csv"),
                data_json=str(DATA_DIR / f"{c['dataset']}.json")) for c, reps in cases]
    with tempfile.TemporaryDirectory() as tmp:
        rq, out = Path(tmp, "req.json"), Path(tmp, "out.json")
        rq.write_text(json.dumps(req))
        subprocess.run(["Rscript", str(ROOT / "parity" / "r" / "bench.R"), str(rq), str(out)],
                       check=True)
        return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--case", action="append", help="case id (repeatable)")
    ap.add_argument("--reps", type=int, help="override repetitions")
    args = ap.parse_args(argv)
    catalog = {c["id"]: c for c in load_catalog()["cases"]}
    plan = [(cid, reps) for cid, reps in DEFAULT if not args.case or cid in args.case]
    plan += [(cid, 10) for cid in args.case or [] if cid not in dict(DEFAULT)]
    plan = [(catalog[cid], args.reps or reps) for cid, reps in plan if cid in catalog]
    rows = []
    for case, reps in plan:
        py = time_python(case, reps)
        rows.append(dict(case=case["id"], reps=reps, python_median_s=statistics.median(py)))
    r = time_r(plan)
    for row, rc in zip(rows, r["cases"], strict=True):
        row["lme4_median_s"] = rc["median_seconds"]
        row["ratio_lme4_over_ours"] = rc["median_seconds"] / row["python_median_s"]
    deletion = None
    if not args.case or "diag_sleepstudy" in args.case:
        deletion = bench_sleepstudy(reps=3)
    env = dict(python=platform.python_version(), numpy=np.__version__,
               interlace=interlace.__version__, R=r["R"], lme4=r["lme4"],
               machine=platform.machine(), cpus=os.cpu_count() or 0)
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "bench.json").write_text(json.dumps(dict(environment=env, cases=rows,
                                                        deletion=deletion), indent=1))
    lines = ["| case | reps | interlace median (ms) | lme4 median (ms) | lme4 / interlace |",
             "|---|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['case']} | {row['reps']} | {1e3 * row['python_median_s']:.2f} | "
                     f"{1e3 * row['lme4_median_s']:.2f} | {row['ratio_lme4_over_ours']:.1f}× |")
    if deletion:
        lines += ["", "| exact case deletion | refits | interlace (ms) | lme4 influence() (ms) | "
                  "lme4 / interlace |", "|---|---:|---:|---:|---:|",
                  f"| sleepstudy, every observation | {deletion['refits']} | "
                  f"{1e3 * deletion['interlace_seconds']:.1f} | "
                  f"{1e3 * deletion['lme4_influence_seconds']:.0f} | {deletion['ratio']:.0f}× |"]
    text = "\n".join(lines)
    (REPORTS / "bench.md").write_text(f"# interlace vs lme4\n\n{json.dumps(env)}\n\n{text}\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
