"""pbkrtest 0.5.2's Kenward–Roger and lmerTest 3.1-3's ``ddf = "Kenward-Roger"``, the
reference for ``interlace``'s KR: ``python -m parity.kr_fixtures`` runs
``parity/r/kr_reference.R`` → ``fixtures/r/kr.json``."""

from __future__ import annotations

from parity.data import DATA_DIR, ROOT
from parity.rscript import write_reference

OUT = ROOT / "fixtures" / "r" / "kr.json"
#: REML fits: balanced and unbalanced (NA rows dropped), correlated and uncorrelated
#: slopes (two terms on one factor), crossed and nested intercepts, a factor with an
#: interaction, a rank-deficient X (lme4 drops the aliased column) and two singular fits
MODELS = [
    {"id": "sleep", "dataset": "sleepstudy", "formula": "Reaction ~ Days + (Days | Subject)"},
    {"id": "sleep_uncorr", "dataset": "sleepstudy",
     "formula": "Reaction ~ Days + (Days || Subject)"},
    {"id": "penicillin", "dataset": "Penicillin",
     "formula": "diameter ~ 1 + (1 | plate) + (1 | sample)"},
    {"id": "ortho", "dataset": "Orthodont", "formula": "distance ~ age * Sex + (age | Subject)"},
    {"id": "ortho_rankdef", "dataset": "Orthodont",
     "formula": "distance ~ age + I(2 * age) + Sex + (1 | Subject)"},
    {"id": "pastes", "dataset": "Pastes", "formula": "strength ~ 1 + (1 | batch/cask)"},
    {"id": "machines", "dataset": "Machines",
     "formula": "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)"},
    {"id": "gcsemv_na", "dataset": "Gcsemv", "formula": "written ~ gender + (1 | school)"},
    {"id": "exam", "dataset": "Exam",
     "formula": "normexam ~ standLRT + sex + schgend + (standLRT | school)"},
    {"id": "dyestuff2_singular", "dataset": "Dyestuff2", "formula": "Yield ~ 1 + (1 | Batch)"},
    {"id": "oats_singular", "dataset": "oats", "formula": "Y ~ N * V + (1 | B) + (1 | B:N)"},
]
#: lmerTest's contest(ddf = "Kenward-Roger"): joint F tests (two and three rows, a
#: right-hand side, rank one) and per-row t tests
CONTESTS = [
    {"id": "ortho_sex", "model": "ortho", "L": [[0, 0, 1, 0], [0, 0, 0, 1]], "rhs": [0, 0],
     "joint": True},
    {"id": "ortho_three_rhs", "model": "ortho",
     "L": [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], "rhs": [0.5, 0, 0], "joint": True},
    {"id": "ortho_rank_one", "model": "ortho", "L": [[0, 1, 0, 0], [0, 2, 0, 0]],
     "rhs": [0, 0], "joint": True},
    {"id": "sleep_rows", "model": "sleep", "L": [[1, 0], [0, 1], [1, 7]], "rhs": [10],
     "joint": False},
    {"id": "machines_joint", "model": "machines", "L": [[0, 1, 0], [0, 0, 1]],
     "rhs": [0, 0], "joint": True},
]
#: pbkrtest's KRmodcomp(large, small): a nested smaller model, and restriction matrices
#: (one of them rank deficient, one with betaH)
MODCOMPS = [
    {"id": "sleep_days", "model": "sleep", "small": "Reaction ~ 1 + (Days | Subject)"},
    {"id": "ortho_interaction", "model": "ortho",
     "small": "distance ~ age + Sex + (age | Subject)"},
    {"id": "exam_matrix", "model": "exam",
     "L": [[0, 0, 0, 1, 0], [0, 0, 0, 0, 1]]},
    {"id": "machines_rankdef", "model": "machines", "L": [[0, 1, 0], [0, 0, 1], [0, 1, 1]]},
    {"id": "ortho_betaH", "model": "ortho", "L": [[0, 1, 0, 0]], "betaH": [0, 0.5, 0, 0]},
]


SCRIPT = "kr_reference.R"


def request() -> dict:
    """The request kr_reference.R takes."""
    return {"data_dir": str(DATA_DIR), "models": MODELS, "contests": CONTESTS,
            "modcomps": MODCOMPS}


def main() -> int:
    return write_reference(SCRIPT, request(), OUT, "kr")


if __name__ == "__main__":
    raise SystemExit(main())
