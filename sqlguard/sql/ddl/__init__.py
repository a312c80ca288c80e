"""The typed reader of statements: `describe` reads a statement once into a `Description` (see
`sqlguard.sql.ddl.model`) that the replay, the rules, `rollback-gen` and `sqlguard apply` share.

PostgreSQL statements are read from PostgreSQL's own parse tree (`sqlguard.sql.pgtree`); a statement
the server's parser rejects is described by name only, from its lexemes, and marked not modelled.
MySQL and SQLite statements are read from sqlglot's tree and the lexemes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlguard.postgres.types import PgType, parse_type
from sqlguard.sql.ddl.model import At, Description, Name, Other, Rename, TypeRef
from sqlguard.sql.lex import Lexeme, head, lex
from sqlguard.sql.pgtree import PgParse
from sqlguard.sql.pgtree import parse as pg_parse


def describe(text: str, dialect: str, *, toks: Sequence[Lexeme] | None = None,
             tree: Callable[[], Any] | None = None, pg: PgParse | None = None) -> Description:
    """What the statement `text` is and does. `toks`: its lexemes (lexed when not given); `tree`: how
    to get sqlglot's tree of it, for MySQL and SQLite; `pg`: PostgreSQL's parse of it (parsed when
    not given). Remembered by text, for the lint of a file the replay of its history read first."""
    key = (text, dialect)
    found = _memo.get(key)
    if found is not None:
        _memo.move_to_end(key)
        return found
    found = _describe(text, dialect, toks, tree, pg)
    _memo[key] = found
    if len(_memo) > _MEMO_MAX:
        _memo.popitem(last=False)
    return found


_MEMO_MAX = 4096
_memo: OrderedDict[tuple[str, str], Description] = OrderedDict()


def _describe(text: str, dialect: str, toks: Sequence[Lexeme] | None, tree: Callable[[], Any] | None,
              pg: PgParse | None) -> Description:
    if toks is None:
        toks = lex(head(text), dialect)
    if dialect == "postgres":
        from sqlguard.sql.ddl import generic, postgres

        parsed = pg if pg is not None else pg_parse(text)
        if parsed.ok:
            return postgres.describe(text, toks, parsed)
        # rejected (or too large to parse): its names only, so that one broken statement does not make
        # every later use of what it creates look unknown
        found = generic.describe(text, toks, None, dialect)
        return replace(found, modelled=False, unmodelled="a statement PostgreSQL's parser rejects") \
            if found.kind in ("create table", "create view", "create index", "alter table") else found
    from sqlguard.sql.ddl import generic

    return generic.describe(text, toks, tree() if tree is not None else _sqlglot_tree(text, dialect, toks), dialect)


def _sqlglot_tree(text: str, dialect: str, toks: Sequence[Lexeme]) -> Any:
    """sqlglot's tree of a statement of another dialect (None when it cannot read it)."""
    from sqlguard.diagnostic import Span
    from sqlguard.sql.parse import parse_statement
    from sqlguard.sql.split import Statement

    depth = max((t.depth for t in toks), default=0) + 1
    outcome = parse_statement(Statement(Span(0, len(text)), text, depth), dialect, keep=True)
    return outcome.tree if outcome.status == "parsed" else None


def describe_all(text: str, dialect: str, toks: Sequence[Lexeme] | None = None) -> list[Description]:
    """Every statement of a runner's block (a goose `StatementBegin` … `StatementEnd`): PostgreSQL's
    parser reads several statements from one text; other dialects' blocks are one description."""
    if dialect != "postgres":
        first = describe(text, dialect, toks=toks)
        if isinstance(first, Rename) and first.object == "table":  # MySQL: RENAME TABLE a TO b, c TO d
            from sqlguard.sql.ddl.generic import describe_renames

            pairs = describe_renames(text, toks if toks is not None else lex(head(text), dialect))
            return [replace(r, references=first.references) for r in pairs] if len(pairs) > 1 else [first]
        return [first]
    parsed = pg_parse(text)
    if len(parsed.stmts) <= 1:
        return [describe(text, dialect, toks=toks, pg=parsed)]
    out: list[Description] = []
    for _kind, _node, start, end in parsed.stmts:
        part = text[start:end]
        out.append(describe(part, dialect) if part.strip() else Other(kind="other"))
    return out


