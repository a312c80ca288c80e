"""What `sqlguard rollback`, `restore` and `baseline` print: text for the terminal, json for tools.

The results are plain data from `live.rollback`; nothing here touches a database.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from sqlguard.live.rollback import BaselineResult, RestoreResult, RollbackResult
from sqlguard.report import restore_command

if TYPE_CHECKING:
    from sqlguard.config import Settings


def render_rollback(result: RollbackResult, fmt: str, settings: Settings) -> str:
    """`text` (one line per migration) or `json`."""
    if fmt == "json":
        return json.dumps(_rollback_json(result, settings), indent=2, ensure_ascii=False) + "\n"
    where = f"`{result.environment}` ({result.target})"
    if not result.steps:
        return f"Nothing to roll back on {where}: {result.nothing}.\n"
    done = [s for s in result.steps if s.status in ("rolled back", "tried")]
    if result.mode == "dry-run":
        head = (f"Dry run on {where}: the rollback of {len(done)} of {len(result.steps)} migration(s) ran in a "
                "transaction that was rolled back; nothing changed.")
    elif result.ok:
        head = f"Rolled back {len(done)} migration(s) on {where}:"
    else:
        head = f"Rolled back {len(done)} of {len(result.steps)} migration(s) on {where}, then a rollback failed:"
    width = max(len(s.file) for s in result.steps)
    lines = [head]
    for s in result.steps:
        ms = f"{s.ms:.0f} ms" if s.status != "not run" else ""
        lines.append(f"  {s.file.ljust(width)}  {s.status:<11}  {ms:>8}".rstrip())
        if s.error is not None:
            at = f":{s.error_line}" if s.error_line is not None else ""
            lines.append(f"    {s.rollback_file}{at}: {_without_line_prefix(s.error)}")
        if s.note:
            lines.append(f"    note: {s.note}")
    if result.stopped:
        lines.append(f"Stopped: {result.stopped}.")
    if result.backup is not None:
        b = result.backup
        lines.append(f"Backup taken before the rollback: {b.path} ({b.size} bytes, verified).")
        lines.append(f"To undo the rollback: {restore_command(settings, result.environment, b.path)}")
    return "\n".join(lines) + "\n"


def _without_line_prefix(error: str) -> str:
    return re.sub(r"^line \d+: ", "", error)


def _rollback_json(result: RollbackResult, settings: Settings) -> dict[str, Any]:
    b = result.backup
    return {
        "command": "rollback", "mode": result.mode, "ok": result.ok, "environment": result.environment,
        "target": result.target, "folder": str(result.folder), "selection": result.selection,
        "stopped": result.stopped,
        "migrations": [{
            "version": s.version, "name": s.name, "file": s.file, "rollback_file": s.rollback_file,
            "status": s.status, "ms": round(s.ms, 3), "transactional": s.transactional,
            "statements": [{"line": st.line, "summary": st.summary, "ms": round(st.ms, 3), "rows": st.rows,
                            "locks": st.locks, "outside_transaction": st.outside_transaction, "note": st.note}
                           for st in s.statements],
            "error": s.error, "error_line": s.error_line, "note": s.note,
        } for s in result.steps],
        "backup": _backup_json(b),
        "restore_command": restore_command(settings, result.environment, b.path) if b is not None else None,
    }


def _backup_json(b: Any) -> dict[str, Any] | None:
    if b is None:
        return None
    return {"path": str(b.path), "database": b.database, "size": b.size, "entries": b.entries,
            "seconds": round(b.seconds, 3)}




def render_restore(result: RestoreResult, fmt: str, settings: Settings) -> str:
    a, b = result.archive, result.safety
    if fmt == "json":
        return json.dumps({"command": "restore", "ok": True, "environment": result.environment,
                           "target": result.target,
                           "restored": {"path": str(a.path), "database": a.database, "created": a.created,
                                        "entries": a.entries},
                           "backup_before": _backup_json(b), "seconds": round(result.seconds, 3),
                           "undo_command": restore_command(settings, result.environment, b.path)},
                          indent=2, ensure_ascii=False) + "\n"
    source = ", ".join(x for x in (f"database {a.database}" if a.database else "",
                                   f"taken {a.created}" if a.created else "") if x)
    return (f"Backed up `{result.environment}` ({result.target}) as it was to {b.path} ({b.size} bytes, verified).\n"
            f"Restored {a.path}{f' ({source})' if source else ''} into `{result.environment}` ({result.target}) "
            f"in {result.seconds:.1f} s: it now holds exactly what the backup holds.\n"
            f"To go back to the state before the restore: {restore_command(settings, result.environment, b.path)}\n")




def render_baseline(result: BaselineResult, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"command": "baseline", "ok": True, "environment": result.environment,
                           "target": result.target, "folder": str(result.folder), "to": result.version,
                           "table": result.table, "created_table": result.created_table,
                           "migrations": [{"version": e.version, "name": e.name, "file": e.file,
                                           "checksum": e.checksum, "state": e.state} for e in result.entries]},
                          indent=2, ensure_ascii=False) + "\n"
    where = f"`{result.environment}` ({result.target})"
    marked = len(result.marked)
    lines = [f"Recorded {marked} migration(s) up to {result.version} as applied on {where} without running them"
             f"{f' (created `{result.table}`)' if result.created_table else ''}:"]
    width = max((len(e.file) for e in result.entries), default=0)
    for e in result.entries:
        state = "modified: recorded with another checksum" if e.state == "modified" else e.state
        lines.append(f"  {e.file.ljust(width)}  {state}")
    lines.append("`sqlguard apply` now runs only the migrations after these.")
    return "\n".join(lines) + "\n"
