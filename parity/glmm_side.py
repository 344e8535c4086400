"""interlace's side of a ``[[glmm]]`` catalog case: its design and deviance functions."""

from __future__ import annotations

from interlace.api import build_glmm_deviance
from interlace.design import build_design
from interlace.family import make_family
from interlace.formula import compose_formula
from parity.catalog import case_contrasts
from parity.data import load_dataset


def case_formula(case: dict) -> str:
    """The case's formula with its ``offset`` expression as an ``offset()`` term."""
    off = case.get("offset")
    return case["formula"] + (f" + offset({off})" if off else "")


def glmm_deviance(case: dict, data=None):
    """(design, layout, GlmmDeviance) of a GLMM catalog case."""
    data = load_dataset(case["dataset"]) if data is None else data
    family = make_family(case["family"], case["link"])
    design = build_design(compose_formula(case_formula(case)), data,
                          weights=case.get("weights"), family=family,
                          contrasts=case_contrasts(case))
    layout, dev = build_glmm_deviance(design, family)
    return design, layout, dev
