"""The file uses Windows line endings (CRLF).

PostgreSQL reads CRLF fine, so this is only a note; positions in every report stay exact.

## Why is this bad?
The carriage returns end up inside multi-line string literals and function bodies (a `COMMENT`
or a PL/pgSQL `RAISE` message then holds `\\r`), checksums differ between checkouts with different
`core.autocrlf` settings, and diffs show every line as changed.

## Example
    CREATE TABLE likes (id bigint PRIMARY KEY);\\r

## Use instead
    CREATE TABLE likes (id bigint PRIMARY KEY);
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import FileContext, Rule


def check(ctx: FileContext) -> Iterator[Finding]:
    for p in ctx.problems:
        if p.kind == "crlf":
            lines = f"{p.count} lines end" if p.count > 1 else "1 line ends"
            yield ctx.report(p.span, f"{lines} with CRLF: carriage returns become part of multi-line strings and "
                                     "function bodies, and change the file's checksum per checkout.",
                             help="Convert to LF line endings (`git add --renormalize` with `*.sql text eol=lf`).")


RULE = Rule(code="SG06", name="crlf-line-endings", severity="info", doc=__doc__, check=check, scope="file")
