"""Every loop of independent fits runs unchanged on a Dask cluster (a 2-worker
``LocalCluster`` of processes here) inside ``joblib.parallel_config(backend="dask")``, and
gives exactly the serial results; the objects every task shares reach each worker once."""

from __future__ import annotations

import contextlib
import os
import sys
import sysconfig
import warnings

import numpy as np
import pandas as pd
import pytest

import interlace
from conftest import dataset, fitted
from interlace.diagnostics import delete_refits
from interlace.parallel import configured_backend, imap, in_process, n_workers

distributed = pytest.importorskip("dask.distributed")
joblib = pytest.importorskip("joblib")
cloudpickle = pytest.importorskip("cloudpickle")
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/


@pytest.fixture(scope="module")
def client():
    # Dask's active memory manager drops a worker's replica of the broadcast ``shared``
    # once fewer tasks wait for it, and a later chunk on that worker fetches it again: a
    # second copy that depends on the tasks' timing (it failed CI once, under load).  Off
    # here, so that the copies counted are those imap itself causes.
    import dask

    with _own_libpython():  # for the module: the nanny may start a worker again
        with warnings.catch_warnings(), dask.config.set(
                {"distributed.scheduler.active-memory-manager.start": False}):
            warnings.simplefilter("ignore")
            cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                               processes=True, dashboard_address=None,
                                               silence_logs=40)
            c = distributed.Client(cluster)
        yield c
        c.close()
        cluster.close()


@contextlib.contextmanager
def _own_libpython():
    """Worker processes load this interpreter's libpython.  Embedded R (rpy2, in a session
    that ran a live R test first) puts the system's library directory at the front of
    LD_LIBRARY_PATH; a shared-library Python (pyenv's) started as a worker then loads the
    system's libpython of the same minor version instead of its own, and fails to import
    ``ssl`` (CI's validation session: "Nanny failed to start")."""
    old = os.environ.get("LD_LIBRARY_PATH")
    libdir = sysconfig.get_config_var("LIBDIR")
    if old and libdir:
        os.environ["LD_LIBRARY_PATH"] = libdir + os.pathsep + old
    try:
        yield
    finally:
        if old is not None:
            os.environ["LD_LIBRARY_PATH"] = old


def _on_dask(fn, *args, **kwargs):
    with joblib.parallel_config(backend="dask"):
        assert configured_backend() == "dask" and not in_process(1) and n_workers(1) == 2
        return fn(*args, **kwargs)


def _where(shared, item):
    return os.getpid(), id(shared), item * 2


def test_shared_objects_reach_each_worker_once(client):
    big = np.arange(200_000.0)  # 1.6 MB: joblib scatters it to the cluster once
    out = _on_dask(lambda: list(imap(_where, range(40), shared=(big,), chunks_per_worker=4)))
    assert [r[2] for r in out] == [2 * i for i in range(40)]
    pids = {r[0] for r in out}
    assert os.getpid() not in pids and len(pids) <= 2
    # one copy per worker process, whichever of the 8 chunks it ran
    assert len({(r[0], r[1]) for r in out}) == len(pids)
    assert configured_backend() is None and in_process(1)


def test_fit_many(client):
    sleep = dataset("sleepstudy").reset_index(drop=True)
    m = interlace.fit("Reaction ~ Days + (Days | Subject)", sleep)
    Y = pd.DataFrame(m.simulate(12, seed=3), index=sleep.index).add_prefix("y")
    Y.iloc[[0, 1], 5] = np.nan
    for engine in ("exact", "newton"):
        a = interlace.fit_many("~ Days + (Days | Subject)", sleep, Y, engine=engine)
        b = _on_dask(interlace.fit_many, "~ Days + (Days | Subject)", sleep, Y, engine=engine)
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        assert (a["engine"] == engine).sum() >= 10


@pytest.mark.parametrize("engine", ["newton", "bobyqa"])
def test_exact_deletion(client, engine):
    res = fitted("sleepstudy_slopes_reml")
    for level in ("1", "Subject"):
        a = delete_refits(res, level, engine=engine)
        b = _on_dask(delete_refits, res, level, engine=engine)
        np.testing.assert_array_equal(b.objective, a.objective)
        pd.testing.assert_frame_equal(b.fixef, a.fixef, check_exact=True)
        pd.testing.assert_frame_equal(b.theta, a.theta, check_exact=True)


def test_bootstrap(client):
    res = fitted("sleepstudy_slopes_reml")
    a = res.bootstrap(nsim=16, seed=5)
    b = _on_dask(res.bootstrap, nsim=16, seed=5)
    pd.testing.assert_frame_equal(b.t, a.t, check_exact=True)
    # the one-by-one refits (not the batched Newton sets) are the ones that travel
    c = res.bootstrap(nsim=6, seed=5, legacy_refit=True)
    d = _on_dask(res.bootstrap, nsim=6, seed=5, legacy_refit=True)
    pd.testing.assert_frame_equal(d.t, c.t, check_exact=True)


def test_cross_val(client):
    sleep = dataset("sleepstudy")
    kw = dict(cv="kfold", n_splits=4, seed=2)
    a = interlace.cross_val("Reaction ~ Days + (Days | Subject)", sleep, **kw)
    b = _on_dask(interlace.cross_val, "Reaction ~ Days + (Days | Subject)", sleep, **kw)
    assert list(b.scores) == list(a.scores)
    for fa, fb in zip(a.folds, b.folds, strict=True):
        pd.testing.assert_series_equal(fb.model.fe_params, fa.model.fe_params,
                                       check_exact=True)


def test_glmm_deletion(client):
    cbpp = dataset("cbpp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = interlace.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                              cbpp, family="binomial")
        a = interlace.influence(res, groups="herd")
        b = _on_dask(interlace.influence, res, groups="herd")
    pd.testing.assert_frame_equal(b.fixef, a.fixef, check_exact=True)
    np.testing.assert_array_equal(b.deletions.objective, a.deletions.objective)


def _strip(entry: dict) -> dict:
    """An entry without its timings (which depend on where it ran)."""
    return {k: v for k, v in entry.items() if not k.startswith("seconds")}


def test_parity_campaign(client):
    from parity.catalog import load_catalog
    from parity.run import run

    catalog = load_catalog()
    cases = [c for c in catalog["cases"] if c["id"] in ("dyestuff_reml", "sleepstudy_slopes_reml")]
    glmm = [c for c in catalog["glmm"] if c["id"] == "cbpp_cbind"]
    diag = [e for e in catalog["diagnostics"] if e["id"] == "diag_cbpp_herd"]
    a = run(cases, "stored", diag, glmm)
    b = _on_dask(run, cases, "stored", diag, glmm)
    assert [e["case"] for e in b] == [e["case"] for e in a] and all(e["passed"] for e in b)
    assert [_strip(e) for e in b] == [_strip(e) for e in a]


def test_optimizers_campaign(client):
    from parity.catalog import load_catalog
    from parity.optimizers import run

    cases = [c for c in load_catalog()["cases"] if c["id"] == "sleepstudy_slopes_reml"]
    a = run(cases, ["bobyqa", "nelder_mead"])
    b = _on_dask(run, cases, ["bobyqa", "nelder_mead"])
    assert [_strip(r) for r in b] == [_strip(r) for r in a]
