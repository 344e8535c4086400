"""interlace.drop1 against lmerTest 3.1-3's drop1 and lme4's (fixtures/r/drop1.json,
parity/r/drop1_reference.R).

lmerTest's tables at lme4's θ̂ (``evaluate_at``): F and sums of squares to 1e-10, KR
columns to 1e-10 (p 1e-9), Satterthwaite DenDF and p to its class, 1e-3 (numerical
derivatives on both sides); hypotheses to 1e-12 up to each row's sign (the model-difference
rows come from a QR basis whose sign follows the sign of an entry that is zero up to
rounding, ±1e-16, in R's arithmetic and in ours; F and both df are invariant to it).
lme4's table refits the reduced models and their ML refits from our own optima: AIC to
1e-7 relative (the agreement of refitted optima).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from parity.data import ROOT, load_dataset, sha256_file
from parity.drop1_fixtures import MODELS

import interlace
from interlace.errors import InterlaceError

FIXTURE = json.loads((ROOT / "fixtures" / "r" / "drop1.json").read_text())
REF = {m["id"]: m for m in FIXTURE["models"]}
SPEC = {m["id"]: m for m in MODELS}
_CACHE: dict = {}


def fitted(model_id, at_r=True):
    key = (model_id, at_r)
    if key not in _CACHE:
        spec = SPEC[model_id]
        data = load_dataset(spec["dataset"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kw = {"contrasts": spec.get("contrasts")}
            _CACHE[key] = (interlace.evaluate_at(spec["formula"], data, REF[model_id]["theta"],
                                                 **kw)
                           if at_r else interlace.fit(spec["formula"], data, **kw))
    return _CACHE[key]


def test_fixture_is_current():
    assert FIXTURE["provenance"]["script_sha256"] == sha256_file(
        ROOT / "parity" / "r" / "drop1_reference.R")


KINDS = {"satterthwaite": ("Satterthwaite", False), "satterthwaite_forced": ("Satterthwaite", True),
         "kenward_roger": ("Kenward-Roger", False), "kenward_roger_forced": ("Kenward-Roger", True)}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("model_id", list(REF))
def test_lmertest_drop1(model_id, kind):
    ddf, forced = KINDS[kind]
    ref = REF[model_id][kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab = interlace.drop1(fitted(model_id), ddf=ddf, force_get_contrasts=forced)
    assert list(tab.index) == list(ref["rows"]) and list(tab.columns) == list(ref["columns"])
    for col in ref["columns"]:
        tol = (1e-3 if ddf == "Satterthwaite" and col in ("DenDF", "Pr(>F)") else
               1e-9 if col.startswith("Pr") else 1e-10)
        np.testing.assert_allclose(tab[col].to_numpy(float),
                                   np.array(ref["values"][col], dtype=float),
                                   rtol=tol, atol=0, equal_nan=True, err_msg=col)
    for term, rows in ref["hypotheses"].items():
        want = np.array(rows, dtype=float)
        got = tab.attrs["hypotheses"][term].to_numpy()
        assert got.shape == want.shape, term
        for g, w in zip(got, want, strict=True):
            if np.isnan(w).all():
                assert np.isnan(g).all()
                continue
            s = np.sign(w[np.argmax(np.abs(w))]) * np.sign(g[np.argmax(np.abs(w))])
            np.testing.assert_allclose(s * g, w, rtol=0, atol=1e-12, err_msg=term)


@pytest.mark.parametrize("model_id", ["ortho", "exam_factors", "oats"])
def test_lme4_drop1(model_id):
    ref = REF[model_id]["lme4"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab = interlace.drop1(fitted(model_id, at_r=False), ddf="lme4")
    assert list(tab.index) == list(ref["rows"]) and list(tab.columns) == list(ref["columns"])
    np.testing.assert_array_equal(tab["npar"].to_numpy(float),
                                  np.array(ref["values"]["npar"], dtype=float))
    np.testing.assert_allclose(tab["AIC"], np.array(ref["values"]["AIC"], dtype=float),
                               rtol=1e-7)


def test_scope_and_refusals():
    res = fitted("exam_factors")
    a = interlace.drop1(res, scope="standLRT")
    assert list(a.index) == ["standLRT"]
    with pytest.raises(InterlaceError, match="Only marginal terms"):
        interlace.drop1(res, scope=["sex"])
    with pytest.raises(InterlaceError, match="ddf must be"):
        interlace.drop1(res, ddf="KR")
    with pytest.raises(InterlaceError, match="scope"):
        interlace.drop1(res, scope=[])
