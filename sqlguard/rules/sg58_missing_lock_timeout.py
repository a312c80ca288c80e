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
from sqlguard.lint.rule import FileContext, Rule
from sqlguard.rules._pg import ACCESS_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE, Lock, article, locks_message
from sqlguard.rules._sg55_ddl import (
    LOCKS,
    REINDEX_LOCKS,
    Relation,
    action_lock,
    after_parens,
    alter_relation,
    blocks_writes,
    lock_mode,
    reindex_target,
    relation_at,
    relation_list,
    rollback,
    skip_words,
    strongest,
    vacuum_full,
    written,
)
from sqlguard.schema.model import Index
from sqlguard.sql import ddl
from sqlguard.sql.lex import Lexeme, lex
from sqlguard.sql.split import Statement

SET_LINE = "SET lock_timeout = '5s';"
# Statements that can take a lock blocking the table's reads or writes (the rest are not lexed).
_LOCKERS = frozenset({"ALTER", "DROP", "TRUNCATE", "LOCK", "CLUSTER", "VACUUM", "REINDEX", "CREATE"})
_ZERO = re.compile(r"0+(\.0*)?\s*(us|ms|s|min|h|d)?", re.I)


@dataclass(frozen=True)
class Locking:
    lock: Lock
    table: str  # as SQL, for the message
    doing: str  # "`ALTER TABLE users`"
    first: Lexeme
    last: Lexeme


def check(ctx: FileContext) -> Iterator[Finding]:
    if ctx.dialect != "postgres" or rollback(ctx.migration, None):
        return
    section: str | None = None
    has_timeout = False  # a session-level lock_timeout is set
    local_timeout = False  # a SET LOCAL one, until the transaction ends
    reported = False
    explicit = False
    lost_local = False  # a SET LOCAL lock_timeout that no longer (or never) applies
    tops = [s for s in ctx.statements if s.context == "top" and s.kind == "sql"]
    positions = {id(s): i for i, s in enumerate(ctx.statements)}
    for stmt in ctx.statements:
        if stmt.kind != "sql" or stmt.context not in ("top", "do") or rollback(None, stmt.section):
            continue
        if stmt.section != section:  # each section runs as a migration of its own
            section, has_timeout, local_timeout, reported, explicit = stmt.section, False, False, False, False
            lost_local = False
        in_tx = ctx.wraps(stmt.section) or explicit
        keyword = stmt.keyword
        if keyword == "RESET" or (keyword in ("SET", "SELECT", "PERFORM") and "lock_timeout" in stmt.text.lower()):
            setting = _timeout_setting(lex(stmt.text))
            if setting is not None:
                value, local = setting
                if local:
                    local_timeout = value and in_tx
                    lost_local = value and not in_tx
                else:
                    has_timeout, local_timeout = value, local_timeout and value
        elif not reported and not (has_timeout or local_timeout) and keyword in _LOCKERS:
            found = _locking(ctx, stmt, lex(stmt.text))
            if found is not None:
                reported = True
                yield _report(ctx, stmt, found, tops, lost_local)
        if stmt.context == "top" and ctx.transactions is not None:
            was = explicit
            i = positions[id(stmt)]
            control = ddl.describe(stmt.text, "postgres").transaction if stmt.keyword in _CONTROL else None
            tx = ctx.transactions.of(i)
            explicit = (control == "begin" and not ctx.wraps(stmt.section)) or (
                tx.kind == "explicit" and control not in ("commit", "rollback", "prepare"))
            if was and not explicit and not ctx.wraps(stmt.section) and local_timeout:
                local_timeout, lost_local = False, True  # SET LOCAL ends with its transaction


