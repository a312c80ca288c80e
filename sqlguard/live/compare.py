"""Live schema commands: dump a database's schema, compare two databases, compare a database with
the schema its migration history builds. Every comparison is the one `schema.diff`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlguard.config import Settings
from sqlguard.diagnostic import SqlguardError
from sqlguard.schema.model import Change, Schema, diff


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


def one_history(settings: Settings, paths: list[Path], command: str) -> Any:
    """The one migration history a live command compares a database with (config's, or `paths`)."""
    from sqlguard.lint.engine import find_histories

    targets = paths or [f.path for f in settings.migrations]
    if not targets:
        raise SqlguardError("no migration folder: name one, or configure `migrations`")
    histories = find_histories(settings, targets)
    if len(histories) != 1:
        found = ", ".join(str(h.folder) for h in histories) or "none"
        raise SqlguardError(f"{command} compares one migration history with the database; found {len(histories)} "
                            f"({found}): name one folder")
    return histories[0]


def history_schema(settings: Settings, paths: list[Path]) -> Schema:
    """The schema the configured (or given) migration history builds."""
    from sqlguard.lint.engine import Run

    return Run.create(settings, None).timeline(one_history(settings, paths, "drift")).final


def db_drift(settings: Settings, env_name: str, paths: list[Path]) -> list[Change]:
    """What the database has that the history does not build, and the reverse (empty: no drift)."""
    expected = history_schema(settings, paths)
    return diff(expected, live_schema(settings, env_name))


def changes_json(changes: list[Change]) -> list[dict[str, str]]:
    return [{"kind": c.kind, "object": c.object, "name": c.name, "detail": c.detail} for c in changes]


def db_check(settings: Settings, env_names: list[str], catalog: Any) -> list[dict[str, Any]]:
    """Per environment: connection status, the tables found, and SG13's findings against the catalog."""
    from sqlguard.rules import RULES_BY_CODE

    rule = RULES_BY_CODE["SG13"]
    reports: list[dict[str, Any]] = []
    for name in env_names:
        try:
            live = live_schema(settings, name)
        except SqlguardError as err:
            reports.append({"environment": name, "connection": "error", "error": str(err), "tables": [],
                            "mistakes": [], "recommendations": ["Fix the connection, then run the check again."]})
            continue
        findings = list(rule.check((live, catalog)))
        tables = [{"name": t.name, "columns": len(t.columns), "foreign_keys": len(t.foreign_keys)}
                  for t in sorted(live.tables.values(), key=lambda t: t.name)]
        recommendations = []
        if findings:
            recommendations.append("Fix each mistake with a migration (or correct the catalog), then run "
                                   "`sqlguard db check` again.")
        if not catalog.tables:
            recommendations.append("Bootstrap the catalog's tables from this database: "
                                   f"`sqlguard db schema --env {name} --format yaml`.")
        reports.append({"environment": name, "connection": "ok", "error": None, "tables": tables,
                        "mistakes": [{"code": rule.code, "message": f.message, "correction": f.help} for f in findings],
                        "recommendations": recommendations})
    return reports


def check_markdown(reports: list[dict[str, Any]]) -> str:
    lines = ["# Schema validation", ""]
    for r in reports:
        lines += [f"## `{r['environment']}`", ""]
        if r["connection"] != "ok":
            lines += [f"Connection failed: {r['error']}", ""]
            continue
        lines += [f"{len(r['tables'])} tables.", "", "| table | columns | foreign keys |", "|---|---|---|"]
        lines += [f"| {t['name']} | {t['columns']} | {t['foreign_keys']} |" for t in r["tables"]]
        lines += ["", "### Mistakes", ""]
        lines += [f"- {m['message']} **Fix:** {m['correction']}" for m in r["mistakes"]] or ["None."]
        if r["recommendations"]:
            lines += ["", "### Recommendations", ""] + [f"- {x}" for x in r["recommendations"]]
        lines.append("")
    return "\n".join(lines) + "\n"
