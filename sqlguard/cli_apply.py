"""The migration runner's commands: `sqlguard apply`, and `rollback`, `restore` and `baseline`.

Each handler loads the settings, asks `live` to do the database work, and renders the result with
`report.apply`. Changing a database needs a confirmation: an answer on the terminal, or `--yes`; with
no terminal and no `--yes` the command refuses (exit 2) before connecting.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from sqlguard.config import Settings

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def add_parsers(sub: Any, common: Any) -> None:
    apply = sub.add_parser(
        "apply", help="run pending migrations: a dry run on test by default; --execute backs up, then "
                      "migrates test, then dev",
        description="Run the pending migrations of the configured history. Without --execute: lint them and "
                    "try them on the test environment in a transaction that is rolled back. With --execute "
                    "(confirmed on the terminal, or --yes): back up every target with pg_dump, then migrate "
                    "test, then dev. Exit 0: done (or nothing pending); 1: a finding or a failed migration "
                    "stopped the run; 2: a usage, configuration or connection error.")
    apply.add_argument("path", nargs="?", help="the migration folder (default: the configured one)")
    apply.add_argument("--env", action="append", metavar="NAME",
                       help="migrate only this environment (repeatable; default: apply.environments, test first)")
    apply.add_argument("--execute", action="store_true", help="change the databases (default: a dry run)")
    apply.add_argument("--yes", "-y", action="store_true", help="confirm --execute without asking (for CI)")
    apply.add_argument("--check-rollback", action="store_true",
                       help="on test, run each migration's rollback, compare the schema, and run it again")
    apply.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                       help="the migration report's format (default: text)")
    apply.add_argument("-o", "--output", type=Path, help="also write the report to this file")
    apply.add_argument("--catalog", help="rule catalog (YAML) for the lint step; replaces `catalog` from config")
    apply.add_argument("--no-progress", action="store_true", help="print no progress on standard error")
    common(apply)

    rollback = sub.add_parser(
        "rollback", help="undo applied migrations with their rollback files (backup first)",
        description="Run the rollback of the last applied migration (--steps N: the last N; --to VERSION: every "
                    "one applied after VERSION; --to 0: all), newest first, each in its own transaction that also "
                    "deletes its history row. Backs the database up first and prints the command that restores "
                    "that backup. Needs a confirmation on the terminal, or --yes; --dry-run runs the rollbacks in "
                    "a transaction that is rolled back. Exit 0: done (or nothing to roll back); 1: a rollback "
                    "failed; 2: a usage, configuration or connection error, or a refusal.")
    rollback.add_argument("path", nargs="?", help="the migration folder (default: the configured one)")
    rollback.add_argument("--env", required=True, metavar="NAME", help="the environment to roll back")
    how_far = rollback.add_mutually_exclusive_group()
    how_far.add_argument("--to", metavar="VERSION",
                         help="roll back every migration after VERSION (VERSION stays applied; 0: all)")
    how_far.add_argument("--steps", type=int, metavar="N", help="roll back the last N applied migrations")
    rollback.add_argument("--dry-run", action="store_true",
                          help="run the rollbacks in a transaction that is rolled back; change nothing")
    _changes_a_database(rollback, common)

    restore = sub.add_parser(
        "restore", help="put a backup back: the database becomes exactly what the backup holds",
        description="Back up the database as it is, then restore BACKUP (a `sqlguard apply`/`rollback` backup, "
                    "or any pg_dump --format=custom file) in one transaction: objects created after the backup "
                    "are dropped too. Needs a confirmation on the terminal, or --yes. Exit 0: restored; 1: the "
                    "restore failed (nothing changed); 2: a usage, configuration or connection error, or a refusal.")
    restore.add_argument("backup", metavar="BACKUP", type=Path, help="the .dump file to restore")
    restore.add_argument("--env", required=True, metavar="NAME", help="the environment to restore into")
    restore.add_argument("--other-database", action="store_true",
                         help="restore a backup taken of another database (by default that is refused)")
    _changes_a_database(restore, common)

    baseline = sub.add_parser(
        "baseline", help="record migrations up to a version as applied without running them",
        description="Record every migration up to and including VERSION as applied in the history table "
                    "(created when missing), without running them: for a database another tool migrated. "
                    "Migrations already recorded are left alone. Needs a confirmation on the terminal, or --yes. "
                    "Exit 0: done; 2: a usage, configuration or connection error, or a refusal.")
    baseline.add_argument("path", nargs="?", help="the migration folder (default: the configured one)")
    baseline.add_argument("--env", required=True, metavar="NAME", help="the environment to record into")
    baseline.add_argument("--to", required=True, metavar="VERSION", help="the last migration to record")
    _changes_a_database(baseline, common, progress=False)


def _changes_a_database(p: argparse.ArgumentParser, common: Any, progress: bool = True) -> None:
    """The options every command that changes a database shares."""
    p.add_argument("--yes", "-y", action="store_true", help="confirm without asking (for CI)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    if progress:
        p.add_argument("--no-progress", action="store_true", help="print no progress on standard error")
    common(p)


def run_apply(args: argparse.Namespace, settings_for: Any, load_catalog: Any) -> int:
    from sqlguard.live import apply as runner
    from sqlguard.live.compare import one_history
    from sqlguard.live.status import checksum, lint_pending

    path = Path(args.path) if args.path else None
    settings: Settings = settings_for(args, [path] if path else [])
    if args.output is not None and (problem := _unwritable(args.output)):
        return _refuse(f"cannot write the report to {args.output}: {problem}")  # before any database changes
    if args.catalog:
        from dataclasses import replace

        settings = replace(settings, catalog=(Path.cwd() / args.catalog).resolve())
    if args.execute and not args.yes and not _interactive():
        return _refuse("--execute changes databases and needs a confirmation: no terminal to ask on, so pass "
                       "--yes (e.g. in CI)")
    history = one_history(settings, [path] if path else [], "apply")
    envs = runner.targets(settings, args.env)
    progress = None if args.no_progress else Progress(sys.stderr)
    plans = runner.plan(settings, history, envs)
    pending = {m.path: m for p in plans for m in p.pending}
    # what runs is what was checked: each file's bytes as the lint and the dry run read them
    checked = {path: checksum(path) for m in pending.values() for path in (m.path, m.rollback) if path is not None}
    validation = lint_pending(settings, load_catalog(settings), list(pending.values()), _live_schemas(settings, plans))
    errors = [v for v in validation if v["severity"] == "error"]
    if errors:
        result = runner.ApplyResult("execute" if args.execute else "dry-run", history.folder,
                                    [runner.EnvResult(p.env.name, p.env.stage, p.target, "not run") for p in plans],
                                    validation, args.check_rollback,
                                    f"{len(errors)} error-level finding(s) in the pending migrations")
        return _finish(result, args, settings)
    result = runner.dry_run(settings, history, plans, check_rollback=args.check_rollback, progress=progress,
                            checked=checked)
    result.validation = validation
    if not args.execute or not result.ok or not pending:
        return _finish(result, args, settings)
    if not args.yes and not _confirm(plans, result):
        return _refuse("not confirmed: nothing was changed")
    # read again: another run may have applied some while the dry run waited for its lock (no backup of
    # a database that has nothing left to apply)
    plans = runner.plan(settings, history, envs)
    before = {p.env.name: _last_applied(p) for p in plans}
    done = runner.execute(settings, history, plans, check_rollback=args.check_rollback, progress=progress,
                          checked=checked)
    done.validation = validation
    done.dry_run = result
    return _finish(done, args, settings, before)


def _last_applied(plan: Any) -> str | None:
    """The version of the last migration `plan`'s environment had applied before this run (None: none), or
    OUT_OF_ORDER when a pending one sorts before it (no `rollback --to` undoes exactly this run then)."""
    from sqlguard.report.apply import OUT_OF_ORDER

    applied = sorted(plan.status.applied, key=lambda e: e.position or 0)
    if not applied:
        return None
    last = applied[-1].position or 0
    if any(e.position is not None and e.position < last for e in plan.status.pending):
        return OUT_OF_ORDER
    return str(applied[-1].version) if applied[-1].version is not None else ""


def run_rollback(args: argparse.Namespace, settings_for: Any) -> int:
    from sqlguard.live import rollback as undo
    from sqlguard.live.compare import one_history
    from sqlguard.live.connect import environment
    from sqlguard.report.undo import render_rollback

    path = Path(args.path) if args.path else None
    settings: Settings = settings_for(args, [path] if path else [])
    if not args.dry_run and not args.yes and not _interactive():
        return _refuse("rollback changes the database and needs a confirmation: no terminal to ask on, so pass "
                       "--yes (or --dry-run to try it)")
    history = one_history(settings, [path] if path else [], "rollback")
    env = environment(settings, args.env)
    plan = undo.plan_rollback(settings, history, env, to=args.to, steps=args.steps)
    progress = None if args.no_progress else Progress(sys.stderr)
    if args.dry_run:
        result = undo.dry_run_rollback(settings, history, plan, to=args.to, steps=args.steps, progress=progress)
    elif not plan.migrations:
        result = undo.execute_rollback(settings, history, plan)  # nothing to do: it returns at once
    else:
        lines = [f"rollback will back up `{env.name}` ({plan.target}), then run the rollback of "
                 f"{len(plan.migrations)} migration(s), newest first:"]
        lines += [f"  {history.relative(m.path)}" for m in plan.migrations]
        if not args.yes and not _ask(lines):
            return _refuse("not confirmed: nothing was changed")
        try:
            result = undo.execute_rollback(settings, history, plan, to=args.to, steps=args.steps, progress=progress)
        except undo.BackupFailed as err:
            print(f"sqlguard: error: {err}", file=sys.stderr)
            return EXIT_FINDINGS
    sys.stdout.write(render_rollback(result, args.format, settings))
    return EXIT_CLEAN if result.ok else EXIT_FINDINGS


def run_restore(args: argparse.Namespace, settings_for: Any) -> int:
    from sqlguard.live import rollback as undo
    from sqlguard.live.backup import read_archive
    from sqlguard.live.connect import environment, target_of
    from sqlguard.report.undo import render_restore

    settings: Settings = settings_for(args, [])
    env = environment(settings, args.env)
    archive = read_archive(args.backup)  # a missing or unreadable file is refused before anything else
    database = target_of(env).rsplit("/", 1)[-1]
    if archive.database is not None and archive.database != database and not args.other_database:
        return _refuse(f"{archive.path} is a backup of database `{archive.database}`, and `{env.name}` is database "
                       f"`{database}`: pass --other-database to restore it there anyway")
    if not args.yes and not _interactive():
        return _refuse("restore replaces the database's contents and needs a confirmation: no terminal to ask on, "
                       "so pass --yes")
    if not args.yes:
        source = f" (database {archive.database}, taken {archive.created})" if archive.database else ""
        lines = [f"restore will back up `{env.name}` ({target_of(env)}), then replace everything in it with "
                 f"{archive.path}{source}."]
        if not _ask(lines):
            return _refuse("not confirmed: nothing was changed")
    progress = None if args.no_progress else Progress(sys.stderr)
    try:
        result = undo.restore(settings, env, archive.path, progress)
    except (undo.RestoreFailed, undo.BackupFailed) as err:
        print(f"sqlguard: error: {err}", file=sys.stderr)
        return EXIT_FINDINGS
    sys.stdout.write(render_restore(result, args.format, settings))
    return EXIT_CLEAN


def run_baseline(args: argparse.Namespace, settings_for: Any) -> int:
    from sqlguard.live import rollback as undo
    from sqlguard.live.compare import one_history
    from sqlguard.live.connect import environment
    from sqlguard.report.undo import render_baseline

    path = Path(args.path) if args.path else None
    settings: Settings = settings_for(args, [path] if path else [])
    if not args.yes and not _interactive():
        return _refuse("baseline writes to the history table and needs a confirmation: no terminal to ask on, so "
                       "pass --yes")
    history = one_history(settings, [path] if path else [], "baseline")
    env = environment(settings, args.env)
    plan = undo.plan_baseline(settings, history, env, args.to)
    if not args.yes:
        lines = [f"baseline will record {len(plan.unrecorded)} migration(s) up to {args.to} as applied on "
                 f"`{env.name}` ({plan.target}) without running them"
                 f" ({len(plan.migrations) - len(plan.unrecorded)} already recorded)."]
        if not _ask(lines):
            return _refuse("not confirmed: nothing was changed")
    result = undo.execute_baseline(settings, history, plan)
    sys.stdout.write(render_baseline(result, args.format))
    return EXIT_CLEAN


def _finish(result: Any, args: argparse.Namespace, settings: Settings,
            before: dict[str, str | None] | None = None) -> int:
    from sqlguard.report.apply import render

    text = render(result, args.format, settings, before=before)
    sys.stdout.write(text)
    if args.output is not None:
        fmt = {".md": "markdown", ".json": "json"}.get(args.output.suffix.lower(), args.format)
        try:
            args.output.write_text(render(result, fmt, settings, before=before), encoding="utf-8")
        except OSError as err:
            print(f"sqlguard: error: cannot write {args.output}: {err.strerror or err}", file=sys.stderr)
            return EXIT_ERROR
    return EXIT_CLEAN if result.ok else EXIT_FINDINGS


def _unwritable(path: Path) -> str | None:
    """Why the report could not be written to `path` (None: it can be), found without writing to it."""
    if path.is_dir():
        return "it is a folder"
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        return f"no folder {folder}"
    if path.exists() and not os.access(path, os.W_OK):
        return "permission denied"
    if not path.exists() and not os.access(folder, os.W_OK | os.X_OK):
        return f"permission denied in {folder}"
    return None


def _live_schemas(settings: Settings, plans: list[Any]) -> tuple[str, Any] | None:
    """What the target databases really hold, joined (a table one of them has is known to the lint of the
    pending migrations: a database may predate its history), and how messages name it."""
    from sqlguard.live.compare import live_schema
    from sqlguard.schema.model import joined

    targets = [p for p in plans if p.pending]
    if not targets:
        return None
    schema = None
    for p in targets:
        schema = joined(schema, live_schema(settings, p.env.name))
    names = " or ".join(f"`{p.env.name}`" for p in targets)
    return f"database{'s' if len(targets) > 1 else ''} {names}", schema


def _interactive() -> bool:
    try:
        return sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _confirm(plans: list[Any], dry: Any) -> bool:
    lines = ["", "The dry run passed. --execute will:"]
    for p in plans:
        if p.pending:
            lines.append(f"  back up `{p.env.name}` ({p.target}), then apply {len(p.pending)} migration(s)")
    return _ask(lines)


def _ask(lines: list[str]) -> bool:
    """Show `lines` on the terminal and read the answer: only `yes` goes on."""
    sys.stderr.write("\n".join(lines) + "\nType `yes` to go on: ")
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except (OSError, ValueError):
        return False
    return answer.strip().lower() == "yes"


def _refuse(reason: str) -> int:
    print(f"sqlguard: error: {reason}", file=sys.stderr)
    return EXIT_ERROR


class Progress:
    """Progress of long steps on standard error: a bar on a terminal, one plain line per step otherwise."""

    WIDTH = 24

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        try:
            self.tty = stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.open_line = False

    def __call__(self, what: str, done: int, total: int) -> None:
        if not self.tty:
            self.stream.write(f"sqlguard: {what}\n")
            self.stream.flush()
            return
        filled = self.WIDTH * done // total if total else self.WIDTH
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\r\x1b[2K[{bar}] {done}/{total} {what[:100]}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
