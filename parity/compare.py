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
  stated optimum tolerances (class ``optimum-dependent``) and, for quantities derived from θ
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
    name: str = ""  # the reported name, when not the quantity's name and its block's suffix


SATTERTHWAITE_WHY = "1e-3 relative of lmerTest's (numDeriv's differences of the deviance)"

AT_R_THETA = [
    Rule("objective", EXACT, 1e-10, why="lme4's devfun at its θ̂"),
    Rule("devfun_at", EXACT, 1e-10, why="lme4's devfun at θ̂, the start and perturbed θ",
         name="devfun_at_r_points"),
    Rule("fixef", EXACT, 1e-9, 1e-9, "max"),
    Rule("se", EXACT, 1e-9),
    Rule("sigma", EXACT, 1e-9),
    Rule("ranef", EXACT, 1e-8, 1e-8, "max", why="BLUPs near zero need a scale-relative atol"),
    Rule("condsd", EXACT, 1e-8),
    Rule("fitted", EXACT, 1e-9, 1e-9, "max"),
    Rule("residuals", EXACT, 0.0, 1e-9, "fitted", why="residual = y − fitted"),
    Rule("varcorr", EXACT, 1e-8, 1e-10, "max"),
    Rule("loglik", EXACT, 1e-10),
    Rule("satterthwaite_df", NUMDERIV, 1e-3, why=SATTERTHWAITE_WHY),
]

