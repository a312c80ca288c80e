"""A JSON array of diagnostics, shaped like ruff's `--output-format json` so its consumers fit.

Rows and columns are 1-based and count characters; `end_location` is the position of the span's
exclusive end, as in ruff.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlguard.report import region, scrub, source_for

if TYPE_CHECKING:
    from sqlguard.diagnostic import Diagnostic, Span
    from sqlguard.sql.text import SourceText


def render(diagnostics: list[Diagnostic], sources: dict[str, SourceText]) -> str:
    items = [_item(d, source_for(sources, d.path)) for d in diagnostics]
    if not items:
        return "[]\n"
    # One diagnostic per line: json's C encoder writes each (with `indent` it falls back to its Python
    # one, a quarter of a warm run over a large tree), and a line per finding greps well.
    # Non-ASCII stays readable; scrub() has already removed what a UTF-8 writer would refuse.
    return "[\n" + ",\n".join("  " + json.dumps(item, ensure_ascii=False) for item in items) + "\n]\n"


def _item(d: Diagnostic, source: SourceText) -> dict[str, Any]:
    location, end_location = _locations(source, d.span)
    fix: dict[str, Any] | None = None
    if d.fix is not None:
        edits = []
        for edit in d.fix.edits:
            start, end = _locations(source, edit.span)
            edits.append({"content": scrub(edit.replacement), "location": start, "end_location": end})
        fix = {"message": scrub(d.fix.message), "edits": edits}
    return {
        "code": d.code,
        "name": d.name,
        "severity": d.severity,
        "filename": scrub(d.path),
        "location": location,
        "end_location": end_location,
        "message": scrub(d.message),
        "help": scrub(d.help) if d.help is not None else None,
        "fix": fix,
    }


def _locations(source: SourceText, span: Span) -> tuple[dict[str, int], dict[str, int]]:
    line, col, end_line, end_col = region(source, span)
    return {"row": line, "column": col}, {"row": end_line, "column": end_col}
