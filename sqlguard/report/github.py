"""GitHub Actions workflow commands: each diagnostic becomes an annotation on the pull request.

    ::warning file=m/0001.sql,line=3,col=6,endLine=3,endColumn=14,title=SG20 unconditional-drop::…
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlguard.report import region, scrub, source_for

if TYPE_CHECKING:
    from sqlguard.diagnostic import Diagnostic
    from sqlguard.sql.text import SourceText

LEVELS = {"error": "error", "warning": "warning", "info": "notice"}


def render(diagnostics: list[Diagnostic], sources: dict[str, SourceText]) -> str:
    return "".join(command(d, source_for(sources, d.path)) + "\n" for d in diagnostics)


def command(d: Diagnostic, source: SourceText) -> str:
    line, col, end_line, end_col = region(source, d.span)
    props = [("file", d.path), ("line", str(line))]
    # GitHub accepts columns only when the annotation starts and ends on the same line.
    if end_line == line:
        props += [("col", str(col)), ("endLine", str(end_line)), ("endColumn", str(end_col))]
    else:
        props.append(("endLine", str(end_line)))
    props.append(("title", f"{d.code} {d.name}"))
    message = d.message if not d.help else f"{d.message}\nhelp: {d.help}"
    fields = ",".join(f"{key}={escape_property(value)}" for key, value in props)
    return f"::{LEVELS.get(d.severity, 'warning')} {fields}::{escape_data(message)}"


def escape_data(text: str) -> str:
    """Escape a command's message, as @actions/core does (`%` first, or its escapes get escaped)."""
    return scrub(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property value: also `:` and `,`, which end the value early otherwise."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")
