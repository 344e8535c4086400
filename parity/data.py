"""Load the exported R datasets (fixtures/data/<name>.csv + .json) as pandas DataFrames."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "fixtures" / "data"
NA = "NA"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_metadata(name: str, data_dir: Path = DATA_DIR) -> dict:
    with open(Path(data_dir) / f"{name}.json", encoding="utf-8") as fh:
        return json.load(fh)


def _column(raw: pd.Series, spec: dict) -> pd.Series | pd.Categorical | np.ndarray:
    values = raw.tolist()
    is_na = [v == NA for v in values]
    kind = spec["type"]
    if kind == "numeric":
        # float() is correctly rounded, so '%.17g' text gives back R's exact double.
        return np.array([math.nan if m else float(v) for v, m in zip(values, is_na, strict=True)])
    if kind == "integer":
        ints = [None if m else int(v) for v, m in zip(values, is_na, strict=True)]
        return pd.array(ints, dtype="Int64") if any(is_na) else np.array(ints, dtype=np.int64)
    if kind == "logical":
        bools = [None if m else v == "TRUE" for v, m in zip(values, is_na, strict=True)]
        return pd.array(bools, dtype="boolean") if any(is_na) else np.array(bools, dtype=bool)
    if kind == "character":
        return pd.array([None if m else v for v, m in zip(values, is_na, strict=True)], dtype="str")
    if kind in ("factor", "ordered"):
        levels = spec["levels"]
        labels = [None if m else v for v, m in zip(values, is_na, strict=True)]
        unknown = {v for v in labels if v is not None} - set(levels)
        if unknown:
            bad = sorted(unknown)[:5]
            raise ValueError(f"column {spec['name']!r}: labels not in levels: {bad}")
        return pd.Categorical(labels, categories=levels, ordered=kind == "ordered")
    raise ValueError(f"unknown column type {kind!r}")


def load_dataset(name: str, data_dir: Path = DATA_DIR, verify: bool = True) -> pd.DataFrame:
    """Rebuild an R data.frame: R dtypes, R factor level order, NA, R row names as index."""
    meta = load_metadata(name, data_dir)
    return read_frame(Path(data_dir) / f"{name}.csv", meta, verify, f"{name}.json")


def read_frame(csv: Path, meta: dict, verify: bool = True,
               sidecar: str = "its sidecar") -> pd.DataFrame:
    """The data.frame of a CSV written by io.R's ``write_dataset`` and its sidecar ``meta``
    (column types, levels, row names, SHA-256)."""
    if verify and sha256_file(csv) != meta["csv_sha256"]:
        raise ValueError(f"{csv}: SHA-256 does not match {sidecar} (the data were changed "
                         "after R wrote them)")
    raw = pd.read_csv(csv, dtype=str, keep_default_na=False, na_filter=False)
    names = [c["name"] for c in meta["columns"]]
    if list(raw.columns) != names:
        raise ValueError(f"{csv}: columns {list(raw.columns)} != sidecar {names}")
    index = pd.Index([str(r) for r in meta["row_names"]], dtype=object)
    cols = {c["name"]: _column(raw[c["name"]], c) for c in meta["columns"]}
    df = pd.DataFrame(cols, index=index)
    if len(df) != meta["n_rows"]:
        raise ValueError(f"{csv}: {len(df)} rows, sidecar says {meta['n_rows']}")
    return df


def case_data(case: dict) -> pd.DataFrame:
    """A catalog case's dataset (a user catalog's case reads its own data directory)."""
    return load_dataset(case["dataset"], Path(case.get("_data_dir", DATA_DIR)))


def request_data(spec: dict, data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """The rows a reference request ``{dataset, exclude}`` fits, as catalog_data.R's
    ``catalog_lmer``: the dataset without the rows matching every ``exclude`` pair
    ({column: value}, compared as strings; a missing cell)."""
    data = load_dataset(spec["dataset"], data_dir)
    if not spec.get("exclude"):
        return data
    drop = np.ones(len(data), dtype=bool)
    for col, val in spec["exclude"].items():
        drop &= data[col].astype(str).to_numpy() == val
    return data[~drop]
