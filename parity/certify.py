"""Certify users' own lme4 fits: ``python -m parity.certify DIR_OR_JSON ...`` (``nox -s
certify -- ...``).

Each input is what ``parity/r/export_fit.R``'s ``interlace_export(model, dir)`` wrote in the
user's R session: ``<name>.json`` (the call, the data's sidecar, R's reference quantities
from a refit of the exported data, versions) and ``<name>.csv`` (the data).  Each model is
rebuilt in Python from the recorded call and compared by the catalog's own comparisons
(:func:`parity.run.lmm_entry`, :func:`parity.glmm_parity.glmm_entry`): at R's θ̂ (exact
arithmetic) and at our own optimum, with the catalog's tolerance classes.  One more gating
quantity says whether R's refit from the exported data reproduced the user's fit (so that
what is certified is the user's model).  Reports: ``reports/certify/<name>.{json,md,html}``;
exit status 1 unless every quantity of every model holds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from interlace.errors import InterlaceError
from parity.compare import EXACT, QuantityResult, classify
from parity.data import ROOT, read_frame

REPORTS = ROOT / "reports" / "certify"
#: R's refit from the exported data must reproduce the exported fit's criterion to this
#: (the same data and call in the same session: identical but for the data's round trip,
#: which write_dataset checks to be identical())
REFIT_RTOL = 1e-8


class CertifyError(InterlaceError):
    """An export interlace cannot certify (named in the message)."""


def find_exports(paths: list[str | Path]) -> list[Path]:
    """The export JSON files among ``paths`` (files, or directories searched one level)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = [f for f in sorted(p.glob("*.json")) if _is_export(f)]
            if not found:
                raise CertifyError(f"{p}: no interlace_export() files (*.json with an "
                                   "'export' section) in this directory")
            out += found
        elif p.suffix == ".json" and p.exists():
            if not _is_export(p):
                raise CertifyError(f"{p}: not written by interlace_export() (no 'export' "
                                   "section)")
            out.append(p)
        else:
            raise CertifyError(f"{p}: no such export (give a directory or a .json file)")
    return out


def _is_export(path: Path) -> bool:
    try:
        return "export" in json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def load_export(path: Path) -> tuple[dict, dict, object]:
    """(case, fixture, data) of one export: the catalog-style case of the recorded call,
    R's fixture, and the data frame from the CSV next to it (its SHA-256 checked)."""
    fx = json.loads(path.read_text(encoding="utf-8"))
    ex = fx["export"]
    if ex.get("kind") not in ("lmm", "glmm"):
        raise CertifyError(f"{path.name}: unknown model kind {ex.get('kind')!r}")
    case = {k: v for k, v in ex["case"].items() if v is not None}
    case.setdefault("tags", [])
    case.setdefault("level", "quick")
    csv = path.with_suffix(".csv")
    if not csv.exists():
        raise CertifyError(f"{path.name}: its data {csv.name} is missing (keep the .csv that "
                           "interlace_export wrote next to the .json)")
    data = read_frame(csv, ex["data"], sidecar=path.name)
    return case, fx, data


def refit_check(fx: dict) -> QuantityResult:
    """R's refit from the exported data against the user's own fit (the criterion)."""
    ref = fx["export"]["refit"]
    err = float(ref["objective_rel_diff"])
    return QuantityResult(
        "export_refit_objective", 1, err * abs(fx["export"]["original"]["objective"]), err,
        0.0, REFIT_RTOL, EXACT, err <= REFIT_RTOL, True, "objective", [],
        "R's refit from the exported CSV and call reproduces the exported fit's criterion "
        f"(θ to {ref['theta_max_rel_diff']:.1e}, β to {ref['fixef_max_rel_diff']:.1e} "
        "relative); a larger difference means the call used settings the export does not "
        "carry", "rtol", err / REFIT_RTOL)


KR_COLUMNS = (("se", "Std. Error"), ("df", "df"), ("t_value", "t value"),
              ("p_value", "Pr(>|t|)"))


