"""BLAS threads chosen per operation, so that a busy machine does not slow a fit down.

OpenBLAS's worker threads spin while they wait for work.  When another process keeps a
core busy, a multi-threaded call waits for a thread that is not running, and each
evaluation of a large model's objective becomes several times slower (measured on
InstEval: 0.9 s per fit idle, 1.7–2.4 s with one competing CPU-bound process), while
single-threaded BLAS — lme4's — barely notices.  So:

* :func:`serial_blas` runs a block with every BLAS (and OpenMP) pool at one thread.
  :func:`interlace.fit` and the other entry points run under it: most operations are
  too small for threads to pay, and one-off ones are a small part of a fit.
* :class:`AdaptiveThreads` runs the one operation where threads can pay — the objective's
  factorization of a large model, repeated at every θ — on as many threads as there are
  cores no other process is using, measured from ``/proc/stat`` every 50 ms, so it
  follows the machine's load as it changes: threads when the cores are free, one thread
  when they are not.  Calls shorter than ``MIN_SECONDS`` are never switched (the switch
  itself costs ~10 µs); without ``/proc/stat`` (not Linux) they run on one thread.

Thread limits go through threadpoolctl; without it (or with a single core) nothing is
changed.

:class:`ThreadSplit` is the other kind of thread use: independent pieces of one result
(the nodes of adaptive Gauss–Hermite, the points of a finite-difference Hessian), each
a compiled call that releases the GIL, run on this thread and worker threads at once
when cores are free (the same ``/proc/stat`` measure).  Each piece writes its own
output and the caller combines them in a fixed order, so the result is the same to the
bit on any number of threads.  ``INTERLACE_NUM_THREADS=1`` keeps everything on one
thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache, wraps
from typing import Any, TypeVar

import numpy as np

__all__ = ["AdaptiveThreads", "CpuLoad", "ThreadSplit", "serial_blas", "with_serial_blas"]

#: operations faster than this run as they are (threads cannot pay for the switch)
MIN_SECONDS = 2e-3
#: how often (seconds) the load of the machine is measured again
WINDOW = 0.05

T = TypeVar("T")


@cache
def _controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return None
    return ThreadpoolController()


@cache
def max_threads() -> int:
    """The BLAS pools' thread count before interlace limited it (1 without threadpoolctl).

    Read once, when first asked; the first limit asks, so no limit of ours is counted.
    """
    ctl = _controller()
    if ctl is None:
        return 1
    counts = [lib.num_threads for lib in ctl.lib_controllers if lib.user_api == "blas"]
    return max(counts, default=1)


@contextmanager
def _limit(n: int | None) -> Iterator[None]:
    ctl = _controller()
    max_threads()  # the pools' own size, read before any limit
    if ctl is None or n is None:
        yield
        return
    with ctl.limit(limits=n):
        yield


@contextmanager
def serial_blas() -> Iterator[None]:
    """Run the block with BLAS and OpenMP limited to one thread (restored afterwards)."""
    with _limit(1):
        yield


def with_serial_blas(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator: ``fn`` runs under :func:`serial_blas`."""

    @wraps(fn)
    def run(*args: Any, **kwargs: Any) -> T:
        with serial_blas():
            return fn(*args, **kwargs)

    return run


class CpuLoad:
    """How many cores other processes keep busy, from ``/proc/stat`` (Linux).

    The machine's busy CPU time over an interval, minus this process's own CPU time (its
    BLAS threads included, spinning or not), divided by the wall time: the cores used by
    everyone else.  ``available`` is False where ``/proc/stat`` cannot be read.
    """

    def __init__(self):
        try:
            self.hz = os.sysconf("SC_CLK_TCK")
            with open("/proc/stat", encoding="ascii") as fh:
                lines = fh.read().splitlines()
            self.ncpu = sum(1 for ln in lines if ln.startswith("cpu") and ln[3:4].isdigit())
            self.available = self.ncpu > 0 and self.hz > 0
        except (OSError, ValueError, AttributeError):
            self.available, self.ncpu, self.hz = False, 1, 100
        self._last = self._sample() if self.available else None

    @staticmethod
    def _busy_jiffies() -> int:
        with open("/proc/stat", encoding="ascii") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
        return sum(v) - v[3] - (v[4] if len(v) > 4 else 0)  # all but idle and iowait

    def _sample(self) -> tuple[int, float, float]:
        return self._busy_jiffies(), time.process_time(), time.perf_counter()

    def others(self) -> float | None:
        """Cores used by other processes since the last call (None if unknown)."""
        if not self.available:
            return None
        now = self._sample()
        (b0, c0, t0), (b1, c1, t1) = self._last, now
        self._last = now
        if t1 - t0 <= 0:
            return None
        # /proc/stat counts in clock ticks: over a short interval the quotient can pass
        # the core count (or 0) by a tick's worth, so it is clamped to what is possible
        return min(float(self.ncpu), max(0.0, ((b1 - b0) / self.hz - (c1 - c0)) / (t1 - t0)))


