"""lmerTest 3.1-3's ``anova(m, type, ddf)`` of one model and lme4's ``anova(m)``, the
reference for ``interlace.anova(res, type=, ddf=)``: ``python -m
parity.lmertest_anova_fixtures`` runs ``parity/r/lmertest_anova_reference.R`` →
``fixtures/r/lmertest_anova.json``."""

from __future__ import annotations

from parity.data import DATA_DIR, ROOT
from parity.rscript import write_reference

OUT = ROOT / "fixtures" / "r" / "lmertest_anova.json"
#: REML fits covering lmerTest's contrast paths: numeric × factor, factor × factor
#: (balanced and not), an ordered factor (type III mapped from treatment coding), a
#: numeric-only model, no intercept, an aliased term (NaN row), a single term (type I for
#: every type), a singular fit (the B:N variance at 0)
#: and R's other contrasts (issue 12): contr.sum, contr.helmert and contr.SAS chosen by
#: lmer's ``contrasts`` (type III then mapped from treatment coding, as for an ordered factor)
MODELS = [
    {"id": "ortho", "dataset": "Orthodont", "formula": "distance ~ age * Sex + (age | Subject)"},
    {"id": "cake_ordered", "dataset": "cake",
     "formula": "angle ~ recipe * temperature + (1 | recipe:replicate)"},
    {"id": "cake_factor", "dataset": "cake",
     "formula": "angle ~ recipe * factor(temp) + (1 | recipe:replicate)"},
    {"id": "oats", "dataset": "oats", "formula": "Y ~ N * V + (1 | B/V)"},
    {"id": "exam_numeric_factor", "dataset": "Exam",
     "formula": "normexam ~ standLRT * sex + schgend + (1 | school)"},
    {"id": "exam_factors", "dataset": "Exam",
     "formula": "normexam ~ sex * vr + standLRT + (1 | school)"},
    {"id": "bodyweight", "dataset": "BodyWeight", "formula": "weight ~ Time * Diet + (Time | Rat)"},
    {"id": "ortho_rankdef", "dataset": "Orthodont",
     "formula": "distance ~ age + I(2 * age) + Sex + (1 | Subject)"},
    {"id": "sleep_quadratic", "dataset": "sleepstudy",
     "formula": "Reaction ~ Days + I(Days^2) + (Days | Subject)"},
    {"id": "ortho_no_intercept", "dataset": "Orthodont",
     "formula": "distance ~ 0 + Sex + Sex:age + (1 | Subject)"},
    {"id": "machines", "dataset": "Machines",
     "formula": "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)"},
    {"id": "oats_singular", "dataset": "oats", "formula": "Y ~ N * V + (1 | B) + (1 | B:N)"},
    {"id": "cake_sum_helmert", "dataset": "cake",
     "formula": "angle ~ recipe * temperature + (1 | recipe:replicate)",
     "contrasts": {"recipe": "contr.sum", "temperature": "contr.helmert"}},
    {"id": "oats_sum", "dataset": "oats", "formula": "Y ~ N * V + (1 | B/V)",
     "contrasts": {"N": "contr.sum", "V": "contr.sum"}},
    {"id": "exam_sas", "dataset": "Exam",
     "formula": "normexam ~ standLRT * sex + schgend + (1 | school)",
     "contrasts": {"sex": "contr.SAS", "schgend": "contr.sum"}},
]


SCRIPT = "lmertest_anova_reference.R"


def request() -> dict:
    """The request lmertest_anova_reference.R takes."""
    return {"data_dir": str(DATA_DIR), "models": MODELS}


def main() -> int:
    return write_reference(SCRIPT, request(), OUT, "lmertest_anova")


if __name__ == "__main__":
    raise SystemExit(main())
