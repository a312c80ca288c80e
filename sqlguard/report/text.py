"""The report people read: rustc/ruff-like, the offending line with carets under the span.

    migrations/0001.sql:3:6: SG20 [warning] `DROP TABLE x` fails if it does not exist.
      3 | DROP TABLE x;
        |      ^^^^^^^^
        = help: Add `IF EXISTS`.
        = fix: Insert `IF EXISTS` (fixable with --fix)

    Found 1 problem (1 warning); 1 fixable with --fix.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import TYPE_CHECKING

from sqlguard.report import source_for

if TYPE_CHECKING:
    from sqlguard.diagnostic import Diagnostic, Span
    from sqlguard.sql.text import SourceText

TAB = "    "  # what rustc shows for a tab: the caret line is built with the same width
WINDOW = 120  # characters of a long line shown around the span (dumps have lines of megabytes)

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_SEVERITY_STYLE = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "info": "\x1b[1;36m"}
_GUTTER_STYLE = "\x1b[1;34m"


def render(diagnostics: list[Diagnostic], sources: dict[str, SourceText], color: bool = False) -> str:
    blocks = [_diagnostic(d, source_for(sources, d.path), color) for d in diagnostics]
    blocks.append(summary(diagnostics, color))
    return "\n\n".join(blocks) + "\n"


def summary(diagnostics: list[Diagnostic], color: bool = False) -> str:
    if not diagnostics:
        return _paint("All checks passed.", _BOLD, color)
    counts = Counter(d.severity for d in diagnostics)
    parts = [_plural(counts[sev], sev) for sev in ("error", "warning", "info") if counts[sev]]
    line = f"Found {_plural(len(diagnostics), 'problem')} ({', '.join(parts)})"
    fixable = sum(1 for d in diagnostics if d.fix is not None)
    if fixable:
        line += f"; {fixable} fixable with --fix"
    return _paint(line + ".", _BOLD, color)


def _plural(n: int, word: str) -> str:
    if n == 1 or word == "info":  # "2 info", as ruff and eslint say it
        return f"{n} {word}"
    return f"{n} {word}s"


def _diagnostic(d: Diagnostic, source: SourceText, color: bool) -> str:
    line_no, col = source.location(d.span.start)
    style = _SEVERITY_STYLE.get(d.severity, _BOLD)
    header = (f"{_paint(_printable_message(d.path), _BOLD, color)}:{line_no}:{col}: "
              f"{_paint(d.code, style, color)} {_paint(f'[{d.severity}]', style, color)} "
              f"{_printable_message(d.message)}")
    out = [header]
    width = len(str(line_no))
    bar = _paint(" " * (width + 2) + " |", _GUTTER_STYLE, color)
    note = " " * (width + 2) + " = "
    if source.text:
        shown, start, end = _snippet(source, d.span)
        gutter = _paint(f"  {line_no:>{width}} |", _GUTTER_STYLE, color)
        out.append(f"{gutter} {shown}".rstrip())
        out.append(f"{bar} {' ' * start}{_paint('^' * max(end - start, 1), style, color)}")
    if d.help:
        out.append(f"{note}{_paint('help', _BOLD, color)}: {_printable_message(d.help)}")
    if d.fix is not None:
        what = f"{_printable_message(d.fix.message)} " if d.fix.message else ""
        out.append(f"{note}{_paint('fix', _BOLD, color)}: {what}(fixable with --fix)")
    return "\n".join(out)


def _snippet(source: SourceText, span: Span) -> tuple[str, int, int]:
    """The span's first line as displayed, and the display columns (0-based, end exclusive) to mark."""
    line_no, col = source.location(span.start)
    end_line, end_col = source.location(span.end)
    line = source.line_text(line_no)
    start = min(col - 1, len(line))
    # A span running over several lines is marked to the end of its first line.
    end = min(end_col - 1, len(line)) if end_line == line_no else len(line)
    end = max(end, start)

    prefix = suffix = ""
    if len(line) > WINDOW:
        marked = min(end - start, WINDOW - 20)  # a huge span still leaves some context before it
        lo = max(0, start - (WINDOW - marked) // 2)
        hi = min(len(line), lo + WINDOW)
        lo = max(0, hi - WINDOW)
        prefix = "…" if lo > 0 else ""
        suffix = "…" if hi < len(line) else ""
        line, start, end = line[lo:hi], start - lo, min(end, hi) - lo

    if line.isascii() and line.isprintable():  # the common case: one column per character
        return prefix + line + suffix, len(prefix) + start, len(prefix) + end
    shown = [_display(ch) for ch in line]
    display_start = _width(prefix) + sum(_width(s) for s in shown[:start])
    display_end = display_start + sum(_width(s) for s in shown[start:end])
    return prefix + "".join(shown) + suffix, display_start, display_end


def _display(ch: str) -> str:
    """How one source character is shown, so that nothing moves the caret line or the terminal."""
    if ch == "\t":
        return TAB
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # control pictures: a NUL or ESC must not reach the terminal raw
    if code == 0x7F:
        return "\u2421"
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"  # an undecodable byte kept by surrogateescape
    if unicodedata.category(ch) == "Cf":
        # BOM, zero-width and bidi controls: invisible or reordering the line (Trojan Source).
        return f"<U+{code:04X}>"
    return ch


def _width(text: str) -> int:
    """Terminal columns: wide CJK takes two, combining marks none."""
    total = 0
    for ch in text:
        if unicodedata.category(ch) in ("Mn", "Me"):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f\ud800-\udfff]")


def _printable_message(text: str) -> str:
    """A message may quote the user's names: keep its line breaks, neutralise other controls."""
    if not _CONTROLS.search(text):
        return text
    return "".join(ch if ch == "\n" else _display(ch) if ord(ch) < 0x20 or ord(ch) == 0x7F
                   or "\ud800" <= ch <= "\udfff" else ch for ch in text)


def _paint(text: str, style: str, color: bool) -> str:
    return f"{style}{text}{_RESET}" if color else text
