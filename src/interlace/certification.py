"""``interlace.certify``: certify a fit made in Python against lme4 run now through rpy2.

A thin entry point.  The comparison itself is the parity harness's (``parity.certify.
certify_result``: the catalog's comparisons at lme4's θ̂ and at this fit's optimum, its
tolerance classes, lme4's own floor and its report object).  The package never imports the
harness, which sits above it in the data flow; the harness registers its certifier under
the ``interlace.certify`` entry-point group (``pyproject.toml``) and this function looks it
up there.  The harness, its R scripts and the catalog's fixtures come with a checkout of
the repository installed in place (``pip install -e '.[r]'``), with R, lme4 and rpy2.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from interlace.errors import InterlaceError

GROUP = "interlace.certify"  #: the entry-point group a certifier registers under
NAME = "lme4"  #: the certifier against lme4 / glmer (the parity harness's)

HOW = ("interlace.certify needs interlace's parity harness, installed from a checkout of "
       "the repository (git clone …; pip install -e '.[r]'), and R with lme4 (Debian: "
       "apt-get install r-base-core r-cran-lme4 r-cran-lmertest r-cran-jsonlite "
       "r-cran-digest) for rpy2 to run")


def certify(res, diagnostics=False, *, name: str = "model", floor: bool = True):
    """Certify ``res`` (a fit of :func:`interlace.fit` or :func:`interlace.glmer`) against
    the equivalent lme4 fit run now through rpy2.

    Parameters
    ----------
    res : CrossedLMEResult or GlmmResult
        The fit; its data, formula, weights, offset and contrasts make lme4's call.
    diagnostics : bool, str or list of str
        Also certify :func:`interlace.influence` against lme4's ``influence()``: True for
        observations, a grouping factor's name (or several; ``"1"`` for observations).
    name : str
        The model's name in the report.
    floor : bool
        Also measure lme4's own floor (refits on seeded row permutations of the data),
        which sets the at-optimum tolerances.

    Returns
    -------
    CertifyReport
        ``.passed``, ``.frame()`` (one row per quantity), ``.to_markdown()``,
        ``.to_html(path)``.

    Raises
    ------
    InterlaceError
        Without the harness, or without R and rpy2, saying how to install them.
    """
    found = [e for e in entry_points(group=GROUP) if e.name == NAME]
    if not found:
        raise InterlaceError(f"{HOW} (no '{NAME}' certifier is registered under the "
                             f"'{GROUP}' entry points)")
    try:
        certifier = found[0].load()
    except ImportError as exc:
        raise InterlaceError(f"{HOW} (the harness could not be imported: {exc})") from exc
    return certifier(res, diagnostics=diagnostics, name=name, floor=floor)
