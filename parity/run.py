"""``nox -s parity``: certify interlace against lme4, live through rpy2 or from fixtures.

For every selected catalog case: fit with interlace, recompute every quantity at
lme4's θ̂, and compare both against lme4's reference (see :mod:`parity.compare`):

* **live** mode (R with lme4 and lmerTest found through rpy2): lme4 fits the case now,
  in-process, with the same R code that wrote the fixtures, and also evaluates its devfun
  at our θ̂; the report shows the drift between live R and the stored fixture;
* **stored** mode: ``fixtures/r/<case>.json`` (committed with their provenance).

Then every selected ``[[glmm]]`` case (:mod:`parity.glmm_parity`: interlace.glmer
against lme4::glmer, at lme4's parameters and at the optimum; live or stored as above,
``fixtures/r/glmm/<case>.json``).  Then every selected ``[[diagnostics]]`` entry
(:mod:`parity.diag`): influence diagnostics against HLMdiag (always the stored fixtures:
HLMdiag is not in Debian) and lme4's ``influence.merMod`` (live in live mode), with the
Cook's distance conventions labelled.
An entry's quick/full level is its model case's.  Then the inference references of issue
11 (:mod:`parity.inference`: Kenward–Roger, lmerTest's F tests, LS-means, drop1, lme4's
anova, simulate, R's random numbers, the bootstrap; live mode re-runs their R scripts),
unless cases are selected by id or tag (their ids select them too) or ``--no-inference``
is given.  Then the bad-input catalog
(:mod:`parity.robustness`; lme4's outcomes recorded now in live mode), unless cases are
selected by id or tag or ``--no-robustness`` is given.

``--mode auto`` (default) picks live when it can and says which.  Reports:
``reports/parity.json``, ``parity.md`` and ``parity.html``.  Exit status 1 when any
case fails.
"""

from __future__ import annotations

import argparse
import contextlib
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
from parity import inference, live, progress, robustness
from parity.catalog import load_catalog
from parity.compare import CLASS_REASONS, case_passed, classify, compare_case, drift, worst_drift
from parity.conventions import CONVENTIONS
from parity.data import case_data, case_fixtures_dir
from parity.diag import COOKS_CONVENTIONS, entry_level, run_diag_entry
from parity.glmm_parity import run_glmm_case
from parity.html import binding_text, missing_text, verdict_text, write_html
from parity.optimum_floor import objective_tolerance
from parity.pyside import fit_case, r_canonical, run_case

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "r"
DIAG_MANIFEST = FIXTURES / "diag" / "MANIFEST.json"
REPORTS = ROOT / "reports"


def select(cases: list[dict], ids, tags, level, level_of=None) -> list[dict]:
    """Cases matching --case / --tag / --level (all when none given); ``level_of(case)``
    gives a case's quick/full level (default: its ``level`` key)."""
    out = []
    for c in cases:
        if ids and c["id"] not in ids:
            continue
        if tags and not set(tags) & set(c["tags"]):
            continue
        lv = c["level"] if level_of is None else level_of(c)
        if level and level != "all" and lv != level:
            continue
        out.append(c)
    return out


def select_diagnostics(entries: list[dict], ids, tags, level) -> list[dict]:
    """Diagnostics entries matching --case / --tag / --level: the tag "diagnostics" selects
    them all; their level is their model case's (:func:`parity.diag.entry_level`)."""
    return [e for e in entries
            if select([dict(e, tags=[*e["tags"], "diagnostics"])], ids, tags, level, entry_level)]


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
    if mode != "live" and (FIXTURES / "kr.json").exists():
        r_side["pbkrtest"] = json.loads((FIXTURES / "kr.json").read_text())[
            "provenance"].get("pbkrtest")
    r_side["R"] = r_version(r_side.get("R"))
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
    if mode == "live" and stored:
        env["stored_fixtures"] = ", ".join(
            f"{k} {r_version(stored.get(k)) if k == 'R' else stored.get(k)}"
            for k in ("R", "lme4", "lmerTest", "Matrix"))
    rec = stored_hlmdiag()
    if rec:
        env["HLMdiag"] = (f"{rec['HLMdiag']} (commit {rec['HLMdiag_commit'][:7]}; "
                          f"stored fixtures, R {rec['R'].split()[2]})")
    return env


