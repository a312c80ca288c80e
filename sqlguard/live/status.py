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
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlguard.config import Settings
from sqlguard.diagnostic import SqlguardError
from sqlguard.sources.history import History, Migration

HISTORY_TABLE = "sqlguard_migrations"

# What `sqlguard apply` creates and records into. The key is (version, name) rather than the file
# path: moving the folder or checking it out elsewhere must not make every migration look new.
HISTORY_DDL = (
    "CREATE TABLE IF NOT EXISTS sqlguard_migrations (\n"
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
    """SHA-256 (hex) of the file's bytes: what the history table records for a migration."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as err:
        raise SqlguardError(f"cannot read {path}: {err.strerror or err}") from None


def migration_key(migration: Migration) -> tuple[str, str]:
    """(version, name) under which a migration is recorded. A migration without a version (a Flyway
    repeatable, a sqitch change, a misnamed file) has version `""`; without a name, its file name."""
    return migration.version or "", migration.name or migration.path.name


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


@dataclass(frozen=True)
class StatusReport:
    environment: str
    folder: Path  # the history's folder
    table_exists: bool
    applied: list[StatusEntry]
    modified: list[StatusEntry]
    pending: list[StatusEntry]
    missing: list[StatusEntry]

    @property
    def entries(self) -> list[StatusEntry]:
        """Every entry: the history's migrations in apply order, then the missing ones as they were applied."""
        files = sorted([*self.applied, *self.modified, *self.pending], key=lambda e: e.position or 0)
        return files + self.missing


def migration_status(settings: Settings, env_name: str, paths: list[Path]) -> StatusReport:
    """Compare the migration history of `paths` (default: the configured folder) with what the
    environment's history table records."""
    from sqlguard.live.compare import one_history
    from sqlguard.live.connect import connect, environment

    history: History = one_history(settings, paths, "status")
    env = environment(settings, env_name)
    conn = connect(env, application_name="sqlguard status", read_only=True)
    try:
        rows = _recorded(conn)
    finally:
        conn.close()
    return _classify(env_name, history, rows)


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
        lines.append(f"`{report.environment}` has no `{HISTORY_TABLE}` table: no migration has been recorded "
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
    if report.modified:
        lines.append("modified: the file changed after it ran; put the change in a new migration and restore "
                     "the file.")
    if report.missing:
        lines.append("missing: applied migrations that no longer exist as files; restore them (a renamed file "
                     "is recorded under its old version and name).")
    return "\n".join(lines) + "\n"


# --- internals ---------------------------------------------------------------------------------

def _recorded(conn: Any) -> list[tuple[Any, ...]] | None:
    """The history table's rows (version, name, checksum, applied_at) in applied order; None without the table."""
    from psycopg import sql

    from sqlguard.live.connect import run_query

    table = sql.Identifier(HISTORY_TABLE)
    exists = run_query(conn, "SELECT to_regclass(%s) IS NOT NULL", [table.as_string(conn)])
    if not exists or not exists[0][0]:
        return None
    query = sql.SQL("SELECT version, name, checksum, applied_at FROM {} ORDER BY applied_at, version, name"
                    ).format(table)
    return run_query(conn, query)


def _classify(env_name: str, history: History, rows: list[tuple[Any, ...]] | None) -> StatusReport:
    recorded: dict[tuple[str, str], tuple[Any, ...]] = {}
    for r in rows or []:
        recorded.setdefault((str(r[0]), str(r[1])), r)
    applied: list[StatusEntry] = []
    modified: list[StatusEntry] = []
    pending: list[StatusEntry] = []
    seen: set[tuple[str, str]] = set()
    for position, m in enumerate(history.migrations):
        key = migration_key(m)
        seen.add(key)
        digest = checksum(m.path)
        row = recorded.get(key)
        if row is None:
            pending.append(StatusEntry("pending", key[0], key[1], history.relative(m.path), None, digest, None,
                                       position))
            continue
        state = "applied" if row[2] == digest else "modified"
        entry = StatusEntry(state, key[0], key[1], history.relative(m.path), row[3], digest, row[2], position)
        (applied if state == "applied" else modified).append(entry)
    missing = [StatusEntry("missing", key[0], key[1], None, row[3], None, row[2])
               for key, row in recorded.items() if key not in seen]
    return StatusReport(env_name, history.folder, rows is not None, applied, modified, pending, missing)


def _entry_json(e: StatusEntry) -> dict[str, Any]:
    return {"state": e.state, "version": e.version, "name": e.name, "file": e.file,
            "applied_at": e.applied_at.isoformat() if e.applied_at else None,
            "checksum": e.checksum, "recorded_checksum": e.recorded_checksum}


def _when(at: datetime | None) -> str:
    return at.isoformat(sep=" ", timespec="seconds") if at else "-"


def _summary(report: StatusReport) -> str:
    counts = [(s, len(getattr(report, s))) for s in STATES]
    parts = ", ".join(f"{n} {s}" for s, n in counts if n)
    return f"`{report.environment}`: {parts or 'nothing to report'}."
