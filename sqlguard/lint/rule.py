"""What a rule is, and the contexts its check receives.

A statement rule's `check(ctx: StatementContext)` runs once per statement (nested PL/pgSQL ones
included); a file rule's `check(ctx: FileContext)` runs once per file. Checks only read their
context and yield `Finding`s: they never read files, open connections or print. Statements are
streamed one at a time so that a 20 MB file never holds more than one syntax tree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sqlguard.diagnostic import Finding, Fix, Severity, Span
from sqlguard.sql.ddl.model import At, Name
from sqlguard.sql.lex import Lexeme, head, lex
from sqlguard.sql.parse import ParseOutcome, parse_statement
from sqlguard.sql.split import Comment, Statement

if TYPE_CHECKING:
    from sqlglot import exp

    from sqlguard.catalog import Catalog
    from sqlguard.config import Settings
    from sqlguard.migrations.files import MigrationFile
    from sqlguard.python.analysis import PythonAnalysis
    from sqlguard.schema.model import Schema
    from sqlguard.schema.replay import Known, SchemaBuilder
    from sqlguard.schema.timeline import Leftover
    from sqlguard.sql.ddl.model import AlterTable, Description
    from sqlguard.sql.pgtree import PgParse
    from sqlguard.sql.text import SourceProblem
    from sqlguard.sql.transactions import Transactions, Tx

SECTIONS = ("Why is this bad?", "Example", "Use instead")


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    doc: str
    check: Callable[[Any], Iterator[Finding]]
    scope: Literal["statement", "file", "suppression", "live"] = "statement"
    fixable: bool = False
    group: str | None = None  # an opt-in group (`hygiene`) runs only when selected
    default: bool = True
    # The dialects whose files it checks (and fixes): the engine never runs it on another one's.
    dialects: tuple[str, ...] = ("postgres", "mysql", "sqlite")

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
    # What exists at the current statement (catalog, history, this file so far); None when there is
    # neither a catalog nor a history, which turns SG11 and SG12 off.
    known: Known | None = None
    leftovers: tuple[Leftover, ...] = ()  # SG32: what this migration's rollback leaves changed
    integrity: str | None = None  # SG36: why this migration no longer matches sqlguard.sum
    duplicates: tuple[str, ...] = ()  # SG33: other migrations with this file's version
    newer_existing: str | None = None  # SG34: the newest existing migration this added one sorts before
    python: PythonAnalysis | None = None  # for a Python file: its SQL sites (SG40)
    # for a Python file: what the project's callers pass each function's parameters
    # (`sqlguard.python.project.ProjectIndex`), read when asked
    project: Callable[[], Any] | None = None
    # for a Python file: what the project's migration histories dropped or renamed (SG41), read when asked
    removals: Callable[[], dict[tuple[str, ...], Any]] | None = None
    # The schema as this file builds it, always kept (also without catalog or history): which
    # tables this migration created itself, for rules that exempt new tables.
    state: SchemaBuilder | None = None
    wrapped: bool = False  # the runner runs this file (a dbmate file: its up section) inside one transaction
    down_wrapped: bool | None = None  # a dbmate file's down section, which has its own flag (None: as `wrapped`)
    final: Schema | None = None  # the schema at the end of this migration's history (later migrations too)
    # SG52: the constraints later migrations of the history validate, read when asked (None: the file is
    # in no history)
    validated_later: Callable[[], frozenset[str]] | None = None
    last: bool = False  # the newest migration of its history
    # which transaction each of `statements` runs in (the one state machine, `sqlguard.sql.transactions`)
    transactions: Transactions[Statement] | None = None
    # Per-file facts that several rules derive from the same statements, computed once (by key).
    memo: dict[str, Any] = field(default_factory=dict)

    def wraps(self, section: str | None) -> bool:
        """Whether the runner runs this section of the file (None: the whole file) inside one transaction."""
        if section == "down" and self.down_wrapped is not None:
            return self.down_wrapped
        return self.wrapped

    def created_here(self, table: str, views: bool = False) -> bool:
        """Whether `table` (or, with `views`, a view of that name) was created earlier in this file:
        locking it blocks nobody.

        The names are collected incrementally from the replay's effects, so a dump of thousands of
        tables does not rescan every effect for every statement.
        """
        if self.state is None:
            return False
        seen = self.memo.setdefault("created_here", {"count": 0, "tables": set(), "views": set()})
        effects = self.state.effects
        for e in effects[seen["count"]:]:
            if e.kind in ("create table", "create view"):
                seen["tables" if e.kind == "create table" else "views"].add(e.target.rsplit(".", 1)[-1].lower())
        seen["count"] = len(effects)
        low = table.lower()
        return low in seen["tables"] or (views and low in seen["views"])

    @property
    def dialect(self) -> str:
        return self.settings.dialect

    def ddl(self, i: int) -> Description:
        """The description of statement `i` (the typed reader's, from its memo: the engine's loop read the
        statements just before this one). Not kept per file, so that a dump of 100,000 statements does not
        hold 100,000 descriptions: a rule that looks around a whole file builds one compact index of it
        (`sqlguard.lint.facts`) or walks it with the engine's loop (SG58)."""
        from sqlguard.sql.ddl import describe

        return describe(self.statements[i].text, self.dialect)

    def is_rollback(self, section: str | None) -> bool:
        """A down migration or a down section: run by hand to undo a release (as strong_migrations leaves
        `down` unchecked by default)."""
        return section == "down" or getattr(self.migration, "role", None) == "down"

    def report(self, span: Span, message: str, help: str | None = None, fix: Fix | None = None,
               severity: Severity | None = None) -> Finding:
        return Finding(span, message, help, fix, severity)