def kenward_roger_checks(case: dict, fx: dict, data, res) -> list[QuantityResult]:
    """lmerTest's ``summary(m, ddf = "Kenward-Roger")`` coefficients from the export (when
    R computed them) against ours: at lme4's θ̂ (exact arithmetic: 1e-8) and from our own
    fit (optimum-dependent: SEs, df and t to 1e-4; p-values amplify t's difference, so
    they are compared at lme4's θ̂ only).  ``res``: our fit of the case."""
    from parity.compare import OPTIMUM, compare_keyed
    from parity.pyside import fit_case

    kr = fx.get("kenward_roger")
    if not kr or "skipped" in kr:
        return []
    r = {(c, col): float(v) for key, col in KR_COLUMNS for c, v in kr[key].items()}
    theta = [t["value"] for t in fx["theta"]]
    tables = [fit_case(case, data, theta=theta).coef_table("Kenward-Roger"),
              res.coef_table("Kenward-Roger")]
    at_r, ours = ({k: float(t.loc[k]) if k[0] in t.index else float("nan") for k in r}
                  for t in tables)
    no_p = {k: v for k, v in r.items() if k[1] != "Pr(>|t|)"}
    return [compare_keyed("kenward_roger_at_r_theta", at_r, r, 1e-8, 0.0, EXACT,
                          "lmerTest summary(ddf = 'Kenward-Roger') at lme4's θ̂: pbkrtest's "
                          "vcovAdj SEs, Lb_ddf, t and p"),
            compare_keyed("kenward_roger", {k: ours[k] for k in no_p}, no_p, 1e-4, 0.0,
                          OPTIMUM, "the same from interlace's own fit (SEs, df, t)")]


def versions_note(fx: dict, certified: dict) -> str:
    """How the exporting session's R and lme4 compare with those interlace is certified
    against (the stored catalog's)."""
    import re

    def number(text) -> str:  # "R version 4.2.2 Patched (…)" or "4.2.2 Patched (…)"
        found = re.search(r"\d+\.\d+\.\d+", str(text or ""))
        return found.group(0) if found else "?"

    s = fx["export"]["session"]
    theirs = f"R {number(s['R'])}, lme4 {s['lme4']}"
    ours = f"R {number(certified.get('R'))}, lme4 {certified.get('lme4', '?')}"
    if theirs == ours:
        return f"exported with {theirs}: the versions interlace's catalog is certified against"
    return (f"exported with {theirs}; interlace's catalog is certified against {ours}. The "
            "comparison below is against your R's numbers.")


def case_entry(case: dict, fx: dict, data, mode: str, floor: dict | None, res=None) -> dict:
    """The catalog's report entry of a case against its fixture ``fx``, with lme4's own
    ``floor`` (floors.R's output) setting the tolerances as the catalog's floors do: a GLMM's
    at-optimum ones, an LMM's objective tolerance and exemption.  ``res``: our LMM fit."""
    from parity.glmm_parity import glmm_entry
    from parity.optimum_floor import glmm_floor_summary, lmm_floor_exemption
    from parity.run import lmm_entry

    if "family" in case:
        return glmm_entry(case, fx, data, mode, None if floor is None else
                          glmm_floor_summary(floor))
    if floor is not None:
        case["exempt_optimum"] = lmm_floor_exemption(floor)
    return lmm_entry(case, fx, data, mode, res, floor=floor)


def influence_levels(diagnostics) -> list[str]:
    """Deletion levels of a ``diagnostics`` argument: False/None → none, True → ["1"]
    (observations), a grouping factor's name or a list of them (and/or "1") → those."""
    if diagnostics is None or diagnostics is False:
        return []
    if diagnostics is True:
        return ["1"]
    levels = ([diagnostics] if isinstance(diagnostics, str) else
              list(diagnostics) if isinstance(diagnostics, list | tuple) else [])
    if not levels or not all(isinstance(v, str) and v for v in levels):
        raise CertifyError(f"diagnostics must be True, False, or grouping factor name(s) "
                           f"(\"1\": observations), not {diagnostics!r}")
    return list(dict.fromkeys(levels))


