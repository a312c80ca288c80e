"""A rollback does not undo what its migration did.

sqlguard replays the history up to the migration, applies the migration, then its rollback, and
compares the schema with the one before. Whatever differs is left over: a created table, column,
index, constraint or type that is not dropped, a dropped column or table that is not restored, a
rename that is not reversed, a change that is not changed back. `-- MANUAL:` lines in the rollback
(as `sqlguard rollback-gen` writes them) are reported until someone replaces them with SQL.
Reported on the migration, at the statement that made the change.

## Why is this bad?
A rollback that leaves objects behind makes the next deploy of the same migration fail
(`relation already exists`), and one that does not restore what was dropped leaves the old code
running against a schema it does not know.

## Example
    -- migrate:up
    CREATE TABLE likes (id bigint PRIMARY KEY);
    ALTER TABLE likes ADD COLUMN note text;
    -- migrate:down
    ALTER TABLE likes DROP COLUMN note;

## Use instead
    -- migrate:up
    CREATE TABLE likes (id bigint PRIMARY KEY);
    ALTER TABLE likes ADD COLUMN note text;
    -- migrate:down
    DROP TABLE IF EXISTS likes;
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding, Span
from sqlguard.lint.rule import FileContext, Rule


def check(ctx: FileContext) -> Iterator[Finding]:
    for left in ctx.leftovers:
        yield ctx.report(left.span or Span(0, 0), left.message, help=left.help)


RULE = Rule(code="SG32", name="incomplete-rollback", severity="warning", doc=__doc__, check=check, scope="file")
