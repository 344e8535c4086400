"""One figure of each kind interlace.plot draws, on lme4's sleepstudy model
``Reaction ~ Days + (Days | Subject)``, written to docs/figures/ (run from the checkout:
``python examples/plot_gallery.py``)."""

from __future__ import annotations

import warnings
from pathlib import Path

from parity.data import load_dataset

import interlace
from interlace import plot

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    data = load_dataset("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = interlace.fit("Reaction ~ Days + (Days | Subject)", data)
        figures = {
            "resid_fitted": plot.resid_fitted(res),
            "qq_residuals": plot.qq(res),
            "qq_ranef": plot.qq(res, which="ranef"),
            "caterpillar": plot.caterpillar(res),
            "influence_index_cooksd": plot.influence_index(interlace.hlm_influence(res),
                                                           "cooksd"),
            "profile_zeta": plot.profile_zeta(res.profile()),
            "dfbetas_heatmap": plot.dfbetas_heatmap(
                interlace.influence(res, groups="Subject").dfbetas()),
        }
    for name, fig in figures.items():
        fig.savefig(OUT / f"{name}.png", dpi=80)
        print(OUT / f"{name}.png")


if __name__ == "__main__":
    main()
