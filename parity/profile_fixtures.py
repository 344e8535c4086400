"""Generate lme4's profile-CI references: ``python -m parity.profile_fixtures [--case ID]``.

For every case in :data:`CASES` (catalog ids) runs ``parity/r/profile_reference.R`` on a
snapshot of the R scripts and writes ``fixtures/r/profile/<case>.json``: lme4's
``confint(m, method = "profile")`` at :data:`LEVELS`, the full profile table
(``as.data.frame(profile(m))``), the ML optimum it rests on, warnings, timings and
provenance (R, lme4, Matrix versions, data and script sha256, date).
``fixtures/r/profile/MANIFEST.json`` records each file's sha256 and provenance.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from parity.catalog import get_case
from parity.data import DATA_DIR, ROOT, sha256_file
from parity.rscript import run_r_json

OUT_DIR = ROOT / "fixtures" / "r" / "profile"
MANIFEST = OUT_DIR / "MANIFEST.json"
CASES = ("dyestuff_reml", "dyestuff_ml", "dyestuff2_reml", "sleepstudy_slopes_reml",
         "sleepstudy_uncorr_reml", "penicillin_crossed", "pastes_nested")
LEVELS = (0.95, 0.90)


def request(case: dict) -> dict:
    """What profile_reference.R reads."""
    return {"id": case["id"], "dataset": case["dataset"], "formula": case["formula"],
            "REML": case["method"] == "REML", "levels": list(LEVELS),
            "data_csv": str(DATA_DIR / f"{case['dataset']}.csv"),
            "data_json": str(DATA_DIR / f"{case['dataset']}.json")}


def generate(case_id: str, out_dir: Path = OUT_DIR) -> tuple[Path, float]:
    """Run R for one case; return the fixture path and the seconds taken."""
    case = get_case(case_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{case_id}.json"
    t0 = time.perf_counter()
    run_r_json("profile_reference.R", request(case), out, label=case_id)
    return out, time.perf_counter() - t0


def manifest_entry(path: Path, seconds: float) -> dict:
    """File, sha256, versions and hashes of one fixture."""
    prov = json.loads(path.read_text(encoding="utf-8"))["provenance"]
    keys = ("R", "lme4", "Matrix", "nloptr", "minqa", "data_sha256", "script_sha256",
            "io_sha256", "date")
    return {"file": path.name, "sha256": sha256_file(path), **{k: prov[k] for k in keys},
            "seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", choices=CASES, help="case id (repeatable)")
    args = ap.parse_args(argv)
    manifest = {"cases": {}}
    if MANIFEST.exists():
        manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    failed = 0
    for cid in args.case or CASES:
        try:
            path, secs = generate(cid)
        except RuntimeError as err:
            print(err, file=sys.stderr)
            failed += 1
            continue
        manifest["cases"][cid] = manifest_entry(path, secs)
        print(f"{cid:28s} {secs:6.1f}s")
    manifest["cases"] = {k: manifest["cases"][k] for k in CASES if k in manifest["cases"]}
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
