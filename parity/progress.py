"""Progress of a parity run per case and per side (R / Python), with elapsed times.

:mod:`parity.run` opens a case with :func:`case`; the code that runs R for that case (live
mode) or fits in Python wraps the call in :func:`side`.  With ``announce`` on (live mode,
where R can take minutes on a case such as InstEval), each side prints a line when it
starts and when it ends; the case's own line then reports the seconds spent on each side
(Python: the case's time not spent in R).
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

from tqdm import tqdm

_state: dict = {"case": None, "sides": {}, "announce": False}


def _say(text: str) -> None:
    tqdm.write(text, file=sys.stderr)


@contextmanager
def case(case_id: str, announce: bool = False):
    """Track one case; yields its dict of seconds per side (filled as sides finish)."""
    _state.update(case=case_id, sides={}, announce=announce)
    try:
        yield _state["sides"]
    finally:
        _state.update(case=None, announce=False)


@contextmanager
def side(name: str, what: str = ""):
    """Time one side (``"R"`` or ``"Python"``) of the current case; announce it when asked."""
    t0 = time.perf_counter()
    if _state["announce"] and _state["case"]:
        _say(f"      {_state['case']}: {name}{f' ({what})' if what else ''} …")
    try:
        yield
    finally:
        dt = time.perf_counter() - t0
        _state["sides"][name] = _state["sides"].get(name, 0.0) + dt
        if _state["announce"] and _state["case"]:
            _say(f"      {_state['case']}: {name} done in {dt:.1f}s")


def summary(sides: dict, total: float) -> str:
    """``"R 87.1s, Python 8.1s"`` (Python: the rest of ``total``); empty without R."""
    if "R" not in sides:
        return ""
    return f"R {sides['R']:.1f}s, Python {max(total - sides['R'], 0.0):.1f}s"
