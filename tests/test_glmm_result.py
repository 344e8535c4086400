"""GLMM result quantities at lme4's (θ̂, β̂), against lme4's, and the API's errors.

``interlace.evaluate_glmm_at`` with lme4's parameters and lme4's PIRLS start gives the
result lme4's fit holds: fitted values, the four residual types, the RX-based vcov, the
random effects and their conditional SDs, the objective, logLik, AIC, BIC and
``deviance()`` — all to 1e-10 (relative, with an absolute floor of 1e-10·max|R| per
quantity for elements near 0).  The Hessian-based standard errors
(finite differences of the deviance, step 1e-4) are compared to 1e-5 or, where larger, twice
lme4's own spread of those SEs at the same point between row orders of the data
(``fixtures/r/floor``): the second difference multiplies the deviance's last-bit differences
by 1e8, and the inverse by the Hessian's condition number, in lme4 as here.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
from parity.catalog import load_catalog
from parity.glmm_parity import at_lme4, evaluate_at_lme4, se_tolerances
from parity.optimum_floor import glmm_floor

import interlace
from conftest import ROOT, dataset
from interlace.errors import InterlaceError, ModelSpecError

GLMM = ROOT / "fixtures" / "r" / "glmm"
CASES = [c for c in load_catalog()["glmm"] if c["nAGQ"] > 0]
IDS = [c["id"] for c in CASES]


@cache
def _at_lme4(case_id: str):
    case = next(c for c in CASES if c["id"] == case_id)
    fx = json.loads((GLMM / f"{case_id}.json").read_text())
    return case, fx, evaluate_at_lme4(case, fx, dataset(case["dataset"]))


def _close(a, b, what, rtol=1e-10):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.max(np.abs(b)), err_msg=what)


def _by_row(res, values) -> dict:
    return dict(zip([str(x) for x in res._design.row_labels], np.asarray(values), strict=True))


def _keyed(ours: dict, theirs: dict, what: str, rtol: float = 1e-10) -> None:
    """Element-wise by key; a key on one side only is a failure."""
    assert set(ours) == set(theirs), what
    keys = list(theirs)
    _close([ours[k] for k in keys], [theirs[k] for k in keys], what, rtol)


def _matrix(V, names) -> dict:
    V = np.asarray(V)
    return {(a, b): V[i, j] for i, a in enumerate(names) for j, b in enumerate(names)}


def _r_matrix(nested: dict) -> dict:
    return {(a, b): v for a, row in nested.items() for b, v in row.items()}


@pytest.mark.parametrize("case_id", IDS)
def test_quantities_at_lme4_parameters(case_id):
    case, fx, res = _at_lme4(case_id)
    assert [str(x) for x in res._design.row_labels] == fx["row_names"]
    _keyed(_by_row(res, res.fittedvalues), fx["fitted"], "fitted")
    for kind in ("deviance", "pearson", "working", "response"):
        _keyed(_by_row(res, res.resid(kind)), fx["residuals"][kind], f"{kind} residuals")
    names = list(res.fe_params.index)
    _keyed(_matrix(res.vcov(use_hessian=False), names), _r_matrix(fx["vcov_rx"]),
           "RX-based vcov")
    obj = fx["objective"]
    for ours, theirs in ((res.objective, obj["value"]), (res.llf, obj["loglik"]),
                         (res.aic, obj["aic"]), (res.bic, obj["bic"]),
                         (res.deviance, obj["deviance"])):
        assert ours == pytest.approx(theirs, rel=1e-10)
    assert res.nparams == obj["df"] and res.nobs == fx["nobs"]
    ref = {(r["group"], r["term"], r["level"]): (r["value"], r["condsd"]) for r in fx["ranef"]}
    frame = res.ranef_frame()
    keys = list(zip(frame["grpvar"], frame["term"], frame["grp"], strict=True))
    assert set(keys) == set(ref)
    _close(frame["condval"], [ref[k][0] for k in keys], "ranef")
    _close(frame["condsd"], [ref[k][1] for k in keys], "condsd")


@pytest.mark.parametrize("case_id", IDS)
def test_predict_at_lme4_parameters(case_id):
    """predict(newdata) on the fitting data, row by row: without the random effects (lme4's
    re.form = NA) lme4's Xβ (+ the formula's offset() terms, not an offset= argument's, as
    lme4 1.1-31) and its inverse link; with them, the fitted values — except where an
    offset= argument's offset is left out, which lme4 does too."""
    case, fx, res = _at_lme4(case_id)
    data = dataset(case["dataset"])
    if case.get("offset"):
        # lme4's case passes offset= (not a formula term): predict(newdata) then leaves it
        # out, and so does ours for an offset= argument
        res = evaluate_at_lme4(case, fx, data, formula=case["formula"],
                               offset=np.asarray(res._design.offset))
    ours = res.predict(data, type="response")
    if not case.get("offset"):
        _keyed(_by_row(res, ours), fx["fitted"], "predict(newdata, type='response')")
    for kind in ("link", "response"):
        pop = res.predict(data, type=kind, include_re=False)
        _keyed(_by_row(res, pop), fx["predict_population"][kind],
               f"predict(newdata, re.form=NA, type={kind!r})")


@pytest.mark.parametrize("case_id", [c["id"] for c in CASES if c["level"] == "quick"])
def test_hessian_vcov_at_lme4_parameters(case_id):
    """lme4's default vcov: 2·(H⁻¹)[β,β] from deriv12 of the deviance at (θ̂, β̂)."""
    case, fx, _ = _at_lme4(case_id)
    if fx["vcov_hessian"] is None:
        pytest.skip("lme4 has no Hessian vcov here")
    ours = at_lme4(case, fx, dataset(case["dataset"]))["se"]  # deriv12 at lme4's point
    rtol, why, _, _ = se_tolerances(fx, glmm_floor(case_id))
    theirs = {a: np.sqrt(row[a]) for a, row in fx["vcov_hessian"].items()}
    _keyed(ours, theirs, f"Hessian SEs ({why})", rtol=rtol)


def test_glmer_bad_input():
    d = dataset("cbpp")
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    with pytest.raises(InterlaceError, match="family 'quasibinomial' is not supported"):
        interlace.glmer(f, d, family="quasibinomial")
    with pytest.raises(InterlaceError, match="link 'identity' is not available for the binomial"):
        interlace.glmer(f, d, link="identity")
    with pytest.raises(InterlaceError, match="nAGQ must be a whole number"):
        interlace.glmer(f, d, nAGQ=101)
    with pytest.raises(ModelSpecError, match="nAGQ > 1 is only available"):
        interlace.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | period)",
                        d, nAGQ=3)
    with pytest.raises(InterlaceError, match="optimizer must be one name or a pair"):
        interlace.glmer(f, d, optimizer=("nelder_mead", "bobyqa", "bobyqa"))
    with pytest.warns(FutureWarning, match="shortcut to lmer"):
        res = interlace.glmer("Reaction ~ Days + (1 | Subject)", dataset("sleepstudy"),
                              family="gaussian")
    assert isinstance(res, interlace.CrossedLMEResult)
