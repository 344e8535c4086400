"""Generate the GLMM reference fixtures: ``python -m parity.glmer_fixtures [--case ID]``.

Fits every ``[[glmm]]`` catalog case with lme4::glmer (``parity/r/glmer_reference.R``)
into ``fixtures/r/glmm/<case>.json``, and writes lme4's Gauss–Hermite table
(``GHrule(1:25)``) to ``fixtures/r/glmm/ghrule.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from parity.catalog import load_catalog
from parity.data import ROOT, case_data_files, case_fixtures_dir
from parity.rscript import run_r_json

OUT_DIR = ROOT / "fixtures" / "r" / "glmm"


def request(case: dict) -> dict:
    """The request glmer_reference() takes."""
    return {"id": case["id"], "dataset": case["dataset"], "formula": case["formula"],
            "family": case["family"], "link": case["link"], "nAGQ": case["nAGQ"],
            "weights": case.get("weights"), "offset": case.get("offset"),
            "contrasts": case.get("contrasts"),
            "contrasts_default": case.get("contrasts_default"),
            **case_data_files(case)}


def main(argv: list[str] | None = None) -> int:
    """Write the fixtures of the selected (default: all) GLMM cases and the GH table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--case", action="append")
    ap.add_argument("--catalog", type=Path, help="a user's catalog: write its GLMM fixtures "
                    "into fixtures/glmm/ next to it (parity/user_catalog.py)")
    args = ap.parse_args(argv)
    if args.catalog is not None:
        from parity.user_catalog import load_user_catalog, prepare_data

        catalog = load_user_catalog(args.catalog)
        prepare_data(catalog)
    else:
        catalog = load_catalog()
    for case in catalog["glmm"]:
        if args.case and case["id"] not in args.case:
            continue
        out = case_fixtures_dir(case) / "glmm" / f"{case['id']}.json"
        run_r_json("glmer.R", request(case), out, label=case["id"])
        print(f"{case['id']}: written")
    if not args.case and args.catalog is None:
        run_r_json("glmer.R", {}, OUT_DIR / "ghrule.json", label="ghrule", args=["ghrule"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
