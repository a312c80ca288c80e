"""The command line: parse arguments, call the engine, render, return the exit code.

Exit codes: 0 nothing at or above --fail-on, 1 findings, 2 usage, configuration or input error.
Imports are lazy so that `sqlguard --version` does not load sqlglot.
"""

from __future__ import annotations

import argparse
import errno
import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlguard import __version__
from sqlguard.sql.reading import FULL, KNOWN

if TYPE_CHECKING:
    from sqlguard.catalog import Catalog
    from sqlguard.config import Settings

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def _codes(value: str) -> list[str]:
    return [c for c in value.replace(" ", ",").split(",") if c]


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sqlguard", description="Guards databases against the mistakes that migrations and "
                                             "hand-written SQL make.")
    p.add_argument("--version", action="version", version=f"sqlguard {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    lint = sub.add_parser("lint", help="lint SQL files and folders", description="Lint SQL migration files and "
                          "folders. Exit 0: clean; 1: findings at or above --fail-on; 2: usage or config error.")
    lint.add_argument("paths", nargs="*", metavar="PATH", help="files or folders ('-' reads standard input)")
    lint.add_argument("--format", choices=("text", "json", "sarif", "github", "gitlab"), default="text")
    lint.add_argument("--config", type=Path, help="config file (pyproject.toml or sqlguard.yaml)")
    lint.add_argument("--catalog", help="rule catalog (YAML); replaces `catalog` from config")
    lint.add_argument("--dialect", choices=KNOWN)
    lint.add_argument("--select", type=_codes, help="comma-separated codes or prefixes to run (e.g. SG1,SG20)")
    lint.add_argument("--ignore", type=_codes, help="comma-separated codes or prefixes to skip")
    lint.add_argument("--exclude", action="append", metavar="GLOB", help="skip paths matching GLOB (repeatable)")
    lint.add_argument("--migrations", action="append", metavar="DIR", help="migration folder (repeatable)")
    lint.add_argument("--convention", choices=("auto", "sqlguard", "golang-migrate", "diesel", "prisma",
                                               "flyway", "sqitch", "dbmate", "goose", "numbered"))
    lint.add_argument("--fail-on", choices=("error", "warning", "info", "never"))
    lint.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings (still 2 on "
                      "errors)")
    lint.add_argument("--no-cache", action="store_true", help="lint every file again; do not read or write "
                      ".sqlguard_cache/")
    lint.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                      help="worker processes (default: the cores this process may use)")
    lint.add_argument("--fix", action="store_true", help="apply autofixes in place (stdin: print fixed SQL); "
                      "migrations already committed (before --diff-base) or in sqlguard.sum are left alone")
    lint.add_argument("--fix-applied", action="store_true", help="let --fix and --diff edit migrations that "
                      "databases may already have run (their runners' checksums then change)")
    lint.add_argument("--diff", action="store_true", help="print the autofixes as a unified diff, write nothing "
                      "(exit 1 when there is something to fix)")
    lint.add_argument("--stdin-filename", help="the path to report for '-' (and to find config from)")
    color = lint.add_mutually_exclusive_group()
    color.add_argument("--color", dest="color", action="store_const", const=True, default=None)
    color.add_argument("--no-color", dest="color", action="store_const", const=False)
    lint.add_argument("-o", "--output", type=Path, help="write the report to a file instead of stdout")
    lint.add_argument("--diff-base", metavar="REF", help="git ref: report only on files added or changed since REF "
                      "(the histories still replay whole); migrations added since REF are checked for out-of-order "
                      "versions (SG34)")
    lint.add_argument("--baseline", metavar="FILE", help="leave out the findings FILE records (replaces `baseline` "
                      "from config)")
    lint.add_argument("--write-baseline", type=Path, metavar="FILE", help="record every finding of this run in FILE "
                      "and exit 0")
    lint.add_argument("--statistics", action="store_true", help="print how many findings each rule has, instead of "
                      "the findings")

    inspect = sub.add_parser("inspect", help="show the migration histories sqlguard finds, and how it reads them",
                             description="Each migration history under PATH: its folder, runner convention, "
                             "dialect (and what decided it), transaction mode, migrations, first and last version, "
                             "and the config line that pins what sqlguard guessed.")
    inspect.add_argument("paths", nargs="*", metavar="PATH", help="folders or files (default: the current folder)")
    inspect.add_argument("--format", choices=("text", "json"), default="text")
    _common(inspect)

    schema = sub.add_parser("schema", help="print the schema that a migration history produces")
    schema.add_argument("path", nargs="?", help="a migration folder or a file in it (default: the configured "
                        "migrations, else the current folder)")
    schema.add_argument("--format", choices=("yaml", "json", "markdown", "mermaid"), default="yaml")
    _common(schema)

    rollback = sub.add_parser("rollback-gen", help="write the rollback that undoes a migration")
    rollback.add_argument("migration", help="the migration file")
    rollback.add_argument("--stdout", action="store_true", help="print the rollback instead of writing it")
    rollback.add_argument("--force", action="store_true", help="replace a rollback that already has statements")
    _common(rollback)

    hash_ = sub.add_parser("hash", help="write sqlguard.sum, the integrity file of each migration history")
    hash_.add_argument("paths", nargs="*", metavar="PATH", help="migration folders (default: the configured ones)")
    _common(hash_)

    db = sub.add_parser("db", help="live checks against a PostgreSQL database (needs the `live` extra)")
    dbsub = db.add_subparsers(dest="db_command", metavar="DB_COMMAND", parser_class=_Parser)
    db_schema = dbsub.add_parser("schema", help="dump a database's schema (yaml is a valid catalog)")
    db_schema.add_argument("--env", required=True, help="environment name from the config")
    db_schema.add_argument("--format", choices=("yaml", "json", "markdown", "mermaid"), default="yaml")
    _common(db_schema)
    db_check = dbsub.add_parser("check", help="compare databases with the rule catalog (SG13)")
    db_check.add_argument("--env", action="append", required=True, help="environment name (repeatable)")
    db_check.add_argument("--catalog", help="rule catalog (YAML); replaces `catalog` from config")
    db_check.add_argument("--format", choices=("text", "json", "markdown", "sarif", "github"), default="text")
    _common(db_check)
    db_diff = dbsub.add_parser("diff", help="compare two databases' schemas (exit 1 when they differ)")
    db_diff.add_argument("left", help="environment name")
    db_diff.add_argument("right", help="environment name")
    db_diff.add_argument("--format", choices=("text", "json"), default="text")
    _common(db_diff)
    db_drift = dbsub.add_parser("drift", help="compare a database with the schema its migration history builds")
    db_drift.add_argument("--env", required=True, help="environment name from the config")
    db_drift.add_argument("path", nargs="?", help="the migration folder (default: the configured one)")
    db_drift.add_argument("--format", choices=("text", "json"), default="text")
    _common(db_drift)

    status = sub.add_parser("status", help="which migrations a database has applied, which are pending or modified")
    status.add_argument("--env", required=True, help="environment name from the config")
    status.add_argument("path", nargs="?", help="the migration folder (default: the configured one)")
    status.add_argument("--format", choices=("text", "json"), default="text")
    _common(status)

    from sqlguard.cli_apply import add_parsers

    add_parsers(sub, _common)

    new = sub.add_parser("new", help="create the next migration (and its empty rollback) in a folder")
    new.add_argument("name", help="what the migration does, e.g. add_likes_table")
    new.add_argument("--dir", type=Path, help="the migration folder (default: the configured one)")
    new.add_argument("--convention", choices=("auto", "sqlguard", "golang-migrate", "diesel", "prisma",
                                              "flyway", "sqitch", "dbmate", "goose", "numbered"), default="auto")
    _common(new)

    rules = sub.add_parser("rules", help="list every rule")
    rules.add_argument("--format", choices=("text", "json", "markdown"), default="text")

    explain = sub.add_parser("explain", help="print a rule's documentation")
    explain.add_argument("code", help="rule code (SG20) or name (unconditional-drop)")
    return p


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="config file (pyproject.toml or sqlguard.yaml)")
    p.add_argument("--dialect", choices=KNOWN)


