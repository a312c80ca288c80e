"""`sqlguard status`: which migrations of a history a database has run, by the history table.

`sqlguard apply` records each migration it runs as one row of `sqlguard_migrations`, keyed by
(version, name) and holding the SHA-256 of the file's bytes. Status compares those rows with the
files and puts every migration in one state:

- applied: a row exists and its checksum is the file's;
- modified: a row exists but the file changed after it ran (the database did not run what the file
  now says; a fresh database would get something else);
- pending: no row;
- missing: a row whose migration no longer exists as a file (deleted or renamed after it ran).

A database without the table has run nothing through sqlguard: every migration is pending, and the
report says the table is missing rather than failing. The session is read-only: status never writes.

The table is configurable (`apply.history`): a team that adopts sqlguard keeps the table its current
runner writes, e.g. TribeVibe's `migrations (id, filename, executed_at)`. Rows are then found by file
name, and without a checksum column an edited migration cannot be told from an applied one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlguard.config import HistoryTable, Settings
from sqlguard.diagnostic import SqlguardError
from sqlguard.migrations.history import History, Migration

HISTORY_TABLE = "sqlguard_migrations"

# What `sqlguard apply` creates and records into. The key is (version, name) rather than the file
# path: moving the folder or checking it out elsewhere must not make every migration look new.
HISTORY_DDL = (
    "CREATE TABLE IF NOT EXISTS {} (\n"
    "    version     text        NOT NULL,\n"
    "    name        text        NOT NULL,\n"
    "    checksum    text        NOT NULL,\n"
    "    applied_at  timestamptz NOT NULL DEFAULT now(),\n"
    "    applied_by  text        NOT NULL DEFAULT current_user,\n"
    "    duration_ms integer,\n"
    "    environment text,\n"
    "    backup_path text,\n"
    "    PRIMARY KEY (version, name)\n"
    ")"
)

STATES = ("applied", "modified", "pending", "missing")


def checksum(path: Path) -> str:
    """SHA-256 (hex) of the file's bytes: what a run checks it runs (`sqlguard apply`'s checked files)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as err:
        raise SqlguardError(f"cannot read {path}: {err.strerror or err}") from None


def migration_checksum(m: Migration, convention: str) -> str:
    """SHA-256 (hex) of what a migration runs up: what the history table records for it. Line endings count
    as LF (a CRLF checkout is the same migration), and a dbmate or goose file counts up to its down
    section (a fix to the rollback is no change to what ran)."""
    from sqlguard.migrations.files import is_down_marker
    from sqlguard.sql.split import split

    try:
        data = Path(m.path).read_bytes().replace(b"\r\n", b"\n")
    except OSError as err:
        raise SqlguardError(f"cannot read {m.path}: {err.strerror or err}") from None
    if m.single_file:
        text = data.decode("utf-8", "surrogateescape")
        down = next((c for c in split(text).comments if is_down_marker(c.text, convention)), None)
        if down is not None:
            data = text[:down.span.start].encode("utf-8", "surrogateescape")
    return hashlib.sha256(data).hexdigest()


def ran_as(recorded: str | None, m: Migration, current: str) -> bool:
    """Is `recorded` (a history row's checksum) the checksum of `m` as it is now (`current`, its
    `migration_checksum`)? Rows written before `migration_checksum` hold the file's raw SHA-256, which
    still counts (read only when the other does not match)."""
    return recorded is not None and (recorded == current or recorded == checksum(m.path))


def migration_key(migration: Migration) -> tuple[str, str]:
    """(version, name) under which a migration is recorded. A migration without a version (a Flyway
    repeatable, a sqitch change, a misnamed file) has version `""`; without a name, its file name."""
    return migration.version or "", migration.name or migration.path.name


@dataclass(frozen=True)
class Recorded:
    """One row of the history table, in sqlguard's terms (None: the table has no such column)."""

    key: tuple[str, str]
    version: str | None
    name: str | None
    filename: str | None
    checksum: str | None
    applied_at: datetime | None


