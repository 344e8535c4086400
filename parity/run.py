"""``nox -s parity``: certify interlace against lme4, live through rpy2 or from fixtures.

For every selected catalog case: fit with interlace, recompute every quantity at
lme4's θ̂, and compare both against lme4's reference (see :mod:`parity.compare`):

* **live** mode (R with lme4 and lmerTest found through rpy2): lme4 fits the case now,
  in-process, with the same R code that wrote the fixtures, and also evaluates its devfun
  at our θ̂; the report shows the drift between live R and the stored fixture;
* **stored** mode: ``fixtures/r/<case>.json`` (committed with their provenance).

``--mode auto`` (default) picks live when it can and says which.  Reports:
``reports/parity.json``, ``parity.md`` and ``parity.html``.  Exit status 1 when any
case fails.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import scipy
from tqdm import tqdm

import interlace
from parity import live
from parity.catalog import load_catalog
from parity.compare import CLASS_REASONS, case_passed, classify, compare_case, drift
from parity.conventions import CONVENTIONS
from parity.data import load_dataset
from parity.html import write_html
from parity.pyside import fit_case, r_canonical, run_case

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


def resolve_mode(requested: str) -> tuple[str, str]:
    """(mode, why): live when requested or available, stored otherwise."""
    if requested == "stored":
        return "stored", "stored fixtures requested (--mode stored)"
    reason = live.unavailable_reason()
    if not reason:
        return "live", "R, lme4 and lmerTest found through rpy2"
    if requested == "live":
        raise SystemExit(f"--mode live: {reason}")
    return "stored", f"live R unavailable: {reason}"


def environment(mode: str, why: str, manifest: dict) -> dict:
    """Versions on both sides; R side from the live session or the fixtures' manifest."""
    stored = next(iter(manifest["cases"].values()), {})
    r_side = live.versions() if mode == "live" else {
        k: stored.get(k) for k in ("R", "lme4", "lmerTest", "Matrix")}
    blas = ""
    try:
        cfg = np.show_config(mode="dicts")
        blas = f'{cfg["Build Dependencies"]["blas"]["name"]} ' \
               f'{cfg["Build Dependencies"]["blas"].get("version", "")}'.strip()
    except Exception:  # pragma: no cover - depends on numpy build
        pass
    env = {"mode": mode, "mode_reason": why, "python": platform.python_version(),
           "numpy": np.__version__, "scipy": scipy.__version__, "blas": blas,
           "interlace": interlace.__version__, **r_side,
           "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if mode == "live":
        env["stored_fixtures"] = ", ".join(
            f"{k} {stored.get(k)}" for k in ("R", "lme4", "lmerTest", "Matrix"))
    return env


def run_one(case: dict, mode: str) -> dict:
    """Compare one case in the given mode; live mode adds drift against the fixture."""
    data = load_dataset(case["dataset"])
    path = FIXTURES / f"{case['id']}.json"
    stored = json.loads(path.read_text()) if path.exists() else None
    entry: dict = {"case": case["id"], "mode": mode,
                   "exempt_optimum": case.get("exempt_optimum", "")}
    if mode == "live":
        res = fit_case(case, data)
        fx = live.reference(case, res.theta)
        py_opt, py_at_r, _ = run_case(case, fx, data, res)
    else:
        if stored is None:
            raise FileNotFoundError(f"no stored fixture {path.name} (run nox -s fixtures)")
        fx = stored
        py_opt, py_at_r, _ = run_case(case, fx, data)
    qs = compare_case(py_opt, py_at_r, r_canonical(fx), exempt_optimum=entry["exempt_optimum"])
    entry.update(passed=case_passed(qs), classification=classify(qs),
                 quantities=[q.as_dict() for q in qs])
    if mode == "live" and stored is not None:
        now = r_canonical(fx)
        now["devfun_at"].pop(live.PY_THETA_LABEL, None)
        entry["drift"] = drift(now, r_canonical(stored))
    return entry


def run(cases: list[dict], mode: str) -> list[dict]:
    """Every case, with a progress bar (on a terminal) and one line per case."""
    out = []
    bar = tqdm(cases, desc="parity", unit="case", file=sys.stderr, disable=None)
    for i, case in enumerate(bar, 1):
        bar.set_postfix_str(case["id"])
        t0 = time.perf_counter()
        try:
            entry = run_one(case, mode)
        except Exception as exc:  # a case that cannot run is a failure, reported as such
            entry = {"case": case["id"], "passed": False, "mode": mode,
                     "classification": f"error: {type(exc).__name__}: {exc}",
                     "quantities": []}
        entry["seconds"] = time.perf_counter() - t0
        out.append(entry)
        worst = max((d["max_rel_diff"] or 0.0 for d in entry.get("drift", [])), default=None)
        extra = "" if worst is None else f"  drift vs stored {worst:.1e}"
        mark = "PASS" if entry["passed"] else "FAIL"
        tqdm.write(f"[{i:>2}/{len(cases)}] {mark} {case['id']:<28} {entry['seconds']:6.2f}s  "
                   f"{entry['classification']}{extra}")
    return out


def markdown(env: dict, results: list[dict]) -> str:
    """Summary table: case × quantity → worst error, tolerance, verdict."""
    lines = ["# interlace ↔ lme4 parity", "",
             f"Mode: **{env['mode']}** ({env['mode_reason']}).", "",
             "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()
                                         if k not in ("mode", "mode_reason")), "",
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
    drifted = [(r["case"], d) for r in results for d in r.get("drift", [])
               if d["missing"] or (d["max_rel_diff"] or 0.0) > 0.0]
    if any("drift" in r for r in results):
        lines += ["", "## Drift: live R against the stored fixtures", ""]
        lines += [f"- {c} / {d['name']}: max rel diff {d['max_rel_diff']}, missing "
                  f"{d['missing'] or '—'}" for c, d in drifted] or ["None: live R reproduces "
                                                                  "every stored number."]
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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", help="case id (repeatable)")
    ap.add_argument("--tag", action="append", help="catalog tag (repeatable)")
    ap.add_argument("--level", default="all", choices=["quick", "full", "all"])
    ap.add_argument("--mode", default="auto", choices=["auto", "live", "stored"])
    ap.add_argument("--reports", type=Path, default=REPORTS, help="output directory")
    args = ap.parse_args(argv)
    cases = select(load_catalog()["cases"], args.case, args.tag, args.level)
    if not cases:
        print("no catalog case matches the selection", file=sys.stderr)
        return 2
    mode, why = resolve_mode(args.mode)
    env = environment(mode, why, json.loads((FIXTURES / "MANIFEST.json").read_text()))
    print(f"parity: {len(cases)} cases, mode: {mode} ({why}); lme4 {env['lme4']}, "
          f"{env['R']}", flush=True)
    results = run(cases, mode)
    out = args.reports
    out.mkdir(parents=True, exist_ok=True)
    report = {"environment": env, "cases": results}
    (out / "parity.json").write_text(json.dumps(report, indent=1))
    (out / "parity.md").write_text(markdown(env, results))
    write_html(report, CLASS_REASONS, CONVENTIONS, out / "parity.html")
    n_fail = sum(not r["passed"] for r in results)
    print(f"{len(results) - n_fail} passed, {n_fail} failed (mode: {mode})")
    print(f"reports: {', '.join(str(out / f'parity.{x}') for x in ('json', 'md', 'html'))}")
    return 1 if n_fail else 0


if __name__ == "__main__":
    raise SystemExit(main())
