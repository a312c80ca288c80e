"""A statement PostgreSQL rejects, or one sqlguard could not read.

For PostgreSQL, PostgreSQL's own parser decides (libpg_query, the server's grammar): what it rejects
is reported with its message and position, and so is syntax newer than the configured `pg-version`
(`JSON_TABLE` on PostgreSQL 15, `COPY … DEFAULT`), a syntax error in a PL/pgSQL or SQL function body,
which the server rejects when the function is created, and what the server's parse analysis rejects
from the statement alone before anything runs (SQLSTATE 42601): an INSERT with more values than
columns, a column with both a DEFAULT and an identity, NULL on a serial column, two assignments to
one column, an option given twice. What the parser cannot judge is said at info level:
a statement too long to parse, a psql variable (`:name`, filled in by psql). A psql meta-command
(`\\set`) is not SQL. For MySQL and SQLite, sqlguard has no server grammar: a statement its parser
(sqlglot) cannot read is reported at info level, since it may be valid.

## Why is this bad?
The migration stops at the statement with `ERROR: syntax error`, halfway through a deploy. A
statement sqlguard could not read was also checked by fewer rules.

## Example
    SELEC * FROM users;

## Use instead
    SELECT * FROM users;
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from sqlguard.diagnostic import Finding, Span
from sqlguard.lint.rule import Rule, StatementContext

# sqlglot keeps many valid statements as an opaque Command; one that does not start like any SQL
# statement is reported (MySQL and SQLite).
SQL_STARTS = frozenset({
    "ABORT", "ALTER", "ANALYZE", "BEGIN", "CALL", "CHECKPOINT", "CLOSE", "CLUSTER", "COMMENT", "COMMIT", "COPY",
    "CREATE", "DEALLOCATE", "DECLARE", "DELETE", "DELIMITER", "DISCARD", "DO", "DROP", "END", "EXECUTE",
    "EXPLAIN", "FETCH", "GRANT", "IMPORT", "INSERT", "LISTEN", "LOAD", "LOCK", "MERGE", "MOVE", "NOTIFY",
    "PRAGMA", "PREPARE", "REASSIGN", "REFRESH", "REINDEX", "RELEASE", "RESET", "REVOKE", "ROLLBACK",
    "SAVEPOINT", "SECURITY", "SELECT", "SET", "SHOW", "START", "TABLE", "TRUNCATE", "UNLISTEN", "UPDATE",
    "USE", "VACUUM", "VALUES", "WITH",
    # MySQL and SQLite statements
    "RENAME", "REPLACE", "UNLOCK", "FLUSH", "OPTIMIZE", "REPAIR", "HANDLER", "INSTALL", "UNINSTALL", "ATTACH",
    "DETACH", "KILL", "DESCRIBE", "DESC",
})
_MODIFIERS = frozenset({"CREATE", "ALTER", "DROP", "OR", "REPLACE", "UNIQUE", "TEMP", "TEMPORARY", "GLOBAL",
                        "LOCAL", "UNLOGGED", "MATERIALIZED", "FOREIGN", "DEFAULT", "TEXT", "EVENT", "IF",
                        "NOT", "EXISTS", "SECURITY", "DATA", "RECURSIVE", "CONSTRAINT", "TRUSTED",
                        "PROCEDURAL"})


def _what(ctx: StatementContext) -> str:
    """The statement's kind as written: `CREATE OR REPLACE FUNCTION`, `DROP INDEX`, `SELEC`."""
    out: list[str] = []
    for t in ctx.lexemes[:8]:
        if t.kind != "word":
            break
        out.append(t.value)
        if t.upper not in _MODIFIERS:
            break
    return " ".join(out) or "statement"


def check(ctx: StatementContext) -> Iterator[Finding]:
    stmt = ctx.stmt
    if stmt.kind == "meta":
        command = stmt.text.split()[0] if stmt.text.split() else "\\"
        yield ctx.report(None, f"psql meta-command `{command}` is not SQL: skipped.",
                         help="Keep psql meta-commands out of migrations that other runners apply.")
        return
    if stmt.kind != "sql":
        return
    if ctx.dialect == "postgres":
        yield from _postgres(ctx)
    else:
        yield from _other(ctx)


def _postgres(ctx: StatementContext) -> Iterator[Finding]:
    from sqlguard.sql.syntax import verdict

    pg = ctx.file.settings.pg_version
    v = verdict(ctx.stmt.text, pg)
    if v.status == "accepted":
        return
    what = _what(ctx)
    where = Span(ctx.stmt.offset(v.offset), ctx.stmt.offset(v.offset)) if v.offset is not None else _first_line(ctx)
    if v.status == "rejected":
        yield ctx.report(where, f"PostgreSQL rejects this `{what}` statement: {v.message}.",
                         help="Fix the statement: the migration stops here when it runs.")
    elif v.status == "newer":
        yield ctx.report(where, f"{v.message} needs PostgreSQL {v.version}; this project targets PostgreSQL {pg} "
                                f"(`pg-version`), which rejects the statement.",
                         help=f"Write it the PostgreSQL {pg} way, or set `pg-version` to {v.version} if every "
                              f"database runs PostgreSQL {v.version} or later.")
    else:
        f = ctx.report(where, f"`{what}` statement not checked for syntax: {v.message}.")
        yield replace(f, severity="info")


def _other(ctx: StatementContext) -> Iterator[Finding]:
    out = ctx.outcome
    if out.status == "parsed":
        return
    what = _what(ctx)
    if out.status == "opaque":
        if ctx.words(1) and ctx.words(1)[0] in SQL_STARTS:
            return
        f = ctx.report(_first_line(ctx), f"`{what}` is not understood by sqlguard's {ctx.dialect} parser: only "
                                         "token-level checks ran on this statement.")
        yield replace(f, severity="info")
        return
    where = Span(out.offset, out.offset) if out.offset is not None else _first_line(ctx)
    if out.status == "skipped":
        message = f"`{what}` statement not parsed: it is {out.reason}; only token-level checks ran on it."
    else:
        message = (f"sqlguard's {ctx.dialect} parser could not read this `{what}` statement ({out.reason}): only "
                   "token-level checks ran on it.")
    yield replace(ctx.report(where, message), severity="info")


def _first_line(ctx: StatementContext) -> Span:
    text = ctx.file.text
    start = ctx.stmt.span.start
    nl = text.find("\n", start, ctx.stmt.span.end)
    return Span(start, nl if nl >= 0 else ctx.stmt.span.end)


RULE = Rule(code="SG00", name="unparsable-statement", severity="warning", doc=__doc__, check=check)
