"""The schema at every point of a migration history, and what each rollback fails to undo.

A `Timeline` replays a history once, in version order, keeping the schema before each migration
and the log of what each migration changed. Lint uses it three ways: the schema a migration starts
from (SG11, SG12), the leftovers of replaying a migration up and then its rollback (SG32), and
`sqlguard rollback-gen`, which turns a migration's log into the rollback that undoes it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlguard.diagnostic import Span
from sqlguard.migrations.files import does_work
from sqlguard.migrations.history import History, Migration
from sqlguard.schema.model import Change, Delta, Schema, diff
from sqlguard.schema.replay import Effect, SchemaBuilder
from sqlguard.sql.plpgsql import nested_statements
from sqlguard.sql.split import Statement, split
from sqlguard.sql.text import decode

MANUAL = re.compile(r"--\s*MANUAL:\s*(.*)")
CHECKPOINT = 64  # a replay keeps the schema before every 64th migration


def statements_of(text: str, dialect: str, section: str | None = None) -> Iterator[Statement]:
    """The statements a runner executes, DO-block bodies included; `section` picks up or down."""
    scan = decode(text.encode("utf-8", errors="surrogateescape")).scan_text
    for stmt in split(scan, dialect).statements:
        if section == "up" and stmt.section == "down":
            continue
        if section == "down" and stmt.section != "down":
            continue
        yield stmt
        if dialect == "postgres" and stmt.kind == "sql" and stmt.keyword in ("DO", "CREATE"):
            yield from nested_statements(stmt, scan)


def prefixes(history: History, dialect: str, digest: Callable[[Path], str]) -> list[str]:
    """`prefixes[i]` hashes the first i + 1 migrations of `history` (their names, kinds and digests, in
    order): the replay of those is the same in any history that shares them."""
    h = hashlib.sha256(f"{dialect}\n".encode())
    out = []
    for m in history.migrations:
        try:
            d = digest(m.path)
        except OSError:
            d = "<unreadable>"
        h.update(f"{m.path.name}\n{m.single_file}\n{d}\n".encode())
        out.append(h.hexdigest())
    return out


@dataclass(frozen=True)
class Leftover:
    """Something a migration changed that its rollback leaves changed (SG32)."""

    message: str
    help: str
    span: Span | None  # where the migration made the change, in the migration's file


@dataclass(frozen=True)
class Step:
    """What one migration did to the schema, to start the next replay from (see `Timeline.store`): the
    change from the schema before it to the schema after it, its effects, and whether it held DDL the
    replay could not read. A step is stored under its prefix (see `Timeline.prefixes`): the steps of the
    longest prefix two histories share are the same, whatever comes after."""

    delta: Delta
    effects: tuple[Effect, ...]
    unreadable: bool


@dataclass
class Timeline:
    history: History
    dialect: str
    read: Callable[[Path], str]
    base: Schema | None = None
    # where earlier replays of histories are kept (`lint.cache.Cache`: get_steps / put_steps, get_snapshot /
    # put_snapshots): what this history shares with one from the start is not replayed again
    store: Any = None
    # a migration file's digest (a stat-keyed cache's), for `prefixes`; None: hash what `read` returns
    digest: Callable[[Path], str] | None = None
    steps: list[Step | None] = field(default_factory=list)  # None: not loaded yet (before a snapshot)
    # schemas kept: before migration i, for i = 0, every CHECKPOINT-th, and where a replay starts or ends
    # (a long history's schemas would not fit in memory all at once; any other is rebuilt from the
    # nearest kept one and the steps in between)
    _known: dict[int, Schema] = field(default_factory=dict)
    _recent: dict[int, Schema] = field(default_factory=dict)  # the last few rebuilt (a file asks for i and i + 1)
    _leftovers: dict[int, list[Leftover]] = field(default_factory=dict)
    prefixes: list[str] = field(default_factory=list)
    reused: int = 0  # migrations taken from the store, not replayed
    _made: list[int] = field(default_factory=list)  # migrations this replay made the step of

    def __post_init__(self) -> None:
        self.prefixes = prefixes(self.history, self.dialect, self.digest or self._digest_of_text)
        n = len(self.history.migrations)
        self._known[0] = self.base if self.base is not None else SchemaBuilder(dialect=self.dialect).freeze()
        self.steps = [None] * n
        start = 0
        stored: set[int] = set()
        if self.store is not None and self.base is None and n:
            # the latest schema stored for a prefix of this history, then the steps stored after it
            k, schema, stored = self.store.get_snapshot(self.prefixes)
            if schema is not None:
                self._known[k] = schema
            tail = self.store.get_steps(self.prefixes[k:])
            self.steps[k:k + len(tail)] = tail
            start = k + len(tail)
            self.reused = start
        self._replay(start, n)
        if self.store is not None and self.base is None and n:
            self.store.put_steps([(self.prefixes[i], self.steps[i]) for i in self._made])
            # the schema before the last migration: what the next run starts from when the last migration
            # is being edited, or followed by a new one (then the last is replayed from its step or file)
            if n - 1 >= 1 and n - 1 not in stored:
                self.store.put_snapshots(f"{self.history.folder}\n{self.history.label}\n{self.dialect}",
                                         self.prefixes, [(self.prefixes[n - 2], self.before(n - 1))])

    def _replay(self, start: int, stop: int) -> None:
        """Replay migrations start..stop-1 from their files, from the schema before `start`."""
        if start >= stop:
            return
        before = self.before(start)
        builder = SchemaBuilder.from_schema(before, self.dialect)
        for i in range(start, stop):
            m = self.history.migrations[i]
            builder.effects = []
            builder.unreadable = []
            builder.tables.touched.clear()
            text = self._text(m.path)
            if text is not None:
                for stmt in statements_of(text, self.dialect, "up" if m.single_file else None):
                    builder.apply_text(stmt)
            builder.end_session()  # (each migration runs in a session of its own: its temporary tables end)
            after = builder.freeze()
            self.steps[i] = Step(Delta.between(before, after, builder.tables.touched), tuple(builder.effects),
                                 bool(builder.unreadable))
            self._made.append(i)
            before = after
            if (i + 1) % CHECKPOINT == 0 or i + 1 == stop:
                self._known[i + 1] = after

    def _step(self, i: int) -> Step:
        """Migration i's step, loading (or, when the store lacks it, replaying) the ones before a snapshot."""
        step = self.steps[i]
        if step is None:
            first = self.steps.index(None)
            loaded = self.store.get_steps(self.prefixes[first:]) if self.store is not None else []
            for j, got in enumerate(loaded, first):
                if self.steps[j] is not None:
                    break
                self.steps[j] = got
            while None in self.steps:  # (a gap the store does not fill: replay it from the schema before it)
                gap = self.steps.index(None)
                end = next((j for j in range(gap, len(self.steps)) if self.steps[j] is not None), len(self.steps))
                self._replay(gap, end)
            step = self.steps[i]
        assert step is not None
        return step

    def _digest_of_text(self, path: Path) -> str:
        text = self._text(path)
        return hashlib.sha256((text or "").encode("utf-8", errors="surrogateescape")).hexdigest()

    def _text(self, path: Path) -> str | None:
        try:
            return self.read(path)
        except OSError:
            return None

    def before(self, i: int) -> Schema:
        """The schema before migration i (i = len(migrations): after the last), built from the nearest
        schema built before it and the steps in between."""
        found = self._known.get(i)
        if found is None:
            found = self._recent.get(i)
        if found is None:
            j = max(k for k in (*self._known, *self._recent) if k <= i)
            builder = SchemaBuilder.from_schema(self._known.get(j) or self._recent[j], self.dialect)
            for k in range(j, i):
                self._step(k).delta.apply(builder)
            found = builder.freeze()
            if i % CHECKPOINT == 0:
                self._known[i] = found
            self._recent[i] = found
            while len(self._recent) > 4:
                del self._recent[max(self._recent, key=lambda k: abs(k - i))]  # (the farthest from this one)
        return found

    def after(self, i: int) -> Schema:
        return self.before(i + 1)

    @property
    def final(self) -> Schema:
        return self.before(len(self.steps))

    def effects(self, i: int) -> list[Effect]:
        return list(self._step(i).effects)

    def unreadable(self, i: int) -> bool:
        return self._step(i).unreadable

    def leftovers(self, i: int) -> list[Leftover]:
        if i not in self._leftovers:
            self._leftovers[i] = self._compute_leftovers(i)
        return self._leftovers[i]

    def _compute_leftovers(self, i: int) -> list[Leftover]:
        m = self.history.migrations[i]
        if m.single_file:
            down_path, section = m.path, "down"
        elif m.rollback is not None:
            down_path, section = m.rollback, None
        else:
            return []  # no rollback at all: SG31's finding
        try:
            down_text = self.read(down_path)
        except OSError:
            return []
        label = f"the down section of `{m.path.name}`" if m.single_file else f"`{_name(down_path)}`"
        out = [Leftover(f"{label} leaves a step to do by hand: {text.strip()}",
                        "Do the step, then replace the `-- MANUAL:` line with the SQL that does it.", None)
               for text in MANUAL.findall(_section_text(down_text, section))]
        down = [s for s in statements_of(down_text, self.dialect, section) if s.kind == "sql"]
        if not any(does_work(s) for s in down):
            return out  # an empty rollback is SG31's finding
        builder = SchemaBuilder.from_schema(self.after(i), self.dialect)
        for stmt in down:
            builder.apply_text(stmt)
        if builder.unreadable:
            return out  # the rollback holds DDL the replay cannot read: no verdict on it (SG00 says why)
        after_down = builder.freeze()
        changes = [c for c in diff(self.before(i), after_down)
                   if not (_lookup(self.before(i), c) is None and _lookup(self.after(i), c) is None)]
        # (an object that neither existed before nor after the migration but exists after the rollback
        # is one the history never knew, like a table dropped by the migration but created outside
        # the history: SG11 reports the unknown table; the rollback cannot be judged on it)
        out.extend(_describe(_without_dependents(changes, self.before(i), after_down), self.effects(i), label, m))
        return out


