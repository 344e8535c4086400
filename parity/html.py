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
from statistics import NormalDist

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
td.none{background:#fff}td.na{background:#d0d7de;color:#1f2328}
table.matrix td .abs{font-size:10px;opacity:.9}
table.matrix td.tol{background:#f6f8fa;color:#1f2328;font-size:10px}
.versions{font-size:13px;background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;
 padding:.4em .8em}
table.matrix td.err{background:#ffebe9;color:#cf222e;text-align:left;white-space:normal}
details{border:1px solid #d0d7de;border-radius:6px;margin:.4em 0;padding:.3em .8em}
summary{cursor:pointer;font-weight:600}.note{color:#59636e;font-size:12px}
svg text{font:12px system-ui,sans-serif;fill:#1f2328}
"""


KINDS = (("lmm", "LMM cases"), ("glmm", "GLMM cases"), ("diagnostics", "diagnostics entries"),
         ("inference", "inference entries"))


def verdict_counts(cases: list[dict]) -> list[tuple[str, int, int]]:
    """(label, passed, total) per kind of entry present (model cases and diagnostics and
    inference entries are counted apart)."""
    out = []
    for kind, label in KINDS:
        these = [c for c in cases if c.get("kind", "lmm") == kind]
        if these:
            out.append((label, sum(bool(c["passed"]) for c in these), len(these)))
    return out


def verdict_text(cases: list[dict]) -> str:
    """"36 of 36 LMM cases pass · 15 of 15 diagnostics entries pass" (per kind)."""
    return " · ".join(f"{p} of {n} {label} pass" for label, p, n in verdict_counts(cases)) \
        or "no cases"


def _num(x, fmt: str = ".1e") -> str:
    """Short scientific notation; exact zero as ``0``; None as a dash."""
    if x is None:
        return "—"
    x = float(x)
    return "0" if x == 0 else format(x, fmt)


def _status(q: dict) -> str:
    """CSS class of a quantity: ``na`` (nothing compared, not gating), ``exempt`` (not
    gating), ``pass`` or ``fail`` (a gating quantity with nothing compared fails)."""
    if not q.get("gating", True):
        return "na" if q["n"] == 0 else "exempt"
    return "pass" if q["passed"] else "fail"


RESULT_TEXT = {"pass": "pass", "fail": "FAIL", "exempt": "exempt", "na": "n/a"}


def _cell_text(q: dict, metric: str) -> str:
    """A matrix cell: the worst error in ``metric``; when an absolute tolerance carried a
    relative error above rtol, the absolute error beside it (a "1e+00" there is a tiny
    number compared with a tiny reference, not a 100 % error)."""
    text = _num(q.get(metric, q["max_rel_err"]), ".0e")
    if q["n"] == 0:
        return "n/a"
    if q.get("binding") == "atol" and q["max_rel_err"] > q["rtol"] and metric == "max_rel_err":
        text += f'<br><span class="abs">abs {_num(q["max_abs_err"], ".0e")}</span>'
    return text


def binding_text(q: dict) -> str:
    """Which tolerance term bound the comparison, and how much of it the error used."""
    b = q.get("binding", "")
    if not b:
        return "—"
    if b == "none":
        return "equality"
    if b == "n/a":
        return "n/a"
    return f"{b} ({_num(q.get('tol_used'), '.1e')})" if q.get("tol_used") is not None else b


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
                   f"{_num(q['atol'], '.2e')} + rtol {_num(q['rtol'], '.0e')}·|r|, bound by "
                   f"{binding_text(q)}"
                   + (f"; max err / max|R| {_num(q['max_err_to_scale'], '.3e')} (bound "
                      f"{_num(q.get('tol_to_scale'), '.1e')})" if "max_err_to_scale" in q
                      else "")
                   + ("" if q.get("gating", True) else " (not gating)"))
            cells.append(f'<td class="{_status(q)}" title="{escape(tip)}">'
                         f'{_cell_text(q, metric)}</td>')
        rows.append("".join(cells))
    rows += _tolerance_rows(cases, names, metric)
    body = "".join(f"<tr>{r}</tr>" for r in rows)
    return (f'<div style="overflow-x:auto"><table class="matrix"><thead><tr>{head}</tr></thead>'
            f'<tbody>{body}</tbody></table></div>')


def _span(values: list[float], fmt: str) -> str:
    """One value, or the range "lo–hi" of several."""
    vals = sorted(set(values))
    if not vals:
        return "·"
    lo, hi = _num(vals[0], fmt), _num(vals[-1], fmt)
    return lo if lo == hi else f"{lo}–{hi}"


def _tolerance_rows(cases: list[tuple[int, dict]], names: list[str], metric: str
                    ) -> list[str]:
    """Footer rows of a matrix: each quantity's tolerances over the cases (rtol, atol or,
    for scale-relative matrices, the bound) and how many cases an absolute tolerance
    bound."""
    qs = {n: [q for _, c in cases for q in c["quantities"] if q["name"] == n] for n in names}
    rows = []
    spec = ([("bound / max|R|", "tol_to_scale")] if metric == "max_err_to_scale" else
            [("rtol", "rtol"), ("atol", "atol")])
    for label, key in spec:
        rows.append(f'<td class="case" colspan="2">{escape(label)}</td>' + "".join(
            f'<td class="tol">{_span([q.get(key) or 0.0 for q in qs[n]], ".0e")}</td>'
            for n in names))
    rows.append('<td class="case" colspan="2">bound by atol (cases)</td>' + "".join(
        f'<td class="tol">{sum(q.get("binding") == "atol" for q in qs[n])}/{len(qs[n])}</td>'
        for n in names))
    return rows


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
    points = [(i, c, q) for i, c in enumerate(cases) for q in c["quantities"] if q["n"]]
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
        result = RESULT_TEXT[_status(q)]
        note = "; ".join(s for s in (q.get("why", ""),
                                     q.get("worst_key") and f"worst: {q['worst_key']}",
                                     q.get("missing") and f"missing: {', '.join(q['missing'])}")
                         if s)
        rows.append([f"<td>{escape(q['name'])}</td>", f'<td class="num">{q["n"]}</td>',
                     *(f'<td class="num">{_num(q.get(k), f)}</td>' for k, f in (
                         ("max_abs_err", ".3e"), ("max_rel_err", ".3e"),
                         *((("max_err_to_scale", ".3e"), ("tol_to_scale", ".1e")) if scaled
                           else ()), ("atol", ".2e"), ("rtol", ".0e"))),
                     f"<td>{escape(binding_text(q))}</td>",
                     f"<td>{escape(q['class'])}</td>",
                     f'<td class="{_status(q)}" style="color:#fff">{result}</td>',
                     f'<td class="note">{escape(note)}</td>'])
    if rows:
        parts.append(_table(["quantity", "n", "max abs err", "max rel err",
                             *(["err / max|R|", "bound"] if scaled else []), "atol", "rtol",
                             "bound by (err / bound)", "class", "result", "note"], rows))
    else:
        parts.append("<p class='bad'>No quantities were compared.</p>")
    if c.get("kind") == "diagnostics":
        parts.append(_entry_plots(c))
    if c.get("drift"):
        parts.append("<h4>Live R vs stored fixture</h4>" + _table(
            ["quantity", "n", "max diff / max|stored|", "max abs diff", "max rel diff",
             "missing"],
            [[f"<td>{escape(d['name'])}</td>", f'<td class="num">{d.get("n", "")}</td>',
              f'<td class="num">{_num(d.get("max_diff_to_scale"))}</td>',
              f'<td class="num">{_num(d["max_abs_diff"])}</td>',
              f'<td class="num">{_num(d["max_rel_diff"])}</td>',
              f"<td>{escape(missing_text(d))}</td>"] for d in c["drift"]]))
    return "".join(parts) + "</details>"


PANEL_W, PANEL_H = 250, 190


def _axes(lo: float, hi: float) -> tuple[float, float]:
    """A non-empty interval around [lo, hi] with 5 % margins."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return -1.0, 1.0
    if hi <= lo:
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    return lo - pad, hi + pad


def _panel(title: str, xs: list[float], ys: list[float], xlabel: str, ylabel: str,
           hlines: list[tuple[float, str, str]] = (), colours: list[str] | None = None,
           size: tuple[int, int] = (PANEL_W, PANEL_H)) -> str:
    """A small scatter plot (inline SVG) with horizontal reference lines (y, colour,
    dash pattern)."""
    width, height = size
    left, right, top, bottom = 62, 8, 22, 34
    pw, ph = width - left - right, height - top - bottom
    x0, x1 = _axes(min(xs, default=0.0), max(xs, default=1.0))
    yvals = [*ys, *(h[0] for h in hlines)]
    y0, y1 = _axes(min(yvals, default=0.0), max(yvals, default=1.0))

    def px(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * pw

    def py(v: float) -> float:
        return top + (y1 - v) / (y1 - y0) * ph

    chars = (width - left) // 6
    short = title if len(title) <= chars else title[:chars - 1] + "…"
    out = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'role="img" aria-label="{escape(title)}" style="font-size:10px">',
           f'<text x="{left}" y="13" style="font-size:10px;font-weight:600">'
           f'{escape(short)}<title>{escape(title)}</title></text>',
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" '
           'stroke="#57606a"/>']
    for v, colour, dash in hlines:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{py(v):.1f}" y2="{py(v):.1f}" '
                   f'stroke="{colour}" stroke-dasharray="{dash}"/>')
    by_colour: dict[str, list[str]] = {}
    for k, (xv, yv) in enumerate(zip(xs, ys, strict=True)):
        by_colour.setdefault(colours[k] if colours else "#0969da", []).append(
            f"M{px(xv):.1f} {py(yv):.1f}h0")
    for col, marks in by_colour.items():  # one path per colour: round dots, compact
        out.append(f'<path d="{"".join(marks)}" stroke="{col}" stroke-width="4" '
                   'stroke-linecap="round" stroke-opacity=".6" fill="none"/>')
    for v, anchor, x in ((x0, "start", left), (x1, "end", left + pw)):
        out.append(f'<text x="{x}" y="{top + ph + 12}" text-anchor="{anchor}" '
                   f'style="font-size:9px">{_num(v, ".2g")}</text>')
    for v in (y0, y1):
        out.append(f'<text x="{left - 3}" y="{py(v) + 3:.1f}" text-anchor="end" '
                   f'style="font-size:9px">{_num(v, ".2g")}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 4}" text-anchor="middle" '
               f'style="font-size:10px">{escape(xlabel)}</text>')
    out.append(f'<text transform="translate(11,{top + ph / 2}) rotate(-90)" '
               f'text-anchor="middle" style="font-size:10px">{escape(ylabel)}</text>')
    return "".join(out) + "</svg>"


def _bland_altman(q: dict) -> str:
    """Bland–Altman panel of one quantity: ours − R's against their mean, with the mean
    difference (solid) and ±1.96 SD limits of agreement (dashed)."""
    pts = q["points"]
    diffs = pts["diff"]
    mean = sum(diffs) / len(diffs)
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / max(len(diffs) - 1, 1))
    shown = "" if len(diffs) == pts["n"] else f", {len(diffs)} of {pts['n']} shown"
    return _panel(f"{q['name']} (n = {pts['n']}{shown})", pts["mean"], diffs,
                  "mean of ours and R's", "ours − R's",
                  [(0.0, "#8c959f", ""), (mean, "#0969da", ""),
                   (mean + 1.96 * sd, "#0969da", "4 3"), (mean - 1.96 * sd, "#0969da", "4 3")])


def _qq(title: str, series: list[tuple[list[float], str]], rtols: list[float] = (),
        size: tuple[int, int] = (PANEL_W, PANEL_H)) -> str:
    """Normal Q–Q panel of log10 relative errors pooled over ``series`` ((values, colour));
    exact zeros at log10 = −17; horizontal dashed lines at the ``rtols``."""
    vals = sorted((max(math.log10(v), FLOOR) if v > 0 else FLOOR, col)
                  for vs, col in series for v in vs if v is not None and math.isfinite(v))
    n = len(vals)
    nd = NormalDist()
    xs = [nd.inv_cdf((k + 0.5) / n) for k in range(n)]
    return _panel(f"{title} (n = {n})", xs, [v for v, _ in vals], "normal quantile",
                  "log10 relative error",
                  [(math.log10(r), "#cf222e", "4 3") for r in sorted(set(rtols)) if r > 0],
                  [c for _, c in vals], size)


def _entry_plots(c: dict) -> str:
    """A diagnostics entry's Bland–Altman panels (one per quantity with element pairs) and
    the Q–Q of its relative errors (at lme4's θ̂ in blue, from our fits in orange)."""
    qs = [q for q in c["quantities"] if q.get("points") and q["points"]["diff"]]
    if not qs:
        return ""
    at_r = [q["points"]["rel"] for q in qs if q["name"].endswith("_at_r_theta")]
    ours = [q["points"]["rel"] for q in qs if not q["name"].endswith("_at_r_theta")]
    series = [(v, "#0969da") for v in at_r] + [(v, "#bc4c00") for v in ours]
    panels = [_qq("relative errors, all quantities", series)] + [_bland_altman(q) for q in qs]
    return ("<h4>Bland–Altman (ours − R's against the mean) and Q–Q of relative errors</h4>"
            '<p class="note">Q–Q: blue at lme4\'s θ̂, orange from our own fits; exact zeros on '
            "the bottom edge. Bland–Altman: solid blue the mean difference, dashed ±1.96 SD, "
            "grey 0.</p>"
            f'<div style="display:flex;flex-wrap:wrap;gap:6px">{"".join(panels)}</div>')


def _section_qq(cases: list[tuple[int, dict]]) -> str:
    """Q–Q of every diagnostics element's relative error, at lme4's θ̂ and from our fits."""
    at_r, ours = [], []
    for _, c in cases:
        for q in c["quantities"]:
            if q.get("points"):
                (at_r if q["name"].endswith("_at_r_theta") else ours).extend(q["points"]["rel"])
    if not at_r and not ours:
        return ""
    return ('<div style="display:flex;flex-wrap:wrap;gap:12px">'
            + _qq("at lme4's θ̂ (exact arithmetic)", [(at_r, "#0969da")], [1e-8], (480, 320))
            + _qq("from our own fits and refits", [(ours, "#bc4c00")], (), (480, 320))
            + "</div>")


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
    qq = _section_qq(cases)
    if qq:
        out += [f"<h2>{what}: Q–Q of the element-wise relative errors</h2>",
                '<p class="note">Every compared element of every entry (up to 200 per '
                "quantity: the quarter with the largest differences and an even sample of "
                "the rest), log10 |ours − R's| / |R's| against normal quantiles; exact zeros "
                "on the bottom edge (−17); dashed red: rtol 1e-8 of the exact block (elements "
                "above it pass through their scale-relative absolute tolerance). Each "
                "entry's Bland–Altman plots are in its details under Cases.</p>", qq]
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


VERSION_KEYS = (("R", "R"), ("lme4", "lme4"), ("lmerTest", "lmerTest"),
                ("pbkrtest", "pbkrtest"), ("Matrix", "Matrix"), ("HLMdiag", "HLMdiag"),
                ("python", "Python"), ("numpy", "numpy"), ("scipy", "SciPy"),
                ("blas", "BLAS"), ("interlace", "interlace"))


def _versions(env: dict) -> str:
    """The versions on both sides, for the top of the page (the full manifest is at the
    end)."""
    items = [f"<b>{escape(label)}</b> {escape(str(env[k]))}" for k, label in VERSION_KEYS
             if env.get(k)]
    stored = (f"<br>stored fixtures: {escape(str(env['stored_fixtures']))}"
              if env.get("stored_fixtures") else "")
    return f'<p class="versions">{" · ".join(items)}{stored}</p>' if items else ""


def _drift_section(cases: list[dict], mode: str) -> list[str]:
    """Live R against the stored fixtures, per case and quantity (reported, not gating):
    the largest difference over the quantity's largest stored |value| and the
    element-wise ones."""
    out = ["<h2>Drift: live R against the stored fixtures</h2>"]
    with_drift = [c for c in cases if "drift" in c]
    if not with_drift:
        out.append("<p>Not measured: this run compared against the stored fixtures only "
                   f"(mode: {escape(str(mode))}); a live run re-computes R's side now and "
                   "reports here how far it moved from the stored numbers.</p>")
        return out
    rows = []
    for c in with_drift:
        for d in c["drift"]:
            if not d.get("missing") and not d.get("max_abs_diff"):
                continue
            rows.append([f"<td>{escape(c['case'])}</td>", f"<td>{escape(d['name'])}</td>",
                         f'<td class="num">{d.get("n", "")}</td>',
                         f'<td class="num">{_num(d.get("max_diff_to_scale"), ".1e")}</td>',
                         f'<td class="num">{_num(d["max_abs_diff"], ".1e")}</td>',
                         f'<td class="num">{_num(d["max_rel_diff"], ".1e")}</td>',
                         f"<td>{escape(missing_text(d))}</td>"])
    n_q = sum(len(c["drift"]) for c in with_drift)
    out.append(f'<p class="note">{len(with_drift)} entries re-computed by live R, {n_q} '
               "quantities; listed: those whose numbers moved or are missing on one side. "
               "Drift is R's own run-to-run difference (its BLAS, optimizer paths, random "
               "numbers); it is reported, not gated: each entry is certified against the "
               "live numbers.</p>")
    out.append(_table(["case", "quantity", "n", "max diff / max|stored|", "max abs diff",
                       "max rel diff", "missing"], rows) if rows else
               "<p>None: live R reproduces every stored number exactly.</p>")
    return out


def missing_text(d: dict) -> str:
    """A drift row's missing keys, said in words."""
    m = d.get("missing") or ""
    if m in ("live", "stored"):
        return f"the whole quantity is missing from the {m} side"
    return f"keys on one side only: {m}" if m else ""


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
    verdict = verdict_text(cases)
    if robust:
        verdict += f" · {n_robust} of {len(robust)} bad inputs behave as catalogued"
    title = escape(str(report.get("title", "interlace ↔ lme4 parity")))
    html = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
            f"<title>{title}</title>", f"<style>{CSS}</style></head><body>",
            f"<h1>{title}</h1>",
            f'<p class="verdict {ok}">{escape(verdict)}</p>',
            f"<p>Mode: <b>{escape(str(mode))}</b> · Date: {escape(str(date))}</p>",
            _versions(env)]
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
    html += _drift_section(cases, mode)
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
