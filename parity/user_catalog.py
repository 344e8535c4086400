"""Users' own parity catalogs: ``nox -s parity -- --catalog my_cases.toml``.

A user catalog has the catalog's form (``[[case]]`` and ``[[glmm]]`` tables, README of
``parity/``), with ``[datasets]`` naming data files next to it: ``name = "file.csv"``.
Each dataset is read once by R (``read.csv(stringsAsFactors = TRUE)``; or as it is when
an io.R sidecar ``file.json`` lies beside the CSV) and written with io.R's
``write_dataset`` into ``<catalog dir>/prepared/``, so that R and Python fit the same
values, levels and row names.  Stored fixtures live in ``<catalog dir>/fixtures/``
(``python -m parity.fixtures --catalog ...`` and ``python -m parity.glmer_fixtures
--catalog ...`` write them); live mode computes them in the embedded R.  Cases carry their
directories in the private keys ``_data_dir`` and ``_fixtures_dir``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from parity.catalog import load_catalog
from parity.data import sha256_file

R_DIR = Path(__file__).with_name("r")


def data_dir(catalog_path: Path) -> Path:
    return Path(catalog_path).resolve().parent / "prepared"


def fixtures_dir(catalog_path: Path) -> Path:
    return Path(catalog_path).resolve().parent / "fixtures"


def load_user_catalog(path: str | Path) -> dict:
    """The user catalog at ``path``, validated as the catalog is, its datasets resolved to
    files next to it, and each case given its data and fixtures directories."""
    path = Path(path).resolve()
    if not path.exists():
        raise SystemExit(f"--catalog {path}: no such file")
    catalog = load_catalog(path)
    if catalog["diagnostics"]:
        raise SystemExit(f"--catalog {path}: [[diagnostics]] entries are not supported in "
                         "user catalogs (only [[case]] and [[glmm]])")
    files = {}
    for name, rel in catalog["datasets"].items():
        f = (path.parent / rel).resolve()
        if f.suffix != ".csv" or not f.exists():
            raise SystemExit(f"--catalog {path}: dataset {name!r} must name a CSV file next "
                             f"to the catalog; {f} does not exist or is not .csv")
        files[name] = f
    for case in [*catalog["cases"], *catalog["glmm"]]:
        case["_data_dir"] = str(data_dir(path))
        case["_fixtures_dir"] = str(fixtures_dir(path))
    return dict(catalog, files=files, path=path)


def prepare_data(catalog: dict, names: set[str] | None = None) -> Path:
    """Write each (selected) dataset's canonical CSV and sidecar into ``prepared/``
    (skipped when the source CSV has not changed since); returns that directory."""
    out = data_dir(catalog["path"])
    out.mkdir(parents=True, exist_ok=True)
    for name, src in catalog["files"].items():
        if names is not None and name not in names:
            continue
        side = out / f"{name}.json"
        sha = sha256_file(src)
        if side.exists() and json.loads(side.read_text()).get("source_sha256") == sha:
            continue
        given = src.with_suffix(".json")
        if given.exists():  # already io.R's format (export_data.R, interlace_export)
            meta = json.loads(given.read_text())
            if meta.get("csv_sha256") != sha:
                raise SystemExit(f"{src}: SHA-256 does not match its sidecar {given.name}")
            shutil.copy(src, out / f"{name}.csv")
            side.write_text(json.dumps(dict(meta, name=name, source_sha256=sha)))
            continue
        if shutil.which("Rscript") is None:
            raise SystemExit(f"dataset {name!r} ({src.name}) has not been prepared yet and R "
                             "is not installed: run once where R is (see README)")
        subprocess.run(["Rscript", str(R_DIR / "prepare_data.R"), str(src), str(out), name,
                        sha], check=True)
    return out
