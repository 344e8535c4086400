"""R's text conventions that lme4's printed summary relies on.

:func:`abbreviate` is R's ``abbreviate(x, minlength)`` (default ``method = "left.kept"``,
``use.classes = TRUE``), a transcription of ``stripchars`` in R's
``src/main/character.c``: drop lower-case vowels that end a word, then lower-case vowels
not starting a word, then lower-case letters ending a word, then any lower-case letter
not starting a word, then any character not starting a word, scanning from the right
each time and stopping as soon as the string is short enough.
"""

from __future__ import annotations

import math

_VOWELS = set("aeiou")


def _abbrev1(s: str, minlength: int) -> str:
    b = list(s.strip())
    if len(b) <= minlength:
        return "".join(b)

    def first(i: int) -> bool:  # character i starts a word
        return b[i - 1].isspace()

    def last(i: int) -> bool:  # character i ends a word (and does not start one)
        return not b[i - 1].isspace() and (i + 1 == len(b) or b[i + 1].isspace())

    rules = (
        lambda i: b[i] in _VOWELS and last(i),
        lambda i: b[i] in _VOWELS and not first(i),
        lambda i: b[i].islower() and last(i),
        lambda i: b[i].islower() and not first(i),
        lambda i: not first(i) and not b[i].isspace(),
    )
    nspace = sum(c.isspace() for c in b)
    for rule in rules:
        i = len(b) - 1
        while i > 0:
            if i < len(b) and rule(i):
                del b[i]
            if len(b) - nspace <= minlength:
                return "".join(c for c in b if not c.isspace()) if len(b) > minlength \
                    else "".join(b)
            i -= 1
    return "".join(b)


def abbreviate(names: list[str], minlength: int = 4) -> list[str]:
    """R's ``abbreviate(names, minlength)``, made unique as R does (longer where needed)."""
    out = [_abbrev1(n, minlength) for n in names]
    m = minlength
    while len(set(out)) < len(out) and m < max(len(n) for n in names):
        m += 1
        dup = {a for a in out if out.count(a) > 1}
        out = [_abbrev1(n, m) if a in dup else a for n, a in zip(names, out, strict=True)]
    return out


def format_num(values, digits: int = 7, nsmall: int = 0) -> list[str]:
    """R's ``format(x, digits, nsmall)`` for a numeric vector: one common format.

    As R's ``formatReal``: every element is rounded to ``digits`` significant digits
    and its trailing zeros dropped; the fixed notation uses the largest number of
    decimals any element then needs (at least ``nsmall``), unless the scientific
    notation is narrower.  All strings are right-justified to one width; NA prints "NA".
    """
    vals = [float(v) + 0.0 for v in values]  # + 0.0: R prints a negative zero as 0
    fin = [v for v in vals if math.isfinite(v)]
    if not fin:
        return ["NaN" if math.isnan(v) else ("Inf" if v > 0 else "-Inf") for v in vals]
    neg = any(v < 0 for v in fin)
    rgt, mxsl, mxns, mxe, mne = 0, 1, 1, 0, 0
    for v in fin:
        if v == 0:
            kp, nsig = 0, 1
        else:
            mant, exp = f"{abs(v):.{digits - 1}e}".split("e")
            kp = int(exp)
            nsig = max(1, len(mant.replace(".", "").rstrip("0")))
        left = kp + 1
        rgt = max(rgt, nsig - left)
        mxsl = max(mxsl, (v < 0) + max(left, 1))  # R's sleft: this element's own sign
        mxns = max(mxns, nsig)
        mxe, mne = max(mxe, kp), min(mne, kp)
    rgt = max(rgt, nsmall, 0)
    w_fixed = mxsl + rgt + (rgt > 0)
    e_width = 2 if max(abs(mxe), abs(mne)) < 100 else 3
    w_sci = neg + (mxns + 1 if mxns > 1 else mxns) + 2 + e_width
    if w_fixed <= w_sci:
        out = [f"{v:.{rgt}f}" if math.isfinite(v) else "NaN" for v in vals]
    else:
        out = []
        for v in vals:
            if not math.isfinite(v):
                out.append("NaN")
                continue
            mant, exp = f"{v:.{mxns - 1}e}".split("e")
            out.append(f"{mant}e{exp[0]}{abs(int(exp)):0{e_width}d}")
    width = max(len(s) for s in out)
    return [s.rjust(width) for s in out]


def print_matrix(colnames: list[str], rows: list[list[str]], rownames: list[str] | None = None,
                 *, right: bool = False, width: int | None = None) -> list[str]:
    """R's ``print.default`` of a character matrix with ``quote = FALSE``.

    Every column is as wide as its longest entry or name and is justified left, or
    right with ``right = True``.  Row names are justified left, and each column
    follows one space.  With ``width``, the columns are wrapped into blocks no wider
    than that, each block repeating the row names, as R does at ``getOption("width")``.
    """
    rownames = rownames if rownames is not None else [""] * len(rows)
    widths = [max(len(c), *(len(r[j]) for r in rows)) for j, c in enumerate(colnames)]
    rw = max((len(x) for x in rownames), default=0)
    just = str.rjust if right else str.ljust
    out, start = [], 0
    while start < len(colnames):
        stop, used = start, rw
        while stop < len(colnames) and (stop == start or width is None
                                        or used + 1 + widths[stop] <= width):
            used += 1 + widths[stop]
            stop += 1
        cols = range(start, stop)
        out.append(" " * rw + "".join(" " + just(colnames[j], widths[j]) for j in cols))
        out.extend(name.ljust(rw) + "".join(" " + just(r[j], widths[j]) for j in cols)
                   for name, r in zip(rownames, rows, strict=True))
        start = stop
    return out
