"""A migration changed after it was hashed into `sqlguard.sum`: databases that ran it miss the change.

## Why is this bad?
A database runs each migration once. Editing a migration that already ran changes what new
databases get and nothing else: production keeps the old schema, a fresh test database gets the new
one, and the two drift apart without a trace. `sqlguard hash` records a chained hash of the folder's
migrations in `sqlguard.sum` (as atlas.sum does); the first migration that no longer matches is
reported, whether it was edited, inserted before hashed ones, removed, reordered, or not hashed yet,
and so is a sum file edited by hand. Folders without a `sqlguard.sum` are not checked.

Hashes cover each migration and its rollback file; line endings are compared as LF.

## Example
    -- 20240101120000_create_users.sql, edited after `sqlguard hash`:
    CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);

## Use instead
    -- 20240101120000_create_users.sql, as hashed:
    CREATE TABLE users (id bigint PRIMARY KEY);
    -- 20240301090000_add_users_email.sql, a new migration:
    ALTER TABLE users ADD COLUMN email text;
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding, Span
from sqlguard.lint.rule import FileContext, Rule
from sqlguard.sql.reading import KNOWN


def check(ctx: FileContext) -> Iterator[Finding]:
    problem = ctx.integrity
    if not problem:
        return
    yield ctx.report(Span(0, 0), problem if problem.endswith(".") else problem + ".")


RULE = Rule(code="SG36", name="modified-migration", severity="error", doc=__doc__, check=check, scope="file",
            dialects=KNOWN)
