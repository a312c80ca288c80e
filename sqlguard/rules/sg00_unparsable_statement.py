"""A statement could not be parsed, so only token-level checks ran on it.

sqlguard parses every statement with sqlglot. Where the parser raises (a syntax error, or syntax
it does not know, such as `DROP INDEX a, b` or `COMMENT ON CONSTRAINT`), where it gives up and keeps
the statement as an opaque command that no token-level check understands, or where a statement is
not SQL at all (a psql meta-command), the rules that need a syntax tree did not see it. This rule
says so once per statement, with the parser's reason and position, instead of passing silently.

## Why is this bad?
A statement nobody checked can hide exactly the mistake the other rules look for. A real syntax
error also fails the migration when it runs.

## Example
    SELEC * FROM users;

## Use instead
    SELECT * FROM users;
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding, Span
from sqlguard.lint.rule import Rule, StatementContext

# sqlglot keeps many valid statements as an opaque Command (DO, CREATE EXTENSION, ALTER TABLE …
# VALIDATE CONSTRAINT, ALTER TYPE … ADD VALUE, CREATE USER, …). The token-level checks read every
# statement (table references, DROPs), so an opaque statement that starts like SQL lost nothing any
# rule needs; one that does not start like any SQL statement is reported.
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
    out = ctx.outcome
    if out.status == "parsed":
        return
    stmt = ctx.stmt
    if stmt.kind == "meta":
        command = stmt.text.split()[0] if stmt.text.split() else "\\"
        yield ctx.report(None, f"psql meta-command `{command}` is not SQL: skipped.",
                         help="Keep psql meta-commands out of migrations that other runners apply.")
        return
    what = _what(ctx)
    if out.status == "opaque":
        if ctx.words(1) and ctx.words(1)[0] in SQL_STARTS:
            return
        yield ctx.report(_first_line(ctx), f"`{what}` is not understood by the SQL parser: only token-level "
                                           "checks ran on this statement.",
                         help="Suppress with `-- sqlguard: ignore SG00` if this statement is intended.")
        return
    where = Span(out.offset, out.offset) if out.offset is not None else _first_line(ctx)
    if out.status == "skipped":
        message = f"`{what}` statement not parsed: it is {out.reason}; only token-level checks ran on it."
        help = ("Load bulk data with COPY from a file, or split the statement."
                if "MB" in out.reason else "Flatten the expression, or build it in steps.")
    else:
        message = f"could not parse this `{what}` statement ({out.reason}): only token-level checks ran on it."
        help = (f"Check the syntax for the configured dialect (`{ctx.dialect}`); if it is valid, suppress with "
                "`-- sqlguard: ignore SG00`.")
    yield ctx.report(where, message, help=help)


def _first_line(ctx: StatementContext) -> Span:
    text = ctx.file.text
    start = ctx.stmt.span.start
    nl = text.find("\n", start, ctx.stmt.span.end)
    return Span(start, nl if nl >= 0 else ctx.stmt.span.end)


RULE = Rule(code="SG00", name="unparsable-statement", severity="warning", doc=__doc__, check=check)
