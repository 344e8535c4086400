"""Self-contained HTML parity report (inline CSS and SVG; no external resources, no JS).

:func:`render_html` turns the report written by :mod:`parity.run` — ``{"environment": {...},
"cases": [{case, kind?, passed, mode, classification, exempt_optimum, seconds, quantities:
[...], drift?: [...]}]}`` — into one page: verdict, a case × quantity matrix of worst relative
errors, a log10 relative-error plot, per-case details, the environment manifest, and
appendices on tolerance classes and known convention differences.  Cases of kind
``"diagnostics"`` (:mod:`parity.diag`) get their own matrix and plot, of the worst error
relative to max|R| per column (``max_err_to_scale``) with each entry's bound drawn.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from html import escape
from pathlib import Path

PASS, FAIL, EXEMPT = "#1a7f37", "#cf222e", "#8c959f"
FLOOR = -17.0  # log10 position of exact zeros in the plot

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5em auto;
 max-width:1500px;padding:0 1em;color:#1f2328}
h1{margin:0 0 .2em}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em;margin-top:1.6em}
.verdict{font-size:1.3em;font-weight:600}.ok{color:#1a7f37}.bad{color:#cf222e}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #d0d7de;padding:2px 6px}
th{background:#f6f8fa}td{white-space:nowrap}td.note,td.err{white-space:normal}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.matrix td{font:11px/1.3 ui-monospace,monospace;text-align:center;padding:1px 3px;
 color:#fff;white-space:nowrap}
table.matrix th.q{writing-mode:vertical-rl;transform:rotate(180deg);font-size:11px;
 font-weight:500;padding:4px 1px;white-space:nowrap}
table.matrix td.case{color:#1f2328;text-align:left;font:12px system-ui,sans-serif}
td.pass{background:#1a7f37}td.fail{background:#cf222e}td.exempt{background:#8c959f}
td.none{background:#fff}
table.matrix td.err{background:#ffebe9;color:#cf222e;text-align:left;white-space:normal}
details{border:1px solid #d0d7de;border-radius:6px;margin:.4em 0;padding:.3em .8em}
summary{cursor:pointer;font-weight:600}.note{color:#59636e;font-size:12px}
svg text{font:12px system-ui,sans-serif;fill:#1f2328}
"""


def _num(x, fmt: str = ".1e") -> str:
    """Short scientific notation; exact zero as ``0``; None as a dash."""
    if x is None:
        return "—"
    x = float(x)
    return "0" if x == 0 else format(x, fmt)


def _status(q: dict) -> str:
    """CSS class of a quantity: ``exempt`` (not gating), ``pass`` or ``fail``."""
    if not q.get("gating", True):
        return "exempt"
    return "pass" if q["passed"] else "fail"


