"""The typed reader of statements: `describe` reads a statement once into a `Description` (see
`sqlguard.sql.ddl.model`) that the replay, the rules, `rollback-gen` and `sqlguard apply` share.

PostgreSQL statements are read from PostgreSQL's own parse tree (`sqlguard.sql.pgtree`); a statement
the server's parser rejects is described by name only, from its lexemes, and marked not modelled.
MySQL and SQLite statements are read from sqlglot's tree and the lexemes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from sqlguard.sql.ddl.model import Description, Other
from sqlguard.sql.lex import Lexeme, lex
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
        toks = lex(text, dialect)
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
        return [describe(text, dialect, toks=toks)]
    parsed = pg_parse(text)
    if len(parsed.stmts) <= 1:
        return [describe(text, dialect, toks=toks, pg=parsed)]
    out: list[Description] = []
    for _kind, _node, start, end in parsed.stmts:
        part = text[start:end]
        out.append(describe(part, dialect) if part.strip() else Other(kind="other"))
    return out