def main(argv: list[str] | None = None) -> int:
    from sqlguard.diagnostic import SqlguardError

    if sys.stderr is None:  # started with standard error closed (`2>&-`): its messages go nowhere
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (for the whole run)
    if sys.stdout is None:  # (`>&-`)
        print("sqlguard: error: standard output is closed", file=sys.stderr)
        return EXIT_ERROR
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as err:
        print(str(err), file=sys.stderr)
        return EXIT_ERROR
    except SystemExit as exit_:  # --help / --version
        return int(exit_.code or 0)
    # sqlguard allocates many small objects that live for the whole run (a history's schema, each
    # statement's description): the collector's default thresholds would traverse them again and again
    # (a third of a 5 MB dump's time). What is imported by now is never garbage.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    try:
        code = _dispatch(args, parser)
        sys.stdout.flush()  # (a full disk or a closed pipe is reported here, not by the interpreter's exit)
        return code
    except SqlguardError as err:
        print(f"sqlguard: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("sqlguard: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_ERROR
    except OSError as err:  # the output cannot be written (a full disk), or a file in the way no step expected
        if err.errno is None:
            raise
        where = f": {err.filename}" if err.filename else (
            " (writing the output)" if err.errno in (errno.ENOSPC, errno.EIO, errno.EBADF, errno.EPIPE) else "")
        print(f"sqlguard: error: {err.strerror or err}{where}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as err:
        if not type(err).__module__.startswith("psycopg"):
            raise
        from sqlguard.live.connect import database_error  # a driver error no live step turned into one line

        print(f"sqlguard: error: {database_error(err)}", file=sys.stderr)
        return EXIT_ERROR


def _dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    local: dict[str, Callable[[], int]] = {
        "lint": lambda: _lint(args), "rules": lambda: _rules(args.format), "explain": lambda: _explain(args.code),
        "schema": lambda: _schema(args), "rollback-gen": lambda: _rollback_gen(args), "hash": lambda: _hash(args),
        "new": lambda: _new(args), "db": lambda: _db(args), "status": lambda: _status(args),
        "inspect": lambda: _inspect(args)}
    if args.command in local:
        return local[args.command]()
    if args.command in ("apply", "rollback", "restore", "baseline"):  # the runner's commands (cli_apply)
        from sqlguard import cli_apply

        _require_live()
        if args.command == "apply":
            return cli_apply.run_apply(args, _settings_for, _catalog)
        run: Callable[[argparse.Namespace, Any], int] = getattr(cli_apply, f"run_{args.command}")
        return run(args, _settings_for)
    parser.print_help(sys.stderr)
    return EXIT_ERROR


def _usable_cpus() -> int:
    """The cores this process may run on (a container's or taskset's share, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # (not on Linux)
        return os.cpu_count() or 1


def _lint(args: argparse.Namespace) -> int:
    from sqlguard.config import load_settings
    from sqlguard.diagnostic import SqlguardError
    from sqlguard.lint.engine import lint_paths, lint_stdin

    paths: list[str] = args.paths or ["."]
    if "-" in paths and len(paths) > 1:
        raise SqlguardError("'-' (standard input) cannot be combined with other paths")
    starts = [Path(args.stdin_filename)] if args.stdin_filename else [Path(p) for p in paths if p != "-"]
    overrides = {"catalog": args.catalog, "dialect": args.dialect, "select": args.select, "ignore": args.ignore,
                 "exclude": args.exclude, "fail-on": args.fail_on, "migrations": args.migrations,
                 "convention": args.convention, "baseline": args.baseline}
    settings = load_settings(args.config, starts, overrides)
    catalog = _catalog(settings)
    added = changed = None
    if args.diff_base and paths == ["-"]:
        raise SqlguardError("--diff-base needs paths to lint (not '-')")
    if args.diff_base:
        from sqlguard.migrations.gitinfo import changed_paths

        changed = changed_paths(Path.cwd(), args.diff_base)
        if changed is None:
            raise SqlguardError("--diff-base needs a git work tree (and git): the current folder is not in one")
    if settings.enabled("SG34") and paths != ["-"]:
        from sqlguard.migrations.gitinfo import added_paths

        added = added_paths(Path.cwd(), args.diff_base)
    if paths == ["-"]:
        if sys.stdin is None:
            raise SqlguardError("'-' reads standard input, which is closed")
        result = lint_stdin(sys.stdin.buffer.read(), args.stdin_filename, settings, catalog, fix=args.fix)
        if args.fix and result.fixed_text is not None:
            sys.stdout.write(result.fixed_text)
            sys.stdout.flush()
            return EXIT_CLEAN if args.exit_zero else _exit_code(result.diagnostics, settings)
    else:
        progress = _progress if sys.stderr.isatty() and args.format == "text" else None
        if args.diff and args.fix:
            raise SqlguardError("--diff shows what --fix would do: use one of them")
        jobs = args.jobs if args.jobs is not None else _usable_cpus()
        if jobs < 1:
            raise SqlguardError("--jobs must be at least 1")
        result = lint_paths(paths, settings, catalog, fix=args.fix, progress=progress, added=added, diff=args.diff,
                            cache=not args.no_cache, jobs=jobs, only=changed, fix_applied=args.fix_applied,
                            base=args.diff_base)
        if result.held_back:
            n = len(result.held_back)
            print(f"sqlguard: {n} migration{'s' if n != 1 else ''} not edited: already committed"
                  f"{' before ' + args.diff_base if args.diff_base else ''} or recorded in sqlguard.sum, so a "
                  f"database may have run {'them' if n != 1 else 'it'} ({result.held_back[0]}"
                  f"{', …' if n > 1 else ''}); --fix-applied edits them too", file=sys.stderr)
        _say_neutral_only(result.neutral_only, result.files, paths)
        if args.diff:
            sys.stdout.write("".join(result.diffs))
            if result.fixes_applied:
                print(f"sqlguard: {result.fixes_applied} fix{'es' if result.fixes_applied != 1 else ''} "
                      "would be applied", file=sys.stderr)
            return EXIT_FINDINGS if result.diffs else EXIT_CLEAN
    diagnostics = result.diagnostics
    if args.write_baseline is not None:
        from sqlguard.lint import baseline

        n = baseline.write(args.write_baseline, diagnostics, result.sources)
        print(f"sqlguard: recorded {n} finding{'s' if n != 1 else ''} in {args.write_baseline}; "
              f"`--baseline {args.write_baseline}` (or `baseline` in the config) now reports only new ones",
              file=sys.stderr)
        return EXIT_CLEAN
    if settings.baseline is not None:
        from sqlguard.lint import baseline

        outcome = baseline.apply(settings.baseline, diagnostics, result.sources, list(result.sources))
        diagnostics = outcome.kept
        stale = f"; {outcome.stale} recorded finding{'s' if outcome.stale != 1 else ''} no longer occur " \
                "(write the baseline again to drop them)" if outcome.stale else ""
        print(f"sqlguard: {outcome.baselined} finding{'s' if outcome.baselined != 1 else ''} left out: recorded in "
              f"the baseline {settings.baseline.name}{stale}", file=sys.stderr)
    if args.statistics:
        sys.stdout.write(_statistics(diagnostics, args.format))
        return EXIT_CLEAN if args.exit_zero else _exit_code(diagnostics, settings)
    from sqlguard.report import render

    rules: dict[str, Any] = {}
    if args.format == "sarif":  # the one format that carries every rule's metadata (a run from the
        from sqlguard.rules import RULES_BY_CODE  # cache never imports the checks otherwise)

        rules = RULES_BY_CODE
    out_is_tty = args.output is None and sys.stdout.isatty()
    color = args.color if args.color is not None else (out_is_tty and "NO_COLOR" not in os.environ)
    rendered = render(args.format, diagnostics, result.sources, rules, color=color, tool_version=__version__)
    if args.output is not None:
        try:
            args.output.write_text(rendered, encoding="utf-8")
        except OSError as err:
            raise SqlguardError(f"cannot write the report to {args.output}: {err.strerror or err}") from None
    elif rendered:
        sys.stdout.write(rendered if rendered.endswith("\n") else rendered + "\n")
    if args.fix and result.fixes_applied:
        print(f"sqlguard: applied {result.fixes_applied} fix{'es' if result.fixes_applied != 1 else ''}",
              file=sys.stderr)
    return EXIT_CLEAN if args.exit_zero else _exit_code(diagnostics, settings)


def _statistics(diagnostics: list, fmt: str) -> str:  # type: ignore[type-arg]
    """How many findings each rule has (and how many of them `--fix` can fix), most first."""
    import json
    from collections import Counter

    counts = Counter(d.code for d in diagnostics)
    fixable = Counter(d.code for d in diagnostics if d.fix is not None)
    first = {d.code: d for d in reversed(diagnostics)}
    order = sorted(counts, key=lambda c: (-counts[c], c))
    if fmt == "json":
        return json.dumps([{"code": c, "name": first[c].name, "severity": first[c].severity, "count": counts[c],
                            "fixable": fixable[c]} for c in order], indent=2) + "\n"
    if not order:
        return "No findings.\n"
    width = max(len(str(counts[c])) for c in order)
    lines = [f"{counts[c]:>{width}}  {c}  {first[c].name}" + (f"  ({fixable[c]} fixable)" if fixable[c] else "")
             for c in order]
    return "\n".join(lines) + f"\nFound {len(diagnostics)} problem{'s' if len(diagnostics) != 1 else ''}.\n"


def _say_neutral_only(neutral_only: dict[str, list[str]], linted: int, paths: list[str]) -> None:
    """On stderr: the files only the dialect-neutral rules judged, and a run that linted nothing."""
    from sqlguard.rules import ALL_RULES
    from sqlguard.sql.reading import LABELS

    for dialect, files in sorted(neutral_only.items()):
        n = len(files)
        print(f"sqlguard: {n} {LABELS[dialect]} file{'s' if n != 1 else ''} ({files[0]}{', …' if n > 1 else ''}): "
              "only the dialect-neutral rules ran", file=sys.stderr)
    if neutral_only:
        neutral = ", ".join(r.code for r in ALL_RULES if set(r.dialects) >= set(KNOWN))
        print(f"sqlguard: the dialect-neutral rules are {neutral}; to lint a folder as another dialect, map it in "
              "the config's `dialects`", file=sys.stderr)
    if linted == 0:
        print(f"sqlguard: nothing to lint in {', '.join(paths)} (no .sql or .py file)", file=sys.stderr)


def _inspect(args: argparse.Namespace) -> int:
    import json

    from sqlguard.diagnostic import SqlguardError
    from sqlguard.migrations.layout import inspect

    targets = [Path(p) for p in (args.paths or ["."])]
    for t in targets:
        if not t.exists():
            raise SqlguardError(f"no such file or directory: {t}")
    settings = _settings_for(args, targets)
    found = inspect(settings, targets)
    if args.format == "json":
        print(json.dumps([h.as_dict() for h in found], indent=2))
        return EXIT_CLEAN
    if not found:
        print(f"No migration history found in {', '.join(map(str, targets))} (a folder of migrations of a known "
              "convention, or one named in the config's `migrations`).")
        return EXIT_CLEAN
    for h in found:
        versions = f"{h.first} … {h.last}" if h.first and h.first != h.last else (h.first or "no versions")
        lines = [f"{h.folder}",
                 *([f"  locations    {', '.join(h.locations)} (one version stream)"] if h.locations else []),
                 f"  convention   {h.convention}",
                 f"  dialect      {h.dialect} (from {h.dialect_from})"
                 + ("" if h.read else ": only the dialect-neutral rules judge its files"),
                 f"  transaction  {h.transaction}",
                 f"  migrations   {h.migrations} ({h.rollbacks} with a rollback), {versions}"]
        lines += [f"    outside a transaction: {o}" for o in h.outside[:5]]
        lines.append(f"  pin it       {h.config}")
        print("\n".join(lines) + "\n")
    print(f"{len(found)} histor{'ies' if len(found) != 1 else 'y'}. The `pin it` line, in sqlguard.yaml, fixes "
          "what sqlguard guessed.")
    return EXIT_CLEAN


def _settings_for(args: argparse.Namespace, starts: list[Path]) -> Settings:
    from sqlguard.config import load_settings

    return load_settings(args.config, starts, {"dialect": getattr(args, "dialect", None)})


def _histories(settings: Settings, paths: list[Path]) -> list:  # type: ignore[type-arg]
    """The migration histories under `paths` (default: the configured folders, else the current one)."""
    from sqlguard.diagnostic import SqlguardError
    from sqlguard.lint.engine import find_histories

    targets = paths or [f.path for f in settings.migrations] or [Path.cwd()]
    found = find_histories(settings, targets)
    if not found:
        raise SqlguardError(f"no migration history found in {', '.join(str(t) for t in targets)}")
    return found


def _schema(args: argparse.Namespace) -> int:
    from sqlguard.diagnostic import SqlguardError
    from sqlguard.lint.engine import Run
    from sqlguard.report.schema_formats import render_schema

    paths = [Path(args.path)] if args.path else []
    settings = _settings_for(args, paths)
    histories = _histories(settings, paths)
    if len(histories) > 1:
        listed = ", ".join(str(h.folder) for h in histories)
        raise SqlguardError(f"{len(histories)} migration histories found ({listed}): name one folder")
    history = histories[0]
    timeline = Run.create(settings, None).timeline(history)
    sys.stdout.write(render_schema(timeline.final, args.format, name=history.folder.name))
    return EXIT_CLEAN


def _rollback_gen(args: argparse.Namespace) -> int:
    from sqlguard.diagnostic import SqlguardError
    from sqlguard.lint.engine import Run
    from sqlguard.schema.rollback import generate, write_rollback

    path = Path(args.migration)
    if not path.is_file():
        raise SqlguardError(f"no such file: {args.migration}")
    settings = _settings_for(args, [path])
    run = Run.create(settings, None)
    histories = run.history_index()
    # (a Flyway migration a baseline supersedes: what databases older than the baseline ran)
    history = histories.history_for(path.resolve()) or histories.older_history_for(path.resolve())
    migration = history.migration(path.resolve()) if history is not None else None
    if history is None or migration is None:
        raise SqlguardError(f"{args.migration} is not a migration of a history sqlguard recognises "
                            "(name its folder under `migrations` in the config)")
    timeline = run.timeline(history)
    i = history.index_of(migration.path)
    text = generate(timeline.effects(i), path.name)
    if args.stdout:
        sys.stdout.write(text)
        return EXIT_CLEAN
    target = write_rollback(migration, history.convention, text, force=args.force,
                            expected=run.index.classify(path.resolve()))
    print(f"sqlguard: wrote the rollback of {path.name} to {target}", file=sys.stderr)
    return EXIT_CLEAN


def _hash(args: argparse.Namespace) -> int:
    from sqlguard.migrations.integrity import write_sum

    paths = [Path(p) for p in args.paths]
    settings = _settings_for(args, paths)
    for history in _histories(settings, paths):
        target = write_sum(history)
        print(f"sqlguard: wrote {target} ({len(history.migrations)} migrations)", file=sys.stderr)
    return EXIT_CLEAN


def _new(args: argparse.Namespace) -> int:
    import datetime as dt

    from sqlguard.diagnostic import SqlguardError
    from sqlguard.lint.engine import Run
    from sqlguard.migrations.scaffold import new_migration

    settings = _settings_for(args, [args.dir] if args.dir else [])
    folder = args.dir
    convention = args.convention
    if folder is None:
        if len(settings.migrations) != 1:
            raise SqlguardError("name the migration folder with --dir (the config names "
                                f"{len(settings.migrations)} folders)")
        folder = settings.migrations[0].path
        if convention == "auto":
            convention = settings.migrations[0].convention
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    target: object = folder
    if convention == "auto":
        found = Run.create(settings, None).history_index().histories(folder)
        found = [h for h in found if h.folder == folder] or found
        if found:
            target, convention = found[0], found[0].convention
        else:
            convention = settings.convention if settings.convention != "auto" else "sqlguard"
    created = new_migration(target, convention, args.name, dt.datetime.now())  # type: ignore[arg-type]
    for f in created:
        print(f)
    return EXIT_CLEAN


def _db(args: argparse.Namespace) -> int:
    import json

    from sqlguard.diagnostic import SqlguardError

    try:
        from sqlguard.live import compare
    except ImportError:  # psycopg is the `live` extra
        raise SqlguardError("live mode needs psycopg: pip install 'sqlguard[live]'") from None
    path = Path(args.path) if getattr(args, "path", None) else None
    settings = _settings_for(args, [path] if path else [])
    if args.db_command == "schema":
        from sqlguard.report.schema_formats import render_schema

        sys.stdout.write(render_schema(compare.live_schema(settings, args.env), args.format, name=args.env))
        return EXIT_CLEAN
    if args.db_command == "check":
        return _db_check(args, settings, compare)
    if args.db_command == "diff":
        changes = compare.db_diff(settings, args.left, args.right)
        what = f"`{args.left}` and `{args.right}`"
    elif args.db_command == "drift":
        changes = compare.db_drift(settings, args.env, [path] if path else [])
        what = f"`{args.env}` and its migration history"
    else:
        raise SqlguardError("name a db command: schema, diff or drift")
    if args.format == "json":
        print(json.dumps(compare.changes_json(changes), indent=2))
    elif changes:
        print(f"{len(changes)} difference{'s' if len(changes) != 1 else ''} between {what}:")
        for c in changes:
            print(f"  {c.describe()}")
    else:
        print(f"{what} are in sync.")
    return EXIT_FINDINGS if changes else EXIT_CLEAN


def _status(args: argparse.Namespace) -> int:
    from sqlguard.diagnostic import SqlguardError

    try:
        from sqlguard.live import status
    except ImportError:  # psycopg is the `live` extra
        raise SqlguardError("live mode needs psycopg: pip install 'sqlguard[live]'") from None
    path = Path(args.path) if args.path else None
    settings = _settings_for(args, [path] if path else [])
    report = status.migration_status(settings, args.env, [path] if path else [], _catalog(settings))
    sys.stdout.write(status.render_status(report, args.format))
    return status.exit_code(report)


def _db_check(args: argparse.Namespace, settings: Settings, compare: Any) -> int:
    import json

    from sqlguard.catalog import load_catalog
    from sqlguard.diagnostic import Diagnostic, Span, SqlguardError
    from sqlguard.report import render
    from sqlguard.rules import RULES_BY_CODE
    from sqlguard.sql.text import SourceText

    path = Path(args.catalog) if args.catalog else settings.catalog
    if path is None:
        raise SqlguardError("db check compares a database with the rule catalog: configure `catalog` or pass "
                            "--catalog")
    reports = compare.db_check(settings, args.env, load_catalog(path))
    failed = [r for r in reports if r["connection"] != "ok"]
    if args.format == "json":
        print(json.dumps(reports, indent=2))
    elif args.format == "markdown":
        sys.stdout.write(compare.check_markdown(reports))
    else:
        rule = RULES_BY_CODE["SG13"]
        diags = [Diagnostic(rule.code, rule.name, rule.severity, f"db:{r['environment']}", Span(0, 0), m["message"],
                            m["correction"]) for r in reports for m in r["mistakes"]]
        sources = {f"db:{r['environment']}": SourceText(f"db:{r['environment']}", "") for r in reports}
        rendered = render(args.format, diags, sources, RULES_BY_CODE, color=False, tool_version=__version__)
        sys.stdout.write(rendered)
        for r in failed:
            print(f"sqlguard: error: {r['error']}", file=sys.stderr)
    if failed:
        return EXIT_ERROR
    return EXIT_FINDINGS if any(r["mistakes"] for r in reports) else EXIT_CLEAN


def _exit_code(diagnostics: list, settings: Settings) -> int:  # type: ignore[type-arg]
    return EXIT_FINDINGS if any(settings.fails(d.severity) for d in diagnostics) else EXIT_CLEAN


def _require_live() -> None:
    from sqlguard.diagnostic import SqlguardError

    try:
        import psycopg  # noqa: F401
    except ImportError:  # psycopg is the `live` extra
        raise SqlguardError("live mode needs psycopg: pip install 'sqlguard[live]'") from None


def _catalog(settings: Settings) -> Catalog | None:
    if settings.catalog is None:
        return None
    from sqlguard.catalog import load_catalog

    return load_catalog(settings.catalog)


def _progress(done: int, total: int) -> None:
    if total < 200:
        return
    if done == total or done % 100 == 0:
        end = "\n" if done == total else ""
        print(f"\rsqlguard: linted {done}/{total} files", end=end, file=sys.stderr, flush=True)


def _rules(fmt: str) -> int:
    from sqlguard.rules import ALL_RULES

    if fmt == "json":
        import json

        data = [{"code": r.code, "name": r.name, "severity": r.severity, "fixable": r.fixable,
                 "dialects": list(r.dialects), "summary": r.summary, "doc": r.doc.strip()} for r in ALL_RULES]
        print(json.dumps(data, indent=2))
    elif fmt == "markdown":
        print(rules_markdown())
    else:
        width = max(len(r.name) for r in ALL_RULES)
        for r in ALL_RULES:
            fix = "fix" if r.fixable else "   "
            print(f"{r.code}  {r.name:<{width}}  {r.severity:<7}  {fix}  {_dialects(r.dialects):<10}  {r.summary}")
    return EXIT_CLEAN


def rules_markdown() -> str:
    """The rule table that README.md carries (a test keeps the two in sync)."""
    from sqlguard.rules import ALL_RULES

    lines = ["| Code | Name | Severity | Fix | Dialects | What it catches |", "|---|---|---|---|---|---|"]
    for r in ALL_RULES:
        lines.append(f"| {r.code} | `{r.name}` | {r.severity} | {'yes' if r.fixable else ''} | "
                     f"{_dialects(r.dialects)} | {r.summary.replace('|', '/')} |")
    return "\n".join(lines)


def _dialects(dialects: tuple[str, ...]) -> str:
    """`all` (every dialect sqlguard knows), `pg+my+lite` (the three with a full reader), or the names."""
    if set(dialects) >= set(KNOWN):
        return "all"
    return "pg+my+lite" if set(dialects) == set(FULL) else ", ".join(dialects)


def _explain(code: str) -> int:
    from sqlguard.diagnostic import SqlguardError
    from sqlguard.rules import ALL_RULES

    key = code.strip()
    for r in ALL_RULES:
        if key.upper() == r.code or key.lower() == r.name:
            fix = " (autofix: `sqlguard lint --fix`)" if r.fixable else ""
            print(f"{r.code} {r.name} [{r.severity}]{fix}\n")
            print(_dedent_doc(r.doc))
            return EXIT_CLEAN
    raise SqlguardError(f"unknown rule `{code}` (see `sqlguard rules`)")


def _dedent_doc(doc: str) -> str:
    import inspect

    return inspect.cleandoc(doc)


if __name__ == "__main__":
    sys.exit(main())
