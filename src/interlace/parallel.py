"""One way to run independent tasks: in this process, on joblib's workers, or on a Dask
cluster.

Every loop of independent fits in interlace (exact deletion refits, bootstrap replicates,
cross-validation folds, :func:`interlace.fit_many`) goes through :func:`imap`.  It runs the
tasks in this process when ``n_jobs=1``, on ``n_jobs`` joblib workers otherwise, and on
whatever backend the caller configured with joblib, so that the same code runs on a Dask
cluster::

    from dask.distributed import Client
    import joblib
    client = Client("tcp://scheduler:8786")
    with joblib.parallel_config(backend="dask"):
        rows = interlace.fit_many("~ Days + (Days | Subject)", data, responses=genes)

Inside such a block the tasks go to the configured backend even with ``n_jobs=1`` (its
``n_jobs``, by default all of the cluster's workers).

The items are cut into contiguous chunks, a few per worker, and each chunk is one task,
so the objects every task needs (``shared``: the design, its cross-products, the factor's
plan) travel once per chunk instead of once per item; on Dask they are broadcast to every
worker once, before the tasks start (joblib's ``scatter``; Dask's active memory manager
may later drop a worker's replica once few tasks wait for it, and that worker fetches it
again if a later chunk needs it).  Results come back in the
items' order and are the serial results: each task computes what the serial loop computes
for its items, with one BLAS thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

__all__ = ["configured_backend", "imap", "in_process", "n_workers", "progress_bar", "run"]


def configured_backend() -> str | None:
    """The name of the joblib backend configured with ``joblib.parallel_config`` (or
    ``parallel_backend``) around this call, or None when none is (joblib's default)."""
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend()
    name = type(backend).__name__
    if name == "LokyBackend" and not _explicit_config():
        return None
    return {"DaskDistributedBackend": "dask", "LokyBackend": "loky",
            "ThreadingBackend": "threading", "MultiprocessingBackend": "multiprocessing",
            "SequentialBackend": "sequential"}.get(name, name)


def _explicit_config() -> bool:
    """Did the caller set a backend with parallel_config/parallel_backend?"""
    from joblib import parallel

    cfg = getattr(parallel._backend, "config", None)  # joblib >= 1.3
    if isinstance(cfg, dict):
        b = cfg.get("backend")
        return b is not None and b is not parallel.default_parallel_config["backend"]
    return getattr(parallel._backend, "backend_and_jobs", None) is not None


def _parallel_jobs(n_jobs: int | None) -> int | None:
    """The n_jobs to hand joblib, or 0 to run in this process."""
    backend = configured_backend()
    if backend in (None, "sequential"):
        return 0 if n_jobs in (None, 1) or backend == "sequential" else int(n_jobs)
    return None if n_jobs in (None, 1) else int(n_jobs)  # the configured backend's n_jobs


def in_process(n_jobs: int | None = 1) -> bool:
    """Would :func:`imap` run its tasks in this process (no joblib, no cluster)?"""
    return _parallel_jobs(n_jobs) == 0


def n_workers(n_jobs: int | None = 1) -> int:
    """How many workers :func:`imap` would use for ``n_jobs`` here (1: this process)."""
    jobs = _parallel_jobs(n_jobs)
    if jobs == 0:
        return 1
    from joblib import effective_n_jobs

    return max(1, int(effective_n_jobs(jobs if jobs is not None else -1)))


class _Shared:
    """The arguments every task shares, as one object, which joblib's Dask backend
    broadcasts to every worker before the tasks start (its ``scatter``): each worker's
    tasks then use that one copy."""

    def __init__(self, args: tuple):
        self.args = tuple(args)


def _register_sizeof() -> None:
    """Tell Dask how large a :class:`_Shared` is (its arguments' sizes; by default it would
    count the small wrapper alone), for the scheduler's decisions about moving it."""
    try:
        from dask.sizeof import sizeof
    except ImportError:  # pragma: no cover - dask configured but not importable
        return
    if _Shared not in getattr(sizeof, "_lookup", {}):
        sizeof.register(_Shared)(lambda s: 1024 + sum(int(sizeof(a)) for a in s.args))


@contextlib.contextmanager
def progress_bar(show: bool, total: int, desc: str, **kwargs: Any) -> Iterator:
    """A tqdm bar over ``total`` units when ``show`` (else None), closed on exit: the
    ``progress`` of :func:`imap` and of the serial loops."""
    if not show:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, **kwargs)
    try:
        yield bar
    finally:
        bar.close()


def _chunk(fn: Callable, shared: _Shared, items: Sequence) -> list:
    from interlace.linalg.threads import serial_blas

    with serial_blas():
        return [fn(*shared.args, it) for it in items]


def imap(fn: Callable, items: Iterable, *, shared: tuple = (), n_jobs: int | None = 1,
         chunks_per_worker: int = 1, progress=None, weight: Callable | None = None
         ) -> Iterator:
    """``fn(*shared, item)`` for every item, yielded in the items' order.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled for the workers).
    items : iterable
        One task argument per item.
    shared : tuple
        Arguments every task needs, sent once per chunk (once per cluster on Dask).
    n_jobs : int
        1: in this process (unless a joblib backend is configured around the call, see
        the module docstring); -1: all CPUs; k: k joblib workers.
    chunks_per_worker : int
        Chunks per worker: more balance the load, fewer send ``shared`` less often.
    progress : tqdm-like, optional
        ``progress.update(k)`` is called as results arrive.
    weight : callable, optional
        ``weight(item)``: the progress ticks of an item (default 1).
    """
    items = list(items)
    tick = (lambda it: 1) if weight is None else weight  # noqa: E731
    jobs = _parallel_jobs(n_jobs)
    if jobs == 0 or len(items) < 2:
        for it in items:
            yield fn(*shared, it)
            if progress is not None:
                progress.update(tick(it))
        return
    import joblib
    from joblib import Parallel, delayed

    box = _Shared(shared)
    config = contextlib.nullcontext()
    if configured_backend() == "dask":
        _register_sizeof()
        # broadcast the shared arguments to every worker before the tasks start (joblib's
        # ``scatter``): scattered on the fly they would sit on one worker, and the
        # scheduler would send every task there
        config = joblib.parallel_config(backend="dask", scatter=[box])
    workers = n_workers(n_jobs)
    k = max(1, min(len(items), workers * max(1, int(chunks_per_worker))))
    bounds = [len(items) * i // k for i in range(k + 1)]
    parts = [items[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    with config:
        gen = Parallel(n_jobs=jobs, return_as="generator")(
            delayed(_chunk)(fn, box, part) for part in parts)
        for part, out in zip(parts, gen, strict=True):
            yield from out
            if progress is not None:
                progress.update(sum(tick(it) for it in part))


def run(fn: Callable, items: Iterable, **kwargs: Any) -> list:
    """:func:`imap` collected into a list."""
    return list(imap(fn, items, **kwargs))
