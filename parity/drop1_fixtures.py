"""lmerTest 3.1-3's ``drop1`` and lme4's (``ddf = "lme4"``), the reference for
``interlace.drop1``: ``python -m parity.drop1_fixtures`` runs ``parity/r/drop1_reference.R``
→ ``fixtures/r/drop1.json``."""

from __future__ import annotations

from parity.data import DATA_DIR, ROOT
from parity.rscript import write_reference

OUT = ROOT / "fixtures" / "r" / "drop1.json"
#: REML fits: an interaction (only it is marginal), two marginal terms, an aliased column
#: (lmerTest's model-difference hypotheses, NaN rows), a single term
#: and R's other contrasts (issue 12): contr.sum, contr.helmert and contr.SAS chosen by
#: lmer's ``contrasts`` (type III then mapped from treatment coding, as for an ordered factor)
MODELS = [
    {"id": "ortho", "dataset": "Orthodont", "formula": "distance ~ age * Sex + (age | Subject)"},
    {"id": "exam_factors", "dataset": "Exam",
     "formula": "normexam ~ sex * vr + standLRT + (1 | school)"},
    {"id": "ortho_rankdef", "dataset": "Orthodont",
     "formula": "distance ~ age + I(2 * age) + Sex + (1 | Subject)"},
    {"id": "oats", "dataset": "oats", "formula": "Y ~ N + V + (1 | B/V)"},
    {"id": "machines", "dataset": "Machines",
     "formula": "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)"},
    {"id": "oats_sum", "dataset": "oats", "formula": "Y ~ N + V + (1 | B/V)",
     "contrasts": {"N": "contr.sum", "V": "contr.sum"}},
    {"id": "exam_sas", "dataset": "Exam",
     "formula": "normexam ~ standLRT * sex + schgend + (1 | school)",
     "contrasts": {"sex": "contr.SAS", "schgend": "contr.sum"}},
    {"id": "ortho_rankdef_helmert", "dataset": "Orthodont",
     "formula": "distance ~ age + I(2 * age) + Sex + (1 | Subject)",
     "contrasts": {"Sex": "contr.helmert"}},
]


SCRIPT = "drop1_reference.R"


def request() -> dict:
    """The request drop1_reference.R takes."""
    return {"data_dir": str(DATA_DIR), "models": MODELS}


def main() -> int:
    return write_reference(SCRIPT, request(), OUT, "drop1")


if __name__ == "__main__":
    raise SystemExit(main())
