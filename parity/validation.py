"""The validation package a QA department files: ``nox -s validation`` runs the test suite
(junit XML) and the parity certification, then ``python -m parity.validation`` writes
``reports/validation/validation.html`` (one self-contained file) and ``validation.pdf``
(headless Chromium's print to PDF).

Sections: **Installation** (Python, numpy, scipy, BLAS, interlace's version and git commit;
every installed distribution with the SHA-256 over its files and a check of its files
against its RECORD; R and the R packages' versions), **Requirements**
(``parity/requirements.toml``, each traced to the tests and parity entries that prove it; a
requirement without passing evidence is *not met*), **Operation** (the pytest results and
every parity entry's worst error per tolerance class against its tolerance), **Performance
on your models** (the ``certify`` reports found), **Appendix** (convention differences,
tolerance classes, limitations, a blank sign-off block).  Exit status 1 when a requirement
is not met.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import platform
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from importlib import metadata
from pathlib import Path

from parity.data import ROOT, sha256_file

OUT = ROOT / "reports" / "validation"
REQUIREMENTS = ROOT / "parity" / "requirements.toml"


# ---------------------------------------------------------------------- installation
def distribution_digest(dist: metadata.Distribution) -> dict:
    """A distribution's name, version, files, the SHA-256 over its files (of the sorted
    lines ``path<TAB>sha256(file)``) and how many of its files differ from the hashes its
    RECORD lists (files absent from disk are counted as missing)."""
    lines, mismatched, missing, n = [], 0, 0, 0
    for f in dist.files or []:
        path = Path(dist.locate_file(f))
        if not path.is_file():
            missing += 1
            continue
        n += 1
        digest = sha256_file(path)
        lines.append(f"{f}\t{digest}")
        if f.hash is not None and f.hash.mode == "sha256":
            recorded = base64.urlsafe_b64decode(f.hash.value + "=" * (-len(f.hash.value) % 4))
            mismatched += recorded.hex() != digest
    total = hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()
    return {"name": dist.metadata["Name"], "version": dist.version, "files": n,
            "sha256": total, "record_mismatches": mismatched, "missing": missing}


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def r_versions() -> dict:
    """R's and the R packages' versions: from Rscript when installed, else from the stored
    fixtures' provenance."""
    from parity.run import r_version, stored_hlmdiag

    pkgs = ["lme4", "lmerTest", "pbkrtest", "Matrix", "HLMdiag"]
    if shutil.which("Rscript"):
        code = ("v <- c(R = R.version.string); for (p in c(" + ", ".join(f'"{p}"' for p in pkgs)
                + ")) v[p] <- tryCatch(as.character(packageVersion(p)), error = function(e) "
                "'not installed'); cat(paste(names(v), v, sep = '\\t'), sep = '\\n')")
        out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True)
        if out.returncode == 0:
            rows = dict(line.split("\t", 1) for line in out.stdout.splitlines() if "\t" in line)
            return {**rows, "R": r_version(rows.get("R")), "source": "this machine's R (Rscript)"}
    fx = json.loads((ROOT / "fixtures" / "r" / "kr.json").read_text())["provenance"]
    out = {k: fx.get(k, "?") for k in ("R", *pkgs)}
    out["R"] = r_version(out["R"])
    rec = stored_hlmdiag()
    if rec:
        out["HLMdiag"] = rec["HLMdiag"]
    return {**out, "source": "the stored fixtures' provenance (R is not installed here)"}


def installation() -> dict:
    import numpy as np
    import scipy

    import interlace

    blas = ""
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{cfg['name']} {cfg.get('version', '')}".strip()
    except Exception:  # pragma: no cover - depends on numpy's build
        pass
    dists = sorted((distribution_digest(d) for d in metadata.distributions()),
                   key=lambda d: d["name"].lower())
    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "numpy": np.__version__, "scipy": scipy.__version__, "blas": blas,
            "interlace": interlace.__version__, "git_commit": _git("rev-parse", "HEAD"),
            "git_dirty": bool(_git("status", "--porcelain")), "distributions": dists,
            "r": r_versions()}