def r_version(text: str | None) -> str | None:
    """``R.version.string`` without its leading "R version " (the key already says R)."""
    return text[len("R version "):] if text and text.startswith("R version ") else text


def stored_hlmdiag() -> dict | None:
    """The provenance of the stored HLMdiag fixtures (HLMdiag is not in Debian), or None."""
    if not DIAG_MANIFEST.exists():
        return None
    recs = [r for e in json.loads(DIAG_MANIFEST.read_text())["entries"].values()
            for r in e.values() if "HLMdiag" in r]
    return recs[0] if recs else None


def lmm_entry(case: dict, fx: dict, data, mode: str, res=None,
              floor: dict | None = None) -> dict:
    """The report entry of an LMM case against its R fixture ``fx`` (``res``: our fit, if
    already made; ``floor``: lme4's own floor, else the stored one of an exempted case)."""
    entry: dict = {"case": case["id"], "kind": "lmm", "mode": mode,
                   "exempt_optimum": case.get("exempt_optimum", "")}
    py_opt, py_at_r, _ = run_case(case, fx, data, res)
    qs = compare_case(py_opt, py_at_r, r_canonical(fx), exempt_optimum=entry["exempt_optimum"],
                      objective_tol=objective_tolerance(case, fx["objective"]["value"], floor))
    entry.update(passed=case_passed(qs), classification=classify(qs),
                 quantities=[q.as_dict() for q in qs])
    return entry


def run_one(case: dict, mode: str) -> dict:
    """Compare one case in the given mode; live mode adds drift against the fixture."""
    data = case_data(case)
    path = case_fixtures_dir(case) / f"{case['id']}.json"
    stored = json.loads(path.read_text()) if path.exists() else None
    if mode == "live":
        with progress.side("Python", "interlace.fit"):
            res = fit_case(case, data)
        with progress.side("R", "lme4::lmer"):
            fx = live.reference(case, res.theta)
        entry = lmm_entry(case, fx, data, mode, res)
    else:
        if stored is None:
            raise FileNotFoundError(f"no stored fixture {path.name} (run nox -s fixtures)")
        fx = stored
        entry = lmm_entry(case, fx, data, mode)
    if mode == "live" and stored is not None:
        now = r_canonical(fx)
        now["devfun_at"].pop(live.PY_THETA_LABEL, None)
        entry["drift"] = drift(now, r_canonical(stored))
    return entry


def _glmm_runner(case: dict, mode: str) -> dict:
    return run_glmm_case(case, mode, case_fixtures_dir(case) / "glmm")


def _inference_runner(case: dict, mode: str) -> dict:
    return inference.run_inference_entry(case["id"], mode)


RUNNERS = {"lmm": run_one, "diagnostics": run_diag_entry, "glmm": _glmm_runner,
           "inference": _inference_runner}


def run_job(mode: str, announce: bool, job: tuple[str, dict]) -> dict:
    """One catalog entry (``(kind, case)``), timed, a failure to run reported as a
    failure: the unit of work of :func:`run`, in this process or on a worker."""
    kind, case = job
    t0 = time.perf_counter()
    with progress.case(case["id"], announce=announce) as sides:
        try:
            entry = RUNNERS[kind](case, mode)
        except Exception as exc:  # a case that cannot run is a failure, reported as such
            entry = {"case": case["id"], "kind": kind, "passed": False, "mode": mode,
                     "classification": f"error: {type(exc).__name__}: {exc}",
                     "quantities": []}
    entry["seconds"] = time.perf_counter() - t0
    if "R" in sides:
        entry["seconds_r"] = sides["R"]
    return entry


