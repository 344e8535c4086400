"""lmerTest 3.1-3's ``ls_means`` and ``difflsmeans``, the reference for
``interlace.ls_means``/``difflsmeans``: ``python -m parity.ls_means_fixtures`` runs
``parity/r/ls_means_reference.R`` → ``fixtures/r/ls_means.json``."""

from __future__ import annotations

from parity.data import DATA_DIR, ROOT
from parity.rscript import write_reference

OUT = ROOT / "fixtures" / "r" / "ls_means.json"
#: REML fits: a factor with a numeric covariate (and their interaction), two crossed
#: factors balanced and not, a missing cell (aliased coefficient, non-estimable LS-means),
#: a single factor with crossed random effects
#: and R's other contrasts (issue 12): contr.sum, contr.helmert and contr.SAS chosen by
#: lmer's ``contrasts`` (type III then mapped from treatment coding, as for an ordered factor)
MODELS = [
    {"id": "ortho", "dataset": "Orthodont", "formula": "distance ~ age * Sex + (age | Subject)"},
    {"id": "oats", "dataset": "oats", "formula": "Y ~ N * V + (1 | B/V)"},
    {"id": "oats_missing_cell", "dataset": "oats", "formula": "Y ~ N * V + (1 | B/V)",
     "exclude": {"N": "0.6cwt", "V": "Victory"}},
    {"id": "exam_factors", "dataset": "Exam",
     "formula": "normexam ~ sex * vr + standLRT + (1 | school)"},
    {"id": "bodyweight", "dataset": "BodyWeight", "formula": "weight ~ Time * Diet + (Time | Rat)"},
    {"id": "machines", "dataset": "Machines",
     "formula": "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)"},
    {"id": "cake_sum_helmert", "dataset": "cake",
     "formula": "angle ~ recipe * temperature + (1 | recipe:replicate)",
     "contrasts": {"recipe": "contr.sum", "temperature": "contr.helmert"}},
    {"id": "oats_sum", "dataset": "oats", "formula": "Y ~ N * V + (1 | B/V)",
     "contrasts": {"N": "contr.sum", "V": "contr.sum"}},
    {"id": "oats_sum_missing_cell", "dataset": "oats", "formula": "Y ~ N * V + (1 | B/V)",
     "exclude": {"N": "0.6cwt", "V": "Victory"},
     "contrasts": {"N": "contr.sum", "V": "contr.helmert"}},
]


SCRIPT = "ls_means_reference.R"


def request() -> dict:
    """The request ls_means_reference.R takes."""
    return {"data_dir": str(DATA_DIR), "models": MODELS}


def main() -> int:
    return write_reference(SCRIPT, request(), OUT, "ls_means")


if __name__ == "__main__":
    raise SystemExit(main())
