"""`SET NOT NULL` on an existing column reads the whole table while it blocks reads and writes.

Covers `ALTER TABLE … ALTER [COLUMN] c SET NOT NULL` on a table this migration did not create
itself (PostgreSQL only; function bodies, which run later, are not checked). On PostgreSQL 12 and
later it is not reported after the safe recipe: a `CHECK (c IS NOT NULL)` constraint that is valid
by then (added earlier in this file and validated, or known from an earlier migration), which lets
PostgreSQL skip the scan. The PostgreSQL version comes from `pg-version` in the configuration.

## Why is this bad?
PostgreSQL takes an ACCESS EXCLUSIVE lock on the table and reads every row to prove that none is
NULL: every query on the table, reads included, waits for the whole scan. Since PostgreSQL 12 a
valid `CHECK (c IS NOT NULL)` constraint is proof enough, and the lock is held only for a moment.

The recipe (PostgreSQL 12 and later):

1. `ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;`
   (instant: existing rows are not checked; new and changed rows are).
2. In a separate migration: `ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;` (scans
   with a SHARE UPDATE EXCLUSIVE lock: reads and writes go on).
3. `ALTER TABLE users ALTER COLUMN email SET NOT NULL;` (no scan: the valid CHECK proves it).
4. `ALTER TABLE users DROP CONSTRAINT users_email_not_null;` (now redundant).

Before PostgreSQL 12, `SET NOT NULL` always scans: run it while the table is small or traffic is
low, or, for a column you are adding anyway, add it as `NOT NULL DEFAULT …` (no rewrite since
PostgreSQL 11).

## Example
    ALTER TABLE users ALTER COLUMN email SET NOT NULL;

## Use instead
    ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;
    -- in the next migration:
    ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;
    ALTER TABLE users ALTER COLUMN email SET NOT NULL;
    ALTER TABLE users DROP CONSTRAINT users_email_not_null;
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.rules._pg import ACCESS_EXCLUSIVE, locks_message, pg_version
from sqlguard.rules._sg50_ddl import (
    AlterTable,
    add_constraint,
    alter_existing_table,
    alter_statements,
    is_not_null_check,
    set_not_null,
    validate_constraint,
    written,
    written_name,
)
from sqlguard.sql.lex import Lexeme, lex


def check(ctx: StatementContext) -> Iterator[Finding]:
    parsed = alter_existing_table(ctx)
    if parsed is None:
        return
    version = pg_version(ctx)
    for action in parsed.actions:
        column = set_not_null(action)
        if column is None:
            continue
        if version >= 12 and _proven(ctx, parsed, column):
            continue  # a valid CHECK (c IS NOT NULL): PostgreSQL skips the scan
        col = written(ctx, column)
        table = written_name(ctx, parsed.name)
        message = locks_message(ACCESS_EXCLUSIVE, table,
                                f"`SET NOT NULL` on `{table}.{col}` reads every row and")
        if version >= 12:
            name = f"{parsed.table.value}_{column.value}_not_null"
            help = (f"Add `CONSTRAINT {name} CHECK ({col} IS NOT NULL) NOT VALID`, run `VALIDATE CONSTRAINT "
                    f"{name}` in a separate migration, then `SET NOT NULL` skips the scan.")
        else:
            help = (f"Run it while `{table}` is small or quiet: PostgreSQL {version} always scans for "
                    "`SET NOT NULL` (a valid CHECK constraint spares the scan from PostgreSQL 12 on).")
        yield ctx.report(ctx.cover(action.first, action.last), message, help=help)


def _proven(ctx: StatementContext, parsed: AlterTable, column: Lexeme) -> bool:
    """Whether a valid `CHECK (column IS NOT NULL)` exists before this statement."""
    col = column.name
    table = parsed.table.value.lower()
    added: dict[str, bool] = {}  # constraint name -> valid, for checks added in this file
    for _stmt, other in alter_statements(ctx, ctx.stmt, table):
        for action in other.actions:
            con = add_constraint(action)
            if con is not None and con.kind == "CHECK" and is_not_null_check(con.body, col):
                added[con.name.name if con.name is not None else ""] = not con.not_valid
                continue
            v = validate_constraint(action)
            if v is not None and v.name in added:
                added[v.name] = True
    if any(added.values()):
        return True
    return _from_history(ctx, parsed, col)


def _from_history(ctx: StatementContext, parsed: AlterTable, col: str) -> bool:
    """A `CHECK (col IS NOT NULL)` the table had before this file (earlier migrations: assumed validated)."""
    state = ctx.file.state
    if state is None:
        return False
    schema = parsed.name[-2].name if len(parsed.name) > 1 else None
    table = state.table(parsed.table.name, schema)
    if table is None:
        return False
    for con in table.constraints:
        if con.kind != "check" or not con.definition:
            continue
        body = re.sub(r"^\s*CHECK\s*", "", con.definition, flags=re.I)
        if is_not_null_check(lex(body), col) and not any(
                e.kind == "add constraint" and e.name == con.name for e in state.effects):
            return True  # (one added in this file was judged above, with its NOT VALID)
    return False


RULE = Rule(code="SG53", name="set-not-null", severity="warning", doc=__doc__, check=check)