def run(cases: list[dict], mode: str, diagnostics: list[dict] = (),
        glmm: list[dict] = (), inference_ids: list[str] = (), n_jobs: int = 1) -> list[dict]:
    """Every LMM case, then every GLMM case, then every diagnostics entry, then every
    inference entry, with a progress bar (on a terminal) and one line per case.

    ``n_jobs`` > 1 runs the entries on joblib workers, and inside
    ``joblib.parallel_config(backend="dask")`` on a Dask cluster
    (:func:`interlace.parallel.imap`; live mode needs R, lme4 and rpy2 on every worker);
    the entries' results do not depend on where they ran, and the lines come in order."""
    from interlace.parallel import imap, in_process

    jobs = ([("lmm", c) for c in cases] + [("glmm", c) for c in glmm]
            + [("diagnostics", e) for e in diagnostics]
            + [("inference", {"id": i}) for i in inference_ids])
    here = in_process(n_jobs)
    bar = tqdm(total=len(jobs), desc="parity", unit="case", file=sys.stderr, disable=None)
    out = []
    # one entry per task: entries differ in cost by 1000x, so chunks would balance badly
    for i, entry in enumerate(imap(run_job, jobs, shared=(mode, here and mode == "live"),
                                   n_jobs=n_jobs, chunks_per_worker=len(jobs)), 1):
        out.append(entry)
        bar.update()
        bar.set_postfix_str(entry["case"])
        tqdm.write(f"[{i:>2}/{len(jobs)}] {case_line(entry)}")
    bar.close()
    return out


def case_line(entry: dict) -> str:
    """The console line of a finished case: verdict, time (per side when R ran),
    classification and, live, the worst drift from the stored fixture per quantity."""
    mark = "PASS" if entry["passed"] else "FAIL"
    sides = progress.summary({"R": entry["seconds_r"]} if "seconds_r" in entry else {},
                             entry["seconds"])
    w = worst_drift(entry.get("drift", []))
    extra = ("" if w is None else "  drift vs stored: none" if not w["max_diff_to_scale"] else
             f"  drift vs stored {w['max_diff_to_scale']:.1e} of max|R| ({w['name']})")
    gone = [d["name"] for d in entry.get("drift", []) if d.get("missing")]
    if gone:
        extra += f"; on one side only: {', '.join(gone)}"
    return (f"{mark} {entry['case']:<28} {entry['seconds']:6.2f}s"
            f"{f' ({sides})' if sides else ''}  {entry['classification']}{extra}")


def _table(results: list[dict], diagnostics: bool = False) -> list[str]:
    """Markdown rows: case × quantity → n, worst errors, tolerance, class, verdict; for
    ``diagnostics`` also the worst error relative to max|R| per column, its bound and why."""
    head = ["case", "quantity", "n", "max abs err", "max rel err", "atol", "rtol", "bound by",
            "class", "result"]
    align = ["---", "---", "---:", "---:", "---:", "---:", "---:", "---", "---", "---"]
    if diagnostics:
        head[5:5], align[5:5] = ["err / max|R|", "bound"], ["---:", "---:"]
        head.append("why")
        align.append("---")
    lines = ["| " + " | ".join(h.replace("|", "\\|") for h in head) + " |",
             "|" + "|".join(align) + "|"]
    for res in results:
        for q in res["quantities"]:
            verdict = ("pass" if q["passed"] else "FAIL" if q["gating"] else
                       "not applicable" if q["n"] == 0 else "differs (exempt)")
            cells = [res["case"], q["name"], str(q["n"]), f"{q['max_abs_err']:.2e}",
                     f"{q['max_rel_err']:.2e}", f"{q['atol']:.1e}", f"{q['rtol']:.0e}",
                     binding_text(q), q["class"], verdict]
            if diagnostics:
                cells[5:5] = [f"{q.get('max_err_to_scale', 0.0):.2e}",
                              f"{q.get('tol_to_scale', 0.0):.1e}"]
                cells.append(q["why"])
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        if not res["quantities"]:
            lines.append(f"| {res['case']} | — |" + " |" * (len(head) - 3)
                         + f" {res['classification']} |")
    return lines


