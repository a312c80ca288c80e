"""The sqlfluff plugin: `sqlfluff lint`, and every editor that runs it, reports sqlguard's rules.

It adapts and reimplements nothing: each sqlguard rule becomes one sqlfluff rule class with the
same four-character code (`SG20`), whose `_eval` runs once on the root segment, asks the sqlguard
engine for the file's diagnostics (one engine run per file, shared by all the classes) and returns
those of its code, anchored at the raw segment that covers the diagnostic's start.

- Selection is sqlfluff's: `rules = SG10,SG20`, `exclude_rules = SG21`, the group `sqlguard`, the
  names (`sqlguard.unconditional_drop`). An opt-in sqlguard rule (a `hygiene` one) reports only when
  its code, name or group is named in `rules`, as `select` works in sqlguard's own config.
- `-- noqa: SG20` is sqlfluff's (by code, see `_without_noqa`); `-- sqlguard: ignore SG20` is
  sqlguard's and applies as well.
- The catalog is `catalog` under `[sqlfluff:rules:sqlguard]`, else that of sqlguard's own config
  (pyproject.toml / sqlguard.yaml), found from the file's path like the CLI finds it. The rest of
  sqlguard's config (migrations, convention, pg-version, exclude) applies too; `select`/`ignore` do
  not, sqlfluff's selection replaces them.
- The dialect follows sqlfluff's when it is one sqlguard reads (postgres, mysql, sqlite).

sqlfluff loads this module through the `sqlfluff` entry point group; it is never imported otherwise.
"""

from __future__ import annotations

import bisect
import functools
import re
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlfluff.core.plugin import hookimpl

if TYPE_CHECKING:
    from sqlfluff.core.parser import BaseSegment
    from sqlfluff.core.rules import BaseRule, LintResult, RuleContext

    from sqlguard.diagnostic import Diagnostic
    from sqlguard.lint.engine import Run
    from sqlguard.lint.rule import Rule

CONFIG_SECTION = "sqlguard"  # [sqlfluff:rules:sqlguard], shared by every sqlguard rule
GROUP = "sqlguard"
# sqlfluff gives a rule no signal where one lint run ends, so what is shared across files (the
# engine's Run, with its replayed migration histories) lives this long: enough for the files of one
# `sqlfluff lint`, short enough that a long-lived process sees edits to the other migrations.
REUSE_SECONDS = 10.0
_NOQA = re.compile(r"(--|#)[ \t]*noqa\b[^\r\n]*", re.I)


@hookimpl
def get_rules() -> list[type[BaseRule]]:
    """One sqlfluff rule class per sqlguard rule (built on first use, after plugins are loaded)."""
    return list(_rule_classes().values())


@hookimpl
def load_default_config() -> dict[str, Any]:
    from sqlfluff.core.config import load_config_resource

    return load_config_resource(package="sqlguard", file_name="sqlfluff_default_config.cfg")


@hookimpl
def get_configs_info() -> dict[str, dict[str, Any]]:
    return {
        "catalog": {
            "definition": "sqlguard's rule catalog (YAML). Relative paths are looked up from the linted "
                          "file's folder upwards, then from the current folder. Unset: the `catalog` of "
                          "sqlguard's own config.",
        },
    }


@functools.cache
def _rule_classes() -> dict[str, type[BaseRule]]:
    # Cached: sqlfluff asks for the rules once per file, and pickling a rule (parallel runs) looks
    # its class up by name in this module (see `__getattr__`), which must give the same class.
    from sqlguard.rules import ALL_RULES

    return {f"Rule_{r.code}": _rule_class(r) for r in ALL_RULES}


