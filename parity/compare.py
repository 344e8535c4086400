"""Element-wise comparison of name-keyed quantities under named tolerance classes.

Every comparison is ``|py − r| ≤ atol + rtol·|r|`` element by element, keyed
by name (coefficient, θ name, (group, level, term), row label); the reported
error is the maximum over elements, never a mean or a correlation.  A key
present on one side only is a failure.

Two blocks per case:

* **at R's θ** (``*_at_r_theta``): every quantity recomputed by interlace at lme4's
  θ̂ — the formulas are then the only possible source of difference, so the
  tolerance is essentially rounding (class ``exact-at-theta``);
* **at the optimum**: our own fit against lme4's fit, with the tolerances of
  issue 2 (class ``optimum-dependent``) and, for quantities derived from θ
  (BLUPs, variance components, fitted values), tolerances propagated from θ's.

A case can exempt its optimum block (``exempt_optimum = "<reason>"`` in the
catalog) when lme4's optimizer demonstrably stopped short on a flat surface:
those rows are still computed and reported, but only the objective (ours must
not be worse than lme4's) and the at-R's-θ block decide the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EXACT = "exact-at-theta"
OPTIMUM = "optimum-dependent"
NUMDERIV = "numerical-derivative"
BOUNDARY = "boundary"
REFIT = "refit-dependent"

CLASS_REASONS = {
    EXACT: "Same θ, same formulas: a gap beyond floating-point rounding is a formula bug.",
    OPTIMUM: "Depends on where each optimizer stopped (lmer: NLopt BOBYQA, xtol_abs = "
             "ftol_abs = 1e-8; glmer: minqa's BOBYQA, then lme4's Nelder–Mead); a flat "
             "objective lets θ differ while the objective agrees.",
    NUMDERIV: "Satterthwaite df (lmerTest via numDeriv) and glmer's Hessian-based standard "
              "errors (lme4's deriv12, step 1e-4) use numerical derivatives of the deviance; "
              "rounding in the deviance is amplified by the steps.",
    BOUNDARY: "θ components lme4 leaves on their lower bound (0) and the isSingular verdict: "
              "a relative error means nothing at 0, so these are compared absolutely "
              "(θ within 1e-4) and the singular flag must be identical.",
    REFIT: "Case-deletion refits: every deleted fit is its own optimization, so errors "
           "compound the optimum-dependent ones; tolerances come from measured "
           "reproducibility of R's own refits (influence diagnostics).",
}


@dataclass(frozen=True)
class Rule:
    """How one quantity is compared: tolerances and where the absolute part comes from."""

    quantity: str
    cls: str
    rtol: float
    atol: float = 0.0
    atol_of: str = ""  # "se": atol·SE per coefficient; "max": atol·max|r| over elements
    why: str = ""


AT_R_THETA = [
    Rule("objective", EXACT, 1e-10, why="lme4's devfun at its θ̂"),
    Rule("devfun_at", EXACT, 1e-10, why="lme4's devfun at θ̂, the start and perturbed θ"),
    Rule("fixef", EXACT, 1e-9, 1e-9, "max"),
    Rule("se", EXACT, 1e-9),
    Rule("sigma", EXACT, 1e-9),
    Rule("ranef", EXACT, 1e-8, 1e-8, "max", why="BLUPs near zero need a scale-relative atol"),
    Rule("condsd", EXACT, 1e-8),
    Rule("fitted", EXACT, 1e-9, 1e-9, "max"),
    Rule("residuals", EXACT, 0.0, 1e-9, "fitted", why="residual = y − fitted"),
    Rule("varcorr", EXACT, 1e-8, 1e-10, "max"),
    Rule("loglik", EXACT, 1e-10),
    Rule("satterthwaite_df", NUMDERIV, 1e-3, why="issue 2: 1e-3 relative of lmerTest's"),
]

AT_OPTIMUM = [
    Rule("fixef", OPTIMUM, 1e-6, 1e-4, "se", why="issue 2: 1e-6 relative + 1e-4·SE"),
    Rule("se", OPTIMUM, 1e-4, why="issue 2"),
    Rule("theta", OPTIMUM, 5e-5, 1e-4, why="issue 2: 1e-4 + 5e-5·|θ|"),
    Rule("sigma", OPTIMUM, 1e-5, why="issue 2"),
    Rule("satterthwaite_df", NUMDERIV, 1e-3, why="issue 2: 1e-3 relative of lmerTest's"),
    Rule("ranef", OPTIMUM, 1e-3, 1e-3, "max",
         why="derived from θ: a 1e-4 move of θ moves BLUPs by ~1e-3 of their scale"),
    Rule("condsd", OPTIMUM, 1e-3, why="derived from θ, as ranef"),
    Rule("varcorr", OPTIMUM, 1e-3, 1e-3, "max", why="derived from θ, as ranef"),
    Rule("fitted", OPTIMUM, 1e-5, 1e-5, "max", why="derived from θ and β"),
    Rule("residuals", OPTIMUM, 0.0, 1e-5, "fitted", why="residual = y − fitted"),
    Rule("loglik", OPTIMUM, 1e-8, why="−objective/2: as the objective"),
]


@dataclass
class QuantityResult:
    """Outcome of comparing one quantity of one case."""

    name: str
    n: int
    max_abs_err: float
    max_rel_err: float
    atol: float
    rtol: float
    cls: str
    passed: bool
    gating: bool = True
    worst_key: str = ""
    missing: list[str] = field(default_factory=list)
    why: str = ""

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {"name": self.name, "n": self.n, "max_abs_err": self.max_abs_err,
                "max_rel_err": self.max_rel_err, "atol": self.atol, "rtol": self.rtol,
                "class": self.cls, "passed": self.passed, "gating": self.gating,
                "worst_key": self.worst_key, "missing": self.missing, "why": self.why}


def compare_keyed(name: str, py: dict, r: dict, rtol: float, atol: float | dict,
                  cls: str, why: str = "") -> QuantityResult:
    """Compare two dicts of floats key by key (``atol`` may be a per-key dict)."""
    missing = sorted(str(k) for k in set(py) ^ set(r))
    ok = not missing
    worst_excess, worst_key, max_abs, max_rel, a_max = -np.inf, "", 0.0, 0.0, 0.0
    for k in r:
        if k not in py:
            continue
        pv, rv = float(py[k]), float(r[k])
        a = atol.get(k, 0.0) if isinstance(atol, dict) else atol
        a_max = max(a_max, a)
        if np.isnan(rv) and np.isnan(pv):
            continue
        err = abs(pv - rv)
        max_abs = max(max_abs, err)
        if rv != 0:
            max_rel = max(max_rel, err / abs(rv))
        excess = err - (a + rtol * abs(rv))
        ok = ok and bool(excess <= 0)
        if excess > worst_excess or not np.isfinite(excess):
            worst_excess, worst_key = excess, str(k)
    n = sum(1 for k in r if k in py)
    return QuantityResult(name, n, max_abs, max_rel, a_max, rtol, cls, ok, True, worst_key,
                          missing, why)


def _flat(q: dict) -> dict:
    """Scalars become one-element dicts; varcorr keeps its vcov column."""
    return {k: (v[0] if isinstance(v, tuple) else v) for k, v in q.items()}


def _atol(rule: Rule, name: str, py: dict, r: dict) -> float | dict:
    if rule.atol_of == "se":
        return {k: rule.atol * v for k, v in r["se"].items()}
    if rule.atol_of == "max":
        vals = _flat(r[name]).values()
        return rule.atol * max((abs(v) for v in vals), default=0.0)
    if rule.atol_of == "fitted":
        return rule.atol * max(abs(v) for v in r["fitted"].values())
    return rule.atol


def _apply(rules: list[Rule], py: dict, r: dict, suffix: str) -> list[QuantityResult]:
    out = []
    for rule in rules:
        pv, rv = py[rule.quantity], r[rule.quantity]
        if not isinstance(rv, dict):
            pv, rv = {rule.quantity: pv}, {rule.quantity: rv}
        out.append(compare_keyed(rule.quantity + suffix, _flat(pv), _flat(rv), rule.rtol,
                                 _atol(rule, rule.quantity, py, r), rule.cls, rule.why))
    return out


def compare_objective(py_obj: float, r_obj: float, rtol: float = 1e-8,
                      why: str = "ours ≤ lme4's + 1e-8·|lme4's| (one-sided)") -> QuantityResult:
    """One-sided: our optimum may be lower than R's, never higher by more than rtol·|R|."""
    excess = py_obj - r_obj
    return QuantityResult("objective", 1, abs(excess), abs(excess) / abs(r_obj), 0.0, rtol,
                          OPTIMUM, bool(excess <= rtol * abs(r_obj)), True, "", [], why)


