"""The reference documents' own code: import paths and calls they promise."""

from __future__ import annotations

import numpy as np
import pytest

import interlace
from conftest import dataset


@pytest.fixture(scope="module")
def res():
    return interlace.fit("Reaction ~ Days + (Days | Subject)", dataset("sleepstudy"))


def test_faq_and_guide_import_paths():
    from interlace.diagnostics import hlm_influence as h
    from interlace.diagnostics import lmer_influence_measures as lim
    from interlace.diagnostics import ols_dfbetas_qr as ols
    from interlace.influence import hlm_influence, lmer_influence_measures, ols_dfbetas_qr

    assert (hlm_influence, lmer_influence_measures, ols_dfbetas_qr) == (h, lim, ols)


def test_interlace_influence_is_still_lme4s_influence(res):
    import interlace.influence as module
    from interlace.diagnostics.influence import Influence, influence

    assert module is interlace.influence and callable(interlace.influence)
    got = interlace.influence(res, groups="Subject")
    assert isinstance(got, Influence)
    want = influence(res, groups="Subject")
    assert got.cooks_distance().equals(want.cooks_distance())


def test_faq_influence_call_with_jobs(res):
    from interlace.influence import hlm_influence

    infl = hlm_influence(res, n_jobs=1, show_progress=False)
    assert {"cooksd", "mdffits", "covtrace", "covratio"} <= set(infl.columns)


@pytest.mark.parametrize("newdata", [None, "data"])
def test_lmm_predict_takes_type(res, newdata):
    data = dataset("sleepstudy") if newdata else None
    base = res.predict(data)
    np.testing.assert_array_equal(res.predict(data, type="link"), base)
    np.testing.assert_array_equal(res.predict(data, type="response"), base)
    with pytest.raises(interlace.InterlaceError, match="type must be 'link' or 'response'"):
        res.predict(data, type="probability")


def test_n_influential_counts_by_the_guides_rules(res):
    table = interlace.hlm_influence(res)
    n, p = len(table), len(res.fe_params)
    assert n == 180 and p == 2
    want = {"cooksd": (table["cooksd"] > 4 / n).sum(),
            "mdffits": (table["mdffits"] > 2 * np.sqrt(p / n)).sum(),
            "covtrace": (table["covtrace"].abs() > p).sum(),
            "covratio": ((table["covratio"] < 0.9) | (table["covratio"] > 1.1)).sum()}
    for measure, count in want.items():
        assert interlace.n_influential(res, measure) == count, measure
        assert interlace.n_influential(res, measure, table=table) == count, measure
    assert want["cooksd"] > 0
    assert interlace.n_influential(res, "cooksd", threshold=1e9) == 0
    assert interlace.n_influential(res, "cooksd", threshold=0.0) == n


def test_n_influential_by_group_and_rvc(res):
    table = interlace.hlm_influence(res, level="Subject", approx=False)
    rvc = table[[c for c in table.columns if c.startswith("rvc.")]]
    want = int((rvc.abs() > 0.5).any(axis=1).sum())
    assert interlace.n_influential(res, "rvc", level="Subject") == want
    onestep = interlace.hlm_influence(res, level="Subject")
    assert interlace.n_influential(res, "cooksd", level="Subject") == int(
        (onestep["cooksd"] > 4 / 18).sum())
    assert interlace.n_influential(res, "cooksd", level="Subject", approx=False) == int(
        (table["cooksd"] > 4 / 18).sum())
    with pytest.raises(interlace.InterlaceError, match="rvc.. columns"):
        interlace.n_influential(res, "rvc", table=interlace.hlm_influence(res))
    with pytest.raises(interlace.InterlaceError, match="measure must be one of"):
        interlace.n_influential(res, "dfbetas")
