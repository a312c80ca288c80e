"""A statement waits for a lock that blocks the table's traffic, and no `lock_timeout` bounds the wait.

Reported once per migration, at the first
statement that locks an existing table against writes or reads with no `SET lock_timeout`,
`SET LOCAL lock_timeout` (inside a transaction) or `set_config('lock_timeout', …)` before it:
ALTER TABLE (except VALIDATE CONSTRAINT, SET STATISTICS, storage parameters and ATTACH PARTITION),
DROP TABLE, TRUNCATE, DROP INDEX without CONCURRENTLY, CREATE INDEX without CONCURRENTLY,
CREATE / DROP TRIGGER, CREATE / ALTER / DROP POLICY, LOCK TABLE (without NOWAIT), CLUSTER,
VACUUM FULL and REINDEX without CONCURRENTLY. A `lock_timeout` of 0 turns the limit off and does
not count. Tables created earlier in the file are exempt; so are function bodies and rollbacks
(down sections and files), which run by hand in an incident. Autofix:
`sqlguard lint --fix` inserts `SET lock_timeout = '5s';` on its own line before the statement.

If your migration runner already sets `lock_timeout` for every migration (or the role it connects
as has one), turn this rule off in the config: `ignore = ["SG58"]`.

## Why is this bad?
PostgreSQL grants locks in order. A statement that needs an ACCESS EXCLUSIVE lock waits behind any
long-running query or idle open transaction on the table, and every query that arrives after it
waits behind it, even plain SELECTs that would not conflict with the running ones. One slow report
query turns a millisecond ALTER into minutes of downtime. With a `lock_timeout` the statement gives
up instead, the migration fails cleanly, and it can be retried.

1. Put `SET lock_timeout = '5s';` at the top of the migration (inside the migration's transaction,
   `SET LOCAL lock_timeout = '5s';` keeps it from outliving the transaction).
2. Let the deploy retry a migration that failed with `lock_timeout` (SQLSTATE 55P03), a few times
   with a pause in between.
3. Keep each migration's locks short: one lock-taking statement per transaction where possible.

## Example
    ALTER TABLE users ADD COLUMN last_seen_at timestamptz;

## Use instead
    SET lock_timeout = '5s';
    ALTER TABLE users ADD COLUMN last_seen_at timestamptz;
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from sqlguard.diagnostic import Edit, Finding, Fix, Span
from sqlguard.lint.facts import facts
from sqlguard.lint.rule import FileContext, Rule, StatementContext
from sqlguard.postgres.locks import ACCESS_EXCLUSIVE, REINDEX_LOCKS, SHARE, SHARE_ROW_EXCLUSIVE, Lock, message
from sqlguard.sql.ddl.model import (
    AlterTable,
    At,
    CreateIndex,
    CreateOn,
    Description,
    Drop,
    Maintenance,
    Name,
    Setting,
    Truncate,
)
from sqlguard.sql.split import Statement

SET_LINE = "SET lock_timeout = '5s';"
# Statements that can take a lock blocking the table's reads or writes (the rest are not described).
_LOCKERS = frozenset({"ALTER", "DROP", "TRUNCATE", "LOCK", "CLUSTER", "VACUUM", "REINDEX", "CREATE"})
_SETTERS = frozenset({"SET", "RESET", "SELECT", "PERFORM"})
_ZERO = re.compile(r"0+(\.0*)?\s*(us|ms|s|min|h|d)?", re.I)


@dataclass(frozen=True)
class Locking:
    lock: Lock
    table: str  # as SQL, for the message
    doing: str  # "`ALTER TABLE users`"
    where: At  # what to underline, in the statement


@dataclass
class _Walk:
    """Where the walk over a file's statements stands (one per file, in its memo)."""

    section: str | None = None
    started: bool = False
    has_timeout: bool = False  # a session-level lock_timeout is set
    local_timeout: bool = False  # a SET LOCAL one, until the transaction ends
    local_block: int | None = None  # the transaction block a SET LOCAL applies to
    reported: bool = False
    lost_local: bool = False  # a SET LOCAL lock_timeout that no longer (or never) applies