def _boundary(py: dict, r: dict) -> tuple[dict, dict, list[QuantityResult]]:
    """Split θ components lme4 left on their lower bound off into the boundary class."""
    lower = r.get("theta_lower", {})
    at_bound = {k for k, v in r["theta"].items() if v == 0.0 and lower.get(k) == 0.0}
    out = [compare_keyed("is_singular", {"is_singular": float(py["is_singular"])},
                         {"is_singular": float(r["is_singular"])}, 0.0, 0.0, BOUNDARY,
                         "isSingular(tol = 1e-4) must give the same verdict")]
    if not at_bound:
        return py, r, out
    split = [{k: v for k, v in side["theta"].items() if k not in at_bound} for side in (py, r)]
    out.append(compare_keyed("theta_boundary",
                             {k: v for k, v in py["theta"].items() if k in at_bound},
                             {k: r["theta"][k] for k in at_bound}, 0.0, 1e-4, BOUNDARY,
                             "θ on its lower bound in lme4: |θ| ≤ 1e-4"))
    return dict(py, theta=split[0]), dict(r, theta=split[1]), out


def compare_at_py_theta(py_opt: dict, r: dict) -> list[QuantityResult]:
    """Live mode: R's devfun at our θ̂ against our objective there (exact at θ)."""
    r_val = r.get("devfun_at", {}).get("py_theta_hat")
    if r_val is None:
        return []
    return [compare_keyed("objective_at_py_theta", {"v": py_opt["objective"]}, {"v": r_val},
                          1e-10, 0.0, EXACT, "lme4's devfun evaluated at interlace's θ̂")]