def _table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    """An HTML table; ``rows`` are already-escaped cell HTML (``<td ...>`` included)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(f"<tr>{''.join(r)}</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _quantity_names(cases: list[dict]) -> list[str]:
    """Quantity names in first-seen order across cases."""
    names: dict[str, None] = {}
    for c in cases:
        names.update((q["name"], None) for q in c["quantities"])
    return list(names)


def _summary(cases: list[tuple[int, dict]], names: list[str], metric: str = "max_rel_err"
             ) -> str:
    """Case × quantity matrix of worst errors (``metric``), coloured by verdict; ``cases``
    are (index in the report, case) pairs, the index naming the detail anchor."""
    head = "<th>case</th><th>result</th>" + "".join(
        f'<th class="q">{escape(n)}</th>' for n in names)
    rows = []
    for i, c in cases:
        verdict = '<td class="pass">PASS</td>' if c["passed"] else '<td class="fail">FAIL</td>'
        cells = [f'<td class="case"><a href="#case-{i}">{escape(c["case"])}</a></td>', verdict]
        if not c["quantities"]:
            cells.append(f'<td class="err" colspan="{len(names) or 1}">'
                         f'{escape(c["classification"])}</td>')
        by_name = {q["name"]: q for q in c["quantities"]}
        for n in names if c["quantities"] else []:
            q = by_name.get(n)
            if q is None:
                cells.append('<td class="none" title="not compared">·</td>')
                continue
            tip = (f"{c['case']} / {n}: max abs err {_num(q['max_abs_err'], '.3e')}, "
                   f"max rel err {_num(q['max_rel_err'], '.3e')}; tolerance atol "
                   f"{_num(q['atol'], '.2e')} + rtol {_num(q['rtol'], '.0e')}·|r|"
                   + (f"; max err / max|R| {_num(q['max_err_to_scale'], '.3e')} (bound "
                      f"{_num(q.get('tol_to_scale'), '.1e')})" if "max_err_to_scale" in q
                      else "")
                   + ("" if q.get("gating", True) else " (exempt, not gating)"))
            cells.append(f'<td class="{_status(q)}" title="{escape(tip)}">'
                         f'{_num(q.get(metric, q["max_rel_err"]), ".0e")}</td>')
        rows.append("".join(cells))
    body = "".join(f"<tr>{r}</tr>" for r in rows)
    return (f'<div style="overflow-x:auto"><table class="matrix"><thead><tr>{head}</tr></thead>'
            f'<tbody>{body}</tbody></table></div>')


def _plot(cases: list[dict], names: list[str], metric: str = "max_rel_err",
          bound: str = "") -> str:
    """Inline SVG: log10 of ``metric`` per quantity, one jittered dot per case; ticks at the
    quantity's rtol where uniform or, with ``bound``, at each case's own bound."""
    vals = [q.get(metric, q["max_rel_err"]) for c in cases for q in c["quantities"]]
    finite = [math.log10(v) for v in vals if v and math.isfinite(v) and v > 0]
    top = max(1, math.ceil(max(finite, default=0)))
    left, right, tpad, bottom, band = 70, 170, 20, 170, 36
    w, h = left + band * len(names) + right, 420
    ph = h - tpad - bottom

    def y(v: float) -> float:
        return tpad + (top - v) / (top - FLOOR + 0.6) * ph

    axis = "log10(max error / max|R|)" if bound else "log10(max relative error)"
    out = [f'<svg width="{w}" height="{h}" '
           f'viewBox="0 0 {w} {h}" style="max-width:100%;height:auto" role="img" '
           f'aria-label="{escape(axis)} per quantity">']
    for k in range(int(FLOOR), top + 1):  # horizontal grid and y tick labels
        out.append(f'<line x1="{left}" x2="{left + band * len(names)}" y1="{y(k):.1f}" '
                   f'y2="{y(k):.1f}" stroke="#eaeef2"/>')
        if k % 2 == 1 or k == top:
            label = "exact 0" if k == FLOOR else str(k)
            out.append(f'<text x="{left - 6}" y="{y(k) + 4:.1f}" text-anchor="end">{label}</text>')
    for j, n in enumerate(names):
        x0 = left + band * j
        if j % 2:
            out.append(f'<rect x="{x0}" y="{tpad}" width="{band}" height="{ph}" '
                       'fill="#f6f8fa" fill-opacity=".7"/>')
        out.append(f'<text transform="translate({x0 + band / 2 + 4},{tpad + ph + 8}) '
                   f'rotate(-55)" text-anchor="end">{escape(n)}</text>')
        rtols = {q["rtol"] for c in cases for q in c["quantities"] if q["name"] == n}
        if not bound and len(rtols) == 1 and (r := rtols.pop()) > 0:
            out.append(f'<line x1="{x0 + 4}" x2="{x0 + band - 4}" y1="{y(math.log10(r)):.1f}" '
                       f'y2="{y(math.log10(r)):.1f}" stroke="#0969da" stroke-width="2">'
                       f'<title>{escape(n)}: rtol {r:.0e}</title></line>')
    colour = {"pass": PASS, "fail": FAIL, "exempt": EXEMPT}
    points = [(i, c, q) for i, c in enumerate(cases) for q in c["quantities"]]
    for i, c, q in sorted(points, key=lambda p: ("pass", "exempt", "fail").index(_status(p[2]))):
        dx = ((i * 0.6180339887) % 1 - 0.5) * band * 0.7
        v, col = q.get(metric, q["max_rel_err"]), colour[_status(q)]
        x = left + band * names.index(q["name"]) + band / 2 + dx
        if bound and (b := q.get(bound) or 0.0) > 0:
            out.append(f'<line x1="{x - 4:.1f}" x2="{x + 4:.1f}" y1="{y(math.log10(b)):.1f}" '
                       f'y2="{y(math.log10(b)):.1f}" stroke="#0969da" stroke-width="1.5">'
                       f'<title>{escape(c["case"])} — {escape(q["name"])}: bound {b:.1e}'
                       '</title></line>')
        if v is None or not math.isfinite(v):
            yy, fill = tpad, col
        elif v <= 0:
            yy, fill = y(FLOOR), "none"
        else:
            yy, fill = y(max(FLOOR, math.log10(v))), col
        out.append(f'<circle class="pt" cx="{x:.1f}" cy="{yy:.1f}" r="3" fill="{fill}" '
                   f'fill-opacity=".75" stroke="{col}"><title>{escape(c["case"])} — '
                   f'{escape(q["name"])}: {"err / max|R|" if bound else "rel err"} '
                   f'{_num(v, ".2e")}</title></circle>')
    out.append(f'<rect x="{left}" y="{tpad}" width="{band * len(names)}" height="{ph}" '
               'fill="none" stroke="#57606a"/>')
    out.append(f'<text transform="translate(18,{tpad + ph / 2}) rotate(-90)" '
               f'text-anchor="middle">{escape(axis)}</text>')
    out.append(f'<text x="{left + band * len(names) / 2}" y="{h - 6}" '
               'text-anchor="middle">quantity</text>')
    lx = left + band * len(names) + 16
    legend = [("pass", PASS, PASS), ("fail (gating)", FAIL, FAIL), ("exempt", EXEMPT, EXEMPT),
              ("exactly 0", "none", "#57606a")]
    for k, (label, fill, stroke) in enumerate(legend):
        out.append(f'<circle class="lg" cx="{lx + 5}" cy="{tpad + 12 + 20 * k}" r="4" '
                   f'fill="{fill}" stroke="{stroke}"/><text x="{lx + 16}" '
                   f'y="{tpad + 16 + 20 * k}">{escape(label)}</text>')
    ly = tpad + 12 + 20 * len(legend)
    out.append(f'<line x1="{lx}" x2="{lx + 12}" y1="{ly}" y2="{ly}" stroke="#0969da" '
               f'stroke-width="2"/><text x="{lx + 16}" y="{ly + 4}">'
               f'{"bound (per entry)" if bound else "rtol (if uniform)"}</text>')
    return "".join(out) + "</svg>"


def _detail(i: int, c: dict) -> str:
    """Collapsible section of one case: classification, exemption, quantities, drift."""
    mark = '<span class="ok">PASS</span>' if c["passed"] else '<span class="bad">FAIL</span>'
    parts = [f'<details id="case-{i}"><summary>{mark} {escape(c["case"])} — '
             f'{escape(c.get("classification", ""))}</summary>',
             f'<p>mode: {escape(str(c.get("mode", "")))}; seconds: {c.get("seconds", 0):.2f}</p>']
    if c.get("exempt_optimum"):
        parts.append(f'<p><b>Exempted optimum block:</b> {escape(c["exempt_optimum"])}</p>')
    if c.get("kind") == "glmm":
        parts.append(f'<p>model: {escape(str(c.get("model", "")))}</p>')
    if c.get("kind") == "diagnostics":
        parts.append(f'<p>model: {escape(str(c.get("model", "")))}; deletion level: '
                     f'{escape(str(c.get("level", "")))}; references: '
                     f'{escape(", ".join(c.get("sources", [])))}</p>')
    scaled = any("max_err_to_scale" in q for q in c["quantities"])
    rows = []
    for q in c["quantities"]:
        result = {"pass": "pass", "fail": "FAIL", "exempt": "exempt"}[_status(q)]
        note = "; ".join(s for s in (q.get("why", ""),
                                     q.get("worst_key") and f"worst: {q['worst_key']}",
                                     q.get("missing") and f"missing: {', '.join(q['missing'])}")
                         if s)
        rows.append([f"<td>{escape(q['name'])}</td>", f'<td class="num">{q["n"]}</td>',
                     *(f'<td class="num">{_num(q.get(k), f)}</td>' for k, f in (
                         ("max_abs_err", ".3e"), ("max_rel_err", ".3e"),
                         *((("max_err_to_scale", ".3e"), ("tol_to_scale", ".1e")) if scaled
                           else ()), ("atol", ".2e"), ("rtol", ".0e"))),
                     f"<td>{escape(q['class'])}</td>",
                     f'<td class="{_status(q)}" style="color:#fff">{result}</td>',
                     f'<td class="note">{escape(note)}</td>'])
    if rows:
        parts.append(_table(["quantity", "n", "max abs err", "max rel err",
                             *(["err / max|R|", "bound"] if scaled else []), "atol", "rtol",
                             "class", "result", "note"], rows))
    else:
        parts.append("<p class='bad'>No quantities were compared.</p>")
    if c.get("drift"):
        parts.append("<h4>Live R vs stored fixture</h4>" + _table(
            ["quantity", "n", "max abs diff", "max rel diff", "missing"],
            [[f"<td>{escape(d['name'])}</td>", f'<td class="num">{d.get("n", "")}</td>',
              f'<td class="num">{_num(d["max_abs_diff"])}</td>',
              f'<td class="num">{_num(d["max_rel_diff"])}</td>',
              f"<td>{escape(str(d.get('missing') or ''))}</td>"] for d in c["drift"]]))
    return "".join(parts) + "</details>"


def _diagnostics_section(cases: list[tuple[int, dict]], notes: list[tuple[str, str]],
                         glmm: bool = False) -> list[str]:
    """Matrix, plot and convention labels of the diagnostics entries (those of LMMs, or
    with ``glmm`` those of GLMMs, whose quantities differ)."""
    names = _quantity_names([c for _, c in cases])
    what = "Influence diagnostics of GLMMs" if glmm else "Influence diagnostics"
    out = [f"<h2>{what}: worst error per entry and quantity</h2>",
           '<p class="note">Each cell: the worst |py − R| over the largest |R| of its column '
           "(the scale the absolute tolerances are written in); hover for the element-wise "
           "errors and the bound. "
           + ("lme4 influence.merMod refits the whole glmer from (θ̂, β̂) with maxfun 1000, "
              "and so does interlace; paths_retraced (not gating) counts the units whose "
              "refit made lme4's number of deviance evaluations.</p>" if glmm else
              "Labels name the convention: [hlmdiag-onestep], [hlmdiag], "
              "[hlmdiag-refit] (HLMdiag 0.5.1.9000, stored fixtures: HLMdiag is not in "
              "Debian), [lme4-influence] (lme4 influence.merMod), [brute-force] (dense n × n "
              "leverage). *_at_r_theta: at lme4's θ̂. Grey: not compared (R fails).</p>")]
    if notes:
        out.append("<ul>" + "".join(f"<li><b>{escape(n)}</b>: {escape(t.replace('`', ''))}</li>"
                                    for n, t in notes) + "</ul>")
    out.append(_summary(cases, names, "max_err_to_scale"))
    if names:
        out += [f"<h2>{what}: error per quantity</h2>",
                f'<div style="overflow-x:auto">'
                f'{_plot([c for _, c in cases], names, "max_err_to_scale", "tol_to_scale")}'
                "</div>",
                '<p class="note">One dot per entry (jittered; hover for the entry), its bound '
                "as a blue tick beside it; hollow dots on the bottom line: exactly zero.</p>"]
    return out


def _robustness_section(rows: list[dict]) -> list[str]:
    """Bad and awkward inputs: lme4's outcome, interlace's, what interlace said, why."""
    body = []
    for r in rows:
        cls = "pass" if r["passed"] else "fail"
        verdict = "as catalogued" if r["passed"] else "; ".join(r["problems"])
        note = r["note"] + (f" (lme4's outcome class {r['drift']})" if r.get("drift") else "")
        body.append([f"<td>{r['item']}</td>", f"<td>{escape(r['case'])}</td>",
                     f"<td>{escape(r['lme4'])}</td>", f"<td>{escape(r['interlace'])}</td>",
                     f'<td class="{cls}" style="color:#fff">{escape(verdict)}</td>',
                     f'<td class="note">{escape("; ".join(r["says"]))}</td>',
                     f'<td class="note">{escape(note)}</td>'])
    return ["<h2>Bad and awkward inputs</h2>",
            '<p class="note">Each input of parity/robustness.toml (by the issue item it '
            "tests): lme4's outcome on the same data (error, warning, ok; none where R has no "
            "counterpart), recorded by parity/r/robustness_reference.R (live in live mode), "
            "and interlace's (error = an InterlaceError naming the column, term or value; "
            "warning = a result with warnings; fit). An input passes when both outcomes are "
            "the catalogued ones, interlace's message has the catalogued words (lme4's "
            "where lme4 has them) and, where both fit, the numbers agree.</p>",
            _table(["item", "input", "lme4", "interlace", "result", "interlace says",
                    "why they differ"], body)]


def render_html(report: dict, class_reasons: dict[str, str],
                conventions: list[tuple[str, str]],
                cooks_conventions: list[tuple[str, str]] = ()) -> str:
    """Return the whole report as one self-contained HTML page (a ``str``).

    ``report`` may carry a ``title`` and ``intro`` ((label, text) pairs shown under it).

    ``cooks_conventions``: (quantity label, explanation) pairs listed above the
    diagnostics matrix (:data:`parity.diag.COOKS_CONVENTIONS`).
    """
    env, cases = report.get("environment", {}), report.get("cases", [])
    n_pass = sum(bool(c["passed"]) for c in cases)
    mode = env.get("mode") or ", ".join(sorted({str(c.get("mode", "")) for c in cases}))
    date = report.get("date") or env.get("date") or datetime.now(UTC).strftime(
        "%Y-%m-%d %H:%M UTC")
    lmm = [(i, c) for i, c in enumerate(cases) if c.get("kind", "lmm") == "lmm"]
    glmm = [(i, c) for i, c in enumerate(cases) if c.get("kind") == "glmm"]
    diag = [(i, c) for i, c in enumerate(cases) if c.get("kind") == "diagnostics"]
    names = _quantity_names([c for _, c in lmm])
    robust = report.get("robustness", [])
    n_robust = sum(bool(r["passed"]) for r in robust)
    ok = "ok" if n_pass == len(cases) and n_robust == len(robust) else "bad"
    verdict = f"{n_pass} of {len(cases)} cases pass"
    if robust:
        verdict += f" · {n_robust} of {len(robust)} bad inputs behave as catalogued"
    title = escape(str(report.get("title", "interlace ↔ lme4 parity")))
    html = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
            f"<title>{title}</title>", f"<style>{CSS}</style></head><body>",
            f"<h1>{title}</h1>",
            f'<p class="verdict {ok}">{verdict}</p>',
            f"<p>Mode: <b>{escape(str(mode))}</b> · Date: {escape(str(date))}</p>"]
    html += [f"<p><b>{escape(str(k))}</b>: {escape(str(v))}</p>"
             for k, v in report.get("intro", [])]
    if lmm or not (diag or glmm or any(c.get("kind") == "inference" for c in cases)):
        html += ["<h2>Summary: worst relative error per case and quantity</h2>",
                 '<p class="note">Green: within tolerance; red: fails and gates the verdict; '
                 "grey: not gating (exempted optimum block). Hover a cell for the absolute "
                 "error and tolerance. A quantity passes when every element satisfies |py − r| "
                 "≤ atol + rtol·|r|, so a relative error above rtol can still pass through "
                 "atol.</p>", _summary(lmm, names), "<h2>Relative error per quantity</h2>"]
        if names:
            html += [f'<div style="overflow-x:auto">{_plot([c for _, c in lmm], names)}</div>',
                     '<p class="note">One dot per case (jittered horizontally; hover for the '
                     "case); blue ticks: the quantity's rtol where it is the same for every "
                     "case (none where rtol is 0, i.e. absolute tolerance only); hollow dots on "
                     "the bottom line: exactly zero; non-finite errors are drawn on the top "
                     "edge.</p>"]
        else:
            html.append("<p>No quantities to plot.</p>")
    if glmm:
        gnames = _quantity_names([c for _, c in glmm])
        html += ["<h2>GLMMs (lme4::glmer): worst relative error per case and quantity</h2>",
                 '<p class="note">*_at_r_theta: interlace evaluated at lme4\'s (θ̂, β̂) from '
                 "lme4's PIRLS start; the rest: interlace.glmer's own fit (stage 1 minqa's "
                 "BOBYQA, stage 2 lme4's Nelder–Mead). se: from the finite-difference "
                 "Hessian, as lme4's vcov(); se_rx: from RX (use.hessian = FALSE). Green: "
                 "within tolerance; red: fails and gates the verdict; grey: exempted.</p>",
                 _summary(glmm, gnames)]
        if gnames:
            html.append(f'<div style="overflow-x:auto">'
                        f'{_plot([c for _, c in glmm], gnames)}</div>')
    inf = [(i, c) for i, c in enumerate(cases) if c.get("kind") == "inference"]
    if inf:
        inames = _quantity_names([c for _, c in inf])
        html += ["<h2>Inference (lmerTest, pbkrtest, lme4's anova, simulate, bootMer, GLMM "
                 "profile): worst relative error per entry and quantity</h2>",
                 '<p class="note">One entry per reference fixture. *_at_r_theta: interlace at '
                 "lme4's θ̂ (exact arithmetic on both sides, except Satterthwaite's df, "
                 "numerical derivatives on both); the rest from our own fits or refits. "
                 "Bootstrap replicates: our criterion no worse than R's; every other "
                 "statistic within twice R's own refit floor (R's default against "
                 "tight-tolerance refits of the same responses). glmm_profile_*_at_r_"
                 "parameters is exact; its other quantities come from our fit (a relative "
                 "error near a bound of 0 is compared absolutely). Hover a cell for the "
                 "absolute error and the tolerance.</p>", _summary(inf, inames)]
    lmm_diag = [(i, c) for i, c in diag if c.get("model_kind") != "glmm"]
    glmm_diag = [(i, c) for i, c in diag if c.get("model_kind") == "glmm"]
    if lmm_diag:
        html += _diagnostics_section(lmm_diag, list(cooks_conventions))
    if glmm_diag:
        html += _diagnostics_section(glmm_diag, [], glmm=True)
    if report.get("robustness"):
        html += _robustness_section(report["robustness"])
    html.append("<h2>Cases</h2>")
    html += [_detail(i, c) for i, c in enumerate(cases)]
    html.append("<h2>Environment</h2>" + _table(["key", "value"], [
        [f"<td>{escape(str(k))}</td>", f"<td>{escape('—' if v is None else str(v))}</td>"]
        for k, v in env.items()]))
    html.append("<h2>Appendix: tolerance classes</h2><dl>" + "".join(
        f"<dt><b>{escape(k)}</b></dt><dd>{escape(v)}</dd>" for k, v in class_reasons.items())
        + "</dl>")
    html.append("<h2>Appendix: known convention differences</h2>" + ("<dl>" + "".join(
        f"<dt><b>{escape(t)}</b></dt><dd>{escape(e)}</dd>" for t, e in conventions) + "</dl>"
        if conventions else "<p>None recorded.</p>"))
    return "\n".join(html) + "\n</body></html>\n"


def write_html(report: dict, class_reasons: dict[str, str],
               conventions: list[tuple[str, str]], path: str | Path,
               cooks_conventions: list[tuple[str, str]] = ()) -> Path:
    """Write :func:`render_html` to ``path`` (parents created); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report, class_reasons, conventions, cooks_conventions),
                    encoding="utf-8")
    return path
