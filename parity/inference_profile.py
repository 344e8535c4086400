"""lme4's GLMM profile confidence intervals in the parity harness (``fixtures/r/
glmm_profile.json``, :mod:`parity.glmm_profile_fixtures`), quantity by quantity:

* ``glmm_profile_devfun_at_r_parameters`` (exact): the profile's deviance function — its
  PIRLS start lp0 (at lme4's θ̂) and its value at lme4's optimum — and our deviance at every
  row of lme4's profile table (lme4's sd/cor and β there), against lme4's base + ζ²;
* ``glmm_profile_zeta`` and ``glmm_profile_nuisance`` (optimum-dependent): lme4's
  profile walked again by our code from lme4's optimum, row by row against lme4's, keyed
  by parameter, row and column: ζ and the profiled value, then the other parameters at
  each point (separates the profile's algorithm from where the fit stopped);
* ``glmm_profile_confint`` (optimum-dependent): the intervals at each level from our own
  fit, what ``confint()`` gives a user;
* ``glmm_profile_refusals`` (exact): the fits lme4 cannot profile (nAGQ = 0, a family
  with a dispersion) are refused here too, with an error.
"""

from __future__ import annotations

import warnings

import numpy as np

import interlace
from interlace.errors import InterlaceError
from interlace.inference.glmm_profile import GlmmProfiler
from parity.compare import EXACT, OPTIMUM, QuantityResult, compare_keyed
from parity.data import load_dataset
from parity.glmm_parity import fit_case
from parity.glmm_profile_fixtures import case_spec
from parity.glmm_side import case_formula

#: lme4's profile walked again by our code from lme4's own optimum (lme4's θ̂, β̂ and base
#: deviance), row by row: the inner Nelder–Mead runs retrace lme4's, ζ and the profiled
#: value agree to 1e-8 (epil_slope; 1e-10 elsewhere)
ZETA_TOL = 1e-6
#: the other parameters at each point are the inner optimum of a flat problem: they are
#: lme4's to the bit except at a degenerate point (epil_slope's correlation at its bound
#: 1, where the inner runs stop apart: 9.4e-5 relative), inside the GLMM optimum class
NUISANCE_RTOL, NUISANCE_ATOL = 1e-4, 1e-6
#: a standard deviation next to its bound 0 as a nuisance parameter (a singular fit's
#: .sig01 at the fixed effects' points): the deviance is flat there, so it is compared
#: absolutely as the boundary class has it
NEAR_BOUND, BOUNDARY_ATOL = 1e-3, 1e-4
#: the intervals a user gets, from our own fit: the GLMM optimum class (1e-4 relative
#: where the fit's path is not lme4's).  Measured: 1e-9 where our fit retraces lme4's;
#: 6e-5 for epil_slope, whose fit (through the compiled kernel) stops up to 2.1e-4
#: (relative) from lme4's θ̂ — as far as lme4's own fits of row-permuted data stop from it
#: (fixtures/r/floor/epil_slope.glmm.json: 6e-5, 2.1e-4, 1.2e-4)
CI_RTOL, CI_ATOL = 1e-4, 1e-6


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def _rows(case_id: str, table: dict | None) -> dict:
    """A profile table (column → values, with ``.par``) as {(case, par, i, column): value}."""
    out: dict = {}
    if not table:
        return out
    pars = list(table[".par"])
    cols = [c for c in table if c not in (".par", ".focal")]
    seen: dict = {}
    for r, par in enumerate(pars):
        i = seen[par] = seen.get(par, -1) + 1
        for c in cols:
            v = table[c][r]
            out[(case_id, par, i, c)] = np.nan if v is None else float(v)
    return out


def _intervals(case_id: str, level: float, ci) -> dict:
    return {(case_id, level, name, side): float(ci.loc[name].iloc[j])
            for name in ci.index for j, side in enumerate(("lower", "upper"))}


