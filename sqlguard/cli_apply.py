"""The migration runner's commands: `sqlguard apply` (and the commands that undo it).

Each handler loads the settings, asks `live` to do the database work, and renders the result with
`report.apply`. Changing a database needs a confirmation: an answer on the terminal, or `--yes`; with
no terminal and no `--yes` the command refuses (exit 2) before connecting.
"""

from __future__ import annotations

import argparse
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


def run_apply(args: argparse.Namespace, settings_for: Any, load_catalog: Any) -> int:
    from sqlguard.live import apply as runner
    from sqlguard.live.compare import one_history

    path = Path(args.path) if args.path else None
    settings: Settings = settings_for(args, [path] if path else [])
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
    validation = _validate(settings, load_catalog(settings), list(pending.values()))
    errors = [v for v in validation if v["severity"] == "error"]
    if errors:
        result = runner.ApplyResult("execute" if args.execute else "dry-run", history.folder,
                                    [runner.EnvResult(p.env.name, p.env.stage, p.target, "not run") for p in plans],
                                    validation, args.check_rollback,
                                    f"{len(errors)} error-level finding(s) in the pending migrations")
        return _finish(result, args, settings)
    result = runner.dry_run(settings, history, plans, check_rollback=args.check_rollback, progress=progress)
    result.validation = validation
    if not args.execute or not result.ok or not pending:
        return _finish(result, args, settings)
    if not args.yes and not _confirm(plans, result):
        return _refuse("not confirmed: nothing was changed")
    done = runner.execute(settings, history, plans, check_rollback=args.check_rollback, progress=progress)
    done.validation = validation
    done.dry_run = result
    return _finish(done, args, settings)


def _finish(result: Any, args: argparse.Namespace, settings: Settings) -> int:
    from sqlguard.report.apply import render

    text = render(result, args.format, settings)
    sys.stdout.write(text)
    if args.output is not None:
        fmt = {".md": "markdown", ".json": "json"}.get(args.output.suffix.lower(), args.format)
        try:
            args.output.write_text(render(result, fmt, settings), encoding="utf-8")
        except OSError as err:
            print(f"sqlguard: error: cannot write {args.output}: {err.strerror or err}", file=sys.stderr)
            return EXIT_ERROR
    return EXIT_CLEAN if result.ok else EXIT_FINDINGS


def _validate(settings: Settings, catalog: Any, pending: list[Any]) -> list[dict[str, Any]]:
    """Lint the pending migrations and their rollbacks: each finding as plain data."""
    from sqlguard.engine import lint_paths

    files = [str(m.path) for m in pending] + [str(m.rollback) for m in pending if m.rollback is not None]
    if not files:
        return []
    linted = lint_paths(files, settings, catalog)
    out: list[dict[str, Any]] = []
    for d in linted.diagnostics:
        source = linted.sources.get(d.path)
        line = source.location(d.span.start)[0] if source is not None else 1
        out.append({"code": d.code, "severity": d.severity, "file": d.path, "line": line, "message": d.message})
    return out


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
