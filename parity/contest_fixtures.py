"""lmerTest's ``contest(m, L, rhs, joint)`` (Satterthwaite), the reference for
``interlace.contest``: ``python -m parity.contest_fixtures`` runs
``parity/r/contest_reference.R`` → ``fixtures/r/contest.json``."""

from __future__ import annotations

from parity.data import DATA_DIR, ROOT
from parity.rscript import write_reference

OUT = ROOT / "fixtures" / "r" / "contest.json"
_SLEEP = dict(dataset="sleepstudy", formula="Reaction ~ Days + (Days | Subject)", REML=True)
_ORTHO = dict(dataset="Orthodont", formula="distance ~ age * Sex + (age | Subject)", REML=True)
#: joint F tests of 1 to 3 rows (one with rhs, one of rank 1), and per-row t tests (lmerTest
#: takes one rhs for every row there: a vector rhs fails in its contest1D)
TESTS = [
    {"id": "sleep_both", **_SLEEP, "L": [[1, 0], [0, 1]], "rhs": [0, 0], "joint": True},
    {"id": "sleep_days", **_SLEEP, "L": [[0, 1]], "rhs": [0], "joint": True},
    {"id": "sleep_rows", **_SLEEP, "L": [[1, 0], [0, 1], [1, 7]], "rhs": [10],
     "joint": False},
    {"id": "ortho_sex", **_ORTHO, "L": [[0, 0, 1, 0], [0, 0, 0, 1]], "rhs": [0, 0],
     "joint": True},
    {"id": "ortho_three_rhs", **_ORTHO, "L": [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
     "rhs": [0.5, 0, 0], "joint": True},
    {"id": "ortho_rank_one", **_ORTHO, "L": [[0, 1, 0, 0], [0, 2, 0, 0]], "rhs": [0, 0],
     "joint": True},
    # lmerTest's estimability check: L over every model-matrix column (a missing cell's
    # aliased one too); the contrast on the aliased column is not estimable (NA row)
    {"id": "oats_missing_cell_estimability", "dataset": "oats",
     "formula": "Y ~ N * V + (1 | B/V)", "REML": True,
     "exclude": {"N": "0.6cwt", "V": "Victory"},
     "L": [[0, 1] + [0] * 10, [0] * 11 + [1], [0, 1, 1] + [0] * 9], "rhs": [0],
     "joint": False, "check_estimability": True},
]


SCRIPT = "contest_reference.R"


def request() -> dict:
    """The request contest_reference.R takes."""
    return {"data_dir": str(DATA_DIR), "tests": TESTS}


def main() -> int:
    return write_reference(SCRIPT, request(), OUT, "contest")


if __name__ == "__main__":
    raise SystemExit(main())
