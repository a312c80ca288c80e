"""`ALTER COLUMN … TYPE` rewrites the whole table while holding an ACCESS EXCLUSIVE lock.

PostgreSQL skips the rewrite only when the old type is binary-coercible to the new one or the change
relaxes a limit: `varchar(n)` to `varchar(m)` with m ≥ n, `varchar` to `text` and back (unlimited),
`numeric(p, s)` to `numeric(q, s)` with q ≥ p or to plain `numeric`, `varbit(n)` widening, a higher
precision for `timestamp`/`time`/`interval`, `cidr` to `inet`. Everything else, and every `USING`
that computes new values, rewrites the table and all its indexes. `timestamp` to `timestamptz`
(either way) skips the rewrite only when the session's TimeZone is UTC, on PostgreSQL 12 and later,
and still rebuilds the column's indexes. The current type comes from the migration history (or the
catalog); when it is unknown, only a change to `text` or unlimited `varchar` passes. Tables created
earlier in the same file are exempt, and so are rollbacks (down sections and files) and function
bodies.

## Why is this bad?
The rewrite copies every row and rebuilds every index while reads and writes of the table wait:
minutes of downtime on a large table, and while the statement waits for its lock, every other
query on the table queues behind it too.

## Example
    ALTER TABLE messages ALTER COLUMN body TYPE varchar(500);

## Use instead
    -- To limit a length, keep the type and add a constraint that is checked without a rewrite:
    ALTER TABLE messages ADD CONSTRAINT messages_body_length CHECK (char_length(body) <= 500) NOT VALID;
    -- then, in a later migration (a SHARE UPDATE EXCLUSIVE lock: reads and writes go on):
    ALTER TABLE messages VALIDATE CONSTRAINT messages_body_length;

    -- To change a type (integer to bigint, text to jsonb, …), move to a new column:
    -- 1. ALTER TABLE messages ADD COLUMN body_new jsonb;
    -- 2. keep it in step with a trigger (or have the application write both columns);
    -- 3. backfill in batches: UPDATE messages SET body_new = body::jsonb WHERE id BETWEEN … ;
    -- 4. in one short transaction with a lock_timeout: drop `body`, rename `body_new` to `body`
    --    (re-create its indexes CONCURRENTLY and its constraints NOT VALID beforehand);
    -- 5. deploy code that reads the new column.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.postgres.locks import ACCESS_EXCLUSIVE
from sqlguard.postgres.locks import message as locks_message
from sqlguard.postgres.types import PgType, parse_type, type_change, unbounded_text
from sqlguard.sql.ddl.model import Action, AlterTable, Name, quote


def check(ctx: StatementContext) -> Iterator[Finding]:
    d = ctx.altered_table()
    if d is None or ctx.in_rollback:
        return  # rollbacks run by hand to undo a release
    for action in d.actions:
        if action.kind != "AT_AlterColumnType" or action.type is None or not action.column:
            continue
        new = parse_type(action.type.text)
        if new is None:
            continue
        old = _current_type(ctx, d.name, action.column)
        finding = _judge(ctx, d, action, old, new, not action.using_plain)
        if finding is not None:
            yield finding


def _current_type(ctx: StatementContext, rel: Name, column: str) -> PgType | None:
    table = None
    if ctx.file.state is not None:
        table = ctx.file.state.table(rel.name, rel.schema)
    if table is None and ctx.file.known is not None:
        table = ctx.file.known.table(rel.name, rel.schema)
    c = table.column(column) if table is not None else None
    return parse_type(c.type) if c is not None and c.type else None


def _judge(ctx: StatementContext, d: AlterTable, action: Action, old: PgType | None, new: PgType,
           computes: bool) -> Finding | None:
    table = ctx.name(d.name)
    column = quote(action.column or "")
    where = action.at
    help_text = _help(table, action.column or "", old, new, ctx.file.settings.pg_version)
    if computes:
        doing = f"`ALTER COLUMN {column} TYPE {new}` with a `USING` expression rewrites every row of `{table}`; " \
                "the rewrite"
        return ctx.report(where, locks_message(ACCESS_EXCLUSIVE, table, doing) + ".", help=help_text)
    if old is None:
        if unbounded_text(new):
            return None  # every type casts to text; from varchar or text it is free
        doing = (f"`ALTER COLUMN {column} TYPE {new}` rewrites `{table}` unless `{column}` is already a type that "
                 f"is binary-coercible to `{new}` (sqlguard does not know its current type); a rewrite")
        return ctx.report(where, locks_message(ACCESS_EXCLUSIVE, table, doing) + ".", help=help_text)
    change = type_change(old, new)
    if change == "none":
        return None
    if change == "timezone" and ctx.file.settings.pg_version < 12:
        change = "rewrite"  # the UTC shortcut arrived in PostgreSQL 12
    if change == "reindex":
        doing = (f"Changing `{table}.{column}` from `{old}` to `{new}` skips the table rewrite but rebuilds every "
                 "index on the column; that")
    elif change == "timezone":
        doing = (f"Changing `{table}.{column}` from `{old}` to `{new}` rewrites the table unless the session's "
                 "TimeZone is UTC (PostgreSQL 12+, and even then every index on the column is rebuilt); that")
    elif change == "unsure":
        doing = (f"Changing `{table}.{column}` from `{old}` to `{new}` rewrites the table unless `{new}` is "
                 f"binary-coercible from `{old}` (a domain over it without constraints, say); a rewrite")
    else:
        doing = f"Changing `{table}.{column}` from `{old}` to `{new}` rewrites the whole table and its indexes; that"
    return ctx.report(where, locks_message(ACCESS_EXCLUSIVE, table, doing) + ".", help=help_text)


def _help(table: str, name: str, old: PgType | None, new: PgType, pg: int) -> str:
    column = quote(name)
    limit = new.mods[0] if new.mods else None
    if new.base == "varchar" and limit is not None and (old is None or old.base in ("text", "varchar")):
        return (f"Keep the type and add `CHECK (char_length({column}) <= {limit}) NOT VALID` to `{table}`, then "
                "`VALIDATE CONSTRAINT` in a later migration.")
    if old is not None and {old.base, new.base} == {"timestamp", "timestamptz"} and pg >= 12:
        return ("Run `SET TimeZone = 'UTC';` first in the same session (PostgreSQL 12+) to skip the rewrite, "
                f"or add a `{new}` column, backfill it in batches and swap the names.")
    return (f"Add a new column (`ALTER TABLE {table} ADD COLUMN {quote(name + '_new')} {new}`), backfill it in "
            "batches, then swap the names in one short transaction.")


RULE = Rule(code="SG55", name="column-type-rewrite", severity="warning", doc=__doc__, check=check,
            dialects=("postgres",))