def check_not_null_of(definition: str) -> str | None:
    """The column of a CHECK constraint's definition (`CHECK (email IS NOT NULL)`) that is exactly
    `column IS NOT NULL`, read as the typed reader reads an added constraint; None otherwise."""
    from sqlguard.sql.ddl.model import AlterTable

    found = describe(f"ALTER TABLE sqlguard_check ADD {definition}", "postgres")
    if isinstance(found, AlterTable) and found.actions and found.actions[0].constraint is not None:
        return found.actions[0].constraint.not_null_of
    return None


# (the generic reader names what it does not model `create function`, `create trigger`, …)
_ROUTINES = frozenset({"create trigger", "create function", "create procedure", "create event"})


def in_routine(d: Description, context: str) -> bool:
    """A function, procedure, trigger or event body (or the statement that creates one): the tables it
    names are looked up when it runs, not when the migration runs. `context` is the statement's."""
    from sqlguard.sql.ddl.model import CreateRoutine

    if context == "function":
        return True
    return isinstance(d, CreateRoutine) or d.node == "CreateEventTrigStmt" or d.kind in _ROUTINES


@dataclass(frozen=True)
class Declared:
    """A column as a statement declares it: in CREATE TABLE, ADD COLUMN, or ALTER COLUMN … TYPE."""

    table: Name
    name: str
    name_at: At | None
    type: TypeRef
    parsed: PgType  # the type in the one type model
    primary_key: bool  # its own PRIMARY KEY, or one of the table's PRIMARY KEY (…) columns
    references: bool  # its own REFERENCES, or one of a FOREIGN KEY (…)'s columns
    altered: bool  # ALTER COLUMN … TYPE (not a new column)

    @property
    def at(self) -> At | None:
        """From the column's name to the end of its type."""
        if self.name_at is None or self.type.at is None:
            return self.type.at or self.name_at
        return At(min(self.name_at.start, self.type.at.start), max(self.name_at.end, self.type.at.end))


def declared_columns(d: Description) -> list[Declared]:
    """The columns a CREATE TABLE or ALTER TABLE declares, with their types (what the hygiene rules SG60–SG64
    each judge)."""
    from sqlguard.sql.ddl.model import AlterTable, ColumnDef, CreateTable

    out: list[Declared] = []

    def typed(table: Name, col: ColumnDef, type_: TypeRef | None, pk: bool, fk: bool, altered: bool) -> None:
        parsed = parse_type(type_.text) if type_ is not None and type_.known else None
        if type_ is not None and parsed is not None:
            out.append(Declared(table, col.name, col.name_at, type_, parsed, pk or col.has("primary key") is not None,
                                fk or col.has("foreign key") is not None, altered))

    if isinstance(d, CreateTable):
        pk = {c for k in d.constraints if k.kind == "primary key" for c in k.columns}
        fk = {c for k in d.constraints if k.kind == "foreign key" for c in k.columns}
        for col in d.columns:
            typed(d.name, col, col.type, col.name in pk, col.name in fk, False)
    elif isinstance(d, AlterTable) and d.relkind == "table":
        for action in d.actions:
            if action.kind == "AT_AddColumn" and action.column_def is not None:
                typed(d.name, action.column_def, action.column_def.type, False, False, False)
            elif action.kind == "AT_AlterColumnType" and action.column is not None:
                typed(d.name, ColumnDef(action.column, action.type, name_at=action.column_at), action.type, False,
                      False, True)
    return out

