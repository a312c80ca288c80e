"""A statement PostgreSQL refuses inside a transaction block stands in one: the migration fails there.

Covers every statement PostgreSQL will not run inside a transaction block: `CREATE INDEX
CONCURRENTLY`, `DROP INDEX CONCURRENTLY`, `REINDEX … CONCURRENTLY` (not `(CONCURRENTLY false)`),
`ALTER TABLE … DETACH PARTITION … CONCURRENTLY`, `VACUUM`, `REINDEX SCHEMA / DATABASE / SYSTEM`,
`CLUSTER` without a table, `CREATE / DROP DATABASE`, `CREATE / DROP TABLESPACE`, `ALTER SYSTEM`,
`CREATE SUBSCRIPTION` (with a replication slot) and `DROP SUBSCRIPTION` — the same list `sqlguard
apply` refuses to run in a wrapped migration (PostgreSQL only). A statement stands in a transaction
block inside `BEGIN` … `COMMIT`, inside a DO block, or in a migration its runner wraps in one
transaction (sqlguard, dbmate, goose, `.up.sql` runners such as pop and maragudk/migrate, numbered
postgres-migrations; Flyway when the file holds other statements). The `assume-in-transaction`
setting, or a `-- sqlguard: transaction=on|off` line in the file, says how the runner runs it.
`REFRESH MATERIALIZED VIEW CONCURRENTLY` may run in a transaction and is not reported; nor are
function bodies, which run when called.

## Why is this bad?
The migration stops with `ERROR: CREATE INDEX CONCURRENTLY cannot run inside a transaction block`
(or `cannot be executed from a function` in a DO block). A concurrent build needs to commit
several transactions of its own while it waits for other sessions, which it cannot do inside yours;
VACUUM and the database-wide commands cannot be undone by a rollback, so PostgreSQL refuses them.

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

from collections.abc import Iterator

from sqlguard.diagnostic import Finding
from sqlguard.lint.facts import outside_transaction, runner_runs_alone
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.migrations.files import LABELS
from sqlguard.sql.ddl.model import AlterTable, At, CreateIndex, Drop, Maintenance
from sqlguard.sql.directives import transaction_directive


def check(ctx: StatementContext) -> Iterator[Finding]:
    if ctx.dialect != "postgres" or ctx.stmt.context == "function" or not ctx.in_transaction:
        return
    if ctx.stmt.kind != "sql" or ctx.rejected:
        return
    d = ctx.ddl
    what = d.outside_transaction
    if what is None or runner_runs_alone(ctx):
        return
    reason = _where(ctx)
    advice = outside_transaction(ctx, _head(ctx))
    yield ctx.report(ctx.cover(ctx.lexemes[0], _last(ctx)),
                     f"`{what}` cannot run inside a transaction block, and {reason}: PostgreSQL rejects it and the "
                     "migration fails.", help=advice)


def _last(ctx: StatementContext) -> At:
    """Where the finding ends: at the CONCURRENTLY that makes it a concurrent operation, else the statement's end."""
    d = ctx.ddl
    at: At | None = None
    if isinstance(d, (CreateIndex, Drop, Maintenance)):
        at = d.concurrently_at
    elif isinstance(d, AlterTable):
        at = next((a.concurrently_at for a in d.actions if a.concurrently_at is not None), None)
    if at is not None:
        return at
    last = ctx.lexemes[-1]
    return At(last.start, last.end)


def _head(ctx: StatementContext, limit: int = 90) -> str:
    """The statement as written (white space folded), cut at a word when long."""
    text = ctx.written(ctx.span()).rstrip(";")
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"


def _where(ctx: StatementContext) -> str:
    """Why the statement is inside a transaction."""
    if ctx.stmt.context != "top":
        return "a DO block always runs inside one"
    tx = ctx.tx
    if tx is not None and tx.kind == "explicit" and tx.begin is not None:
        begin = ctx.file.statements[tx.begin]
        line = ctx.file.text.count("\n", 0, begin.span.start) + 1
        opener = "START TRANSACTION" if begin.keyword == "START" else "BEGIN"
        return f"it runs inside the transaction opened by `{opener}` on line {line}"
    said = transaction_directive(ctx.file.text, ctx.stmt.section)
    if said is not None and said.wraps:
        return f"this file is marked `{said.text.strip()}`"
    if ctx.file.settings.assume_in_transaction:
        return "the `assume-in-transaction` setting says its runner wraps each migration in one"
    migration = ctx.file.migration
    convention = migration.convention if migration is not None else None
    if convention == "flyway":
        return "Flyway runs a migration that holds other statements in one transaction"
    if convention == "golang-migrate":
        return ("the runners of `.up.sql` migrations run each inside one (pop and maragudk/migrate always; "
                "golang-migrate when the file holds several statements)")
    return f"{LABELS.get(convention or '', 'its runner')} runs this migration inside one"


RULE = Rule(code="SG51", name="not-allowed-in-transaction", severity="error", doc=__doc__, check=check,
            dialects=("postgres",))