def check(ctx: StatementContext) -> Iterator[Finding]:
    # A walk over the file in statement order, one statement per call: the state (which section, which
    # timeout is set, whether this migration was reported) lives in the file's memo, and each statement
    # is read once, by the engine's loop, with the schema as it stands before it.
    file, stmt, i = ctx.file, ctx.stmt, ctx.index
    txs = file.transactions
    if ctx.dialect != "postgres" or file.is_rollback(None) or txs is None or i < 0:
        return
    if stmt.kind != "sql" or stmt.context not in ("top", "do") or file.is_rollback(stmt.section):
        return
    w: _Walk = file.memo.setdefault("sg58", _Walk())
    if not w.started or stmt.section != w.section:  # each section runs as a migration of its own
        file.memo["sg58"] = w = _Walk(section=stmt.section, started=True)
    tx = txs.of(i)
    if w.local_timeout and (not tx.open or tx.block != w.local_block):
        w.local_timeout, w.lost_local = False, True  # SET LOCAL ended with its transaction
    keyword = stmt.keyword
    if keyword == "RESET" or (keyword in _SETTERS and "lock_timeout" in stmt.text.lower()):
        for s in _timeout_settings(ctx.ddl):
            value = s.value is not None and _nonzero(s.value)
            if s.local:
                w.local_timeout = value and tx.open
                w.local_block = tx.block if tx.open else None
                w.lost_local = value and not tx.open
            else:
                w.has_timeout, w.local_timeout = value, w.local_timeout and value
    elif not w.reported and not (w.has_timeout or w.local_timeout) and keyword in _LOCKERS:
        found = _locking(ctx)
        if found is not None:
            w.reported = True
            yield _report(file, i, found, w.lost_local)


def _timeout_settings(d: Description) -> list[Setting]:
    return [s for s in d.settings if s.name in ("lock_timeout", "all")]


def _nonzero(value: str) -> bool:
    v = value.strip("'\" ").lower()
    if v == "default":
        return False  # the server default, 0 unless someone configured one
    return not _ZERO.fullmatch(v)


def _locking(sctx: StatementContext) -> Locking | None:
    """The lock a statement waits for on an existing table, if it blocks the table's writes (or reads)."""
    ctx, stmt, i, d = sctx.file, sctx.stmt, sctx.index, sctx.ddl
    f = facts(ctx)

    def existing(name: str) -> bool:
        return not ctx.created_here(name, views=True)

    def shown(name: Name) -> str:
        return _written(ctx, stmt, name)

    def head(name: Name) -> At:
        return At(0, name.at.end if name.at is not None else len(stmt.text.split(None, 1)[0]))

    if isinstance(d, AlterTable):
        if d.relkind != "table" or not d.actions or not existing(d.name.name):
            return None
        own = next((rl.lock for rl in d.locks if rl.relation == d.name), None)
        if own is None or not own.blocks_writes:
            return None
        return Locking(own, shown(d.name), f"`ALTER TABLE {shown(d.name)}`", head(d.name))
    if isinstance(d, CreateOn) and d.kind in ("alter policy", "create policy", "create trigger"):
        if not existing(d.table.name):
            return None
        lock = SHARE_ROW_EXCLUSIVE if d.kind == "create trigger" else ACCESS_EXCLUSIVE
        return Locking(lock, shown(d.table), f"`{d.kind.upper()}` on `{shown(d.table)}`", head(d.table))
    if isinstance(d, Drop):
        if d.object == "table":
            for name in d.names:
                if existing(name.name):
                    return Locking(ACCESS_EXCLUSIVE, shown(name), f"`DROP TABLE {shown(name)}`", head(name))
            return None
        if d.object == "index" and not d.concurrently:
            for name in d.names:
                table = f.index_table(i, name)
                if table is None or existing(table.rsplit(".", 1)[-1]):
                    where = table.rsplit(".", 1)[-1] if table else f"the table of {shown(name)}"
                    return Locking(ACCESS_EXCLUSIVE, where, f"`DROP INDEX {shown(name)}`", head(name))
            return None
        if d.object in ("trigger", "policy") and d.table is not None and existing(d.table.name):
            return Locking(ACCESS_EXCLUSIVE, shown(d.table), f"`DROP {d.object.upper()}` on `{shown(d.table)}`",
                           head(d.table))
        return None
    if isinstance(d, Truncate):
        for name in d.tables:
            if existing(name.name):
                return Locking(ACCESS_EXCLUSIVE, shown(name), f"`TRUNCATE {shown(name)}`", head(name))
        return None
    if isinstance(d, CreateIndex):
        if d.concurrently or not existing(d.table.name):
            return None
        return Locking(SHARE, shown(d.table), f"`CREATE INDEX` on `{shown(d.table)}`", head(d.table))
    if isinstance(d, Maintenance):
        return _maintenance(ctx, i, d, existing, shown, head)
    return None


