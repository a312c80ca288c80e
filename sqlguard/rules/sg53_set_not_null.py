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

from collections.abc import Iterator

from sqlguard.diagnostic import Finding
from sqlguard.lint.facts import facts
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.postgres.locks import ACCESS_EXCLUSIVE, message
from sqlguard.postgres.names import make_object_name
from sqlguard.sql.ddl import check_not_null_of
from sqlguard.sql.ddl.model import AlterTable


def check(ctx: StatementContext) -> Iterator[Finding]:
    d = ctx.altered_table()
    if d is None:
        return
    version = ctx.file.settings.pg_version
    for k, action in enumerate(d.actions):
        if action.kind != "AT_SetNotNull" or not action.column:
            continue
        if version >= 12 and _proven(ctx, d, k, action.column):
            continue  # a valid CHECK (c IS NOT NULL): PostgreSQL skips the scan
        col = ctx.written(action.column_at) if action.column_at is not None else action.column
        table = ctx.name(d.name)
        text = message(ACCESS_EXCLUSIVE, table, f"`SET NOT NULL` on `{table}.{col}` reads every row and")
        if version >= 12:
            name = make_object_name(d.name.name, action.column, "not_null")
            help = (f"Add `CONSTRAINT {name} CHECK ({col} IS NOT NULL) NOT VALID`, run `VALIDATE CONSTRAINT "
                    f"{name}` in a separate migration, then `SET NOT NULL` skips the scan.")
        else:
            help = (f"Run it while `{table}` is small or quiet: PostgreSQL {version} always scans for "
                    "`SET NOT NULL` (a valid CHECK constraint spares the scan from PostgreSQL 12 on).")
        yield ctx.report(action.at, text, help=help)


def _proven(ctx: StatementContext, d: AlterTable, k: int, column: str) -> bool:
    """Whether a valid `CHECK (column IS NOT NULL)` exists before this action."""
    added: dict[str, bool] = {}  # constraint name -> valid, for checks added in this file

    def follow(actions: tuple, upto: int | None = None) -> None:  # type: ignore[type-arg]
        for a in actions[:upto]:
            con = a.constraint
            if a.kind == "AT_AddConstraint" and con is not None and con.kind == "check" and con.not_null_of == column:
                added[con.name or ""] = not con.not_valid
            elif a.kind == "AT_ValidateConstraint" and a.name in added:
                added[a.name] = True

    for i, other in facts(ctx.file).alters(d.name.name):
        if i >= ctx.index:
            break
        follow(other.actions)
    follow(d.actions, k)
    if any(added.values()):
        return True
    return _from_history(ctx, d, column)


def _from_history(ctx: StatementContext, d: AlterTable, column: str) -> bool:
    """A `CHECK (column IS NOT NULL)` the table had before this file (earlier migrations: assumed validated)."""
    state = ctx.file.state
    if state is None:
        return False
    table = state.table(d.name.name, d.name.schema)
    if table is None:
        return False
    here = {e.name for e in state.effects if e.kind == "add constraint"}
    for con in table.constraints:
        if con.kind == "check" and con.definition and con.name not in here \
                and check_not_null_of(con.definition) == column:
            return True  # (one added in this file was judged above, with its NOT VALID)
    return False


RULE = Rule(code="SG53", name="set-not-null", severity="warning", doc=__doc__, check=check, dialects=("postgres",))
