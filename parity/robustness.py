"""Bad and awkward inputs (``parity/robustness.toml``): lme4's outcome and interlace's.

``python -m parity.robustness`` records what lme4 does with every case
(``parity/r/robustness_reference.R`` → ``fixtures/r/robustness.json``);
``python -m parity.robustness --report`` runs interlace on every case and writes
``reports/robustness.md``, one line per input with both outcome classes.
``tests/test_robustness.py`` holds each case to its catalog entry.

An outcome is ``error`` (an :class:`~interlace.errors.InterlaceError`), ``warning`` (a
result, with warnings) or ``fit`` (a result); anything else — a raw exception, a result
with NaN where the case expects numbers — is ``raw`` and always fails.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import tomllib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import interlace
from interlace.errors import InterlaceError
from parity.data import DATA_DIR, ROOT, load_dataset
from parity.rscript import run_r_json

CATALOG = Path(__file__).with_name("robustness.toml")
FIXTURE = ROOT / "fixtures" / "r" / "robustness.json"
REPORT = ROOT / "reports" / "robustness.md"
OUTCOMES = ("error", "warning", "fit")


def load_cases(path: Path = CATALOG) -> list[dict]:
    """The cases, validated (ids unique, outcome classes known, deviations explained)."""
    with open(path, "rb") as fh:
        cases = tomllib.load(fh)["case"]
    seen: set[str] = set()
    for c in cases:
        if c["id"] in seen:
            raise ValueError(f"duplicate robustness case {c['id']!r}")
        seen.add(c["id"])
        if c["expect"] not in OUTCOMES or c["lme4"] not in ("error", "warning", "ok", "none"):
            raise ValueError(f"robustness case {c['id']!r}: bad expect or lme4 class")
        same = {"error": "error", "warning": "warning", "fit": "ok"}[c["expect"]] == c["lme4"]
        if not same and c["lme4"] != "none" and not c.get("deviation"):
            raise ValueError(f"robustness case {c['id']!r} differs from lme4 without a "
                             "`deviation` saying why")
        if c["lme4"] == "none" and not c.get("why"):
            raise ValueError(f"robustness case {c['id']!r}: say `why` there is no R analog")
    return cases


# -- the same transformations as robustness_reference.R's apply_op ---------------------------
def _value(v):
    return {"NA": np.nan, "Inf": np.inf, "-Inf": -np.inf, "NaN": np.nan}.get(v, v) \
        if isinstance(v, str) else v


def apply_op(d: pd.DataFrame, op: dict) -> pd.DataFrame:
    """One transformation of a case's data (positions are 0-based, as in the catalog)."""
    d = d.copy()
    kind, col = op["op"], op.get("column")
    if kind == "shift":
        d[col] = d[col] + op["by"]
    elif kind == "scale":
        d[col] = d[col] * op["by"]
    elif kind == "const":
        d[col] = float(op["value"])
    elif kind == "set":
        rows = np.arange(len(d)) if op["rows"] == "all" else np.asarray(op["rows"])
        v = _value(op["value"])
        if isinstance(d[col].dtype, pd.CategoricalDtype):
            if not (isinstance(v, float) and np.isnan(v)):
                raise ValueError("only NA can be set in a factor column")
            vals = d[col].copy()
            vals.iloc[rows] = np.nan
            d[col] = vals
        else:
            vals = d[col].to_numpy(dtype=float, copy=True)
            vals[rows] = v
            d[col] = vals
    elif kind == "new_column":
        if op.get("rowname"):
            d[col] = pd.Categorical([str(i) for i in d.index])
        elif "from" in op:
            d[col] = d[op["from"]] * op["times"]
        else:
            d[col] = float(op["value"])
    elif kind == "keep_levels":
        d = d[d[col].astype(str).isin(op["levels"])].copy()
        if isinstance(d[col].dtype, pd.CategoricalDtype):
            d[col] = d[col].cat.remove_unused_categories()
    elif kind == "keep_rows":
        d = d.iloc[op["rows"]]
    elif kind == "drop_rows":
        d = d.drop(index=d.index[op["rows"]])
    elif kind == "duplicate_column":
        d = pd.concat([d, (d[[col]] * op["times"])], axis=1)
    else:
        raise ValueError(f"unknown op {kind!r}")
    return d