# ---------------------------------------------------------------------- evidence
@dataclass
class TestCase:
    file: str
    name: str
    outcome: str  # passed, failed, error, skipped
    seconds: float
    message: str = ""


def read_junit(path: Path) -> list[TestCase]:
    """pytest's junit XML as test cases (file as ``tests/test_x.py``)."""
    out = []
    for tc in ET.parse(path).getroot().iter("testcase"):
        cls = tc.get("classname", "")
        file = cls.replace(".", "/") + ".py" if cls else tc.get("file", "")
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            child = tc.find(kind)
            if child is not None:
                outcome = {"failure": "failed"}.get(kind, kind)
                message = child.get("message", "")
                break
        out.append(TestCase(file, tc.get("name", ""), outcome, float(tc.get("time", 0)),
                            message))
    return out


@dataclass
class Requirement:
    id: str
    text: str
    tests: list[str]
    parity: list[str]
    evidence: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def met(self) -> bool:
        return bool(self.evidence) and not self.problems


def _parity_ids(ref: str, entries: dict, tags: dict) -> list[str]:
    if ref.startswith("tag:"):
        return tags.get(ref[4:], [])
    if ref == "diagnostics":
        return [k for k, e in entries.items() if e.get("kind") == "diagnostics"]
    return [ref] if ref in entries or ref == "robustness" else []


def trace(reqs: list[dict], tests: list[TestCase], parity: dict, tags: dict) -> list[Requirement]:
    """Each requirement with its evidence (what ran and passed) and its problems (a test or
    entry named but absent, failed or skipped)."""
    entries = {e["case"]: e for e in parity.get("cases", [])}
    robust = parity.get("robustness")
    out = []
    for r in reqs:
        req = Requirement(r["id"], r["text"], list(r.get("tests", [])), list(r.get("parity", [])))
        for ref in req.tests:
            file, _, name = ref.partition("::")
            hits = [t for t in tests if t.file == file
                    and (not name or t.name == name or t.name.startswith(name + "["))]
            bad = [t for t in hits if t.outcome != "passed"]
            if not hits:
                req.problems.append(f"{ref}: did not run")
            elif bad:
                req.problems.append(f"{ref}: {len(bad)} of {len(hits)} not passed "
                                    f"({', '.join(sorted({t.outcome for t in bad}))})")
            else:
                req.evidence.append(f"{ref}: {len(hits)} passed")
        for ref in req.parity:
            ids = _parity_ids(ref, entries, tags)
            if ref == "robustness":
                if robust is None:
                    req.problems.append("robustness: the bad-input catalog did not run")
                elif all(x["passed"] for x in robust):
                    req.evidence.append(f"robustness: {len(robust)} of {len(robust)} inputs")
                else:
                    n_bad = sum(not x["passed"] for x in robust)
                    req.problems.append(f"robustness: {n_bad} inputs depart from the catalog")
                continue
            ran = [i for i in ids if i in entries]
            if not ran:
                req.problems.append(f"parity {ref}: did not run")
                continue
            bad = [i for i in ran if not entries[i]["passed"]]
            if bad:
                req.problems.append(f"parity {ref}: {', '.join(bad)} failed")
            else:
                noun = "entry" if len(ran) == 1 else "entries"
                req.evidence.append(f"parity {ref}: {len(ran)} {noun} passed")
        out.append(req)
    return out


def tolerance_used(q: dict) -> float:
    """How much of its tolerance a quantity's worst element uses, as far as the report says:
    max rel err / rtol, or max abs err / atol when that is smaller (the smaller bound is the
    one the comparison could use); infinite for a non-finite error."""
    rel, ab = q["max_rel_err"], q["max_abs_err"]
    if rel != rel or ab != ab:
        return float("inf")
    out = [rel / q["rtol"]] if q["rtol"] > 0 else []
    if q["atol"] > 0:
        out.append(ab / q["atol"])
    return min(out) if out else (0.0 if ab == 0 else float("inf"))


