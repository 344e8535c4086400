"""OptSummary: what the optimizer did, saved and replayable.

Records the optimizer, its settings, start and bounds, every (θ, objective)
evaluation in order, the final θ and objective, the number of evaluations,
restarts at the boundary, the convergence checks and the wall time.  It can be
written to JSON and read back, and :meth:`OptSummary.replay` re-evaluates the
recorded path with a deviance function to show the numbers reproduce.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class OptSummary:
    """Optimizer record of one fit."""

    optimizer: str
    settings: dict
    theta_names: list[str]
    x0: list[float]
    lower: list[float]
    method: str
    path: list[tuple[list[float], float]] = field(default_factory=list)
    theta: list[float] = field(default_factory=list)
    objective: float = float("nan")
    n_evals: int = 0
    message: str = ""
    converged: bool = False
    restarted_at_edge: bool = False
    boundary_adjusted: list[str] = field(default_factory=list)
    check_messages: list[str] = field(default_factory=list)
    check_code: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """A JSON-ready dict (non-finite bounds as strings)."""
        d = asdict(self)
        d["lower"] = [v if np.isfinite(v) else str(v) for v in self.lower]
        return d

    def save(self, path: str | Path) -> None:
        """Write the summary as JSON (17 significant digits)."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> OptSummary:
        """Read a summary written by :meth:`save`."""
        d = json.loads(Path(path).read_text())
        d["lower"] = [float(v) for v in d["lower"]]
        d["path"] = [(list(t), float(f)) for t, f in d["path"]]
        return cls(**d)

    def replay(self, fun: Callable[[np.ndarray], float]) -> np.ndarray:
        """Re-evaluate ``fun`` along the recorded path; return the absolute differences."""
        return np.array([abs(fun(np.asarray(t)) - f) for t, f in self.path])
