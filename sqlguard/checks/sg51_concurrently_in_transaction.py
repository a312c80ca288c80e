"""A `CONCURRENTLY` operation inside a transaction fails: PostgreSQL refuses to run it there.

Covers `CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`, `REINDEX … CONCURRENTLY` and
`ALTER TABLE … DETACH PARTITION … CONCURRENTLY` (PostgreSQL only) inside `BEGIN` … `COMMIT`, inside
a DO block, or in a migration its runner wraps in one transaction (sqlguard, dbmate, goose, Alembic,
Django; golang-migrate and Flyway when the file holds other statements; the `assume-in-transaction`
setting or a `-- sqlguard: transaction=on|off` line in the file says otherwise). `REFRESH
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
   Alembic's `with op.get_context().autocommit_block():`. Flyway and golang-migrate run a
   migration of one statement outside a transaction by themselves.
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

from collections.abc import Iterator

from sqlguard.checks._sg50_ddl import (
    alter_table,
    index_statement,
    line_of,
    no_transaction_howto,
    runner_runs_alone,
    transactions,
)
from sqlguard.diagnostic import Finding
from sqlguard.rule import Rule, StatementContext
from sqlguard.sources.migrations import LABELS
from sqlguard.sources.sql import Lexeme

_LONE = ("flyway", "golang-migrate")


def check(ctx: StatementContext) -> Iterator[Finding]:
    if ctx.dialect != "postgres" or ctx.stmt.context == "function" or not ctx.in_transaction:
        return
    if ctx.stmt.keyword not in ("CREATE", "DROP", "REINDEX", "ALTER"):
        return
    found = _concurrent_operation(ctx.lexemes)
    if found is None or runner_runs_alone(ctx):
        return
    what, last = found
    reason, help = _where(ctx, what)
    yield ctx.report(ctx.cover(ctx.lexemes[0], last),
                     f"`{what}` cannot run inside a transaction block, and {reason}: PostgreSQL rejects it "
                     "and the migration fails.", help=help)


def _concurrent_operation(toks: list[Lexeme]) -> tuple[str, Lexeme] | None:
    """What concurrent operation the statement is, and the lexeme that makes it concurrent."""
    first = toks[0].upper
    if first in ("CREATE", "DROP"):
        idx = index_statement(toks)
        if idx is not None and idx.concurrently is not None:
            unique = "UNIQUE " if idx.unique else ""
            return f"{idx.verb} {unique}INDEX CONCURRENTLY", idx.concurrently
        return None
    if first == "REINDEX":
        for i, t in enumerate(toks):
            off = i + 1 < len(toks) and toks[i + 1].upper in ("FALSE", "OFF") or (
                i + 1 < len(toks) and toks[i + 1].value == "0")
            if t.upper == "CONCURRENTLY" and not off:
                return "REINDEX … CONCURRENTLY", t
        return None
    parsed = alter_table(toks)
    if parsed is None:
        return None
    for action in parsed.actions:
        if action.words(2) == ["DETACH", "PARTITION"] and action.last.upper == "CONCURRENTLY":
            return "DETACH PARTITION … CONCURRENTLY", action.last
    return None


def _where(ctx: StatementContext, what: str) -> tuple[str, str]:
    """Why the statement is inside a transaction, and how to get it out."""
    howto = no_transaction_howto(ctx)
    if ctx.stmt.context == "do":
        return ("a DO block always runs inside one",
                f"Take it out of the DO block into a migration of its own, marked {howto}.")
    tx = transactions(ctx.file).get(id(ctx.stmt))
    if tx is not None and tx.kind == "explicit" and tx.begin is not None:
        line = line_of(ctx.file, tx.begin.span.start)
        if not ctx.file.wrapped:
            return (f"it runs inside the transaction opened by `BEGIN` on line {line}",
                    f"Move `{what} …` after the `COMMIT`: it must run on its own.")
        return (f"it runs inside the transaction opened by `BEGIN` on line {line}",
                f"Move `{what} …` to a migration of its own, marked {howto}.")
    migration = ctx.file.migration
    convention = migration.convention if migration is not None else None
    if convention in _LONE:
        return (f"{LABELS[convention]} runs a migration that holds other statements as one transaction",
                f"Move `{what} …` to a migration of its own: {LABELS[convention]} runs a migration of one "
                "statement outside a transaction.")
    runner = f"{LABELS[convention]} runs" if convention in LABELS else "the migration runner runs"
    return (f"{runner} this migration inside one",
            f"Move `{what} …` to a migration of its own, marked {howto}.")


RULE = Rule(code="SG51", name="concurrently-in-transaction", severity="error", doc=__doc__, check=check)