def worst_by_class(entry: dict) -> list[dict]:
    """Per tolerance class of an entry: the quantity closest to its tolerance
    (:func:`tolerance_used`), its errors and tolerance, and whether every quantity of the
    class passed."""
    by: dict[str, list[dict]] = {}
    for q in entry.get("quantities", []):
        by.setdefault(q["class"], []).append(q)
    rows = []
    for cls, qs in by.items():
        w = max(qs, key=tolerance_used)
        rows.append({"class": cls, "quantity": w["name"], "used": tolerance_used(w),
                     "max_abs_err": w["max_abs_err"],
                     "max_rel_err": w["max_rel_err"], "rtol": w["rtol"], "atol": w["atol"],
                     "passed": all(q["passed"] or not q["gating"] for q in qs),
                     "n": len(qs)})
    return rows


def catalog_tags() -> dict[str, list[str]]:
    from parity.catalog import load_catalog

    cat, tags = load_catalog(), {}
    for case in [*cat["cases"], *cat["glmm"]]:
        for t in case["tags"]:
            tags.setdefault(t, []).append(case["id"])
    return tags


def limitations() -> str:
    """The README's *Not yet there* section (the one list of known limitations)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.find("## Not yet there")
    if start < 0:
        return ""
    body = text[start:].split("\n", 1)[1]
    end = body.find("\n## ")
    return body[:end if end >= 0 else None].strip()


# ---------------------------------------------------------------------- HTML
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:70em;
color:#1d1d1f;line-height:1.4;padding:0 1em}
h1{font-size:1.8em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:2em;page-break-after:avoid}h3{margin-top:1.4em}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em;width:100%}
th,td{border:1px solid #d0d0d0;padding:.25em .45em;text-align:left;vertical-align:top}
th{background:#f3f3f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr{page-break-inside:avoid}.ok{color:#1a7f37;font-weight:600}.bad{color:#c62828;font-weight:600}
.note{color:#555;font-size:.9em}code{font-size:.92em}.mono{font-family:ui-monospace,monospace;
font-size:.8em;word-break:break-all}.sign td{height:2.4em}
@page{size:A4;margin:12mm}
@media print{body{margin:0;max-width:none;font-size:10pt}table{font-size:7.5pt}a{color:inherit}}
"""


