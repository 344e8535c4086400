"""Inference in the parity harness: each ``fixtures/r`` reference of issue 11 (Kenward–Roger,
lmerTest's F tests, LS-means and drop1, lme4's anova, simulate with R's seed, R's random
numbers, the bootstrap and PBmodcomp, GLMM profile intervals) compared quantity by quantity
with interlace, in the harness's tolerance classes (the GLMM profile's comparison is
:mod:`parity.inference_profile`).

* Quantities named ``*_at_r_theta`` are computed at lme4's θ̂ (``evaluate_at``): exact
  arithmetic on both sides (``exact-at-theta``, 1e-8 relative), except Satterthwaite's
  df, which both sides take from numerical derivatives (``numerical-derivative``, 1e-3).
* The others come from our own fits (``optimum-dependent``), or from refits
  (``refit-dependent``: a bootstrap replicate's criterion must be no worse than R's, and
  every other statistic, replicate or interval, within twice R's own refit floor — R's
  default refits against R's refits of the same responses with a tight tolerance, both
  in the fixture).

Live mode re-runs each R script now (``Rscript``) and reports its drift from the stored
fixture; stored mode reads the fixture.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np

import interlace
from interlace.inference.bootstrap import boot_fun
from parity import (
    anova_fixtures,
    bootstrap_fixtures,
    contest_fixtures,
    drop1_fixtures,
    glmm_profile_fixtures,
    inference_profile,
    kr_fixtures,
    lmertest_anova_fixtures,
    ls_means_fixtures,
    progress,
    ranova_fixtures,
    simulate_fixtures,
)
from parity.catalog import get_case
from parity.compare import (
    EXACT,
    NUMDERIV,
    OPTIMUM,
    REFIT,
    QuantityResult,
    case_passed,
    compare_keyed,
    drift,
)
from parity.data import ROOT, load_dataset, request_data
from parity.glmm_side import case_formula
from parity.pyside import fit_case
from parity.rscript import R_DIR, run_r_json

FIXTURES = ROOT / "fixtures" / "r"

#: (model, anova type, term) where lmerTest's Satterthwaite F is not the Wald F: R's
#: ``isSymmetric()`` rejects L V Lᵀ, ``eigen()`` takes LAPACK's non-symmetric routine, and
#: its eigenvectors for a repeated eigenvalue are not orthogonal (README, *F tests*)
LMERTEST_EIGEN_ARTIFACT = {("oats_singular", "1", "N:V"), ("oats_singular", "2b", "N:V")}


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def _at(spec: dict, theta, method: str = "REML"):
    return _quiet(interlace.evaluate_at, spec["formula"], request_data(spec), theta,
                  method=method, contrasts=spec.get("contrasts"))


def _fit(spec: dict, method: str = "REML"):
    return _quiet(interlace.fit, spec["formula"], request_data(spec), method=method,
                  contrasts=spec.get("contrasts"))


def _cells(prefix: tuple, rows, columns, values: dict, keep=None) -> dict:
    """{(*prefix, row, column): value} of a column-major table (values by column)."""
    return {(*prefix, r, c): (np.nan if v is None else float(v))
            for c in columns if keep is None or c in keep
            for r, v in zip(rows, values[c], strict=True)}


def _frame(prefix: tuple, df, keep=None) -> dict:
    return {(*prefix, r, c): float(df.loc[r, c]) for c in df.columns
            if keep is None or c in keep for r in df.index}


def _matrix(prefix: tuple, M) -> dict:
    M = np.atleast_2d(np.asarray(M, dtype=float))
    return {(*prefix, i, j): float(M[i, j]) for i in range(M.shape[0])
            for j in range(M.shape[1])}


def _compare_scaled(name: str, py: dict, r: dict, tol: float, cls: str,
                    why: str) -> QuantityResult:
    """Each element's error over the largest |R| of its matrix (its first key) within
    ``tol``; the reported relative error is that scale-relative one (an element near 0
    has no meaningful relative error of its own)."""
    top: dict = {}
    for k, v in r.items():
        if np.isfinite(v):
            top[k[0]] = max(top.get(k[0], 0.0), abs(v))
    scale = {k: top.get(k[0], 1.0) or 1.0 for k in r}
    q = compare_keyed(name, {k: v / scale[k] for k, v in py.items() if k in scale},
                      {k: v / scale[k] for k, v in r.items()}, 0.0, tol, cls,
                      f"{why} (errors relative to each matrix's largest |entry|)")
    q.max_rel_err = q.max_abs_err
    q.max_abs_err = max((abs(py[k] - r[k]) for k in r if k in py), default=0.0)
    return q


def _split(py: dict, r: dict, test) -> tuple[dict, dict, dict, dict]:
    """(py, r) of the keys where ``test(key)`` holds, then of the others."""
    a = {k for k in r if test(k)}
    return ({k: py[k] for k in a if k in py}, {k: r[k] for k in a},
            {k: v for k, v in py.items() if k not in a}, {k: v for k, v in r.items()
                                                          if k not in a})


# -- Kenward–Roger and SATmodcomp (kr.json) -------------------------------------------------
def kenward_roger(ref: dict) -> list[QuantityResult]:
    spec = {m["id"]: m for m in kr_fixtures.MODELS}
    at_r, ours = {}, {}
    py, r = {k: {} for k in ("vadj", "W", "coef", "coef_opt")}, {k: {} for k in
                                                                ("vadj", "W", "coef",
                                                                 "coef_opt")}
    for m in ref["models"]:
        res = at_r[m["id"]] = _at(spec[m["id"]], m["theta"])
        fit = ours[m["id"]] = _fit(spec[m["id"]])
        kr = res.kenward_roger
        py["vadj"].update(_matrix((m["id"],), kr.vcov_adj))
        r["vadj"].update(_matrix((m["id"],), m["vcov_adj"]))
        py["W"].update(_matrix((m["id"],), kr.W))
        r["W"].update(_matrix((m["id"],), m["W"]))
        cols = [c for c in m["coef_columns"] if c != "Estimate"]
        rows = list(m["fixef_names"])
        r["coef"].update(_cells((m["id"],), rows, cols, m["coefficients"]))
        py["coef"].update(_frame((m["id"],), res.coef_table("Kenward-Roger"), cols))
        opt_cols = [c for c in cols if not c.startswith("Pr")]
        r["coef_opt"].update(_cells((m["id"],), rows, opt_cols, m["coefficients"]))
        py["coef_opt"].update(_frame((m["id"],), fit.coef_table("Kenward-Roger"), opt_cols))
    out = [
        _compare_scaled("kr_vcov_adj_at_r_theta", py["vadj"], r["vadj"], 1e-8, EXACT,
                        "pbkrtest vcovAdj"),
        _compare_scaled("kr_W_at_r_theta", py["W"], r["W"], 1e-8, EXACT,
                        "attr(vcovAdj, 'W'): 2 IE2⁻¹"),
        compare_keyed("kr_coef_at_r_theta", py["coef"], r["coef"], 1e-8, 0.0, EXACT,
                      "lmerTest summary(ddf = 'Kenward-Roger'): SE, df, t, p"),
        compare_keyed("kr_coef", py["coef_opt"], r["coef_opt"], 1e-4, 0.0, OPTIMUM,
                      "SE, df, t from our own fit: as the LMM optimum class for SEs"),
    ]
    cpy, cr = {}, {}
    cspec = {t["id"]: t for t in kr_fixtures.CONTESTS}
    for t in ref["contests"]:
        s = cspec[t["id"]]
        rhs = s["rhs"] if len(s["rhs"]) > 1 else s["rhs"][0]
        tab = _quiet(interlace.contest, at_r[s["model"]], s["L"], ddf="Kenward-Roger",
                     joint=s["joint"], rhs=rhs)
        cr.update(_cells((t["id"],), range(len(tab)), t["columns"], t["table"]))
        cpy.update({(t["id"], i, c): float(tab[c].iloc[i]) for c in t["columns"]
                    for i in range(len(tab))})
    out.append(compare_keyed("kr_contest_at_r_theta", cpy, cr, 1e-8, 0.0, EXACT,
                             "lmerTest contest(ddf = 'Kenward-Roger')"))
    mpy, mr, lpy, lr, spy, sr = {}, {}, {}, {}, {}, {}
    mspec = {t["id"]: t for t in kr_fixtures.MODCOMPS}
    for t in ref["modcomps"]:
        s = mspec[t["id"]]
        large = at_r[s["model"]]
        small = _quiet(large.update, s["small"]) if "small" in s else s["L"]
        kr = _quiet(interlace.kr_modcomp, large, small, beta_h=s.get("betaH", 0.0))
        mr.update(_cells((t["id"],), t["rows"], t["columns"], t["test"]))
        mpy.update(_frame((t["id"],), kr.test))
        mr.update({(t["id"], "aux", k): float(v) for k, v in t["aux"].items()})
        mpy.update({(t["id"], "aux", k): float(v) for k, v in kr.aux.items()})
        lr.update(_matrix((t["id"],), t["L"]))
        lpy.update(_matrix((t["id"],), kr.L))
        if "sat" in t:
            sat = _quiet(interlace.sat_modcomp, large, small)
            sr.update(_cells((t["id"],), [0], t["sat"]["columns"], t["sat"]["test"]))
            spy.update(_frame((t["id"],), sat.test))
    out += [compare_keyed("kr_modcomp_at_r_theta", mpy, mr, 1e-8, 0.0, EXACT,
                          "pbkrtest KRmodcomp: Ftest and FtestU rows, aux"),
            compare_keyed("kr_modcomp_L_at_r_theta", lpy, lr, 0.0, 1e-12, EXACT,
                          "pbkrtest's restriction matrix (LINPACK QR, zapsmall)")]
    f_py, f_r, d_py, d_r = _split(spy, sr, lambda k: k[-1] == "statistic")
    out += [compare_keyed("sat_modcomp_F_at_r_theta", f_py, f_r, 1e-8, 0.0, EXACT,
                          "pbkrtest SATmodcomp F"),
            compare_keyed("sat_modcomp_ddf_at_r_theta", d_py, d_r, 1e-3, 1e-12, NUMDERIV,
                          "SATmodcomp ddf and p (numDeriv on R's side); ndf exactly")]
    return out


# -- lmerTest anova, ls_means, drop1 ---------------------------------------------------------
_SAT_NUMDERIV = ("DenDF", "df", "Pr(>F)", "Pr(>|t|)", "lower", "upper")


def _rounding_atol(r: dict, columns=("Estimate", "t value"), k: float = 1e-12) -> dict:
    """Per cell: ``k`` × the largest |value| of its table's column for ``columns``
    (estimates that are 0 in exact arithmetic, such as the difference of two LS-means of a
    sum-coded model, are R's rounding: 3.5e-14 there), else 1e-300."""
    big: dict = {}
    for key, v in r.items():
        if key[-1] in columns and np.isfinite(v):
            g = (*key[:-2], key[-1])
            big[g] = max(big.get(g, 0.0), abs(v))
    return {key: (k * big.get((*key[:-2], key[-1]), 0.0) if key[-1] in columns else 0.0)
            or 1e-300 for key in r}


def _sat_kr(name: str, what: str, sat_py, sat_r, kr_py, kr_r) -> list[QuantityResult]:
    a_py, a_r, n_py, n_r = _split(sat_py, sat_r, lambda k: k[-1] not in _SAT_NUMDERIV)
    ref = {**a_r, **kr_r}
    return [compare_keyed(f"{name}_at_r_theta", {**a_py, **kr_py}, ref, 1e-8,
                          _rounding_atol(ref), EXACT,
                          f"{what}: both methods but Satterthwaite's df; an estimate or t "
                          "value also to 1e-12 of its column's largest (rounding of 0)"),
            compare_keyed(f"{name}_satterthwaite_df_at_r_theta", n_py, n_r, 1e-3, 1e-300,
                          NUMDERIV, f"{what}: Satterthwaite's df and what follows from it")]


def lmertest_anova(ref: dict) -> list[QuantityResult]:
    spec = {m["id"]: m for m in lmertest_anova_fixtures.MODELS}
    sp, sr, kp, kr_, hp, hr, lp, lr = ({} for _ in range(8))
    for m in ref["models"]:
        res = _at(spec[m["id"]], m["theta"])
        for t in m["types"]:
            if "error" in t:  # lmerTest itself fails on this type of this model
                continue
            key = (m["id"], t["type"])
            s, k = t["satterthwaite"], t["kenward_roger"]
            tab = _quiet(interlace.anova, res, type=t["type"])
            skip = [c for c in s["rows"] if (m["id"], t["type"], c) in LMERTEST_EIGEN_ARTIFACT]
            cells = _cells(key, s["rows"], s["columns"], s["values"])
            sr.update({c: v for c, v in cells.items()
                       if c[2] not in skip or c[3] in ("NumDF", "DenDF")})
            sp.update(_frame(key, tab))
            kr_.update(_cells(key, k["rows"], k["columns"], k["values"]))
            kp.update(_frame(key, _quiet(interlace.anova, res, type=t["type"],
                                         ddf="Kenward-Roger")))
            for term in t["hypothesis_terms"]:
                rows = t["hypotheses"][term]
                hr.update(_matrix((*key, term), np.array(rows, float).reshape(
                    -1, len(m["fixef_names"])) if rows else np.zeros((0, 0))))
                hp.update(_matrix((*key, term), tab.attrs["hypotheses"][term].to_numpy()))
        lt = m["lme4"]
        lr.update(_cells((m["id"],), lt["rows"], lt["columns"], lt["values"]))
        lp.update(_frame((m["id"],), _quiet(interlace.anova, res, ddf="lme4")))
    sp = {k: v for k, v in sp.items() if k in sr}
    return [*_sat_kr("anova", "lmerTest anova types I-III", sp, sr, kp, kr_),
            compare_keyed("anova_hypotheses_at_r_theta", hp, hr, 0.0, 1e-12, EXACT,
                          "lmerTest's contrast matrices (show_tests)"),
            compare_keyed("anova_lme4_at_r_theta", lp, lr, 1e-8, 0.0, EXACT,
                          "lme4 anova(m): sequential sums of squares")]


def ls_means(ref: dict) -> list[QuantityResult]:
    spec = {m["id"]: m for m in ls_means_fixtures.MODELS}
    sp, sr, kp, kr_, hp, hr = ({} for _ in range(6))
    for m in ref["models"]:
        res = _at(spec[m["id"]], m["theta"])
        for ddf, key in (("Satterthwaite", "satterthwaite"), ("Kenward-Roger", "kenward_roger")):
            for pw, what in ((False, "ls_means"), (True, "difflsmeans")):
                r = m[key][what]
                tab = _quiet(interlace.ls_means, res, ddf=ddf, pairwise=pw)
                (sr if key == "satterthwaite" else kr_).update(
                    _cells((m["id"], what), r["rows"], r["columns"], r["values"]))
                (sp if key == "satterthwaite" else kp).update(_frame((m["id"], what), tab))
                for term, h in r["hypotheses"].items():
                    hr.update(_matrix((m["id"], what, term), h["values"]))
                    hp.update(_matrix((m["id"], what, term),
                                      tab.attrs["hypotheses"][term].to_numpy()))
    return [*_sat_kr("ls_means", "lmerTest ls_means and difflsmeans", sp, sr, kp, kr_),
            compare_keyed("ls_means_hypotheses_at_r_theta", hp, hr, 0.0, 1e-12, EXACT,
                          "the LS-means contrasts")]


def drop1(ref: dict) -> list[QuantityResult]:
    spec = {m["id"]: m for m in drop1_fixtures.MODELS}
    sp, sr, kp, kr_, hp, hr, ap, ar = ({} for _ in range(8))
    kinds = {"satterthwaite": ("Satterthwaite", False),
             "satterthwaite_forced": ("Satterthwaite", True),
             "kenward_roger": ("Kenward-Roger", False),
             "kenward_roger_forced": ("Kenward-Roger", True)}
    for m in ref["models"]:
        res = _at(spec[m["id"]], m["theta"])
        for kind, (ddf, forced) in kinds.items():
            r = m[kind]
            tab = _quiet(interlace.drop1, res, ddf=ddf, force_get_contrasts=forced)
            sat = ddf == "Satterthwaite"
            (sr if sat else kr_).update(_cells((m["id"], kind), r["rows"], r["columns"],
                                               r["values"]))
            (sp if sat else kp).update(_frame((m["id"], kind), tab))
            for term, rows in r["hypotheses"].items():  # up to each row's sign (README)
                hr.update(_matrix((m["id"], kind, term), np.abs(np.array(rows, float))))
                hp.update(_matrix((m["id"], kind, term),
                                  np.abs(tab.attrs["hypotheses"][term].to_numpy())))
        if m["id"] in ("ortho", "exam_factors", "oats"):
            lt = m["lme4"]
            ar.update(_cells((m["id"],), lt["rows"], lt["columns"], lt["values"]))
            ap.update(_frame((m["id"],), _quiet(interlace.drop1, _fit(spec[m["id"]]),
                                                ddf="lme4")))
    return [*_sat_kr("drop1", "lmerTest drop1", sp, sr, kp, kr_),
            compare_keyed("drop1_hypotheses_at_r_theta", hp, hr, 0.0, 1e-12, EXACT,
                          "up to each row's sign (a QR basis of a zero-up-to-rounding entry)"),
            compare_keyed("drop1_lme4", ap, ar, 1e-7, 0.0, OPTIMUM,
                          "lme4 drop1: our reduced refits and ML refits, AIC")]


# -- contest, ranova, anova LRT (our own fits) -------------------------------------------------
def contest(ref: dict) -> list[QuantityResult]:
    spec = {t["id"]: t for t in contest_fixtures.TESTS}
    py, r = {}, {}
    for t in ref["tests"]:
        s = spec[t["id"]]
        rhs = s["rhs"] if len(s["rhs"]) > 1 else s["rhs"][0]
        res = _at(s, t["theta"]) if s.get("exclude") else _fit(s)
        tab = _quiet(interlace.contest, res, s["L"], joint=s["joint"], rhs=rhs,
                     check_estimability=s.get("check_estimability", False))
        r.update(_cells((t["id"],), range(len(tab)), t["columns"], t["table"]))
        py.update({(t["id"], i, c): float(tab[c].iloc[i]) for c in t["columns"]
                   for i in range(len(tab))})
    a_py, a_r, n_py, n_r = _split(py, r, lambda k: k[-1] not in _SAT_NUMDERIV)
    return [compare_keyed("contest", a_py, a_r, 1e-6, 0.0, OPTIMUM,
                          "lmerTest contest (Satterthwaite), from our fits"),
            compare_keyed("contest_satterthwaite_df", n_py, n_r, 1e-3, 0.0, NUMDERIV,
                          "its df and what follows from them")]


def ranova(ref: dict) -> list[QuantityResult]:
    spec = {t["id"]: t for t in ranova_fixtures.TESTS}
    py, r = {}, {}
    for t in ref["tests"]:
        s = spec[t["id"]]
        tab = _quiet(interlace.ranova, _fit(s, "REML" if s["REML"] else "ML"))
        r.update(_cells((t["id"],), t["rows"], t["columns"], t["table"]))
        py.update(_frame((t["id"],), tab))
    return [compare_keyed("ranova", py, r, 1e-6, 1e-12, OPTIMUM,
                          "lmerTest ranova: our reduced refits")]


def anova_lrt(ref: dict) -> list[QuantityResult]:
    spec = {c["id"]: c for c in anova_fixtures.COMPARISONS}
    py, r = {}, {}
    for c in ref["comparisons"]:
        s = spec[c["id"]]
        data = load_dataset(s["dataset"])
        fits = [_quiet(interlace.glmer, m["formula"], data, family=m["family"],
                       link=m["link"]) if "family" in m else
                _quiet(interlace.fit, m["formula"], data,
                       method="REML" if m["REML"] else "ML") for m in s["models"]]
        tab = _quiet(interlace.anova, *fits, model_names=[m["name"] for m in s["models"]])
        r.update(_cells((c["id"],), c["rows"], list(c["table"]), c["table"]))
        py.update(_frame((c["id"],), tab))
    return [compare_keyed("anova_lrt", py, r, 1e-6, 1e-6, OPTIMUM,
                          "lme4 anova(m0, m1): ML refits on both sides (R's own refit "
                          "floor on Chisq is ~2.5e-8)")]


# -- simulate, R's random numbers -------------------------------------------------------------
def simulate(ref: dict) -> list[QuantityResult]:
    py, r = {}, {}
    for c in ref["cases"]:
        res = fit_case(get_case(c["id"]), theta=list(c["theta"].values()))
        R = np.column_stack(list(c["sims"].values()))
        r.update(_matrix((c["id"],), R))
        py.update(_matrix((c["id"],), res.simulate(c["nsim"], seed=c["seed"])))
    gpy, gr = {}, {}
    for c in ref.get("glmm_cases", []):
        case = simulate_fixtures.get_glmm_case(c["id"])
        res = _quiet(interlace.evaluate_glmm_at, case_formula(case),
                     load_dataset(case["dataset"]), c["theta"], c["fixef"],
                     family=case["family"], link=case["link"], weights=case.get("weights"),
                     nAGQ=case["nAGQ"])
        res.sigma = c["sigma"]  # Gamma draws scale with σ̂: lme4's own
        gr.update(_matrix((c["id"],), np.column_stack(list(c["sims"].values()))))
        gpy.update(_matrix((c["id"],), _quiet(res.simulate, c["nsim"], seed=c["seed"])))
    return [_compare_scaled("simulate_at_r_theta", py, r, 1e-12, EXACT,
                            "lme4 simulate(m, nsim, seed): R's draws; the responses to "
                            "1e-12 of their scale (our σ̂ and β̂ at lme4's θ̂ round "
                            "differently)"),
            compare_keyed("simulate_glmm_at_r_parameters", gpy, gr, 1e-9, 0.0, EXACT,
                          "a GLMM's simulate(m, nsim, seed) at lme4's (θ̂, β̂, σ̂): R's "
                          "rbinom, rpois, rgamma and statmod's rinvgauss on lme4's means "
                          "(counts exact; the inverse Gaussian formula's cancellation "
                          "grows the means' last-bit differences by up to 5e5)")]


def rng(ref: dict) -> list[QuantityResult]:
    from interlace import rng_dists
    from interlace.rng import RRandom, r_qnorm

    py, r = {}, {}
    n = ref["n"]
    for d in ref["draws"]:
        g = RRandom(d["seed"])
        r.update(_matrix((d["seed"], "runif"), d["runif"]))
        py.update(_matrix((d["seed"], "runif"), RRandom(d["seed"]).uniform(n)))
        r.update(_matrix((d["seed"], "rnorm"), d["rnorm"]))
        py.update(_matrix((d["seed"], "rnorm"), g.normal(n)))
    r.update(_matrix(("qnorm",), ref["qnorm"]["q"]))
    py.update(_matrix(("qnorm",), [r_qnorm(p) for p in ref["qnorm"]["p"]]))
    dpy, dr = {}, {}
    for d in ref.get("dists", []):
        g, a, k = RRandom(d["seed"]), d["args"], d["n"]
        draw = {"rexp": lambda: rng_dists.rexp(g, k),  # noqa: B023 (called at once)
                "rbinom": lambda: rng_dists.rbinom(g, k, a["size"], a["prob"]),  # noqa: B023
                "rpois": lambda: rng_dists.rpois(g, k, a["mu"]),  # noqa: B023
                "rgamma": lambda: rng_dists.rgamma(g, k, a["shape"], a["scale"]),  # noqa: B023
                "rinvgauss": lambda: rng_dists.rinvgauss(g, k, a["mean"], a["shape"]),  # noqa: B023
                }[d["what"]]
        dr.update(_matrix((d["what"],), d["draws"]))
        dpy.update(_matrix((d["what"],), draw()))
    return [compare_keyed("rng_bits", py, r, 0.0, 0.0, EXACT,
                          "set.seed + runif/rnorm + qnorm, bit for bit"),
            compare_keyed("rng_distributions_bits", dpy, dr, 0.0, 0.0, EXACT,
                          "rexp, rbinom, rpois, rgamma after set.seed, bit for bit")]


# -- the bootstrap and PBmodcomp -----------------------------------------------------------------
def boot_stat(x):
    """The statistic the bootstrap references record: lme4's default ``bootMer`` function
    (sd's and correlations, σ, fixed effects) and the fit's criterion."""
    return np.r_[boot_fun(x).to_numpy(), x.objective]


def glmm_boot_stat(x):
    """The statistic the GLMM bootstrap references record: ``bootMer``'s default function
    and −2 log-likelihood."""
    return np.r_[boot_fun(x).to_numpy(), -2.0 * x.llf]


def stat_kinds(res, n: int) -> list[str]:
    """Per statistic of the first ``n`` of :func:`boot_stat` or :func:`glmm_boot_stat`:
    "abs" for correlations, "rel" for the sd's and everything after them (σ, fixed
    effects, criterion)."""
    out = []
    for t in res._layout.terms:
        out += ["rel" if i == j else "abs" for i, j in zip(t.rows, t.cols, strict=True)]
    return (out + ["rel"] * max(n - len(out), 0))[:n]


def refit_floor(default, tight, kinds) -> np.ndarray:
    """R's own refit floor per statistic (column): the largest difference, relative or
    absolute by kind, between R's default and tight-tolerance refits of the same responses."""
    floor = []
    for j, kind in enumerate(kinds):
        d = np.abs(default[:, j] - tight[:, j])
        if kind == "rel":
            d = d / np.maximum(np.abs(tight[:, j]), 1e-300)
        floor.append(float(np.nanmax(d)))
    return np.array(floor)


def _floor_atol(key, ours, default, tight, kinds) -> tuple[dict, dict, dict]:
    """(py, r, atol) keyed (key, row, j): each statistic's tolerance is twice R's floor for
    it (:func:`refit_floor`), at least 1e-6."""
    py, r, atol = {}, {}, {}
    for j, (kind, f) in enumerate(zip(kinds, refit_floor(default, tight, kinds), strict=True)):
        floor = max(2 * f, 1e-6)
        for i in range(default.shape[0]):
            k = (*key, i, j)
            py[k], r[k] = float(ours[i, j]), float(default[i, j])
            atol[k] = floor * (abs(r[k]) if kind == "rel" else 1.0)
    return py, r, atol


def bootstrap(ref: dict) -> list[QuantityResult]:
    import pandas as pd

    from interlace.inference.bootstrap import BootResult

    spec = {c["id"]: c for c in bootstrap_fixtures.CASES}
    sims_py, sims_r, ci_py, ci_r = {}, {}, {}, {}
    rep_py, rep_r, rep_atol, crit = {}, {}, {}, []
    e2e_py, e2e_r, e2e_atol = {}, {}, {}
    for c in ref["cases"]:
        s = spec[c["id"]]
        res = _at(s, c["theta"], "REML" if s["REML"] else "ML")
        sims = np.column_stack(list(c["sims"].values()))
        sims_r.update(_matrix((c["id"],), sims))
        sims_py.update(_matrix((c["id"],), res.simulate(s["nsim"], s["seed"],
                                                         use_u=s["use_u"])))
        names = list(c["confint"]["perc"]["rows"])
        k = len(names)
        t0 = pd.Series(c["t0"][:k], index=names)
        runs = {key: BootResult(t0=t0, t=pd.DataFrame(np.array(c[key], float)[:, :k],
                                                      columns=names), nsim=s["nsim"],
                                seed=None, use_u=False) for key in ("t", "t_tight")}
        for legacy, key in ((True, "t"), (False, "t_correct")):
            bb = _quiet(res.bootstrap, s["nsim"], seed=s["seed"], fun=boot_stat,
                        use_u=s["use_u"], legacy_refit=legacy)
            ours, default = bb.t.to_numpy(), np.array(c[key], float)
            tight = np.array(c[f"{key}_tight"], float)
            crit += list((ours[:, -1] - default[:, -1]) / np.abs(default[:, -1]))
            p, r, a = _floor_atol((c["id"], key), ours[:, :-1], default[:, :-1],
                                  tight[:, :-1], stat_kinds(res, ours.shape[1] - 1))
            rep_py.update(p)
            rep_r.update(r)
            rep_atol.update(a)
        for bt in ("perc", "basic", "norm"):
            want = np.array(c["confint"][bt]["values"], float)
            ci_r.update(_matrix((c["id"], bt), want))
            ci_py.update(_matrix((c["id"], bt), _quiet(runs["t"].confint, type=bt)))
            if c["id"] != "ortho_use_u":
                got = _quiet(res.confint, method="boot", nsim=s["nsim"], seed=s["seed"],
                             boot_type=bt, legacy_refit=True).to_numpy()
                tight = _quiet(runs["t_tight"].confint, type=bt).to_numpy()
                p, r, a = _floor_atol((c["id"], bt), got.T, want.T, tight.T,
                                      stat_kinds(res, k))
                e2e_py.update(p)
                e2e_r.update(r)
                e2e_atol.update(a)
    worst = float(np.nanmax(crit))
    out = [
        _compare_scaled("boot_responses_at_r_theta", sims_py, sims_r, 1e-12, EXACT,
                        "simulate(m, nsim, seed, use.u)"),
        compare_keyed("boot_ci_from_r_replicates", ci_py, ci_r, 1e-12, 1e-14, EXACT,
                      "boot.ci perc/basic/norm on R's own replicates"),
        QuantityResult("boot_replicate_criterion", len(crit), worst, worst, 0.0, 1e-8, REFIT,
                       worst <= 1e-8, tol_used=max(worst, 0.0) / 1e-8,
                       why="(ours − R's) / |R's| ≤ 1e-8: no worse than R's refit (lme4 "
                           "1.1-31's criterion with legacy_refit, correct REML refits "
                           "otherwise)"),
        compare_keyed("boot_replicates", rep_py, rep_r, 0.0, rep_atol, REFIT,
                      "sd/cor/σ/β of each replicate within twice R's own refit floor"),
        compare_keyed("boot_confint", e2e_py, e2e_r, 0.0, e2e_atol, REFIT,
                      "confint(method = 'boot') end to end, within twice R's floor"),
    ]
    gcrit, g_py, g_r, g_atol = [], {}, {}, {}
    gspec = {cid: (n, sd) for cid, n, sd in bootstrap_fixtures.GLMM}
    for g in ref.get("glmm", []):
        nsim, seed = gspec[g["id"]]
        case = simulate_fixtures.get_glmm_case(g["id"])
        fit = _quiet(interlace.glmer, case_formula(case), load_dataset(case["dataset"]),
                     family=case["family"], link=case["link"], weights=case.get("weights"),
                     nAGQ=case["nAGQ"])
        bb = _quiet(fit.bootstrap, nsim, seed=seed, fun=glmm_boot_stat)
        ours, default = bb.t.to_numpy(), np.array(g["t"], float)
        tight = np.array(g["t_tight"], float)
        gcrit += list((ours[:, -1] - default[:, -1]) / np.abs(default[:, -1]))
        p, r, a = _floor_atol((g["id"],), ours[:, :-1], default[:, :-1], tight[:, :-1],
                              stat_kinds(fit, ours.shape[1] - 1))
        g_py.update(p)
        g_r.update(r)
        g_atol.update(a)
    if gcrit:
        gw = float(np.nanmax(gcrit))
        out += [QuantityResult("boot_glmm_criterion", len(gcrit), gw, gw, 0.0, 1e-8, REFIT,
                               gw <= 1e-8, tol_used=max(gw, 0.0) / 1e-8,
                               why="(ours − R's) / |R's| of −2 log-likelihood: no worse "
                                   "than R's glmer of each response"),
                compare_keyed("boot_glmm_replicates", g_py, g_r, 0.0, g_atol, REFIT,
                              "GLMM replicates within twice R's own floor")]
    pspec = {p["id"]: p for p in bootstrap_fixtures.PBMODCOMPS}
    stat_py, stat_r, ref_py, ref_r, pb_py, pb_r = ({} for _ in range(6))
    for pb_ref in ref["pbmodcomps"]:
        s = pspec[pb_ref["id"]]
        large = _fit(s, "REML" if s["REML"] else "ML")
        pb = _quiet(interlace.pb_modcomp, large, s["small"], nsim=s["nsim"], seed=s["seed"])
        tv = pb_ref["test"]["values"]
        stat_r[(s["id"], "stat")], stat_py[(s["id"], "stat")] = tv["stat"][0], pb.test.iloc[0, 0]
        pb_r[(s["id"], "p.PB")] = tv["p.value"][1]
        pb_py[(s["id"], "p.PB")] = float(pb.test.loc["PBtest", "p.value"])
        ref_r.update(_matrix((s["id"],), pb_ref["ref"]))
        ref_py.update(_matrix((s["id"],), pb.ref))
    out += [compare_keyed("pbmodcomp_lrt", stat_py, stat_r, 1e-7, 0.0, OPTIMUM,
                          "2(ℓ_large − ℓ_small) from fresh ML fits on both sides"),
            compare_keyed("pbmodcomp_reference", ref_py, ref_r, 0.0, 1e-5, REFIT,
                          "each reference LRT: a difference of two refitted log-likelihoods"),
            compare_keyed("pbmodcomp_p", pb_py, pb_r, 0.0, 0.0, REFIT,
                          "the bootstrap p-value, exactly")]
    return out


#: (entry id, fixture, R script, request builder, comparison)
FAMILIES = [
    ("kenward_roger", "kr.json", kr_fixtures.SCRIPT, kr_fixtures.request, kenward_roger),
    ("lmertest_anova", "lmertest_anova.json", lmertest_anova_fixtures.SCRIPT,
     lmertest_anova_fixtures.request, lmertest_anova),
    ("ls_means", "ls_means.json", ls_means_fixtures.SCRIPT, ls_means_fixtures.request,
     ls_means),
    ("drop1", "drop1.json", drop1_fixtures.SCRIPT, drop1_fixtures.request, drop1),
    ("contest", "contest.json", contest_fixtures.SCRIPT, contest_fixtures.request, contest),
    ("ranova", "ranova.json", ranova_fixtures.SCRIPT, ranova_fixtures.request, ranova),
    ("anova_lrt", "anova.json", anova_fixtures.SCRIPT, anova_fixtures.request, anova_lrt),
    ("simulate", "simulate.json", simulate_fixtures.SCRIPT, simulate_fixtures.request,
     simulate),
    ("rng", "rng.json", "rng_reference.R", None, rng),
    ("bootstrap", "bootstrap.json", bootstrap_fixtures.SCRIPT, bootstrap_fixtures.request,
     bootstrap),
    ("glmm_profile", "glmm_profile.json", glmm_profile_fixtures.SCRIPT,
     glmm_profile_fixtures.request, inference_profile.glmm_profile),
]
ENTRY_IDS = [f[0] for f in FAMILIES]


def _live(script: str, request, name: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / name
        if request is None:  # rng_reference.R takes only its output path
            subprocess.run(["Rscript", str(R_DIR / script), str(out)], check=True,
                           capture_output=True, text=True)
        else:
            run_r_json(script, request(), out, label=name)
        return json.loads(out.read_text())


def run_inference_entry(entry_id: str, mode: str) -> dict:
    """One family's quantities (live: R re-run now, with its drift from the fixture)."""
    _, name, script, request, compare = next(f for f in FAMILIES if f[0] == entry_id)
    stored = json.loads((FIXTURES / name).read_text())
    if mode == "live":
        with progress.side("R", script):
            ref = _live(script, request, name)
    else:
        ref = stored
    qs = compare(ref)
    entry = {"case": entry_id, "kind": "inference", "mode": mode, "fixture": name,
             "passed": case_passed(qs),
             "classification": "agree" if case_passed(qs) else
             "disagrees: " + ", ".join(q.name for q in qs if not q.passed),
             "quantities": [q.as_dict() for q in qs]}
    if mode == "live":
        strip = ("provenance",)
        entry["drift"] = drift({k: v for k, v in ref.items() if k not in strip},
                               {k: v for k, v in stored.items() if k not in strip})
    return entry
