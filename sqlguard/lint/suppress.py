"""`-- sqlguard: ignore SG20 -- reason` and `-- sqlguard: ignore-file SG31` comments."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlguard.diagnostic import Span
from sqlguard.sql.split import Comment

_DIRECTIVE = re.compile(
    r"^(?:--|/\*|#)\s*sqlguard:\s*(?P<kind>ignore-file|ignore)(?![\w-])(?P<codes>(?:[\s,]*SG\d\d\b)*)", re.I)
_NOQA = re.compile(r"^(?:--|#)\s*noqa\s*:\s*(?P<codes>[\w\s,]+)", re.I)
_CODES = re.compile(r"SG\d\d", re.I)


@dataclass
class Ignore:
    span: Span  # the comment
    file_wide: bool
    codes: tuple[str, ...]  # empty: every code
    line: int
    own_line: bool  # nothing but white space before the comment on its line
    removal: Span  # what deleting the comment removes: its whole line when it stands alone
    noqa: bool = False  # `noqa: SG40` (flake8's form): this line only
    used: set[str] = field(default_factory=set)

    def covers(self, code: str) -> bool:
        return not self.codes or code in self.codes


def parse_ignores(comments: tuple[Comment, ...], text: str, line_of: Callable[[int], int]) -> list[Ignore]:
    out = []
    for c in comments:
        noqa = _NOQA.match(c.text) if "noqa" in c.text.lower() else None
        if noqa is not None:
            codes = tuple(x.upper() for x in _CODES.findall(noqa.group("codes")))
            if not codes:
                continue  # another tool's noqa (E501, S608): not ours
            out.append(Ignore(c.span, False, codes, line_of(c.span.start), False, _removal(text, c), noqa=True))
            continue
        if "sqlguard" not in c.text:
            continue
        m = _DIRECTIVE.match(c.text)
        if m is None:
            continue
        codes = tuple(x.upper() for x in _CODES.findall(m.group("codes")))
        line_start = text.rfind("\n", 0, c.span.start) + 1
        own = text[line_start:c.span.start].strip() == ""
        removal = _removal(text, c)
        out.append(Ignore(c.span, m.group("kind").lower() == "ignore-file", codes, line_of(c.span.start), own,
                          removal))
    return out


def _removal(text: str, c: Comment) -> Span:
    """What deleting a comment removes: its whole line when it stands alone, else it and the blanks before."""
    line_start = text.rfind("\n", 0, c.span.start) + 1
    if text[line_start:c.span.start].strip() == "":
        nl = text.find("\n", c.span.end)
        return Span(line_start, len(text) if nl < 0 else nl + 1)
    return Span(len(text[:c.span.start].rstrip(" \t")), c.span.end)
