"""influence() of GLMM fits against lme4 1.1-31's influence.merMod for glmerMod.

lme4 refits the whole glmer once per deleted unit from (θ̂, β̂) with maxfun 1000; so does
interlace (:mod:`interlace.diagnostics.glmm_deletion`).  The comparisons are the
``[lme4-influence]`` rows of ``nox -s parity`` for GLMM entries
(:func:`parity.diag_glmm.glmm_influence_quantities`, tolerances in its docstring), on the
stored references fixtures/r/diag/<id>.lme4.json.  Also: glmer's ``start`` and
``optimizer`` as lme4's (the initial PIRLS at lme4's default θ whatever the start), and
their errors.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
from parity.data import ROOT, sha256_file
from parity.diag_compare import entries, failures, stored
from parity.diag_glmm import glmm_influence_quantities, is_glmm_entry, our_glmm_influence

import interlace
from conftest import dataset
from interlace.errors import InterlaceError

ENTRIES = [e for e in entries("lme4_influence") if is_glmm_entry(e)]
IDS = [e["id"] for e in ENTRIES]
QUICK = ["diag_cbpp_herd", "diag_invgauss_subject"]  # the others run in nox -s parity
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def test_glmm_entries_exist_and_fixtures_are_current():
    assert {"diag_cbpp_herd", "diag_cbpp", "diag_invgauss_subject"} <= set(IDS)
    sha = sha256_file(ROOT / "parity" / "r" / "influence_reference.R")
    for eid in IDS:
        prov = stored(eid, "lme4")["provenance"]
        assert prov["script_sha256"] == sha, eid


@pytest.mark.parametrize("eid", QUICK)
def test_matches_lme4_influence(eid):
    entry = next(e for e in ENTRIES if e["id"] == eid)
    fx = stored(eid, "lme4")
    qs = {q.name: q for q in glmm_influence_quantities(entry, fx, "stored")}
    assert not failures(list(qs.values()))
    inf = our_glmm_influence(eid)
    assert [str(u) for u in inf.labels] == [str(u) for u in fx["units"]]
    assert list(inf.fixef.columns) == list(fx["fit"]["fixef"])
    assert list(inf.var_cov_comps.columns) == list(fx["fit"]["var_cov_comps"])
    # lme4's path is retraced: the same number of deviance evaluations on most units
    assert qs["paths_retraced[lme4-influence]"].n >= len(fx["units"]) // 2


def test_a_perturbed_reference_is_caught():
    entry = next(e for e in ENTRIES if e["id"] == "diag_cbpp_herd")
    fx = copy.deepcopy(stored("diag_cbpp_herd", "lme4"))
    fx["fixef_deleted"]["3"]["period2"] *= 1 + 1e-3
    fx["cooks_distance"]["5"] *= 1.05
    failed = set(failures(glmm_influence_quantities(entry, fx, "perturbed")))
    assert {"fixef_deleted[lme4-influence]", "cooks_distance[lme4-influence]"} <= {
        f.split(":")[0] for f in failed} | failed


def test_measures_follow_their_formulas():
    inf = our_glmm_influence("diag_cbpp_herd")
    db = inf.dfbeta().to_numpy()
    n, p = db.shape
    V = inf.vcov_original
    cd = np.einsum("ui,ij,uj->u", db, np.linalg.inv(V), db) * (n - p) / (n * p)
    np.testing.assert_allclose(inf.cooks_distance().to_numpy(), cd, rtol=1e-12)
    se = np.sqrt(np.diagonal(inf.vcov, axis1=1, axis2=2))
    np.testing.assert_allclose(inf.dfbetas().to_numpy(), db / se, rtol=1e-12)
    assert np.all(inf.sigma == 1.0)  # binomial: no scale


@pytest.fixture(scope="module")
def cbpp_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return interlace.glmer(CBPP, dataset("cbpp"), family="binomial")


def test_start_errors(cbpp_fit):
    d = dataset("cbpp")
    with pytest.raises(InterlaceError, match="bad name"):
        interlace.glmer(CBPP, d, start={"beta": [0, 0, 0, 0]})
    with pytest.raises(InterlaceError, match="start\\$fixef and nAGQ==0"):
        interlace.glmer(CBPP, d, nAGQ=0, start={"fixef": np.zeros(4)})
    with pytest.raises(InterlaceError, match="incorrect number of fixef"):
        interlace.glmer(CBPP, d, start={"fixef": [0.0, 1.0]})
    with pytest.raises(InterlaceError, match="lacks"):
        interlace.glmer(CBPP, d, start={"fixef": {"(Intercept)": 0.0}})
    with pytest.raises(InterlaceError, match="not both"):
        interlace.glmer(CBPP, d, start=[0.5], control={"start": [0.5]})


def test_start_at_the_optimum_keeps_lp0_at_the_default_theta(cbpp_fit):
    """A start only moves where the optimizers begin: the stage-1 PIRLS start is lme4's,
    from lme4's default θ, so a refit from (θ̂, β̂) lands on the same optimum, and a start
    given by name or by position is the same start."""
    d = dataset("cbpp")
    start = {"theta": cbpp_fit.theta, "fixef": cbpp_fit.fe_params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = interlace.glmer(CBPP, d, start=start)
        b = interlace.glmer(CBPP, d, start={"theta": cbpp_fit.theta,
                                            "fixef": cbpp_fit.fe_params.to_numpy()})
    assert a.stages[0].x0 == list(cbpp_fit.theta)
    np.testing.assert_array_equal(a.fe_params, b.fe_params)
    np.testing.assert_allclose(a.fe_params, cbpp_fit.fe_params, rtol=1e-5)
    assert a.objective <= cbpp_fit.objective + 1e-8 * abs(cbpp_fit.objective)


def test_influence_refits_drop_the_deleted_level(cbpp_fit):
    """Units in order of appearance; a deleted herd is gone from its refit, as lme4's
    model frame drops unused levels (its objective is that of the 14-herd model)."""
    inf = interlace.influence(cbpp_fit, groups="herd")
    d = dataset("cbpp")
    assert list(inf.labels) == [str(h) for h in pd.unique(d["herd"])]
    assert inf.converged.all()
    assert (inf.deletions.engine == "refit").all()
    first = inf.labels[0]
    sub = d[d["herd"].astype(str) != first]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = interlace.glmer(CBPP, sub, start={"theta": cbpp_fit.theta,
                                              "fixef": cbpp_fit.fe_params},
                            control={"opt_settings": {"stage1": {"maxfun": 1000},
                                                      "stage2": {"maxfun": 1000}}})
    assert r.ngroups["herd"] == 14
    assert r.objective == inf.deletions.objective[0]
    np.testing.assert_array_equal(r.fe_params.to_numpy(), inf.fixef.iloc[0].to_numpy())


def test_glmer_optimizer_choices():
    d = dataset("cbpp")
    with pytest.raises(InterlaceError, match="optimizer must be"):
        interlace.glmer(CBPP, d, optimizer=("bobyqa", "newton"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = interlace.glmer(CBPP, d, optimizer="nloptwrap")
    assert r.stages[0].optimizer.startswith("nloptwrap")
    assert r.stages[1].optimizer.startswith("nloptwrap")