def _section(title: str, note: str, what: list[str], entries: list[dict],
             table: list[str]) -> list[str]:
    """A report section: title, note, one line per entry (its ``what`` and verdict), table."""
    return ["", f"## {title}", "", note, "",
            *(f"- **{r['case']}** ({w}): {r['classification']}"
              for w, r in zip(what, entries, strict=True)), "", *table]


def markdown(env: dict, results: list[dict], robust: list[dict] = ()) -> str:
    """Summary tables (LMM cases, then diagnostics entries): case × quantity → worst error,
    tolerance, verdict; drift, tolerance classes, exemptions, Cook's D conventions."""
    lmm = [r for r in results if r.get("kind", "lmm") == "lmm"]
    glmm = [r for r in results if r.get("kind") == "glmm"]
    diag = [r for r in results if r.get("kind") == "diagnostics"]
    inf = [r for r in results if r.get("kind") == "inference"]
    lines = ["# interlace ↔ lme4 parity", "", f"**{verdict_text(results)}.**", "",
             f"Mode: **{env['mode']}** ({env['mode_reason']}).", "",
             "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()
                                         if k not in ("mode", "mode_reason")), ""]
    lines += _table(lmm)
    if glmm:
        lines += _section(
            "GLMMs (lme4::glmer)",
            "`*_at_r_theta`: interlace evaluated at lme4's (θ̂, β̂) from lme4's PIRLS start; "
            "the rest: interlace.glmer's own fit (stage 1 minqa's BOBYQA, stage 2 lme4's "
            "Nelder–Mead). `se`: from the finite-difference Hessian, as lme4's vcov(); "
            "`se_rx`: from RX (use.hessian = FALSE).",
            [f"{r.get('model', '')}; {r['mode']}" for r in glmm], glmm, _table(glmm))
    if diag:
        lines += _section(
            "Influence diagnostics (HLMdiag and lme4 influence.merMod)",
            "Quantity names label the convention (see *Cook's distance conventions*). "
            "HLMdiag's references are always the stored fixtures (HLMdiag is not in Debian); "
            "lme4's are live in live mode. `err / max|R|`: worst |py − R| over the largest "
            "|R| of its column, the measure the absolute tolerances are written in; `bound`: "
            "rtol + atol/max|R|.",
            [f"{r.get('model', '')}, deletion level {r.get('level', '')}; {r['mode']}"
             for r in diag], diag, _table(diag, diagnostics=True))
    if inf:
        lines += _section(
            "Inference (lmerTest, pbkrtest, lme4's anova, simulate, bootMer, GLMM profile)",
            "`*_at_r_theta`: interlace at lme4's θ̂ (exact arithmetic on both sides, but "
            "Satterthwaite's df: numerical derivatives); the rest from our own fits or refits. "
            "Bootstrap replicates: our criterion no worse than R's, every other statistic "
            "within twice R's own refit floor (R's default refits against tight-tolerance "
            "refits of the same responses, in the fixture).",
            [f"`fixtures/r/{r.get('fixture', '')}`; {r['mode']}" for r in inf], inf,
            _table(inf))
    drifted = [(r["case"], d) for r in results for d in r.get("drift", [])
               if d["missing"] or (d["max_abs_diff"] or 0.0) > 0.0]
    lines += ["", "## Drift: live R against the stored fixtures", ""]
    if any("drift" in r for r in results):
        lines += ["Reported, not gated: R's own run-to-run difference. `max diff / "
                  "max|stored|`: the largest difference over the quantity's largest stored "
                  "value.", ""]
        lines += [f"- {c} / {d['name']}: " + "; ".join(x for x in (
            d["max_abs_diff"] is not None and
            f"max diff / max|stored| {d['max_diff_to_scale']:.1e}, max abs diff "
            f"{d['max_abs_diff']:.1e}, max rel diff {d['max_rel_diff']:.1e}",
            missing_text(d)) if x) for c, d in drifted] or [
            "None: live R reproduces every stored number exactly."]
    else:
        lines.append(f"Not measured: mode {env['mode']} compares against the stored fixtures "
                     "only.")
    lines += ["", "## Tolerance classes", ""]
    lines += [f"- **{k}**: {v}" for k, v in CLASS_REASONS.items()]
    exempt = [r for r in results if r.get("exempt_optimum")]
    if exempt:
        lines += ["", "## Exempted optimum blocks", ""]
        lines += [f"- **{r['case']}**: {r['exempt_optimum']}" for r in exempt]
    if diag:
        lines += ["", "## Cook's distance conventions", "",
                  "Three Cook's distances, each compared with its own R reference and "
                  "labelled in the quantity names:", ""]
        lines += [f"- **`{name}`**: {text}" for name, text in COOKS_CONVENTIONS]
    if robust:
        n_ok = sum(r["passed"] for r in robust)
        lines += ["", "## Bad and awkward inputs (parity/robustness.toml)", "",
                  f"{n_ok} of {len(robust)} inputs behave as catalogued: lme4's outcome on "
                  "the same input (recorded by parity/r/robustness_reference.R) and "
                  "interlace's, with interlace's words, and the numbers where both fit.", ""]
        lines += robustness.markdown(list(robust))
    lines += ["", f"**{verdict_text(results)}.**", ""]
    return "\n".join(lines)