class HistoryStore:
    """Reads and writes the history table the config names, with its column names. Identifiers are
    quoted by psycopg; values are parameters."""

    def __init__(self, spec: HistoryTable | None = None) -> None:
        self.spec = spec or HistoryTable()
        self._schemas: dict[tuple[str, str, str], str] = {}  # per database: where an unqualified table is

    @property
    def label(self) -> str:
        return self.spec.table

    def key(self, migration: Migration) -> tuple[str, str]:
        """How a migration's row is found: by file name, or by (version, name), or by version alone."""
        version, name = migration_key(migration)
        return self._key(version, name, migration.path.name)

    def _key(self, version: str, name: str, filename: str) -> tuple[str, str]:
        """The part of (version, name, file name) the configured columns record, as a pair."""
        if self.spec.keyed_by_filename:
            return "", filename
        if self.spec.column("name") is None:
            return version, ""
        return version, name

    def identifier(self, conn: Any) -> Any:
        """The table, schema-qualified. An unqualified name is looked up once, through the session's
        search_path as it is before any migration runs (where the table is, or would be created): a
        migration that changes search_path must not send its history row elsewhere."""
        from psycopg import sql


        parts = self.spec.table.split(".")
        if len(parts) > 1:
            return sql.Identifier(*parts)
        schema = self._schema_in(conn)
        return sql.Identifier(schema, parts[0]) if schema else sql.Identifier(parts[0])

    def _schema_in(self, conn: Any) -> str | None:
        """The schema of the (unqualified) table in the database `conn` is connected to, looked up once per
        database (each has its own search_path); None when no schema is on the search_path."""
        from psycopg import sql

        from sqlguard.live.connect import run_query

        where = (str(conn.info.host), str(conn.info.port), str(conn.info.dbname))
        if where not in self._schemas:
            found = run_query(conn, "SELECT coalesce((SELECT n.nspname FROM pg_class c JOIN pg_namespace n "
                                    "ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)), current_schema())",
                              [sql.Identifier(self.spec.table).as_string(conn)])
            if not found or found[0][0] is None:
                return None  # PostgreSQL will say so when the table is used
            self._schemas[where] = str(found[0][0])
        return self._schemas[where]

    def qualified_name(self, conn: Any) -> str:
        """`schema.table`, whichever way the config spells it (one name per table: the apply lock's key)."""
        if "." not in self.spec.table:
            schema = self._schema_in(conn)
            return f"{schema}.{self.spec.table}" if schema else self.spec.table
        return self.spec.table

    def exists(self, conn: Any) -> bool:
        return _table_exists(conn, self.identifier(conn))

    def ensure(self, conn: Any) -> None:
        """Create the table when it is missing (sqlguard's layout, or the configured columns)."""
        from psycopg import sql

        from sqlguard.live.connect import run_query

        if self.exists(conn):
            return
        if self.spec == HistoryTable():
            run_query(conn, sql.SQL(HISTORY_DDL).format(self.identifier(conn)))
            return
        types = {"applied_at": "timestamptz NOT NULL DEFAULT now()", "applied_by": "text DEFAULT current_user",
                 "duration_ms": "integer"}
        cols = [sql.SQL("{} " + types.get(f, "text")).format(sql.Identifier(c)) for f, c in self.spec.columns]
        run_query(conn, sql.SQL("CREATE TABLE {} ({})").format(self.identifier(conn), sql.SQL(", ").join(cols)))

    def rows(self, conn: Any) -> list[Recorded] | None:
        """The recorded migrations in applied order; None without the table."""
        from psycopg import sql

        from sqlguard.live.connect import run_query

        if not self.exists(conn):
            return None
        fields = ("version", "name", "filename", "checksum", "applied_at")
        picks = [sql.Identifier(c) if (c := self.spec.column(f)) else sql.SQL("NULL") for f in fields]
        order = [sql.Identifier(c) for f in ("applied_at", "version", "name", "filename")
                 if (c := self.spec.column(f))]
        query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
            sql.SQL(", ").join(picks), self.identifier(conn), sql.SQL(", ").join(order))
        out: list[Recorded] = []
        for version, name, filename, digest, at in run_query(conn, query):
            version = None if version is None else str(version)
            name = None if name is None else str(name)
            filename = None if filename is None else str(filename)
            key = self._key(version or "", name or "", filename or "")
            at = at if isinstance(at, datetime) else None
            out.append(Recorded(key, version, name, filename, None if digest is None else str(digest), at))
        return out

    def insert(self, conn: Any, migration: Migration, digest: str, *, duration_ms: int | None,
               environment: str | None, backup_path: str | None) -> None:
        """Record `migration` as applied (inside the caller's transaction)."""
        from psycopg import sql

        from sqlguard.live.connect import run_query

        version, name = migration_key(migration)
        values = {"version": version, "name": name, "filename": migration.path.name, "checksum": digest,
                  "duration_ms": duration_ms, "environment": environment, "backup_path": backup_path}
        pairs = [(c, values[f]) for f, c in self.spec.columns if f in values]
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            self.identifier(conn), sql.SQL(", ").join(sql.Identifier(c) for c, _ in pairs),
            sql.SQL(", ").join(sql.Placeholder() for _ in pairs))
        run_query(conn, query, [v for _, v in pairs])

    def delete(self, conn: Any, migration: Migration) -> int:
        """Remove `migration`'s row (inside the caller's transaction); how many rows went."""
        from psycopg import sql

        from sqlguard.live.connect import run_query

        key = self.key(migration)
        if self.spec.keyed_by_filename:
            where = [(self.spec.column("filename"), key[1])]
        else:
            where = [(self.spec.column("version"), key[0])]
            if self.spec.column("name") is not None:
                where.append((self.spec.column("name"), key[1]))
        query = sql.SQL("DELETE FROM {} WHERE {} RETURNING 1").format(
            self.identifier(conn), sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(str(c)))
                                                     for c, _ in where))
        return len(run_query(conn, query, [v for _, v in where]))