def _table(head: list[str], rows: list[list[str]], num: set[int] = frozenset()) -> str:
    h = "".join(f"<th>{escape(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td class='num'>{c}</td>" if i in num else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _verdict(ok: bool, yes: str = "pass", no: str = "FAIL") -> str:
    return f"<span class='{'ok' if ok else 'bad'}'>{yes if ok else no}</span>"


def _e(x) -> str:
    return escape(str(x))


def render(inst: dict, reqs: list[Requirement], reqs_version: str, tests: list[TestCase],
           parity: dict, certs: list[dict], date: str) -> str:
    from parity.compare import CLASS_REASONS
    from parity.conventions import CONVENTIONS

    n_met = sum(r.met for r in reqs)
    t_out = {k: sum(t.outcome == k for t in tests) for k in ("passed", "failed", "error",
                                                               "skipped")}
    entries = parity.get("cases", [])
    p_ok = sum(e["passed"] for e in entries)
    robust = parity.get("robustness", [])
    h = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
         "<title>interlace validation package</title>", f"<style>{CSS}</style></head><body>",
         "<h1>interlace validation package</h1>",
         f"<p>interlace {_e(inst['interlace'])} (commit <code>{_e(inst['git_commit'][:12])}"
         f"</code>{', with uncommitted changes' if inst['git_dirty'] else ''}) · generated "
         f"{_e(date)}</p>",
         f"<p>{_verdict(n_met == len(reqs), 'All', 'Not all')} {n_met} of {len(reqs)} "
         f"requirements met · tests: {t_out['passed']} passed, {t_out['failed']} failed, "
         f"{t_out['error']} errors, {t_out['skipped']} skipped · parity: {p_ok} of "
         f"{len(entries)} entries pass"
         + (f" · bad inputs: {sum(r['passed'] for r in robust)} of {len(robust)} as catalogued"
            if robust else "") + f" · {len(certs)} certified user model(s)</p>"]
    # installation
    h += ["<h2>1. Installation</h2>",
          _table(["item", "value"], [[_e(k), _e(v)] for k, v in (
              ("Python", inst["python"]), ("platform", inst["platform"]),
              ("numpy", inst["numpy"]), ("scipy", inst["scipy"]), ("BLAS", inst["blas"]),
              ("interlace", inst["interlace"]), ("git commit", inst["git_commit"]))]),
          "<h3>R side</h3>",
          f"<p class='note'>From {_e(inst['r']['source'])}.</p>",
          _table(["component", "version"], [[_e(k), _e(v)] for k, v in inst["r"].items()
                                             if k != "source"]),
          "<h3>Installed Python distributions</h3>",
          "<p class='note'>SHA-256 over each distribution's files (the sorted lines "
          "<code>path⇥sha256</code>); RECORD: files whose content differs from the hash its "
          "wheel RECORD lists (0 means as installed).</p>",
          _table(["distribution", "version", "files", "SHA-256 over files", "RECORD"],
                 [[_e(d["name"]), _e(d["version"]), str(d["files"]),
                   f"<span class='mono'>{d['sha256']}</span>",
                   _verdict(d["record_mismatches"] == 0, "as installed",
                            f"{d['record_mismatches']} changed")]
                  for d in inst["distributions"]], {2})]
    # requirements
    h += [f"<h2>2. Requirements (version {_e(reqs_version)})</h2>",
          "<p class='note'>From <code>parity/requirements.toml</code>. A requirement is met "
          "when every test and parity entry it names ran and passed.</p>",
          _table(["ID", "requirement", "evidence", "status"],
                 [[f"<b>{_e(r.id)}</b>", _e(r.text),
                   "<br>".join(_e(x) for x in r.evidence + r.problems),
                   _verdict(r.met, "met", "NOT MET")] for r in reqs])]
    # operation
    failed = [t for t in tests if t.outcome in ("failed", "error")]
    h += ["<h2>3. Operation</h2>", "<h3>Test suite (pytest, junit XML)</h3>",
          _table(["tests", "passed", "failed", "errors", "skipped", "seconds"],
                 [[str(len(tests)), str(t_out["passed"]), str(t_out["failed"]),
                   str(t_out["error"]), str(t_out["skipped"]),
                   f"{sum(t.seconds for t in tests):.0f}"]], {0, 1, 2, 3, 4, 5})]
    if failed:
        h.append(_table(["file", "test", "outcome", "message"],
                        [[_e(t.file), _e(t.name), _verdict(False, "", t.outcome),
                          f"<span class='mono'>{_e(t.message[:300])}</span>"]
                         for t in failed]))
    env = parity.get("environment", {})
    h += ["<h3>Parity with R</h3>",
          f"<p class='note'>Mode: {_e(env.get('mode', '?'))} ({_e(env.get('mode_reason', ''))})."
          " Per entry and tolerance class: the quantity closest to its tolerance (<i>used</i>: "
          "its worst error over the tolerance it is held to), its errors and tolerance.</p>"]
    rows = []
    for e in entries:
        for w in worst_by_class(e) or [{"class": "—", "quantity": e["classification"],
                                        "max_abs_err": float("nan"),
                                        "max_rel_err": float("nan"), "rtol": 0, "atol": 0,
                                        "passed": e["passed"], "n": 0, "used": float("nan")}]:
            rows.append([_e(e["case"]), _e(e.get("kind", "lmm")), _e(w["class"]),
                         _e(w["quantity"]), f"{w['used']:.2g}", f"{w['max_abs_err']:.2e}",
                         f"{w['max_rel_err']:.2e}", f"{w['atol']:.1e}", f"{w['rtol']:.0e}",
                         _verdict(w["passed"])])
    h.append(_table(["entry", "kind", "class", "worst quantity", "used", "max abs err",
                     "max rel err", "atol", "rtol", "result"], rows, {4, 5, 6, 7, 8}))
    if robust:
        h.append(f"<p>Bad-input catalog: {sum(r['passed'] for r in robust)} of {len(robust)} "
                 "inputs behave as catalogued (lme4's outcome next to interlace's).</p>")
    # certify
    h.append("<h2>4. Performance on your models</h2>")
    if certs:
        h.append(_table(["model", "R call", "versions", "result", "classification"],
                        [[_e(c["case"]), f"<code>{_e(c.get('call', ''))}</code>",
                          _e(c.get("versions", "")), _verdict(c["passed"]),
                          _e(c["classification"])] for c in certs]))
    else:
        h.append("<p>No certify reports found (<code>reports/certify/*.json</code>): export "
                 "your models with <code>interlace_export()</code> and run <code>nox -s "
                 "certify -- DIR</code> before <code>nox -s validation</code>.</p>")
    # appendix
    h += ["<h2>Appendix</h2>", "<h3>A. Known convention differences</h3>",
          _table(["topic", "difference"], [[_e(a), _e(b)] for a, b in CONVENTIONS]),
          "<h3>B. Tolerance classes</h3>",
          _table(["class", "why"], [[_e(k), _e(v)] for k, v in CLASS_REASONS.items()]),
          "<h3>C. Limitations</h3>", f"<p>{_e(limitations())}</p>",
          "<h3>D. Sign-off</h3>",
          "<table class='sign'><thead><tr><th>role</th><th>name</th><th>signature</th>"
          "<th>date</th></tr></thead><tbody>"
          + "".join(f"<tr><td>{r}</td><td></td><td></td><td></td></tr>"
                    for r in ("Prepared by", "Reviewed by", "Approved by (QA)"))
          + "</tbody></table>", "</body></html>"]
    return "\n".join(h)


