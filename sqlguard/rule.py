"""What a rule is, and the contexts its check receives.

A statement rule's `check(ctx: StatementContext)` runs once per statement (nested PL/pgSQL ones
included); a file rule's `check(ctx: FileContext)` runs once per file. Checks only read their
context and yield `Finding`s: they never read files, open connections or print. Statements are
streamed one at a time so that a 20 MB file never holds more than one syntax tree.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sqlguard.diagnostic import Finding, Fix, Severity, Span
from sqlguard.sources.sql import Comment, Lexeme, Statement, lex

if TYPE_CHECKING:
    from sqlglot import exp

    from sqlguard.catalog import Catalog
    from sqlguard.config import Settings
    from sqlguard.sources.migrations import MigrationFile
    from sqlguard.sources.text import SourceProblem

# Deeper nesting is not handed to sqlglot: its compiled parser recurses per level and would hit
# the interpreter's recursion limit (raising it segfaults the compiled build). 400 parses here.
MAX_PARSE_DEPTH = 200
# Larger statements are data (INSERT … VALUES of a dump); token-level checks read their head.
MAX_PARSE_CHARS = 1_000_000
MAX_LEX_CHARS = 65_536

SECTIONS = ("Why is this bad?", "Example", "Use instead")


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    doc: str
    check: Callable[[Any], Iterator[Finding]]
    scope: Literal["statement", "file", "suppression"] = "statement"
    fixable: bool = False

    @property
    def summary(self) -> str:
        return self.doc.strip().splitlines()[0].strip()

    def section(self, title: str) -> str:
        """The text under `## title` in the docs, dedented ('' if absent)."""
        m = re.search(rf"^## {re.escape(title)}\s*\n(.*?)(?=^## |\Z)", self.doc, re.M | re.S)
        if not m:
            return ""
        lines = m.group(1).strip("\n").splitlines()
        indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
        return "\n".join(x[indent:] for x in lines).strip()


@dataclass(frozen=True)
class ParseOutcome:
    status: Literal["parsed", "opaque", "failed", "skipped"]
    tree: Any = None  # sqlglot Expression when parsed or opaque
    reason: str = ""
    offset: int | None = None  # file offset of the parse error


_log_silenced = False


def _parse(stmt: Statement, dialect: str) -> ParseOutcome:
    global _log_silenced
    if stmt.kind == "meta":
        return ParseOutcome("skipped", reason="psql meta-command")
    if stmt.depth > MAX_PARSE_DEPTH:
        return ParseOutcome("skipped", reason=f"nested {stmt.depth} parentheses deep "
                                              f"(the parser's limit is {MAX_PARSE_DEPTH})")
    if len(stmt.text) > MAX_PARSE_CHARS:
        return ParseOutcome("skipped", reason=f"{len(stmt.text) / 1e6:.1f} MB long (the parser's limit is "
                                              f"{MAX_PARSE_CHARS / 1e6:.0f} MB)")
    from sqlglot import exp
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import ErrorLevel, ParseError, TokenError

    if not _log_silenced:
        # sqlglot logs "falling back to Command" itself; that is reported as SG00 instead.
        logging.getLogger("sqlglot").setLevel(logging.CRITICAL)
        _log_silenced = True
    d = Dialect.get_or_raise(dialect)
    try:
        tokens = d.tokenize(stmt.text)
        trees = d.parser(error_level=ErrorLevel.RAISE, max_errors=1).parse(tokens, stmt.text)
    except ParseError as err:
        info = err.errors[0] if err.errors else {}
        desc = str(info.get("description") or err).splitlines()[0]
        # sqlglot's internal class and token reprs teach nothing; keep the words the user wrote.
        desc = re.sub(r" for <class '[^']+'>", "", desc)
        desc = re.sub(r"<Token token_type: [^,]+, text: ([^,]*), [^>]*>", r"`\1`", desc)
        offset = None
        if info.get("line"):
            offset = _offset_in(stmt, int(info["line"]), int(info.get("col") or 1))
        near = info.get("highlight")
        if near and f"`{near}`" not in desc:
            desc += f" near `{str(near)[:40]}`"
        return ParseOutcome("failed", reason=desc, offset=offset)
    except TokenError as err:
        return ParseOutcome("failed", reason=str(err).splitlines()[0][:200])
    except RecursionError:
        return ParseOutcome("skipped", reason="too deeply nested for the parser")
    except Exception as err:
        return ParseOutcome("failed", reason=f"the parser failed ({type(err).__name__})")
    trees = [t for t in trees if t is not None]
    if not trees:
        return ParseOutcome("failed", reason="nothing to parse")
    tree = trees[0]
    if isinstance(tree, exp.Command):
        return ParseOutcome("opaque", tree=tree)
    return ParseOutcome("parsed", tree=tree)


def _offset_in(stmt: Statement, line: int, col: int) -> int:
    """File offset of a 1-based line/column inside a statement's text (sqlglot's col is a token's end)."""
    lines = stmt.text.split("\n")
    line = max(1, min(line, len(lines)))
    pos = sum(len(x) + 1 for x in lines[: line - 1]) + max(col - 1, 0)
    return stmt.offset(min(pos, len(stmt.text)))