JOURNAL_TABLE = "sqlguard_journal"
JOURNAL_DDL = (
    "CREATE TABLE IF NOT EXISTS {} (\n"
    "    version    text        NOT NULL,\n"
    "    name       text        NOT NULL,\n"
    "    checksum   text        NOT NULL,\n"
    "    statement  integer     NOT NULL,\n"
    "    statements integer     NOT NULL,\n"
    "    line       integer,\n"
    "    started_at timestamptz NOT NULL DEFAULT now(),\n"
    "    PRIMARY KEY (version, name)\n"
    ")"
)


@dataclass(frozen=True)
class Interrupted:
    """A `transaction=off` migration a run began and never recorded: where it was when the run ended."""

    key: tuple[str, str]  # (version, name), as migration_key
    checksum: str  # of the file that ran
    statement: int  # 1-based: the statement that had started
    statements: int
    line: int | None
    started_at: datetime | None


class Journal:
    """Where `sqlguard apply` writes how far a `transaction=off` migration has got (each of its statements
    commits on its own, so its history row can only come after the last one): the statement about to run,
    committed before it runs, and the row deleted once the history row is in. A row still there at the
    next run is a migration that was interrupted; the table sits next to the history table."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store

    def identifier(self, conn: Any) -> Any:
        from psycopg import sql

        parts = self.store.spec.table.split(".")
        schema = parts[0] if len(parts) > 1 else self.store._schema_in(conn)
        return sql.Identifier(schema, JOURNAL_TABLE) if schema else sql.Identifier(JOURNAL_TABLE)

    def begin(self, conn: Any, migration: Migration, digest: str, statement: int, statements: int,
              line: int | None) -> None:
        """Record (and commit: the connection is in autocommit) that `statement` of `migration` starts."""
        from psycopg import sql

        from sqlguard.live.connect import run_query

        version, name = migration_key(migration)
        run_query(conn, sql.SQL(
            "INSERT INTO {} (version, name, checksum, statement, statements, line) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (version, name) DO UPDATE SET checksum = excluded.checksum, statement = excluded.statement, "
            "statements = excluded.statements, line = excluded.line"
            + ("" if statement > 1 else ", started_at = now()")).format(self.identifier(conn)),
            [version, name, digest, statement, statements, line])

    def ensure(self, conn: Any) -> None:
        """Create the table when it is missing (inside the caller's transaction)."""
        from psycopg import sql

        from sqlguard.live.connect import run_query

        run_query(conn, sql.SQL(JOURNAL_DDL).format(self.identifier(conn)))

    def clear(self, conn: Any, migration: Migration) -> None:
        """Forget `migration`'s progress (inside the caller's transaction)."""
        from psycopg import sql

        from sqlguard.live.connect import run_query

        if self.exists(conn):
            run_query(conn, sql.SQL("DELETE FROM {} WHERE version = %s AND name = %s").format(self.identifier(conn)),
                      list(migration_key(migration)))

    def exists(self, conn: Any) -> bool:
        return _table_exists(conn, self.identifier(conn))

    def rows(self, conn: Any) -> dict[tuple[str, str], Interrupted]:
        from psycopg import sql

        from sqlguard.live.connect import run_query

        if not self.exists(conn):
            return {}
        rows = run_query(conn, sql.SQL("SELECT version, name, checksum, statement, statements, line, started_at "
                                       "FROM {}").format(self.identifier(conn)))
        return {(str(v), str(n)): Interrupted((str(v), str(n)), str(c), int(s), int(t), line, at)
                for v, n, c, s, t, line, at in rows}


def _table_exists(conn: Any, identifier: Any) -> bool:
    """Whether the table a psycopg `sql.Identifier` names exists (read-only)."""
    from sqlguard.live.connect import run_query

    found = run_query(conn, "SELECT to_regclass(%s) IS NOT NULL", [identifier.as_string(conn)])
    return bool(found and found[0][0])


@dataclass(frozen=True)
class StatusEntry:
    state: str  # one of STATES
    version: str
    name: str
    file: str | None  # relative to the history's folder; None when missing
    applied_at: datetime | None  # None when pending
    checksum: str | None  # the file's; None when missing
    recorded_checksum: str | None  # the history table's; None when pending
    position: int | None = field(default=None, compare=False)  # place in apply order; None when missing
    # pending: an earlier run began it (a `transaction=off` file) and never finished, and where it stopped
    interrupted: Interrupted | None = field(default=None, compare=False)
    # pending: what the lint finds in it and its rollback, against what the database holds
    findings: tuple[dict[str, Any], ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class StatusReport:
    environment: str
    folder: Path  # the history's folder
    table_exists: bool
    applied: list[StatusEntry]
    modified: list[StatusEntry]
    pending: list[StatusEntry]
    missing: list[StatusEntry]
    table: str = HISTORY_TABLE

    @property
    def entries(self) -> list[StatusEntry]:
        """Every entry: the history's migrations in apply order, then the missing ones as they were applied."""
        files = sorted([*self.applied, *self.modified, *self.pending], key=lambda e: e.position or 0)
        return files + self.missing


def migration_status(settings: Settings, env_name: str, paths: list[Path], catalog: Any = None) -> StatusReport:
    """Compare the migration history of `paths` (default: the configured folder) with what the
    environment's history table records. Each pending migration also gets what the lint finds in it
    against what the database holds (as `sqlguard apply` lints it), and whether an earlier run was
    interrupted in it."""
    from dataclasses import replace

    from sqlguard.live.compare import one_history
    from sqlguard.live.connect import connect, environment
    from sqlguard.live.introspect import introspect

    history: History = one_history(settings, paths, "status")
    env = environment(settings, env_name)
    store = HistoryStore(settings.apply.history)
    conn = connect(env, application_name="sqlguard status", read_only=True)
    try:
        rows = store.rows(conn)
        report = classify(env_name, history, rows, store)
        if not report.pending:
            return report
        interrupted = Journal(store).rows(conn)
        schema = introspect(conn)
    finally:
        conn.close()
    pending = [history.migrations[e.position] for e in report.pending if e.position is not None]
    found = lint_pending(settings, catalog, pending, (f"database `{env_name}`", schema))
    by_file: dict[str, list[dict[str, Any]]] = {}
    for f in found:
        by_file.setdefault(f["file"], []).append(f)
    entries = []
    for e, m in zip(report.pending, pending, strict=True):
        files = [m.path] + ([m.rollback] if m.rollback is not None else [])
        mine = tuple(f for path in files for f in by_file.get(_shown(path), []))
        entries.append(replace(e, interrupted=interrupted.get((e.version, e.name)), findings=mine))
    return replace(report, pending=entries)


def lint_pending(settings: Settings, catalog: Any, pending: list[Migration], known: tuple[str, Any] | None = None
                 ) -> list[dict[str, Any]]:
    """Lint pending migrations and their rollbacks against the history, the catalog and `known` (what a
    database holds, and how messages name it): each finding as plain data (code, severity, file, line,
    message). `sqlguard apply` stops on an error-level one; `status` lists them."""
    from sqlguard.lint.engine import lint_paths

    files = [str(m.path) for m in pending] + [str(m.rollback) for m in pending if m.rollback is not None]
    if not files:
        return []
    linted = lint_paths(files, settings, catalog, known=known)
    out: list[dict[str, Any]] = []
    for d in linted.diagnostics:
        source = linted.sources.get(d.path)
        line = source.location(d.span.start)[0] if source is not None else 1
        out.append({"code": d.code, "severity": d.severity, "file": d.path, "line": line, "message": d.message})
    return out


def _shown(path: Path) -> str:
    """A file as the lint names it (`display_path`)."""
    from sqlguard.lint.engine import display_path

    return display_path(path)


def exit_code(report: StatusReport) -> int:
    """1 when anything is pending, modified or missing; 0 when the database has run exactly the files."""
    return 1 if report.pending or report.modified or report.missing else 0


def render_status(report: StatusReport, fmt: str) -> str:
    """`text` (a table and a summary) or `json` (a list of objects, one per entry)."""
    entries = report.entries
    if fmt == "json":
        return json.dumps([_entry_json(e) for e in entries], indent=2, ensure_ascii=False) + "\n"
    if fmt != "text":
        raise SqlguardError(f"unknown status format `{fmt}` (text, json)")
    lines: list[str] = []
    if not report.table_exists:
        lines.append(f"`{report.environment}` has no `{report.table}` table: no migration has been recorded "
                     "there, so every one is pending.")
    if entries:
        table = [("STATE", "VERSION", "NAME", "APPLIED AT")]
        table += [(e.state, e.version or "-", e.name, _when(e.applied_at)) for e in entries]
        widths = [max(len(row[i]) for row in table) for i in range(3)]
        for row in table:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[3])
        lines = [line.rstrip() for line in lines]
    else:
        lines.append(f"{report.folder} holds no migration and `{report.environment}` records none.")
    lines.append(_summary(report))
    for e in report.pending:
        i = e.interrupted
        if i is not None:
            at = f"line {i.line}" if i.line is not None else f"statement {i.statement}"
            lines.append(f"{e.file}: an earlier run was interrupted at {at} (statement {i.statement} of "
                         f"{i.statements}); `sqlguard apply` says what it left and how to go on.")
        for f in e.findings:
            lines.append(f"{f['file']}:{f['line']}: {f['code']} [{f['severity']}] {f['message']}")
    if report.modified:
        lines.append("modified: the file changed after it ran; put the change in a new migration and restore "
                     "the file.")
    if report.missing:
        lines.append("missing: applied migrations that no longer exist as files; restore them (a renamed file "
                     "is recorded under its old version and name).")
    return "\n".join(lines) + "\n"


# --- internals ---------------------------------------------------------------------------------

def classify(env_name: str, history: History, rows: list[Recorded] | None,
             store: HistoryStore | None = None) -> StatusReport:
    """Put every migration of `history` in one state by the recorded `rows` (None: no table)."""
    store = store or HistoryStore()
    recorded: dict[tuple[str, str], Recorded] = {}
    for r in rows or []:
        recorded.setdefault(r.key, r)
    applied: list[StatusEntry] = []
    modified: list[StatusEntry] = []
    pending: list[StatusEntry] = []
    seen: set[tuple[str, str]] = set()
    for position, m in enumerate(history.migrations):
        key = store.key(m)
        version, name = migration_key(m)
        seen.add(key)
        digest = migration_checksum(m, history.convention)
        row = recorded.get(key)
        if row is None:
            pending.append(StatusEntry("pending", version, name, history.relative(m.path), None, digest, None,
                                       position))
            continue
        # without a checksum column, a recorded migration counts as applied
        state = "applied" if row.checksum is None or ran_as(row.checksum, m, digest) else "modified"
        entry = StatusEntry(state, version, name, history.relative(m.path), row.applied_at, digest, row.checksum,
                            position)
        (applied if state == "applied" else modified).append(entry)
    missing = [StatusEntry("missing", row.version or key[0], row.name or row.filename or key[1], row.filename,
                           row.applied_at, None, row.checksum)
               for key, row in recorded.items() if key not in seen]
    return StatusReport(env_name, history.folder, rows is not None, applied, modified, pending, missing,
                        store.label)


def _entry_json(e: StatusEntry) -> dict[str, Any]:
    i = e.interrupted
    return {"state": e.state, "version": e.version, "name": e.name, "file": e.file,
            "applied_at": e.applied_at.isoformat() if e.applied_at else None,
            "checksum": e.checksum, "recorded_checksum": e.recorded_checksum,
            "interrupted": None if i is None else {"statement": i.statement, "statements": i.statements,
                                                   "line": i.line,
                                                   "started_at": i.started_at.isoformat() if i.started_at else None},
            "findings": list(e.findings)}


def _when(at: datetime | None) -> str:
    return at.isoformat(sep=" ", timespec="seconds") if at else "-"


def _summary(report: StatusReport) -> str:
    counts = [(s, len(getattr(report, s))) for s in STATES]
    parts = ", ".join(f"{n} {s}" for s, n in counts if n)
    return f"`{report.environment}`: {parts or 'nothing to report'}."
