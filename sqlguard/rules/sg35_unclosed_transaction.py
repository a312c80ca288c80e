"""A `BEGIN` has no `COMMIT` or `ROLLBACK` before the end of the file (or of its up/down section).

## Why is this bad?
With psql the open transaction is rolled back when the session ends, silently undoing the whole
migration; with a runner that wraps files in its own transaction the stray BEGIN only warns, and
locks taken so far are held until the connection closes.

## Example
    BEGIN;
    ALTER TABLE users ADD COLUMN bio text;

## Use instead
    BEGIN;
    ALTER TABLE users ADD COLUMN bio text;
    COMMIT;
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import FileContext, Rule
from sqlguard.sql.split import Statement

_OPENERS = {"BEGIN", "START"}
_CLOSERS = {"COMMIT", "END", "ROLLBACK", "ABORT"}


def check(ctx: FileContext) -> Iterator[Finding]:
    open_stmt: Statement | None = None
    section: str | None = None
    for stmt in ctx.statements:
        if stmt.context != "top" or stmt.kind != "sql":
            continue
        if stmt.section != section:
            if open_stmt is not None:
                yield _report(ctx, open_stmt, f"the `{section}` section")
            open_stmt = None
            section = stmt.section
        words = stmt.text.split(None, 2)
        kw = words[0].upper().rstrip(";") if words else ""
        second = words[1].upper() if len(words) > 1 else ""
        opens = kw == "BEGIN" and second in ("", "TRANSACTION", "WORK", "ISOLATION", "READ", "DEFERRABLE", "NOT")
        if opens or (kw == "START" and second == "TRANSACTION"):
            open_stmt = stmt
        elif kw in _CLOSERS and not (kw == "ROLLBACK" and second == "TO"):
            open_stmt = None
    if open_stmt is not None:
        yield _report(ctx, open_stmt, "the file" if section is None else f"the `{section}` section")


def _report(ctx: FileContext, stmt: Statement, where: str) -> Finding:
    opener = stmt.text.split()[0]
    return ctx.report(stmt.span, f"`{opener}` opens a transaction that is never committed before the end of "
                                 f"{where}: the migration's changes are rolled back when the session ends.",
                      help="Add `COMMIT;` after the last statement of the transaction.")


RULE = Rule(code="SG35", name="unclosed-transaction", severity="warning", doc=__doc__, check=check, scope="file")
