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
FIXTURES_DIR = ROOT / "fixtures" / "r"
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


def case_data_dir(case: dict) -> Path:
    """Where a case's data live: fixtures/data, or a user catalog's prepared/
    (:mod:`parity.user_catalog`)."""
    return Path(case.get("_data_dir", DATA_DIR))


def case_fixtures_dir(case: dict) -> Path:
    """Where a case's R references live: fixtures/r, or a user catalog's fixtures/."""
    return Path(case.get("_fixtures_dir", FIXTURES_DIR))


def case_data_files(case: dict) -> dict:
    """The ``data_csv`` and ``data_json`` of a case's R request."""
    d, name = case_data_dir(case), case["dataset"]
    return {"data_csv": str(d / f"{name}.csv"), "data_json": str(d / f"{name}.json")}


def case_data(case: dict) -> pd.DataFrame:
    """A catalog case's dataset (a user catalog's case reads its own data directory)."""
    return load_dataset(case["dataset"], case_data_dir(case))


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


def _csv_cells(x: pd.Series, name: str) -> tuple[list[str], dict]:
    """One column as io.R's csv_col writes it, and its sidecar entry."""
    na = x.isna().to_numpy()
    dtype = x.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        levels = [str(v) for v in dtype.categories]
        spec = {"name": name, "type": "ordered" if dtype.ordered else "factor",
                "levels": levels}
        labels = x.astype(object).to_numpy()
    elif pd.api.types.is_bool_dtype(dtype):
        spec = {"name": name, "type": "logical"}
        return ([NA if m else ("TRUE" if v else "FALSE") for v, m in zip(x, na, strict=True)],
                dict(spec, n_na=int(na.sum())))
    elif pd.api.types.is_integer_dtype(dtype):
        spec = {"name": name, "type": "integer"}
        return ([NA if m else str(int(v)) for v, m in zip(x, na, strict=True)],
                dict(spec, n_na=int(na.sum())))
    elif pd.api.types.is_float_dtype(dtype):
        vals = x.to_numpy(dtype=float)
        if not np.all(np.isfinite(vals[~na])):
            raise ValueError(f"column {name!r}: Inf values cannot be exported")
        return ([NA if m else format(v, ".17g") for v, m in zip(vals, na, strict=True)],
                {"name": name, "type": "numeric", "n_na": int(na.sum())})
    elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        spec = {"name": name, "type": "character"}
        labels = x.to_numpy(dtype=object)
    else:
        raise ValueError(f"column {name!r}: dtype {dtype} cannot be exported to R")
    cells = []
    for v, m in zip(labels, na, strict=True):
        if m:
            cells.append(NA)
            continue
        v = str(v)
        if v in (NA, ""):
            raise ValueError(f"column {name!r}: the label {v!r} would be ambiguous in the CSV")
        cells.append('"' + v.replace('"', '""') + '"')
    return cells, dict(spec, n_na=int(na.sum()))


def write_frame(df: pd.DataFrame, out_dir: Path, name: str, head: dict | None = None) -> dict:
    """Write ``df`` as io.R's ``write_dataset`` does (``<name>.csv`` and the sidecar it
    returns, also written as ``<name>.json``) and check that :func:`read_frame` gives the
    same values back."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cols, specs = [], []
    for c in df.columns:
        cells, spec = _csv_cells(df[c], str(c))
        cols.append(cells)
        specs.append(spec)
    csv = out_dir / f"{name}.csv"
    header = ",".join('"' + str(c).replace('"', '""') + '"' for c in df.columns)
    rows = [",".join(r) for r in zip(*cols, strict=True)] if cols else []
    csv.write_bytes(("\n".join([header, *rows]) + "\n").encode("utf-8"))
    meta = {**(head or {}), "n_rows": len(df), "n_cols": df.shape[1], "columns": specs,
            "csv_sha256": sha256_file(csv), "row_names": [str(r) for r in df.index]}
    (out_dir / f"{name}.json").write_text(json.dumps(meta), encoding="utf-8")
    back = read_frame(csv, meta)
    for c in df.columns:
        a, b = df[c], back[str(c)]
        same = (a.isna().to_numpy() == b.isna().to_numpy()).all() and all(
            x == y for x, y, m in zip(a, b, a.isna(), strict=True) if not m)
        if not same:
            raise ValueError(f"column {c!r} does not survive the CSV round trip")
    return meta
