"""A statement destroys data: DROP TABLE, DROP COLUMN, TRUNCATE, or DELETE / UPDATE without WHERE.

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

from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.rules._drops import drop_sites
from sqlguard.sql.lex import Lexeme


def check(ctx: StatementContext) -> Iterator[Finding]:
    stmt = ctx.stmt
    if stmt.context not in ("top", "do", "python-alembic") or stmt.section == "down":
        return
    migration = ctx.file.migration
    if migration is not None and migration.role != "up":
        return
    toks = ctx.lexemes
    if not toks or toks[0].kind != "word":
        return
    first = toks[0].upper
    if first in ("DROP", "ALTER"):
        for site in drop_sites(toks):
            if site.kind == "TABLE":
                for name in site.names:
                    yield _report(ctx, site.keyword, name, f"`DROP TABLE {name.value}` deletes the table and all "
                                                           "its rows", name.value)
            elif site.kind == "COLUMN" and site.table is not None:
                col = site.names[0]
                yield _report(ctx, site.keyword, col, f"`DROP COLUMN {col.value}` deletes every value of "
                                                      f"`{site.table.value}.{col.value}`", site.table.value)
        return
    if first == "TRUNCATE":
        names = [t for t in toks[1:] if t.kind in ("word", "quoted") and t.upper not in ("TABLE", "ONLY")]
        table = names[0].value if names else "?"
        yield _report(ctx, toks[0], names[0] if names else toks[0], f"`TRUNCATE {table}` deletes every row",
                      table)
        return
    verb, idx = _main_verb(toks)
    if verb in ("DELETE", "UPDATE") and not any(t.upper == "WHERE" and t.depth == 0 for t in toks[idx:]):
        target = _target(toks, idx, verb)
        what = "deletes every row of" if verb == "DELETE" else "changes every row of"
        yield _report(ctx, toks[idx], target or toks[idx],
                      f"`{verb}` without `WHERE` {what} `{target.value if target else '?'}`",
                      target.value if target else "the_table")


def _main_verb(toks: list[Lexeme]) -> tuple[str, int]:
    if toks[0].upper != "WITH":
        return toks[0].upper, 0
    for k, t in enumerate(toks):
        if t.depth == 0 and t.upper in ("SELECT", "INSERT", "UPDATE", "DELETE", "MERGE") and k > 0 \
                and toks[k - 1].value != "(":
            return t.upper, k
    return "", 0


def _target(toks: list[Lexeme], idx: int, verb: str) -> Lexeme | None:
    j = idx + 1
    while j < len(toks) and toks[j].upper in ("FROM", "ONLY", "LOW_PRIORITY", "QUICK", "IGNORE"):
        j += 1
    if j < len(toks) and toks[j].kind in ("word", "quoted"):
        while j + 2 < len(toks) and toks[j + 1].value == "." and toks[j + 2].kind in ("word", "quoted"):
            j += 2
        return toks[j]
    return None


def _report(ctx: StatementContext, first: Lexeme, last: Lexeme, what: str, table: str) -> Finding:
    return ctx.report(ctx.cover(first, last),
                      f"{what}: data is lost once this commits, so take a verified backup first.",
                      help=f"Back up first: {_backup_command(ctx.dialect, table)}.")


def _backup_command(dialect: str, table: str) -> str:
    if dialect == "mysql":
        return (f"`mysqldump --single-transaction \"$DB_NAME\" {table} > {table}.sql`, then check the file "
                "restores into a scratch database")
    if dialect == "sqlite":
        return "`sqlite3 app.db \".backup app-backup.db\"`, then `sqlite3 app-backup.db \"PRAGMA integrity_check\"`"
    return (f"`pg_dump --format=custom --table={table} --file={table}.dump \"$DATABASE_URL\"`, then verify it "
            f"with `pg_restore --list {table}.dump`")


RULE = Rule(code="SG21", name="destructive-statement", severity="warning", doc=__doc__, check=check)
