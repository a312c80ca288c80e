"""The migration report of `sqlguard apply`: what ran where, how long it took, what it locked, how to undo it.

`render(result, fmt, settings, *, before=None, cwd=None)` turns an `ApplyResult` into `text` (the
terminal summary), `markdown` (the report people file with a change request) or `json` (the same facts
for machines). Nothing here connects, reads files or prints; `cwd` (default: the current directory)
only decides how paths are shown.

## The commands that undo a run

`commands.rollback` has one command per environment where this run applied (and recorded) at least one
migration, the last environment migrated first: undoing dev before test keeps every other database
behind test, the order `apply` itself keeps.

- `sqlguard rollback --env NAME --to VERSION` when the caller passes `before` (environment name ->
  the version recorded last before the run): it runs the rollbacks of everything recorded after
  VERSION. `--to 0` means "roll back every migration": the run started from an empty history.
- `sqlguard rollback --env NAME --steps N` otherwise (or when the version recorded before the run has
  no version to name): N is the number of migrations the run applied there.
- none when `before` maps the environment to `OUT_OF_ORDER`: the run applied a migration that sorts
  before one recorded earlier, and `rollback` undoes migrations in the history's order, so no rollback
  command undoes exactly this run; its backup does (`commands.restore`).

`commands.restore` has `sqlguard restore --env NAME PATH` for each backup of an environment this run
changed, PATH relative to `cwd` when the backup is under it. That is an environment with an applied
migration, or with a failed migration that ran outside a transaction (its earlier statements committed
and are not recorded, so only the backup undoes them). A backup of an environment the run never
changed (the run stopped before reaching it) gets no command: restoring it would only discard the
writes made since. Every command gets `--config PATH` when the settings came from a config file.
Every argument is quoted with `shlex.quote`.

## JSON

One object; keys are only ever added, never renamed or removed. Times are milliseconds rounded to
0.1 ms (`backup.seconds`: seconds, rounded to 0.0001 s); paths are strings; targets are
`host:port/dbname` (no user, no password).

    {
      "mode": "dry-run" | "execute",
      "ok": bool,                      # no environment failed and the run did not stop early
      "stopped": str | null,           # why the run stopped early
      "folder": str,                   # the migration folder
      "check_rollback": bool,
      "validation": [{"code": str, "severity": "error" | "warning" | "info", "file": str, "line": int,
                      "message": str}],
      "environments": [{
        "name": str, "stage": str | null, "target": str,
        "status": "applied" | "up to date" | "tried" | "failed" | "not run" | "pending",
        "ms": float, "error": str | null, "note": str | null,
        "backup": {"path": str, "size": int, "entries": int, "seconds": float} | null,
        "migrations": [{
          "version": str, "name": str, "file": str, "checksum": str,
          "status": "applied" | "tried" | "failed" | "not run",
          "ms": float, "transactional": bool,
          "locks": [str],              # "AccessExclusiveLock on users", strongest first
          "changes": [{"kind": "added" | "removed" | "changed", "object": str, "name": str, "detail": str}],
          "rollback_check": "identical" | "differs" | "no rollback" | null,
          "rollback_diff": [<change>],
          "invalid_indexes_dropped": [str],
          "error": str | null, "error_line": int | null,
          "statements": [{"line": int, "summary": str, "ms": float, "rows": int | null, "locks": [str],
                          "outside_transaction": bool, "note": str | null}]
        }]
      }],
      "locks": [{"environment": str, "file": str, "line": int | null, "lock": str}],
      "commands": {"rollback": [str], "restore": [str]},
      "dry_run": <this object without "dry_run"> | null    # with --execute: the dry run that came first
    }

`locks` gathers every statement's locks in the order they were taken; `line` is null for a lock
only the migration as a whole reports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlguard.diagnostic import SqlguardError
from sqlguard.report import config_args, restore_command, scrub, shown_path, sqlguard_command

if TYPE_CHECKING:
    from sqlguard.config import Settings
    from sqlguard.live.apply import ApplyResult, EnvResult, MigrationResult, StatementResult
    from sqlguard.schema.model import Change

FORMATS = ("text", "markdown", "json")
_SHOWN_CHANGES = 3  # schema changes per migration in the terminal summary
_SHOWN_LOCKS = 2  # strongest locks per migration in the terminal summary


def render(result: ApplyResult, fmt: str, settings: Settings, *, before: dict[str, str | None] | None = None,
           cwd: Path | None = None) -> str:
    """The report of `result` in `fmt` (text, markdown or json), ending with a newline.

    `before` maps an environment's name to the version recorded last before the run (None: nothing
    was); without it the rollback commands count steps instead (see the module's docs).
    """
    here = cwd if cwd is not None else Path.cwd()
    if fmt == "json":
        # Non-ASCII stays readable; scrub() removes the lone surrogates a UTF-8 writer would refuse.
        return scrub(json.dumps(_json(result, settings, before, here, nested=False), indent=2,
                                ensure_ascii=False)) + "\n"
    if fmt == "markdown":
        return scrub(_markdown(result, settings, before, here))
    if fmt == "text":
        return scrub(_text(result, settings, before, here))
    raise SqlguardError(f"unknown report format `{fmt}`; choose one of: {', '.join(FORMATS)}")


# In `before`: this run applied migrations that sort before one already recorded (no rollback undoes them).
OUT_OF_ORDER = "\0out of order"


def undo_commands(result: ApplyResult, settings: Settings, *, before: dict[str, str | None] | None = None,
                  cwd: Path | None = None) -> dict[str, list[str]]:
    """The commands that undo `result`: {"rollback": [...], "restore": [...]} (see the module's docs)."""
    here = cwd if cwd is not None else Path.cwd()
    config = config_args(settings, here)
    rollback: list[str] = []
    restore: list[str] = []
    # the last environment migrated is undone first, so no database is ever ahead of test
    for env in reversed(result.environments):
        applied = _applied(env)
        if applied:
            recorded: str | None = ""
            if before is not None and env.name in before:
                recorded = before[env.name]
            if recorded == OUT_OF_ORDER:
                target = []
            elif recorded is None:
                target = ["--to", "0"]  # nothing was recorded before the run: roll back everything
            elif recorded:
                target = ["--to", recorded]
            else:  # no `before`, or the migration before the run has no version to name
                target = ["--steps", str(len(applied))]
            if target:
                rollback.append(sqlguard_command("rollback", *config, "--env", env.name, *target))
        if env.backup is not None and _changed(env):
            restore.append(restore_command(settings, env.name, Path(env.backup.path), here))
    return {"rollback": rollback, "restore": restore}


def outcome(result: ApplyResult) -> str:
    """One word for the run: failed, stopped, passed (a dry run), applied, or nothing pending."""
    if any(e.status == "failed" for e in result.environments):
        return "failed"
    if result.stopped is not None:
        return "stopped"
    if result.mode == "dry-run":
        return "passed" if any(e.status == "tried" for e in result.environments) else "nothing pending"
    return "applied" if any(_applied(e) for e in result.environments) else "nothing pending"


# --- json ------------------------------------------------------------------------------------------

def _json(result: ApplyResult, settings: Settings, before: dict[str, str | None] | None, here: Path, *,
          nested: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "mode": result.mode,
        "ok": result.ok,
        "stopped": result.stopped,
        "folder": str(result.folder),
        "check_rollback": result.check_rollback,
        "validation": [_finding(v) for v in result.validation],
        "environments": [_env_json(e) for e in result.environments],
        "locks": _locks(result),
        "commands": undo_commands(result, settings, before=before, cwd=here),
    }
    if not nested:
        data["dry_run"] = (None if result.dry_run is None else
                           _json(result.dry_run, settings, None, here, nested=True))
    return data


def _finding(v: dict[str, Any]) -> dict[str, Any]:
    file = v.get("file")
    return {"code": v.get("code"), "severity": v.get("severity"), "file": None if file is None else str(file),
            "line": v.get("line"), "message": v.get("message")}


def _env_json(e: EnvResult) -> dict[str, Any]:
    backup = None
    if e.backup is not None:
        backup = {"path": str(e.backup.path), "size": e.backup.size, "entries": e.backup.entries,
                  "seconds": round(e.backup.seconds, 4)}
    return {"name": e.name, "stage": e.stage, "target": e.target, "status": e.status, "ms": _ms(e.ms),
            "error": e.error, "note": e.note, "backup": backup,
            "migrations": [_migration_json(m) for m in e.migrations]}


def _migration_json(m: MigrationResult) -> dict[str, Any]:
    return {"version": m.version, "name": m.name, "file": m.file, "checksum": m.checksum, "status": m.status,
            "ms": _ms(m.ms), "transactional": m.transactional, "locks": list(m.locks),
            "changes": [_change_json(c) for c in m.changes], "rollback_check": m.rollback_check,
            "rollback_diff": [_change_json(c) for c in m.rollback_diff],
            "invalid_indexes_dropped": list(m.invalid_indexes_dropped), "error": m.error, "error_line": m.error_line,
            "statements": [_statement_json(s) for s in m.statements]}


def _change_json(c: Change) -> dict[str, Any]:
    return {"kind": c.kind, "object": c.object, "name": c.name, "detail": c.detail}


def _statement_json(s: StatementResult) -> dict[str, Any]:
    return {"line": s.line, "summary": s.summary, "ms": _ms(s.ms), "rows": s.rows, "locks": list(s.locks),
            "outside_transaction": s.outside_transaction, "note": s.note}


def _locks(result: ApplyResult) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in result.environments:
        for m in e.migrations:
            seen: set[str] = set()
            for s in m.statements:
                for lock in s.locks:
                    out.append({"environment": e.name, "file": m.file, "line": s.line, "lock": lock})
                    seen.add(lock)
            out.extend({"environment": e.name, "file": m.file, "line": None, "lock": lock}
                       for lock in m.locks if lock not in seen)
    return out


# --- markdown --------------------------------------------------------------------------------------

def _markdown(result: ApplyResult, settings: Settings, before: dict[str, str | None] | None, here: Path) -> str:
    out: list[str] = [f"# Migration report: {_mode(result)} {outcome(result)}", ""]
    if result.stopped is not None:
        out += [f"> **Stopped:** {_inline(result.stopped)}", ""]
    out += [f"- Migration folder: {_code(shown_path(result.folder, here))}",
            f"- Mode: {_mode_text(result)}",
            f"- Rollback check: {'on (test only)' if result.check_rollback else 'off'}", ""]

    out += ["## Validation", ""]
    if result.validation:
        out += ["| Severity | Code | File | Line | Message |", "|---|---|---|---:|---|"]
        out += [f"| {_cell(str(v.get('severity', '')))} | {_cell(str(v.get('code', '')))} | "
                f"{_code(_shown_file(v.get('file'), here))} | {v.get('line', '')} | "
                f"{_cell(str(v.get('message', '')))} |" for v in result.validation]
    else:
        out.append("No findings.")
    out.append("")

    if result.dry_run is not None:
        out += ["## Dry run", "", f"The dry run that came first {outcome(result.dry_run)}.", "",
                "| Environment | Status | ms | Migrations |", "|---|---|---:|---:|"]
        out += [f"| {_cell(e.name)} | {_cell(e.status)} | {_ms_text(e.ms) if e.ms else ''} | {len(e.migrations)} |"
                for e in result.dry_run.environments]
        out.append("")

    for e in result.environments:
        out += _env_markdown(e, here)

    out += ["## Locks seen", ""]
    locks = _locks(result)
    if locks:
        out += ["| Environment | Migration | Line | Lock |", "|---|---|---:|---|"]
        out += [f"| {_cell(lk['environment'])} | {_code(lk['file'])} | {'' if lk['line'] is None else lk['line']} | "
                f"{_cell(lk['lock'])} |" for lk in locks]
    else:
        out.append("No relation locks were taken.")
    out.append("")

    out += ["## How to undo", ""]
    out += _undo_markdown(result, settings, before, here)
    return "\n".join(out).rstrip("\n") + "\n"


def _env_markdown(e: EnvResult, here: Path) -> list[str]:
    out = [f"## Environment {_code(e.name)}", "",
           f"- Target: {_code(e.target)} (stage: {e.stage or 'none'})",
           f"- Status: **{e.status}**" + (f" in {_ms_text(e.ms)} ms" if e.ms else "")]
    if e.backup is not None:
        b = e.backup
        out.append(f"- Backup: {_code(shown_path(Path(b.path), here))}, {_size(b.size)} ({b.size} bytes), "
                   f"{b.entries} entries verified, taken in {b.seconds:.1f} s"
                   + ("" if _changed(e) else "; this run did not change the database"))
    if e.note:
        out.append(f"- Note: {_inline(e.note)}")
    out.append("")
    if e.error and not any(m.status == "failed" for m in e.migrations):
        out += [f"> **Failed:** {_inline(e.error)}", ""]
    if not e.migrations:
        return [*out, "No pending migrations." if e.status == "up to date" else "No migration ran here.", ""]
    out += ["| Migration | Status | ms | Schema changes | Locks |", "|---|---|---:|---|---|"]
    for m in e.migrations:
        changes = "<br>".join(_cell(c.describe()) for c in m.changes)
        status = f"**{m.status}**" if m.status == "failed" else m.status
        out.append(f"| {_code(m.file)} | {status} | {_ms_text(m.ms) if m.status != 'not run' else ''} | {changes} | "
                   f"{_cell(', '.join(m.locks))} |")
    out.append("")
    for m in e.migrations:
        out += _migration_markdown(m)
    return out


def _migration_markdown(m: MigrationResult) -> list[str]:
    if m.status == "not run" and not m.statements:
        return []
    out = [f"### {_code(m.file)}", ""]
    if m.error is not None:
        line, message = _error(m)
        where = f" at line {line}" if line is not None else ""
        out += [f"> **Failed{where}:** {_inline(message)}", ""]
    facts: list[str] = []
    if not m.transactional:
        facts.append("Runs outside a transaction, statement by statement.")
    if m.rollback_check is not None:
        facts.append(f"Rollback check: {m.rollback_check}.")
        facts += [f"- {_inline(c.describe())}" for c in m.rollback_diff]
    if m.invalid_indexes_dropped:
        facts.append("Invalid indexes left by the failed build, dropped: "
                     + ", ".join(_code(i) for i in m.invalid_indexes_dropped) + ".")
    if facts:
        out += [*facts, ""]
    if m.statements:
        out += ["| Line | Statement | ms | Rows | Locks | Note |", "|---:|---|---:|---:|---|---|"]
        out += [f"| {s.line} | {_code(s.summary)} | {_ms_text(s.ms)} | {'' if s.rows is None else s.rows} | "
                f"{_cell(', '.join(s.locks))} | {_cell(s.note or '')} |" for s in m.statements]
        out.append("")
    return out


def _undo_markdown(result: ApplyResult, settings: Settings, before: dict[str, str | None] | None,
                   here: Path) -> list[str]:
    if result.mode == "dry-run":
        if _ran(result):
            return ["Nothing was changed: the dry run ran in a transaction that was rolled back.", ""]
        return ["Nothing was changed.", ""]
    cmds = undo_commands(result, settings, before=before, cwd=here)
    out: list[str] = []
    if not cmds["rollback"] and not cmds["restore"]:
        return ["Nothing was changed.", ""]
    if cmds["rollback"]:
        how = ["each migration's rollback runs, newest first"]
        if any(c.endswith(" --to 0") for c in cmds["rollback"]):
            how.append("`--to 0` rolls back every migration")
        if any(" --steps " in c for c in cmds["rollback"]):
            how.append("`--steps N` rolls back the N migrations this run applied")
        out += [f"Roll back what this run applied ({'; '.join(how)}):", "", "```sh", *cmds["rollback"], "```", ""]
    if cmds["restore"]:
        out += ["Or restore the backups taken before the run (the objects they hold come back with their rows: "
                "writes made since are lost):", "", "```sh", *cmds["restore"], "```", ""]
    out += [f"> **Note:** {_inline(n)}" for n in _partial_notes(result, settings)]
    return out


# --- text ------------------------------------------------------------------------------------------

def _text(result: ApplyResult, settings: Settings, before: dict[str, str | None] | None, here: Path) -> str:
    out = [f"sqlguard apply: {_mode(result)} {outcome(result)}"]
    if result.validation:
        out.append(f"Findings in the pending migrations ({len(result.validation)}):")
        out += [f"  {_shown_file(v.get('file'), here)}:{v.get('line', 1)}: {v.get('code', '')} "
                f"[{v.get('severity', '')}] {v.get('message', '')}" for v in result.validation]
    if result.dry_run is not None:
        tried = [e for e in result.dry_run.environments if e.status in ("tried", "failed")]
        where = ", ".join(f"{e.name} ({len(e.migrations)} migration(s), {_ms_text(e.ms)} ms)" for e in tried)
        out.append(f"Dry run {outcome(result.dry_run)}" + (f": {where}" if where else ""))
    for e in result.environments:
        line = f"{e.name} [{e.stage or 'no stage'}] {e.target}: {e.status}"
        if e.ms:
            line += f" in {_ms_text(e.ms)} ms"
        if e.backup is not None:
            line += (f"; backup {shown_path(Path(e.backup.path), here)} ({_size(e.backup.size)}, "
                     f"{e.backup.entries} entries verified)")
        if e.note:
            line += f" ({e.note})"
        out.append(line)
        if e.error and not any(m.status == "failed" for m in e.migrations):
            out.append(f"  error: {e.error}")
        out += [_migration_text(m) for m in e.migrations]
    if result.stopped is not None:
        out.append(f"Stopped: {result.stopped}")
    if result.mode == "dry-run":
        out.append("Nothing was changed: the dry run's transaction was rolled back." if _ran(result) else
                   "Nothing was changed.")
    else:
        cmds = undo_commands(result, settings, before=before, cwd=here)
        if cmds["rollback"]:
            out.append("To undo, roll back:")
            out += [f"  {c}" for c in cmds["rollback"]]
        if cmds["restore"]:
            out.append("or restore the backups taken before the run (writes made since are lost):")
            out += [f"  {c}" for c in cmds["restore"]]
        out += [f"Note: {n}" for n in _partial_notes(result, settings)]
        if not cmds["rollback"] and not cmds["restore"]:
            out.append("Nothing was changed.")
    return "\n".join(out) + "\n"


def _migration_text(m: MigrationResult) -> str:
    line = f"  {m.status} {m.file}"
    if m.status == "not run":
        return line
    line += f" {_ms_text(m.ms)} ms"
    if m.error is not None:
        at, message = _error(m)
        line += f": error{f' at line {at}' if at is not None else ''}: {message}"
    elif m.changes:
        shown = "; ".join(c.describe() for c in m.changes[:_SHOWN_CHANGES])
        more = len(m.changes) - _SHOWN_CHANGES
        line += f": {shown}" + (f" (+{more} more)" if more > 0 else "")
    else:
        line += ": no schema change"
    locks = m.locks or [lock for s in m.statements for lock in s.locks]
    if locks:
        more = len(locks) - _SHOWN_LOCKS
        line += f" [{', '.join(locks[:_SHOWN_LOCKS])}" + (f", +{more} more" if more > 0 else "") + "]"
    if m.rollback_check is not None:
        line += f" (rollback check: {m.rollback_check})"
    if m.invalid_indexes_dropped:
        line += f" (dropped invalid indexes: {', '.join(m.invalid_indexes_dropped)})"
    return line


# --- helpers ---------------------------------------------------------------------------------------

def _applied(e: EnvResult) -> list[MigrationResult]:
    return [m for m in e.migrations if m.status == "applied"]


def _ran(result: ApplyResult) -> bool:
    return any(e.status in ("tried", "failed") for e in result.environments)


def _changed(e: EnvResult) -> bool:
    # a failed migration outside a transaction committed the statements before the one that failed
    return any(m.status == "applied" or (m.status == "failed" and not m.transactional) for m in e.migrations)


def _partial_notes(result: ApplyResult, settings: Settings) -> list[str]:
    return [f"`{m.file}` failed on `{e.name}` outside a transaction: the statements before the failure stay "
            f"and are not recorded in `{settings.apply.history.table}`, so rolling back does not undo them; "
            "restoring the backup does."
            for e in result.environments for m in e.migrations if m.status == "failed" and not m.transactional]


def _error(m: MigrationResult) -> tuple[int | None, str]:
    """The failing line and the message without the `line N: ` prefix the runner may have put on it."""
    message = m.error or ""
    prefix = f"line {m.error_line}: "
    if m.error_line is not None and message.startswith(prefix):
        message = message[len(prefix):]
    return m.error_line, message


def _shown_file(file: Any, here: Path) -> str:
    return "" if file is None else shown_path(Path(str(file)), here)


def _mode(result: ApplyResult) -> str:
    return "dry run" if result.mode == "dry-run" else "execute"


def _mode_text(result: ApplyResult) -> str:
    if result.mode == "dry-run":
        return "dry run (the pending migrations ran on test in a transaction that was rolled back)"
    return "execute (verified backups of every target first, then test, then the others in order)"


def _ms(ms: float) -> float:
    return round(ms, 1)


def _ms_text(ms: float) -> str:
    return f"{ms:.1f}"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value, unit = float(n), "B"
    for bigger in ("KiB", "MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


def _inline(text: str) -> str:
    """Text on one markdown line (a list item, a quote)."""
    return " ".join(text.split("\n"))


def _cell(text: str) -> str:
    """Text in a markdown table cell: one line, `|` escaped (GFM reads `\\|` as a pipe, even in code)."""
    return _inline(text).replace("|", "\\|")


def _code(text: str) -> str:
    """An inline code span holding `text` as is (a fence longer than any run of backticks in it)."""
    if not text:
        return ""
    longest, run = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{_cell(text)}{pad}{fence}"
