"""The data that flows from checks to reports: spans, edits, fixes, diagnostics, and the one error type.

Spans are character offsets into the original text. Lines and columns are computed when rendering
(see `sqlguard.sql.text.SourceText.location`) and never stored twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]

SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2}


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int  # exclusive

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"span ends before it starts: {self.start}..{self.end}")


@dataclass(frozen=True)
class Edit:
    span: Span
    replacement: str


@dataclass(frozen=True)
class Fix:
    message: str
    edits: tuple[Edit, ...]


@dataclass(frozen=True)
class Finding:
    """What a check reports: the engine adds the rule's code, name and severity."""

    span: Span
    message: str
    help: str | None = None
    fix: Fix | None = None
    severity: Severity | None = None  # when one finding is graver than the rule's default


@dataclass(frozen=True)
class Diagnostic:
    code: str
    name: str
    severity: Severity
    path: str
    span: Span
    message: str
    help: str | None = None
    fix: Fix | None = None

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.span.start, self.span.end, self.code)


class SqlguardError(Exception):
    """An error a user can cause (bad config, bad catalog, bad arguments): the CLI prints it, exit 2."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None,
                 column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        return where + self.message


def apply_edits(text: str, edits: list[Edit]) -> tuple[str, int]:
    """Apply non-overlapping edits (later ones that overlap an earlier one are skipped).

    Returns the new text and the number of edits applied.
    """
    applied = 0
    out: list[str] = []
    pos = 0
    for edit in sorted(edits, key=lambda e: (e.span.start, e.span.end)):
        if edit.span.start < pos:
            continue  # overlaps an edit already applied; the next --fix pass gets it
        out.append(text[pos:edit.span.start])
        out.append(edit.replacement)
        pos = edit.span.end
        applied += 1
    out.append(text[pos:])
    return "".join(out), applied


def apply_fixes(text: str, fixes: list[Fix]) -> tuple[str, int]:
    """Apply whole fixes: a fix whose edits overlap an earlier fix's is left for the next pass."""
    taken: list[Span] = []
    chosen: list[Edit] = []
    count = 0
    for fix in sorted(fixes, key=lambda f: min((e.span.start for e in f.edits), default=0)):
        if any((e.span.start < t.end and t.start < e.span.end) or (e.span.start == t.start == e.span.end)
               for e in fix.edits for t in taken):
            continue
        taken.extend(e.span for e in fix.edits)
        chosen.extend(fix.edits)
        count += 1
    new_text, _ = apply_edits(text, chosen)
    return new_text, count
