"""interlace.fit's API: optimizers, warnings, errors, result methods, OptSummary replay."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import interlace
from conftest import dataset, fitted, r_fixture
from interlace.errors import DataError
from interlace.optimize import OptSummary, available_optimizers

SLEEP = "Reaction ~ Days + (Days | Subject)"


def _quiet_fit(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return interlace.fit(*args, **kw)


@pytest.mark.parametrize("optimizer", ["pybobyqa", "nelder_mead", "lbfgsb"])
def test_other_optimizers_reach_lme4_objective(optimizer, sleepstudy):
    r_obj = r_fixture("sleepstudy_slopes_reml")["objective"]["value"]
    res = _quiet_fit(SLEEP, sleepstudy, optimizer=optimizer)
    assert optimizer in available_optimizers()
    assert res.optinfo.optimizer == optimizer
    assert res.objective <= r_obj + 1e-6 * abs(r_obj)


def test_pypi_nlopt_fallback_matches_system_library(sleepstudy):
    a = _quiet_fit(SLEEP, sleepstudy)
    b = _quiet_fit(SLEEP, sleepstudy, control={"opt_settings": {"library": "pypi"}})
    assert b.optinfo.settings["library"] == "nlopt (PyPI)"
    assert b.objective == pytest.approx(a.objective, rel=1e-10)


def test_optsummary_save_load_replay(tmp_path, sleepstudy):
    res = fitted("sleepstudy_slopes_reml")
    path = tmp_path / "opt.json"
    res.optinfo.save(path)
    back = OptSummary.load(path)
    assert back.theta == res.optinfo.theta and back.n_evals == res.optinfo.n_evals
    assert len(back.path) >= back.n_evals
    assert back.path[0][0] == [1.0, 0.0, 1.0]  # lme4's start
    diffs = back.replay(res._dev)
    assert np.max(diffs) == 0.0
    res._restore()


def test_singular_fit_warns_and_flags():
    with pytest.warns(interlace.SingularFitWarning, match=r"boundary \(singular\) fit"):
        res = interlace.fit("Yield ~ 1 + (1|Batch)", dataset("Dyestuff2"))
    assert res.is_singular and interlace.isSingular(res)
    assert res.boundary_flags == {"Batch": True}
    assert res.theta[0] == 0.0


def test_convergence_checks_run_at_optimum():
    """lme4's checkConv runs on our optimum too: gradient and Hessian are computed.

    (lme4 warns on BodyWeight, max|grad| 0.00688, at its own θ̂; our optimum is lower.)
    """
    res = _quiet_fit("weight ~ Time * Diet + (Time|Rat)", dataset("BodyWeight"))
    assert res.optinfo.check_code in (0, -1)  # our optimum is better; the check still runs
    assert res._checks.gradient is not None and res._checks.hessian is not None


def test_update_predict_simulate(sleepstudy):
    res = fitted("sleepstudy_slopes_reml")
    np.testing.assert_allclose(res.predict(), res.fittedvalues)
    new = sleepstudy.iloc[:3].copy()
    np.testing.assert_allclose(res.predict(new), res.fittedvalues[:3], rtol=1e-12)
    new["Subject"] = "no-such-subject"
    with pytest.raises(DataError, match="new levels detected in newdata: no-such-subject"):
        res.predict(new)
    np.testing.assert_allclose(res.predict(new, allow_new_levels=True),
                               res.predict(new, include_re=False))
    sims = res.simulate(3, seed=42)
    assert sims.shape == (180, 3)
    np.testing.assert_array_equal(sims, res.simulate(3, seed=42))
    ml = res.update(method="ML")
    assert ml.method == "ML"
    assert ml.objective == pytest.approx(r_fixture("sleepstudy_slopes_ml")["objective"]["value"],
                                         rel=1e-8)
    smaller = res.update(". ~ . - Days")
    assert list(smaller.fe_params.index) == ["(Intercept)"]


def test_keyword_forms_equal_formula_terms():
    d = dataset("Penicillin")
    a = _quiet_fit("diameter ~ 1 + (1|plate) + (1|sample)", d)
    b = _quiet_fit("diameter ~ 1", d, groups=["plate", "sample"])
    c = _quiet_fit("diameter ~ 1", d, random=["(1 | plate)", "(1 | sample)"])
    for other in (b, c):
        assert other.objective == pytest.approx(a.objective, rel=1e-12)
        assert other.theta_names == a.theta_names


def test_summary_text(sleepstudy):
    text = str(fitted("sleepstudy_slopes_reml").summary())
    for piece in ("REML criterion at convergence", "Random effects:", "Subject",
                  "Residual", "Fixed effects:", "(Intercept)", "Satterthwaite",
                  "Number of obs: 180, groups:  Subject, 18"):
        assert piece in text


def test_result_attributes_consistent():
    res = fitted("sleepstudy_slopes_reml")
    assert res.nparams == 6 and res.nobs == 180 and res.ngroups == {"Subject": 18}
    assert res.aic == pytest.approx(-2 * res.llf + 12)
    assert res.params is res.fe_params
    ci = res.fe_conf_int
    assert (ci["lower"] < res.fe_params).all() and (ci["upper"] > res.fe_params).all()
    assert res.llf_restricted == res.llf
    vc = res.variance_components
    assert isinstance(vc["Subject"], pd.DataFrame) and vc["Residual"] == res.scale


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(formula="Reaction ~ Dayz + (1|Subject)"), interlace.DataError, "Dayz"),
        (dict(formula="Reaction ~ Days + (1|Subject))"), interlace.FormulaError, r"\)"),
        (dict(formula="Reaction ~ Days"), interlace.ModelSpecError, "No random effects"),
        (dict(formula=SLEEP, method="GLS"), interlace.InterlaceError, "REML"),
        (dict(formula=SLEEP, optimizer="newton"), interlace.InterlaceError, "newton"),
        (dict(formula=SLEEP, control={"tolerance": 1}), interlace.InterlaceError, "tolerance"),
    ],
)
def test_bad_input_is_named(kwargs, error, match, sleepstudy):
    formula = kwargs.pop("formula")
    with pytest.raises(error, match=match):
        interlace.fit(formula, sleepstudy, **kwargs)


def test_single_level_grouping_factor_is_rejected(sleepstudy):
    d = sleepstudy.assign(one="a")
    with pytest.raises(interlace.ModelSpecError, match="> 1 sampled level"):
        interlace.fit("Reaction ~ Days + (1|one)", d)


def test_as_many_levels_as_observations_is_rejected(sleepstudy):
    d = sleepstudy.assign(row=[f"r{i}" for i in range(len(sleepstudy))])
    with pytest.raises(interlace.ModelSpecError, match="must be < number of observations"):
        interlace.fit("Reaction ~ Days + (1|row)", d)


def test_missing_values_dropped_with_count():
    d = dataset("Gcsemv")
    with pytest.warns(interlace.MissingDataWarning, match="202"):
        res = interlace.fit("written ~ gender + (1|school)", d)
    assert res.nobs == 1703 == r_fixture("gcsemv_na")["nobs"]
    with pytest.raises(interlace.DataError):
        interlace.fit("written ~ gender + (1|school)", d, na_action="fail")


def test_rank_deficient_columns_dropped_with_warning():
    with pytest.warns(interlace.RankDeficiencyWarning, match=r"I\(2 \* age\)"):
        res = interlace.fit("distance ~ age + I(2 * age) + Sex + (1|Subject)",
                            dataset("Orthodont"))
    assert list(res.fe_params.index) == list(r_fixture("orthodont_rankdef")["fixef"])
