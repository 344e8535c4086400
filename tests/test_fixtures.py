"""Integrity of the R reference data: catalog, datasets, fixtures and manifest."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from parity.catalog import load_catalog
from parity.data import DATA_DIR, ROOT, load_dataset, load_metadata, sha256_file

FIX_DIR = ROOT / "fixtures" / "r"
CATALOG = load_catalog()
CASES = CATALOG["cases"]
CASE_IDS = [c["id"] for c in CASES]
DATASETS = sorted({c["dataset"] for c in CASES})

REQUIRED_KEYS = {
    "case",
    "dataset",
    "provenance",
    "call",
    "nobs",
    "n_input_rows",
    "dims",
    "p_full",
    "objective",
    "devcomp_cmp",
    "theta",
    "lower",
    "cnms",
    "fixef",
    "dropped_columns",
    "vcov",
    "se",
    "sigma",
    "varcorr",
    "loglik",
    "aic",
    "bic",
    "deviance",
    "remlcrit",
    "ngrps",
    "ranef",
    "fitted",
    "residuals",
    "satterthwaite_df",
    "satterthwaite",
    "is_singular",
    "optinfo",
    "devfun_at",
    "devfun_state_maxdiff",
    "timing",
}
PROVENANCE_KEYS = {
    "R",
    "lme4",
    "lmerTest",
    "pbkrtest",
    "Matrix",
    "data_sha256",
    "script_sha256",
    "date",
    "platform",
    "BLAS",
    "LAPACK",
    "La_library",
}
DTYPE_KIND = {"numeric": "f", "integer": "i", "logical": "b"}


def fixture_text(case_id: str) -> str:
    return (FIX_DIR / f"{case_id}.json").read_text(encoding="utf-8")


def fixture(case_id: str) -> dict:
    return json.loads(fixture_text(case_id))


def same_text_double(text: str) -> bool:
    """R wrote the double with '%.17g' (+'.0' if integral); Python must print it back."""
    s = format(float(text), ".17g")
    return s == text or s + ".0" == text


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((FIX_DIR / "MANIFEST.json").read_text(encoding="utf-8"))


def test_catalog_cases_have_fixtures():
    missing = [c for c in CASE_IDS if not (FIX_DIR / f"{c}.json").exists()]
    assert not missing, f"run `python -m parity.fixtures`; missing {missing}"


def test_catalog_datasets_exported():
    for name in DATASETS:
        assert (DATA_DIR / f"{name}.csv").exists() and (DATA_DIR / f"{name}.json").exists()


def test_manifest_matches_files(manifest):
    assert list(manifest["cases"]) == CASE_IDS
    script = sha256_file(ROOT / "parity" / "r" / "lmer_reference.R")
    for case in CASES:
        entry = manifest["cases"][case["id"]]
        assert entry["sha256"] == sha256_file(FIX_DIR / entry["file"]), case["id"]
        assert entry["data_sha256"] == load_metadata(case["dataset"])["csv_sha256"], case["id"]
        assert entry["script_sha256"] == script, f"{case['id']}: fixture predates lmer_reference.R"
        for key in ("R", "lme4", "lmerTest", "Matrix", "date"):
            assert entry[key]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_fixture_schema(case_id):
    case = next(c for c in CASES if c["id"] == case_id)
    fx = fixture(case_id)
    assert REQUIRED_KEYS <= fx.keys()
    assert PROVENANCE_KEYS <= fx["provenance"].keys()
    assert fx["case"] == case_id and fx["dataset"] == case["dataset"]
    assert fx["call"]["formula"] == case["formula"]
    assert fx["call"]["REML"] == (case["method"] == "REML")
    assert fx["call"]["weights"] == case.get("weights")
    assert fx["provenance"]["data_sha256"] == load_metadata(case["dataset"])["csv_sha256"]
    nth = fx["dims"]["nth"]
    assert len(fx["theta"]) == len(fx["lower"]) == nth
    assert all(set(t) == {"name", "value"} for t in fx["theta"])
    assert fx["dims"]["p"] == len(fx["fixef"]) == fx["p_full"] - len(fx["dropped_columns"])
    assert list(fx["vcov"]) == list(fx["fixef"]) == list(fx["se"])
    assert len(fx["fitted"]) == len(fx["residuals"]) == fx["nobs"] <= fx["n_input_rows"]
    assert len(fx["ranef"]) == fx["dims"]["q"]
    assert [d["label"] for d in fx["devfun_at"]] == [
        "theta_hat",
        "start",
        "perturbed_1",
        "perturbed_2",
        "zero",
    ]
    assert all(len(d["theta"]) == nth for d in fx["devfun_at"])
    obj = fx["objective"]
    assert obj["value"] == obj["devfun_at_theta_hat"] == fx["devfun_at"][0]["value"]
    assert fx["devfun_state_maxdiff"] == 0.0
    assert set(fx["satterthwaite_df"]) == set(fx["fixef"])
    if "boundary" in case["tags"]:
        assert fx["is_singular"]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_fixture_doubles_round_trip(case_id):
    raw_floats: list[str] = []

    def keep(text: str) -> float:
        raw_floats.append(text)
        return float(text)

    json.loads(fixture_text(case_id), parse_float=keep)
    assert raw_floats
    bad = [t for t in raw_floats if not same_text_double(t)]
    assert not bad, bad[:5]


def test_fixture_fitted_keys_are_row_names():
    fx = fixture("gcsemv_na")
    df = load_dataset("Gcsemv")
    kept = df.index[df["written"].notna()]
    assert list(fx["fitted"]) == list(kept)
    assert fx["n_input_rows"] - fx["nobs"] == int(df["written"].isna().sum()) == 202


@pytest.mark.parametrize("name", DATASETS)
def test_loader_dtypes_levels_na(name):
    meta = load_metadata(name)
    df = load_dataset(name)
    assert list(df.columns) == [c["name"] for c in meta["columns"]]
    assert list(df.index) == [str(r) for r in meta["row_names"]]
    assert len(df) == meta["n_rows"]
    for col in meta["columns"]:
        s = df[col["name"]]
        assert int(s.isna().sum()) == col["n_na"], col["name"]
        if col["type"] in ("factor", "ordered"):
            assert isinstance(s.dtype, pd.CategoricalDtype)
            assert list(s.cat.categories) == col["levels"]
            assert s.cat.ordered == (col["type"] == "ordered")
        elif col["type"] in DTYPE_KIND:
            assert (
                np.dtype(s.dtype.numpy_dtype if hasattr(s.dtype, "numpy_dtype") else s.dtype).kind
                == DTYPE_KIND[col["type"]]
            ), col["name"]


@pytest.mark.parametrize("name", DATASETS)
def test_csv_doubles_round_trip(name):
    meta = load_metadata(name)
    raw = pd.read_csv(DATA_DIR / f"{name}.csv", dtype=str, keep_default_na=False)
    df = load_dataset(name)
    for col in meta["columns"]:
        if col["type"] != "numeric":
            continue
        texts = raw[col["name"]]
        texts = texts[texts != "NA"]
        assert all(format(float(t), ".17g") == t for t in texts), col["name"]
        values = df[col["name"]].dropna().to_numpy()
        assert [float(t) for t in texts] == values.tolist()


def test_loader_known_values():
    cake = load_dataset("cake")
    assert cake["temperature"].cat.ordered
    assert list(cake["temperature"].cat.categories) == ["175", "185", "195", "205", "215", "225"]
    assert cake["angle"].dtype == np.int64
    ortho = load_dataset("Orthodont")
    assert list(ortho["Sex"].cat.categories) == ["Male", "Female"]
    assert ortho["Subject"].cat.categories[0] == "M16"  # nlme's ordering, not alphabetical
    dye = load_dataset("Dyestuff")
    assert dye["Yield"].iloc[0] == 1545.0 and dye.index[0] == "1"
    petrol = load_dataset("petrol")
    assert petrol["SG"].iloc[0] == 50.8 and math.isclose(petrol["VP"].iloc[0], 8.6)


def test_loader_rejects_tampered_csv(tmp_path):
    for ext in ("csv", "json"):
        (tmp_path / f"Dyestuff.{ext}").write_bytes((DATA_DIR / f"Dyestuff.{ext}").read_bytes())
    with open(tmp_path / "Dyestuff.csv", "a") as fh:
        fh.write('"A",1\n')
    with pytest.raises(ValueError, match="SHA-256"):
        load_dataset("Dyestuff", data_dir=tmp_path)
