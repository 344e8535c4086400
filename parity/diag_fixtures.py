"""Generate the R references of the diagnostics entries: ``python -m parity.diag_fixtures``.

For every ``[[diagnostics]]`` entry of the catalog (or those given with ``--id``):

* lme4's ``influence.merMod`` (sources include ``lme4_influence``):
  ``parity/r/influence.R`` → ``fixtures/r/diag/<id>.lme4.json``;
* R's reproducibility floor of case-deletion refits for the entries in
  :data:`FLOOR_ENTRIES` → ``fixtures/r/diag/<id>.floor.json`` (every unit refitted by
  routes that should reach the same optimum; their disagreement bounds how closely any
  reimplementation can be asked to match R's refits);
* HLMdiag (sources include ``hlmdiag_*``), through ``parity.diag_hlmdiag.generate_hlmdiag``
  when that module exists and HLMdiag is installed → ``<id>.hlmdiag.json``.

``fixtures/r/diag/MANIFEST.json`` records, per entry and kind, the file, its sha256,
the R/lme4/Matrix (and HLMdiag) versions, the sha256 of the data and of the scripts,
the date and the seconds taken.  ``--bench`` times lme4's ``influence(m)`` and
interlace's exact deletion on sleepstudy (180 refits) in one run.

:func:`live_lme4` runs the same R code in-process through rpy2 (live parity).
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

from parity.catalog import load_catalog
from parity.data import ROOT, sha256_file
from parity.glmer_fixtures import request as glmer_request
from parity.live import request as live_request
from parity.rscript import R_DIR, run_r_json

OUT_DIR = ROOT / "fixtures" / "r" / "diag"
MANIFEST = OUT_DIR / "MANIFEST.json"
#: entries whose refits are repeated by several R routes to measure R's own agreement
FLOOR_ENTRIES = ("diag_sleepstudy", "diag_pastes", "diag_orthodont_subject")


def request(entry: dict, case: dict) -> dict:
    """The request influence_reference() / influence_floor() take: the model case's
    lmer request (:func:`parity.live.request`) or, for a GLMM, its glmer request
    (:func:`parity.glmer_fixtures.request`), plus the entry's id and deletion level."""
    base = glmer_request(case) if "family" in case else live_request(case)
    return {**base, "id": entry["id"], "model": entry["model"], "level": str(entry["level"])}


def _case(entry: dict) -> dict:
    cat = load_catalog()
    return {c["id"]: c for c in cat["cases"] + cat["glmm"]}[entry["model"]]


def _run_r(entry: dict, mode: str, out: Path) -> Path:
    """Run influence.R in ``mode`` ("reference" or "floor") on a snapshot of the scripts."""
    return run_r_json("influence.R", request(entry, _case(entry)), out, label=entry["id"],
                      args=(mode,))


def generate_lme4(entry: dict, out_dir: Path = OUT_DIR) -> Path:
    """lme4's influence.merMod for one entry → ``<id>.lme4.json``."""
    if "lme4_influence" not in entry["sources"]:
        raise ValueError(f"{entry['id']}: lme4_influence is not among {entry['sources']}")
    return _run_r(entry, "reference", out_dir / f"{entry['id']}.lme4.json")


def generate_floor(entry: dict, out_dir: Path = OUT_DIR) -> Path:
    """R's reproducibility floor for one entry → ``<id>.floor.json``."""
    return _run_r(entry, "floor", out_dir / f"{entry['id']}.floor.json")


# -- live (rpy2) ---------------------------------------------------------------------------
@cache
def _session():
    import rpy2.robjects as ro

    ro.r["source"](str(R_DIR / "io.R"))
    ro.r["source"](str(R_DIR / "lmer_reference.R"))
    ro.r["source"](str(R_DIR / "glmer_reference.R"))
    ro.r["source"](str(R_DIR / "influence_reference.R"))
    return ro


def live_lme4(entry: dict, case: dict | None = None) -> dict:
    """lme4's influence reference of ``entry`` computed in the embedded R (fixture schema);
    ``case``: the entry's model when it is not a catalog case (a certified model)."""
    ro = _session()
    req = json.dumps(request(entry, _case(entry) if case is None else case))
    return json.loads(ro.r["influence_reference_json"](req, str(R_DIR))[0])


def live_influence(case: dict, level: str) -> dict:
    """lme4's influence reference of any case (a certified model's too) at deletion
    ``level`` ("1" or a grouping factor), computed in the embedded R."""
    entry = {"id": f"{case['id']}/{level}", "model": case["id"], "level": level}
    return live_lme4(entry, case)


# -- manifest ------------------------------------------------------------------------------
def manifest_entry(path: Path, seconds: float | None) -> dict:
    """File, sha256, versions and hashes of one generated fixture."""
    prov = json.loads(path.read_text(encoding="utf-8"))["provenance"]
    keys = ("R", "lme4", "Matrix", "HLMdiag", "HLMdiag_commit", "reformulas",
            "reformulas_commit", "data_sha256", "script_sha256", "io_sha256", "date")
    out = {"file": path.name, "sha256": sha256_file(path)}
    out.update({k: prov[k] for k in keys if k in prov})
    out["seconds"] = None if seconds is None else round(seconds, 1)
    return out


