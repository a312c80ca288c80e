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
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.rules._pg import ACCESS_EXCLUSIVE, SHARE, locks_message
from sqlguard.rules._sg50_ddl import (
    IndexStatement,
    concurrently_allowed,
    facts,
    index_statement,
    new_relation,
    outside_transaction,
    written_name,
)
from sqlguard.schema.model import key


def check(ctx: StatementContext) -> Iterator[Finding]:
    if ctx.dialect != "postgres" or ctx.stmt.context == "function":
        return  # a function body runs when called, not when the migration runs
    if ctx.stmt.keyword not in ("CREATE", "DROP"):
        return
    idx = index_statement(ctx.lexemes)
    if idx is None or idx.concurrently is not None:
        return
    if idx.verb == "CREATE":
        yield from _create(ctx, idx)
    else:
        yield from _drop(ctx, idx)


def _fix(ctx: StatementContext, idx: IndexStatement) -> Fix:
    at = ctx.span(idx.index_kw).end
    return Fix("Insert `CONCURRENTLY`", (Edit(Span(at, at), " CONCURRENTLY"),))


def _move_out_fix(ctx: StatementContext, idx: IndexStatement) -> Fix | None:
    """Inside an explicit BEGIN … COMMIT (and no runner transaction around the file): move the
    statement after the COMMIT, with CONCURRENTLY, which cannot run inside a transaction block."""
    if ctx.file.wraps(ctx.stmt.section) or ctx.stmt.context != "top":
        return None
    stmts = [s for s in ctx.file.statements if s.context == "top" and s.kind == "sql"]
    try:
        i = stmts.index(ctx.stmt)
    except ValueError:
        return None
    commit = next((s for s in stmts[i + 1:] if s.keyword in ("COMMIT", "END")), None)
    if commit is None:
        return None
    text = ctx.file.text
    start, end = ctx.stmt.span.start, ctx.stmt.span.end
    at = ctx.span(idx.index_kw).end - start
    moved = text[start:end][:at] + " CONCURRENTLY" + text[start:end][at:] + ";"
    stop = text.find("\n", end)
    stop = len(text) if stop < 0 else stop + 1  # the statement's `;` and the rest of its line
    line_start = text.rfind("\n", 0, start) + 1
    cut = Span(line_start if not text[line_start:start].strip() else start, stop)
    after = text.find(";", commit.span.end)
    after = commit.span.end if after < 0 else after + 1
    return Fix("Move it after COMMIT, with `CONCURRENTLY`",
               (Edit(cut, ""), Edit(Span(after, after), "\n" + moved)))


def _create(ctx: StatementContext, idx: IndexStatement) -> Iterator[Finding]:
    if idx.only:
        return  # ON ONLY: the parent index of a partitioned table, built by attaching partitions
    table = written_name(ctx, idx.table)
    if new_relation(ctx, idx.table[-1].value):
        return  # a table created in this file is not in use yet
    unique = "UNIQUE " if idx.unique else ""
    name = written_name(ctx, idx.names[0]) if idx.names else ""
    shown = f"`CREATE {unique}INDEX {name}`" if name else f"`CREATE {unique}INDEX ON {table}`"
    message = locks_message(SHARE, table, f"{shown} without CONCURRENTLY")
    held = facts(ctx.file).locked_in_transaction(ctx.file, ctx.stmt, idx.table[-1].value, before=True)
    if held is ACCESS_EXCLUSIVE:
        message += ("; an earlier statement of this transaction holds an ACCESS EXCLUSIVE lock on it, so reads "
                    "wait for the whole build too")
    safe = f"CREATE {unique}INDEX CONCURRENTLY {name + ' ' if name else ''}ON {table} …"
    where = ctx.cover(ctx.lexemes[0], idx.table[-1])
    if concurrently_allowed(ctx):
        yield ctx.report(where, message, help=f"Use `{safe}`: writes go on while it builds.", fix=_fix(ctx, idx))
    else:
        yield ctx.report(where, message, help=outside_transaction(ctx, safe), fix=_move_out_fix(ctx, idx))


def _drop(ctx: StatementContext, idx: IndexStatement) -> Iterator[Finding]:
    state = ctx.file.state
    hit: tuple[str, str | None] | None = None  # (index as written, its table when known)
    for parts in idx.names:
        schema = parts[-2].name if len(parts) > 1 else None
        known = None
        if state is not None:
            k = key(parts[-1].name, schema)
            known = state.indexes.get(k) or state.indexes.get(parts[-1].value)
        if known is not None and (new_relation(ctx, known.table) or _dropped_later(ctx, known.table)
                                  or _locked_anyway(ctx, known.table)):
            continue  # a table created in this file, one it drops anyway, or one its transaction locks anyway
        hit = (written_name(ctx, parts), known.table if known is not None else None)
        break
    if hit is None:
        return
    name, table = hit
    doing = f"`DROP INDEX {name}`"
    if table is not None:
        message = locks_message(ACCESS_EXCLUSIVE, table, doing)
    else:
        message = f"{doing} takes an {ACCESS_EXCLUSIVE.mode} lock on the index's table: {ACCESS_EXCLUSIVE.blocks}"
    where = ctx.cover(ctx.lexemes[0], idx.names[-1][-1])
    if len(idx.names) > 1:
        yield ctx.report(where, message, help="Drop each index in a statement of its own with "
                                              f"`DROP INDEX CONCURRENTLY {name}`: it takes one name only.")
    elif idx.cascade:
        yield ctx.report(where, message, help=f"Drop what depends on `{name}` first, then use "
                                              f"`DROP INDEX CONCURRENTLY {name}` (it has no CASCADE).")
    elif concurrently_allowed(ctx):
        yield ctx.report(where, message, help=f"Use `DROP INDEX CONCURRENTLY {name}`: it waits for queries "
                                              "using the index instead of blocking the table.", fix=_fix(ctx, idx))
    else:
        yield ctx.report(where, message, help=outside_transaction(ctx, f"DROP INDEX CONCURRENTLY {name}"))


def _dropped_later(ctx: StatementContext, table: str) -> bool:
    """Whether a later statement of this file (and section) drops `table`: its lock is taken anyway."""
    return facts(ctx.file).dropped_after(ctx.stmt, table)


def _locked_anyway(ctx: StatementContext, table: str) -> bool:
    """Whether the transaction of this DROP INDEX takes an ACCESS EXCLUSIVE lock on `table` anyway.

    (`DROP INDEX` is quick; its only harm is that lock, and CONCURRENTLY could not run in the
    transaction anyway.)
    """
    return facts(ctx.file).locked_in_transaction(ctx.file, ctx.stmt, table) is ACCESS_EXCLUSIVE


RULE = Rule(code="SG50", name="index-without-concurrently", severity="warning", doc=__doc__, check=check,
            fixable=True)
