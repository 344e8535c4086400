"""Users' own parity catalogs (issue 12): ``nox -s parity -- --catalog my_cases.toml`` runs
a catalog of the user's models on the user's CSV files through the whole harness.

``examples/user_catalog/`` is such a catalog (plain CSVs written by ``write.csv``, stored
fixtures and floors written by ``parity.fixtures`` / ``glmer_fixtures`` / ``optimum_floor``
with ``--catalog``)."""

from __future__ import annotations

import json
import shutil

import pytest
from parity import run
from parity.data import ROOT, sha256_file
from parity.user_catalog import load_user_catalog, prepare_data

EXAMPLE = ROOT / "examples" / "user_catalog"
CATALOG = EXAMPLE / "cases.toml"


def test_example_catalog_passes_stored(tmp_path):
    status = run.main(["--catalog", str(CATALOG), "--mode", "stored", "--reports",
                       str(tmp_path)])
    report = json.loads((tmp_path / "parity.json").read_text())
    assert [c["case"] for c in report["cases"]] == ["oxboys_quadratic",
                                                     "oxboys_occasion_sum_ml",
                                                     "arabidopsis_poisson"]
    assert all(c["passed"] for c in report["cases"]), [c["classification"]
                                                       for c in report["cases"]]
    assert status == 0
    assert report["environment"]["catalog"] == str(CATALOG.resolve())
    assert "parity: cases.toml" in (tmp_path / "parity.html").read_text()
    sum_case = report["cases"][1]
    fixef = next(q for q in sum_case["quantities"] if q["name"] == "fixef_at_r_theta")
    assert fixef["n"] == 9 and not fixef["missing"]  # factor(Occasion)1..8 + intercept


def test_prepared_data_and_fixtures_are_current():
    cat = load_user_catalog(CATALOG)
    for name, src in cat["files"].items():
        meta = json.loads((EXAMPLE / "prepared" / f"{name}.json").read_text())
        assert meta["source_sha256"] == sha256_file(src), name
        assert meta["csv_sha256"] == sha256_file(EXAMPLE / "prepared" / f"{name}.csv")
    r_dir = ROOT / "parity" / "r"
    for case in cat["cases"]:
        fx = json.loads((EXAMPLE / "fixtures" / f"{case['id']}.json").read_text())
        assert fx["provenance"]["script_sha256"] == sha256_file(r_dir / "lmer_reference.R")
    for case in cat["glmm"]:
        fx = json.loads((EXAMPLE / "fixtures" / "glmm" / f"{case['id']}.json").read_text())
        assert fx["provenance"]["script_sha256"] == sha256_file(r_dir / "glmer_reference.R")
        fl = json.loads((EXAMPLE / "fixtures" / "floor" / f"{case['id']}.glmm.json")
                        .read_text())
        assert fl["provenance"]["script_sha256"] == sha256_file(r_dir / "floors.R")


def _copy_example(dest):
    shutil.copytree(EXAMPLE, dest, dirs_exist_ok=True)
    return dest / "cases.toml"


def test_a_changed_csv_is_prepared_again_or_refused(tmp_path, monkeypatch):
    cat_path = _copy_example(tmp_path)
    csv = tmp_path / "oxboys.csv"
    csv.write_text(csv.read_text().replace("140.5", "140.6", 1))
    monkeypatch.setattr(shutil, "which", lambda name: None)  # as on a machine without R
    with pytest.raises(SystemExit, match="has not been prepared yet and R is not installed"):
        prepare_data(load_user_catalog(cat_path))


@pytest.mark.parametrize("edit, match", [
    (lambda t: t.replace('oxboys = "oxboys.csv"', 'oxboys = "nowhere.csv"'),
     "must name a CSV file next to the catalog"),
    (lambda t: t + '\n[[diagnostics]]\nid = "d"\nmodel = "oxboys_quadratic"\nlevel = "quick"\n'
                   'sources = ["lme4_influence"]\ntags = []\nnotes = ""\n',
     r"\[\[diagnostics\]\] entries are not supported"),
])
def test_bad_catalogs_are_named(tmp_path, edit, match):
    cat_path = _copy_example(tmp_path)
    cat_path.write_text(edit(cat_path.read_text()))
    with pytest.raises(SystemExit, match=match):
        load_user_catalog(cat_path)


def test_unsupported_contrasts_in_a_catalog_are_named(tmp_path):
    cat_path = _copy_example(tmp_path)
    cat_path.write_text(cat_path.read_text().replace('"contr.sum"', '"contr.foo"'))
    with pytest.raises(ValueError, match="contrasts must be R's function names"):
        load_user_catalog(cat_path)