def diagnostics_entries(case: dict, fx: dict, data, res, floor: dict | None,
                        references: dict, source: str) -> list[dict]:
    """One report entry (kind "diagnostics") per deletion level of ``references`` ({level:
    lme4 influence reference, influence_reference.R's schema}): our ``influence()`` against
    lme4's ``influence.merMod`` with the catalog's comparisons (:mod:`parity.diag_lme4`,
    :mod:`parity.diag_glmm`).  ``res``: our fit of the case."""
    from interlace.diagnostics.influence import influence
    from parity.diag import classify as diag_classify
    from parity.diag_glmm import glmm_influence_quantities
    from parity.diag_lme4 import lme4_quantities
    from parity.pyside import fit_case

    glmm = "family" in case
    out = []
    for level, ref in references.items():
        groups = None if str(level) == "1" else str(level)
        terms = {t.group for t in res._design.re_terms}
        if groups is not None and groups not in terms:
            raise CertifyError(f"diagnostics: {groups!r} is not a grouping factor of the "
                               f"model (its factors: {', '.join(sorted(terms))})")
        entry = {"id": f"{case['id']}/{level}", "model": case["id"], "level": str(level)}
        inf = influence(res, groups=groups)
        if glmm:
            from parity.glmm_parity import se_tolerances
            from parity.optimum_floor import glmm_floor_summary

            _, _, tol, why = se_tolerances(fx, None if floor is None else
                                           glmm_floor_summary(floor))
            qs = glmm_influence_quantities(entry, ref, source, inf=inf, se_rule=(tol, why))
        else:
            def fit_at(theta=None):
                return res if theta is None else fit_case(case, data, theta=list(theta))
            qs = lme4_quantities(entry, ref, source, fit_at=fit_at, inf=inf)
        passed = all(q.passed for q in qs if q.gating)
        unit = "each observation" if groups is None else f"each {groups}"
        out.append({"case": f"{case['id']}: influence, deleting {unit}",
                    "kind": "diagnostics", "model": case["id"],
                    "model_kind": "glmm" if glmm else "lmm", "level": str(level),
                    "sources": ["lme4_influence"], "mode": "stored" if "json" in source
                    else "live", "passed": passed, "classification": diag_classify(qs),
                    "quantities": [q.as_dict() for q in qs]})
    return out


def _fold_diagnostics(entry: dict) -> None:
    """Mutates ``entry``: its verdict and classification take in those of its influence
    entries (a model is certified only when its diagnostics are too)."""
    bad = [d for d in entry.get("diagnostics", []) if not d["passed"]]
    if bad:
        entry["passed"] = False
        entry["classification"] = "; ".join(
            [f"influence at level {d['level']}: {d['classification']}" for d in bad]
            + ([] if entry["classification"] == "agree" else [entry["classification"]]))


def certify_one(path: Path, certified: dict) -> dict:
    """The report entry of one export (a failed entry, with the reason, if it cannot run)."""
    from parity.pyside import fit_case

    name = path.stem
    try:
        case, fx, data = load_export(path)
        kind, floor = fx["export"]["kind"], fx.get("floor")
        res = fit_case(case, data) if kind == "lmm" else None
        entry = case_entry(case, fx, data, "stored", floor, res)
        kr = [] if res is None else kenward_roger_checks(case, fx, data, res)
        if fx.get("influence"):
            if res is None:
                from parity.glmm_parity import fit_case as glmm_fit_case
                res = glmm_fit_case(case, data)
            entry["diagnostics"] = diagnostics_entries(case, fx, data, res, floor,
                                                       fx["influence"], path.name)
        entry["floor"] = _floor_note(kind, floor)
        refit = refit_check(fx)
        entry["quantities"] = ([refit.as_dict(), *entry["quantities"]]
                               + [q.as_dict() for q in kr])
        bad = [q for q in (refit, *kr) if not q.passed]
        entry["passed"] = entry["passed"] and not bad
        _fold_diagnostics(entry)
        if bad:
            what = ("R's refit from the export does not reproduce the exported fit"
                    if not refit.passed else "Kenward-Roger: " + classify(bad))
            entry["classification"] = what + "; " + entry["classification"]
        entry["kenward_roger"] = (fx.get("kenward_roger") or {}).get(
            "skipped", "compared" if kr else "not in the export")
        entry["versions"] = versions_note(fx, certified)
        entry["session"] = fx["export"]["session"]
        entry["call"] = fx["export"]["call"]
        entry["exported"] = fx["export"]["date"]
    except Exception as exc:  # an export that cannot run is a failure, reported as such
        entry = {"case": name, "kind": "export", "passed": False, "mode": "stored",
                 "classification": f"error: {type(exc).__name__}: {exc}", "quantities": []}
    return entry


