"""The one transaction state machine: which transaction each statement of a file runs in.

Whether the runner wraps a file (or a dbmate / goose section) in a transaction is the runner's fact
(`sqlguard.migrations.files.wraps`); what each statement does to the transaction state is the typed
reader's (`Description.transaction`: begin, commit, rollback, savepoint, …). From those two this
machine says, for every statement:

- `runner`: inside the transaction the runner opened for the whole file or section, or one it commits
  at the end (see `track` for what the file's own BEGIN and COMMIT do there);
- `explicit`: between the file's own BEGIN and its COMMIT, ROLLBACK or PREPARE TRANSACTION;
- `none`: in a transaction of its own (autocommit);
- `do`: inside a DO block that runs in a transaction of its own;
- `function`: in a function body, which runs later, when called.

Statements of one `block` commit together. A section starts with the runner's transaction open when
the runner wraps it, else with none; a BEGIN of an unwrapped section still open at its end is in
`unclosed`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

_OPEN = frozenset({"begin"})
_CLOSE = frozenset({"commit", "rollback", "prepare"})


@dataclass(frozen=True)
class Tx:
    kind: str  # runner | explicit | none | do | function
    block: int  # statements of the same block commit together
    begin: int | None = None  # index of the statement whose BEGIN opened an explicit block

    @property
    def open(self) -> bool:
        """Inside a transaction block, where statements that cannot run in one fail."""
        return self.kind in ("runner", "explicit", "do")


@dataclass(frozen=True)
class Transactions(Generic[T]):
    items: Sequence[T]
    txs: tuple[Tx, ...]
    unclosed: tuple[tuple[str | None, int], ...] = field(default=())  # (section, index of the BEGIN)

    def of(self, i: int) -> Tx:
        return self.txs[i]

    def same_block(self, i: int, j: int) -> bool:
        a, b = self.txs[i], self.txs[j]
        return a.block == b.block and a.kind not in ("none", "function") and b.kind not in ("none", "function")


def track(items: Sequence[T], *, control: Callable[[T], str | None], section: Callable[[T], str | None],
          nested: Callable[[T], str | None], wraps: Callable[[str | None], bool],
          runner_sends_control: bool = True) -> Transactions[T]:
    """Run the machine over a file's statements, in file order.

    `control(item)`: what a top-level statement does to the transaction (`begin`, `commit`, … or None);
    `section(item)`: its dbmate / goose section (None for a plain file); `nested(item)`: None for a
    top-level statement, else the body it stands in (`do` or `function`); `wraps(section)`: whether the
    runner runs that section inside one transaction; `runner_sends_control`: whether that runner sends
    the file's own BEGIN and COMMIT to the server (sqlguard's own runner leaves them out of a migration
    it wraps, so they change nothing there).

    In a wrapped section the runner's transaction is open from the start: a BEGIN there changes nothing
    (PostgreSQL warns), a COMMIT or ROLLBACK ends it early, so the statements after it run on their own,
    and a BEGIN after that opens a transaction the runner's own COMMIT closes at the end (the
    `COMMIT; CREATE INDEX CONCURRENTLY …; BEGIN;` idiom). Only an unwrapped section can leave a BEGIN
    open: nobody commits it, and it is rolled back when the session ends.
    """
    txs: list[Tx] = []
    unclosed: list[tuple[str | None, int]] = []
    counter = 0
    current: str | None = None
    started = False
    wrapped = False
    open_ = False  # a transaction block is open: the runner's, or the file's own
    begin: int | None = None  # the file's own BEGIN of the open block (None: the runner's)
    block = 0
    parent = Tx("none", 0)
    for i, item in enumerate(items):
        inner = nested(item)
        if inner is not None:
            if inner == "function":
                txs.append(Tx("function", -1))
            else:
                txs.append(parent if parent.kind != "none" else Tx("do", parent.block))
            continue
        sec = section(item)
        counter += 1
        if not started or sec != current:
            if started and open_ and not wrapped and begin is not None:
                unclosed.append((current, begin))
            started, current = True, sec
            wrapped = wraps(sec)
            open_, begin, block = wrapped, None, counter
        what = control(item) if runner_sends_control or not wrapped else None
        if not open_ and what in _OPEN:
            open_, block = True, counter
            begin = None if wrapped else i  # (in a wrapped section the runner commits what it opens)
        tx = Tx("none", counter)
        if open_:
            tx = Tx("runner", block) if begin is None else Tx("explicit", block, begin)
        if txs and txs[-1] == tx:
            tx = txs[-1]  # (one object per block: a dump has 100,000 statements)
        txs.append(tx)
        parent = tx
        if open_ and what in _CLOSE:
            open_, begin = False, None
    if started and open_ and not wrapped and begin is not None:
        unclosed.append((current, begin))
    return Transactions(items, tuple(txs), tuple(unclosed))