def _maintenance(ctx: FileContext, i: int, d: Maintenance, existing, shown, head) -> Locking | None:  # type: ignore[no-untyped-def]
    stmt = ctx.statements[i]
    first = At(0, len(stmt.text.split(None, 1)[0]))
    if d.command == "LOCK":
        if d.nowait or d.mode is None or not d.mode.blocks_writes:
            return None  # NOWAIT fails at once instead of waiting
        for name in d.tables:
            if existing(name.name):
                return Locking(d.mode, shown(name), f"`LOCK TABLE {shown(name)}`", head(name))
        return None
    if d.command == "CLUSTER":
        if not d.tables:
            return Locking(ACCESS_EXCLUSIVE, "every table clustered before", "`CLUSTER`", first)
        name = d.tables[0]
        return Locking(ACCESS_EXCLUSIVE, shown(name), f"`CLUSTER {shown(name)}`", head(name)) \
            if existing(name.name) else None
    if d.command == "VACUUM":
        if not d.full:
            return None
        live = [r for r in d.tables if existing(r.name)]
        if d.tables and not live:
            return None
        where = shown(live[0]) if live else "every table of the database"
        return Locking(ACCESS_EXCLUSIVE, where, "`VACUUM FULL`", head(live[0]) if live else first)
    if d.command == "REINDEX":
        if d.concurrently:
            return None
        kind = d.target
        if not d.tables:
            return Locking(REINDEX_LOCKS, f"every table of the {kind.lower()}", f"`REINDEX {kind}`", first)
        named = d.tables[0]
        table = facts(ctx).index_table(i, named) if kind == "INDEX" else named.name
        if table is not None and not existing(table.rsplit(".", 1)[-1]):
            return None
        if kind == "INDEX":
            where = table.rsplit(".", 1)[-1] if table else f"the table of {shown(named)}"
        else:
            where = shown(named)
        return Locking(REINDEX_LOCKS, where, f"`REINDEX {kind} {shown(named)}`", head(named))
    return None


def _written(ctx: FileContext, stmt: Statement, name: Name) -> str:
    """A name as the file writes it (a template placeholder included), else as SQL."""
    if name.at is None or stmt.anchors or stmt.context.startswith("python"):
        return name.sql
    a, b = stmt.offset(name.at.start), stmt.offset(max(name.at.end - 1, name.at.start)) + 1
    raw = ctx.text[a:b]
    scanned = stmt.text[name.at.start:name.at.end]
    return name.sql if raw == scanned else " ".join(raw.split())


def _report(ctx: FileContext, i: int, found: Locking, lost_local: bool) -> Finding:
    stmt = ctx.statements[i]
    named = not found.table.startswith(("every ", "the table of"))
    if named:
        took = message(found.lock, found.table, found.doing)
        queued = ("every query on" if found.lock is ACCESS_EXCLUSIVE else "every write to") + f" `{found.table}`"
    else:  # REINDEX SCHEMA, VACUUM FULL of the whole database, DROP INDEX of an index sqlguard cannot place
        took = f"{found.doing} takes {found.lock.article} {found.lock.mode} lock on {found.table}: {found.lock.blocks}"
        queued = "every query that conflicts with it"
    text = (f"{took}. No `lock_timeout` is set before it, so while it waits for that lock behind a long query "
            f"or an open transaction, {queued} queues behind it.")
    anchor = stmt
    if stmt.context != "top":  # inside a DO block: the SET goes before the block
        anchor = next((t for t in reversed(ctx.statements[:i + 1]) if t.context == "top"), stmt)
    a, b = stmt.offset(found.where.start), stmt.offset(max(found.where.end - 1, found.where.start)) + 1
    return ctx.report(Span(min(a, b), max(a, b)), text,
                      help=(f"`SET LOCAL` ends with its transaction (and does nothing outside one): add `{SET_LINE}` "
                            "before it instead." if lost_local else
                            f"Add `{SET_LINE}` before it, and retry the migration if it times out."),
                      fix=Fix(f"Insert `{SET_LINE}` before the statement", (_insertion(ctx.text, anchor),)))


def _insertion(text: str, stmt: Statement) -> Edit:
    """`SET lock_timeout` on a line of its own before `stmt`, indented like it."""
    start = stmt.span.start
    line_start = text.rfind("\n", 0, start) + 1
    before = text[line_start:start]
    if not before.strip():
        return Edit(Span(start, start), f"{SET_LINE}\n{before}")
    ws = len(before) - len(before.rstrip())
    return Edit(Span(start - ws, start), f"\n{SET_LINE}\n")


RULE = Rule(code="SG58", name="missing-lock-timeout", severity="warning", doc=__doc__, check=check, fixable=True,
            dialects=("postgres",))
