"""A maintenance command in a migration locks a table for its whole run, or cannot run where it stands.

Covers `VACUUM FULL`, `CLUSTER` and `REINDEX` without `CONCURRENTLY` (which rewrite or rebuild under
a lock), `TRUNCATE … CASCADE` (which empties tables nobody named), explicit `LOCK TABLE` in a mode
that blocks writes, and the statements PostgreSQL refuses inside a transaction: `VACUUM`,
`REINDEX CONCURRENTLY` / `SCHEMA` / `DATABASE` / `SYSTEM`, `CLUSTER` without a table,
`ALTER TYPE … ADD VALUE` before PostgreSQL 12 (and, since 12, a new enum value used in the same
transaction that added it), and `LOCK TABLE` outside one. The last group is reported as errors: the
migration fails. Tables created earlier in the same file are exempt from the lock findings, and so
are rollbacks (down sections and files), which are still checked for the errors.

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
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.rules._pg import ACCESS_EXCLUSIVE, Lock, locks_message, runs_in_migration
from sqlguard.rules._sg55_ddl import (
    LOCKS,
    REINDEX_LOCKS,
    Relation,
    blocks_writes,
    lock_mode,
    reindex_target,
    relation_at,
    relation_list,
    rollback,
    skip_words,
    starts,
    vacuum_full,
    written,
)
from sqlguard.sql.lex import Lexeme, lex
from sqlguard.sql.split import Statement


def check(ctx: StatementContext) -> Iterator[Finding]:
    if not runs_in_migration(ctx):
        return
    words = ctx.words(2)
    if not words or words[0] not in ("TRUNCATE", "VACUUM", "CLUSTER", "REINDEX", "LOCK", "ALTER"):
        return
    toks = ctx.lexemes
    first = words[0]
    if first == "TRUNCATE":
        found = _truncate(ctx, toks)
    elif first == "VACUUM":
        found = _vacuum(ctx, toks)
    elif first == "CLUSTER":
        found = _cluster(ctx, toks)
    elif first == "REINDEX":
        found = _reindex(ctx, toks)
    elif first == "LOCK":
        found = _lock(ctx, toks)
    elif words == ["ALTER", "TYPE"]:
        found = _add_value(ctx, toks)
    else:
        return
    down = rollback(ctx.file.migration, ctx.stmt.section)
    for f in found:
        if not down or f.severity == "error":  # a rollback's locks are its operator's call; its failures are not
            yield f


def _w(ctx: StatementContext, rel: Relation) -> str:
    return written(ctx.file.text, ctx.stmt, rel)


def _new(ctx: StatementContext, rel: Relation) -> bool:
    return ctx.file.created_here(rel.name)


def _error(ctx: StatementContext, first: Lexeme, last: Lexeme, message: str, help_text: str) -> Finding:
    f = ctx.report(ctx.cover(first, last), message, help=help_text)
    return Finding(f.span, f.message, f.help, f.fix, "error")


def _truncate(ctx: StatementContext, toks: list[Lexeme]) -> Iterator[Finding]:
    cascade = next((t for t in toks if t.upper == "CASCADE" and t.depth == 0), None)
    if cascade is None:
        return
    rels = [r for r in relation_list(toks, skip_words(toks, 1, "TABLE")) if not _new(ctx, r)]
    if not rels:
        return
    names = ", ".join(_w(ctx, r) for r in rels)
    doing = f"`TRUNCATE {names} CASCADE` also empties every table with a foreign key to {_listing(ctx, rels)}, " \
            "recursively, and"
    yield ctx.report(ctx.cover(toks[0], cascade), locks_message(ACCESS_EXCLUSIVE, _w(ctx, rels[0]), doing)
                     + " (and on each table it empties).",
                     help=f"Name every table to empty (`TRUNCATE {names}, …`) and drop `CASCADE`, so that a "
                          "table nobody listed makes it fail instead of losing its rows.")


def _listing(ctx: StatementContext, rels: list[Relation]) -> str:
    return " or ".join(f"`{_w(ctx, r)}`" for r in rels)


def _vacuum(ctx: StatementContext, toks: list[Lexeme]) -> Iterator[Finding]:
    full, rels = vacuum_full(toks)
    if ctx.in_transaction:
        yield _error(ctx, toks[0], toks[-1], "`VACUUM` cannot run inside a transaction block, and this migration "
                                             "runs in one: it fails here.",
                     "Run VACUUM outside the migration (or in a migration that runs without a transaction).")
        return
    if not full:
        return
    live = [r for r in rels if not _new(ctx, r)]
    if rels and not live:
        return
    table = _w(ctx, live[0]) if live else "every table of the database"
    doing = f"`VACUUM FULL` rewrites {'`' + table + '`' if live else table} into a new file and"
    message = locks_message(ACCESS_EXCLUSIVE, table, doing) if live else \
        f"{doing} takes an ACCESS EXCLUSIVE lock on each table in turn: {ACCESS_EXCLUSIVE.blocks}"
    target = f" --table={table}" if live else ""
    yield ctx.report(ctx.cover(toks[0], toks[-1]), message + ".",
                     help=f"Reclaim the space online with `pg_repack{target}` (or pg_squeeze), or run plain "
                          "`VACUUM`, which blocks neither reads nor writes.")


def _cluster(ctx: StatementContext, toks: list[Lexeme]) -> Iterator[Finding]:
    i = skip_words(toks, 1, "VERBOSE")
    if i < len(toks) and toks[i].value == "(":
        while i < len(toks) and not (toks[i].value == ")" and toks[i].depth == 0):
            i += 1
        i += 1
    found = relation_at(toks, i)
    if found is None:
        if ctx.in_transaction:
            yield _error(ctx, toks[0], toks[-1], "`CLUSTER` without a table cannot run inside a transaction block, "
                                                 "and this migration runs in one: it fails here.",
                         "Name the table, or run it outside the migration.")
            return
        yield ctx.report(ctx.cover(toks[0], toks[-1]),
                         "`CLUSTER` rewrites every table clustered before, each under an ACCESS EXCLUSIVE lock: "
                         f"{ACCESS_EXCLUSIVE.blocks}.",
                         help="Reorder tables online with `pg_repack --order-by=…` instead.")
        return
    rel = found[0]
    if _new(ctx, rel):
        return
    doing = f"`CLUSTER {_w(ctx, rel)}` rewrites the whole table in index order and"
    yield ctx.report(ctx.cover(toks[0], rel.last), locks_message(ACCESS_EXCLUSIVE, _w(ctx, rel), doing) + ".",
                     help=f"Reorder it online with `pg_repack --table={_w(ctx, rel)} --order-by=…` instead.")


def _reindex(ctx: StatementContext, toks: list[Lexeme]) -> Iterator[Finding]:
    target = reindex_target(toks)
    if target is None:
        return
    kind, concurrently, rel = target
    many = kind in ("SCHEMA", "DATABASE", "SYSTEM")
    if ctx.in_transaction and (concurrently or many):
        what = "REINDEX CONCURRENTLY" if concurrently else f"REINDEX {kind}"
        yield _error(ctx, toks[0], toks[-1], f"`{what}` cannot run inside a transaction block, and this migration "
                                             "runs in one: it fails here.",
                     "Give it a migration that runs without a transaction (or run it outside the migrations).")
        return
    if concurrently:
        return
    pg = ctx.file.settings.pg_version
    if isinstance(rel, Relation):
        if kind == "TABLE" and _new(ctx, rel):
            return
        if kind == "INDEX" and _index_of_new_table(ctx, rel.name):
            return
        shown = _w(ctx, rel)
        if kind == "INDEX":
            table = _index_table(ctx, rel.name)
            doing = f"`REINDEX INDEX {shown}` rebuilds the index and"
            message = locks_message(REINDEX_LOCKS, table, doing) if table else \
                f"{doing} takes a SHARE lock on its table: {REINDEX_LOCKS.blocks}"
        else:
            doing = f"`REINDEX TABLE {shown}` rebuilds every index of the table and"
            message = locks_message(REINDEX_LOCKS, shown, doing)
        if pg >= 12:
            help_text = f"Use `REINDEX {kind} CONCURRENTLY {shown}`, in a migration without a transaction."
        else:
            help_text = ("Before PostgreSQL 12 there is no REINDEX CONCURRENTLY: `CREATE INDEX CONCURRENTLY` a copy, "
                         "`DROP INDEX CONCURRENTLY` the old index, then rename the copy.")
        yield ctx.report(ctx.cover(toks[0], rel.last), message + ".",
                         help=help_text)
        return
    if kind == "SYSTEM":
        help_text = "Reindex the system catalogs in a maintenance window, not in a migration."
    elif pg >= 12:
        help_text = f"Use `REINDEX {kind} CONCURRENTLY …`, outside the migrations."
    else:
        help_text = "Reindex the indexes that need it one by one, outside the migrations."
    yield ctx.report(ctx.cover(toks[0], toks[-1]),
                     f"`REINDEX {kind}` rebuilds every index in the {kind.lower()}, one table at a time: while a "
                     "table's indexes are rebuilt, every write to it waits (SHARE lock), and so does every read "
                     "that would use the index being rebuilt (ACCESS EXCLUSIVE lock).", help=help_text)


def _index_table(ctx: StatementContext, index: str) -> str | None:
    state = ctx.file.state
    if state is None:
        return None
    idx = state.indexes.get(index) or next((v for k, v in state.indexes.items() if k.rsplit(".", 1)[-1] == index),
                                           None)
    return idx.table if idx is not None else None


def _index_of_new_table(ctx: StatementContext, index: str) -> bool:
    table = _index_table(ctx, index)
    return table is not None and ctx.file.created_here(table.rsplit(".", 1)[-1])


def _lock(ctx: StatementContext, toks: list[Lexeme]) -> Iterator[Finding]:
    rels = relation_list(toks, skip_words(toks, 1, "TABLE"), frozenset({"IN"}))
    if not rels:
        return
    if not ctx.in_transaction:
        yield _error(ctx, toks[0], rels[-1].last, "`LOCK TABLE` can only be used inside a transaction block, and "
                                                  "this statement runs outside one: it fails here.",
                     "Wrap it and the statements it protects in `BEGIN; … COMMIT;`, or drop it.")
        return
    mode = lock_mode(toks)
    lock: Lock | None = LOCKS.get(mode)
    if lock is None or not blocks_writes(lock):
        return
    live = [r for r in rels if not _new(ctx, r)]
    if not live:
        return
    doing = f"`LOCK TABLE {', '.join(_w(ctx, r) for r in live)}`"
    message = locks_message(lock, _w(ctx, live[0]), doing)
    yield ctx.report(ctx.cover(toks[0], toks[-1]),
                     message.replace("until it finishes", "until the transaction ends") + ".",
                     help="Drop the explicit lock if the statements after it take the locks they need; otherwise "
                          "keep the rest of the transaction short and set `lock_timeout` before it.")


def _add_value(ctx: StatementContext, toks: list[Lexeme]) -> Iterator[Finding]:
    found = relation_at(toks, 2)
    if found is None:
        return
    rel, i = found
    if not starts(toks[i:], "ADD", "VALUE"):
        return
    value = next((t for t in toks[i + 2:] if t.kind == "string"), None)
    if value is None or not ctx.in_transaction:
        return
    where = ctx.cover(toks[i], value)
    pg = ctx.file.settings.pg_version
    if pg < 12:
        f = ctx.report(where, f"`ALTER TYPE {_w(ctx, rel)} ADD VALUE` cannot run inside a transaction block before "
                              f"PostgreSQL 12 (this project targets {pg}), and this migration runs in one: it "
                              "fails here.",
                       help="Give it a migration that runs without a transaction.")
        yield Finding(f.span, f.message, f.help, f.fix, "error")
        return
    use = _later_use(ctx, value.value)
    if use is None:
        return
    line = ctx.file.text.count("\n", 0, use.span.start) + 1
    f = ctx.report(where, f"The new value {value.value} of `{_w(ctx, rel)}` is used on line {line}, in the same "
                          "transaction that adds it: PostgreSQL refuses that (`unsafe use of new value`) until the "
                          "ALTER TYPE commits.",
                   help="Commit the ALTER TYPE first: put it in a migration of its own, before the one that uses "
                        "the value.")
    yield Finding(f.span, f.message, f.help, f.fix, "error")


def _later_use(ctx: StatementContext, literal: str) -> Statement | None:
    """A later statement of the same transaction that mentions the string `literal`."""
    me = ctx.stmt
    wrapped = ctx.file.wraps(me.section)
    block = None
    if me.context == "do":
        block = next((s for s in reversed(ctx.file.statements) if s.context == "top" and s.span.start <= me.span.start
                      and s.span.end >= me.span.end), None)
    for stmt in ctx.file.statements:
        if stmt.span.start <= me.span.start or stmt.kind != "sql" or stmt.section != me.section:
            continue
        if stmt.context == "top":
            word = stmt.keyword
            if not wrapped and word in ("COMMIT", "END", "ROLLBACK", "ABORT"):
                return None
            if not wrapped and block is not None and stmt.span.start >= block.span.end:
                return None  # the DO block was its own transaction
            if word in ("ALTER", "CREATE") and _defines_only(stmt):
                continue
        elif stmt.context != "do":
            continue  # function bodies run later, in other transactions
        if literal in stmt.text and any(t.kind == "string" and t.value == literal for t in lex(stmt.text)):
            return stmt
    return None


def _defines_only(stmt: Statement) -> bool:
    """ALTER TYPE (ADD VALUE … AFTER 'new' is allowed) and CREATE FUNCTION (its body runs later)."""
    words = [w.upper() for w in stmt.text.split(None, 5)[:5]]
    return words[:2] == ["ALTER", "TYPE"] or "FUNCTION" in words or "PROCEDURE" in words


RULE = Rule(code="SG59", name="blocking-maintenance", severity="warning", doc=__doc__, check=check)
