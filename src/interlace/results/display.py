"""Text summary of a fit laid out like lme4's ``summary(lmerModLmerTest)``."""

from __future__ import annotations

import numpy as np

from interlace.errors import InterlaceError
from interlace.results.rformat import abbreviate, format_num, print_matrix


class Summary:
    """Renders a :class:`CrossedLMEResult` as lme4 prints it; ``str()`` gives the text."""

    #: lmerTest's ``summary(m, ddf = ...)`` choices and the words of its title
    DDF = {"Satterthwaite": "Satterthwaite's", "Kenward-Roger": "Kenward-Roger's", "lme4": None}

    def __init__(self, result, correlation: bool | None = None, ddf: str = "Satterthwaite"):
        if ddf not in self.DDF:
            raise InterlaceError(f"ddf must be one of {', '.join(map(repr, self.DDF))}, not "
                                 f"{ddf!r}")
        self.result, self.ddf = result, ddf
        #: as lme4: the fixed-effects correlations are shown when p ≤ COR_MAX unless asked
        #: (lmerTest's print then says nothing about them, and neither do we)
        self.correlation = correlation

    def _header(self) -> list[str]:
        r = self.result
        crit = "REML criterion at convergence" if r.method == "REML" else None
        title = ("Linear mixed model fit by "
                 + ("REML" if r.method == "REML" else "maximum likelihood "))
        method = self.DDF[self.ddf]
        if method is None:
            lines = title_lines(title, "lmerMod")
        else:
            lines = title_lines(f"{title}. t-tests use {method} method", "lmerModLmerTest")
        lines.append(f"Formula: {r.formula}")
        for key, label in (("weights", "Weights"), ("offset", "Offset")):  # lme4's .prt.call
            arg = r._fit_kwargs.get(key)
            if isinstance(arg, str):  # a column's name (R deparses the call's expression)
                lines.append(f"{label}: {arg}")
        lines.append("")
        if crit:
            lines.append(f"{crit}: {format_num([round(r.objective, 1)], 7)[0].strip()}")
        else:
            lines.extend(aictab_lines(r))
        lines.append("")
        w = r._design.weights
        lines.extend(scaled_residual_lines(r.resid / r.sigma
                                           * (1.0 if w is None else np.sqrt(w))))
        return lines

    def _random(self) -> list[str]:
        r = self.result
        lines = ["", "Random effects:"]
        lines.extend(varcorr_lines(r._layout, r.theta, r.sigma))
        ng = "; ".join(f"{g}, {n}" for g, n in r.ngroups.items())
        lines.append(f"Number of obs: {r.nobs}, groups:  {ng}")
        return lines

    def _fixed(self) -> list[str]:
        r = self.result
        lines = ["", "Fixed effects:"]
        tab = r.coef_table(self.ddf)
        lines.extend(coef_lines(list(tab.index), tab.to_numpy(), columns=tuple(tab.columns)))
        lines.extend(self._correlation())
        return lines

    def _correlation(self) -> list[str]:
        r = self.result
        p = len(r.fe_params)
        show = p <= COR_MAX if self.correlation is None else self.correlation
        if p <= 1 or not show:
            return []
        se = r.fe_bse.to_numpy()
        corr = r.fe_cov / np.outer(se, se)
        return ["", "Correlation of Fixed Effects:",
                *correlation_lines(list(r.fe_params.index), corr)]

    def _footer(self) -> list[str]:
        """lme4's ``.prt.warn`` in a summary: with any convergence message, the optimizer's
        code line, the messages, and an empty line (lme4 calls NLopt's BOBYQA
        ``nloptwrap``)."""
        r = self.result
        msgs = list(r.conv_messages)
        converged = getattr(r.optinfo, "converged", True)
        if not msgs and converged:
            return []
        name = r._fit_kwargs.get("optimizer", "bobyqa")
        name = name if isinstance(name, str) else r.optinfo.optimizer  # a user's callable
        name = "nloptwrap" if name == "bobyqa" else name
        status = "0 (OK)" if converged else f"1 ({r.optinfo.message})"
        return [f"optimizer ({name}) convergence code: {status}",
                *"\n".join(msgs).split("\n"), ""]

    def __str__(self) -> str:
        return "\n".join(self._header() + self._random() + self._fixed() + self._footer())

    def __repr__(self) -> str:
        return str(self)

    def as_text(self) -> str:
        """The summary as a string."""
        return str(self)


