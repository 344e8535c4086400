"""interlace.anova(m0, m1, ...) against lme4's anova() likelihood-ratio tables
(fixtures/r/anova.json, parity/r/anova_reference.R), keyed by model name and column.

REML fits are refitted by ML from their θ̂ on both sides, with minqa's BOBYQA (interlace's
port) as lme4's refitML; starting from θ̂s that agree to the REML fits' tolerance, the
refits end within BOBYQA's own tolerance of each other (sleepstudy: logLik 6e-12 apart).
How far such refits may spread is visible in the fixture: lme4's refitML of sleepstudy's
slope model and its direct ML fit differ in logLik by 1.3e-8 (1.5e-11 relative).  The
tolerance is 1e-9 relative on logLik, AIC, BIC and deviance, an absolute 1e-7 on Chisq (a
difference of two logLiks), and 1e-6 relative on the p-values (d log p / dChisq is about
1/2); npar, Df and the row order exactly."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from parity.anova_fixtures import COMPARISONS
from parity.data import ROOT, load_dataset, sha256_file

import interlace
from interlace.errors import InterlaceError

FIXTURE = json.loads((ROOT / "fixtures" / "r" / "anova.json").read_text())
REF = {c["id"]: c for c in FIXTURE["comparisons"]}


def _fits(cmp):
    data = load_dataset(cmp["dataset"])
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for m in cmp["models"]:
            if "family" in m:
                out.append(interlace.glmer(m["formula"], data, family=m["family"],
                                           link=m["link"]))
            else:
                out.append(interlace.fit(m["formula"], data,
                                         method="REML" if m["REML"] else "ML"))
    return out, [m["name"] for m in cmp["models"]]


def test_fixture_is_current():
    assert FIXTURE["provenance"]["script_sha256"] == sha256_file(
        ROOT / "parity" / "r" / "anova_reference.R")


@pytest.mark.parametrize("cmp", COMPARISONS, ids=[c["id"] for c in COMPARISONS])
def test_table_is_lme4s(cmp):
    fits, names = _fits(cmp)
    tab = interlace.anova(*fits, model_names=names)
    ref = REF[cmp["id"]]
    assert list(tab.index) == ref["rows"]
    r = {k: np.array([np.nan if v is None else v for v in col], dtype=float)
         for k, col in ref["table"].items()}
    assert list(tab.columns) == list(r)
    np.testing.assert_array_equal(tab["npar"], r["npar"])
    np.testing.assert_array_equal(tab["Df"], r["Df"])
    for col in ("logLik", "AIC", "BIC", "deviance"):
        np.testing.assert_allclose(tab[col], r[col], rtol=1e-9, err_msg=col)
    np.testing.assert_allclose(tab["Chisq"], r["Chisq"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(tab["Pr(>Chisq)"], r["Pr(>Chisq)"], rtol=1e-6, atol=0)
    reml = [m["name"] for m in cmp["models"] if m.get("REML") and "family" not in m]
    assert tab.attrs["refitted_ml"] == reml


def test_refuses_what_lme4_refuses():
    cmp = COMPARISONS[0]
    fits, _ = _fits(cmp)
    assert interlace.anova(fits[0]).attrs["heading"].startswith("Type III")  # lmerTest's
    glmm = next(c for c in COMPARISONS if any("family" in m for m in c["models"]))
    with pytest.raises(InterlaceError, match="single model"):
        interlace.anova(_fits(glmm)[0][-1])
    with pytest.raises(InterlaceError, match="at least one"):
        interlace.anova()
    sub = load_dataset("sleepstudy").iloc[:170]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        small = interlace.fit("Reaction ~ Days + (1 | Subject)", sub)
    with pytest.raises(InterlaceError, match="same size of dataset"):
        interlace.anova(fits[0], small)
    other = load_dataset("sleepstudy").copy()
    other["Reaction"] = other["Reaction"] + 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shifted = interlace.fit("Reaction ~ Days + (1 | Subject)", other)
    with pytest.raises(InterlaceError, match="same data object"):
        interlace.anova(fits[0], shifted)
    with pytest.raises(InterlaceError, match="different lengths"):
        interlace.anova(*fits, model_names=["a"])


def test_without_refit_mixed_methods_warn():
    data = load_dataset("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = interlace.fit("Reaction ~ Days + (1 | Subject)", data, method="REML")
        b = interlace.fit("Reaction ~ Days + (Days | Subject)", data, method="ML")
    with pytest.warns(UserWarning, match="some models fit with REML"):
        tab = interlace.anova(a, b, refit=False)
    assert tab.loc["MODEL1", "logLik"] == a.llf