def _floor_note(kind: str, floor: dict | None) -> str:
    if floor is None:
        return ("no floor exported (interlace_export(floor = FALSE)): the at-optimum "
                "comparisons use the catalog's default tolerances")
    n = len(floor["permuted"])
    return (f"lme4's own floor: {n} refits on seeded row permutations of the data set the "
            + ("at-optimum tolerances (2× lme4's spread where that is wider)" if kind == "glmm"
               else "objective tolerance and, where lme4's θ̂ itself moves beyond the "
                    "at-optimum tolerance, exempt the at-optimum block"))


def write_reports(entry: dict, env: dict, out: Path) -> list[Path]:
    """``<name>.json``, ``.md`` and ``.html`` of one certified export (R's side of the
    environment: the exporting session's)."""
    from parity.run import r_version

    out.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in env.items() if k != "HLMdiag"}
    session = entry.get("session", {})
    env.update({k: r_version(session[k]) if k == "R" else session[k]
                for k in ("R", "lme4", "lmerTest", "Matrix") if session.get(k)},
               mode_reason="certify: R's side from the exporting session")
    rep, name = CertifyReport(entry, env), entry["case"]
    paths = [out / f"{name}.json", out / f"{name}.md", out / f"{name}.html"]
    paths[0].write_text(json.dumps(rep.report(), indent=1), encoding="utf-8")
    paths[1].write_text(rep.to_markdown(), encoding="utf-8")
    rep.to_html(paths[2])
    return paths


# ---------------------------------------------------------------------- Python first
R_INSTALL = ("install R and lme4 from Debian (apt-get install r-base-core r-cran-lme4 "
             "r-cran-lmertest r-cran-jsonlite r-cran-digest) and rpy2 3.5 (pip install "
             "'rpy2>=3.5,<3.6'); README, 'The two commands'")


