"""Run one of ``parity/r``'s Rscript drivers on a JSON request and keep its JSON output.

Every fixture generator does the same: write the request, run
``Rscript <script> request.json out.json.tmp [args...]`` on a snapshot of the R
scripts (Rscript reads its file lazily, so an edit during a run would otherwise change
the code mid-way), and move the output into place only when R succeeded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from parity.data import ROOT

R_DIR = ROOT / "parity" / "r"


def snapshot_scripts(dest: Path) -> Path:
    """Copy parity/r/*.R to ``dest`` and return it."""
    for src in R_DIR.glob("*.R"):
        shutil.copy2(src, dest / src.name)
    return dest


def run_r_json(script: str, request: dict, out: Path, *, label: str,
               args: Sequence[str] = (), r_dir: Path | None = None) -> Path:
    """Run ``script`` on ``request``; write its output to ``out`` (atomically) and return it.

    ``r_dir``: an existing snapshot of the scripts (shared by parallel runs); by default
    a fresh one is made.  A failure raises RuntimeError with ``label`` and R's stderr.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".json.tmp")
    with tempfile.TemporaryDirectory() as tmp:
        scripts = Path(r_dir) if r_dir is not None else snapshot_scripts(Path(tmp))
        req = Path(tmp) / "request.json"
        req.write_text(json.dumps(request), encoding="utf-8")
        proc = subprocess.run(["Rscript", str(scripts / script), str(req), str(tmp_out),
                               *args], capture_output=True, text=True)
    if proc.returncode != 0:
        tmp_out.unlink(missing_ok=True)
        raise RuntimeError(f"{label}: {' '.join([script, *args])} failed\n{proc.stderr}")
    tmp_out.replace(out)
    return out


def write_reference(script: str, request: dict, out: Path, label: str) -> int:
    """``main()`` of a small reference driver: run ``script`` on ``request`` into ``out``
    and say so (exit status 0; a failure raises)."""
    run_r_json(script, request, out, label=label)
    print(f"written {out}")
    return 0