@dataclass
class StatementContext:
    stmt: Statement
    file: FileContext
    in_transaction: bool = False  # the runner's wrapping transaction, or an explicit BEGIN … COMMIT
    index: int = -1  # the statement's place in `file.statements`
    _outcome: ParseOutcome | None = field(default=None, repr=False)
    _lexemes: list[Lexeme] | None = field(default=None, repr=False)
    _ddl: Description | None = field(default=None, repr=False)
    _pg: PgParse | None = field(default=None, repr=False)

    @property
    def dialect(self) -> str:
        return self.file.settings.dialect

    @property
    def catalog(self) -> Catalog | None:
        return self.file.catalog

    @property
    def outcome(self) -> ParseOutcome:
        if self._outcome is None:
            self._outcome = parse_statement(self.stmt, self.dialect)
        return self._outcome

    @property
    def tx(self) -> Tx | None:
        """The transaction the statement runs in (None outside a linted file's statements)."""
        txs = self.file.transactions
        return txs.of(self.index) if txs is not None and 0 <= self.index < len(txs.txs) else None

    @property
    def pg(self) -> PgParse | None:
        """PostgreSQL's parse of the statement (None for other dialects and for what is not SQL)."""
        if self._pg is None:
            if self.dialect != "postgres" or self.stmt.kind != "sql":
                return None
            from sqlguard.sql.pgtree import parse

            self._pg = parse(self.stmt.text)
        return self._pg

    @property
    def ddl(self) -> Description:
        """What the statement is and does: the typed reader's description of it."""
        if self._ddl is None:
            from sqlguard.sql.ddl import describe

            def tree() -> Any:
                out = self.outcome
                return out.tree if out.status == "parsed" else None

            self._ddl = describe(self.stmt.text, self.dialect, tree=tree, pg=self.pg)
        return self._ddl

    @property
    def tree(self) -> exp.Expression | None:
        """The statement's syntax tree, or None when it did not parse to more than a Command."""
        out = self.outcome
        return out.tree if out.status == "parsed" else None

    @property
    def lexemes(self) -> list[Lexeme]:
        if self._lexemes is None:
            self._lexemes = [t for t in lex(head(self.stmt.text), self.dialect) if t.end > len(self.stmt.prefix)]
        return self._lexemes

    def words(self, count: int = 4) -> list[str]:
        """The first `count` words of the statement, upper-cased (up to the first non-word)."""
        out = []
        for t in self.lexemes:
            if t.kind != "word":
                break
            out.append(t.upper)
            if len(out) == count:
                break
        return out

    @property
    def runs_now(self) -> bool:
        """A PostgreSQL statement that runs when the migration runs (not a function body run later)."""
        return self.dialect == "postgres" and self.stmt.context in ("top", "do", "python-alembic")

    def altered_table(self) -> AlterTable | None:
        """The ALTER TABLE this statement is, when it runs with the migration on a table in use: not one
        (nor a view) created earlier in this file, which is empty and nobody uses yet. None otherwise."""
        from sqlguard.sql.ddl.model import AlterTable

        if not self.runs_now or self.stmt.kind != "sql" or self.stmt.keyword != "ALTER" or self.rejected:
            return None
        d = self.ddl
        if not isinstance(d, AlterTable) or d.relkind != "table" or self.file.created_here(d.name.name, views=True):
            return None
        return d

    @property
    def in_rollback(self) -> bool:
        """A down migration or a down section: run by hand to undo a release."""
        return self.stmt.section == "down" or getattr(self.file.migration, "role", None) == "down"

    @property
    def rejected(self) -> bool:
        """PostgreSQL's parser rejects the statement (SG00's finding): other rules leave it alone."""
        pg = self.pg
        return pg is not None and not pg.ok

    def span(self, where: Span | Lexeme | At | exp.Expression | None = None) -> Span:
        """A file span for a lexeme, a position in the statement, a syntax node, or the whole statement."""
        if where is None:
            return self.stmt.span
        if isinstance(where, Span):
            return where
        if isinstance(where, At):
            a, b = self.stmt.offset(where.start), self.stmt.offset(max(where.end - 1, where.start)) + 1
            return Span(min(a, b), max(a, b))
        if isinstance(where, Lexeme):
            # the end is one past the last character, which may sit in another piece of mapped text
            a, b = self.stmt.offset(where.start), self.stmt.offset(max(where.end - 1, where.start)) + 1
            return Span(min(a, b), max(a, b))
        starts, ends = [], []
        for node in where.walk():
            meta = node.meta if hasattr(node, "meta") else None
            if meta and "start" in meta:
                starts.append(meta["start"])
                ends.append(meta["end"] + 1)
        if not starts:
            return self.stmt.span
        a, b = self.stmt.offset(min(starts)), self.stmt.offset(max(ends) - 1) + 1
        return Span(min(a, b), max(a, b))

    def written(self, where: Span | Lexeme | At | None, last: Span | Lexeme | At | None = None) -> str:
        """Text as the file has it (white space folded, template placeholders included): a name or any
        stretch of the statement, for messages that users can paste back."""
        if where is None:
            return ""
        span = self.cover(where, last) if last is not None else self.span(where)
        return " ".join(self.source(span).split())

    def name(self, name: Name | None) -> str:
        """A name for messages: as the file writes it where the reader knows its position, else as SQL."""
        if name is None:
            return "?"
        if name.at is None or self.stmt.anchors or self.stmt.context.startswith("python"):
            return name.sql
        return self.written(name.at) or name.sql

    def column(self, table: Name, column: str) -> str:
        """`table.column` for messages, the table as the file writes it."""
        from sqlguard.sql.ddl.model import quote

        return f"{self.name(table)}.{quote(column)}"

    def cover(self, first: Span | Lexeme | At | exp.Expression, last: Span | Lexeme | At | exp.Expression) -> Span:
        """The span from `first` to `last` (in either order: SQL found in code maps back unevenly)."""
        a, b = self.span(first), self.span(last)
        return Span(min(a.start, b.start), max(a.end, b.end))

    def source(self, span: Span) -> str:
        return self.file.text[span.start:span.end]

    def report(self, where: Span | Lexeme | At | exp.Expression | None, message: str, help: str | None = None,
               fix: Fix | None = None, severity: Severity | None = None) -> Finding:
        return Finding(self.span(where), message, help, fix, severity)