def case_data(case: dict) -> pd.DataFrame:
    """The case's dataset after its transformations."""
    d = load_dataset(case["dataset"])
    for op in case.get("ops", []):
        d = apply_op(d, op)
    return d


def _control(case: dict) -> dict | None:
    ctl = case.get("control")
    return None if ctl is None else dict(ctl)


def fit_case(case: dict, data: pd.DataFrame):
    """``interlace.fit`` with the case's arguments."""
    return interlace.fit(case["formula"], data,
                         method="REML" if case.get("REML", True) else "ML",
                         weights=case.get("weights"), offset=case.get("offset"),
                         control=_control(case))


def _newdata(case: dict, data: pd.DataFrame):
    nd = case["newdata"]
    if nd == "matrix":
        return data[["Days"]].iloc[:2].to_numpy()
    if nd == "empty":
        return data.iloc[:0]
    return pd.DataFrame({k: [_value(v) for v in vals] for k, vals in nd.items()})


# -- Python-only scenarios (no R analog) -------------------------------------------------------
def _sleep(case):
    return fit_case(case, case_data(case))


def _dup_index(case):
    d = case_data(case)
    d = pd.concat([d.iloc[:90], d.iloc[90:]])
    d.index = list(range(90)) * 2
    return d, fit_case(case, d)


def _scenario_dup_resid(case):
    d, res = _dup_index(case)
    out = interlace.hlm_resid(res)
    if len(out) != len(d) or not np.allclose(out[".resid"], res.resid):
        raise AssertionError("residuals not aligned with the model's rows")
    return out


def _scenario_dup_augment(case):
    d, res = _dup_index(case)
    out = interlace.hlm_augment(res)
    if len(out) != len(d) or not np.array_equal(out["Reaction"].to_numpy(), res._design.y):
        raise AssertionError("augmented rows not the model's rows")
    return out


def _scenario_misaligned(case):
    res = _sleep(case)
    other = res._data.sample(frac=1.0, random_state=1)
    other.index = res._data.index
    return interlace.hlm_augment(res, data=other)


def _scenario_reordered(case):
    res = _sleep(case)
    other = res._data.sample(frac=1.0, random_state=1)  # same rows, same labels, new order
    out = interlace.hlm_augment(res, data=other)
    if not np.array_equal(out["Reaction"].to_numpy(), res._design.y):
        raise AssertionError("augmented rows not the model's rows")
    return out


def _scenario_hlm_exact(case):
    res = _sleep(case)
    return interlace.hlm_influence(res, level="Subject", approx=False)


SCENARIOS: dict[str, Callable[[dict], object]] = {
    "duplicated_index_resid": _scenario_dup_resid,
    "duplicated_index_augment": _scenario_dup_augment,
    "augment_misaligned_rows": _scenario_misaligned,
    "augment_reordered_rows": _scenario_reordered,
    "hlm_influence_exact_subject": _scenario_hlm_exact,
    "formula_none": lambda c: interlace.fit(None, case_data(c)),  # type: ignore[arg-type]
    "formula_number": lambda c: interlace.fit(3.0, case_data(c)),  # type: ignore[arg-type]
    "data_ndarray": lambda c: interlace.fit("Reaction ~ Days + (1 | Subject)",
                                            case_data(c)[["Reaction", "Days"]].to_numpy()),
}


# -- running a case ---------------------------------------------------------------------------
@dataclass
class Outcome:
    """What interlace did with a case."""

    kind: str  # error | warning | fit | raw
    messages: list[str] = field(default_factory=list)
    value: object = None
    exception: BaseException | None = None


