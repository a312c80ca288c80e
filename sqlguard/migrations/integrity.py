"""`sqlguard.sum`: a chained hash of a migration history, so that editing an applied migration shows.

The file sits in the history's folder (for sqitch next to `sqitch.plan`) and looks like atlas.sum:

    h1:<base64 sha256 of every line below, newlines included>
    20240101120000_create_users.sql h1:<base64 running digest>
    20240102120000_add_email.sql h1:<base64 running digest>

One running sha256 is fed, in apply order, each migration's path relative to the folder (posix) and
its bytes, then, when the migration has a rollback file, the rollback's path and bytes; the line of a
migration holds the digest at that point. So an edit, an insertion or a reordering breaks the line of
that migration and of every later one, and `check_sum` can name the first migration that differs and
why. The first line hashes the rest, so a sum file fixed up by hand (a merge resolved by hand, a
line deleted) is caught too.

Line endings are hashed as LF: a Windows checkout with `core.autocrlf` rewrites every file's bytes
without changing a migration, and a sum that fails on every Windows machine teaches people to ignore it.

`sqlguard hash` writes the file (`write_sum`); SG36 reports the first mismatch (`IntegrityIndex`,
`integrity_problem`). A history without a `sqlguard.sum` is not judged: hashing is opt-in.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlguard.migrations.history import History, Migration

SUM_FILE = "sqlguard.sum"
_PREFIX = "h1:"

Reason = Literal["edited", "inserted", "removed", "reordered", "not yet hashed", "sum file edited"]


@dataclass(frozen=True)
class SumLine:
    path: str  # relative to the history's folder, posix
    digest: str  # "h1:<base64>"


@dataclass(frozen=True)
class Mismatch:
    """Where a history first departs from its `sqlguard.sum`, and how."""

    reason: Reason
    migration: Migration | None  # the migration to report on (None only for an empty history)
    line: int  # 1-based line of `sqlguard.sum` that does not match
    recorded: str | None = None  # the path the sum records at that point (removed, reordered, edited sum)


def sum_path(history: History) -> Path:
    return history.folder / SUM_FILE


def _bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError:
        return b""  # unreadable: SG02 says so; the hash then changes when it becomes readable
    return data.replace(b"\r\n", b"\n")


def hash_lines(history: History) -> list[SumLine]:
    """The lines `sqlguard.sum` should hold for the history as it is on disk."""
    running = hashlib.sha256()
    out = []
    for m in history.migrations:
        for path in (m.path, m.rollback):
            if path is None:
                continue
            running.update(history.relative(path).encode("utf-8"))
            running.update(_bytes(path))
        out.append(SumLine(history.relative(m.path), _PREFIX + base64.b64encode(running.digest()).decode("ascii")))
    return out


def _body(lines: list[SumLine]) -> str:
    return "".join(f"{line.path} {line.digest}\n" for line in lines)


def _header(body: str) -> str:
    return _PREFIX + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")


def compute_sum(history: History) -> str:
    """The text of `sqlguard.sum` for the history as it is on disk."""
    body = _body(hash_lines(history))
    return f"{_header(body)}\n{body}"


def write_sum(history: History) -> Path:
    """Write (or rewrite) the history's `sqlguard.sum`; returns its path."""
    target = sum_path(history)
    target.write_text(compute_sum(history), encoding="utf-8", newline="\n")
    return target


def read_sum(history: History) -> str | None:
    """The history's `sqlguard.sum` as text, None when there is none (the history is not hashed)."""
    try:
        return sum_path(history).read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None


def recorded(history: History, path: Path) -> bool:
    """Whether the history's `sqlguard.sum` records `path` (then a database may have run it)."""
    text = read_sum(history)
    parsed = _parse(text) if text is not None else None
    if parsed is None:
        return False
    try:
        rel = path.resolve().relative_to(history.folder.resolve()).as_posix()
    except ValueError:
        return False
    return any(line.path == rel for line in parsed[1])


def _parse(text: str) -> tuple[str, list[SumLine]] | None:
    """(first line, the other lines), None when the text is not a sum file at all."""
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    header, _, body = text.partition("\n")
    if not header.startswith(_PREFIX):
        return None
    lines = []
    for raw in body.split("\n"):
        if not raw.strip():
            continue
        path, sep, digest = raw.rpartition(" " + _PREFIX)  # paths may hold spaces (fineract's do)
        if not sep or not path:
            return None
        lines.append(SumLine(path, _PREFIX + digest))
    return header.strip(), lines