def run_robustness(mode: str) -> list[dict]:
    """The bad-input catalog: lme4's outcomes recorded now (live) or stored."""
    recorded = None
    if mode == "live":
        t0 = time.perf_counter()
        print("bad inputs: recording lme4's outcomes in R …", file=sys.stderr, flush=True)
        recorded = robustness.record_live(robustness.load_cases())
        print(f"bad inputs: R done in {time.perf_counter() - t0:.1f}s; interlace …",
              file=sys.stderr, flush=True)
    return robustness.run_all(recorded=recorded)


def _main_user(args) -> int:
    """``--catalog``: a user's catalog through the whole harness (LMM and GLMM cases)."""
    from parity.user_catalog import load_user_catalog, prepare_data

    catalog = load_user_catalog(args.catalog)
    cases = select(catalog["cases"], args.case, args.tag, args.level)
    glmm = select(catalog["glmm"], args.case, args.tag, args.level)
    if not cases and not glmm:
        print("no case of the catalog matches the selection", file=sys.stderr)
        return 2
    prepare_data(catalog, {c["dataset"] for c in [*cases, *glmm]})
    mode, why = resolve_mode(args.mode)
    manifest = json.loads((FIXTURES / "MANIFEST.json").read_text())
    env = dict(environment(mode, why, manifest), catalog=str(catalog["path"]))
    print(f"parity --catalog {catalog['path']}: {len(cases)} LMM cases, {len(glmm)} GLMM "
          f"cases, mode: {mode} ({why})", flush=True)
    results = run(cases, mode, (), glmm, (), n_jobs=args.jobs)
    report = {"environment": env, "cases": results,
              "title": f"interlace ↔ lme4 parity: {catalog['path'].name}"}
    return write_reports(report, args.reports, mode)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m parity.run``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", help="case id (repeatable)")
    ap.add_argument("--tag", action="append", help="catalog tag (repeatable)")
    ap.add_argument("--level", default="all", choices=["quick", "full", "all"])
    ap.add_argument("--mode", default="auto", choices=["auto", "live", "stored"])
    ap.add_argument("--reports", type=Path, default=REPORTS, help="output directory")
    ap.add_argument("--no-robustness", action="store_true",
                    help="skip the bad-input catalog (parity/robustness.toml)")
    ap.add_argument("--no-inference", action="store_true",
                    help="skip the inference references (parity/inference.py)")
    ap.add_argument("--catalog", type=Path,
                    help="a user's catalog (TOML, data files next to it): its [[case]] and "
                         "[[glmm]] tables only (parity/user_catalog.py)")
    add_parallel_arguments(ap)
    args = ap.parse_args(argv)
    with parallel_from(args):
        return _main(args)


