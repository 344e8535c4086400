"""Generate R reference fixtures: ``python -m parity.fixtures [--case ID] [--level L]``.

Exports missing datasets (parity/r/export_data.R), fits every selected catalog case in R
(parity/r/reference.R) into fixtures/r/<case>.json and updates fixtures/r/MANIFEST.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from parity.catalog import load_catalog
from parity.data import DATA_DIR, ROOT, case_fixtures_dir, sha256_file
from parity.live import request
from parity.rscript import R_DIR, run_r_json, snapshot_scripts

OUT_DIR = ROOT / "fixtures" / "r"
MANIFEST = OUT_DIR / "MANIFEST.json"


def export_data(datasets: dict[str, str], names: set[str], force: bool = False) -> None:
    todo = [
        n
        for n in sorted(names)
        if force or not (DATA_DIR / f"{n}.json").exists() or not (DATA_DIR / f"{n}.csv").exists()
    ]
    if todo:
        cmd = ["Rscript", str(R_DIR / "export_data.R"), str(DATA_DIR)]
        subprocess.run(cmd + [f"{n}={datasets[n]}" for n in todo], check=True)


def run_case(case: dict, r_dir: Path | None = None) -> tuple[str, float]:
    start = time.perf_counter()
    out = case_fixtures_dir(case) / f"{case['id']}.json"
    run_r_json("reference.R", request(case), out, label=case["id"], r_dir=r_dir)
    return case["id"], time.perf_counter() - start


def manifest_entry(case: dict, seconds: float) -> dict:
    path = OUT_DIR / f"{case['id']}.json"
    with open(path, encoding="utf-8") as fh:
        prov = json.load(fh)["provenance"]
    keys = ("R", "lme4", "lmerTest", "Matrix", "data_sha256", "script_sha256", "io_sha256", "date")
    entry = {"file": path.name, "sha256": sha256_file(path), "level": case["level"]}
    entry.update({k: prov[k] for k in keys})
    entry["seconds"] = round(seconds, 1)
    return entry


def update_manifest(entries: dict[str, dict], case_ids: list[str]) -> None:
    manifest = {"cases": {}}
    if MANIFEST.exists():
        manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    manifest["cases"].update(entries)
    # keep catalog order; drop cases no longer in the catalog
    manifest["cases"] = {k: manifest["cases"][k] for k in case_ids if k in manifest["cases"]}
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _user_fixtures(args) -> int:
    """``--catalog``: the LMM fixtures of a user's catalog (no manifest)."""
    from parity.user_catalog import load_user_catalog, prepare_data

    catalog = load_user_catalog(args.catalog)
    cases = [c for c in catalog["cases"] if not args.case or c["id"] in args.case]
    prepare_data(catalog, {c["dataset"] for c in cases})
    failed = 0
    for case in cases:
        try:
            cid, secs = run_case(case)
            print(f"{cid:28s} {secs:6.1f}s")
        except RuntimeError as err:
            failed += 1
            print(err, file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", help="case id (repeatable); default all")
    ap.add_argument(
        "--level",
        choices=("quick", "full"),
        default="full",
        help="quick: only quick cases; full (default): every case",
    )
    ap.add_argument("--jobs", type=int, default=1, help="parallel R processes")
    ap.add_argument("--force-data", action="store_true", help="re-export datasets")
    ap.add_argument("--catalog", type=Path, help="a user's catalog: write its LMM fixtures "
                    "into fixtures/ next to it (parity/user_catalog.py)")
    args = ap.parse_args(argv)

    if args.catalog is not None:
        return _user_fixtures(args)
    catalog = load_catalog()
    cases = catalog["cases"]
    if args.case:
        unknown = set(args.case) - {c["id"] for c in cases}
        if unknown:
            ap.error(f"unknown case(s): {sorted(unknown)}")
        cases = [c for c in cases if c["id"] in args.case]
    elif args.level == "quick":
        cases = [c for c in cases if c["level"] == "quick"]

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    export_data(catalog["datasets"], {c["dataset"] for c in cases}, force=args.force_data)

    entries, failed, t0 = {}, [], time.perf_counter()
    by_id = {c["id"]: c for c in cases}
    with (
        tempfile.TemporaryDirectory() as tmp,
        ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool,
    ):
        r_dir = snapshot_scripts(Path(tmp))
        futures = [pool.submit(run_case, c, r_dir) for c in cases]
        for fut in futures:
            try:
                cid, secs = fut.result()
            except RuntimeError as err:
                failed.append(str(err))
                print(err, file=sys.stderr)
                continue
            entries[cid] = manifest_entry(by_id[cid], secs)
            print(f"{cid:28s} {secs:6.1f}s")
    update_manifest(entries, [c["id"] for c in catalog["cases"]])
    print(f"{len(entries)} fixture(s) in {time.perf_counter() - t0:.1f}s; {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
