"""PostgreSQL lock facts shared by the migration-safety rules (SG50–SG69).

Messages name the lock, the table and what waits behind it, in the words of the PostgreSQL docs
("Explicit Locking"): which statements take which lock, and what that lock blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlguard.lint.rule import StatementContext
from sqlguard.sql.lex import Lexeme


@dataclass(frozen=True)
class Lock:
    name: str  # as PostgreSQL names it in pg_locks: AccessExclusiveLock
    mode: str  # as the docs and LOCK TABLE name it: ACCESS EXCLUSIVE
    blocks: str  # what waits behind it, for messages


ACCESS_EXCLUSIVE = Lock("AccessExclusiveLock", "ACCESS EXCLUSIVE",
                        "every read and write of the table waits until it finishes")
SHARE = Lock("ShareLock", "SHARE", "every INSERT, UPDATE and DELETE on the table waits until it finishes")
SHARE_ROW_EXCLUSIVE = Lock("ShareRowExclusiveLock", "SHARE ROW EXCLUSIVE",
                           "every INSERT, UPDATE and DELETE on the table waits until it finishes")
SHARE_UPDATE_EXCLUSIVE = Lock("ShareUpdateExclusiveLock", "SHARE UPDATE EXCLUSIVE",
                              "other schema changes and VACUUM of the table wait; reads and writes go on")


def article(lock: Lock) -> str:
    """`an ACCESS EXCLUSIVE lock`, `a SHARE lock`."""
    return "an" if lock.mode[0] in "AEIOU" else "a"


def locks_message(lock: Lock, table: str, doing: str) -> str:
    """`<doing> takes an ACCESS EXCLUSIVE lock on `users`: every read and write … finishes`."""
    return f"{doing} takes {article(lock)} {lock.mode} lock on `{table}`: {lock.blocks}"


def existing_table(ctx: StatementContext, name: str) -> bool:
    """A table this migration did not create itself: locking it blocks the running application.

    (Without a history or catalog, any table not created earlier in the file counts as existing.)
    """
    return not ctx.file.created_here(name)


def alter_table_target(toks: list[Lexeme]) -> tuple[Lexeme | None, int]:
    """The table lexeme of `ALTER TABLE [IF EXISTS] [ONLY] name …` and the index after it."""
    if len(toks) < 3 or toks[0].upper != "ALTER" or toks[1].upper != "TABLE":
        return None, 0
    i = 2
    while i < len(toks) and toks[i].upper in ("IF", "EXISTS", "ONLY"):
        i += 1
    if i >= len(toks) or toks[i].kind not in ("word", "quoted"):
        return None, 0
    while i + 2 < len(toks) and toks[i + 1].value == "." and toks[i + 2].kind in ("word", "quoted"):
        i += 2
    return toks[i], i + 1


def runs_in_migration(ctx: StatementContext) -> bool:
    """A PostgreSQL statement that runs when the migration runs (not a function body run later)."""
    return ctx.dialect == "postgres" and ctx.stmt.context in ("top", "do", "python-alembic")


def pg_version(ctx: StatementContext) -> int:
    return ctx.file.settings.pg_version
