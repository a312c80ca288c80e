"""lint(paths, settings) -> diagnostics: find files, split, parse, run checks, apply ignores, sort.

Data flows one way: sources -> engine -> checks -> diagnostics -> report.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlguard.config import Settings
from sqlguard.diagnostic import Diagnostic, Finding, Span, SqlguardError, apply_fixes
from sqlguard.migrations.files import PLAN_FILES, MigrationFile, MigrationIndex, plan_of, real_path, wraps
from sqlguard.sql.reading import FULL
from sqlguard.sql.split import Statement, split
from sqlguard.sql.text import SourceProblem, SourceText, decode

if TYPE_CHECKING:  # imported where they run: a run answered from the cache never needs them
    from sqlguard.catalog import Catalog
    from sqlguard.lint.rule import FileContext, Rule
    from sqlguard.lint.suppress import Ignore
    from sqlguard.schema.model import Schema
    from sqlguard.schema.timeline import Leftover, Timeline
    from sqlguard.sql.transactions import Transactions

SQL_SUFFIXES = (".sql",)
PYTHON_SUFFIXES = (".py",)
# The rules that read SQL found in application code (Alembic migrations get every statement rule).
PYTHON_SQL_RULES = ("SG10", "SG11", "SG41")
PYTHON_FILE_RULES = ("SG02", "SG40")
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".tox", ".nox", ".venv", "venv",
                       ".mypy_cache", ".ruff_cache", ".pytest_cache", ".sqlguard_cache", "site-packages"})


@dataclass
class LintResult:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, SourceText] = field(default_factory=dict)
    files: int = 0
    fixes_applied: int = 0
    fixed_text: str | None = None  # for stdin with --fix
    diffs: list[str] = field(default_factory=list)  # with --diff: what --fix would change, per file
    cache_hits: int = 0
    # files of a dialect without a full reader (`sqlguard.sql.reading`), by dialect: judged by the
    # dialect-neutral rules only
    neutral_only: dict[str, list[str]] = field(default_factory=dict)
    held_back: list[str] = field(default_factory=list)  # migrations --fix left alone: already applied


@dataclass
class Run:
    """What one lint run shares across files: settings, rules, and caches of the history."""

    settings: Settings
    catalog: Catalog | None
    index: MigrationIndex
    histories: Any = None  # HistoryIndex, built on first use
    timelines: dict[tuple[str, str], Any] = field(default_factory=dict)
    catalog_schema: Schema | None = None  # the catalog's tables, and a live database's (`known`)
    catalog_label: str = "the catalog"  # where catalog_schema comes from, for messages
    added: frozenset[Path] | None = None  # migrations new since --diff-base (SG34)
    integrity: Any = None  # IntegrityIndex: each history's sqlguard.sum is checked once per run
    contexts: dict[str, bytes] = field(default_factory=dict)  # per history: the hash its cache keys include
    folder_contexts: dict[str, bytes] = field(default_factory=dict)  # per folder of linted files
    per_history: dict[str, dict[str, Any]] = field(default_factory=dict)
    _rules: list[Rule] | None = None
    python_files: tuple[Path, ...] = ()  # every Python file of the run: SG40's project (`python_project`)
    sql_files: tuple[Path, ...] = ()  # every SQL file of the run: the histories code is checked against
    _project: Any = None
    _removals: dict[tuple[str, ...], Any] | None = None
    _python_digest: bytes | None = None
    replays: Any = None  # the Cache that keeps each history's last replay (None: --no-cache)
    _added_names: set[str] | None = None  # `added` as strings (see `_is_added`)
    _digests: dict[Path, str] = field(default_factory=dict)  # this run's file digests (see `digest`)
    _by_dialect: dict[str, tuple[Settings, list[Rule]]] = field(default_factory=dict)
    _folder_dialects: dict[str, Any] = field(default_factory=dict)  # what each folder's names say
    _work_trees: dict[str, Path | None] = field(default_factory=dict)  # git: each folder's work tree
    _committed: dict[tuple[Path, str | None], frozenset[Path] | None] = field(default_factory=dict)  # per tree

    @property
    def rules(self) -> list[Rule]:
        """The enabled rules (imported on first use: a run answered from the cache never needs them)."""
        if self._rules is None:
            self._rules = _rules(self.settings)
        return self._rules

    def already_applied(self, path: Path, data: bytes, base: str | None) -> bool:
        """Whether a database may already have run the migration `path`, so that editing it breaks the
        runner's checksum (Flyway, sqlguard.sum) or leaves databases with another schema: it is
        committed before `base` (without one: committed at all), or its history's `sqlguard.sum`
        records it. A rollback, a repeatable migration and a file that is no migration are never applied."""
        from sqlguard.migrations.gitinfo import committed_paths, work_tree
        from sqlguard.migrations.integrity import recorded

        real = real_path(path)
        migration = self.index.classify(real, data.decode("utf-8", errors="replace"))
        if migration is None or migration.role not in ("up", "baseline"):
            return False
        folder = str(real.parent)  # (the git work tree is the file's own: asked once per folder)
        if folder not in self._work_trees:
            self._work_trees[folder] = work_tree(real.parent)
        root = self._work_trees[folder]
        if root is not None and (root, base) not in self._committed:  # (the files of a commit: once per tree)
            self._committed[(root, base)] = committed_paths(root, base)
        committed = self._committed.get((root, base)) if root is not None else None
        if committed is not None and real in committed:
            return True
        history = self.history_index(self.dialect_of(path)).history_for(real)
        return history is not None and recorded(history, real)

    def python_project(self) -> Any:
        """What the callers in the run's Python files pass each function (`sqlguard.python.project`), read
        on first use."""
        if self._project is None:
            from sqlguard.python.project import read_project

            self._project = read_project(self.python_files)
        return self._project

    def code_removals(self) -> dict[tuple[str, ...], Any]:
        """What the run's migration histories (the configured folders, else those of its SQL files) dropped or
        renamed by their end (`sqlguard.schema.timeline.removals`): what code must no longer query."""
        if self._removals is None:
            from sqlguard.schema.timeline import removals

            histories: dict[str, Any] = {}
            index = self.history_index()
            configured = [f.path for f in self.settings.migrations if f.path.exists()]
            if configured:
                for h in find_histories(self.settings, configured):
                    histories.setdefault(str(h.folder), h)
            else:
                for path in self.sql_files:
                    h = index.history_for(real_path(path))
                    if h is not None:
                        histories.setdefault(str(h.folder), h)
            found: dict[tuple[str, ...], Any] = {}
            for h in histories.values():
                found.update(removals(self.timeline(h)))
            self._removals = found
        return self._removals

    def python_digest(self) -> bytes:
        """What a cached result of a Python file also depends on: every Python file of the run (SG40's callers)
        and every SQL file (SG41's histories)."""
        if self._python_digest is None:
            import hashlib

            h = hashlib.sha256()
            for p in sorted((*self.python_files, *self.sql_files)):
                try:
                    h.update(f"{p}\0{self.digest(p)}\n".encode("utf-8", "surrogateescape"))
                except OSError:
                    continue
            self._python_digest = h.digest()
        return self._python_digest

    def dialect_of(self, path: Path) -> str:
        """The dialect of a SQL file (`sqlguard.migrations.dialects`, the one reader of that fact)."""
        from sqlguard.migrations.dialects import dialect_of

        return dialect_of(path, self.settings, self._folder_dialects)

    def for_dialect(self, dialect: str) -> tuple[Settings, list[Rule]]:
        """The settings a file of `dialect` is linted with, and the rules that check that dialect."""
        found = self._by_dialect.get(dialect)
        if found is None:
            settings = self.settings if dialect == self.settings.dialect else replace(self.settings, dialect=dialect)
            found = self._by_dialect[dialect] = (settings, [r for r in self.rules if dialect in r.dialects])
        return found

    @classmethod
    def create(cls, settings: Settings, catalog: Catalog | None, added: frozenset[Path] | None = None,
               known: tuple[str, Schema] | None = None) -> Run:
        """`known`: (what it is, a schema) whose tables count as existing besides the catalog's, such as
        what the database `sqlguard apply` migrates really holds."""
        from sqlguard.schema.model import from_catalog, joined

        index = MigrationIndex({f.path: f.convention for f in settings.migrations}, settings.convention,
                               locations={f.path: f.locations for f in settings.migrations if f.locations},
                               dialect=settings.dialect)
        catalog_schema = from_catalog(catalog) if catalog is not None else None
        label = "the catalog"
        if known is not None:
            catalog_schema = joined(catalog_schema, known[1])
            label = f"the catalog or {known[0]}" if catalog is not None else known[0]
        return cls(settings, catalog, index, catalog_schema=catalog_schema, catalog_label=label, added=added)

    def history_facts(self, path: Path | None, migration: MigrationFile | None,
                      dialect: str | None = None) -> HistoryFacts:
        """Where a migration stands in its history (its dialect's): the schema it starts from, and its findings."""
        if path is None or migration is None:
            return HistoryFacts()
        history = self.history_index(dialect).history_for(real_path(path))
        if history is None:
            return HistoryFacts()
        i = history.index_of(real_path(path))
        if i is None:
            return HistoryFacts()
        timeline = self.timeline(history, dialect=dialect)
        m = history.migrations[i]
        is_up = real_path(m.path) == real_path(path)
        facts = HistoryFacts(start=timeline.before(i) if is_up else timeline.after(i), final=timeline.final,
                             history=history)
        if is_up:
            facts.leftovers = tuple(timeline.leftovers(i))
            facts.extra = self._history_extras(history, m, dialect or self.settings.dialect)
        return facts

    def _history_extras(self, history: Any, m: Any, dialect: str) -> dict[str, Any]:
        """SG33, SG34, SG36 and SG52 facts for one migration (plain data for the checks)."""
        from sqlguard.migrations import history as hist
        from sqlguard.migrations.files import short_name
        from sqlguard.migrations.integrity import IntegrityIndex

        if self.integrity is None:
            self.integrity = IntegrityIndex()
        cached = self.per_history.setdefault(str(history.folder), {})
        if "duplicates" not in cached:
            cached["duplicates"] = hist.duplicate_versions(history)
            cached["out_of_order"] = hist.out_of_order(history, self.added) if self.added is not None else {}
        newer = cached["out_of_order"].get(m.path)
        position = history.index_of(m.path) or 0

        def validated_later() -> frozenset[str]:  # (read only when SG52 meets a NOT VALID constraint)
            if "validations" not in cached:
                cached["validations"] = _validations(history, dialect)
            return frozenset(name for name, where in cached["validations"].items() if any(j > position for j in where))

        return {
            "validated_later": validated_later,
            "last": position == len(history.migrations) - 1,
            "duplicates": tuple(short_name(p, history.convention) for p in cached["duplicates"].get(m.path, [])),
            "integrity": self.integrity.problem(history, m.path),
            "newer_existing": short_name(newer.path, history.convention) if newer is not None else None,
        }

    def history_context(self, path: Path, data: bytes | None = None) -> bytes:
        """What a cached result of `path` also depends on: every file of its migration history.

        Files of one folder belong to one history: once a file of a folder has one, the others of that
        folder get the same (for a file that is not a migration, a dependency it does not need, which
        can only cost a cache miss) without classifying each again.
        """
        folder = os.path.dirname(path)
        known = self.folder_contexts.get(folder)
        if known is not None:
            return known
        found = self._history_context(path, data)
        if found:
            self.folder_contexts[folder] = found
        return found

    def _history_context(self, path: Path, data: bytes | None) -> bytes:
        try:
            text = data.decode("utf-8", errors="replace") if data is not None else None
            migration = self.index.classify(real_path(path), text)
        except Exception:  # a file that cannot be classified has no history to depend on
            return b""
        if migration is None:
            return b""
        folder = self.history_index().folder_of(real_path(path))
        if folder is None:
            return b""
        key = str(folder)
        if key not in self.contexts:
            import hashlib

            h = hashlib.sha256(b"not in git" if self.added is None else b"git")
            for f in (f for where in self.history_index().folders(folder) for f in _files_under(str(where))):
                try:
                    digest = self.digest(Path(f))
                except OSError:
                    continue
                h.update(f"{f}\n{digest}\n".encode())
                if self.added is not None:  # SG34 judges new migrations against the others
                    h.update(b"new" if self._is_added(f) else b"old")
            self.contexts[key] = h.digest()
        return self.contexts[key]

    def digest(self, path: Path) -> str:
        """A file's SHA-256 (from the cache's stat-keyed digests when there is a cache)."""
        found = self._digests.get(path)
        if found is None:
            if self.replays is not None and self.replays.enabled:
                found = self.replays.digest(path)
            else:
                import hashlib

                found = hashlib.sha256(path.read_bytes()).hexdigest()
            self._digests[path] = found
        return found  # type: ignore[no-any-return]

    def _is_added(self, file: str) -> bool:
        """Whether git calls `file` new (a file under a resolved folder is its own real path unless a
        symlink: one lstat, not a resolution, per file)."""
        if self._added_names is None:
            self._added_names = {str(p) for p in self.added or ()}
        return (str(real_path(Path(file))) if os.path.islink(file) else file) in self._added_names

    def history_index(self, dialect: str | None = None) -> Any:
        """The histories of `dialect` (default: the config's): a file naming another dialect
        (`0001_x.mysql.up.sql`) belongs to that dialect's history only."""
        from sqlguard.migrations.history import HistoryIndex

        dialect = dialect or self.settings.dialect
        if self.histories is None:
            self.histories = {}
        if dialect not in self.histories:
            memo = self.replays if self.replays is not None and self.replays.enabled else None
            self.histories[dialect] = HistoryIndex(self.index, dialect, memo)
        return self.histories[dialect]

    def timeline(self, history: Any, depth: int = 0, dialect: str | None = None) -> Timeline:
        from sqlguard.schema.timeline import Timeline

        dialect = dialect or self.settings.dialect
        k = (str(history.folder), history.convention, dialect, history.label)
        if k not in self.timelines:
            base = self._required_base(history, depth, dialect) if history.convention == "sqitch" else None
            store = self.replays if base is None and self.replays is not None and self.replays.enabled else None
            timeline = Timeline(history, dialect, _read_text, base, store, digest=self.digest)
            self.timelines[k] = timeline
        return self.timelines[k]  # type: ignore[no-any-return]

    def _required_base(self, history: Any, depth: int, dialect: str) -> Schema | None:
        """A sqitch plan may require changes of another project (`[oss_chef:users]`): its history
        starts from that project's schema, found as a `sqitch.plan` with that `%project` nearby."""
        import re

        from sqlguard.schema.replay import SchemaBuilder

        try:
            plan = plan_of(history.folder).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        wanted = {dep.split(":", 1)[0] for deps in re.findall(r"\[([^\]]*)\]", plan)
                  for dep in deps.split() if ":" in dep}
        if not wanted or depth > 3:
            return None
        builder = SchemaBuilder(dialect=dialect)
        for root in (history.folder, history.folder.parent):
            for other in sorted(p for name in PLAN_FILES for p in root.rglob(name)):
                if other.parent == history.folder:
                    continue
                head = other.read_text(encoding="utf-8", errors="replace")[:2000]
                m = re.search(r"^%project=(\S+)", head, re.M)
                if m is None or m.group(1) not in wanted:
                    continue
                wanted.discard(m.group(1))
                found = [h for h in self.history_index(dialect).histories(other.parent) if h.folder == other.parent]
                if found:
                    final = self.timeline(found[0], depth + 1, dialect).final
                    builder.tables.update(final.tables)
                    builder.views.update(final.views)
                    builder.indexes.update(final.indexes)
                    builder.sequences.update(final.sequences)
                    builder.enums.update(final.enums)
                    builder.schemas.update(final.schemas)
        return builder.freeze()


def _validations(history: Any, dialect: str) -> dict[str, list[int]]:
    """Which migrations of a history run `VALIDATE CONSTRAINT name`: name -> their positions."""
    import re

    from sqlguard.sql.ddl import describe
    from sqlguard.sql.ddl.model import AlterTable

    out: dict[str, list[int]] = {}
    for j, m in enumerate(history.migrations):
        try:
            text = _read_text(m.path)
        except OSError:
            continue
        if not re.search(r"validate\s+constraint", text, re.I):
            continue  # (the cheap test spares reading nearly every migration)
        for stmt in split(text, dialect).statements:
            if stmt.keyword != "ALTER" or stmt.section == "down" or "VALIDATE" not in stmt.text.upper():
                continue
            d = describe(stmt.text, dialect)
            if isinstance(d, AlterTable):
                for a in d.actions:
                    if a.kind == "AT_ValidateConstraint" and a.name:
                        out.setdefault(a.name, []).append(j)
    return out


def find_histories(settings: Settings, targets: list[Path]) -> list[Any]:
    """The migration histories of `targets`: the history a file belongs to, every history under a folder."""
    index = Run.create(settings, None).history_index()
    found: list[Any] = []
    for target in targets:
        if not target.exists():
            raise SqlguardError(f"no such file or directory: {target}")
        if target.is_file():
            history = index.history_for(target.resolve())
            found.extend([history] if history is not None else [])
        else:
            found.extend(index.histories(target.resolve()))
    return found


@dataclass
class HistoryFacts:
    start: Schema | None = None  # the schema before this file's statements
    final: Schema | None = None  # the schema once the whole history has run
    history: Any = None
    leftovers: tuple[Leftover, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def _read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="surrogateescape")


def _rules(settings: Settings) -> list[Rule]:
    from sqlguard.rules import ALL_RULES

    return [r for r in ALL_RULES if settings.enabled(r.code, r.group, r.default)]


def _files_under(folder: str) -> list[str]:
    """Every file under `folder` (not in a .sqlguard_cache), sorted."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != ".sqlguard_cache"]
        out.extend(os.path.join(dirpath, n) for n in filenames)
    return sorted(f for f in out if os.path.isfile(f))


def display_path(path: Path) -> str:
    """`path` as reports show it: relative to the current folder when it is inside it."""
    real = os.fspath(real_path(path))
    here = os.fspath(real_path(Path(os.getcwd())))
    if real == here:
        return "."
    inside = here if here.endswith(os.sep) else here + os.sep
    if real.startswith(inside):
        return real[len(inside):].replace(os.sep, "/")
    return path.as_posix()


def _excluded(path: Path, settings: Settings) -> bool:
    if not settings.exclude:
        return False
    try:
        rel = Path(os.path.realpath(path)).relative_to(settings.root).as_posix()  # (a symlink loop: itself)
    except ValueError:
        rel = path.as_posix()
    return any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(path.name, pat)
               or fnmatch.fnmatch(rel, pat.rstrip("/") + "/*") for pat in settings.exclude)


def discover(paths: Iterable[str], settings: Settings) -> list[Path]:
    """The files to lint, in a stable order; raises for a path that does not exist."""
    out: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        try:
            mode = os.stat(raw).st_mode
        except (OSError, ValueError):
            raise SqlguardError(f"no such file or directory: {raw}") from None
        if stat.S_ISREG(mode):
            candidates: Iterable[Path] = [p]
        elif not stat.S_ISDIR(mode):
            raise SqlguardError(f"not a file or a folder: {raw} (a pipe or a device is not linted)")
        else:
            candidates = _walk(p, settings)
        for f in candidates:
            key = real_path(f)  # (also what display_path and the history lookups ask for next)
            if key in seen or _excluded(f, settings):
                continue
            seen.add(key)
            out.append(f)
    return out


def _walk(root: Path, settings: Settings) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        # Skip version control, dependencies and virtualenvs (a folder holding pyvenv.cfg).
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS
                             and not os.path.exists(os.path.join(dirpath, d, "pyvenv.cfg"))
                             and not _excluded(here / d, settings))
        for name in sorted(filenames):
            # (a named pipe would block the read forever; a broken link is read, and reported)
            if name.lower().endswith(SQL_SUFFIXES + PYTHON_SUFFIXES) and not _special(os.path.join(dirpath, name)):
                yield here / name


def _special(path: str) -> bool:
    """A pipe, socket or device (what a folder walk must not open)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def lint_paths(paths: list[str], settings: Settings, catalog: Catalog | None, *, fix: bool = False,
               progress: Callable[[int, int], None] | None = None,
               added: frozenset[Path] | None = None, diff: bool = False, cache: bool = False,
               jobs: int = 1, only: frozenset[Path] | None = None, fix_applied: bool = False,
               base: str | None = None, known: tuple[str, Schema] | None = None) -> LintResult:
    """Lint `paths`. `only`: lint just these files (`--diff-base`: those changed since a commit); the
    histories they belong to still replay whole. With `fix` or `diff`, a migration a database may already
    have run (`already_applied`, as of `base`) is not edited unless `fix_applied`. `known`: (what it is,
    a schema) whose tables exist besides the catalog's (`Run.create`)."""
    found = discover(paths, settings)
    python_files = tuple(p for p in found if p.name.lower().endswith(PYTHON_SUFFIXES))
    sql_files = tuple(p for p in found if not p.name.lower().endswith(PYTHON_SUFFIXES))
    if only is not None:
        found = [p for p in found if real_path(p) in only]
    run = Run.create(settings, catalog, added, known)
    run.python_files, run.sql_files = python_files, sql_files
    result = LintResult()
    dialects: set[str] = set()
    for path in found:
        dialect = run.dialect_of(path) if not path.name.lower().endswith(PYTHON_SUFFIXES) else settings.dialect
        dialects.add(dialect)
        if dialect not in FULL:
            result.neutral_only.setdefault(dialect, []).append(display_path(path))
    store = None
    if cache and not (fix or diff):
        from sqlguard.lint.cache import Cache

        store = Cache.for_run(settings.root, settings, settings.catalog)
        run.replays = store
    todo: list[tuple[int, Path, str, bytes, str | None]] = []  # (position, path, shown, bytes, cache key)
    done: dict[int, tuple[list[Diagnostic], SourceText]] = {}
    for i, path in enumerate(found):
        shown = display_path(path)
        try:
            data = path.read_bytes()
        except OSError as err:
            done[i] = ([_unreadable(shown, err)], SourceText(shown, ""))
            continue
        context = run.history_context(path, data) if not shown.lower().endswith(PYTHON_SUFFIXES) else \
            run.python_digest()  # (a Python file's findings depend on its callers in the other files)
        key = store.key(shown, data, context) if store is not None else None
        todo.append((i, path, shown, data, key))
    if store is not None:
        cached = store.get_many([key for *_, key in todo if key is not None])
        store.close()  # (workers are forked next: no open database goes with them)
        if cached:
            missed = []
            for item in todo:
                i, _, shown, data, key = item
                found = cached.get(key) if key is not None else None
                if found is None:
                    missed.append(item)
                else:
                    done[i] = (found, SourceText(shown, data.decode("utf-8", errors="surrogateescape")))
            todo = missed
    if jobs > 1 and len(todo) >= 4 * jobs and not (fix or diff):
        _lint_parallel(todo, settings, catalog, added, jobs, done, progress, len(found), store, known,
                       (python_files, sql_files), sqlglot=dialects != {"postgres"})
    else:
        for n, (i, path, shown, data, _) in enumerate(todo):
            try:
                may_fix = (fix or diff) and (fix_applied or not run.already_applied(path, data, base))
                diags, source, fixed_text, applied = _lint_with_fixes(shown, path, data, run, may_fix)
                if (fix or diff) and not may_fix and any(d.fix is not None for d in diags):
                    result.held_back.append(shown)
            except Exception as err:  # a bug on one file must not end the run over the others
                done[i] = ([_internal_error(shown, err)], SourceText(shown, ""))
                continue
            if fixed_text is not None and applied and diff:
                import difflib

                before = data.decode("utf-8", errors="surrogateescape").splitlines(keepends=True)
                after = fixed_text.splitlines(keepends=True)
                result.diffs.append("".join(difflib.unified_diff(before, after, f"a/{shown}", f"b/{shown}")))
                result.fixes_applied += applied
            elif fixed_text is not None and applied:
                try:
                    path.write_bytes(fixed_text.encode("utf-8", errors="surrogateescape"))
                except OSError as err:
                    raise SqlguardError(f"cannot write the fixes to {shown}: {err.strerror or err}") from None
                result.fixes_applied += applied
            done[i] = (diags, source)
            if progress is not None:
                progress(len(found) - len(todo) + n + 1, len(found))
    if store is not None:
        store.put_many([(key, done[i][0]) for i, _, _, _, key in todo
                        if key is not None and i in done and not any("internal error" in d.message
                                                                     for d in done[i][0])])
        store.close()
    for i in sorted(done):
        diags, source = done[i]
        result.diagnostics.extend(diags)
        result.sources[source.path] = source
        result.files += 1
    result.cache_hits = store.hits if store is not None else 0
    result.diagnostics = configured(result.diagnostics, settings)
    return result


def configured(diagnostics: list[Diagnostic], settings: Settings) -> list[Diagnostic]:
    """In file order, at the severity the config's `rules` table gives each rule."""
    levels = dict(settings.levels)
    if levels:
        diagnostics = [replace(d, severity=levels[d.code]) if levels.get(d.code, d.severity) != d.severity  # type: ignore[arg-type]
                       else d for d in diagnostics]
    return sorted(diagnostics, key=lambda d: d.sort_key)


# One Run per worker process, built once by the pool's initializer (histories are replayed per worker).
_worker_run: Run | None = None


def _init_worker(settings: Settings, catalog: Catalog | None, added: frozenset[Path] | None, replays: Any,
                 known: tuple[str, Schema] | None,
                 files: tuple[tuple[Path, ...], tuple[Path, ...]] = ((), ())) -> None:
    global _worker_run
    _worker_run = Run.create(settings, catalog, added, known)
    _worker_run.python_files, _worker_run.sql_files = files
    _worker_run.replays = replays


def _lint_group(items: list[tuple[int, Path, str, bytes]]) -> list[tuple[int, list[Diagnostic]]]:
    """A worker's task: the diagnostics of each file (the parent has the texts: they do not travel back)."""
    assert _worker_run is not None
    out: list[tuple[int, list[Diagnostic]]] = []
    for i, path, shown, data in items:
        try:
            out.append((i, lint_source(shown, path, data, _worker_run)[0]))
        except Exception as err:  # a bug on one file must not end the run over the others
            out.append((i, [_internal_error(shown, err)]))
    return out


def _history_groups(todo: list[tuple[int, Path, str, bytes, str | None]], jobs: int
                    ) -> list[list[tuple[int, Path, str, bytes]]]:
    """The files to lint as worker tasks: one per folder (a sqitch project's deploy/revert/verify
    together), largest first, so a worker that lints a folder replays its history once and no other
    worker needs to. A folder larger than a worker's share is cut into small pieces, queued last: every
    worker may then replay that history (once each), which costs less than leaving workers idle."""
    groups: dict[str, list[tuple[int, Path, str, bytes]]] = {}
    for i, path, shown, data, _ in todo:
        folder = os.path.dirname(path)
        if os.path.basename(folder) in ("deploy", "revert", "verify"):
            folder = os.path.dirname(folder)
        groups.setdefault(folder, []).append((i, path, shown, data))
    share = -(-len(todo) // jobs)
    piece = max(1, min(64, len(todo) // (jobs * 8)))
    whole = sorted((g for g in groups.values() if len(g) <= share), key=len, reverse=True)
    cut = [g[k:k + piece] for g in groups.values() if len(g) > share for k in range(0, len(g), piece)]
    return whole + cut


def _lint_parallel(todo: list[tuple[int, Path, str, bytes, str | None]], settings: Settings,
                   catalog: Catalog | None, added: frozenset[Path] | None, jobs: int,
                   done: dict[int, tuple[list[Diagnostic], SourceText]],
                   progress: Callable[[int, int], None] | None, total: int, replays: Any = None,
                   known: tuple[str, Schema] | None = None,
                   files: tuple[tuple[Path, ...], tuple[Path, ...]] = ((), ()), sqlglot: bool = True) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    if multiprocessing.get_start_method() == "fork":
        # forked workers inherit what this process imported: the checks once, not per worker, and sqlglot
        # when a file of another dialect than PostgreSQL needs it (PostgreSQL's own parser reads the rest)
        if sqlglot:
            import sqlglot as _  # noqa: F401

        import sqlguard.rules
        import sqlguard.sql.pgtree  # noqa: F401
    item_of = {i: (shown, data) for i, _, shown, data, _ in todo}
    finished = total - len(todo)
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker,
                             initargs=(settings, catalog, added, replays, known, files)) as pool:
        for future in as_completed([pool.submit(_lint_group, g) for g in _history_groups(todo, jobs)]):
            for i, diags in future.result():
                shown, data = item_of[i]
                done[i] = (diags, SourceText(shown, data.decode("utf-8", errors="surrogateescape")))
                finished += 1
                if progress is not None:
                    progress(finished, total)


def lint_stdin(data: bytes, filename: str | None, settings: Settings, catalog: Catalog | None, *,
               fix: bool = False) -> LintResult:
    shown = filename or "-"
    real = Path(filename) if filename else None
    diags, source, fixed_text, applied = _lint_with_fixes(shown, real, data, Run.create(settings, catalog), fix)
    return LintResult(configured(diags, settings), {shown: source}, 1, applied, fixed_text if fix else None)


def _internal_error(shown: str, err: Exception) -> Diagnostic:
    from sqlguard.rules import RULES_BY_CODE

    rule = RULES_BY_CODE["SG00"]
    return Diagnostic(rule.code, rule.name, "error", shown, Span(0, 0),
                      f"sqlguard hit an internal error on this file ({type(err).__name__}: {err}); nothing in it "
                      "was checked. Please report it.", "Run with the file alone to reproduce; the rest was linted.")


def _unreadable(shown: str, err: OSError) -> Diagnostic:
    from sqlguard.rules import RULES_BY_CODE

    rule = RULES_BY_CODE["SG02"]
    return Diagnostic(rule.code, rule.name, rule.severity, shown, Span(0, 0),
                      f"cannot read the file: {err.strerror or err}", "Check its permissions.")


def _lint_with_fixes(shown: str, real: Path | None, data: bytes, run: Run, fix: bool
                     ) -> tuple[list[Diagnostic], SourceText, str | None, int]:
    diags, source = lint_source(shown, real, data, run)
    if not fix:
        return diags, source, None, 0
    applied_total = 0
    text = source.text
    for _ in range(5):  # a fix can reveal another; stop when none applies
        fixes = [d.fix for d in diags if d.fix is not None]
        if not fixes or any(d.code in ("SG02", "SG03") for d in diags):
            break
        text, applied = apply_fixes(text, fixes)
        applied_total += applied
        diags, source = lint_source(shown, real, text.encode("utf-8", errors="surrogateescape"), run)
    return diags, source, text, applied_total


def lint_source(shown: str, real: Path | None, data: bytes, run: Run) -> tuple[list[Diagnostic], SourceText]:
    if shown.lower().endswith(PYTHON_SUFFIXES):
        return _lint_python(shown, data, run)
    from sqlguard.lint.rule import FileContext, StatementContext
    from sqlguard.schema.replay import Known, SchemaBuilder
    from sqlguard.sql.plpgsql import nested_statements

    dialect = run.dialect_of(real if real is not None else Path(shown))
    decoded = decode(data)
    source = SourceText(shown, decoded.text)
    settings, rules = run.for_dialect(dialect)
    catalog = run.catalog
    parts = split(decoded.scan_text, settings.dialect)
    migration = run.index.classify(real, decoded.text) if real is not None else None
    facts = run.history_facts(real, migration, dialect)
    state = SchemaBuilder.from_schema(facts.start, settings.dialect)
    known: Known | None = None
    if facts.history is not None or run.catalog_schema is not None:
        known = Known(state, run.catalog_schema, run.catalog_label)
    statements: list[Statement] = []
    for stmt in parts.statements:
        statements.append(stmt)
        if settings.dialect == "postgres" and stmt.kind == "sql" and stmt.keyword in ("DO", "CREATE"):
            statements.extend(nested_statements(stmt, decoded.scan_text))
    problems: tuple[SourceProblem, ...] = decoded.problems + parts.problems
    convention = migration.convention if migration is not None else None
    ctx = FileContext(shown, decoded.text, decoded.scan_text, settings, catalog, problems, statements,
                      parts.comments, migration, known, facts.leftovers,
                      facts.extra.get("integrity"), facts.extra.get("duplicates", ()),
                      facts.extra.get("newer_existing"), state=state, final=facts.final,
                      validated_later=facts.extra.get("validated_later"), last=facts.extra.get("last", False),
                      wrapped=wraps(decoded.text, settings.assume_in_transaction, convention, path=real),
                      down_wrapped=wraps(decoded.text, settings.assume_in_transaction, convention, "down", real))
    # (sqlguard's own runner leaves a wrapped migration's BEGIN and COMMIT out; other runners send them)
    ctx.transactions = file_transactions(statements, ctx.wraps, settings.dialect, convention != "sqlguard")
    raw: list[tuple[Rule, Finding, Statement | None]] = []
    stmt_rules = [r for r in rules if r.scope == "statement"]
    for i, stmt in enumerate(statements):
        if stmt.kind not in ("sql", "meta"):
            continue
        sctx = StatementContext(stmt, ctx, in_transaction=ctx.transactions.of(i).kind != "none", index=i)
        for rule in stmt_rules:
            for finding in rule.check(sctx):
                raw.append((rule, finding, stmt))
        # after the checks, which see the schema as it was before the statement
        state.apply_text(stmt)
    for rule in rules:
        if rule.scope == "file":
            for finding in rule.check(ctx):
                raw.append((rule, finding, None))
    return _suppress(raw, ctx, source, rules), source


def _lint_python(shown: str, data: bytes, run: Run) -> tuple[list[Diagnostic], SourceText]:
    """A Python file: SQL sinks and how their SQL was built (SG40), and the SQL itself (SG10, SG11)."""
    from sqlguard.lint.rule import FileContext, StatementContext
    from sqlguard.python.analysis import analyze
    from sqlguard.schema.replay import Known, SchemaBuilder

    settings = run.settings
    decoded = decode(data)
    source = SourceText(shown, decoded.text)
    analysis = analyze(decoded.text)
    known = Known(SchemaBuilder(dialect=settings.dialect), run.catalog_schema, run.catalog_label) \
        if run.catalog_schema else None
    problems = tuple(p for p in decoded.problems if p.kind in ("invalid-utf8", "nul-byte"))
    def project() -> Any:
        if run.python_files:
            return run.python_project()
        from sqlguard.python.project import ProjectIndex

        return ProjectIndex.build([(shown, data)])  # (one file, from stdin or an editor: its own callers)

    ctx = FileContext(shown, decoded.text, decoded.text, settings, run.catalog, problems, analysis.statements,
                      tuple(analysis.comments), None, known, python=analysis, project=project,
                      removals=run.code_removals)
    raw: list[tuple[Rule, Finding, Statement | None]] = []
    for stmt in analysis.statements:
        sctx = StatementContext(stmt, ctx)
        alembic = stmt.context == "python-alembic"
        for rule in run.rules:
            if rule.scope != "statement" or rule.code == "SG00" or not (alembic or rule.code in PYTHON_SQL_RULES):
                continue
            for finding in rule.check(sctx):
                # positions inside a Python string are not where SQL edits go: no autofix here
                raw.append((rule, replace(finding, fix=None), stmt))
        if known is not None:
            known.state.apply_text(stmt)
    for rule in run.rules:
        if rule.scope == "file" and rule.code in PYTHON_FILE_RULES:
            for finding in rule.check(ctx):
                raw.append((rule, finding, None))
    out = _suppress(raw, ctx, source, run.rules)
    if analysis.error is not None and settings.enabled("SG00"):
        from sqlguard.rules import RULES_BY_CODE

        rule = RULES_BY_CODE["SG00"]
        message, offset = analysis.error
        out.append(Diagnostic(rule.code, rule.name, rule.severity, shown, Span(offset, offset),
                              f"could not parse this Python file ({message}): no SQL in it was checked.",
                              "Fix the syntax error; sqlguard parses Python files but never imports or runs them."))
    return out, source


def _suppress(raw: list[tuple[Rule, Finding, Statement | None]], ctx: FileContext, source: SourceText,
              rules: list[Rule]) -> list[Diagnostic]:
    from sqlguard.lint.suppress import parse_ignores

    ignores = parse_ignores(ctx.comments, ctx.text, lambda off: source.location(off)[0])
    file_wide = [i for i in ignores if i.file_wide]
    by_line: dict[int, list[Ignore]] = {}
    for ig in ignores:
        if not ig.file_wide:
            by_line.setdefault(ig.line, []).append(ig)
    out: list[Diagnostic] = []
    for rule, f, stmt in raw:
        hit = _matching_ignore(rule.code, f, stmt, file_wide, by_line, source)
        if hit is not None:
            hit.used.add(rule.code)
            continue
        out.append(Diagnostic(rule.code, rule.name, f.severity or rule.severity, ctx.path, f.span, f.message, f.help,
                              f.fix))
    unused_rule = next((r for r in rules if r.scope == "suppression"), None)
    if unused_rule is not None:
        for finding in unused_rule.check(ignores):
            out.append(Diagnostic(unused_rule.code, unused_rule.name, unused_rule.severity, ctx.path, finding.span,
                                  finding.message, finding.help, finding.fix))
    return out


def _matching_ignore(code: str, f: Finding, stmt: Statement | None, file_wide: list[Ignore],
                     by_line: dict[int, list[Ignore]], source: SourceText) -> Ignore | None:
    for ig in file_wide:
        if ig.covers(code):
            return ig
    if not by_line:
        return None
    line = source.location(f.span.start)[0]
    lines = {line}
    above = {line - 1}
    if stmt is not None:
        first = source.location(stmt.span.start)[0]
        last = source.location(stmt.span.end)[0]
        lines.update(range(first, last + 1))
        above.add(first - 1)
    for ln in sorted(lines | above):
        for ig in by_line.get(ln, ()):
            if ig.noqa and ln != line:
                continue  # flake8's noqa covers its own line only
            if ig.covers(code) and (ln in lines or ig.own_line):
                return ig
    return None


def file_transactions(statements: list[Statement], wraps_section: Callable[[str | None], bool],
                      dialect: str, runner_sends_control: bool = True) -> Transactions[Statement]:
    """Which transaction each statement of a file runs in: the one state machine, fed by the typed reader."""
    from sqlguard.sql import ddl
    from sqlguard.sql.transactions import track

    def control(stmt: Statement) -> str | None:
        if stmt.kind != "sql" or stmt.keyword not in _CONTROL_WORDS:
            return None  # (only these can open or close a transaction: the rest is not described here)
        return ddl.describe(stmt.text, dialect).transaction

    def nested(stmt: Statement) -> str | None:
        if stmt.context == "top":
            return None
        return "function" if stmt.context == "function" else "do"

    return track(statements, control=control, section=lambda s: s.section, nested=nested, wraps=wraps_section,
                 runner_sends_control=runner_sends_control)


# The first words of the statements that open or close a transaction (BEGIN, START TRANSACTION, COMMIT,
# END, ROLLBACK, ABORT, PREPARE TRANSACTION, SAVEPOINT, RELEASE)
_CONTROL_WORDS = frozenset({"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "PREPARE", "SAVEPOINT",
                            "RELEASE"})
