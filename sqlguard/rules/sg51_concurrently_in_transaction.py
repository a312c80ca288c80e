"""A `CONCURRENTLY` operation inside a transaction fails: PostgreSQL refuses to run it there.

Covers `CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`, `REINDEX … CONCURRENTLY` and
`ALTER TABLE … DETACH PARTITION … CONCURRENTLY` (PostgreSQL only) inside `BEGIN` … `COMMIT`, inside
a DO block, or in a migration its runner wraps in one transaction (sqlguard, dbmate, goose,
`.up.sql` runners such as pop and maragudk/migrate, numbered postgres-migrations; Flyway when the
file holds other statements). The `assume-in-transaction` setting, or a
`-- sqlguard: transaction=on|off` line in the file, says how the runner runs it. `REFRESH
MATERIALIZED VIEW CONCURRENTLY` may run in a transaction and is not reported; nor are function
bodies, which run when called.

## Why is this bad?
The migration stops with `ERROR: CREATE INDEX CONCURRENTLY cannot run inside a transaction block`
(or `cannot be executed from a function` in a DO block). A concurrent build needs to commit
several transactions of its own while it waits for other sessions, which it cannot do inside yours.

The recipe:

1. Move the statement into a migration of its own, with nothing else in it.
2. Mark that file so that it runs outside a transaction: `-- sqlguard: transaction=off`, plus
   your runner's switch: dbmate's `-- migrate:up transaction:false`, goose's
   `-- +goose NO TRANSACTION`, postgres-migrations' `-- postgres-migrations disable-transaction`,
   Alembic's `with op.get_context().autocommit_block():`. Flyway runs a migration of one
   CONCURRENTLY statement outside a transaction by itself; golang-migrate does for a file of one
   statement (mark it so that sqlguard knows), pop and maragudk/migrate never do.
3. With psql or sqitch, put it after the `COMMIT`, not between `BEGIN` and `COMMIT`.

## Example
    BEGIN;
    CREATE INDEX CONCURRENTLY idx_users_email ON users (email);
    COMMIT;

## Use instead
    -- sqlguard: transaction=off
    CREATE INDEX CONCURRENTLY idx_users_email ON users (email);
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.migrations.files import LABELS
from sqlguard.rules._sg50_ddl import (
    alter_table,
    facts,
    index_statement,
    line_of,
    outside_transaction,
    runner_runs_alone,
)
from sqlguard.sql.lex import Lexeme

_MARKED_ON = re.compile(r"--\s*sqlguard:\s*transaction\s*=\s*(on|true)\b", re.I)


def check(ctx: StatementContext) -> Iterator[Finding]:
    if ctx.dialect != "postgres" or ctx.stmt.context == "function" or not ctx.in_transaction:
        return
    if ctx.stmt.keyword not in ("CREATE", "DROP", "REINDEX", "ALTER"):
        return
    found = _concurrent_operation(ctx)
    if found is None or runner_runs_alone(ctx):
        return
    what, last = found
    reason, advice = _where(ctx, what)
    yield ctx.report(ctx.cover(ctx.lexemes[0], last),
                     f"`{what}` cannot run inside a transaction block, and {reason}: PostgreSQL rejects it "
                     "and the migration fails.", help=advice)


def _concurrent_operation(ctx: StatementContext) -> tuple[str, Lexeme] | None:
    """What concurrent operation the statement is, and the lexeme that makes it concurrent."""
    toks = ctx.lexemes
    first = toks[0].upper
    if first in ("CREATE", "DROP"):
        idx = index_statement(toks)
        if idx is not None and idx.concurrently is not None:
            unique = "UNIQUE " if idx.unique else ""
            return f"{idx.verb} {unique}INDEX CONCURRENTLY", idx.concurrently
        return None
    if first == "REINDEX":
        desc = ctx.ddl
        at = getattr(desc, "concurrently_at", None)
        if not getattr(desc, "concurrently", False) or at is None:
            return None
        tok = next((t for t in toks if t.start == at.start), None)
        return ("REINDEX … CONCURRENTLY", tok) if tok is not None else None
    parsed = alter_table(toks)
    if parsed is None:
        return None
    for action in parsed.actions:
        if action.words(2) == ["DETACH", "PARTITION"] and action.last.upper == "CONCURRENTLY":
            return "DETACH PARTITION … CONCURRENTLY", action.last
    return None


def _head(ctx: StatementContext, limit: int = 90) -> str:
    """The statement as written (white space folded), cut at a word when long."""
    text = " ".join(ctx.source(ctx.span()).split()).rstrip(";")
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"


def _where(ctx: StatementContext, what: str) -> tuple[str, str]:
    """Why the statement is inside a transaction, and how to get it out."""
    advice = outside_transaction(ctx, _head(ctx))
    if ctx.stmt.context != "top":
        return "a DO block always runs inside one", advice
    tx = facts(ctx.file).transactions(ctx.file).get(id(ctx.stmt))
    if tx is not None and tx.kind == "explicit" and tx.begin is not None:
        line = line_of(ctx.file, tx.begin.span.start)
        opener = " ".join(tx.begin.text.split()[:2]).rstrip(";").upper()
        opener = opener if opener.startswith("START TRANSACTION") else "BEGIN"
        return f"it runs inside the transaction opened by `{opener}` on line {line}", advice
    migration = ctx.file.migration
    convention = migration.convention if migration is not None else None
    if _MARKED_ON.search(ctx.file.text[:20000]):
        return "this file is marked `-- sqlguard: transaction=on`", advice
    if ctx.file.settings.assume_in_transaction:
        return "the `assume-in-transaction` setting says its runner wraps each migration in one", advice
    if convention == "flyway":
        return "Flyway runs a migration that holds other statements in one transaction", advice
    if convention == "golang-migrate":
        return ("the runners of `.up.sql` migrations run each inside one (pop and maragudk/migrate always; "
                "golang-migrate when the file holds several statements)"), advice
    runner = LABELS.get(convention or "", "its runner")
    return f"{runner} runs this migration inside one", advice


RULE = Rule(code="SG51", name="concurrently-in-transaction", severity="error", doc=__doc__, check=check)
