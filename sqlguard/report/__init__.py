"""Rendering diagnostics for people (text) and for machines (json, sarif, github, gitlab).

Every format is a pure function of the diagnostics, the texts they point into and the rules that
produced them; nothing here reads files or prints. Line and column are computed here, from the
character offsets the diagnostics carry, and never stored.

Every renderer returns text that ends with a newline when it is not empty, so the caller writes it
as is (`sys.stdout.write`), never with `print`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlguard.diagnostic import Span, SqlguardError
from sqlguard.sql.text import SourceText

if TYPE_CHECKING:
    from sqlguard.config import Settings
    from sqlguard.diagnostic import Diagnostic
    from sqlguard.lint.rule import Rule

FORMATS = ("text", "json", "sarif", "github", "gitlab")


def render(fmt: str, diagnostics: list[Diagnostic], sources: dict[str, SourceText],
           rules: dict[str, Rule], color: bool = False, tool_version: str = "") -> str:
    """Render `diagnostics` in `fmt`; `sources` maps each diagnostic's path to its text."""
    # Each format is imported only when asked for, so `--version` and the text path stay cheap.
    if fmt == "text":
        from sqlguard.report import text
        return text.render(diagnostics, sources, color=color)
    if fmt == "json":
        from sqlguard.report import json
        return json.render(diagnostics, sources)
    if fmt == "sarif":
        from sqlguard.report import sarif
        return sarif.render(diagnostics, sources, rules, tool_version=tool_version)
    if fmt == "github":
        from sqlguard.report import github
        return github.render(diagnostics, sources)
    if fmt == "gitlab":
        from sqlguard.report import gitlab
        return gitlab.render(diagnostics, sources)
    raise SqlguardError(f"unknown output format `{fmt}`; choose one of: {', '.join(FORMATS)}")


def source_for(sources: dict[str, SourceText], path: str) -> SourceText:
    """The text a diagnostic points into; an empty one when the caller has none.

    A diagnostic about a file that could not be read has no text: it is reported at 1:1, as
    rustc and ruff report file-level problems, rather than failing the whole report.
    """
    source = sources.get(path)
    return source if source is not None else SourceText(path, "")


def region(source: SourceText, span: Span) -> tuple[int, int, int, int]:
    """1-based (line, column, end line, end column) of a span; the end is the exclusive end offset."""
    line, col = source.location(span.start)
    end_line, end_col = source.location(span.end)
    return line, col, end_line, end_col


def fingerprints(diagnostics: list[Diagnostic], sources: dict[str, SourceText],
                 path_of: Callable[[str], str] | None = None) -> list[str]:
    """A stable fingerprint of each diagnostic (GitLab's report and the baseline share it): a hash of its
    path (as `path_of` maps it), its code, its message and the text of its line, never the line number,
    so that it survives edits elsewhere in the file. Identical findings on identical lines are told
    apart by their order."""
    import hashlib

    def digest(*parts: str) -> str:  # (NUL-separated, so that no two splits of one text collide)
        return hashlib.sha256("\0".join(parts).encode("utf-8", errors="surrogateescape")).hexdigest()

    seen: dict[str, int] = {}
    out = []
    for d in diagnostics:
        source = source_for(sources, d.path)
        line = source.location(d.span.start)[0]
        content = source.line_text(line).strip() if source.text else ""
        base = digest(path_of(d.path) if path_of is not None else d.path, d.code, d.message, content)
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else digest(base, str(seen[base])))
    return out


def scrub(text: str) -> str:
    """Replace lone surrogates (undecodable bytes kept by `surrogateescape`) with U+FFFD.

    They would make writing the report to a UTF-8 stream raise, and strict JSON readers reject them.
    """
    if text.isascii():
        return text
    return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)


def sqlguard_command(*args: str) -> str:
    """A `sqlguard …` command line to print, each argument quoted for a POSIX shell."""
    import shlex

    return " ".join(["sqlguard", *(shlex.quote(a) for a in args)])


def config_args(settings: Settings, here: Path | None = None) -> list[str]:
    """`--config PATH` when the settings came from a config file (a printed command must reach the same
    environments the run did), else nothing."""
    if settings.config_path is None:
        return []
    return ["--config", shown_path(settings.config_path, here if here is not None else Path.cwd())]


def restore_command(settings: Settings, env_name: str, path: Path, here: Path | None = None) -> str:
    """The command that puts the backup at `path` back into the environment `env_name`."""
    here = here if here is not None else Path.cwd()
    return sqlguard_command("restore", *config_args(settings, here), "--env", env_name, shown_path(Path(path), here))


def shown_path(path: Path, here: Path) -> str:
    """`path` relative to `here` when it is under it, else as given."""
    if path.is_absolute():
        for p, h in ((path, here), (path.resolve(), here.resolve())):
            if p.is_relative_to(h):
                return str(p.relative_to(h))
    return str(path)