@dataclass
class FileContext:
    path: str
    text: str  # the file as written
    scan_text: str  # same length; NULs and template placeholders masked
    settings: Settings
    catalog: Catalog | None
    problems: tuple[SourceProblem, ...]
    statements: list[Statement]  # top-level and nested, in file order
    comments: tuple[Comment, ...]
    migration: MigrationFile | None

    @property
    def dialect(self) -> str:
        return self.settings.dialect

    def report(self, span: Span, message: str, help: str | None = None, fix: Fix | None = None) -> Finding:
        return Finding(span, message, help, fix)


@dataclass
class StatementContext:
    stmt: Statement
    file: FileContext
    _outcome: ParseOutcome | None = field(default=None, repr=False)
    _lexemes: list[Lexeme] | None = field(default=None, repr=False)

    @property
    def dialect(self) -> str:
        return self.file.settings.dialect

    @property
    def catalog(self) -> Catalog | None:
        return self.file.catalog

    @property
    def outcome(self) -> ParseOutcome:
        if self._outcome is None:
            self._outcome = _parse(self.stmt, self.dialect)
        return self._outcome

    @property
    def tree(self) -> exp.Expression | None:
        """The statement's syntax tree, or None when it did not parse to more than a Command."""
        out = self.outcome
        return out.tree if out.status == "parsed" else None

    @property
    def lexemes(self) -> list[Lexeme]:
        if self._lexemes is None:
            text = self.stmt.text
            if len(text) > MAX_PARSE_CHARS:
                text = text[:MAX_LEX_CHARS]  # a data block: its head names the target
            self._lexemes = [t for t in lex(text, self.dialect) if t.end > len(self.stmt.prefix)]
        return self._lexemes

    def words(self, count: int = 4) -> list[str]:
        """The first `count` words of the statement, upper-cased."""
        out = []
        for t in self.lexemes:
            if t.kind != "word":
                break
            out.append(t.upper)
            if len(out) == count:
                break
        return out

    def span(self, where: Span | Lexeme | exp.Expression | None = None) -> Span:
        """A file span for a lexeme, a syntax node, or the whole statement."""
        if where is None:
            return self.stmt.span
        if isinstance(where, Span):
            return where
        if isinstance(where, Lexeme):
            return Span(self.stmt.offset(where.start), self.stmt.offset(where.end))
        starts, ends = [], []
        for node in where.walk():
            meta = node.meta if hasattr(node, "meta") else None
            if meta and "start" in meta:
                starts.append(meta["start"])
                ends.append(meta["end"] + 1)
        if not starts:
            return self.stmt.span
        return Span(self.stmt.offset(min(starts)), self.stmt.offset(max(ends)))

    def source(self, span: Span) -> str:
        return self.file.text[span.start:span.end]

    def report(self, where: Span | Lexeme | exp.Expression | None, message: str, help: str | None = None,
               fix: Fix | None = None) -> Finding:
        return Finding(self.span(where), message, help, fix)
