"""`CREATE INDEX` or `DROP INDEX` without `CONCURRENTLY` locks a table the application is using.

Covers `CREATE [UNIQUE] INDEX` and `DROP INDEX` on tables this migration did not create itself
(PostgreSQL only; function bodies, which run later, are not checked). An index of a table created
earlier in the same file, `DROP INDEX` of a table the same file drops afterwards (a rollback) or
that its transaction locks anyway (an `ALTER TABLE … DROP COLUMN` next to it takes the same ACCESS
EXCLUSIVE lock, and CONCURRENTLY could not run there), and `CREATE INDEX … ON ONLY` (the parent
index of a partitioned table, built by attaching each partition's index) are not reported.
Autofix: `sqlguard lint --fix` inserts `CONCURRENTLY` when the statement runs outside a
transaction, where CONCURRENTLY can run.

## Why is this bad?
`CREATE INDEX` holds a SHARE lock on the table for the whole build: every INSERT, UPDATE and
DELETE waits, for minutes on a large table. `DROP INDEX` takes an ACCESS EXCLUSIVE lock: even
reads wait, and so does every query queued behind it while it waits for running queries.
`CONCURRENTLY` builds or drops the index while reads and writes go on.

The recipe:

1. Put the statement in a migration of its own that runs outside a transaction: CONCURRENTLY
   fails inside one ("cannot run inside a transaction block"). Mark the file
   `-- sqlguard: transaction=off`, plus your runner's switch: dbmate's
   `-- migrate:up transaction:false`, goose's `-- +goose NO TRANSACTION`; Flyway runs a migration
   of one CONCURRENTLY statement outside a transaction by itself.
2. `CREATE INDEX CONCURRENTLY idx ON t (…);` (or `DROP INDEX CONCURRENTLY idx;`, one index per
   statement, without CASCADE).
3. If it fails (a deadlock, a duplicate for a UNIQUE index), it leaves an INVALID index behind:
   `DROP INDEX CONCURRENTLY IF EXISTS idx;` and run step 2 again. `IF NOT EXISTS` would skip the
   invalid index silently, so check `pg_index.indisvalid` before trusting it.
4. For a partitioned table: `CREATE INDEX idx ON ONLY parent (…);`, then
   `CREATE INDEX CONCURRENTLY … ON partition (…);` and `ALTER INDEX idx ATTACH PARTITION …;` for
   each partition.

## Example
    CREATE INDEX idx_users_email ON users (email);

## Use instead
    -- sqlguard: transaction=off
    CREATE INDEX CONCURRENTLY idx_users_email ON users (email);
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Edit, Finding, Fix, Span
from sqlguard.lint.facts import concurrently_allowed, facts, outside_transaction
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.postgres.locks import ACCESS_EXCLUSIVE, SHARE, message
from sqlguard.sql.ddl.model import CreateIndex, Drop


def check(ctx: StatementContext) -> Iterator[Finding]:
    if ctx.dialect != "postgres" or ctx.stmt.context == "function" or ctx.stmt.kind != "sql":
        return  # a function body runs when called, not when the migration runs
    if ctx.stmt.keyword not in ("CREATE", "DROP") or ctx.rejected:
        return
    d = ctx.ddl
    if isinstance(d, CreateIndex) and not d.concurrently:
        yield from _create(ctx, d)
    elif isinstance(d, Drop) and d.object == "index" and not d.concurrently:
        yield from _drop(ctx, d)


def _insert_concurrently(at: int) -> Fix:
    return Fix("Insert `CONCURRENTLY`", (Edit(Span(at, at), " CONCURRENTLY"),))


def _move_out_fix(ctx: StatementContext, d: CreateIndex) -> Fix | None:
    """Inside an explicit BEGIN … COMMIT (and no runner transaction around the file): move the
    statement after the COMMIT, with CONCURRENTLY, which cannot run inside a transaction block."""
    tx = ctx.tx
    if tx is None or tx.kind != "explicit" or ctx.stmt.context != "top" or d.keyword_at is None:
        return None
    txs = ctx.file.transactions
    assert txs is not None
    commit = next((k for k in range(ctx.index + 1, len(ctx.file.statements))
                   if txs.same_block(ctx.index, k) and ctx.file.statements[k].context == "top"
                   and ctx.file.ddl(k).transaction in ("commit",)), None)
    if commit is None:
        return None
    text = ctx.file.text
    start, end = ctx.stmt.span.start, ctx.stmt.span.end
    at = ctx.span(d.keyword_at).end - start
    moved = text[start:end][:at] + " CONCURRENTLY" + text[start:end][at:] + ";"
    stop = text.find("\n", end)
    stop = len(text) if stop < 0 else stop + 1  # the statement's `;` and the rest of its line
    line_start = text.rfind("\n", 0, start) + 1
    cut = Span(line_start if not text[line_start:start].strip() else start, stop)
    commit_end = ctx.file.statements[commit].span.end
    after = text.find(";", commit_end)
    after = commit_end if after < 0 else after + 1
    return Fix("Move it after COMMIT, with `CONCURRENTLY`",
               (Edit(cut, ""), Edit(Span(after, after), "\n" + moved)))


def _create(ctx: StatementContext, d: CreateIndex) -> Iterator[Finding]:
    if d.only:
        return  # ON ONLY: the parent index of a partitioned table, built by attaching partitions
    if ctx.file.created_here(d.table.name, views=True):
        return  # a table created in this file is not in use yet
    table = ctx.name(d.table)
    unique = "UNIQUE " if d.unique else ""
    name = ctx.name(d.name) if d.name is not None else ""
    shown = f"`CREATE {unique}INDEX {name}`" if name else f"`CREATE {unique}INDEX ON {table}`"
    text = message(SHARE, table, f"{shown} without CONCURRENTLY")
    if facts(ctx.file).held_in_transaction(ctx.index, d.table.name, before=True) is ACCESS_EXCLUSIVE:
        text += ("; an earlier statement of this transaction holds an ACCESS EXCLUSIVE lock on it, so reads "
                 "wait for the whole build too")
    safe = f"CREATE {unique}INDEX CONCURRENTLY {name + ' ' if name else ''}ON {table} …"
    where = ctx.cover(ctx.lexemes[0], d.table.at) if d.table.at is not None else None
    if concurrently_allowed(ctx) and d.keyword_at is not None:
        fix = _insert_concurrently(ctx.span(d.keyword_at).end)
        yield ctx.report(where, text, help=f"Use `{safe}`: writes go on while it builds.", fix=fix)
    else:
        yield ctx.report(where, text, help=outside_transaction(ctx, safe), fix=_move_out_fix(ctx, d))


def _drop(ctx: StatementContext, d: Drop) -> Iterator[Finding]:
    f = facts(ctx.file)
    hit: tuple[str, str | None] | None = None  # (index as written, its table when known)
    for name in d.names:
        table = f.index_table(ctx.index, name)
        if table is not None and (ctx.file.created_here(table.rsplit(".", 1)[-1], views=True)
                                  or f.dropped_after(ctx.index, table)
                                  or f.held_in_transaction(ctx.index, table) is ACCESS_EXCLUSIVE):
            continue  # a table created in this file, one it drops anyway, or one its transaction locks anyway
        hit = (ctx.name(name), table)
        break
    if hit is None:
        return
    name, table = hit
    doing = f"`DROP INDEX {name}`"
    if table is not None:
        text = message(ACCESS_EXCLUSIVE, table, doing)
    else:
        text = f"{doing} takes an {ACCESS_EXCLUSIVE.mode} lock on the index's table: {ACCESS_EXCLUSIVE.blocks}"
    last = d.names[-1].at
    where = ctx.cover(ctx.lexemes[0], last) if last is not None else None
    if len(d.names) > 1:
        yield ctx.report(where, text, help="Drop each index in a statement of its own with "
                                           f"`DROP INDEX CONCURRENTLY {name}`: it takes one name only.")
    elif d.cascade:
        yield ctx.report(where, text, help=f"Drop what depends on `{name}` first, then use "
                                           f"`DROP INDEX CONCURRENTLY {name}` (it has no CASCADE).")
    elif concurrently_allowed(ctx) and d.if_exists_at is not None:
        yield ctx.report(where, text, help=f"Use `DROP INDEX CONCURRENTLY {name}`: it waits for queries "
                                           "using the index instead of blocking the table.",
                         fix=_insert_concurrently(ctx.stmt.offset(d.if_exists_at)))
    else:
        yield ctx.report(where, text, help=outside_transaction(ctx, f"DROP INDEX CONCURRENTLY {name}"))


RULE = Rule(code="SG50", name="index-without-concurrently", severity="warning", doc=__doc__, check=check,
            fixable=True, dialects=("postgres",))
