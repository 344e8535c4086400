"""``nox -s bench``: interlace vs lme4 on the same models, in one run.

Times the whole ``interlace.fit`` call and the whole ``lme4::lmer`` call, and for GLMM
cases ``interlace.glmer`` against ``lme4::glmer`` (data already in memory on both sides),
reports medians and the ratio lme4/ours, and writes ``reports/bench.json`` and
``reports/bench.md``; then the inference targets (:mod:`parity.bench_inference`:
Kenward–Roger against lmerTest, the bootstrap against ``bootMer``).  sleepstudy and InstEval are
timed again, both sides, beside one competing CPU-bound process (a busy loop): a shared
machine.  Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import interlace
from parity import bench_inference, bench_many
from parity.catalog import load_catalog
from parity.data import DATA_DIR, load_dataset
from parity.diag_fixtures import bench_sleepstudy
from parity.glmm_parity import glmer_kwargs
from parity.glmm_side import case_formula
from parity.pyside import lmm_kwargs

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports"
#: (case id, repetitions): the issue's targets are on these models
DEFAULT = [("sleepstudy_slopes_reml", 15), ("penicillin_crossed", 15), ("pastes_nested", 15),
           ("machines_factor_slope", 7), ("insteval_ml", 5)]
#: GLMM cases (``[[glmm]]``), timed the same way: interlace.glmer against lme4::glmer
GLMM_DEFAULT = [("cbpp_cbind", 15), ("grouseticks", 7), ("contraception", 7),
                ("contraception_agq9", 7), ("epil_slope", 7), ("verbagg", 3)]
#: cases timed again beside one competing CPU-bound process (issue 9)
UNDER_LOAD = ("sleepstudy_slopes_reml", "insteval_ml")


def time_python(case: dict, reps: int) -> list[float]:
    """Per-fit wall times of ``reps`` samples, each a batch of whole ``interlace.fit`` calls.

    As on the R side, each sample times a batch of fits lasting at least 0.2 s (after
    one warm-up), so both sides are measured the same way.
    """
    data = load_dataset(case["dataset"])
    if "family" in case:  # a [[glmm]] case
        kw = glmer_kwargs(case)
        formula, fitter = case_formula(case), interlace.glmer
    else:
        kw = lmm_kwargs(case)
        formula, fitter = case["formula"], interlace.fit
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        fitter(formula, data, **kw)
        inner = max(1, int(np.ceil(0.2 / max(time.perf_counter() - t0, 1e-6))))
        for _ in range(reps):
            t0 = time.perf_counter()
            for _ in range(inner):
                fitter(formula, data, **kw)
            out.append((time.perf_counter() - t0) / inner)
    return out


def time_r(cases: list[tuple[dict, int]]) -> dict:
    """Median lme4 times from one Rscript run."""
    req = [dict(id=c["id"], formula=c["formula"], REML=c.get("method") == "REML",
                weights=c.get("weights"), reps=reps,
                data_csv=str(DATA_DIR / f"{c['dataset']}.csv"),
                data_json=str(DATA_DIR / f"{c['dataset']}.json"),
                **({"kind": "glmm", "family": c["family"], "link": c["link"],
                    "nAGQ": c["nAGQ"], "offset": c.get("offset")} if "family" in c else {}))
           for c, reps in cases]
    with tempfile.TemporaryDirectory() as tmp:
        rq, out = Path(tmp, "req.json"), Path(tmp, "out.json")
        rq.write_text(json.dumps(req))
        subprocess.run(["Rscript", str(ROOT / "parity" / "r" / "bench.R"), str(rq), str(out)],
                       check=True)
        return json.loads(out.read_text())


@contextmanager
def competing_process(active: bool = True) -> Iterator[None]:
    """One CPU-bound process (a busy loop) running for the duration of the block."""
    if not active:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it reach full speed
        yield
    finally:
        proc.kill()
        proc.wait()


def time_both(plan: list[tuple[dict, int]], loaded: bool) -> tuple[list[dict], dict]:
    """interlace then lme4 on each case of ``plan`` in turn (one Rscript per case, so the
    two sides of a ratio are timed seconds apart: this machine's speed drifts over
    minutes), with or without a competing process."""
    rows = []
    with competing_process(loaded):
        for case, reps in plan:
            ours = statistics.median(time_python(case, reps))
            r = time_r([(case, reps)])
            theirs = r["cases"][0]["median_seconds"]
            rows.append(dict(case=case["id"], reps=reps, load=loaded, python_median_s=ours,
                             lme4_median_s=theirs, ratio_lme4_over_ours=theirs / ours))
    return rows, r


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--case", action="append", help="case id (repeatable)")
    ap.add_argument("--reps", type=int, help="override repetitions")
    ap.add_argument("--many", type=int, default=bench_many.N,
                    help="responses of the fit_many timing (0: skip it)")
    ap.add_argument("--no-load", action="store_true",
                    help="skip the runs beside a competing CPU-bound process")
    args = ap.parse_args(argv)
    cat = load_catalog()
    catalog = {c["id"]: c for c in cat["cases"] + cat["glmm"]}
    plan = [(cid, reps) for cid, reps in DEFAULT + GLMM_DEFAULT
            if not args.case or cid in args.case]
    plan += [(cid, 10) for cid in args.case or [] if cid not in dict(DEFAULT + GLMM_DEFAULT)]
    plan = [(catalog[cid], args.reps or reps) for cid, reps in plan if cid in catalog]
    rows, r = time_both(plan, loaded=False)
    loaded_plan = [(c, reps) for c, reps in plan if c["id"] in UNDER_LOAD]
    loaded = [] if args.no_load or not loaded_plan else time_both(loaded_plan, loaded=True)[0]
    idle = {row["case"]: row for row in rows}
    for row in loaded:
        base = idle[row["case"]]
        row["python_slowdown"] = row["python_median_s"] / base["python_median_s"]
        row["lme4_slowdown"] = row["lme4_median_s"] / base["lme4_median_s"]
    deletion = None
    if not args.case or "diag_sleepstudy" in args.case:
        deletion = bench_sleepstudy(reps=3)
    inference = []
    if not args.case or "inference" in args.case:
        with tempfile.TemporaryDirectory() as tmp:
            inference = bench_inference.run(tmp)
    many = None
    if args.many and (not args.case or "fit_many" in args.case):
        with tempfile.TemporaryDirectory() as tmp:
            many = bench_many.run(tmp, args.many)
    env = dict(python=platform.python_version(), numpy=np.__version__,
               interlace=interlace.__version__, R=r["R"], lme4=r["lme4"],
               machine=platform.machine(), cpus=os.cpu_count() or 0)
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "bench.json").write_text(json.dumps(dict(environment=env, cases=rows,
                                                        under_load=loaded, deletion=deletion,
                                                        inference=inference, fit_many=many),
                                                   indent=1))
    lines = ["| case | reps | interlace median (ms) | lme4 median (ms) | lme4 / interlace |",
             "|---|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['case']} | {row['reps']} | {1e3 * row['python_median_s']:.2f} | "
                     f"{1e3 * row['lme4_median_s']:.2f} | {row['ratio_lme4_over_ours']:.1f}× |")
    if loaded:
        lines += ["", "| beside one CPU-bound process | interlace (ms) | slowdown | lme4 (ms) | "
                  "slowdown | lme4 / interlace |", "|---|---:|---:|---:|---:|---:|"]
        for row in loaded:
            lines.append(f"| {row['case']} | {1e3 * row['python_median_s']:.2f} | "
                         f"{row['python_slowdown']:.2f}× | {1e3 * row['lme4_median_s']:.2f} | "
                         f"{row['lme4_slowdown']:.2f}× | {row['ratio_lme4_over_ours']:.1f}× |")
    if deletion:
        lines += ["", "| exact case deletion | refits | interlace (ms) | lme4 influence() (ms) | "
                  "lme4 / interlace |", "|---|---:|---:|---:|---:|",
                  f"| sleepstudy, every observation | {deletion['refits']} | "
                  f"{1e3 * deletion['interlace_seconds']:.1f} | "
                  f"{1e3 * deletion['lme4_influence_seconds']:.0f} | {deletion['ratio']:.0f}× |"]
    if inference:
        lines += ["", "| inference | interlace (ms) | R | R (ms) | R / interlace |",
                  "|---|---:|---|---:|---:|"]
        for row in inference:
            lines.append(f"| {row['task']} | {1e3 * row['python_median_s']:.1f} | "
                         f"{row['r_task']} | {1e3 * row['r_median_s']:.0f} | "
                         f"{row['ratio_r_over_ours']:.0f}× |")
    if many:
        lines += bench_many.lines(many)
    text = "\n".join(lines)
    (REPORTS / "bench.md").write_text(f"# interlace vs lme4\n\n{json.dumps(env)}\n\n{text}\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