def check_sum(history: History, text: str) -> Mismatch | None:
    """The first migration whose line in `sqlguard.sum` (given as `text`) does not match, or None."""
    expected = hash_lines(history)
    migrations = history.migrations
    parsed = _parse(text)

    def at(i: int) -> Migration | None:
        # A difference past the last migration (a removal at the end) is reported on the last one.
        return migrations[min(i, len(migrations) - 1)] if migrations else None

    if parsed is None:
        return Mismatch("sum file edited", at(0), 1)
    header, recorded = parsed
    # The checksum covers the lines as sqlguard writes them, so blank lines or a lost final newline
    # from an editor do not count as tampering; any change to a path or a digest does.
    if header != _header(_body(recorded)):
        # The sum itself was changed by hand: it proves nothing, so point at the first line that
        # disagrees with the files rather than guess which of the two was edited.
        i = next((i for i, (r, e) in enumerate(zip(recorded, expected, strict=False)) if r != e),
                 min(len(recorded), len(expected)))
        if i >= len(recorded) and i >= len(expected):
            i = 0  # every line agrees: only the checksum line was touched
        return Mismatch("sum file edited", at(i), 1, recorded[i].path if i < len(recorded) else None)
    current = {line.path for line in expected}
    hashed = {line.path for line in recorded}
    for i, want in enumerate(expected):
        if i >= len(recorded):
            return Mismatch("not yet hashed", migrations[i], i + 2)
        have = recorded[i]
        if have.path != want.path:
            if have.path not in current:
                return Mismatch("removed", at(i), i + 2, have.path)
            if want.path not in hashed:
                return Mismatch("inserted", migrations[i], i + 2, have.path)
            return Mismatch("reordered", migrations[i], i + 2, have.path)
        if have.digest != want.digest:
            return Mismatch("edited", migrations[i], i + 2, have.path)
    if len(recorded) > len(expected):
        return Mismatch("removed", at(len(expected)), len(expected) + 2, recorded[len(expected)].path)
    return None


def describe(mismatch: Mismatch, history: History) -> str:
    """The message SG36 shows on the mismatch's migration: the consequence, then what to do."""
    m = mismatch.migration
    shown = f"`{history.relative(m.path)}`" if m is not None else "the history"
    recorded = f"`{mismatch.recorded}`" if mismatch.recorded else "a migration"
    sum_name = f"`{SUM_FILE}`"
    if mismatch.reason == "edited":
        also = f" (or its rollback `{history.relative(m.rollback)}`)" if m is not None and m.rollback else ""
        return (f"{shown}{also} changed after it was hashed into {sum_name}: databases that already ran it "
                f"will not get the change; write a new migration instead (or run `sqlguard hash` if this edit "
                f"is intended, e.g. a comment)")
    if mismatch.reason == "inserted":
        return (f"{shown} is not in {sum_name} but sorts before {recorded}, which is: databases that already "
                f"ran the hashed migrations will skip it or run it out of order; give it a version after the "
                f"newest hashed migration (or run `sqlguard hash` if it belongs there)")
    if mismatch.reason == "removed":
        return (f"{recorded} was hashed into {sum_name} but is gone (deleted or renamed), next to {shown}: "
                f"databases that already ran it keep its changes and new databases never get them; restore it "
                f"(or run `sqlguard hash` if the removal is intended)")
    if mismatch.reason == "reordered":
        return (f"{shown} now runs before {recorded}, unlike when they were hashed into {sum_name}: databases "
                f"that already ran both applied them in the other order; restore the old versions (or run "
                f"`sqlguard hash` if the new order is intended)")
    if mismatch.reason == "not yet hashed":
        return (f"{shown} is not hashed into {sum_name} yet, so a later edit to it will go unnoticed; run "
                f"`sqlguard hash` once it is final")
    return (f"{sum_name} was edited by hand (its first line no longer matches the rest), so it no longer shows "
            f"which migrations changed; check the migrations against version control, then run `sqlguard hash`")


def _same(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def integrity_problem(history: History, path: Path) -> str | None:
    """SG36's message for `path` when it is where the history first departs from `sqlguard.sum`.

    Reads and hashes the whole history on every call; the engine uses `IntegrityIndex`, which does
    that once per history.
    """
    text = read_sum(history)
    if text is None:
        return None
    return _problem_at(history, check_sum(history, text), path)


def _problem_at(history: History, mismatch: Mismatch | None, path: Path) -> str | None:
    # Only the migration's own file carries the message (which names its rollback when that may be
    # the changed one): reporting on both halves would say the same thing twice.
    if mismatch is None or mismatch.migration is None or not _same(mismatch.migration.path, path):
        return None
    return describe(mismatch, history)


@dataclass
class IntegrityIndex:
    """One per lint run: checks each history against its `sqlguard.sum` once."""

    _checked: dict[Path, Mismatch | None] = field(default_factory=dict)

    def mismatch(self, history: History) -> Mismatch | None:
        if history.folder not in self._checked:
            text = read_sum(history)
            self._checked[history.folder] = None if text is None else check_sum(history, text)
        return self._checked[history.folder]

    def problem(self, history: History, path: Path) -> str | None:
        """SG36's message for `path`, None when its history matches its sum or the first mismatch is elsewhere."""
        return _problem_at(history, self.mismatch(history), path)