class GlmmSummary(Summary):
    """Renders a :class:`~interlace.results.glmm.GlmmResult` as lme4's
    ``summary(glmerMod)`` prints it (without the call-specific ``Data:`` line)."""

    def _header(self) -> list[str]:
        r = self.result
        how = ("(Laplace Approximation)" if r.nAGQ == 1 else
               f"(Adaptive Gauss-Hermite Quadrature, nAGQ = {r.nAGQ})")
        lines = title_lines(f"Generalized linear mixed model fit by maximum likelihood {how}",
                            "glmerMod")
        lines += [f" Family: {r.family.name}  ( {r.family.link.name} )",
                  f"Formula: {r.formula}", ""]
        lines += aictab_lines(r)
        lines.append("")
        lines += scaled_residual_lines(r.resid("pearson") / r.sigma)
        return lines

    def _random(self) -> list[str]:
        r = self.result
        lines = ["", "Random effects:"]
        lines.extend(varcorr_lines(r._layout, r.theta, r.sigma, residual=r.has_residual))
        ng = "; ".join(f"{g}, {n}" for g, n in r.ngroups.items())
        lines.append(f"Number of obs: {r.nobs}, groups:  {ng}")
        return lines

    def _fixed(self) -> list[str]:
        r = self.result
        stat = "t value" if r.has_residual else "z value"
        lines = ["", "Fixed effects:"]
        lines.extend(coef_lines(list(r.fe_params.index), np.column_stack([
            r.fe_params, r.fe_bse, r.fe_tvalues, r.fe_pvalues]),
            columns=("Estimate", "Std. Error", stat, "Pr(>|z|)")))
        lines.extend(self._correlation())
        return lines

    def _footer(self) -> list[str]:
        """lme4's ``.prt.warn``: the optimizer's code and the convergence messages."""
        r = self.result
        msgs, warned = list(r.conv_messages), list(r.optimizer_warnings)
        code = 4 if any(m.startswith("failure to converge") for m in warned) else 0
        if not (code or msgs or warned):
            return []
        out = [f"optimizer (Nelder_Mead) convergence code: {code} "
               f"({'OK' if code == 0 else r.optinfo.message}) "]
        if msgs:
            out += (("\n".join(msgs)) + " ").split("\n")
        if warned:
            out += (("\n".join(warned)) + " ").split("\n")
        return out


#: R's default ``getOption("width")``
R_WIDTH = 80
#: lme4's ``getOption("lme4.summary.cor.max")``
COR_MAX = 12


def correlation_lines(names: list[str], corr: np.ndarray) -> list[str]:
    """lme4's "Correlation of Fixed Effects" block, character for character.

    As ``print.summary.merMod``: entries ``format(round(r, 3), nsmall = 3)`` (one common
    width), rows named ``abbreviate(names, 11)``, columns ``abbreviate(names, 6)``, the
    lower triangle only without the first row and last column, printed left-justified
    as R prints a character matrix with ``quote = FALSE``.
    """
    p = len(names)
    cell = np.array(format_num(np.round(corr, 3).ravel(), digits=7, nsmall=3)).reshape(p, p)
    body = [[cell[i, j] if j < i else "" for j in range(p - 1)] for i in range(1, p)]
    return print_matrix(abbreviate(names, 6)[:-1], body, abbreviate(names, 11)[1:],
                        width=R_WIDTH)


