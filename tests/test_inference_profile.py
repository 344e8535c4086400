"""Profile-likelihood confidence intervals against lme4 1.1-31's ``confint(m, "profile")``.

References: ``fixtures/r/profile/<case>.json``, written by ``parity/r/profile_reference.R``
(``python -m parity.profile_fixtures``): lme4's intervals at levels 0.95 and 0.90, its
whole profile table (``as.data.frame(profile(m))``) and the ML optimum it rests on.

The checks go from exact to optimizer-dependent:

1. our ML deviance at every one of lme4's profile rows (its sd/cor/σ/β values) equals
   lme4's ``base + ζ²`` — exact at fixed parameters, 1e-10 relative;
2. re-optimized at lme4's profiled value from lme4's own nuisance values, our deviance is
   never above lme4's (the gap is lme4's inner optimizer error);
3. our own profile has lme4's points: same parameters and number of points, ζ and the
   profiled values within the per-case noise of the inner optimizations (``POINTS``);
4. the intervals agree element-wise within ``CI_RTOL`` (reasons there).
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import fitted
from interlace.inference.profile import Profiler, format_perc
from interlace.inference.splines import back_spline, interp_spline

ROOT = Path(__file__).resolve().parents[1]
PROFILE_DIR = ROOT / "fixtures" / "r" / "profile"

#: interval tolerance |py − r| ≤ rtol·|r| (+1e-12), with the measured worst case and why
CI_RTOL = {
    # 1.6e-8: our ML refit of the REML fit stops 1.6e-7 (rel 2e-7) from lme4's (minqa) θ̂;
    # started from lme4's θ̂ the intervals agree to 1e-12
    "dyestuff_reml": 1e-7,
    "dyestuff_ml": 1e-8,  # 2.7e-9: the ML fits' θ̂ differ by 4e-8
    "dyestuff2_reml": 1e-10,  # 1.5e-13: θ̂ = 0 on both sides, identical points
    # 3.9e-6 (.sig01 lower): lme4's last point below (.sig01 ≈ 1.0, cor pinned at 1) is
    # 0.54 deviance units above the profile, which bends its spline
    "sleepstudy_slopes_reml": 1e-5,
    "sleepstudy_uncorr_reml": 1e-6,  # 9.7e-8: inner-optimizer noise ~1e-7 in deviance
    # 2.9e-6: lme4's point .sig01 = 0.7845 is 9e-5 deviance units above the profile and
    # lme4's next steps follow from it
    "penicillin_crossed": 1e-5,
    "pastes_nested": 1e-6,  # 1.9e-7: inner-optimizer noise
}
#: our profile vs lme4's points: (max |Δζ|, max relative Δ of the profiled value);
#: measured worst cases 2.5e-6/1.7e-6, 4e-7/3e-7, 1e-10/2e-10, 0.06/2.3e-3 (the sleepstudy
#: point above), 3.5e-5/2.9e-6, 1.2e-4/1.8e-5, 6.4e-5/4.4e-5
POINTS = {
    "dyestuff_reml": (1e-5, 1e-5),
    "dyestuff_ml": (1e-6, 1e-6),
    "dyestuff2_reml": (1e-9, 1e-9),
    "sleepstudy_slopes_reml": (0.1, 5e-3),
    "sleepstudy_uncorr_reml": (1e-4, 1e-5),
    "penicillin_crossed": (5e-4, 1e-4),
    "pastes_nested": (2e-4, 2e-4),
}
CASES = list(CI_RTOL)


@cache
def reference(case_id: str) -> dict:
    return json.loads((PROFILE_DIR / f"{case_id}.json").read_text())


def ref_table(case_id: str) -> pd.DataFrame:
    return pd.DataFrame(reference(case_id)["profile_table"])


@cache
def at_lme4_theta(case_id: str) -> Profiler:
    """Profiler started from lme4's ML optimum (isolates the profile from the ML refit)."""
    return Profiler(fitted(case_id), ml_theta=reference(case_id)["ml"]["theta"])


