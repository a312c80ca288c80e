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
from sqlguard.rule import Rule, StatementContext

# Statements sqlglot keeps as an opaque Command that the token-level checks still read in full
# (table references, DROPs): reporting them would be noise. Anything else opaque is reported.
TOKEN_CHECKED = (
    ("DO",), ("CREATE", "EXTENSION"), ("ALTER", "EXTENSION"), ("DROP", "EXTENSION"), ("ALTER", "TABLE"),
    ("ALTER", "TYPE"), ("CREATE", "TYPE"), ("ALTER", "SCHEMA"), ("CREATE", "SCHEMA"), ("ALTER", "DEFAULT"),
    ("GRANT",), ("REVOKE",), ("COMMENT",), ("SET",), ("RESET",), ("CREATE", "POLICY"), ("ALTER", "POLICY"),
    ("DROP", "POLICY"), ("CREATE", "TRIGGER"), ("CREATE", "OR", "REPLACE", "TRIGGER"), ("DROP", "TRIGGER"),
    ("ALTER", "FUNCTION"), ("ALTER", "PROCEDURE"), ("ALTER", "INDEX"), ("ALTER", "SEQUENCE"),
    ("ALTER", "VIEW"), ("ALTER", "MATERIALIZED"), ("ANALYZE",), ("VACUUM",), ("REINDEX",), ("CLUSTER",),
    ("REFRESH",), ("NOTIFY",), ("LISTEN",), ("ALTER", "ROLE"), ("CREATE", "ROLE"), ("DROP", "ROLE"),
    ("ALTER", "DATABASE"), ("CREATE", "PUBLICATION"), ("ALTER", "PUBLICATION"), ("DROP", "PUBLICATION"),
    ("CREATE", "DOMAIN"), ("ALTER", "DOMAIN"), ("DROP", "DOMAIN"), ("DROP", "TYPE"), ("DROP", "FUNCTION"),
    ("DROP", "PROCEDURE"), ("DROP", "INDEX"), ("DROP", "SEQUENCE"), ("DROP", "VIEW"), ("DROP", "TABLE"),
    ("DROP", "SCHEMA"), ("DROP", "MATERIALIZED"), ("TRUNCATE",), ("LOCK",), ("CALL",), ("BEGIN",), ("COMMIT",),
    ("ROLLBACK",), ("START",), ("END",), ("SAVEPOINT",), ("RELEASE",), ("USE",), ("PRAGMA",), ("DELIMITER",),
)


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
    words = ctx.words(4)
    what = " ".join(words[:2]) or "statement"
    if out.status == "opaque":
        if any(tuple(words[: len(prefix)]) == prefix for prefix in TOKEN_CHECKED):
            return
        yield ctx.report(_first_line(ctx), f"`{what}` is not understood by the SQL parser: only token-level "
                                           "checks ran on this statement.",
                         help="Suppress with `-- sqlguard: ignore SG00` if this statement is intended.")
        return
    where = Span(out.offset, out.offset) if out.offset is not None else _first_line(ctx)
    if out.status == "skipped":
        message = f"`{what}` statement not parsed: it is {out.reason}; only token-level checks ran on it."
    else:
        message = f"could not parse this `{what}` statement ({out.reason}): only token-level checks ran on it."
    yield ctx.report(where, message, help="Check the syntax for the configured dialect "
                                          f"(`{ctx.dialect}`); suppress with `-- sqlguard: ignore SG00` if it is valid.")


def _first_line(ctx: StatementContext) -> Span:
    text = ctx.file.text
    start = ctx.stmt.span.start
    nl = text.find("\n", start, ctx.stmt.span.end)
    return Span(start, nl if nl >= 0 else ctx.stmt.span.end)


RULE = Rule(code="SG00", name="unparsable-statement", severity="warning", doc=__doc__, check=check)
