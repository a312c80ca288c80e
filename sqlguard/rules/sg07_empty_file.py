"""The SQL file holds no statement: it is empty, or holds only comments.

(An empty rollback is reported by SG31, missing-rollback, instead.)

## Why is this bad?
An empty migration is recorded as applied while it changed nothing, which usually means the
real change was saved elsewhere or never written.

## Example
    -- add the likes table

## Use instead
    -- add the likes table
    CREATE TABLE likes (id bigint PRIMARY KEY);
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding, Span
from sqlguard.lint.rule import FileContext, Rule
from sqlguard.sql.reading import KNOWN


def check(ctx: FileContext) -> Iterator[Finding]:
    if any(s.kind != "copy-data" for s in ctx.statements):
        return
    if any(p.kind.startswith("unterminated") for p in ctx.problems):
        return  # SG03 explains why nothing was found
    if ctx.migration is not None and ctx.migration.role != "up":
        return  # an empty rollback is SG31's finding
    what = "is empty" if not ctx.text.strip(" \t\r\n\ufeff") else "holds only comments"
    yield ctx.report(Span(0, 0), f"the file {what}: it holds no SQL statement.",
                     help="Write the statement, or delete the file.")


RULE = Rule(code="SG07", name="empty-file", severity="warning", doc=__doc__, check=check, scope="file",
            dialects=KNOWN)