def varcorr_lines(layout, theta: np.ndarray, sigma: float, digits: int = 4,
                  residual: bool = True) -> list[str]:
    """lme4's "Random effects" table character for character (``formatVC`` + print).

    As lme4's ``formatVC`` with ``print.summary.merMod``'s ``digits = 4``: variances and
    standard deviations each in one R ``format(x, digits)``; per term its correlations
    ``format(round(C, 2), nsmall = 2)``, lower triangle, padded to the largest term and
    without its last column; then R's left-justified print of a character matrix.
    """
    covs = layout.covariances(theta, sigma)
    names = layout.unique_groups()
    groups, terms, sds, corr_rows = [], [], [], []
    width = max(len(t.col_names) for t in layout.terms)
    for g, t, cov in zip(names, layout.terms, covs, strict=True):
        sd = np.sqrt(np.diag(cov))
        k = len(sd)
        groups += [g] + [""] * (k - 1)
        terms += list(t.col_names)
        sds += sd.tolist()
        with np.errstate(invalid="ignore", divide="ignore"):
            c = cov / np.outer(sd, sd)
        np.fill_diagonal(c, 1.0)
        cells = format_num(np.round(c, 2).ravel(), digits=7, nsmall=2)
        cells = np.array(cells).reshape(k, k)
        corr_rows += [[cells[i, j] if j < i else "" for j in range(width)][:width - 1]
                      for i in range(k)]
    if residual:
        groups.append("Residual")
        terms.append("")
        sds.append(float(sigma))
        corr_rows.append([""] * (width - 1))
    cols = {"Groups": groups, "Name": terms,
            "Variance": format_num([x * x for x in sds], digits),
            "Std.Dev.": format_num(sds, digits)}
    header = list(cols) + ["Corr"] + [""] * (width - 2)
    body = [list(row) for row in zip(*cols.values(), strict=True)]
    body = [b + c for b, c in zip(body, corr_rows, strict=True)]
    return print_matrix(header[:len(body[0])], body)


COEF_COLUMNS = ("Estimate", "Std. Error", "df", "t value", "Pr(>|t|)")
SIGNIF_LEGEND = "Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1"


def coef_lines(names: list[str], xm: np.ndarray, digits: int = 4,
               columns: tuple[str, ...] = COEF_COLUMNS) -> list[str]:
    """A coefficient table as R's ``printCoefmat`` prints it (lme4's digits = 4).

    ``xm`` holds the coefficient columns (Estimate, Std. Error and, for lmerTest, df),
    then the test statistic and the P value.  The coefficient columns are rounded
    together to ``digits − ⌊log10 min|x|⌋ − 1`` decimals and formatted as one; the
    statistic rounded to 3 decimals; P values by ``format.pval(digits = 3)``; stars from
    ``symnum`` when some p < 0.1, then the legend.  Right-justified columns, as R's
    ``print.default(right = TRUE)``.
    """
    n, ncol = xm.shape
    has_p = columns[-1].startswith("Pr(")  # printCoefmat's has.Pvalue
    k = ncol - 2 if has_p else ncol - 1  # coefficient columns
    dig_tst = max(1, min(5, digits - 1))
    cs = xm[:, :k]
    acs = np.abs(cs[np.isfinite(cs) & (cs != 0)])
    digmin = 1 + (np.floor(np.log10([acs.min(), acs.max()])) if acs.size else np.zeros(2))
    dec = int(max(1, digits - digmin[0], digits - digmin[1]))
    cells = np.array(format_num([round(float(v), dec) for v in cs.ravel()], digits),
                     dtype=object).reshape(n, k)
    zero = [(i, j) for i in range(n) for j in range(k)
            if cs[i, j] != 0 and float(cells[i, j]) == 0]
    if zero:  # printCoefmat re-formats entries that would print as 0 with one digit fewer
        redo = format_num([cs[i, j] for i, j in zero], max(1, digits - 1))
        for (i, j), txt in zip(zero, redo, strict=True):
            cells[i, j] = txt
    tvals = format_num([round(float(v), dig_tst) for v in xm[:, k]], digits)
    cols = [*(list(cells[:, j]) for j in range(k)), tvals]
    header = list(columns)
    pv = xm[:, k + 1] if has_p else np.array([])
    if has_p:
        cols.append(format_pval(pv, dig_tst))
    stars = bool(np.any(pv[np.isfinite(pv)] < 0.1))
    if stars:
        sym = [next((s for cut, s in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, "."))
                     if p < cut), " ") for p in pv]
        w = max(len(x) for x in sym)
        cols.append([x.ljust(w) for x in sym])
        header.append("")
    out = print_matrix(header, [list(r) for r in zip(*cols, strict=True)], names, right=True)
    if stars:
        out += ["---", SIGNIF_LEGEND]
    return out


