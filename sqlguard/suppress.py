"""`-- sqlguard: ignore SG20 -- reason` and `-- sqlguard: ignore-file SG31` comments."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlguard.diagnostic import Span
from sqlguard.sources.sql import Comment

_DIRECTIVE = re.compile(
    r"^(?:--|/\*|#)\s*sqlguard:\s*(?P<kind>ignore-file|ignore)(?![\w-])(?P<codes>(?:[\s,]*SG\d\d\b)*)", re.I)
_CODES = re.compile(r"SG\d\d", re.I)


@dataclass
class Ignore:
    span: Span  # the comment
    file_wide: bool
    codes: tuple[str, ...]  # empty: every code
    line: int
    own_line: bool  # nothing but white space before the comment on its line
    removal: Span  # what deleting the comment removes: its whole line when it stands alone
    used: set[str] = field(default_factory=set)

    def covers(self, code: str) -> bool:
        return not self.codes or code in self.codes


def parse_ignores(comments: tuple[Comment, ...], text: str, line_of: Callable[[int], int]) -> list[Ignore]:
    out = []
    for c in comments:
        if "sqlguard" not in c.text:
            continue
        m = _DIRECTIVE.match(c.text)
        if m is None:
            continue
        codes = tuple(x.upper() for x in _CODES.findall(m.group("codes")))
        line_start = text.rfind("\n", 0, c.span.start) + 1
        own = text[line_start:c.span.start].strip() == ""
        if own:
            nl = text.find("\n", c.span.end)
            removal = Span(line_start, len(text) if nl < 0 else nl + 1)
        else:
            removal = Span(len(text[:c.span.start].rstrip(" \t")), c.span.end)
        out.append(Ignore(c.span, m.group("kind").lower() == "ignore-file", codes, line_of(c.span.start), own,
                          removal))
    return out