def update_manifest(updates: dict[str, dict[str, dict]], entry_ids: list[str]) -> None:
    """Merge ``{entry id: {kind: record}}`` into MANIFEST.json (catalog order)."""
    manifest: dict = {"entries": {}}
    if MANIFEST.exists():
        manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    entries = manifest.setdefault("entries", {})
    for eid, kinds in updates.items():
        entries.setdefault(eid, {}).update(kinds)
    manifest["entries"] = {k: entries[k] for k in entry_ids if k in entries}
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _hlmdiag_generator():
    """D1's ``generate_hlmdiag`` when its module exists and HLMdiag is installed, else None."""
    try:
        mod = importlib.import_module("parity.diag_hlmdiag")
    except ImportError:
        return None
    ok = subprocess.run(["Rscript", "-e", 'quit(status = !requireNamespace("HLMdiag", '
                         'quietly = TRUE))'], capture_output=True)
    return mod.generate_hlmdiag if ok.returncode == 0 else None


# -- bench -------------------------------------------------------------------------------------
def bench_sleepstudy(reps: int = 3, n_jobs: int = 1) -> dict:
    """Wall time of lme4's ``influence(m)`` and of interlace's ``influence(res)`` (180 refits)."""
    import warnings

    import interlace
    from interlace.diagnostics.influence import influence
    from parity.data import load_dataset

    entry = next(e for e in load_catalog()["diagnostics"] if e["id"] == "diag_sleepstudy")
    case = _case(entry)
    with tempfile.TemporaryDirectory() as tmp:
        req = Path(tmp) / "req.json"
        req.write_text(json.dumps(request(entry, case)), encoding="utf-8")
        code = ("".join(f'source("{R_DIR / f}"); ' for f in (
                    "io.R", "lmer_reference.R", "glmer_reference.R", "influence_reference.R"))
                + f'req <- jsonlite::fromJSON("{req}"); f <- .infl_fit(req); m <- f$m; '
                f'dat <- f$dat; invisible(influence(m)); '
                f't <- replicate({reps}, system.time(influence(m))[["elapsed"]]); cat(t)')
        proc = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True,
                              check=True)
    r_times = [float(x) for x in proc.stdout.split()]
    data = load_dataset(case["dataset"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = interlace.fit(case["formula"], data, method=case["method"])
        influence(res, n_jobs=n_jobs)
        py_times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            influence(res, n_jobs=n_jobs)
            py_times.append(time.perf_counter() - t0)
    r, py = min(r_times), min(py_times)
    return {"refits": res.nobs, "lme4_influence_seconds": r, "interlace_seconds": py,
            "ratio": r / py, "n_jobs": n_jobs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--id", action="append", help="diagnostics entry id (repeatable)")
    ap.add_argument("--skip-hlmdiag", action="store_true", help="no HLMdiag fixtures")
    ap.add_argument("--skip-floor", action="store_true", help="no reproducibility floor")
    ap.add_argument("--bench", action="store_true",
                    help="only time lme4 influence() vs interlace on sleepstudy")
    args = ap.parse_args(argv)
    if args.bench:
        print(json.dumps(bench_sleepstudy(), indent=2))
        return 0
    all_entries = load_catalog()["diagnostics"]
    entries = all_entries
    if args.id:
        unknown = set(args.id) - {e["id"] for e in all_entries}
        if unknown:
            ap.error(f"unknown diagnostics entries: {sorted(unknown)}")
        entries = [e for e in all_entries if e["id"] in args.id]
    hlmdiag = None if args.skip_hlmdiag else _hlmdiag_generator()
    if hlmdiag is None and not args.skip_hlmdiag:
        print("HLMdiag fixtures skipped (parity.diag_hlmdiag or HLMdiag not available)",
              file=sys.stderr)
    jobs = []
    for e in entries:
        if "lme4_influence" in e["sources"]:
            jobs.append((e, "lme4", generate_lme4))
        if not args.skip_floor and e["id"] in FLOOR_ENTRIES:
            jobs.append((e, "floor", generate_floor))
        if hlmdiag is not None and any(s.startswith("hlmdiag") for s in e["sources"]):
            jobs.append((e, "hlmdiag", hlmdiag))
    updates: dict[str, dict[str, dict]] = {}
    failed = 0
    for e, kind, gen in jobs:
        t0 = time.perf_counter()
        try:
            path = gen(e)
        except RuntimeError as err:
            failed += 1
            print(err, file=sys.stderr)
            continue
        secs = time.perf_counter() - t0
        updates.setdefault(e["id"], {})[kind] = manifest_entry(path, secs)
        print(f"{e['id']:28s} {kind:8s} {secs:6.1f}s  {path.name}")
    # fixtures made elsewhere (e.g. python -m parity.diag_hlmdiag): record new or changed
    recorded = (json.loads(MANIFEST.read_text(encoding="utf-8")).get("entries", {})
                if MANIFEST.exists() else {})
    for e in all_entries:
        for kind in ("lme4", "floor", "hlmdiag"):
            path = OUT_DIR / f"{e['id']}.{kind}.json"
            old = recorded.get(e["id"], {}).get(kind)
            if (path.exists() and kind not in updates.get(e["id"], {})
                    and (old is None or old.get("sha256") != sha256_file(path))):
                updates.setdefault(e["id"], {})[kind] = manifest_entry(path, None)
    update_manifest(updates, [e["id"] for e in all_entries])
    print(f"{len(jobs) - failed} fixture(s); {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
