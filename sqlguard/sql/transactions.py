"""The one transaction state machine: which transaction each statement of a file runs in.

Whether the runner wraps a file (or a dbmate / goose section) in a transaction is the runner's fact
(`sqlguard.migrations.files.wraps`); what each statement does to the transaction state is the typed
reader's (`Description.transaction`: begin, commit, rollback, savepoint, …). From those two this
machine says, for every statement:

- `runner`: inside the transaction the runner opened for the whole file or section (the file's own
  BEGIN / COMMIT change nothing there: sqlguard's runner leaves them out, others warn);
- `explicit`: between the file's own BEGIN and its COMMIT, ROLLBACK or PREPARE TRANSACTION;
- `none`: in a transaction of its own (autocommit);
- `do`: inside a DO block that runs in a transaction of its own;
- `function`: in a function body, which runs later, when called.

Statements of one `block` commit together. A section starts with no transaction open, and a BEGIN
still open at the end of a section (wrapped or not) is in `unclosed`.
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
          nested: Callable[[T], str | None], wraps: Callable[[str | None], bool]) -> Transactions[T]:
    """Run the machine over a file's statements, in file order.

    `control(item)`: what a top-level statement does to the transaction (`begin`, `commit`, … or None);
    `section(item)`: its dbmate / goose section (None for a plain file); `nested(item)`: None for a
    top-level statement, else the body it stands in (`do` or `function`); `wraps(section)`: whether the
    runner runs that section inside one transaction.
    """
    txs: list[Tx] = []
    unclosed: list[tuple[str | None, int]] = []
    counter = 0
    current: str | None = None
    started = False
    begin: int | None = None  # the open explicit block's BEGIN
    block = 0  # the open explicit block, or the section's runner block
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
        if not started or sec != current:
            if started and begin is not None:
                unclosed.append((current, begin))
            started, current, begin = True, sec, None
            counter += 1
            block = counter
        counter += 1
        wrapped = wraps(sec)
        if wrapped:
            tx = Tx("runner", block)
        elif begin is not None:
            tx = Tx("explicit", block, begin)
        else:
            tx = Tx("none", counter)
        txs.append(tx)
        parent = tx
        # (followed in a wrapped section too: a BEGIN never committed there is still the file's mistake)
        what = control(item)
        if what in _OPEN and begin is None:
            begin = i
            if not wrapped:
                block = counter
                txs[-1] = parent = Tx("explicit", block, begin)  # the BEGIN itself belongs to its block
        elif what in _CLOSE and begin is not None:
            begin = None
    if started and begin is not None:
        unclosed.append((current, begin))
    return Transactions(items, tuple(txs), tuple(unclosed))
