"""GLMM profile-likelihood intervals against lme4 1.1-31's ``confint(m)`` for a glmerMod.

Reference: ``fixtures/r/glmm_profile.json`` (``parity/r/glmm_profile_reference.R``, via
``python -m parity.glmm_profile_fixtures``): per case lme4's fit, its profile's deviance
function (PIRLS start lp0, value at the optimum), the whole profile table and the intervals
at levels 0.95 and 0.90; the cases lme4 refuses record its error.  The parity entry
``glmm_profile`` compares every case; these tests check the pieces on the cheaper ones:

1. exact at lme4's parameters: lp0 and the deviance at lme4's optimum and at every row of
   lme4's profile (lme4's base + ζ²), 1e-10 relative;
2. walked from lme4's own optimum, our profile is lme4's row for row (the same Nelder–Mead
   inner runs): 1e-8;
3. ``confint()`` of a GLMM is the profile (lme4's default), ``parm`` selects as lme4's;
4. refusals (nAGQ = 0, a family with a dispersion) and invariance to the rows' order.
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from parity.data import load_dataset
from parity.glmm_parity import fit_case, glmer_kwargs
from parity.glmm_profile_fixtures import case_spec
from parity.glmm_side import case_formula

import interlace
from interlace.errors import InterlaceError
from interlace.inference.glmm_profile import GlmmProfiler

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "r" / "glmm_profile.json"


@cache
def reference(case_id: str) -> dict:
    cases = json.loads(FIXTURE.read_text())["cases"]
    return next(c for c in cases if c["id"] == case_id)


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


@cache
def fit(case_id: str):
    return fit_case(case_spec(case_id))


def at_lme4(case_id: str) -> GlmmProfiler:
    """A profiler at lme4's (θ̂, β̂), measuring ζ from lme4's base deviance."""
    c, case = reference(case_id), case_spec(case_id)
    res = _quiet(interlace.evaluate_glmm_at, case_formula(case), load_dataset(case["dataset"]),
                 c["fit"]["theta"], list(c["fit"]["fixef"].values()), family=case["family"],
                 link=case["link"], weights=case.get("weights"), nAGQ=case["nAGQ"])
    return GlmmProfiler(res, base=c["base"])


def ref_table(case_id: str) -> pd.DataFrame:
    return pd.DataFrame(reference(case_id)["profile_table"])


@pytest.mark.parametrize("case_id", ["cbpp_agq9", "mmmec_offset", "bacteria_probit"])
def test_deviance_at_lme4_rows(case_id):
    """lp0, the deviance at lme4's optimum and at each of lme4's rows: lme4's values."""
    c, pr = reference(case_id), at_lme4(case_id)
    np.testing.assert_allclose(pr.lp0, c["devfun_lp0"], rtol=0, atol=1e-9)
    opt = np.array(list(c["optimum"].values()))
    np.testing.assert_allclose(pr.dd(opt), c["devfun_at_optimum"], rtol=1e-10)
    tab = ref_table(case_id)
    rows = tab[list(c["optimum"])].to_numpy()
    checked = 0
    for row, zeta in zip(rows, tab[".zeta"], strict=True):
        if np.isnan(zeta) or np.array_equal(row, opt):
            continue  # the optimum's own row has ζ = 0 by definition
        np.testing.assert_allclose(pr.dd(row), c["base"] + zeta**2, rtol=1e-10)
        checked += 1
    assert checked >= 10 * len(c["optimum"]) // 2


def test_walk_from_lme4_optimum_is_lme4s():
    """From lme4's optimum, every point of every parameter is lme4's (same inner runs)."""
    c = reference("cbpp_cbind")
    prof = at_lme4("cbpp_cbind").run()
    ours, tab = prof.table, ref_table("cbpp_cbind")
    assert list(ours[".par"]) == list(tab[".par"])
    cols = [".zeta", *c["optimum"]]
    np.testing.assert_allclose(ours[cols].to_numpy(), tab[cols].to_numpy(), rtol=1e-8,
                               atol=1e-9)
    for iv in c["intervals"]:
        ci = prof.confint(level=iv["level"])
        assert list(ci.columns) == iv["columns"] and list(ci.index) == iv["rows"]
        np.testing.assert_allclose(ci.to_numpy(), np.array([iv["ci"][r] for r in iv["rows"]]),
                                   rtol=1e-9)