def _without_dependents(changes: list[Change], before: Schema, after: Schema) -> list[Change]:
    """Leave out constraints and indexes that stand or fall with a column already reported."""
    columns = {(c.kind, c.name) for c in changes if c.object == "column" and c.kind != "changed"}
    out = []
    for c in changes:
        if c.object in ("constraint", "index") and c.kind != "changed":
            schema = after if c.kind == "added" else before
            obj = _lookup(schema, c)
            table = (c.name.rpartition(".")[0] if c.object == "constraint" else getattr(obj, "table", ""))
            cols = getattr(obj, "columns", ())
            if any((c.kind, f"{table}.{col}") in columns for col in cols):
                continue
        out.append(c)
    return out


def _lookup(schema: Schema, c: Change) -> object:
    """The object a change is about, as it stands in `schema` (None when absent)."""
    if c.object == "table":
        return schema.tables.get(c.name)
    if c.object in ("column", "constraint"):
        table, _, name = c.name.rpartition(".")
        t = schema.tables.get(table)
        if t is None:
            return None
        return t.column(name) if c.object == "column" else t.constraint(name)
    if c.object == "index":
        return schema.indexes.get(c.name)
    if c.object == "view":
        return c.name if c.name in schema.views else None
    if c.object == "sequence":
        return c.name if c.name in schema.sequences else None
    if c.object == "enum":
        return schema.enums.get(c.name)
    if c.object == "enum value":
        enum, _, value = c.name.rpartition(".")
        return value if value in schema.enums.get(enum, ()) else None
    return None


