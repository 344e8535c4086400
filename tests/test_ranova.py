"""interlace.ranova against lmerTest 3.1-3's ranova() (fixtures/r/ranova.json,
parity/r/ranova_reference.R): row names (lmerTest's "Days in (Days | Subject)" and
"(1 | plate)"), npar, Df exactly; logLik and AIC to 1e-9 relative, LRT to 1e-7 absolute
(a difference of two logLiks) and p to 1e-6 relative — optimum-dependent, both sides
refitting each reduced model (observed: logLik ≤ 3e-11, p ≤ 5e-9).  Covers a slope
reduced to its intercept, crossed terms, the last term removed (R's lm, REML and ML),
uncorrelated (||) terms and a factor-by-slope fixed part."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from parity.data import ROOT, load_dataset, sha256_file
from parity.ranova_fixtures import TESTS

import interlace
from interlace.errors import InterlaceError

FIXTURE = json.loads((ROOT / "fixtures" / "r" / "ranova.json").read_text())
REF = {t["id"]: t for t in FIXTURE["tests"]}


def test_fixture_is_current():
    assert FIXTURE["provenance"]["script_sha256"] == sha256_file(
        ROOT / "parity" / "r" / "ranova_reference.R")


@pytest.mark.parametrize("t", TESTS, ids=[t["id"] for t in TESTS])
def test_ranova_is_lmertests(t):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = interlace.fit(t["formula"], load_dataset(t["dataset"]),
                            method="REML" if t["REML"] else "ML")
    tab, ref = interlace.ranova(res), REF[t["id"]]
    assert list(tab.index) == ref["rows"]
    assert list(tab.columns) == ref["columns"]
    r = {k: np.array([np.nan if v is None else v for v in col], dtype=float)
         for k, col in ref["table"].items()}
    np.testing.assert_array_equal(tab["npar"], r["npar"])
    np.testing.assert_array_equal(tab["Df"], r["Df"])
    np.testing.assert_allclose(tab["logLik"], r["logLik"], rtol=1e-9)
    np.testing.assert_allclose(tab["AIC"], r["AIC"], rtol=1e-9)
    np.testing.assert_allclose(tab["LRT"], r["LRT"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(tab["Pr(>Chisq)"], r["Pr(>Chisq)"], rtol=1e-6, atol=0)
    assert set(tab.attrs["formulae"]) == set(ref["rows"][1:])


def test_ranova_needs_an_lmm():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = interlace.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                            load_dataset("cbpp"))
    with pytest.raises(InterlaceError, match="linear mixed model"):
        interlace.ranova(g)