class CertifyReport:
    """A certification's result: ``passed``, ``entry`` (the report entry: quantities with
    errors and tolerances), :meth:`frame`, :meth:`to_markdown`, :meth:`to_html`."""

    def __init__(self, entry: dict, env: dict):
        self.entry, self.env = entry, env

    @property
    def passed(self) -> bool:
        return bool(self.entry["passed"])

    @property
    def entries(self) -> list[dict]:
        """The model's entry, then one per influence deletion level (when certified)."""
        return [self.entry, *self.entry.get("diagnostics", [])]

    def frame(self):
        """One row per compared quantity: n, worst errors, tolerances, the term that bound
        the comparison, class, verdict; influence quantities are named with their deletion
        level ("… @ Subject", "… @ 1" for observations)."""
        import pandas as pd

        cols = ["name", "n", "max_abs_err", "max_rel_err", "atol", "rtol", "binding", "class",
                "passed", "gating", "worst_key", "why"]
        rows = [{k: q.get(k) for k in cols} for q in self.entry["quantities"]]
        rows += [{**{k: q.get(k) for k in cols}, "name": f"{q['name']} @ {d['level']}"}
                 for d in self.entry.get("diagnostics", []) for q in d["quantities"]]
        return pd.DataFrame(rows, columns=cols).set_index("name")

    def intro(self) -> list[tuple[str, str]]:
        """What was certified: the call, versions, floor and export date, where known."""
        return [(k, self.entry[key]) for k, key in (
            ("Call (R)", "call"), ("Versions", "versions"), ("Floor", "floor"),
            ("Exported", "exported")) if self.entry.get(key)]

    def report(self) -> dict:
        """The report (parity's schema) of this one model."""
        cases = [{k: v for k, v in self.entry.items() if k != "diagnostics"},
                 *self.entry.get("diagnostics", [])]
        return {"environment": self.env, "cases": cases,
                "title": f"interlace certification of {self.entry['case']}",
                "intro": self.intro()}

    def to_markdown(self) -> str:
        from parity.run import markdown

        head = [f"{k}: {'`' + v + '`' if k == 'Call (R)' else v}\n" for k, v in self.intro()]
        return markdown(self.env, self.entries).replace(
            "# interlace ↔ lme4 parity",
            f"# interlace certification of `{self.entry['case']}`\n\n" + "\n".join(head), 1)

    def to_html(self, path) -> Path:
        from parity.compare import CLASS_REASONS
        from parity.conventions import CONVENTIONS
        from parity.html import write_html

        return write_html(self.report(), CLASS_REASONS, CONVENTIONS, path)

    def __repr__(self) -> str:
        return (f"<CertifyReport {self.entry['case']}: "
                f"{'PASS' if self.passed else 'FAIL'} ({self.entry['classification']})>")


def _column_arg(value, name: str, data, cols: dict) -> str | None:
    """A weights/offset argument as a column of the exported data."""
    import numpy as np

    if value is None:
        return None
    if isinstance(value, str):
        return value
    arr = np.asarray(value, dtype=float)
    if arr.shape != (len(data),):
        raise CertifyError(f"{name} must be a column name or one number per row of the data")
    cols[f"export_{name}"] = arr
    return f"export_{name}"


def result_case(res, name: str, data_dir: Path) -> tuple[dict, object]:
    """The catalog-style case of a fit (its recorded call) and the data frame to export."""
    from interlace.design.contrasts import DEFAULT_CONTRASTS, resolve_contrasts

    kw = res._fit_kwargs
    if kw.get("groups") or kw.get("random"):
        raise CertifyError("refit with the random terms in the formula (groups=/random= "
                           "are composed into it already: res.formula)")
    if callable(kw.get("optimizer")):
        raise CertifyError("a fit with a user's optimizer callable: certify compares at lme4's "
                           "optimum whatever our optimizer, refit with a named optimizer")
    data = res._data.copy()
    extra: dict = {}
    case = {"id": name, "dataset": name, "formula": res.formula, "tags": [], "level": "quick",
            "weights": _column_arg(kw.get("weights"), "weights", data, extra),
            "offset": _column_arg(kw.get("offset"), "offset", data, extra),
            "_data_dir": str(data_dir), "_fixtures_dir": str(data_dir)}
    for col, values in extra.items():
        data[col] = values
    ctr = resolve_contrasts(kw.get("contrasts"))
    if ctr.by_variable:
        case["contrasts"] = dict(ctr.by_variable)
    if ctr.default != DEFAULT_CONTRASTS:
        case["contrasts_default"] = list(ctr.default)
    if hasattr(res, "family"):
        case.update(family=res.family.name, link=res.family.link.name, nAGQ=int(res.nAGQ))
    else:
        case.update(method=res.method, optimizer=kw.get("optimizer", "bobyqa"))
    return {k: v for k, v in case.items() if v is not None}, data