def _name(path: Path) -> str:
    return path.name


def _section_text(text: str, section: str | None) -> str:
    if section != "down":
        return text
    m = re.search(r"--\s*(?:migrate:down|\+goose\s+Down)\b", text, re.I)
    return text[m.end():] if m else ""


_ORIGIN = {
    ("added", "table"): "create table", ("removed", "table"): "drop table",
    ("added", "column"): "add column", ("removed", "column"): "drop column", ("changed", "column"): "alter column",
    ("added", "constraint"): "add constraint", ("removed", "constraint"): "drop constraint",
    ("added", "index"): "create index", ("removed", "index"): "drop index",
    ("added", "view"): "create view", ("removed", "view"): "drop view",
    ("added", "sequence"): "create sequence", ("removed", "sequence"): "drop sequence",
    ("added", "enum"): "create enum", ("removed", "enum"): "drop enum", ("added", "enum value"): "add enum value",
}


def _origin(change: Change, effects: list[Effect]) -> Effect | None:
    kind = _ORIGIN.get((change.kind, change.object))
    for e in effects:
        if e.kind != kind:
            continue
        if change.object in ("column", "constraint", "enum value"):
            target, _, name = change.name.rpartition(".")
            if e.target == target and e.name == name:
                return e
        elif e.target == change.name:
            return e
    return None