AT_OPTIMUM = [
    Rule("fixef", OPTIMUM, 1e-6, 1e-4, "se",
         why="1e-6 relative + 1e-4·SE: a gap far below β̂'s own uncertainty"),
    Rule("se", OPTIMUM, 1e-4, why="1e-4 relative: SEs move with θ̂"),
    Rule("theta", OPTIMUM, 5e-5, 1e-4, why="1e-4 + 5e-5·|θ|: θ on a flat surface"),
    Rule("sigma", OPTIMUM, 1e-5, why="1e-5 relative: σ̂ moves with θ̂"),
    Rule("satterthwaite_df", NUMDERIV, 1e-3, why=SATTERTHWAITE_WHY),
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
    #: which term of ``atol + rtol·|r|`` was the larger at the element closest to its bound
    #: ("atol", "rtol"; "none" when both are 0, i.e. equality is required)
    binding: str = ""
    #: the largest error over its element's bound (≤ 1 passes; 0 when all errors are 0)
    tol_used: float = 0.0

    def __post_init__(self):
        if not self.binding:  # a row built without element-wise bounds
            self.binding = ("none" if self.atol == 0 and self.rtol == 0 else
                            "atol" if self.rtol == 0 else "rtol" if self.atol == 0 else "")

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {"name": self.name, "n": self.n, "max_abs_err": self.max_abs_err,
                "max_rel_err": self.max_rel_err, "atol": self.atol, "rtol": self.rtol,
                "class": self.cls, "passed": self.passed, "gating": self.gating,
                "worst_key": self.worst_key, "missing": self.missing, "why": self.why,
                "binding": self.binding, "tol_used": self.tol_used}


NOTHING_COMPARED = "nothing was compared (no element on either side)"


def compare_keyed(name: str, py: dict, r: dict, rtol: float, atol: float | dict,
                  cls: str, why: str = "") -> QuantityResult:
    """Compare two dicts of floats key by key (``atol`` may be a per-key dict).

    Besides the worst errors, records which tolerance term bound the comparison
    (``binding``, at the element with the largest error over its bound) and that ratio
    (``tol_used``).  Nothing to compare (both sides empty) fails: an empty quantity
    proves nothing.
    """
    missing = sorted(str(k) for k in set(py) ^ set(r))
    ok = not missing
    worst_excess, worst_key, max_abs, max_rel, a_max = -np.inf, "", 0.0, 0.0, 0.0
    used, binding = -1.0, ""
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
        bound = a + rtol * abs(rv)
        excess = err - bound
        ok = ok and bool(excess <= 0)
        if excess > worst_excess or not np.isfinite(excess):
            worst_excess, worst_key = excess, str(k)
        ratio = err / bound if bound > 0 else (0.0 if err == 0 else np.inf)
        ratio = np.inf if np.isnan(ratio) else ratio
        if ratio > used:
            used = float(ratio)
            binding = "none" if bound == 0 else "atol" if a >= rtol * abs(rv) else "rtol"
    n = sum(1 for k in r if k in py)
    if n == 0:
        binding = "n/a"
        if not missing:
            ok, why = False, f"{why}; {NOTHING_COMPARED}" if why else NOTHING_COMPARED
    return QuantityResult(name, n, max_abs, max_rel, a_max, rtol, cls, ok, True, worst_key,
                          missing, why, binding, max(used, 0.0))


def element_points(py: dict, r: dict, limit: int = 200) -> dict:
    """Element pairs of a comparison for the report's plots (Bland–Altman: ``mean`` and
    ``diff`` = py − r; Q–Q: ``rel`` = |py − r| / |r|, None where r = 0), at 4 significant
    digits.  Keys on both sides with finite values only; beyond ``limit`` elements, the
    quarter with the largest |diff| and an even sample of the rest."""
    keys = [k for k in r if k in py and np.isfinite(float(py[k])) and np.isfinite(float(r[k]))]
    if len(keys) > limit:
        by_diff = sorted(keys, key=lambda k: -abs(float(py[k]) - float(r[k])))
        top, rest = by_diff[:limit // 4], by_diff[limit // 4:]
        step = len(rest) / (limit - len(top))
        keys = top + [rest[int(i * step)] for i in range(limit - len(top))]

    def g(x: float) -> float:
        return float(f"{x:.4g}")

    pairs = [(float(py[k]), float(r[k])) for k in keys]
    return {"n": sum(1 for k in r if k in py), "mean": [g((p + q) / 2) for p, q in pairs],
            "diff": [g(p - q) for p, q in pairs],
            "rel": [g(abs(p - q) / abs(q)) if q else None for p, q in pairs]}


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
        out.append(compare_keyed(rule.name or rule.quantity + suffix, _flat(pv), _flat(rv),
                                 rule.rtol,
                                 _atol(rule, rule.quantity, py, r), rule.cls, rule.why))
    return out


def compare_objective(py_obj: float, r_obj: float, rtol: float = 1e-8,
                      why: str = "ours ≤ lme4's + 1e-8·|lme4's| (one-sided)") -> QuantityResult:
    """One-sided: our optimum may be lower than R's, never higher by more than rtol·|R|."""
    excess = py_obj - r_obj
    return QuantityResult("objective", 1, abs(excess), abs(excess) / abs(r_obj), 0.0, rtol,
                          OPTIMUM, bool(excess <= rtol * abs(r_obj)), True, "", [], why,
                          "rtol", max(excess, 0.0) / (rtol * abs(r_obj)) if rtol * r_obj else
                          np.inf if excess > 0 else 0.0)


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
    for q in opt:
        if q.name == "theta" and q.n == 0 and not q.missing and len(bound) > 1:
            q.gating, q.why = False, ("not applicable: every θ is on its lower bound in lme4, "
                                      "compared in theta_boundary")
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
    failed = {q.name for q in results if not q.passed and (q.gating or q.n)}
    if not failed:
        return "agree"
    if any(q.cls == EXACT for q in results if q.name in failed):
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
    """Live R against the stored fixture, quantity by quantity (reported, not gating).

    ``max_diff_to_scale`` is the largest |live − stored| over the quantity's largest
    |stored|: the headline measure, since an element-wise relative difference is large on
    values near 0 (residuals, BLUPs) and says little there.  ``missing``: where a key or a
    whole quantity is found on one side only ("live" / "stored": the side lacking it).
    """
    rows = []
    for name in sorted(set(live) | set(stored)):
        a, b = live.get(name), stored.get(name)
        if a is None or b is None:
            rows.append({"name": name, "n": 0, "max_abs_diff": None, "max_rel_diff": None,
                         "max_diff_to_scale": None,
                         "missing": "live" if a is None else "stored"})
            continue
        a, b = _leaves(a), _leaves(b)
        q = compare_keyed(name, a, b, 0.0, 0.0, "drift")
        scale = max((abs(float(v)) for v in b.values() if np.isfinite(float(v))), default=0.0)
        rows.append({"name": name, "n": q.n, "max_abs_diff": q.max_abs_err,
                     "max_rel_diff": q.max_rel_err,
                     "max_diff_to_scale": q.max_abs_err / scale if scale else q.max_abs_err,
                     "missing": ", ".join(q.missing)})
    return rows


def worst_drift(rows: list[dict]) -> dict | None:
    """The drift row with the largest ``max_diff_to_scale`` (None without rows)."""
    rows = [d for d in rows if d.get("max_diff_to_scale") is not None]
    return max(rows, key=lambda d: d["max_diff_to_scale"], default=None)