def _call(case: dict):
    call = case.get("call", "fit")
    if call == "python":
        return SCENARIOS[case["scenario"]](case)
    data = case_data(case)
    if call == "fit":
        return fit_case(case, data)
    if call == "glmer":
        return interlace.glmer(case["formula"], data, family=case["family"],
                               link=case.get("link"), nAGQ=case.get("nAGQ", 1),
                               weights=case.get("weights"), offset=case.get("offset"),
                               start=case.get("start"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_case(case, data)
    if call == "predict":
        return res.predict(_newdata(case, data),
                           allow_new_levels=bool(case.get("allow_new_levels", False)))
    if call == "influence":
        return interlace.influence(res, groups=case["groups"])
    if call == "confint":
        return res.confint(level=case["level"])
    raise ValueError(f"unknown call {call!r}")


def _has_nan(value) -> bool:
    if isinstance(value, interlace.CrossedLMEResult | interlace.GlmmResult):
        parts = [value.theta, value.fe_params.to_numpy(), [value.llf, value.sigma]]
        return not all(np.all(np.isfinite(np.asarray(p, dtype=float))) for p in parts)
    return False


def run_case(case: dict) -> Outcome:
    """Run interlace on a case and classify the outcome."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = _call(case)
        except InterlaceError as e:
            return Outcome("error", [str(e)], exception=e)
        except Exception as e:  # noqa: BLE001 - a raw exception is the failure we look for
            return Outcome("raw", [f"{type(e).__name__}: {e}"], exception=e)
    msgs = [str(w.message) for w in caught]
    if _has_nan(value) and not msgs:
        return Outcome("raw", ["NaN in the result without a warning"], value=value)
    return Outcome("warning" if msgs else "fit", msgs, value)


# -- R side -------------------------------------------------------------------------------------
def request(cases: list[dict]) -> dict:
    """The request robustness_reference.R takes."""
    names = sorted({c["dataset"] for c in cases})
    return {"cases": cases, "catalog_sha256": hashlib.sha256(CATALOG.read_bytes()).hexdigest(),
            "datasets": {n: {"csv": str(DATA_DIR / f"{n}.csv"),
                             "json": str(DATA_DIR / f"{n}.json")} for n in names}}


def load_fixture() -> dict[str, dict]:
    """lme4's recorded outcomes by case id."""
    fx = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return {c["id"]: c for c in fx["cases"]}


def _r_text(rec: dict) -> str:
    return " | ".join([rec.get("error") or "", *rec.get("warnings", []),
                       *rec.get("messages", [])])


def _near(a: float, b: float, rtol: float, atol: float = 0.0) -> bool:
    return bool(abs(a - b) <= atol + rtol * abs(b))


def _fit_problems(res, r_fit: dict, intercept_shift: float = 0.0) -> list[str]:
    """θ, fixef, logLik, σ and nobs against lme4's fit, at the optimum-dependent
    tolerances (θ 1e-4 + 5e-5·|θ|, fixef 1e-5, logLik 1e-8, σ 1e-5 relative)."""
    out = []
    theta = dict(zip(res.theta_names, res.theta, strict=True))
    if set(theta) != set(r_fit["theta"]):
        return [f"θ names {sorted(theta)} ≠ lme4's {sorted(r_fit['theta'])}"]
    out += [f"θ {k}: {theta[k]!r} vs lme4 {v!r}" for k, v in r_fit["theta"].items()
            if not _near(theta[k], v, 5e-5, 1e-4)]
    if set(res.fe_params.index) != set(r_fit["fixef"]):
        return out + [f"fixef names {list(res.fe_params.index)} ≠ lme4's {list(r_fit['fixef'])}"]
    for k, v in r_fit["fixef"].items():
        v = v + intercept_shift if k == "(Intercept)" else v
        if not _near(res.fe_params[k], v, 1e-5):
            out.append(f"fixef {k}: {res.fe_params[k]!r} vs lme4 {v!r}")
    if not _near(res.llf, r_fit["loglik"], 1e-8):
        out.append(f"logLik {res.llf!r} vs lme4 {r_fit['loglik']!r}")
    if not _near(res.sigma, r_fit["sigma"], 1e-5):
        out.append(f"sigma {res.sigma!r} vs lme4 {r_fit['sigma']!r}")
    if res.nobs != r_fit["nobs"]:
        out.append(f"nobs {res.nobs} vs lme4 {r_fit['nobs']}")
    return out


def check_case(case: dict, recorded: dict[str, dict]) -> tuple[Outcome, list[str]]:
    """Run a case; every way it departs from its catalog entry (empty: as catalogued).

    lme4's recorded outcome must be the catalogued one (and carry ``lme4_match``);
    interlace's class must be ``expect`` with every ``match`` in its messages; where the
    case compares numbers, they must agree with lme4's (of ``compare_with`` if given).
    """
    problems = []
    rec = recorded.get(case["id"])
    if rec is None:
        problems.append("no recording of lme4's outcome (python -m parity.robustness)")
    elif rec["outcome"] != case["lme4"]:
        problems.append(f"lme4's outcome is {rec['outcome']}, catalogued {case['lme4']}: "
                        f"{_r_text(rec)}")
    elif case.get("lme4_match") and case["lme4_match"] not in _r_text(rec):
        problems.append(f"lme4 did not say {case['lme4_match']!r}: {_r_text(rec)}")
    out = run_case(case)
    if out.kind != case["expect"]:
        problems.append(f"interlace's outcome is {out.kind}, expected {case['expect']}: "
                        + "; ".join(out.messages))
        return out, problems
    problems += [f"interlace did not say {w!r}" for w in case.get("match", [])
                 if not any(w in m for m in out.messages)]
    other = case.get("compare_with")
    ref = recorded.get(other or case["id"]) if case.get("compare") or other else None
    if ref is not None:
        if case.get("call") == "predict":
            r = np.array([np.nan if v is None else v for v in ref["predictions"]])
            got = np.asarray(out.value, dtype=float)
            if got.shape != r.shape or not np.allclose(got, r, rtol=1e-6, equal_nan=True):
                problems.append(f"predictions {got.tolist()} vs lme4 {r.tolist()}")
        else:
            problems += _fit_problems(out.value, ref["fit"], case.get("intercept_shift", 0.0))
    return out, problems


def record_live(cases: list[dict]) -> dict[str, dict]:
    """lme4's outcomes recorded now, by the installed R (for live parity runs)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = run_r_json("robustness_reference.R", request(cases), Path(tmp) / "r.json",
                         label="robustness (live)")
        return {c["id"]: c for c in json.loads(out.read_text(encoding="utf-8"))["cases"]}


def run_all(cases: list[dict] | None = None,
            recorded: dict[str, dict] | None = None) -> list[dict]:
    """Every case checked against its entry: one row each for the parity report.

    ``recorded``: lme4's outcomes (default: the stored fixture); a live run passes
    :func:`record_live`'s, and each row then says whether lme4's outcome class differs
    from the stored one.
    """
    cases = load_cases() if cases is None else cases
    stored = load_fixture() if FIXTURE.exists() else {}
    live = recorded is not None
    recorded = stored if recorded is None else recorded
    rows = []
    for c in cases:
        out, problems = check_case(c, recorded)
        rows.append({"case": c["id"], "item": c["item"],
                     "lme4": recorded.get(c["id"], {}).get("outcome", "?"),
                     "expect": c["expect"], "interlace": out.kind, "passed": not problems,
                     "problems": problems,
                     "says": [m.replace("\n", " ") for m in out.messages],
                     "note": c.get("deviation") or c.get("why") or c.get("note") or ""})
        if live:
            before = stored.get(c["id"], {}).get("outcome")
            rows[-1]["drift"] = "" if before == rows[-1]["lme4"] else f"stored: {before}"
    return rows


def markdown(rows: list[dict]) -> list[str]:
    """Markdown lines: every input, lme4's outcome, interlace's, and what interlace said."""
    lines = ["| item | input | lme4 | interlace | result | interlace says | why they differ |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        said = "; ".join(m[:160] for m in r["says"]).replace("|", "\\|")
        verdict = "as catalogued" if r["passed"] else "FAIL: " + "; ".join(r["problems"])
        lines.append(f"| {r['item']} | {r['case']} | {r['lme4']} | {r['interlace']} | "
                     f"{verdict.replace('|', '/')} | {said} | {r['note'].replace('|', '/')} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Record lme4's outcomes (default) or write the report (``--report``)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args(argv)
    cases = load_cases()
    if args.report:
        REPORT.parent.mkdir(exist_ok=True)
        rows = run_all(cases)
        text = "\n".join(markdown(rows))
        REPORT.write_text("# Bad and awkward inputs: lme4 and interlace\n\n" + text + "\n")
        print(text)
        return 0 if all(r["passed"] for r in rows) else 1
    run_r_json("robustness_reference.R", request(cases), FIXTURE, label="robustness")
    for c in load_fixture().values():
        print(f"{c['id']:32s} {c['outcome']:8s} {(c.get('error') or '')[:70]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
