"""Certifying users' own lme4 fits (issue 12): ``parity/r/export_fit.R``'s
``interlace_export()`` in the user's R session, ``python -m parity.certify`` here.

The stored examples (``fixtures/certify/``, written by ``parity/r/certify_examples.R``) are
fits made as a user makes them: lmerTest's lmer, glmer with ``contrasts=``, ML with an
expression as weights, missing responses and ``options(contrasts = )``, a Poisson GLMM with
an ``offset=`` argument.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from parity import certify
from parity.data import ROOT, sha256_file

EXAMPLES = ROOT / "fixtures" / "certify"
R_DIR = ROOT / "parity" / "r"
NAMES = ["cbpp_sum", "ergo_sas_ml", "sleep_lmertest", "ticks_offset"]
#: the deletion levels of lme4's influence() each example exports
DIAG = {"cbpp_sum": ["herd"], "ergo_sas_ml": ["Subject"], "sleep_lmertest": ["1", "Subject"],
        "ticks_offset": []}


def _export(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def test_examples_are_current():
    assert sorted(p.stem for p in EXAMPLES.glob("*.json")) == NAMES
    for name in NAMES:
        fx = _export(name)
        ref = "lmer_reference.R" if fx["export"]["kind"] == "lmm" else "glmer_reference.R"
        assert fx["provenance"]["script_sha256"] == sha256_file(R_DIR / ref), name
        assert fx["export"]["script_sha256"] == sha256_file(R_DIR / "export_fit.R"), name
        assert fx["floor"]["provenance"]["script_sha256"] == sha256_file(R_DIR / "floors.R")
        assert fx["export"]["data"]["csv_sha256"] == sha256_file(EXAMPLES / f"{name}.csv")
        assert list(fx.get("influence", {})) == fx["export"]["diagnostics"] == DIAG[name]
        for ref in fx.get("influence", {}).values():
            assert ref["provenance"]["script_sha256"] == sha256_file(
                R_DIR / "influence_reference.R")


def test_the_call_is_recorded_as_the_user_wrote_it():
    ergo = _export("ergo_sas_ml")["export"]
    assert ergo["case"]["weights"] == "export_weights"  # an expression, evaluated by R
    assert ergo["case"]["contrasts_default"] == ["contr.SAS", "contr.poly"]
    assert ergo["case"]["method"] == "ML"
    assert "weights = 1 + as.integer(Type)/4" in ergo["call"]
    ticks = _export("ticks_offset")["export"]["case"]
    assert ticks["offset"] == "export_offset" and ticks["family"] == "poisson"
    assert _export("cbpp_sum")["export"]["case"]["contrasts"] == {"period": "contr.sum"}


def test_certify_passes_the_examples(tmp_path):
    assert certify.main([str(EXAMPLES), "--reports", str(tmp_path)]) == 0
    for name in NAMES:
        report = json.loads((tmp_path / f"{name}.json").read_text())
        entry, *diag = report["cases"]
        assert entry["passed"], (name, entry["classification"])
        assert [d["level"] for d in diag] == DIAG[name]
        for d in diag:
            assert d["kind"] == "diagnostics" and d["passed"], (name, d["classification"])
            names = {q["name"] for q in d["quantities"]}
            assert {"cooks_distance[lme4-influence]", "dfbetas[lme4-influence]"} <= names
            if d["model_kind"] == "lmm":
                assert "cooks_distance[lme4-influence]_at_r_theta" in names
                assert "objective_deleted[lme4-influence]" in names
        names = [q["name"] for q in entry["quantities"]]
        assert names[0] == "export_refit_objective"
        assert "objective_at_r_theta" in names and "theta" in names
        md = (tmp_path / f"{name}.md").read_text()
        assert md.startswith(f"# interlace certification of `{name}`")
        assert "<html" in (tmp_path / f"{name}.html").read_text()[:200].lower()
    ergo = json.loads((tmp_path / "ergo_sas_ml.json").read_text())["cases"][0]
    fitted = next(q for q in ergo["quantities"] if q["name"] == "fitted_at_r_theta")
    assert fitted["n"] == 34  # two missing responses omitted, as na.omit
    assert ergo["kenward_roger"] == "an ML fit (lmerTest refuses Kenward-Roger for it)"
    sleep = json.loads((tmp_path / "sleep_lmertest.json").read_text())["cases"][0]
    assert sleep["kenward_roger"] == "compared"
    kr = {q["name"]: q for q in sleep["quantities"] if q["name"].startswith("kenward")}
    assert kr["kenward_roger_at_r_theta"]["n"] == 8 and kr["kenward_roger"]["n"] == 6
    assert all(q["passed"] for q in kr.values())


def _copy(name: str, dest: Path) -> Path:
    for ext in (".json", ".csv"):
        shutil.copy(EXAMPLES / f"{name}{ext}", dest / f"{name}{ext}")
    return dest / f"{name}.json"


def test_changed_data_fail_with_the_reason(tmp_path, capsys):
    path = _copy("sleep_lmertest", tmp_path)
    csv = path.with_suffix(".csv")
    lines = csv.read_text().splitlines()
    lines[5] = lines[5].replace(",", ",1", 1)
    csv.write_text("\n".join(lines) + "\n")
    assert certify.main([str(path), "--reports", str(tmp_path / "rep")]) == 1
    out = capsys.readouterr().out
    assert "FAIL sleep_lmertest" in out and "SHA-256 does not match" in out


def test_an_unreproduced_fit_is_not_certified(tmp_path):
    path = _copy("cbpp_sum", tmp_path)
    fx = json.loads(path.read_text())
    fx["export"]["refit"]["objective_rel_diff"] = 1e-4  # R's refit missed the user's fit
    path.write_text(json.dumps(fx))
    assert certify.main([str(path), "--reports", str(tmp_path / "rep")]) == 1
    entry = json.loads((tmp_path / "rep" / "cbpp_sum.json").read_text())["cases"][0]
    q = entry["quantities"][0]
    assert q["name"] == "export_refit_objective" and not q["passed"]


def test_a_changed_fixed_effect_fails_naming_it(tmp_path, capsys):
    path = _copy("sleep_lmertest", tmp_path)
    fx = json.loads(path.read_text())
    fx["fixef"]["Days"] *= 1 + 1e-6  # one fixed effect of R's, changed in the JSON
    path.write_text(json.dumps(fx))
    assert certify.main([str(path), "--reports", str(tmp_path / "rep")]) == 1
    entry = json.loads((tmp_path / "rep" / "sleep_lmertest.json").read_text())["cases"][0]
    bad = {q["name"]: q for q in entry["quantities"] if not q["passed"]}
    assert set(bad) == {"fixef_at_r_theta"} and bad["fixef_at_r_theta"]["worst_key"] == "Days"
    assert entry["classification"].startswith("formula problem")
    assert "FAIL sleep_lmertest" in capsys.readouterr().out


LIVE_EXPORT = """
source("{r_dir}/export_fit.R")
suppressPackageStartupMessages(library(lmerTest))
ov <- as.data.frame(nlme::Ovary)
ov$Mare <- factor(as.character(ov$Mare))
ov$s <- sin(2 * pi * ov$Time); ov$c <- cos(2 * pi * ov$Time)
ovary <- lmer(follicles ~ s + c + (1 + s | Mare), ov)
interlace_export(ovary, "{out}", floor = FALSE, diagnostics = "Mare")
ome <- MASS::OME
ome$ID <- factor(ome$ID)
ome_glmm <- lme4::glmer(cbind(Correct, Trials - Correct) ~ Loud + Noise + (1 | ID), ome,
                        family = binomial)