_CONTROL = frozenset({"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "PREPARE"})


def _timeout_setting(toks: list[Lexeme]) -> tuple[bool, bool] | None:
    """(sets a limit, only for the transaction) for SET / RESET / set_config of lock_timeout."""
    if not toks:
        return None
    first = toks[0].upper
    if first == "RESET" and len(toks) > 1 and toks[1].upper in ("LOCK_TIMEOUT", "ALL"):
        return False, False
    if first == "SET":
        i = 1
        local = False
        if i < len(toks) and toks[i].upper in ("SESSION", "LOCAL"):
            local = toks[i].upper == "LOCAL"
            i += 1
        if i >= len(toks) or toks[i].name != "lock_timeout":
            return None
        i += 1
        if i < len(toks) and (toks[i].value == "=" or toks[i].upper == "TO"):
            i += 1
        return (i < len(toks) and _nonzero(toks[i])), local
    for k, t in enumerate(toks):
        if t.kind == "word" and t.value.lower() == "set_config" and k + 4 < len(toks) and toks[k + 1].value == "(":
            args = [x for x in toks[k + 2:] if x.depth == toks[k + 1].depth + 1 and x.value != ","]
            if args and args[0].kind == "string" and args[0].value.strip("'").lower() == "lock_timeout":
                local = (len(args) > 2 and args[2].upper in ("TRUE", "ON")) or (
                    len(args) > 2 and args[2].value.strip("'").lower() in ("true", "t", "on", "1"))
                return (len(args) > 1 and _nonzero(args[1])), local
    return None


def _nonzero(tok: Lexeme) -> bool:
    if tok.upper == "DEFAULT":
        return False  # the server default, 0 unless someone configured one
    value = tok.value.strip("'\" ")
    return not _ZERO.fullmatch(value)


def _locking(ctx: FileContext, stmt: Statement, toks: list[Lexeme]) -> Locking | None:
    """The lock a statement waits for on an existing table, if it blocks the table's writes (or reads)."""
    if not toks:
        return None
    w = [*(t.upper for t in toks[:4]), "", "", ""]  # (padded: `DROP;` has no second word)
    at = stmt.span.start

    def existing(name: str) -> bool:
        return not _created_before(ctx, name, at)

    def shown(rel: Relation) -> str:
        return written(ctx.text, stmt, rel)

    if w[0] == "ALTER":
        alter = alter_relation(toks)
        if alter is None or alter.kind != "TABLE" or not alter.actions or not existing(alter.rel.name):
            if w[1] == "POLICY":
                return _on_table(ctx, stmt, toks, ACCESS_EXCLUSIVE, "ALTER POLICY", at)
            return None
        lock = strongest([action_lock(a) for a in alter.actions])
        if not blocks_writes(lock):
            return None
        return Locking(lock, shown(alter.rel), f"`ALTER TABLE {shown(alter.rel)}`", toks[0], alter.rel.last)
    if w[0] == "DROP":
        if w[1] == "TABLE":
            for rel in relation_list(toks, skip_words(toks, 2, "IF", "EXISTS")):
                if existing(rel.name):
                    return Locking(ACCESS_EXCLUSIVE, shown(rel), f"`DROP TABLE {shown(rel)}`", toks[0], rel.last)
            return None
        if w[1] == "INDEX" and w[2] != "CONCURRENTLY":
            for rel in relation_list(toks, skip_words(toks, 2, "IF", "EXISTS")):
                table = _index_table(ctx, rel.name, stmt)
                if table is None or existing(table):
                    where = table or f"the table of {shown(rel)}"
                    return Locking(ACCESS_EXCLUSIVE, where, f"`DROP INDEX {shown(rel)}`", toks[0], rel.last)
            return None
        if w[1] in ("TRIGGER", "POLICY"):
            return _on_table(ctx, stmt, toks, ACCESS_EXCLUSIVE, f"DROP {w[1]}", at)
        return None
    if w[0] == "TRUNCATE":
        for rel in relation_list(toks, skip_words(toks, 1, "TABLE")):
            if existing(rel.name):
                return Locking(ACCESS_EXCLUSIVE, shown(rel), f"`TRUNCATE {shown(rel)}`", toks[0], rel.last)
        return None
    if w[0] == "LOCK":
        if any(t.upper == "NOWAIT" for t in toks):
            return None  # fails at once instead of waiting
        rels = relation_list(toks, skip_words(toks, 1, "TABLE"), frozenset({"IN"}))
        explicit = LOCKS.get(lock_mode(toks))
        if explicit is None or not blocks_writes(explicit):
            return None
        for rel in rels:
            if existing(rel.name):
                return Locking(explicit, shown(rel), f"`LOCK TABLE {shown(rel)}`", toks[0], rel.last)
        return None
    if w[0] == "CLUSTER":
        i = skip_words(toks, 1, "VERBOSE")
        if i < len(toks) and toks[i].value == "(":
            i = after_parens(toks, i)
        found = relation_at(toks, i)
        if found is None:
            return Locking(ACCESS_EXCLUSIVE, "every table clustered before", "`CLUSTER`", toks[0], toks[0])
        rel = found[0]
        return Locking(ACCESS_EXCLUSIVE, shown(rel), f"`CLUSTER {shown(rel)}`", toks[0], rel.last) \
            if existing(rel.name) else None
    if w[0] == "VACUUM":
        full, rels = vacuum_full(toks)
        if not full:
            return None
        live = [r for r in rels if existing(r.name)]
        if rels and not live:
            return None
        where = shown(live[0]) if live else "every table of the database"
        return Locking(ACCESS_EXCLUSIVE, where, "`VACUUM FULL`", toks[0], live[0].last if live else toks[1])
    if w[0] == "REINDEX":
        target = reindex_target(toks)
        if target is None or target[1]:
            return None
        kind, _, named = target
        if named is None:
            return Locking(REINDEX_LOCKS, f"every table of the {kind.lower()}", f"`REINDEX {kind}`", toks[0], toks[0])
        table = _index_table(ctx, named.name, stmt) if kind == "INDEX" else named.name
        if table is not None and not existing(table):
            return None
        where = (table or f"the table of {shown(named)}") if kind == "INDEX" else shown(named)
        return Locking(REINDEX_LOCKS, where, f"`REINDEX {kind} {shown(named)}`", toks[0], named.last)
    if w[0] == "CREATE":
        i = skip_words(toks, 1, "OR", "REPLACE", "UNIQUE", "CONSTRAINT")
        if i >= len(toks):
            return None
        kind = toks[i].upper
        if kind == "INDEX":
            if i + 1 < len(toks) and toks[i + 1].upper == "CONCURRENTLY":
                return None
            on = next((k for k in range(i, len(toks)) if toks[k].upper == "ON" and toks[k].depth == 0), None)
            found = relation_at(toks, skip_words(toks, on + 1, "ONLY")) if on is not None else None
            if found is None or not existing(found[0].name):
                return None
            rel = found[0]
            return Locking(SHARE, shown(rel), f"`CREATE INDEX` on `{shown(rel)}`", toks[0], rel.last)
        if kind == "TRIGGER":
            return _on_table(ctx, stmt, toks, SHARE_ROW_EXCLUSIVE, "CREATE TRIGGER", at)
        if kind == "POLICY":
            return _on_table(ctx, stmt, toks, ACCESS_EXCLUSIVE, "CREATE POLICY", at)
    return None


def _on_table(ctx: FileContext, stmt: Statement, toks: list[Lexeme], lock: Lock, doing: str,
              at: int) -> Locking | None:
    """`… name ON table …` (triggers and policies)."""
    on = next((k for k, t in enumerate(toks) if t.upper == "ON" and t.depth == 0), None)
    found = relation_at(toks, on + 1) if on is not None else None
    if found is None or _created_before(ctx, found[0].name, at):
        return None
    rel = found[0]
    name = written(ctx.text, stmt, rel)
    return Locking(lock, name, f"`{doing}` on `{name}`", toks[0], rel.last)


def _index_table(ctx: FileContext, index: str, stmt: Statement) -> str | None:
    """The table of an index: from the DROP's own effect, else from the schema as the file leaves it."""
    state = ctx.state
    if state is None:
        return None
    for e in state.effects:
        if e.kind == "drop index" and e.span == stmt.span and isinstance(e.before, Index) \
                and e.target.rsplit(".", 1)[-1] == index:
            return e.before.table.rsplit(".", 1)[-1]
    idx = state.indexes.get(index) or next((v for k, v in state.indexes.items() if k.rsplit(".", 1)[-1] == index),
                                           None)
    return idx.table.rsplit(".", 1)[-1] if idx is not None else None


def _created_before(ctx: FileContext, table: str, pos: int) -> bool:
    """Whether `table` was created (or a view of that name) earlier in this file than `pos`."""
    if ctx.state is None:
        return False
    first: dict[str, int] | None = ctx.memo.get("sg58_first_created")
    if first is None:  # once per file: where each name is first created (a dump creates thousands)
        first = {}
        for e in ctx.state.effects:
            if e.kind in ("create table", "create view") and e.span is not None:
                name = e.target.rsplit(".", 1)[-1].lower()
                first[name] = min(first.get(name, e.span.start), e.span.start)
        ctx.memo["sg58_first_created"] = first
    created = first.get(table.lower())
    return created is not None and created < pos


def _report(ctx: FileContext, stmt: Statement, found: Locking, tops: list[Statement], lost_local: bool) -> Finding:
    named = not found.table.startswith(("every ", "the table of"))
    if named:
        took = locks_message(found.lock, found.table, found.doing)
        queued = ("every query on" if found.lock is ACCESS_EXCLUSIVE else "every write to") + f" `{found.table}`"
    else:  # REINDEX SCHEMA, VACUUM FULL of the whole database, DROP INDEX of an index sqlguard cannot place
        took = f"{found.doing} takes {article(found.lock)} {found.lock.mode} lock on {found.table}: {found.lock.blocks}"
        queued = "every query that conflicts with it"
    message = (f"{took}. No `lock_timeout` is set before it, so while it waits for that lock behind a long query "
               f"or an open transaction, {queued} queues behind it.")
    anchor = stmt
    if stmt.context != "top":  # inside a DO block: the SET goes before the block
        anchor = next((t for t in reversed(tops) if t.span.start <= stmt.span.start), stmt)
    a, b = stmt.offset(found.first.start), stmt.offset(found.last.end - 1) + 1
    return ctx.report(Span(min(a, b), max(a, b)), message,
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


RULE = Rule(code="SG58", name="missing-lock-timeout", severity="warning", doc=__doc__, check=check, scope="file",
            fixable=True)
