"""The tables a statement names, and how it names them: shared by SG10 (forbidden-table), SG11
(unknown-table) and SG12 (unknown-reference), which ask different questions of the same references.

From the syntax tree when sqlglot gives one; from lexemes when it does not (the token path finds
names after FROM, JOIN, INTO, UPDATE, TABLE, REFERENCES, and ON where ON names a table).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from sqlguard.lint.rule import StatementContext
from sqlguard.sql.lex import Lexeme

_TABLE_KINDS = {"TABLE", "VIEW", "MATERIALIZED VIEW", "FOREIGN TABLE"}


@dataclass(frozen=True)
class TableRef:
    where: Any  # a syntax node or a Lexeme, for ctx.report
    schema: str | None
    name: str
    role: Literal["ref", "create", "fk", "drop", "alter"]
    conditional: bool = False  # DROP … IF EXISTS / ALTER TABLE IF EXISTS: absence is expected
    columns: tuple[str, ...] = ()  # for "fk": the referenced columns


def in_routine(ctx: StatementContext) -> bool:
    """A function, procedure, trigger or event body: its tables are looked up when it runs."""
    if ctx.stmt.context == "function":
        return True
    words = ctx.words(6)
    return bool(words) and words[0] == "CREATE" and bool(
        {"FUNCTION", "PROCEDURE", "TRIGGER", "EVENT"} & set(words[1:6]))


def table_refs(ctx: StatementContext) -> Iterator[TableRef]:
    tree = ctx.tree
    if tree is not None:
        yield from _tree_refs(ctx, tree)
    else:
        yield from _token_refs(ctx)


def _tree_refs(ctx: StatementContext, tree: Any) -> Iterator[TableRef]:
    from sqlglot import exp

    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    in_body = ctx.stmt.context in ("do", "function")
    for table in tree.find_all(exp.Table):
        ident = table.this
        if not isinstance(ident, exp.Identifier):
            continue  # a table function such as generate_series(…)
        parent = table.parent
        kind = str(parent.args.get("kind") or "").upper() if parent is not None else ""
        if isinstance(parent, (exp.Create, exp.Drop)) and kind not in _TABLE_KINDS:
            continue  # an index, sequence, type, schema or constraint that happens to share the name
        if isinstance(parent, (exp.Grant, exp.Revoke, exp.Comment)) and kind and kind not in _TABLE_KINDS:
            continue  # GRANT … ON SCHEMA public, COMMENT ON INDEX …: not a table
        if isinstance(parent, (exp.Grant, exp.Revoke)) and not any(t.upper == "ON" for t in ctx.lexemes):
            continue  # GRANT role TO role: no table involved
        if isinstance(parent, (exp.UserDefinedFunction, exp.Opclass)):
            continue  # a function's name, or an index's operator class (`name text_pattern_ops`)
        if in_body and isinstance(parent, exp.Into):
            continue  # PL/pgSQL `SELECT … INTO variable`
        name = ident.name if ident.args.get("quoted") else ident.name.lower()
        schema = table.db or None
        if schema is None and name.lower() in ctes:
            continue
        role: Literal["ref", "create", "fk", "drop", "alter"] = "ref"
        conditional = False
        columns: tuple[str, ...] = ()
        if isinstance(parent, (exp.Create, exp.AlterRename)) or (
                isinstance(parent, exp.Schema) and isinstance(parent.parent, exp.Create) and parent.this is table):
            role = "create"
        elif isinstance(parent, exp.Drop):
            role, conditional = "drop", bool(parent.args.get("exists"))
        elif isinstance(parent, exp.Alter):
            role, conditional = "alter", bool(parent.args.get("exists"))
        elif isinstance(parent, exp.Schema) and isinstance(parent.parent, exp.Reference):
            role, columns = "fk", tuple(c.name for c in parent.expressions)
        elif isinstance(parent, exp.Reference):
            role = "fk"
        yield TableRef(table, schema, name, role, conditional, columns)
    if isinstance(tree, exp.Comment) and isinstance(tree.this, exp.Column) and tree.this.table:
        col = tree.this
        tbl = col.args.get("table")
        yield TableRef(tbl if isinstance(tbl, exp.Expression) else col, col.db or None, col.table, "ref")


# Words after which a table name follows, in a statement the parser could not read.
_AFTER = {"FROM", "JOIN", "INTO", "UPDATE", "TABLE", "TRUNCATE", "REFERENCES", "VIEW"}
_ON_STATEMENTS = {"INDEX", "TRIGGER", "POLICY", "GRANT", "REVOKE", "RULE", "COMMENT"}
_SKIP = {"ONLY", "IF", "NOT", "EXISTS", "LATERAL", "CONCURRENTLY", "UNLOGGED", "TEMP", "TEMPORARY", "TABLE",
         "IGNORE", "LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY"}
_NOT_NAMES = {"SELECT", "WITH", "VALUES", "SET", "ALL", "COLUMN", "CONSTRAINT", "TO", "AS", "IN", "ON", "WHERE",
              "TRIGGER", "POLICY", "RULE", "INDEX", "FUNCTION", "TYPE", "SCHEMA", "SEQUENCE", "DELETE", "UPDATE",
              "INSERT", "EACH", "ROW", "STATEMENT", "DOMAIN", "EXTENSION", "DATABASE", "PROCEDURE", "ROLE",
              "USING", "FOR", "TABLES", "SEQUENCES", "FUNCTIONS"}


def _token_refs(ctx: StatementContext) -> Iterator[TableRef]:
    toks = ctx.lexemes
    words = {t.upper for t in toks[:6]}
    on_is_table = bool(words & _ON_STATEMENTS) and "EVENT" not in words  # EVENT TRIGGER … ON ddl_command_end
    ctes = _cte_names(toks)
    first_after_paren: dict[int, str] = {}
    n = len(toks)
    first = toks[0].upper if toks else ""
    for i, t in enumerate(toks):
        if t.value == "(" and i + 1 < n:
            first_after_paren[t.depth + 1] = toks[i + 1].upper
        w = t.upper
        if not (w in _AFTER or (w == "ON" and on_is_table)):
            continue
        if w == "FROM" and t.depth > 0 and first_after_paren.get(t.depth) not in ("SELECT", "DELETE", None):
            continue  # EXTRACT(year FROM x), substring(a FROM b): not a table
        if w == "FROM" and first in ("REVOKE", "GRANT"):
            continue  # REVOKE … FROM role
        if w == "TABLE" and i > 0 and toks[i - 1].upper in ("RETURNS", "LIKE"):
            continue
        if w == "UPDATE" and i > 0 and toks[i - 1].upper in ("FOR", "BEFORE", "AFTER", "OR", "OF", "ON", "DO"):
            continue  # FOR UPDATE (policies, locking), triggers' BEFORE UPDATE, ON CONFLICT DO UPDATE
        j = i + 1
        conditional = False
        while j < n and toks[j].upper in _SKIP:
            conditional = conditional or toks[j].upper == "EXISTS"
            j += 1
        if w == "ON" and first == "COMMENT" and j < n and toks[j].upper == "COLUMN":
            found = _qualified(toks, j + 1)  # COMMENT ON COLUMN table.column
            if found is not None and found[0] is not None:
                yield TableRef(toks[found[2] - 2], None, found[0], "ref")
            continue
        found = _qualified(toks, j)
        if found is None:
            continue
        schema, table, last = found
        if last + 1 < n and toks[last + 1].value == "(" and w in ("FROM", "JOIN"):
            continue  # a table function
        if schema is None and table.lower() in ctes:
            continue
        role: Literal["ref", "create", "fk", "drop", "alter"] = "ref"
        if w in ("TABLE", "VIEW") and first == "CREATE":
            role = "create"
        elif w == "TABLE" and first == "DROP":
            role = "drop"
        elif w == "TABLE" and first == "ALTER":
            role = "alter"
        elif w == "REFERENCES":
            role = "fk"
        yield TableRef(toks[last], schema, table, role, conditional)


def _qualified(toks: list[Lexeme], j: int) -> tuple[str | None, str, int] | None:
    if j >= len(toks) or toks[j].kind not in ("word", "quoted") or toks[j].upper in _NOT_NAMES:
        return None
    parts = [toks[j]]
    k = j
    while k + 2 < len(toks) and toks[k + 1].value == "." and toks[k + 2].kind in ("word", "quoted"):
        parts.append(toks[k + 2])
        k += 2
    names = [p.name for p in parts]
    return (names[-2] if len(names) > 1 else None), names[-1], k


def _cte_names(toks: list[Lexeme]) -> set[str]:
    out = set()
    for i, t in enumerate(toks):
        if t.upper == "AS" and i + 1 < len(toks) and toks[i + 1].value == "(" and i > 0:
            prev = toks[i - 1]
            if prev.kind in ("word", "quoted") and prev.upper not in ("MATERIALIZED", "NOT"):
                out.add(prev.name)
            elif prev.upper in ("MATERIALIZED", "NOT") and i > 2:
                out.add(toks[i - 2].name if toks[i - 2].upper != "NOT" else toks[i - 3].name)
    return out
