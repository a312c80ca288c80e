"""A maintenance command in a migration locks a table for its whole run, or cannot run where it stands.

Covers `VACUUM FULL`, `CLUSTER` and `REINDEX` without `CONCURRENTLY` (which rewrite or rebuild under
a lock), `TRUNCATE … CASCADE` (which empties tables nobody named), explicit `LOCK TABLE` in a mode
that blocks writes, and, as errors because the migration fails: `ALTER TYPE … ADD VALUE` inside a
transaction before PostgreSQL 12 (and, since 12, a new enum value used in the same transaction that
added it), and `LOCK TABLE` outside a transaction. (`VACUUM`, `REINDEX CONCURRENTLY` / `SCHEMA` /
`DATABASE` / `SYSTEM` and `CLUSTER` without a table inside a transaction block are SG51's.) Tables
created earlier in the same file are exempt from the lock findings, and so are rollbacks (down
sections and files), which are still checked for the errors.

## Why is this bad?
`VACUUM FULL` and `CLUSTER` copy the whole table under an ACCESS EXCLUSIVE lock: no reads, no
writes until they finish. A plain `REINDEX` blocks writes to the table and every read that would
use the index. `TRUNCATE … CASCADE` also empties every table with a foreign key to the named ones,
recursively: data loss in tables the migration never mentions. A `LOCK TABLE` holds its lock to the
end of the transaction, so whatever else the migration does there runs with the table blocked.

1. To reclaim space online, use `pg_repack` (or `pg_squeeze`) instead of `VACUUM FULL` / `CLUSTER`.
2. Rebuild an index with `REINDEX INDEX CONCURRENTLY` (PostgreSQL 12+), outside a transaction;
   before 12: `CREATE INDEX CONCURRENTLY` a copy, `DROP INDEX CONCURRENTLY` the old one, rename.
3. List every table a TRUNCATE should empty instead of writing CASCADE.
4. Give `ALTER TYPE … ADD VALUE` a migration of its own that commits before anything uses the value.

## Example
    VACUUM FULL messages;

## Use instead
    -- reclaim the space online, outside the migration:
    --   pg_repack --table=messages "$DATABASE_URL"
    VACUUM (ANALYZE) messages;
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding
from sqlguard.lint.facts import facts
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.postgres.locks import ACCESS_EXCLUSIVE, REINDEX_LOCKS, message
from sqlguard.sql import pgtree
from sqlguard.sql.ddl.model import AlterEnum, At, Maintenance, Name, Truncate


def check(ctx: StatementContext) -> Iterator[Finding]:
    if not ctx.runs_now or ctx.stmt.kind != "sql" or ctx.rejected:
        return
    if ctx.stmt.keyword not in ("TRUNCATE", "VACUUM", "CLUSTER", "REINDEX", "LOCK", "ALTER"):
        return
    d = ctx.ddl
    if isinstance(d, Truncate):
        found = _truncate(ctx, d)
    elif isinstance(d, Maintenance):
        found = {"VACUUM": _vacuum, "CLUSTER": _cluster, "REINDEX": _reindex, "LOCK": _lock}.get(
            d.command, lambda *_: iter(()))(ctx, d)
    elif isinstance(d, AlterEnum) and d.renamed_from is None:
        found = _add_value(ctx, d)
    else:
        return
    for f in found:
        # a rollback's locks are its operator's call; its failures are not
        if not ctx.in_rollback or f.severity == "error":
            yield f


def _whole(ctx: StatementContext) -> At:
    return At(0, len(ctx.stmt.text.rstrip().rstrip(";")))


def _new(ctx: StatementContext, rel: Name) -> bool:
    return ctx.file.created_here(rel.name)


def _truncate(ctx: StatementContext, d: Truncate) -> Iterator[Finding]:
    if not d.cascade:
        return
    rels = [r for r in d.tables if not _new(ctx, r)]
    if not rels:
        return
    names = ", ".join(ctx.name(r) for r in rels)
    listing = " or ".join(f"`{ctx.name(r)}`" for r in rels)
    doing = f"`TRUNCATE {names} CASCADE` also empties every table with a foreign key to {listing}, recursively, and"
    cascade = next((t for t in ctx.lexemes if t.upper == "CASCADE" and t.depth == 0), None)
    yield ctx.report(ctx.cover(ctx.lexemes[0], cascade) if cascade is not None else None,
                     message(ACCESS_EXCLUSIVE, ctx.name(rels[0]), doing) + " (and on each table it empties).",
                     help=f"Name every table to empty (`TRUNCATE {names}, …`) and drop `CASCADE`, so that a "
                          "table nobody listed makes it fail instead of losing its rows.")


def _vacuum(ctx: StatementContext, d: Maintenance) -> Iterator[Finding]:
    if not d.full or ctx.in_transaction:
        return  # (VACUUM inside a transaction block is SG51's error)
    live = [r for r in d.tables if not _new(ctx, r)]
    if d.tables and not live:
        return
    table = ctx.name(live[0]) if live else "every table of the database"
    doing = f"`VACUUM FULL` rewrites {'`' + table + '`' if live else table} into a new file and"
    text = message(ACCESS_EXCLUSIVE, table, doing) if live else \
        f"{doing} takes an ACCESS EXCLUSIVE lock on each table in turn: {ACCESS_EXCLUSIVE.blocks}"
    target = f" --table={table}" if live else ""
    yield ctx.report(_whole(ctx), text + ".",
                     help=f"Reclaim the space online with `pg_repack{target}` (or pg_squeeze), or run plain "
                          "`VACUUM`, which blocks neither reads nor writes.")


def _cluster(ctx: StatementContext, d: Maintenance) -> Iterator[Finding]:
    if not d.tables:
        if ctx.in_transaction:
            return  # SG51's error
        yield ctx.report(_whole(ctx), "`CLUSTER` rewrites every table clustered before, each under an ACCESS "
                                      f"EXCLUSIVE lock: {ACCESS_EXCLUSIVE.blocks}.",
                         help="Reorder tables online with `pg_repack --order-by=…` instead.")
        return
    rel = d.tables[0]
    if _new(ctx, rel):
        return
    doing = f"`CLUSTER {ctx.name(rel)}` rewrites the whole table in index order and"
    yield ctx.report(ctx.cover(ctx.lexemes[0], rel.at) if rel.at is not None else None,
                     message(ACCESS_EXCLUSIVE, ctx.name(rel), doing) + ".",
                     help=f"Reorder it online with `pg_repack --table={ctx.name(rel)} --order-by=…` instead.")


def _reindex(ctx: StatementContext, d: Maintenance) -> Iterator[Finding]:
    if d.concurrently:
        return
    kind = d.target
    many = kind in ("SCHEMA", "DATABASE", "SYSTEM")
    if many and ctx.in_transaction:
        return  # SG51's error
    pg = ctx.file.settings.pg_version
    if d.tables:
        rel = d.tables[0]
        if kind == "TABLE" and _new(ctx, rel):
            return
        shown = ctx.name(rel)
        if kind == "INDEX":
            table = facts(ctx.file).index_table(ctx.index, rel)
            if table is not None and ctx.file.created_here(table.rsplit(".", 1)[-1]):
                return
            doing = f"`REINDEX INDEX {shown}` rebuilds the index and"
            text = message(REINDEX_LOCKS, table, doing) if table else \
                f"{doing} takes a SHARE lock on its table: {REINDEX_LOCKS.blocks}"
        else:
            doing = f"`REINDEX TABLE {shown}` rebuilds every index of the table and"
            text = message(REINDEX_LOCKS, shown, doing)
        if pg >= 12:
            help_text = f"Use `REINDEX {kind} CONCURRENTLY {shown}`, in a migration without a transaction."
        else:
            help_text = ("Before PostgreSQL 12 there is no REINDEX CONCURRENTLY: `CREATE INDEX CONCURRENTLY` a copy, "
                         "`DROP INDEX CONCURRENTLY` the old index, then rename the copy.")
        yield ctx.report(ctx.cover(ctx.lexemes[0], rel.at) if rel.at is not None else None, text + ".",
                         help=help_text)
        return
    if kind == "SYSTEM":
        help_text = "Reindex the system catalogs in a maintenance window, not in a migration."
    elif pg >= 12:
        help_text = f"Use `REINDEX {kind} CONCURRENTLY …`, outside the migrations."
    else:
        help_text = "Reindex the indexes that need it one by one, outside the migrations."
    yield ctx.report(_whole(ctx),
                     f"`REINDEX {kind}` rebuilds every index in the {kind.lower()}, one table at a time: while a "
                     "table's indexes are rebuilt, every write to it waits (SHARE lock), and so does every read "
                     "that would use the index being rebuilt (ACCESS EXCLUSIVE lock).", help=help_text)


def _lock(ctx: StatementContext, d: Maintenance) -> Iterator[Finding]:
    if not d.tables:
        return
    last = d.tables[-1].at
    if not ctx.in_transaction:
        yield ctx.report(ctx.cover(ctx.lexemes[0], last) if last is not None else None,
                         "`LOCK TABLE` can only be used inside a transaction block, and this statement runs outside "
                         "one: it fails here.",
                         help="Wrap it and the statements it protects in `BEGIN; … COMMIT;`, or drop it.",
                         severity="error")
        return
    lock = d.mode
    if lock is None or not lock.blocks_writes:
        return
    live = [r for r in d.tables if not _new(ctx, r)]
    if not live:
        return
    doing = f"`LOCK TABLE {', '.join(ctx.name(r) for r in live)}`"
    text = message(lock, ctx.name(live[0]), doing)
    yield ctx.report(_whole(ctx), text.replace("until it finishes", "until the transaction ends") + ".",
                     help="Drop the explicit lock if the statements after it take the locks they need; otherwise "
                          "keep the rest of the transaction short and set `lock_timeout` before it.")


def _add_value(ctx: StatementContext, d: AlterEnum) -> Iterator[Finding]:
    if not ctx.in_transaction or d.value_at is None:
        return
    add = next((t for t in ctx.lexemes if t.upper == "ADD" and t.depth == 0), ctx.lexemes[0])
    where = ctx.cover(add, d.value_at)
    literal = ctx.written(d.value_at)
    pg = ctx.file.settings.pg_version
    if pg < 12:
        yield ctx.report(where, f"`ALTER TYPE {ctx.name(d.name)} ADD VALUE` cannot run inside a transaction block "
                                f"before PostgreSQL 12 (this project targets {pg}), and this migration runs in one: it "
                                "fails here.",
                         help="Give it a migration that runs without a transaction.", severity="error")
        return
    use = _later_use(ctx, d.value)
    if use is None:
        return
    line = ctx.file.text.count("\n", 0, ctx.file.statements[use].span.start) + 1
    yield ctx.report(where, f"The new value {literal} of `{ctx.name(d.name)}` is used on line {line}, in the same "
                            "transaction that adds it: PostgreSQL refuses that (`unsafe use of new value`) until the "
                            "ALTER TYPE commits.",
                     help="Commit the ALTER TYPE first: put it in a migration of its own, before the one that uses "
                          "the value.", severity="error")


def _later_use(ctx: StatementContext, value: str) -> int | None:
    """A later statement of the same transaction that holds the string `value` (a use of the new label)."""
    txs = ctx.file.transactions
    if txs is None:
        return None
    for k in range(ctx.index + 1, len(ctx.file.statements)):
        stmt = ctx.file.statements[k]
        if stmt.kind != "sql" or stmt.section != ctx.stmt.section or stmt.context == "function":
            continue
        if not txs.same_block(ctx.index, k):
            if txs.of(k).kind in ("none", "explicit", "runner") and stmt.context == "top":
                return None  # the transaction ended
            continue
        if value not in stmt.text:
            continue
        d = ctx.file.ddl(k)
        if isinstance(d, AlterEnum) or d.kind == "create routine":
            continue  # ALTER TYPE … AFTER 'new' is allowed, and a function body runs later
        if _has_string(stmt.text, value):
            return k
    return None


def _has_string(text: str, value: str) -> bool:
    """Whether the statement holds the string constant `value` (read from PostgreSQL's tree)."""
    parsed = pgtree.parse(text)
    return any(kind == "A_Const" and pgtree.const_value({"A_Const": n}) == value
               for _, node, _, _ in parsed.stmts for kind, n in pgtree.walk({"root": node}))


RULE = Rule(code="SG59", name="blocking-maintenance", severity="warning", doc=__doc__, check=check,
            dialects=("postgres",))