def __getattr__(name: str) -> type[BaseRule]:
    """`sqlguard.sqlfluff_plugin.Rule_SG20`: how pickle finds a generated class again."""
    if name.startswith("Rule_SG"):
        classes = _rule_classes()
        if name in classes:
            return classes[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _rule_class(rule: Rule) -> type[BaseRule]:
    import inspect

    from sqlfluff.core.rules.base import BaseRule, RuleMetaclass
    from sqlfluff.core.rules.crawlers import RootOnlyCrawler

    doc = inspect.cleandoc(rule.doc)
    summary, _, rest = doc.partition("\n")
    # sqlfluff formats the description with the rule's config (`str.format`): braces are literal here.
    summary = summary.replace("{", "{{").replace("}", "}}")
    groups: tuple[str, ...] = ("all", GROUP)
    if rule.group is not None:
        groups += (f"{GROUP}.{rule.group}",)
    name = f"Rule_{rule.code}"
    namespace: dict[str, Any] = {
        "__doc__": f"{summary}\n{rest}",
        "__module__": __name__,
        "__qualname__": name,
        "name": f"{GROUP}.{rule.name.replace('-', '_')}",
        "groups": groups,
        "config_keywords": ["catalog"],
        # Once per file, on the root; parse errors do not stop sqlguard, which has its own parser.
        "crawl_behaviour": RootOnlyCrawler(works_on_unparsable=True),
        "is_fix_compatible": False,  # `sqlguard lint --fix` applies sqlguard's fixes
        "sqlguard_code": rule.code,
        "sqlguard_opt_in": not rule.default,
        "get_config_ref": classmethod(_config_ref),
        "_eval": _eval,
    }
    # sqlfluff's metaclass reads the code from the class name (`Rule_SG20`) and the description
    # from the docstring's first line.
    return cast("type[BaseRule]", RuleMetaclass(name, (BaseRule,), namespace))  # type: ignore[arg-type]


def _config_ref(cls: type[BaseRule]) -> str:
    """Every sqlguard rule reads one section, `[sqlfluff:rules:sqlguard]`, not one per rule."""
    return CONFIG_SECTION


def _eval(self: Any, context: RuleContext) -> list[LintResult] | None:
    from sqlfluff.core.rules import LintResult

    if self.sqlguard_opt_in and not _explicitly_selected(self, context.config.get("rule_allowlist") or []):
        return None
    root = context.segment
    text = context.templated_file.source_str if context.templated_file is not None else root.raw
    entry = _CACHE.result(_path_of(context), text, getattr(context.dialect, "name", None), self.catalog)
    results = []
    if entry.error is not None and entry.claim_error():
        results.append(LintResult(anchor=_first_segment(root), description=entry.error))
    diagnostics = entry.by_code.get(self.sqlguard_code, ())
    if diagnostics:
        anchors = entry.anchors(root)
        for d in diagnostics:
            message = d.message if not d.help else f"{d.message} ({d.help})"
            results.append(LintResult(anchor=anchors.covering(d.span.start, d.span.end), description=message))
    return results or None


def _explicitly_selected(rule: Any, allowlist: list[str]) -> bool:
    """An opt-in rule runs when `rules` names it (code, name, its group, or a glob like `SG5*`)."""
    import fnmatch

    own = {rule.code, rule.name, *(g for g in rule.groups if g not in ("all", GROUP))}
    for ref in allowlist:
        if ref in own:
            return True
        if len(ref.rstrip("*?")) >= 3 and fnmatch.fnmatch(rule.code, ref):
            return True
    return False


def _path_of(context: RuleContext) -> Path | None:
    """The linted file. sqlfluff names standard input `stdin`, also with `--stdin-filename`; the
    real name survives only on its command line, and sqlguard needs it (config, migration history)."""
    path = context.path
    if path is not None and str(path) != "stdin":
        return path
    argv = sys.argv[1:]
    for i, arg in enumerate(argv):
        if arg == "--stdin-filename" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--stdin-filename="):
            return Path(arg.split("=", 1)[1])
    return None


def _first_segment(root: BaseSegment) -> BaseSegment:
    return next((s for s in root.raw_segments if not s.is_meta), root)


class _Anchors:
    """The raw segments of one parse tree, by where they start in the source file."""

    def __init__(self, root: BaseSegment) -> None:
        self.root = root
        self.starts: list[int] = []
        self.segments: list[BaseSegment] = []
        for seg in root.raw_segments:
            marker = seg.pos_marker
            if seg.is_meta or marker is None:
                continue
            source = marker.source_slice
            if source.stop <= source.start and seg.raw:
                continue  # rendered from nothing in the source
            if self.starts and source.start < self.starts[-1]:
                continue  # a template loop renders the same source again: keep the first
            self.starts.append(source.start)
            self.segments.append(seg)

    def covering(self, offset: int, end: int) -> BaseSegment:
        """Where to report a finding at `offset`..`end`: the raw segment holding `offset` (else the
        nearest one before it; the root when there is none), narrowed to the finding's own text.

        One raw segment can span many lines (a `DO $$ … $$` body is one literal, a block comment is
        one comment): reporting at its start would point lines away from a statement inside it."""
        if not self.segments:
            return self.root
        i = bisect.bisect_right(self.starts, offset) - 1
        seg = self.segments[max(i, 0)]
        return _narrowed(seg, offset, end) or seg


def _narrowed(seg: BaseSegment, offset: int, end: int) -> BaseSegment | None:
    """A segment for `offset`..`end` (clipped to `seg`) with its exact position, when `seg` is text
    copied from the source unchanged (not a template's output); None otherwise."""
    from sqlfluff.core.parser import PositionMarker, RawSegment

    marker = seg.pos_marker
    if marker is None:
        return None
    source, templated, file = marker.source_slice, marker.templated_slice, marker.templated_file
    if not source.start < offset < source.stop:
        return None  # already exact, or outside the segment
    if file.source_str[source] != file.templated_str[templated]:
        return None  # rendered by a template: source offsets do not carry over
    stop = min(max(end, offset + 1), source.stop)
    shift = templated.start - source.start
    position = PositionMarker(slice(offset, stop), slice(offset + shift, stop + shift), file)
    return RawSegment(file.source_str[offset:stop], position)


@dataclass
class _FileResult:
    by_code: dict[str, list[Diagnostic]]
    error: str | None = None  # sqlguard could not lint the file: reported once, by the first rule
    created: float = field(default_factory=time.monotonic)
    _error_claimed: bool = False
    _anchors: _Anchors | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def claim_error(self) -> bool:
        with self._lock:
            claimed, self._error_claimed = self._error_claimed, True
            return not claimed

    def anchors(self, root: BaseSegment) -> _Anchors:
        with self._lock:
            if self._anchors is None or self._anchors.root is not root:
                self._anchors = _Anchors(root)
            return self._anchors


class _Cache:
    """What the N rule classes of one file share: the engine's result for the file's text.

    sqlfluff builds one rule object per code and per file and gives them no common place, so the
    result is kept here, keyed by the file's path and text and the options that change the result.
    Bounded, and only reused for REUSE_SECONDS (see there)."""

    SIZE = 32

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: OrderedDict[tuple[Any, ...], _FileResult] = OrderedDict()
        self._runs: OrderedDict[tuple[Any, ...], tuple[float, Run]] = OrderedDict()

    def result(self, path: Path | None, text: str, dialect: str | None, catalog: str | None) -> _FileResult:
        key = (str(path) if path is not None else None, text, dialect, catalog)
        now = time.monotonic()
        with self._lock:
            hit = self._files.get(key)
            if hit is not None and now - hit.created < REUSE_SECONDS:
                self._files.move_to_end(key)
                return hit
        entry = self._lint(path, text, dialect, catalog)
        with self._lock:
            self._files[key] = entry
            while len(self._files) > self.SIZE:
                self._files.popitem(last=False)
        return entry

    def _lint(self, path: Path | None, text: str, dialect: str | None, catalog: str | None) -> _FileResult:
        from sqlguard.diagnostic import SqlguardError
        from sqlguard.lint.engine import discover, lint_source

        try:
            settings = _settings(path, dialect, catalog)
            if path is not None and path.is_file() and not discover([str(path)], settings):
                return _FileResult({})  # sqlguard's `exclude` skips it
            run = self._run(settings)
            shown = str(path) if path is not None else "stdin"
            data = _without_noqa(text).encode("utf-8", errors="surrogateescape")
            diagnostics, _ = lint_source(shown, path, data, run)
        except SqlguardError as err:
            return _FileResult({}, f"sqlguard could not lint this file: {err}")
        except Exception as err:  # a crash must not take sqlfluff's other rules down with it
            return _FileResult({}, f"sqlguard hit an internal error on this file ({type(err).__name__}: {err}); "
                                   "nothing in it was checked. Please report it.")
        by_code: dict[str, list[Diagnostic]] = {}
        for d in sorted(diagnostics, key=lambda d: d.sort_key):
            by_code.setdefault(d.code, []).append(d)
        return _FileResult(by_code)

    def _run(self, settings: Any) -> Run:
        from sqlguard.catalog import load_catalog
        from sqlguard.lint.engine import Run

        stamp = None
        if settings.catalog is not None:
            try:
                stamp = settings.catalog.stat().st_mtime_ns
            except OSError:
                stamp = None  # load_catalog reports it
        key = (settings, stamp)
        now = time.monotonic()
        with self._lock:
            hit = self._runs.get(key)
            if hit is not None and now - hit[0] < REUSE_SECONDS:
                return hit[1]
        catalog = load_catalog(settings.catalog) if settings.catalog is not None else None
        run = Run.create(settings, catalog)
        with self._lock:
            self._runs[key] = (now, run)
            while len(self._runs) > 4:
                self._runs.popitem(last=False)
        return run


def _without_noqa(text: str) -> str:
    """The text with each `-- noqa…` comment blanked (same length, so offsets hold).

    Under sqlfluff, `noqa` is sqlfluff's: it suppresses by code (and knows `disable=`/`enable=`
    ranges and `--disable-noqa`), and counts a noqa as used only when it suppressed something, which
    it cannot when sqlguard already dropped the finding. `-- sqlguard: ignore` stays sqlguard's."""
    if "noqa" not in text.lower():
        return text
    return _NOQA.sub(lambda m: m.group(1) + " " * (len(m.group(0)) - len(m.group(1))), text)


def _settings(path: Path | None, dialect: str | None, catalog: str | None) -> Any:
    """sqlguard's settings for a file: its own config, then what sqlfluff's config says."""
    from sqlguard.config import load_settings
    from sqlguard.rules import ALL_RULES
    from sqlguard.sql.reading import FROM_TOOLS

    settings = load_settings(None, [path] if path is not None else [])
    # sqlfluff selects the rules: run them all (opt-in ones too), each class reports its own code.
    changes: dict[str, Any] = {"select": tuple(r.code for r in ALL_RULES), "ignore": ()}
    if dialect in FROM_TOOLS:
        changes["dialect"] = FROM_TOOLS[dialect]
    if catalog:
        changes["catalog"] = _find_catalog(str(catalog), path)
    return replace(settings, **changes)


def _find_catalog(value: str, path: Path | None) -> Path:
    """A relative `catalog` in a sqlfluff config: from the file's folder upwards, then the current one.

    sqlfluff resolves only keys named `*_path`/`*_dir` against the config file that sets them, and
    does not tell a rule which file that was."""
    given = Path(value).expanduser()
    if given.is_absolute():
        return given
    folders: list[Path] = []
    if path is not None:
        here = path.resolve().parent
        folders.extend((here, *here.parents))
    folders.append(Path.cwd())
    for folder in folders:
        if (folder / given).is_file():
            return (folder / given).resolve()
    return (Path.cwd() / given).resolve()  # missing: load_catalog says so, with this path


_CACHE = _Cache()
