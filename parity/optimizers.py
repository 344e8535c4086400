"""``nox -s optimizers``: every catalog case under every optimizer, against lme4's objective.

Each selected case is fitted with each optimizer interlace offers; our objective is compared
with R's (``objective.value`` of ``fixtures/r/<case>.json``).  Each ``[[glmm]]`` case is
fitted by ``interlace.glmer`` with each pair of stage optimizers in
:data:`GLMM_OPTIMIZERS` (lme4's ``glmerControl(optimizer = c(stage1, stage2))``) against
lme4's default fit (``fixtures/r/glmm/<case>.json``).  A pair passes when ours ≤ R's
+ 1e-6·|R's|; an exception fails it.  Optimizers whose package is missing are reported as
unavailable, with the reason.  Writes ``reports/optimizers.{json,md}``; exit 1 on any FAIL.

``--optimizer module:function`` brings a user's optimizer (``interlace.optimize.register``'s
protocol): it runs beside the built-in ones on every LMM case and, for both glmer stages,
on every GLMM case.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

from tqdm import tqdm

import interlace
from interlace.optimize import available_optimizers, libnlopt, register
from parity.catalog import load_catalog
from parity.data import load_dataset
from parity.run import add_parallel_arguments, parallel_from, select
from parity.run import environment as parity_environment

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "r"
REPORTS = ROOT / "reports"  # module constant: tests point it elsewhere
RTOL = 1e-6
PACKAGES = {"bobyqa": "nlopt", "minqa": "interlace", "pybobyqa": "pybobyqa",
            "nelder_mead": "scipy", "lbfgsb": "scipy"}
#: the built-in LMM optimizers (interlace.optimize.BACKENDS before any registration)
BUILTIN_LMM = ("bobyqa", "minqa", "pybobyqa", "nelder_mead", "lbfgsb")
#: glmer's (stage 1, stage 2) pairs: lme4's default first, then each other stage-2 optimizer
GLMM_OPTIMIZERS = [("bobyqa", "Nelder_Mead"), ("bobyqa", "bobyqa"), ("bobyqa", "nloptwrap"),
                   ("nloptwrap", "nloptwrap"), ("bobyqa", "pybobyqa"),
                   ("bobyqa", "nelder_mead"), ("bobyqa", "lbfgsb")]


def load_optimizer(spec: str) -> str:
    """Import ``module:function`` and register it (interlace.optimize.register) under that
    name; return the name."""
    mod, _, attr = spec.partition(":")
    if not mod or not attr:
        raise SystemExit(f"--optimizer {spec!r}: give a built-in name ({', '.join(BUILTIN_LMM)}) "
                         "or module:function")
    try:
        fn = getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"--optimizer {spec!r}: {type(exc).__name__}: {exc}") from None
    register(spec, fn, replace=True)
    return spec


def optimizer_table(names: list[str]) -> list[dict]:
    """[{name, available, reason, package, version}] for the requested optimizers."""
    usable, out = set(available_optimizers()), []
    for name in names:
        pkg = PACKAGES.get(name) or (name.split(":")[0] if ":" in name else None)
        version, reason = None, ""
        if pkg:
            try:
                version = getattr(importlib.import_module(pkg), "__version__", None)
            except ImportError as exc:
                reason = f"package {pkg!r} not importable: {exc}"
        if name not in usable:
            reason = reason or "not listed by interlace.optimize.available_optimizers()"
        elif name == "bobyqa":
            reason = (f"system libnlopt {libnlopt.version()} (as R's nloptr)"
                      if libnlopt.AVAILABLE else f"nlopt {version} wheel from PyPI")
        elif pkg:
            reason = f"{pkg} {version}"
        out.append({"name": name, "available": name in usable, "reason": reason,
                    "package": pkg, "version": version})
    return out


def environment() -> dict:
    """The parity run's environment (stored fixtures' R side) plus the optimizer packages."""
    manifest = json.loads((FIXTURES / "MANIFEST.json").read_text())
    pkgs = {o["package"]: o["version"] for o in optimizer_table(list(PACKAGES))}
    pkgs["libnlopt (system)"] = libnlopt.version() if libnlopt.AVAILABLE else None
    return {**parity_environment("stored", "objective gaps against the stored fixtures",
                                 manifest), "packages": pkgs}


def glmm_name(pair: tuple[str, str]) -> str:
    """A glmer optimizer pair as the reports name it."""
    return "+".join(pair)


def fit_one(case: dict, data, optimizer: str, r_obj: float) -> dict:
    """Fit ``case`` with ``optimizer`` (for a [[glmm]] case, a :func:`glmm_name`); time the
    fit alone and record its warnings."""
    if "family" in case:
        from parity.glmm_parity import case_formula, glmer_kwargs

        fitter, formula = interlace.glmer, case_formula(case)
        kw = dict(glmer_kwargs(case), optimizer=tuple(optimizer.split("+")))
    else:
        # parity.pyside.fit_case's keyword arguments; called directly to record the warnings
        from parity.pyside import lmm_kwargs

        fitter, formula = interlace.fit, case["formula"]
        kw = dict(lmm_kwargs(case), optimizer=optimizer)
    row = dict.fromkeys(("objective", "gap", "rel_gap", "evaluations", "converged", "error"))
    row.update(case=case["id"], optimizer=optimizer, r_objective=r_obj, passed=False,
               kind="glmm" if "family" in case else "lmm")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0, res = time.perf_counter(), None
        try:
            res = fitter(formula, data, **kw)
        except Exception as exc:  # a fit that raises is a failure, reported as such
            row["error"] = f"{type(exc).__name__}: {exc}"
        row["seconds"] = time.perf_counter() - t0
    row["warnings"] = list(dict.fromkeys(str(w.message) for w in caught))
    if res is not None:
        gap = res.objective - r_obj
        row.update(objective=res.objective, gap=gap, rel_gap=gap / abs(r_obj) if r_obj else gap,
                   evaluations=res.optinfo.n_evals, converged=res.converged,
                   passed=bool(res.objective <= r_obj + RTOL * abs(r_obj)))
    return row


_load = functools.cache(load_dataset)


def fit_pair(item: tuple[dict, str, float]) -> dict:
    """:func:`fit_one` of one (case, optimizer, R's objective): a task of :func:`run`."""
    case, name, r_obj = item
    for part in name.split("+"):  # a user's module:function, registered in this process too
        if ":" in part:
            load_optimizer(part)
    return fit_one(case, _load(case["dataset"]), name, r_obj)


def run(cases: list[dict], names: list[str], glmm: list[dict] = (),
        glmm_pairs: list[tuple[str, str]] = GLMM_OPTIMIZERS, n_jobs: int = 1) -> list[dict]:
    """All (case, optimizer) pairs, with a progress bar and one line per result; then every
    [[glmm]] case with every pair of ``glmm_pairs`` (default :data:`GLMM_OPTIMIZERS`).
    ``n_jobs`` and a Dask backend as :func:`parity.run.run` (the fits' timings are then
    the workers')."""
    from interlace.parallel import imap

    pairs = [glmm_name(p) for p in glmm_pairs]
    plan = ([(c, FIXTURES / f"{c['id']}.json", names) for c in cases]
            + [(g, FIXTURES / "glmm" / f"{g['id']}.json", pairs) for g in glmm])
    items = []
    for case, path, case_names in plan:
        r_obj = json.loads(path.read_text())["objective"]["value"]
        items += [(case, name, r_obj) for name in case_names]
    out = []
    with tqdm(total=len(items), unit="fit") as bar:
        for row in imap(fit_pair, items, n_jobs=n_jobs, chunks_per_worker=8):
            out.append(row)
            bar.update()
            bar.set_postfix_str(f"{row['case']} / {row['optimizer']}")
            what = row["error"] or f"rel gap {row['rel_gap']:+.2e}, {row['evaluations']} evals"
            tqdm.write(f"{'PASS' if row['passed'] else 'FAIL'} {row['case']:<26} "
                       f"{row['optimizer']:<12} {row['seconds']:7.2f}s  {what}")
    return out


def summary(opts: list[dict], results: list[dict]) -> list[dict]:
    """Per optimizer (and glmer optimizer pair that ran): cases passed, worst relative gap,
    median evaluations, total time."""
    out = []
    ran = {r["optimizer"] for r in results if r.get("kind") == "glmm"}
    glmm_opts = [{"name": glmm_name(p), "available": True,
                  "reason": "glmer stages" + (" (lme4's default: its path)"
                                              if p == GLMM_OPTIMIZERS[0] else "")}
                 for p in GLMM_OPTIMIZERS if glmm_name(p) in ran]
    for o in [*opts, *glmm_opts]:
        rows = [r for r in results if r["optimizer"] == o["name"]]
        gaps = [r["rel_gap"] for r in rows if r["rel_gap"] is not None]
        evals = [r["evaluations"] for r in rows if r["evaluations"] is not None]
        out.append({"optimizer": o["name"], "available": o["available"], "n": len(rows),
                    "passed": sum(r["passed"] for r in rows),
                    "errors": sum(r["error"] is not None for r in rows),
                    "not_converged": sum(r["converged"] is False for r in rows),
                    "worst_rel_gap": max(gaps) if gaps else None,
                    "median_evals": statistics.median(evals) if evals else None,
                    "seconds": sum(r["seconds"] for r in rows)})
    return out


def _cell(r: dict) -> str:
    """One cell of the case × optimizer table."""
    if r["error"]:
        return "ERROR FAIL"
    return (f"{r['rel_gap']:+.1e} · {r['evaluations']} ev · {1e3 * r['seconds']:.0f} ms · "
            f"{'pass' if r['passed'] else '**FAIL**'}")


def markdown(env: dict, opts: list[dict], results: list[dict]) -> str:
    """Case × optimizer table, per-optimizer summary, failures, unavailable optimizers."""
    names = [o["name"] for o in opts if o["available"]]
    by = {(r["case"], r["optimizer"]): r for r in results}
    cases = list(dict.fromkeys(r["case"] for r in results if r.get("kind") != "glmm"))
    glmm_cases = list(dict.fromkeys(r["case"] for r in results if r.get("kind") == "glmm"))
    pairs = [glmm_name(p) for p in GLMM_OPTIMIZERS]
    lines = ["# Optimizers against lme4's objective", "",
             "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items() if k != "packages")
             + "; " + ", ".join(f"{k} {v}" for k, v in env["packages"].items()), "",
             f"Cell: (ours − R's)/|R's| · evaluations · fit time · verdict. Pass: ours ≤ R's + "
             f"{RTOL:g}·|R's|. A FAIL is an optimizer stopping above lme4's optimum, "
             "reported even where that optimizer is known to stop early.", "",
             "| case | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {c} | " + " | ".join(_cell(by[c, n]) if (c, n) in by else "—" for n in names)
              + " |" for c in cases]
    if glmm_cases:
        lines += ["", "## GLMMs: glmer's two stages", "",
                  "Each column is a (stage 1 + stage 2) pair of `interlace.glmer(optimizer=)`, "
                  "lme4's `glmerControl(optimizer = )`; R's objective is lme4's default fit "
                  "(bobyqa + Nelder_Mead, whose path interlace retraces).", "",
                  "| case | " + " | ".join(pairs) + " |", "|---|" + "---|" * len(pairs)]
        lines += [f"| {c} | " + " | ".join(_cell(by[c, n]) if (c, n) in by else "—"
                                           for n in pairs) + " |" for c in glmm_cases]
    lines += ["", "## Summary per optimizer", "",
              "| optimizer | passed | errors | not converged | worst rel gap | median evals "
              "| total s | note |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    notes = {o["name"]: o["reason"] for o in opts}
    notes.update({n: "glmer stages" for n in pairs})
    for s in summary(opts, results):
        worst = "—" if s["worst_rel_gap"] is None else f"{s['worst_rel_gap']:+.1e}"
        cells = (f"{s['passed']}/{s['n']} | {s['errors']} | {s['not_converged']} | {worst} | "
                 f"{s['median_evals']} | {s['seconds']:.1f}") if s["available"] else \
            "unavailable | | | | |"
        lines.append(f"| {s['optimizer']} | {cells} | {notes[s['optimizer']]} |")
    bad = [f"- **{r['case']} / {r['optimizer']}**: " + (r["error"] or (
        f"rel gap {r['rel_gap']:+.2e}, converged {r['converged']}; warnings: "
        + ("; ".join(r["warnings"]) or "none"))) for r in results if not r["passed"]]
    lines += ["", "## Failures", "", *bad] if bad else []
    n_pass = sum(r["passed"] for r in results)
    return "\n".join(lines + ["", f"**{n_pass} of {len(results)} pairs pass.**", ""])


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m parity.optimizers``."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--case", action="append", help="case id (repeatable)")
    ap.add_argument("--tag", action="append", help="catalog tag (repeatable)")
    ap.add_argument("--level", default="all", choices=["quick", "full", "all"])
    ap.add_argument("--optimizer", action="append",
                    help="a built-in optimizer, or module:function following interlace."
                         "optimize.register's protocol, run beside the built-in ones "
                         "(repeatable; default: every built-in)")
    add_parallel_arguments(ap)
    args = ap.parse_args(argv)
    with parallel_from(args):
        return _main(args)


def _main(args) -> int:
    given = args.optimizer or []
    bad = [o for o in given if ":" not in o and o not in BUILTIN_LMM]
    if bad:
        raise SystemExit(f"--optimizer {bad[0]!r}: choose from {', '.join(BUILTIN_LMM)} or "
                         "give module:function")
    user = [load_optimizer(o) for o in given if ":" in o]
    builtin = [o for o in given if ":" not in o]
    catalog = load_catalog()
    cases = select(catalog["cases"], args.case, args.tag, args.level)
    glmm = [] if builtin else select(catalog["glmm"], args.case, args.tag, args.level)
    if not cases and not glmm:
        print("no catalog case matches the selection", file=sys.stderr)
        return 2
    opts = optimizer_table((builtin or list(BUILTIN_LMM)) + user)
    for o in (o for o in opts if not o["available"]):
        print(f"optimizer {o['name']} unavailable: {o['reason']}", flush=True)
    env = environment()
    results = run(cases, [o["name"] for o in opts if o["available"]], glmm,
                  [*GLMM_OPTIMIZERS, *((u, u) for u in user)], n_jobs=args.jobs)
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "optimizers.json").write_text(json.dumps(
        {"environment": env, "optimizers": opts, "summary": summary(opts, results),
         "results": results}, indent=1))
    (REPORTS / "optimizers.md").write_text(markdown(env, opts, results))
    n_fail = sum(not r["passed"] for r in results)
    print(f"{len(results) - n_fail} passed, {n_fail} failed; reports: {REPORTS}/optimizers.*")
    return 1 if n_fail else 0


if __name__ == "__main__":
    raise SystemExit(main())
