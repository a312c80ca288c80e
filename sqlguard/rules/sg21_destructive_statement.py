"""A statement destroys data: DROP TABLE, DROP COLUMN, TRUNCATE, DELETE / UPDATE without WHERE, DROP DATABASE.

DROP SCHEMA … CASCADE is reported too: it drops every table of the schema. An UPDATE without WHERE
that only fills columns the same migration added (a backfill) loses nothing: it is reported with
what it costs instead, one transaction that rewrites every row, and how to batch it.

Not reported in rollbacks (a `_rollback.sql`, `.down.sql`, undo file or down section), whose job is
to undo their migration, nor inside function bodies, which run later, when called.

## Why is this bad?
The data is gone once the statement commits; only a backup brings it back. A backup that was
never verified is not one.

## Example
    DROP TABLE legacy_sessions;

## Use instead
    -- 1. pg_dump --format=custom --table=legacy_sessions --file=legacy_sessions.dump "$DATABASE_URL"
    -- 2. pg_restore --list legacy_sessions.dump   (verifies the backup)
    -- 3. then, in the migration, keep the table and stop writing to it:
    ALTER TABLE legacy_sessions RENAME TO legacy_sessions_retired;
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding, Span
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.rules.sg20_unconditional_drop import shown
from sqlguard.sql.ddl.model import AlterTable, At, Dml, Drop, Name, Truncate
from sqlguard.sql.reading import KNOWN


def check(ctx: StatementContext) -> Iterator[Finding]:
    stmt = ctx.stmt
    if stmt.context not in ("top", "do", "python-alembic") or stmt.section == "down":
        return
    migration = ctx.file.migration
    if migration is not None and migration.role != "up":
        return
    if stmt.keyword not in ("DROP", "ALTER", "TRUNCATE", "DELETE", "UPDATE", "WITH"):
        return  # (most statements: decided without describing them)
    d = ctx.ddl
    if isinstance(d, Drop) and d.object == "table":
        for name in d.names:
            yield _report(ctx, ctx.cover(d.keyword_at, name.at) if d.keyword_at and name.at else d.keyword_at,
                          f"`DROP TABLE {shown(ctx, name)}` deletes the table and all its rows", name)
    elif isinstance(d, Drop) and (d.object == "database" or (d.object == "schema" and d.cascade)):
        for name in d.names:
            what = (f"`DROP DATABASE {shown(ctx, name)}` deletes the database and every table in it"
                    if d.object == "database" else
                    f"`DROP SCHEMA {shown(ctx, name)} CASCADE` deletes every table of the schema with its rows")
            yield _report(ctx, ctx.cover(d.keyword_at, name.at) if d.keyword_at and name.at else d.keyword_at, what,
                          None, whole=d.object, name=name.name)
    elif isinstance(d, AlterTable) and d.relkind == "table":
        table = shown(ctx, d.name)
        for action in d.actions:
            if action.kind != "AT_DropColumn":
                continue
            col = shown(ctx, Name(action.column or action.name or "?", None, action.column_at))
            where = At(action.at.start, action.column_at.end) if action.at and action.column_at else action.at
            yield _report(ctx, where, f"`DROP COLUMN {col}` deletes every value of `{table}.{col}`", d.name)
    elif isinstance(d, Truncate):
        # (the statement starts with its TRUNCATE)
        for name in d.tables:
            where = ctx.cover(Span(stmt.span.start, stmt.span.start), name.at) if name.at else None
            yield _report(ctx, where, f"`TRUNCATE {shown(ctx, name)}` deletes every row", name)
    elif isinstance(d, Dml) and d.verb in ("DELETE", "UPDATE") and not d.where:
        what = "deletes every row of" if d.verb == "DELETE" else "changes every row of"
        target = d.target
        where = ctx.cover(d.verb_at, target.at) if d.verb_at and target and target.at else d.verb_at
        table = shown(ctx, target) if target is not None else "?"
        added = _added_here(ctx, target, d.assigned) if d.verb == "UPDATE" and target is not None else False
        if added:
            cols = ", ".join(f"`{table}.{c}`" for c in d.assigned)
            yield ctx.report(where, f"`UPDATE {table}` without `WHERE` backfills {cols}, which this migration adds: "
                                    "no data is lost, but one statement rewrites every row of the table in one "
                                    "transaction, holding each row's lock until it commits and leaving a dead "
                                    "version of every row behind.",
                             help="On a large table, backfill in batches outside the migration's transaction "
                                  "(`UPDATE … WHERE id BETWEEN … AND …`, one commit per batch), or give the column "
                                  "a DEFAULT when you add it.")
            return
        yield _report(ctx, where, f"`{d.verb}` without `WHERE` {what} `{table}`", target)


def _added_here(ctx: StatementContext, table: Name, columns: tuple[str, ...]) -> bool:
    """Whether every column in `columns` was added to `table` by an earlier statement of this file: the
    UPDATE fills a new column (a backfill) rather than overwriting existing values."""
    from sqlguard.lint.facts import facts

    if not columns:
        return False
    added = {a.column_def.name for i, alter in facts(ctx.file).alters(table.name) if i < ctx.index
             for a in alter.actions if a.kind == "AT_AddColumn" and a.column_def is not None}
    return all(c in added for c in columns)


def _report(ctx: StatementContext, where: Span | At | None, what: str, table: Name | None, *, whole: str = "",
            name: str = "") -> Finding:
    # pg_dump takes `schema.table`; mysqldump takes the database and the table apart; a name the file writes
    # otherwise (a template placeholder for its schema) is dumped by its own name
    dumped = "the_table" if table is None else table.sql \
        if ctx.dialect == "postgres" and ctx.name(table) == table.sql else table.name
    return ctx.report(where, f"{what}: data is lost once this commits, so take a verified backup first.",
                      help=f"Back up first: {_backup_command(ctx.dialect, dumped, whole, name)}.")


# The backup tool of each dialect without a full reader.
_TOOLS = {"mssql": "`BACKUP DATABASE`", "oracle": "Data Pump (`expdp`) or RMAN", "h2": "`SCRIPT TO 'backup.sql'`",
          "cockroachdb": "`BACKUP TABLE … INTO`", "clickhouse": "`BACKUP TABLE … TO`", "duckdb": "`EXPORT DATABASE`"}


def _backup_command(dialect: str, table: str, whole: str = "", name: str = "") -> str:
    """How to back up what is lost: a table, or (`whole`) a database or a schema named `name`."""
    if whole and dialect == "postgres":
        target = f"--schema={name} \"$DATABASE_URL\"" if whole == "schema" else f"--dbname={name}"
        return (f"`pg_dump --format=custom --file={name}.dump {target}`, then verify it with "
                f"`pg_restore --list {name}.dump`")
    if whole:
        table = name
    if dialect == "mysql":
        return (f"`mysqldump --single-transaction \"$DB_NAME\" {table} > {table}.sql`, then check the file "
                "restores into a scratch database")
    if dialect == "sqlite":
        return "`sqlite3 app.db \".backup app-backup.db\"`, then `sqlite3 app-backup.db \"PRAGMA integrity_check\"`"
    if dialect in _TOOLS:
        return f"with {_TOOLS[dialect]}, then check that the backup restores"
    return (f"`pg_dump --format=custom --table={table} --file={table}.dump \"$DATABASE_URL\"`, then verify it "
            f"with `pg_restore --list {table}.dump`")


RULE = Rule(code="SG21", name="destructive-statement", severity="warning", doc=__doc__, check=check,
            dialects=KNOWN)