def compare_case(py_opt: dict, py_at_r: dict, r: dict, *, exempt_optimum: str = "",
                 objective_tol: tuple[float, str] | None = None) -> list[QuantityResult]:
    """All comparisons of one case: our optimum, and our quantities at lme4's θ̂.

    ``objective_tol``: (rtol, reason) of the one-sided objective check, when not 1e-8
    (an exempted case's measured floor, :func:`parity.optimum_floor.objective_tolerance`).
    """
    out = [compare_objective(py_opt["objective"], r["objective"], *(objective_tol or ()))]
    out += compare_at_py_theta(py_opt, r)
    out += _apply(AT_R_THETA, py_at_r, r, "_at_r_theta")
    py_opt, r, bound = _boundary(py_opt, r)
    opt = _apply(AT_OPTIMUM, py_opt, r, "") + bound
    if exempt_optimum:
        for q in opt:
            q.gating = False
            q.why = f"exempt: {exempt_optimum}"
    return out + opt


def case_passed(results: list[QuantityResult]) -> bool:
    """A case passes when every gating comparison passes."""
    return all(q.passed for q in results if q.gating)


def classify(results: list[QuantityResult]) -> str:
    """Classify a case's discrepancies: formula, optimizer or none."""
    failed = {q.name for q in results if not q.passed}
    if not failed:
        return "agree"
    if [n for n in failed if n.endswith("_at_r_theta") and not n.startswith("satterthwaite")]:
        return "formula problem (disagrees at lme4's θ)"
    if "objective" in failed:
        return "optimizer problem (our optimum is worse than lme4's)"
    return "optimizer difference (agrees at lme4's θ; optima differ on a flat surface)"


def _leaves(x, key=()) -> dict:
    """Every number in a nested dict / tuple, keyed by its path (text is left out: names
    and labels are compared by the quantities themselves; null counts as NaN)."""
    if isinstance(x, dict):
        return {k: v for sub, val in x.items() for k, v in _leaves(val, (*key, sub)).items()}
    if isinstance(x, tuple | list):
        return {k: v for i, val in enumerate(x) for k, v in _leaves(val, (*key, i)).items()}
    if x is None:
        return {key: float("nan")}
    if isinstance(x, str):
        return {}
    return {key: x}


def drift(live: dict, stored: dict) -> list[dict]:
    """Live R against the stored fixture, quantity by quantity (reported, not gating)."""
    rows = []
    for name in sorted(set(live) | set(stored)):
        a, b = live.get(name), stored.get(name)
        if a is None or b is None:
            rows.append({"name": name, "n": 0, "max_abs_diff": None, "max_rel_diff": None,
                         "missing": "live" if a is None else "stored"})
            continue
        a, b = _leaves(a), _leaves(b)
        q = compare_keyed(name, a, b, 0.0, 0.0, "drift")
        rows.append({"name": name, "n": q.n, "max_abs_diff": q.max_abs_err,
                     "max_rel_diff": q.max_rel_err, "missing": ", ".join(q.missing)})
    return rows