def live_floor(case: dict) -> dict:
    """lme4's own floor of a case, computed now through rpy2 (floors.R: 8 seeded row
    permutations for an LMM, 16 for a GLMM, as interlace_export's)."""
    from parity import live
    from parity.glmer_fixtures import request as glmm_request
    from parity.optimum_floor import GLMM_PERMUTATIONS, PERMUTATIONS, SEED
    from parity.rscript import R_DIR

    ro = live._session()
    glmm = "family" in case
    for f in (("glmer_reference.R",) if glmm else ()) + ("floors.R",):
        ro.r["source"](str(R_DIR / f))
    req = dict(glmm_request(case) if glmm else live.request(case), seed=SEED,
               permutations=GLMM_PERMUTATIONS if glmm else PERMUTATIONS)
    fn = "glmer_floor" if glmm else "lmer_floor"
    run = ro.r(f"function(req, r_dir) to_json({fn}(jsonlite::fromJSON(req, "
               "simplifyVector = FALSE), r_dir))")
    return json.loads(run(json.dumps(req), str(R_DIR))[0])


def certify_result(res, diagnostics: bool = False, name: str = "model",
                   floor: bool = True) -> CertifyReport:
    """Certify a fit made in Python against lme4 run now on the same data through rpy2:
    the data (the fit's data frame) are written as R reads them, lme4 (glmer) fits the
    recorded call, and the catalog's comparisons run (at R's θ̂ and at this fit's optimum;
    a GLMM is refitted as the catalog does).  ``floor``: also measure lme4's own floor
    (refits on seeded row permutations), which sets the at-optimum tolerances as
    interlace_export's does.  ``diagnostics``: True (observations), a grouping factor's
    name or a list of them: also our ``influence()`` against lme4's ``influence.merMod`` run
    now at each of those deletion levels.  Without R: a CertifyError saying how to install
    it."""
    import tempfile

    from parity import live
    from parity.data import read_frame, write_frame
    from parity.glmm_parity import live_reference
    from parity.run import environment

    levels = influence_levels(diagnostics)
    why = live.unavailable_reason()
    if why:
        raise CertifyError(f"certify needs R with lme4 through rpy2 ({why}): {R_INSTALL}")
    with tempfile.TemporaryDirectory() as tmp:
        case, data = result_case(res, name, Path(tmp))
        meta = write_frame(data, Path(tmp), name, {"name": name, "source": "interlace result"})
        frame = read_frame(Path(tmp) / f"{name}.csv", meta)
        fl = live_floor(case) if floor else None
        glmm = "family" in case
        fx = live_reference(case) if glmm else live.reference(case, res.theta)
        entry = case_entry(case, fx, frame, "live", fl, None if glmm else res)
        entry["floor"] = _floor_note("glmm" if glmm else "lmm", fl)
        if levels:
            from parity.diag_fixtures import live_influence

            refs = {lv: live_influence(case, lv) for lv in levels}
            entry["diagnostics"] = diagnostics_entries(case, fx, frame, res, fl, refs,
                                                       "lme4 influence() run now")
            _fold_diagnostics(entry)
    env = {k: v for k, v in environment("live", "certify: lme4 fitted now through rpy2",
                                        {"cases": {}}).items() if k != "HLMdiag"}
    entry["call"] = f"{'glmer' if 'family' in case else 'lmer'}: {res.formula}"
    return CertifyReport(entry, env)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m parity.certify``."""
    from parity.run import environment

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", help="interlace_export() directories or .json files")
    ap.add_argument("--reports", type=Path, default=REPORTS, help="output directory")
    args = ap.parse_args(argv)
    try:
        exports = find_exports(args.paths)
    except CertifyError as exc:
        print(f"certify: {exc}", file=sys.stderr)
        return 2
    env = environment("stored", "certify", json.loads(
        (ROOT / "fixtures" / "r" / "MANIFEST.json").read_text()))
    n_fail = 0
    for path in exports:
        entry = certify_one(path, env)
        paths = write_reports(entry, env, args.reports)
        ok = entry["passed"]
        n_fail += not ok
        print(f"{'PASS' if ok else 'FAIL'} {entry['case']:<28} {entry['classification']}"
              f"\n     {entry.get('versions', '')}\n     report: {paths[2]}")
    print(f"{len(exports) - n_fail} of {len(exports)} exported model(s) certified")
    return 1 if n_fail else 0


if __name__ == "__main__":
    raise SystemExit(main())