def test_confint_default_is_the_profile():
    """``confint()`` of a GLMM is lme4's default, the profile; ``parm`` selects as lme4."""
    res, c = fit("mmmec_offset"), reference("mmmec_offset")
    full = _quiet(res.confint)
    assert list(full.index) == c["intervals"][0]["rows"]
    np.testing.assert_allclose(full.to_numpy(),
                               np.array([c["intervals"][0]["ci"][r] for r in full.index]),
                               rtol=1e-6)
    pd.testing.assert_frame_equal(_quiet(res.confint, method="profile"), full)
    theta = _quiet(res.confint, parm="theta_")
    assert list(theta.index) == [".sig01"]
    np.testing.assert_allclose(theta.to_numpy(), full.loc[[".sig01"]].to_numpy(), rtol=1e-12)
    beta = _quiet(res.confint, parm="beta_", level=0.9)
    assert list(beta.index) == ["(Intercept)", "uvb"]
    np.testing.assert_allclose(beta.to_numpy(),
                               np.array([c["intervals"][1]["ci"][r] for r in beta.index]),
                               rtol=1e-6)
    assert list(_quiet(res.confint, method="wald").columns) == ["estimate", "2.5 %", "97.5 %"]
    with pytest.raises(InterlaceError, match="method must be"):
        res.confint(method="likelihood")
    with pytest.raises(InterlaceError, match="unknown parameter"):
        res.confint(parm="nope")


@pytest.mark.parametrize(("case_id", "match"), [
    ("cbpp_nagq0", "nAGQ = 0"),
    ("sleepstudy_gamma", "non-fixed scale parameters"),
])
def test_refusals_as_lme4(case_id, match):
    """lme4 cannot profile these (its error is in the fixture); neither can we."""
    assert reference(case_id)["error"]
    res = fit(case_id)
    with pytest.raises(InterlaceError, match=match):
        res.confint()
    assert res.confint(method="wald").shape[0] == len(res.fe_params)


def test_row_order_does_not_move_the_intervals():
    """Permuting the data's rows moves the profile intervals by rounding only."""
    case = case_spec("mmmec_offset")
    data = load_dataset(case["dataset"])
    perm = data.sample(frac=1.0, random_state=np.random.default_rng(11).integers(1 << 31))
    a = _quiet(fit("mmmec_offset").confint)
    b = _quiet(_quiet(interlace.glmer, case_formula(case), perm, **glmer_kwargs(case)).confint)
    np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=1e-6)


def test_singular_fit_profile():
    """A singular fit (θ̂ = 0 in lme4 and here): .sig01's profile starts at 0.001 and has
    no lower side, its lower limit is the bound 0, as lme4's; the points and intervals
    are lme4's."""
    c = reference("bacteria_week_singular")
    assert c["fit"]["theta"] == [0.0]
    res = fit("bacteria_week_singular")
    assert res.theta[0] == 0.0
    prof = _quiet(res.profile)
    ours, tab = prof.table, ref_table("bacteria_week_singular")
    assert list(ours[".par"]) == list(tab[".par"])
    sig = tab[tab[".par"] == ".sig01"]
    assert sig[".sig01"].min() == 0.0 and sig[".sig01"].iloc[1] == 0.001
    np.testing.assert_allclose(ours[".zeta"], tab[".zeta"], rtol=0, atol=1e-8)
    for name in c["optimum"]:
        rows = (tab[".par"] == name).to_numpy()
        np.testing.assert_allclose(ours.loc[rows, name], tab.loc[rows, name], rtol=1e-8)
    # .sig01 at the fixed effects' points: next to its bound, where the deviance is flat,
    # both inner runs stop within 3e-5 of 0 (the boundary class: 1e-4 absolute)
    np.testing.assert_allclose(ours[".sig01"], tab[".sig01"], rtol=0, atol=1e-4)
    for iv in c["intervals"]:
        ci = prof.confint(level=iv["level"])
        assert ci.loc[".sig01"].iloc[0] == 0.0 == iv["ci"][".sig01"][0]
        np.testing.assert_allclose(ci.to_numpy(),
                                   np.array([iv["ci"][r] for r in iv["rows"]]), rtol=1e-6)
