"""HLMdiag references for the ``[[diagnostics]]`` catalog entries.

``generate_hlmdiag(entry)`` runs ``parity/r/hlmdiag_reference.R`` with Rscript for one
entry whose sources include ``hlmdiag_onestep`` or ``hlmdiag_refit`` and writes
``fixtures/r/diag/<id>.hlmdiag.json`` (schema: the header of the R script). It needs R
with lme4 and HLMdiag installed; the stored fixtures let tests run without either.

``python -m parity.diag_hlmdiag [--entry ID ...]`` regenerates them directly (the
combined driver with the manifest is ``python -m parity.diag_fixtures``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from parity.catalog import load_catalog
from parity.data import ROOT
from parity.diag_fixtures import request as influence_request
from parity.rscript import run_r_json

OUT_DIR = ROOT / "fixtures" / "r" / "diag"
SCRIPT = "hlmdiag_reference.R"
HLMDIAG_SOURCES = ("hlmdiag_onestep", "hlmdiag_refit")


def wants_hlmdiag(entry: dict) -> bool:
    """Does the diagnostics entry list an HLMdiag source?"""
    return any(s in HLMDIAG_SOURCES for s in entry["sources"])


def fixture_path(entry_id: str) -> Path:
    """Where the HLMdiag fixture of a diagnostics entry lives."""
    return OUT_DIR / f"{entry_id}.hlmdiag.json"


def request(entry: dict, case: dict) -> dict:
    """The request hlmdiag_reference() takes (influence_reference()'s plus the sources)."""
    return {**influence_request(entry, case), "sources": list(entry["sources"])}


def generate_hlmdiag(entry: dict, out_dir: Path = OUT_DIR) -> Path:
    """Run HLMdiag for one diagnostics entry; return the fixture's path."""
    if not wants_hlmdiag(entry):
        raise ValueError(f"{entry['id']}: no HLMdiag source in {entry['sources']}")
    cases = {c["id"]: c for c in load_catalog()["cases"]}
    req = request(entry, cases[entry["model"]])
    return run_r_json(SCRIPT, req, out_dir / f"{entry['id']}.hlmdiag.json", label=entry["id"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entry", action="append", help="diagnostics id (repeatable); default all")
    args = ap.parse_args(argv)
    entries = [e for e in load_catalog()["diagnostics"] if wants_hlmdiag(e)]
    if args.entry:
        unknown = set(args.entry) - {e["id"] for e in entries}
        if unknown:
            ap.error(f"unknown or non-HLMdiag entries: {sorted(unknown)}")
        entries = [e for e in entries if e["id"] in args.entry]
    failed = 0
    for e in entries:
        t0 = time.perf_counter()
        try:
            path = generate_hlmdiag(e)
        except RuntimeError as err:
            failed += 1
            print(err, file=sys.stderr)
            continue
        print(f"{e['id']:28s} {time.perf_counter() - t0:6.1f}s  {path.name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