@cache
def our_profile(case_id: str):
    """Our profile end to end, as ``confint(method="profile")`` computes it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Profiler(fitted(case_id)).run()


def test_provenance():
    manifest = json.loads((PROFILE_DIR / "MANIFEST.json").read_text())
    for case_id in CASES:
        prov = reference(case_id)["provenance"]
        assert prov["lme4"] == "1.1.31"
        assert manifest["cases"][case_id]["sha256"]
        data = json.loads((ROOT / "fixtures" / "data" /
                           f"{reference(case_id)['dataset']}.json").read_text())
        assert prov["data_sha256"] == data["csv_sha256"]


@pytest.mark.parametrize("case_id", CASES)
def test_ml_optimum(case_id):
    """Base deviance and optimum at lme4's θ̂_ML; our own refit is never worse than lme4's."""
    ml = reference(case_id)["ml"]
    pf = at_lme4_theta(case_id)
    assert pf.pb.base == pytest.approx(ml["basedev"], rel=1e-10)
    r_opt = pd.Series(ml["optimum"])
    assert list(r_opt.index) == pf.names
    np.testing.assert_allclose(pf.opt, r_opt.to_numpy(), rtol=1e-9, atol=1e-12)
    ours = Profiler(fitted(case_id)).pb.base
    assert ours <= ml["basedev"] * (1 + 1e-12)


@pytest.mark.parametrize("case_id", CASES)
def test_deviance_at_lme4_points(case_id):
    """Exact at fixed parameters: our deviance at lme4's rows is lme4's base + ζ²."""
    pf, tab = at_lme4_theta(case_id), ref_table(case_id)
    base = reference(case_id)["ml"]["basedev"]
    for _, row in tab.iterrows():
        k = pf.names.index(row[".par"])
        dev = pf.deviance(k, row[pf.names].to_numpy(float))
        r_dev = base + row[".zeta"] ** 2
        assert abs(dev - r_dev) <= 1e-10 * r_dev, (row[".par"], row[".focal"], dev, r_dev)


@pytest.mark.parametrize("case_id", CASES)
def test_reoptimized_points_not_worse(case_id):
    """At lme4's profiled values, started where lme4 ended, we never end higher than lme4."""
    pf, tab = at_lme4_theta(case_id), ref_table(case_id)
    base = reference(case_id)["ml"]["basedev"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _, row in tab.iterrows():
            k = pf.names.index(row[".par"])
            vals = row[pf.names].to_numpy(float)
            ours = pf.deviance(k, pf.point(k, vals[k], vals[: pf.nvp])[1:])
            r_dev = base + row[".zeta"] ** 2
            assert ours <= r_dev * (1 + 1e-10), (row[".par"], row[".focal"], ours, r_dev)


@pytest.mark.parametrize("case_id", CASES)
def test_profile_points(case_id):
    """Our own profile walks lme4's points: same rows; ζ and values within POINTS."""
    ours, tab = our_profile(case_id).table, ref_table(case_id)
    assert list(ours[".par"]) == list(tab[".par"])
    assert list(ours.columns) == list(tab.columns)
    ztol, xtol = POINTS[case_id]
    dz = np.abs(ours[".zeta"].to_numpy() - tab[".zeta"].to_numpy())
    dx = np.abs(ours[".focal"].to_numpy() - tab[".focal"].to_numpy())
    assert dz.max() <= ztol
    assert np.all(dx <= xtol * np.maximum(np.abs(tab[".focal"].to_numpy()), 1e-3))


@pytest.mark.parametrize("case_id", CASES)
def test_intervals(case_id):
    for ref in reference(case_id)["intervals"]:
        ci = our_profile(case_id).confint(level=ref["level"])
        assert list(ci.columns) == ref["columns"]
        assert list(ci.index) == ref["rows"]
        r = np.array([ref["ci"][name] for name in ref["rows"]], dtype=float)
        err = np.abs(ci.to_numpy() - r)
        assert np.all(err <= CI_RTOL[case_id] * np.abs(r) + 1e-12), (ref["level"], ci, r)


def test_confint_api_and_parm():
    res = fitted("dyestuff_reml")
    ref = reference("dyestuff_reml")["intervals"][0]
    full = res.confint(method="profile")
    assert list(full.index) == [".sig01", ".sigma", "(Intercept)"]
    np.testing.assert_allclose(full.to_numpy(), [ref["ci"][n] for n in full.index], rtol=1e-7)
    theta_only = res.confint(method="profile", parm="theta_")
    assert list(theta_only.index) == [".sig01", ".sigma"]
    np.testing.assert_allclose(theta_only.to_numpy(), full.iloc[:2].to_numpy(), rtol=1e-12)
    beta = res.confint(method="profile", level=0.9, parm=["(Intercept)"])
    assert list(beta.columns) == ["5 %", "95 %"]
    np.testing.assert_allclose(beta.to_numpy()[0], reference("dyestuff_reml")["intervals"][1]
                               ["ci"]["(Intercept)"], rtol=1e-7)
    pd.testing.assert_frame_equal(res.confint(), full)  # lme4's default is the profile
    wald = res.confint(method="wald")
    assert list(wald.columns) == ["estimate", "2.5 %", "97.5 %"]
    pd.testing.assert_frame_equal(res.confint(method="Wald"), wald)  # lme4's spelling
    with pytest.raises(ValueError, match="'profile', 'wald' or 'boot'"):
        res.confint(method="likelihood")
    with pytest.raises(ValueError, match="boot_type"):
        res.confint(method="boot", boot_type="bca")


def test_singular_lower_limit_is_zero():
    """Dyestuff2: σ_batch = 0 at the optimum, so lme4's lower limit is the bound 0."""
    ci = our_profile("dyestuff2_reml").confint()
    assert ci.loc[".sig01", "2.5 %"] == 0.0


def test_format_perc():
    assert format_perc([0.025, 0.975]) == ["2.5 %", "97.5 %"]
    assert format_perc([0.05, 0.95]) == ["5 %", "95 %"]
    assert format_perc([0.005, 0.995]) == ["0.5 %", "99.5 %"]


def test_splines_match_r():
    """interpSpline + backSpline + predict against R's splines (values printed by R 4.2.2:
    set.seed(1); x <- sort(runif(9, -2, 3)); y <- x^3/5 + x + 0.3*sin(3*x);
    predict(backSpline(interpSpline(x, y)), c(-1.96, 0, 1.5, 1.96, 10))$y)."""
    rng_x = [-0.99159034481272101, -0.67245668428950012, -0.13938050181604922,
             0.86426681675948203, 1.1455702194944024, 1.3039889624342322,
             2.4919484248384833, 2.5410389499738812, 2.7233763430267572]
    x = np.array(rng_x)
    y = x**3 / 5 + x + 0.3 * np.sin(3 * x)
    fwd = interp_spline(x, y)
    np.testing.assert_allclose(fwd.coef[:, 1], [
        0.60880198276216713, 0.96845668585314093, 1.63871922714547291, 0.81117649506170775,
        0.87634874748442626, 1.45924674203090121, 5.04753792272267621, 5.08708901998843466,
        5.13778088571767011], rtol=1e-12)
    got = back_spline(fwd)([-1.96, 0, 1.5, 1.96, 10])
    assert np.isnan(got[0]) and np.isnan(got[4])
    np.testing.assert_allclose(got[1:4], [0.0085877099221322029, 1.276359263755299,
                                          1.563568884520619], rtol=1e-12)