def format_pval(pv: np.ndarray, digits: int, eps: float = 2.220446049250313e-16) -> list[str]:
    """R's ``format.pval(pv, digits, eps = .Machine$double.eps)``."""
    pv = np.asarray(pv, dtype=float)
    is0 = pv < eps
    out = [""] * len(pv)
    rest = [i for i in range(len(pv)) if not is0[i]]
    rr: list[str] = []
    if rest:
        vals = pv[rest]
        expo = np.floor(np.log10(np.where(vals > 0, vals, 1e-50)))
        fixp = (expo >= -3) | ((expo == -4) & (digits > 1))  # R 4.2's rule
        rr = [""] * len(rest)
        for mask in (fixp, ~fixp):
            idx = np.flatnonzero(mask)
            if idx.size:
                for k, txt in zip(idx, format_num(vals[idx], digits), strict=True):
                    rr[k] = txt
        for k, i in enumerate(rest):
            out[i] = rr[k]
    if is0.any():
        d = max(1, digits - 2)
        if rest:
            nc = max(len(x) for x in rr)
            if d > 1 and d + 6 > nc:
                d = max(1, nc - 7)
            sep = "" if d == 1 and nc <= 6 else " "
        else:
            sep = "" if d == 1 else " "
        txt = "<" + sep + format_num([eps], d)[0]
        for i in np.flatnonzero(is0):
            out[i] = txt
    return out


def aictab_lines(r) -> list[str]:
    """lme4's ``.prt.aictab``: AIC, BIC, logLik, deviance (−2 logLik), df.resid, each
    rounded to 1 decimal, the first four formatted together and df.resid alone."""
    t4 = [round(float(v), 1) for v in (r.aic, r.bic, r.llf, -2 * r.llf, r.nobs - r.nparams)]
    vals = format_num(t4)[:4] + format_num(t4[4:])
    return named_vector_lines(["AIC", "BIC", "logLik", "deviance", "df.resid"], vals)


def scaled_residual_lines(scaled: np.ndarray) -> list[str]:
    """lme4's ``.prt.resids``: quantiles (R's type 7), R 4.2's ``zapsmall(q, 5)``
    (round to 5 − log10 max|q| decimals) and the print of a named vector."""
    q = np.quantile(scaled, [0, 0.25, 0.5, 0.75, 1.0])
    mx = float(np.max(np.abs(q)))
    dec = max(0, int(np.floor(5 - np.log10(mx) + 0.5))) if mx > 0 else 5  # R rounds digits
    q = [round(float(v), dec) for v in q]
    return ["Scaled residuals: ", *named_vector_lines(["Min", "1Q", "Median", "3Q", "Max"],
                                                      format_num(q, 4))]


def title_lines(title: str, cls: str) -> list[str]:
    """lme4's ``.prt.methTit``: the title and ``[class]``, wrapped as R's ``strwrap``
    (width 78, exdent 2) then ``cat(fill = TRUE)`` at width 80 wrap them."""
    if len(title) + 5 + len(cls) <= R_WIDTH:
        return [f"{title} ['{cls}']"]
    words, wrapped, cur = title.split(), [], ""
    for word in words:  # strwrap: lines shorter than the width
        cand = word if not cur else f"{cur} {word}"
        if len(cand) < R_WIDTH - 2 or not cur:
            cur = cand
        else:
            wrapped.append(cur)
            cur = "  " + word
    wrapped.append(cur)
    lines, line = [], ""
    for item in [*wrapped, " [", cls, "]"]:  # cat(..., sep = "", fill = TRUE)
        if line and len(line) + len(item) > R_WIDTH:
            lines.append(line)
            line = ""
        line += item
    return [*lines, line]


def named_vector_lines(names: list[str], cells: list[str]) -> list[str]:
    """R's print of a named vector (fits on one line): names over values, all
    right-justified to one common width, each followed by one space."""
    w = max(len(x) for x in [*names, *cells])
    return ["".join(n.rjust(w) + " " for n in names),
            "".join(c.strip().rjust(w) + " " for c in cells)]