def glmm_profile(ref: dict) -> list[QuantityResult]:
    """Every quantity of the GLMM profile reference (see the module doc)."""
    exact_py, exact_r, pts_py, pts_r, ci_py, ci_r, ref_py, ref_r = ({} for _ in range(8))
    zeta_py, zeta_r = {}, {}
    for c in ref["cases"]:
        cid = c["id"]
        case = case_spec(cid)
        res = fit_case(case)
        if "error" in c:
            ref_r[(cid, "refused")] = 1.0
            try:
                _quiet(res.confint)
                ref_py[(cid, "refused")] = 0.0
            except InterlaceError:
                ref_py[(cid, "refused")] = 1.0
            continue
        # at lme4's parameters: lme4's fit, then the profile's deviance function
        at_r = _quiet(interlace.evaluate_glmm_at, case_formula(case),
                      load_dataset(case["dataset"]), c["fit"]["theta"],
                      list(c["fit"]["fixef"].values()), family=case["family"],
                      link=case["link"], weights=case.get("weights"), nAGQ=case["nAGQ"])
        pr = GlmmProfiler(at_r, base=c["base"])
        lp0 = np.asarray(c["devfun_lp0"], dtype=float)
        exact_r.update({(cid, "lp0", i): v for i, v in enumerate(lp0)})
        exact_py.update({(cid, "lp0", i): v for i, v in enumerate(pr.lp0)})
        exact_r[(cid, "devfun_at_optimum")] = c["devfun_at_optimum"]
        exact_py[(cid, "devfun_at_optimum")] = pr.dd(np.array(list(c["optimum"].values())))
        tab = c["profile_table"]
        names = list(c["optimum"])
        opt = np.array([c["optimum"][n] for n in names], dtype=float)
        for r, zeta in enumerate(tab[".zeta"]):
            row = np.array([tab[n][r] for n in names], dtype=float)
            if zeta is None or np.isnan(zeta) or np.array_equal(row, opt):
                continue  # a failed point, or the optimum's own row (ζ = 0 by definition)
            exact_r[(cid, "deviance_at_row", r)] = c["base"] + zeta * zeta
            exact_py[(cid, "deviance_at_row", r)] = pr.dd(row)
        # lme4's profile walked again from lme4's optimum (our algorithm, lme4's start)
        which = c.get("which")
        walked = _quiet(pr.run, which)
        table = {col: walked.table[col].tolist() for col in walked.table.columns}
        # the intervals a user gets: from our own fit
        prof = _quiet(res.profile, which=which)
        focal = {par: par for par in set(tab[".par"])}
        for key, v in _rows(cid, tab).items():
            (zeta_r if key[3] in (".zeta", focal[key[1]]) else pts_r)[key] = v
        for key, v in _rows(cid, table).items():
            (zeta_py if key[3] in (".zeta", focal.get(key[1])) else pts_py)[key] = v
        for iv in c["intervals"]:
            lv = iv["level"]
            ci_r.update({(cid, lv, name, side): v
                         for name in iv["rows"]
                         for side, v in zip(("lower", "upper"), iv["ci"][name], strict=True)})
            ci_py.update(_intervals(cid, lv, _quiet(prof.confint, level=lv)))
    return [
        compare_keyed("glmm_profile_devfun_at_r_parameters", exact_py, exact_r, 1e-10, 1e-9,
                      EXACT, "the profile's deviance function (getME(m, 'devfun')): its "
                      "PIRLS start lp0 at lme4's θ̂ (absolute 1e-9), its value at lme4's "
                      "optimum, and lme4's base + ζ² at every row of lme4's profile "
                      "(1e-10 relative)"),
        compare_keyed("glmm_profile_zeta", zeta_py, zeta_r, ZETA_TOL, ZETA_TOL, OPTIMUM,
                      "lme4's profile walked by our code from lme4's optimum, row by row: ζ "
                      "and the profiled value (lme4's Nelder–Mead inner optimizations)"),
        compare_keyed("glmm_profile_nuisance", pts_py, pts_r, NUISANCE_RTOL,
                      {k: BOUNDARY_ATOL if k[3].startswith(".sig") and abs(v) < NEAR_BOUND
                       else NUISANCE_ATOL for k, v in pts_r.items()}, OPTIMUM,
                      "the other parameters at each profile point: the inner optimum of a "
                      "flat problem (1e-4 relative, the GLMM optimum class; an sd within "
                      "1e-3 of its bound 0 to 1e-4 absolute, the boundary class)"),
        compare_keyed("glmm_profile_confint", ci_py, ci_r, CI_RTOL, CI_ATOL, OPTIMUM,
                      "confint(m) (lme4's default for a glmerMod: the profile) at each level, "
                      "from our own fit (the GLMM optimum class)"),
        compare_keyed("glmm_profile_refusals", ref_py, ref_r, 0.0, 0.0, EXACT,
                      "lme4 cannot profile an nAGQ = 0 fit or a family with a dispersion; "
                      "neither do we (an error naming why)"),
    ]
