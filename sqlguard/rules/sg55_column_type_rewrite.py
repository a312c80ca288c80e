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

from collections.abc import Iterator, Sequence

from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.postgres.types import PgType, parse_type, type_change, unbounded_text
from sqlguard.rules._pg import ACCESS_EXCLUSIVE, locks_message, runs_in_migration
from sqlguard.rules._sg55_ddl import Relation, alter_relation, altered_type, quote, rollback, type_text, written
from sqlguard.sql.lex import Lexeme


def check(ctx: StatementContext) -> Iterator[Finding]:
    if not runs_in_migration(ctx):
        return
    if ctx.words(1) != ["ALTER"]:
        return
    if rollback(ctx.file.migration, ctx.stmt.section):
        return  # rollbacks run by hand to undo a release
    alter = alter_relation(ctx.lexemes)
    if alter is None or alter.kind != "TABLE":
        return
    if ctx.file.created_here(alter.rel.name):
        return  # a new table is empty and nobody else uses it yet
    for action in alter.actions:
        found = altered_type(action)
        if found is None:
            continue
        col, type_toks, using = found
        new = parse_type(type_text(type_toks))
        if new is None:
            continue
        old = _current_type(ctx, alter.rel, col.name)
        finding = _judge(ctx, alter.rel, col, action, old, new, _changes_values(using, col, new))
        if finding is not None:
            yield finding


def _current_type(ctx: StatementContext, rel: Relation, column: str) -> PgType | None:
    table = None
    if ctx.file.state is not None:
        table = ctx.file.state.table(rel.name, rel.schema)
    if table is None and ctx.file.known is not None:
        table = ctx.file.known.table(rel.name, rel.schema)
    c = table.column(column) if table is not None else None
    return parse_type(c.type) if c is not None and c.type else None


def _changes_values(using: Sequence[Lexeme], col: Lexeme, new: PgType) -> bool:
    """Whether a USING clause computes something other than the plain cast PostgreSQL would do."""
    if not using:
        return False
    if using[0].name != col.name:
        # CAST(c AS t)
        if (len(using) > 4 and using[0].upper == "CAST" and using[2].name == col.name and using[3].upper == "AS"
                and using[-1].value == ")"):
            cast = parse_type(type_text(using[4:-1]))
            return cast is None or (cast.base, cast.mods, cast.array) != (new.base, new.mods, new.array)
        return True
    if len(using) == 1:
        return False
    if using[1].value == "::":
        cast = parse_type(type_text(using[2:]))
        return cast is None or (cast.base, cast.mods, cast.array) != (new.base, new.mods, new.array)
    return True


def _judge(ctx: StatementContext, rel: Relation, col: Lexeme, action: Sequence[Lexeme], old: PgType | None,
           new: PgType, computes: bool) -> Finding | None:
    table = written(ctx.file.text, ctx.stmt, rel)
    column = quote(col.name)
    where = ctx.cover(action[0], action[-1])
    help_text = _help(table, col.name, old, new, ctx.file.settings.pg_version)
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


RULE = Rule(code="SG55", name="column-type-rewrite", severity="warning", doc=__doc__, check=check)