interlace_export(ome_glmm, "{out}")  # with lme4's own floor
"""


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs R (Rscript)")
def test_r_export_then_certify_on_data_outside_the_catalog(tmp_path):
    """End to end, R run now: lmerTest's lmer on nlme's Ovary (with lme4's influence() by
    mare) and a binomial glmer on MASS's OME, neither data set in the catalog, exported
    and certified."""
    script = tmp_path / "export.R"
    script.write_text(LIVE_EXPORT.format(r_dir=R_DIR, out=tmp_path / "exports"))
    run = subprocess.run(["Rscript", str(script)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert certify.main([str(tmp_path / "exports"), "--reports", str(tmp_path / "rep")]) == 0
    ovary = json.loads((tmp_path / "rep" / "ovary.json").read_text())["cases"]
    assert [c["kind"] for c in ovary] == ["lmm", "diagnostics"]
    assert all(c["passed"] for c in ovary)
    assert ovary[0]["kenward_roger"] == "compared"
    ome = json.loads((tmp_path / "rep" / "ome_glmm.json").read_text())["cases"]
    assert [c["kind"] for c in ome] == ["glmm"] and ome[0]["passed"]


def test_a_perturbed_influence_export_fails_naming_the_quantity(tmp_path, capsys):
    path = _copy("sleep_lmertest", tmp_path)
    fx = json.loads(path.read_text())
    row = fx["influence"]["Subject"]["dfbetas"]["308"]
    row["Days"] *= 1.001  # one DFBETAS of one deleted subject
    path.write_text(json.dumps(fx))
    assert certify.main([str(path), "--reports", str(tmp_path / "rep")]) == 1
    report = json.loads((tmp_path / "rep" / "sleep_lmertest.json").read_text())
    entry, obs, subject = report["cases"]
    assert not entry["passed"] and obs["passed"] and not subject["passed"]
    bad = [q["name"] for q in subject["quantities"] if not q["passed"]]
    assert "dfbetas[lme4-influence]_at_r_theta" in bad
    worst = next(q for q in subject["quantities"]
                 if q["name"] == "dfbetas[lme4-influence]_at_r_theta")["worst_key"]
    assert worst == "Days / 308"
    assert "FAIL sleep_lmertest" in capsys.readouterr().out


def test_diagnostics_levels_are_checked():
    assert certify.influence_levels(False) == [] and certify.influence_levels(True) == ["1"]
    assert certify.influence_levels(["Subject", "1", "Subject"]) == ["Subject", "1"]
    with pytest.raises(certify.CertifyError, match="grouping factor name"):
        certify.influence_levels(3)


def test_bad_paths_are_named(tmp_path, capsys):
    assert certify.main([str(tmp_path / "nowhere.json")]) == 2
    assert "no such export" in capsys.readouterr().err
    (tmp_path / "x.json").write_text("{}")
    assert certify.main([str(tmp_path)]) == 2
    assert "no interlace_export() files" in capsys.readouterr().err


def test_other_versions_are_reported():
    fx = _export("sleep_lmertest")
    fx["export"]["session"] = dict(fx["export"]["session"], R="R version 4.4.1 (2024-06-14)",
                                   lme4="1.1.35.5")
    note = certify.versions_note(fx, {"R": "R version 4.2.2 Patched", "lme4": "1.1.31"})
    assert "exported with R 4.4.1, lme4 1.1.35.5" in note
    assert "certified against R 4.2.2, lme4 1.1.31" in note
    same = certify.versions_note(_export("sleep_lmertest"),
                                 {"R": "4.2.2 Patched (2022-11-10 r83330)", "lme4": "1.1.31"})
    assert same == ("exported with R 4.2.2, lme4 1.1.31: the versions interlace's catalog is "
                    "certified against")


REFUSALS = {
    "subset": ('lmer(Reaction ~ Days + (1 | Subject), sleepstudy, subset = Days > 1)',
               "argument(s) interlace does not reproduce: subset"),
    "matrix": ('lmer(score ~ Machine + (1 | Worker), nlme::Machines, '
               'contrasts = list(Machine = contr.sum(3)))',
               "unsupported contrasts for Machine"),
    "global": ('{ z <- rnorm(180); lmer(Reaction ~ Days + z + (1 | Subject), sleepstudy) }',
               "variable(s) not in its data frame: z"),
    "na_exclude": ('lmer(Reaction ~ Days + (1 | Subject), sleepstudy, na.action = na.exclude)',
                   "na.action = na.exclude is not supported"),
    "not_a_model": ("lm(Reaction ~ Days, sleepstudy)", "must be a fitted lmer() or glmer()"),
    "diag_level": ("lmer(Reaction ~ Days + (1 | Subject), sleepstudy)",
                   "diagnostics names no grouping factor of the model: Days", "Days"),
}


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs R (Rscript)")
def test_export_refuses_what_it_cannot_carry(tmp_path):
    cases = ",\n".join(
        f'  {k} = tryCatch({{ m <- {expr}; interlace_export(m, "{tmp_path}", "{k}", '
        f'diagnostics = {json.dumps(diag[0]) if diag else "FALSE"}, floor = FALSE); '
        f'"no error" }}, error = function(e) conditionMessage(e))'
        for k, (expr, _, *diag) in REFUSALS.items())
    script = tmp_path / "refusals.R"
    script.write_text(f'source("{R_DIR / "export_fit.R"}")\n'
                      "suppressPackageStartupMessages(library(lme4))\n"
                      f"out <- list(\n{cases})\n"
                      "writeLines(jsonlite::toJSON(out, auto_unbox = TRUE), "
                      f'"{tmp_path}/out.json")\n')
    subprocess.run(["Rscript", str(script)], check=True, capture_output=True)
    got = json.loads((tmp_path / "out.json").read_text())
    for k, (_, message, *_) in REFUSALS.items():
        assert message in got[k], (k, got[k])


def test_a_formula_interlace_cannot_build_fails_naming_it(tmp_path, capsys):
    path = _copy("sleep_lmertest", tmp_path)
    fx = json.loads(path.read_text())
    fx["export"]["case"]["formula"] = "Reaction ~ poly(Days, 2) + (Days | Subject)"
    path.write_text(json.dumps(fx))
    assert certify.main([str(path), "--reports", str(tmp_path / "rep")]) == 1
    assert "unknown function 'poly'" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["sleepstudy", "cbpp", "Machines", "Gcsemv", "Exam"])
def test_python_writes_data_as_r_does(tmp_path, name):
    """write_frame gives the bytes R's export_data.R wrote (same SHA-256): factors, NA,
    integers, doubles at 17 digits, row names."""
    from parity.data import load_dataset, load_metadata, write_frame

    meta = write_frame(load_dataset(name), tmp_path, name)
    assert meta["csv_sha256"] == load_metadata(name)["csv_sha256"]


def test_python_first_certify_says_how_to_install_r(monkeypatch):
    from parity import live

    import interlace
    from conftest import dataset

    res = interlace.fit("Reaction ~ Days + (1 | Subject)", dataset("sleepstudy"))
    monkeypatch.setattr(live, "unavailable_reason", lambda: "rpy2 cannot start R (test)")
    with pytest.raises(certify.CertifyError, match="apt-get install r-base-core"):
        certify.certify_result(res)
    # the package's entry point reaches the harness's certifier, and its error
    with pytest.raises(interlace.InterlaceError, match="rpy2 cannot start R .test.*apt-get"):
        interlace.certify(res, diagnostics="Subject")


def test_interlace_certify_without_the_harness_says_how_to_get_it(monkeypatch):
    import interlace
    from interlace import certification

    monkeypatch.setattr(certification, "entry_points", lambda group: [])
    with pytest.raises(interlace.InterlaceError, match=r"pip install -e '\.\[r\]'"):
        interlace.certify(object())


def _live_ok() -> bool:
    try:
        from parity import live
        return not live.unavailable_reason()
    except Exception:  # pragma: no cover - no rpy2
        return False


@pytest.mark.skipif(not _live_ok(), reason="needs R with lme4 through rpy2")
def test_python_first_certify_runs_lme4_now(tmp_path):
    import warnings

    import numpy as np

    import interlace
    from conftest import dataset

    m = dataset("Machines")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = interlace.fit("score ~ Machine + (1 | Worker)", m, method="ML",
                            contrasts={"Machine": "sum"},
                            weights=1.0 + np.arange(len(m)) % 3)
        g = interlace.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                            dataset("cbpp"), family="binomial")
    rep = interlace.certify(res, name="machines", diagnostics="Worker")
    assert isinstance(rep, certify.CertifyReport)
    assert rep.passed, rep.entry["classification"]
    (diag,) = rep.entry["diagnostics"]
    assert diag["passed"] and diag["level"] == "Worker" and diag["mode"] == "live"
    assert "cooks_distance[lme4-influence]_at_r_theta @ Worker" in rep.frame().index
    frame = rep.frame()
    assert frame.loc["objective_at_r_theta", "passed"] and "fixef" in frame.index
    assert rep.to_markdown().count("machines") > 3
    assert rep.to_html(tmp_path / "m.html").read_text().startswith("<!DOCTYPE html>")
    assert rep.entry["floor"].startswith("lme4's own floor: 8 refits")
    glmm = interlace.certify(g, name="cbpp")
    assert glmm.passed and glmm.entry["floor"].startswith("lme4's own floor: 16 refits")
