"""The stored examples of ``nox -s certify``: ``python -m parity.certify_examples`` runs
``parity/r/certify_examples.R``, which fits models as a user does in an R session and
exports each with ``interlace_export()`` into ``fixtures/certify/``."""

from __future__ import annotations

import subprocess

from parity.data import ROOT

OUT = ROOT / "fixtures" / "certify"
SCRIPT = ROOT / "parity" / "r" / "certify_examples.R"


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    subprocess.run(["Rscript", str(SCRIPT), str(OUT)], check=True)
    print(f"written {', '.join(sorted(p.name for p in OUT.glob('*.json')))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
