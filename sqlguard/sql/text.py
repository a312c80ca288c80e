"""Decoding a file's bytes into text that keeps every character where it was.

Nothing is dropped or shifted: a BOM stays as U+FEFF at offset 0, CRLF stays CRLF, invalid UTF-8
bytes become lone surrogates (`surrogateescape`) so that `--fix` writes them back unchanged.
What is odd about the bytes is reported as `SourceProblem`s for the SG0x rules.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from sqlguard.diagnostic import Span


@dataclass(frozen=True)
class SourceProblem:
    """Something about the raw text that a rule reports (kind names the hazard)."""

    kind: str
    span: Span
    detail: str = ""
    count: int = 1


@dataclass
class SourceText:
    """A file's text with a lazily built line index, for rendering positions."""

    path: str
    text: str
    _line_starts: list[int] = field(default_factory=list, repr=False)

    def _index(self) -> list[int]:
        if not self._line_starts:
            starts = [0]
            starts.extend(m.end() for m in re.finditer("\n", self.text))
            self._line_starts = starts
        return self._line_starts

    def location(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset; column counts characters."""
        starts = self._index()
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(starts, offset) - 1
        return line + 1, offset - starts[line] + 1

    def line_text(self, line: int) -> str:
        starts = self._index()
        start = starts[line - 1]
        end = starts[line] if line < len(starts) else len(self.text)
        return self.text[start:end].rstrip("\r\n")

    def offset(self, line: int, column: int) -> int:
        """Offset of a 1-based (line, column)."""
        starts = self._index()
        line = max(1, min(line, len(starts)))
        return min(starts[line - 1] + max(column, 1) - 1, len(self.text))


_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


@dataclass(frozen=True)
class Decoded:
    text: str  # the file's text, exactly (what fixes edit and reports show)
    scan_text: str  # the same length: NULs and template placeholders masked for the SQL scanner
    problems: tuple[SourceProblem, ...]


def decode(data: bytes) -> Decoded:
    problems: list[SourceProblem] = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        text = data.decode("utf-8", errors="surrogateescape")
        at = len(data[: err.start].decode("utf-8", errors="surrogateescape"))
        bad = sum(1 for ch in text if "\udc80" <= ch <= "\udcff")
        problems.append(SourceProblem("invalid-utf8", Span(at, at + 1),
                                      f"byte 0x{data[err.start]:02x} at byte offset {err.start}", bad))
    if text.startswith("\ufeff"):
        problems.append(SourceProblem("bom", Span(0, 1)))
    scan = text
    nul = text.find("\0")
    if nul >= 0:
        problems.append(SourceProblem("nul-byte", Span(nul, nul + 1), count=text.count("\0")))
        scan = scan.replace("\0", " ")
    crlf = text.find("\r\n")
    if crlf >= 0:
        problems.append(SourceProblem("crlf", Span(crlf, crlf + 2), count=text.count("\r\n")))
    if "{{" in scan or "{%" in scan:
        placeholders = list(_TEMPLATE.finditer(scan))
        if placeholders:
            first = placeholders[0]
            problems.append(SourceProblem("template", Span(first.start(), first.end()),
                                          first.group(0), len(placeholders)))
            # Read as an identifier of the same length, so `{{ .Ns }}.users` stays `______.users`.
            scan = _TEMPLATE.sub(lambda m: "_" * len(m.group(0)), scan)
    if "\ufeff" in scan[:1]:
        scan = " " + scan[1:]
    return Decoded(text, scan, tuple(problems))


# A secret a statement carries as a literal: `PASSWORD '…'` (CREATE / ALTER ROLE, a user mapping's
# OPTIONS), `CONNECTION '…'` (CREATE / ALTER SUBSCRIPTION, whose conninfo may hold a password).
_SQL_SECRET = re.compile(r"(?i)\b(PASSWORD|CONNECTION)(\s+)[EeUu&]*'(?:[^']|'')*(?:'|$)")


def hide_secrets(sql: str) -> str:
    """`sql` with the literal after PASSWORD and CONNECTION replaced by `'***'`: what reports and messages
    show of a statement."""
    if "'" not in sql:
        return sql
    return _SQL_SECRET.sub(r"\1\2'***'", sql)
