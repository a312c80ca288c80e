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


def check(ctx: FileContext) -> Iterator[Finding]:
    if ctx.transactions is None:
        return
    sections = {s.section for s in ctx.statements if s.section is not None}
    for section, i in ctx.transactions.unclosed:
        stmt = ctx.statements[i]
        where = "the file" if not sections else f"the `{section}` section"
        opener = stmt.text.split()[0]
        yield ctx.report(stmt.span, f"`{opener}` opens a transaction that is never committed before the end of "
                                    f"{where}: the migration's changes are rolled back when the session ends.",
                         help="Add `COMMIT;` after the last statement of the transaction.")


RULE = Rule(code="SG35", name="unclosed-transaction", severity="warning", doc=__doc__, check=check, scope="file")