def add_parallel_arguments(ap: argparse.ArgumentParser) -> None:
    """``--jobs N`` and ``--dask ADDRESS``, shared by the harness's campaigns."""
    ap.add_argument("--jobs", type=int, default=1,
                    help="run the entries on N joblib workers (-1: all CPUs)")
    ap.add_argument("--dask", metavar="ADDRESS",
                    help="run the entries on the Dask cluster whose scheduler is at ADDRESS "
                         "(e.g. tcp://10.0.0.5:8786); its workers need interlace and, live, "
                         "R with lme4 and rpy2")


@contextlib.contextmanager
def parallel_from(args):
    """Connect to ``--dask``'s cluster and route interlace.parallel's tasks to it."""
    if not getattr(args, "dask", None):
        yield
        return
    import joblib
    from dask.distributed import Client

    with Client(args.dask) as client, joblib.parallel_config(backend="dask"):
        print(f"parity: running on the Dask cluster at {args.dask} "
              f"({len(client.scheduler_info()['workers'])} workers)", flush=True)
        yield


def _main(args) -> int:
    if args.catalog is not None:
        return _main_user(args)
    catalog = load_catalog()
    cases = select(catalog["cases"], args.case, args.tag, args.level)
    diagnostics = select_diagnostics(catalog["diagnostics"], args.case, args.tag, args.level)
    glmm = select(catalog["glmm"], args.case, args.tag, args.level)
    inference_ids = [] if args.no_inference else (
        [i for i in inference.ENTRY_IDS if i in (args.case or [])] if (args.case or args.tag)
        else list(inference.ENTRY_IDS))
    if not cases and not diagnostics and not glmm and not inference_ids:
        print("no catalog case matches the selection", file=sys.stderr)
        return 2
    mode, why = resolve_mode(args.mode)
    env = environment(mode, why, json.loads((FIXTURES / "MANIFEST.json").read_text()))
    print(f"parity: {len(cases)} LMM cases, {len(glmm)} GLMM cases, {len(diagnostics)} "
          f"diagnostics entries and {len(inference_ids)} inference entries, mode: "
          f"{mode} ({why}); R {env['R']}, lme4 {env['lme4']}", flush=True)
    results = run(cases, mode, diagnostics, glmm, inference_ids, n_jobs=args.jobs)
    report = {"environment": env, "cases": results}
    if not (args.no_robustness or args.case or args.tag):
        report["robustness"] = run_robustness(mode)
    return write_reports(report, args.reports, mode)


def write_reports(report: dict, out: Path, mode: str) -> int:
    """``parity.{json,md,html}`` of a run in ``out``; print the verdict; the exit status
    (1 when a case or a bad input fails)."""
    env, results = report["environment"], report["cases"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "parity.json").write_text(json.dumps(report, indent=1))
    (out / "parity.md").write_text(markdown(env, results, report.get("robustness", [])))
    write_html(report, CLASS_REASONS, CONVENTIONS, out / "parity.html", COOKS_CONVENTIONS)
    n_fail = sum(not r["passed"] for r in results)
    print(f"{verdict_text(results)} (mode: {mode})")
    if "robustness" in report:
        bad = [r for r in report["robustness"] if not r["passed"]]
        print(f"bad inputs: {len(report['robustness']) - len(bad)} of "
              f"{len(report['robustness'])} behave as catalogued"
              + "".join(f"\n  FAIL {r['case']}: {'; '.join(r['problems'])}" for r in bad))
        n_fail += len(bad)
    print(f"reports: {', '.join(str(out / f'parity.{x}') for x in ('json', 'md', 'html'))}")
    return 1 if n_fail else 0


if __name__ == "__main__":
    raise SystemExit(main())
