"""Text summary of a fit laid out like lme4's ``summary(lmerModLmerTest)``."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _fmt(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}g}" if np.isfinite(x) else "NA"


def _signif_stars(p: float) -> str:
    for cut, s in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return s
    return " "


def _format_p(p: float) -> str:
    return "< 2e-16" if p < 2e-16 else f"{p:.3g}"


class Summary:
    """Renders a :class:`CrossedLMEResult` as lme4 prints it; ``str()`` gives the text."""

    def __init__(self, result):
        self.result = result

    def _header(self) -> list[str]:
        r = self.result
        crit = "REML criterion at convergence" if r.method == "REML" else None
        lines = [
            f"Linear mixed model fit by {'REML' if r.method == 'REML' else 'maximum likelihood'}."
            " t-tests use Satterthwaite's method",
            f"Formula: {r.formula}",
            "",
        ]
        if crit:
            lines.append(f"{crit}: {r.objective:.1f}")
        else:
            lines.append(f"{'AIC':>9}{'BIC':>9}{'logLik':>9}{'deviance':>9}{'df.resid':>9}")
            lines.append(f"{r.aic:>9.1f}{r.bic:>9.1f}{r.llf:>9.1f}{-2 * r.llf:>9.1f}"
                         f"{r.nobs - r.nparams:>9d}")
        lines.append("")
        w = r._design.weights
        scaled = r.resid / r.sigma * (1.0 if w is None else np.sqrt(w))
        q = np.quantile(scaled, [0, 0.25, 0.5, 0.75, 1.0])
        lines.append("Scaled residuals: ")
        lines.append("".join(f"{h:>9}" for h in ("Min", "1Q", "Median", "3Q", "Max")))
        lines.append("".join(f"{v:>9.4f}" for v in q))
        return lines

    def _random(self) -> list[str]:
        r = self.result
        vc = r.varcorr
        lines = ["", "Random effects:"]
        rows = []
        for t in r._layout.terms:
            sub = vc[(vc.grp == t.group) & vc.var1.isin(t.col_names)]
            var = sub[sub.var2.isna()]
            cor = sub[sub.var2.notna()]
            for i, row in enumerate(var.itertuples()):
                corr = [
                    _fmt(float(c.sdcor), 2)
                    for c in cor.itertuples() if c.var2 == row.var1
                ]
                rows.append((t.group if i == 0 else "", row.var1, _fmt(row.vcov), _fmt(row.sdcor),
                             " ".join(corr)))
        rows.append(("Residual", "", _fmt(r.scale), _fmt(r.sigma), ""))
        table = pd.DataFrame(rows, columns=["Groups", "Name", "Variance", "Std.Dev.", "Corr"])
        if not any(table["Corr"]):
            table = table.drop(columns="Corr")
        lines.extend(" " + ln for ln in table.to_string(index=False).splitlines())
        ng = ", ".join(f"{g}, {n}" for g, n in r.ngroups.items())
        lines.append(f"Number of obs: {r.nobs}, groups:  {ng}")
        return lines

    def _fixed(self) -> list[str]:
        r = self.result
        tab = pd.DataFrame({
            "Estimate": r.fe_params, "Std. Error": r.fe_bse, "df": r.fe_df,
            "t value": r.fe_tvalues,
        })
        p = r.fe_pvalues
        out = tab.map(lambda v: f"{v:.4g}")
        out["Pr(>|t|)"] = [_format_p(v) for v in p]
        out[""] = [_signif_stars(v) for v in p]
        lines = ["", "Fixed effects:"]
        lines.extend(out.to_string().splitlines())
        lines.append("---")
        lines.append("Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
        if len(r.fe_params) > 1:
            se = r.fe_bse.to_numpy()
            corr = r.fe_cov / np.outer(se, se)
            names = list(r.fe_params.index)
            short = [n[:6] for n in names]
            lines.extend(["", "Correlation of Fixed Effects:"])
            body = pd.DataFrame(
                [[f"{corr[i, j]:.3f}" if j < i else "" for j in range(len(names) - 1)]
                 for i in range(1, len(names))],
                index=names[1:], columns=short[:-1],
            )
            lines.extend(body.to_string().splitlines())
        return lines

    def _footer(self) -> list[str]:
        r = self.result
        out = []
        for msg in r.conv_messages:
            out.append(msg if msg.startswith("optimizer") else f"convergence message: {msg}")
        return [""] + out if out else []

    def __str__(self) -> str:
        return "\n".join(self._header() + self._random() + self._fixed() + self._footer())

    def __repr__(self) -> str:
        return str(self)

    def as_text(self) -> str:
        """The summary as a string."""
        return str(self)
