"""lme4's profile confidence intervals of GLMMs (``confint(m)``, whose default for a
``glmerMod`` is the profile), the reference for interlace's ``confint()`` of a GLMM:
``python -m parity.glmm_profile_fixtures`` runs ``parity/r/glmm_profile_reference.R`` →
``fixtures/r/glmm_profile.json``."""

from __future__ import annotations

from parity.data import DATA_DIR, ROOT
from parity.rscript import write_reference
from parity.simulate_fixtures import get_glmm_case

OUT = ROOT / "fixtures" / "r" / "glmm_profile.json"
SCRIPT = "glmm_profile_reference.R"
#: (case, which): binomial counts (Laplace and 9-node AGQ), a 0/1 probit, Poisson with an
#: offset, a Poisson square-root link, a correlated random slope's correlation (bounded by
#: ±1; only that parameter: the whole profile of its 9 parameters takes R a minute), a
#: singular fit; and the two kinds lme4 refuses: an nAGQ = 0 fit and a family with a
#: dispersion (Gamma)
CASES = (("cbpp_cbind", None), ("cbpp_agq9", None), ("bacteria_probit", None),
         ("mmmec_offset", None), ("grouseticks_sqrt", None), ("epil_slope", [".sig02"]),
         ("bacteria_week_singular", None), ("cbpp_nagq0", None), ("sleepstudy_gamma", None))
#: models profiled here that are not catalog cases: a singular fit (θ̂ = 0 in lme4 and
#: here), whose profile starts at 0.001 and has no lower side
EXTRA = {"bacteria_week_singular": {
    "id": "bacteria_week_singular", "dataset": "bacteria",
    "formula": "y ~ trt + I(week > 2) + (1 | week)", "family": "binomial", "link": "logit",
    "nAGQ": 1}}


def case_spec(case_id: str) -> dict:
    """A profiled model: a ``[[glmm]]`` catalog case, or one of :data:`EXTRA`."""
    return EXTRA[case_id] if case_id in EXTRA else get_glmm_case(case_id)
LEVELS = (0.95, 0.90)


def request() -> dict:
    """The request glmm_profile_reference.R takes."""
    keys = ("dataset", "formula", "family", "link", "weights", "offset", "nAGQ")
    cases = [{**{k: case_spec(cid).get(k) for k in keys}, "id": cid, "which": which}
             for cid, which in CASES]
    return {"data_dir": str(DATA_DIR), "levels": list(LEVELS), "cases": cases}


def main() -> int:
    return write_reference(SCRIPT, request(), OUT, "glmm_profile")


if __name__ == "__main__":
    raise SystemExit(main())
