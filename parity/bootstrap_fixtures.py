"""lme4's ``bootMer``/``confint(method = "boot")`` of a few LMM catalog cases and pbkrtest's
``PBmodcomp``, the reference for ``interlace``'s bootstrap and ``pb_modcomp``:
``python -m parity.bootstrap_fixtures`` runs ``parity/r/bootstrap_reference.R`` →
``fixtures/r/bootstrap.json``."""

from __future__ import annotations

from parity.data import DATA_DIR, ROOT
from parity.rscript import write_reference

OUT = ROOT / "fixtures" / "r" / "bootstrap.json"
#: REML with p = 2 (lme4 1.1-31's refit criterion differs), crossed terms with p = 1 (it
#: does not), an ML fit, and use.u with p = 4
CASES = [
    {"id": "sleep_reml", "dataset": "sleepstudy", "formula": "Reaction ~ Days + (Days | Subject)",
     "REML": True, "nsim": 20, "seed": 101, "use_u": False},
    {"id": "penicillin", "dataset": "Penicillin",
     "formula": "diameter ~ 1 + (1 | plate) + (1 | sample)", "REML": True, "nsim": 20,
     "seed": 7, "use_u": False},
    {"id": "sleep_ml", "dataset": "sleepstudy", "formula": "Reaction ~ Days + (Days | Subject)",
     "REML": False, "nsim": 20, "seed": 11, "use_u": False},
    {"id": "ortho_use_u", "dataset": "Orthodont",
     "formula": "distance ~ age * Sex + (1 | Subject)", "REML": True, "nsim": 10, "seed": 5,
     "use_u": True},
]


#: pbkrtest's PBmodcomp: REML fits (refitted by ML), and ML fits with a factor interaction
PBMODCOMPS = [
    {"id": "sleep_days", "dataset": "sleepstudy",
     "formula": "Reaction ~ Days + (Days | Subject)", "small": ". ~ 1 + (Days | Subject)",
     "REML": True, "nsim": 20, "seed": 1234},
    {"id": "ortho_interaction", "dataset": "Orthodont",
     "formula": "distance ~ age * Sex + (1 | Subject)", "small": ". ~ age + Sex + (1 | Subject)",
     "REML": False, "nsim": 15, "seed": 99},
]


#: GLMM bootMer: (case, nsim, seed) of [[glmm]] catalog cases
GLMM = [("cbpp_cbind", 10, 4), ("grouseticks_sqrt", 8, 5)]
SCRIPT = "bootstrap_reference.R"


def request() -> dict:
    """The request bootstrap_reference.R takes."""
    from parity.simulate_fixtures import get_glmm_case

    glmm = [{**{k: get_glmm_case(cid).get(k) for k in ("dataset", "formula", "family", "link",
                                                        "weights", "offset", "nAGQ")},
             "id": cid, "nsim": nsim, "seed": seed} for cid, nsim, seed in GLMM]
    return {"data_dir": str(DATA_DIR), "cases": CASES, "pbmodcomps": PBMODCOMPS,
            "glmm": glmm}


def main() -> int:
    return write_reference(SCRIPT, request(), OUT, "bootstrap")


if __name__ == "__main__":
    raise SystemExit(main())