def _describe(changes: list[Change], effects: list[Effect], down: str, m: Migration) -> list[Leftover]:
    out: list[Leftover] = []
    used: set[int] = set()
    # A rename shows up as one name removed and another added: say "not renamed back" once.
    for e in effects:
        if not e.kind.startswith("rename "):
            continue
        obj = e.kind.split(" ", 1)[1]
        if obj in ("column", "constraint"):
            old, new = f"{e.target}.{e.before}", f"{e.target}.{e.after}"
        else:
            old, new = str(e.before), str(e.after)
        hits = [k for k, c in enumerate(changes) if c.object == obj and
                ((c.kind == "removed" and c.name == old) or (c.kind == "added" and c.name == new))]
        if len(hits) == 2:
            used.update(hits)
            undo = _rename_back(obj, e)
            out.append(Leftover(f"{obj} `{old}` renamed to `{new}` here is not renamed back by {down}.",
                                f"Add `{undo}` to {down}.", e.span))
    for k, c in enumerate(changes):
        if k in used:
            continue
        origin = _origin(c, effects)
        what = f"{c.object} `{c.name}`"
        if c.kind == "added":
            verb = "added" if c.object in ("column", "constraint", "enum value") else "created"
            message = f"{what} {verb} here is still there after {down} runs."
            help = f"Add `{_undo_add(c)}` to {down}."
        elif c.kind == "removed":
            message = f"{what} dropped here is not re-created by {down}."
            help = (f"Re-create it in {down} (`sqlguard rollback-gen {m.path.name}` writes it from the "
                    "history); its data needs a backup.")
        else:
            message = f"{what} is not restored as it was by {down}: {c.detail} compared with before the migration."
            help = f"Make {down} restore it exactly (type, NOT NULL, default, constraint definition)."
        out.append(Leftover(message, help, origin.span if origin is not None else None))
    return out


def _rename_back(obj: str, e: Effect) -> str:
    if obj == "table":
        return f"ALTER TABLE {e.after} RENAME TO {str(e.before).rsplit('.', 1)[-1]};"
    if obj == "column":
        return f"ALTER TABLE {e.target} RENAME COLUMN {e.after} TO {e.before};"
    if obj == "constraint":
        return f"ALTER TABLE {e.target} RENAME CONSTRAINT {e.after} TO {e.before};"
    return f"ALTER {obj.upper()} {e.after} RENAME TO {e.before};"


def _undo_add(c: Change) -> str:
    if c.object == "table":
        return f"DROP TABLE IF EXISTS {c.name};"
    if c.object in ("column", "constraint"):
        table, _, name = c.name.rpartition(".")
        return f"ALTER TABLE {table} DROP {c.object.upper()} IF EXISTS {name};"
    if c.object == "enum":
        return f"DROP TYPE IF EXISTS {c.name};"
    if c.object == "enum value":
        return "-- MANUAL: PostgreSQL cannot remove an enum value; re-create the type without it"
    return f"DROP {c.object.upper()} IF EXISTS {c.name};"


@dataclass(frozen=True)
class Removal:
    """How a table or column left the schema: `dropped` or `renamed` (to `new`), by `migration` (a file name)."""

    how: str
    migration: str
    new: str | None = None


def removals(timeline: Timeline) -> dict[tuple[str, ...], Removal]:
    """What the history dropped or renamed and did not create again by the end: ("table", name) and
    ("column", table, column), by bare lower-case names, each with the last migration that removed it."""
    out: dict[tuple[str, ...], Removal] = {}
    for i, m in enumerate(timeline.history.migrations):
        for e in timeline.effects(i):
            bare = str(e.target).rsplit(".", 1)[-1].lower()
            if e.kind == "drop table":
                out[("table", bare)] = Removal("dropped", m.path.name)
            elif e.kind == "rename table" and e.before is not None:
                old = str(e.before).rsplit(".", 1)[-1].lower()
                out[("table", old)] = Removal("renamed", m.path.name, bare)
            elif e.kind == "drop column" and e.name:
                out[("column", bare, e.name.lower())] = Removal("dropped", m.path.name)
            elif e.kind == "rename column" and e.before is not None and e.name:
                out[("column", bare, str(e.before).lower())] = Removal("renamed", m.path.name, e.name)
    final = timeline.final
    for key in list(out):  # created again later: no longer gone
        if key[0] == "table" and final.table(key[1]) is not None:
            del out[key]
        elif key[0] == "column":
            t = final.table(key[1])
            if t is None or t.column(key[2]) is not None:
                del out[key]
    return out
