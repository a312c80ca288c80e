"""Live schema commands: dump a database's schema, compare two databases, compare a database with
the schema its migration history builds. Every comparison is the one `schema.diff`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlguard.config import Settings
from sqlguard.diagnostic import SqlguardError
from sqlguard.schema import Change, Schema, diff


def live_schema(settings: Settings, env_name: str) -> Schema:
    from sqlguard.live.connect import connect, environment
    from sqlguard.live.introspect import introspect

    env = environment(settings, env_name)
    conn = connect(env)
    try:
        return introspect(conn)
    finally:
        conn.close()


def db_diff(settings: Settings, left: str, right: str) -> list[Change]:
    """What would turn `left`'s schema into `right`'s (empty: in sync)."""
    return diff(live_schema(settings, left), live_schema(settings, right))


def history_schema(settings: Settings, paths: list[Path]) -> Schema:
    """The schema the configured (or given) migration history builds."""
    from sqlguard.engine import Run

    run = Run.create(settings, None)
    targets = paths or [f.path for f in settings.migrations]
    if not targets:
        raise SqlguardError("no migration folder: name one, or configure `migrations`")
    histories: list[Any] = []
    for target in targets:
        if not target.exists():
            raise SqlguardError(f"no such file or directory: {target}")
        histories.extend(run.history_index().histories(target.resolve()))
    if len(histories) != 1:
        found = ", ".join(str(h.folder) for h in histories) or "none"
        raise SqlguardError(f"drift compares one migration history with the database; found {len(histories)} "
                            f"({found}): name one folder")
    return run.timeline(histories[0]).final


def db_drift(settings: Settings, env_name: str, paths: list[Path]) -> list[Change]:
    """What the database has that the history does not build, and the reverse (empty: no drift)."""
    expected = history_schema(settings, paths)
    return diff(expected, live_schema(settings, env_name))


def changes_json(changes: list[Change]) -> list[dict[str, str]]:
    return [{"kind": c.kind, "object": c.object, "name": c.name, "detail": c.detail} for c in changes]
