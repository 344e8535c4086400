"""Sessions: tests, lint, parity, fixtures, bench, optimizers.

``nox -s tests`` is the project's test command (README, CI).
"""

from __future__ import annotations

import os
import shutil

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]
# Environments are made by virtualenv. nox probes for uv whatever the backend, and says
# "uv binary not found" when it is missing: install nox with its uv extra (README).
nox.options.default_venv_backend = "virtualenv"
PY = "3.11"  #: the Python the parity and fixture sessions are pinned to (CI's)
#: the versions the test suite is run on: the oldest supported and the newest the
#: dependencies (numba, nlopt, scikit-sparse 0.4.16) support
VERSIONS = ["3.11", "3.13"]


def _have_cholmod_headers() -> bool:
    return any(os.path.exists(p) for p in ("/usr/include/suitesparse/cholmod.h",
                                            "/usr/include/cholmod.h"))


def _install(session: nox.Session, *extras: str) -> None:
    wanted = list(extras)
    if _have_cholmod_headers():
        wanted.append("cholmod")
    session.install("-e", f".[{','.join(wanted)}]" if wanted else ".")


@nox.session(python=None)
def tests(session: nox.Session) -> None:
    """Unit tests and the quick parity cases (stored R fixtures; R not needed), on the
    Python that runs nox (any supported version: README, "Requirements")."""
    _install(session, "test")
    session.run("pytest", "-q", *session.posargs)


@nox.session(python=VERSIONS)
def tests_versions(session: nox.Session) -> None:
    """The test suite on each Python of :data:`VERSIONS` (``nox -s tests_versions``; one
    version: ``nox -s tests_versions-3.13``)."""
    _install(session, "test")
    session.run("pytest", "-q", *session.posargs)


@nox.session(python=PY)
def lint(session: nox.Session) -> None:
    """ruff over sources, harness and tests."""
    session.install("ruff")
    session.run("ruff", "check", "src", "parity", "tests", "noxfile.py")


def _live_extras() -> tuple[str, ...]:
    """rpy2 (extra "r") when R is installed, so parity can run live."""
    return ("r",) if shutil.which("R") else ()


@nox.session(python=PY)
def parity(session: nox.Session) -> None:
    """Certify against lme4 (live R via rpy2 when installed, else stored fixtures).

    Options after ``--``: ``--mode auto|live|stored``, ``--case``, ``--tag``, ``--level``,
    ``--catalog my_cases.toml`` (a user's catalog, data files next to it).
    """
    _install(session, "test", *_live_extras())
    session.run("python", "-m", "parity.run", *session.posargs)


@nox.session(python=PY)
def certify(session: nox.Session) -> None:
    """Certify users' own lme4 fits exported by parity/r/export_fit.R's interlace_export():
    ``nox -s certify -- DIR_OR_JSON ...`` writes reports/certify/<name>.{json,md,html}."""
    _install(session, "test")
    session.run("python", "-m", "parity.certify", *(session.posargs or ["fixtures/certify"]))


@nox.session(python=PY)
def validation(session: nox.Session) -> None:
    """The validation package: the test suite (junit XML) and the parity certification, then
    reports/validation/validation.{html,pdf} (parity/validation.py); options after ``--`` go
    to the parity run (e.g. ``--mode stored``)."""
    _install(session, "test", *_live_extras())
    out = "reports/validation"
    session.run("python", "-m", "pytest", "-q", f"--junitxml={out}/junit.xml",
                success_codes=[0, 1])
    session.run("python", "-m", "parity.run", "--reports", f"{out}/parity", *session.posargs,
                success_codes=[0, 1])
    session.run("python", "-m", "parity.validation")


@nox.session(python=PY)
def optimizers(session: nox.Session) -> None:
    """Every catalog case under every optimizer: reports/optimizers.{json,md}."""
    _install(session, "test")
    session.run("python", "-m", "parity.optimizers", *session.posargs)


def _r_session(session: nox.Session, module: str, why: str) -> None:
    """Run ``python -m module`` in a session that needs R (Rscript) on the PATH."""
    if shutil.which("Rscript") is None:
        session.error(f"Rscript not found: {why} (install R from Debian, see README)")
    _install(session, "test")
    session.run("python", "-m", module, *session.posargs)


@nox.session(python=PY)
def fixtures(session: nox.Session) -> None:
    """Regenerate fixtures/r/*.json, diag/ (HLMdiag ones where installed), profile/, floor/
    (the LMM exemptions' and every GLMM case's), glmm/, minqa/, rng.json, simulate.json,
    anova.json, contest.json, ranova.json, kr.json,
    lmertest_anova.json, ls_means.json, drop1.json,
    bootstrap.json and robustness.json; fixtures/certify/ (interlace_export examples); and
    the example user catalog's fixtures and floors (examples/user_catalog/)."""
    _r_session(session, "parity.fixtures", "fixtures are produced by lme4")
    session.run("python", "-m", "parity.diag_fixtures")
    session.run("python", "-m", "parity.profile_fixtures")
    session.run("python", "-m", "parity.optimum_floor")
    session.run("python", "-m", "parity.glmer_fixtures")
    session.run("Rscript", "parity/r/minqa_reference.R", "fixtures/r/minqa/bobyqa_paths.json",
                external=True)
    session.run("Rscript", "parity/r/rng_reference.R", "fixtures/r/rng.json", external=True)
    session.run("python", "-m", "parity.simulate_fixtures")
    session.run("python", "-m", "parity.anova_fixtures")
    session.run("python", "-m", "parity.contest_fixtures")
    session.run("python", "-m", "parity.ranova_fixtures")
    session.run("python", "-m", "parity.kr_fixtures")
    session.run("python", "-m", "parity.lmertest_anova_fixtures")
    session.run("python", "-m", "parity.ls_means_fixtures")
    session.run("python", "-m", "parity.drop1_fixtures")
    session.run("python", "-m", "parity.bootstrap_fixtures")
    session.run("python", "-m", "parity.robustness")
    session.run("python", "-m", "parity.certify_examples")
    for module in ("parity.fixtures", "parity.glmer_fixtures", "parity.optimum_floor"):
        session.run("python", "-m", module, "--catalog", "examples/user_catalog/cases.toml")


@nox.session(python=PY)
def bench(session: nox.Session) -> None:
    """Time interlace and lme4 on the same models in one run; print ratios."""
    _r_session(session, "parity.bench", "the benchmark compares against lme4")
