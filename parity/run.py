"""``nox -s parity``: certify interlace against lme4's stored references.

For every selected catalog case: fit with interlace, recompute every quantity at
lme4's θ̂, compare both against ``fixtures/r/<case>.json`` (see
:mod:`parity.compare`), and write ``reports/parity.json`` and
``reports/parity.md``.  Exit status 1 when any case fails.

Mode: stored fixtures (the R references committed with their provenance).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy

import interlace
from parity.catalog import load_catalog
from parity.compare import CLASS_REASONS, case_passed, classify, compare_case
from parity.pyside import r_canonical, run_case

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "r"
REPORTS = ROOT / "reports"


def select(cases: list[dict], ids, tags, level) -> list[dict]:
    """Cases matching --case / --tag / --level (all when none given)."""
    out = []
    for c in cases:
        if ids and c["id"] not in ids:
            continue
        if tags and not set(tags) & set(c["tags"]):
            continue
        if level and level != "all" and c["level"] != level:
            continue
        out.append(c)
    return out


def environment(manifest: dict) -> dict:
    """Versions on both sides (R side from the fixtures' manifest)."""
    r_side = next(iter(manifest["cases"].values()), {})
    blas = ""
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]["name"]
    except Exception:  # pragma: no cover - depends on numpy build
        pass
    return {"mode": "stored fixtures", "python": platform.python_version(),
            "numpy": np.__version__, "scipy": scipy.__version__, "blas": blas,
            "interlace": interlace.__version__,
            **{k: r_side.get(k) for k in ("R", "lme4", "lmerTest", "Matrix")}}


def run(cases: list[dict]) -> list[dict]:
    """Compare every case; print one progress line per case."""
    out = []
    for i, case in enumerate(cases, 1):
        fx = json.loads((FIXTURES / f"{case['id']}.json").read_text())
        t0 = time.perf_counter()
        try:
            py_opt, py_at_r, _ = run_case(case, fx)
            qs = compare_case(py_opt, py_at_r, r_canonical(fx),
                              exempt_optimum=case.get("exempt_optimum", ""))
            entry = {"case": case["id"], "passed": case_passed(qs), "mode": "stored",
                     "classification": classify(qs),
                     "exempt_optimum": case.get("exempt_optimum", ""),
                     "quantities": [q.as_dict() for q in qs]}
        except Exception as exc:  # a case that cannot run is a failure, reported as such
            entry = {"case": case["id"], "passed": False, "mode": "stored",
                     "classification": f"error: {type(exc).__name__}: {exc}", "quantities": []}
        entry["seconds"] = time.perf_counter() - t0
        out.append(entry)
        mark = "PASS" if entry["passed"] else "FAIL"
        print(f"[{i:>2}/{len(cases)}] {mark} {case['id']:<28} {entry['seconds']:6.2f}s  "
              f"{entry['classification']}", flush=True)
    return out


def markdown(env: dict, results: list[dict]) -> str:
    """Summary table: case × quantity → worst error, tolerance, verdict."""
    lines = ["# interlace ↔ lme4 parity", "", "Environment: " + ", ".join(
        f"{k} {v}" for k, v in env.items()), "",
        "| case | quantity | n | max abs err | max rel err | atol | rtol | class | result |",
        "|---|---|---:|---:|---:|---:|---:|---|---|"]
    for res in results:
        for q in res["quantities"]:
            verdict = "pass" if q["passed"] else ("FAIL" if q["gating"] else "differs (exempt)")
            lines.append(f"| {res['case']} | {q['name']} | {q['n']} | {q['max_abs_err']:.2e} | "
                         f"{q['max_rel_err']:.2e} | {q['atol']:.1e} | {q['rtol']:.0e} | "
                         f"{q['class']} | {verdict} |")
        if not res["quantities"]:
            lines.append(f"| {res['case']} | — | | | | | | | {res['classification']} |")
    lines += ["", "## Tolerance classes", ""]
    lines += [f"- **{k}**: {v}" for k, v in CLASS_REASONS.items()]
    exempt = [r for r in results if r.get("exempt_optimum")]
    if exempt:
        lines += ["", "## Exempted optimum blocks", ""]
        lines += [f"- **{r['case']}**: {r['exempt_optimum']}" for r in exempt]
    n_pass = sum(r["passed"] for r in results)
    lines += ["", f"**{n_pass} of {len(results)} cases pass.**", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m parity.run``."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--case", action="append", help="case id (repeatable)")
    ap.add_argument("--tag", action="append", help="catalog tag (repeatable)")
    ap.add_argument("--level", default="all", choices=["quick", "full", "all"])
    args = ap.parse_args(argv)
    cases = select(load_catalog()["cases"], args.case, args.tag, args.level)
    if not cases:
        print("no catalog case matches the selection", file=sys.stderr)
        return 2
    manifest = json.loads((FIXTURES / "MANIFEST.json").read_text())
    env = environment(manifest)
    print(f"parity: {len(cases)} cases, mode: stored fixtures (lme4 {env['lme4']}, "
          f"{env['R']})", flush=True)
    results = run(cases)
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "parity.json").write_text(json.dumps({"environment": env, "cases": results},
                                                    indent=1))
    (REPORTS / "parity.md").write_text(markdown(env, results))
    n_fail = sum(not r["passed"] for r in results)
    print(f"{len(results) - n_fail} passed, {n_fail} failed")
    print(f"reports: {REPORTS / 'parity.json'}, {REPORTS / 'parity.md'}")
    return 1 if n_fail else 0


if __name__ == "__main__":
    raise SystemExit(main())