class _FreeCores:
    """A thread count that follows the cores other processes leave free: measured
    (:class:`CpuLoad`) every ``WINDOW`` seconds, at most ``most``, at least one, and one
    until the first measurement."""

    def __init__(self, most: int):
        self.most = most
        self.choice = 1
        self._load: CpuLoad | None = None
        self._since = 0.0

    def _measure(self) -> bool:
        """Measure again if ``WINDOW`` has passed; False where the load cannot be read."""
        if self._load is None:
            self._load = CpuLoad()
            self._since = time.perf_counter()
            return self._load.available
        if not self._load.available:
            return False
        if time.perf_counter() - self._since < WINDOW:
            return True
        others = self._load.others()
        self._since = time.perf_counter()
        if others is not None:
            free = self._load.ncpu - others
            self.choice = int(max(1, min(self.most, np.floor(free + 0.25))))
        return True


class AdaptiveThreads(_FreeCores):
    """Run a repeated operation under as many BLAS threads as there are free cores.

    Every ``WINDOW`` seconds the cores used by other processes are measured
    (:class:`CpuLoad`) and the thread count for the next calls is set to the free cores
    (at most the BLAS pools' size, at least one).  Until the first measurement, and
    where the load cannot be measured, calls run on one thread.  An operation whose first
    call takes less than ``MIN_SECONDS`` always runs as it is.

    Timing the operation itself under each setting does not work: OpenBLAS's workers
    keep spinning after a threaded call, so they slow whatever runs next, and a one-thread
    trial that follows threaded calls is measured slow; the load measurement counts those
    workers as this process's own time.

    Parameters
    ----------
    threads : int, optional
        The most threads to use (default: the BLAS pools' size).
    """

    def __init__(self, threads: int | None = None):
        super().__init__(threads if threads is not None else max_threads())
        self.enabled = self.most > 1
        self.calls = 0

    def _update_choice(self) -> None:
        if not self._measure():
            self.enabled = False

    def __call__(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` under the current thread count."""
        if not self.enabled:
            return fn(*args)
        if self.calls == 0:
            t0 = time.perf_counter()
            out = fn(*args)  # the first call decides whether threads can matter at all
            self.calls = 1
            if time.perf_counter() - t0 < MIN_SECONDS:
                self.enabled = False
            else:
                self._update_choice()
            return out
        self._update_choice()
        self.calls += 1
        with _limit(self.choice):
            return fn(*args)


def _usable_cores() -> int:
    """Cores this process may run on, at most ``INTERLACE_NUM_THREADS`` when it is set."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    env = os.environ.get("INTERLACE_NUM_THREADS", "").strip()
    if env:
        try:
            cores = min(cores, max(1, int(env)))
        except ValueError:
            raise ValueError(f"INTERLACE_NUM_THREADS must be a whole number, got {env!r}") \
                from None
    return cores


_POOL: dict[int, ThreadPoolExecutor] = {}
_POOL_LOCK = threading.Lock()
_IN_PIECE = threading.local()


def _pool(workers: int) -> ThreadPoolExecutor:
    """The process's worker threads (a new pool after a fork: a child has none of its
    parent's threads)."""
    key = os.getpid()
    with _POOL_LOCK:
        pool = _POOL.get(key)
        if pool is None or pool._max_workers < workers:
            pool = _POOL[key] = ThreadPoolExecutor(max_workers=workers,
                                                    thread_name_prefix="interlace")
        return pool


class ThreadSplit(_FreeCores):
    """Run the independent pieces of one computation on as many threads as there are free
    cores (see the module doc); the pieces' results come back in their order.

    The free cores are measured every ``WINDOW`` seconds (:class:`CpuLoad`); until the
    first measurement, where the load cannot be measured, inside another piece (no
    nesting) or on a single core, the pieces run here, one after another.
    ``adaptive=False`` always uses ``threads`` (tests).
    """

    def __init__(self, threads: int | None = None, adaptive: bool = True):
        super().__init__(_usable_cores() if threads is None else max(1, int(threads)))
        self.adaptive = adaptive

    def threads(self) -> int:
        """How many threads the next :meth:`map` uses."""
        if self.most < 2 or getattr(_IN_PIECE, "active", False):
            return 1
        if not self.adaptive:
            return self.most
        return self.choice if self._measure() else 1

    def map(self, fn: Callable[[T], Any], pieces: Sequence[T]) -> list:
        """``[fn(p) for p in pieces]``, the pieces shared among the threads."""
        k = min(self.threads(), len(pieces))
        if k < 2:
            return [fn(p) for p in pieces]

        def run(piece):
            _IN_PIECE.active = True
            try:
                return fn(piece)
            finally:
                _IN_PIECE.active = False

        futures = [_pool(k - 1).submit(run, p) for p in pieces[1:]]
        first = run(pieces[0])
        return [first] + [f.result() for f in futures]
