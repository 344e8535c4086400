"""R's text conventions that lme4's printed summary relies on.

:func:`abbreviate` is R's ``abbreviate(x, minlength)`` (default ``method = "left.kept"``,
``use.classes = TRUE``), a transcription of ``stripchars`` in R's
``src/main/character.c``: drop lower-case vowels that end a word, then lower-case vowels
not starting a word, then lower-case letters ending a word, then any lower-case letter
not starting a word, then any character not starting a word, scanning from the right
each time and stopping as soon as the string is short enough.
"""

from __future__ import annotations

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