def print_pdf(html: Path, pdf: Path) -> None:
    """Headless Chromium's print to PDF of ``html``."""
    exe = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(n)), None)
    if exe is None:
        raise SystemExit("validation: the PDF needs headless Chromium (Debian: apt-get install "
                         "chromium), or pass --no-pdf")
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                    "--no-pdf-header-footer", f"--print-to-pdf={pdf}", html.resolve().as_uri()],
                   check=True, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--junit", type=Path, default=OUT / "junit.xml")
    ap.add_argument("--parity", type=Path, default=OUT / "parity" / "parity.json")
    ap.add_argument("--certify", type=Path, default=ROOT / "reports" / "certify")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--no-pdf", action="store_true")
    args = ap.parse_args(argv)
    for what, p in (("pytest's junit XML", args.junit), ("the parity report", args.parity)):
        if not p.exists():
            raise SystemExit(f"validation: {what} {p} is missing (nox -s validation makes it)")
    spec = tomllib.loads(REQUIREMENTS.read_text(encoding="utf-8"))
    tests = read_junit(args.junit)
    parity = json.loads(args.parity.read_text(encoding="utf-8"))
    reqs = trace(spec["requirement"], tests, parity, catalog_tags())
    certs = [json.loads(p.read_text())["cases"][0] for p in sorted(args.certify.glob("*.json"))
             ] if args.certify.exists() else []
    inst = installation()
    date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    html = args.out / "validation.html"
    html.write_text(render(inst, reqs, spec["version"], tests, parity, certs, date),
                    encoding="utf-8")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "met", "evidence", "problems"])
    for r in reqs:
        w.writerow([r.id, r.met, "; ".join(r.evidence), "; ".join(r.problems)])
    (args.out / "requirements.csv").write_text(buf.getvalue(), encoding="utf-8")
    if not args.no_pdf:
        print_pdf(html, args.out / "validation.pdf")
    n_met = sum(r.met for r in reqs)
    print(f"validation: {n_met} of {len(reqs)} requirements met; {html}"
          + ("" if args.no_pdf else f", {args.out / 'validation.pdf'}"))
    for r in reqs:
        if not r.met:
            print(f"  NOT MET {r.id}: {'; '.join(r.problems) or 'no evidence'}")
    return 0 if n_met == len(reqs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
