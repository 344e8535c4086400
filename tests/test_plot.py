"""interlace.plot: each picture renders to PNG without a display and draws what it says."""

from __future__ import annotations

import io

import numpy as np
import pytest

import interlace
from conftest import dataset

pytest.importorskip("matplotlib")
from interlace import plot  # noqa: E402


@pytest.fixture(scope="module")
def res():
    return interlace.fit("Reaction ~ Days + (Days | Subject)", dataset("sleepstudy"))


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    data = buf.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 3000
    return data


def test_resid_fitted(res):
    fig = plot.resid_fitted(res)
    png(fig)
    (ax,) = fig.axes
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_array_equal(offsets[:, 0], np.asarray(res.fittedvalues))
    np.testing.assert_array_equal(offsets[:, 1], np.asarray(res.resid))


def test_qq_residuals_and_random_effects(res):
    png(plot.qq(res))
    fig = plot.qq(res, which="ranef")
    png(fig)
    assert [a.get_title() for a in fig.axes if a.get_visible()] == [
        "Subject: (Intercept)", "Subject: Days"]
    with pytest.raises(interlace.InterlaceError, match="which must be"):
        plot.qq(res, which="fitted")


def test_caterpillar_has_condvar_intervals_sorted(res):
    fig = plot.caterpillar(res)
    png(fig)
    ax = fig.axes[0]
    frame = res.ranef_frame()
    icpt = frame[frame["term"] == "(Intercept)"].sort_values("condval")
    assert [t.get_text() for t in ax.get_yticklabels()] == icpt["grp"].astype(str).tolist()
    segs = ax.collections[0].get_segments()  # the error bars
    half = np.array([(s[1][0] - s[0][0]) / 2 for s in segs])
    np.testing.assert_allclose(half, 1.959963984540054 * icpt["condsd"].to_numpy())


def test_influence_index_labels_the_flagged_units(res):
    obs = interlace.hlm_influence(res)
    fig = plot.influence_index(obs, "cooksd")
    png(fig)
    ax = fig.axes[0]
    flagged = obs.index[obs["cooksd"] > 4 / len(obs)].astype(str).tolist()
    assert sorted(t.get_text() for t in ax.texts) == sorted(flagged) and flagged
    assert "cut-off 0.0222" in ax.get_title()
    table = interlace.hlm_influence(res, level="Subject")
    png(plot.influence_index(table, "mdffits", p=2))
    fig = plot.influence_index(obs, "leverage.overall")  # HLMdiag's internal cut-off
    png(fig)
    lev = obs["leverage.overall"].to_numpy()
    q1, q3 = np.percentile(lev, [25, 75])
    assert f"cut-off {q3 + 3 * (q3 - q1):.3g}" in fig.axes[0].get_title()
    fig = plot.influence_index(obs, "cooksd", threshold="internal")
    q1, q3 = np.percentile(obs["cooksd"], [25, 75])
    assert f"cut-off {q3 + 3 * (q3 - q1):.3g}" in fig.axes[0].get_title()
    exact = interlace.hlm_influence(res, level="Subject", approx=False)
    png(plot.influence_index(exact, "rvc.sigma2"))
    with pytest.raises(interlace.InterlaceError, match="needs p"):
        plot.influence_index(table, "mdffits")


def test_profile_zeta(res):
    prof = res.profile()
    fig = plot.profile_zeta(prof)
    png(fig)
    names = list(dict.fromkeys(prof.table[".par"]))
    assert [a.get_xlabel() for a in fig.axes if a.get_visible()] == names


def test_dfbetas_heatmap(res):
    d = interlace.influence(res, groups="Subject").dfbetas()
    fig = plot.dfbetas_heatmap(d)
    png(fig)
    n_out = int((np.abs(d.to_numpy()) > 2 / np.sqrt(len(d))).sum())
    assert len(fig.axes[0].patches) == n_out
