"""The file is not clean UTF-8 text: invalid bytes or NUL bytes.

## Why is this bad?
PostgreSQL rejects invalid UTF-8 and NUL bytes in SQL text, so the migration fails when it runs,
and every tool that reads the file (editors, diff, code review) shows something other than what
the database will get. Usually the file was saved in another encoding (Latin-1, UTF-16).

## Example
    -- saved as Latin-1: the comment's "é" is byte 0xE9, which is not UTF-8
    COMMENT ON TABLE users IS 'caf\xe9';

## Use instead
    COMMENT ON TABLE users IS 'café';
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import FileContext, Rule
from sqlguard.sql.reading import KNOWN


def check(ctx: FileContext) -> Iterator[Finding]:
    for p in ctx.problems:
        if p.kind == "invalid-utf8":
            more = f" ({p.count} invalid bytes in all)" if p.count > 1 else ""
            yield ctx.report(p.span, f"the file is not valid UTF-8: {p.detail}{more}; PostgreSQL will reject it.",
                             help="Re-save the file as UTF-8.")
        elif p.kind == "nul-byte":
            more = f" ({p.count} in all)" if p.count > 1 else ""
            yield ctx.report(p.span, f"NUL byte in the file{more}: PostgreSQL rejects NUL characters in SQL text.",
                             help="Remove the NUL bytes; the file may have been saved as UTF-16.")


RULE = Rule(code="SG02", name="source-encoding", severity="error", doc=__doc__, check=check, scope="file",
            dialects=KNOWN)
