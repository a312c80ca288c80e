"""Which columns of which tables a statement names, read from PostgreSQL's own parse tree.

Only what the tree says for sure: a column qualified by a table's name or alias (`u.bio`), an
unqualified one in a statement that reads a single table and has no subquery, CTE or set operation
(`SELECT bio FROM users`), the target columns of INSERT (`INSERT INTO users (bio)`) and UPDATE
(`SET bio = …`). Anything else (a name that may be an output alias, a column of a subquery) is not
claimed, so a check built on this never guesses.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlguard.sql.pgtree import PgParse


@dataclass(frozen=True)
class ColumnUse:
    table: str  # as the statement names it (`users`), without its schema
    schema: str | None
    column: str
    location: int  # offset of the reference in the statement's text


def column_references(parsed: PgParse) -> list[ColumnUse]:
    """The column references of each statement `parsed` holds (see the module's docs for which)."""
    out: list[ColumnUse] = []
    for kind, node, start, _end in parsed.stmts:
        out.extend(_statement(kind, node, start))
    return out


def _statement(kind: str, node: Any, base: int) -> Iterator[ColumnUse]:
    relations = list(_walk_key(node, "RangeVar"))
    if kind in ("InsertStmt", "UpdateStmt", "DeleteStmt") and isinstance(node.get("relation"), dict):
        relations.append(node["relation"])  # (the target is a bare RangeVar there)
    # output names (`count(*) AS n … ORDER BY n`) are not columns of a table
    outputs = {t.get("ResTarget", {}).get("name") for t in node.get("targetList", [])} if kind == "SelectStmt" \
        else set()
    names: dict[str, tuple[str, str | None]] = {}
    for r in relations:
        entry = (r.get("relname", ""), r.get("schemaname"))
        names[r.get("relname", "")] = entry
        alias = (r.get("alias") or {}).get("aliasname")
        if alias:
            names[alias] = entry
    complex_ = any(True for _ in _walk_key(node, "RangeSubselect")) or any(True for _ in _walk_key(node, "SubLink")) \
        or _has(node, "withClause") or _has(node, "op", lambda v: v not in (None, "SETOP_NONE"))
    single = relations[0] if len(relations) == 1 and not complex_ else None
    for ref in _walk_key(node, "ColumnRef"):
        fields = [f.get("String", {}).get("sval") for f in ref.get("fields", [])]
        if not fields or any(f is None for f in fields):
            continue  # `t.*`, `*`
        location = base + int(ref.get("location", 0))
        if len(fields) >= 2 and fields[-2] in names:
            table, schema = names[fields[-2]]
            yield ColumnUse(table, schema, fields[-1], location)
        elif len(fields) == 1 and single is not None and fields[0] not in outputs:
            yield ColumnUse(single.get("relname", ""), single.get("schemaname"), fields[0], location)
    relation = node.get("relation") if kind in ("InsertStmt", "UpdateStmt") else None
    if relation:
        for t in node.get("cols" if kind == "InsertStmt" else "targetList", []):
            target = t.get("ResTarget", {})
            if target.get("name"):
                yield ColumnUse(relation.get("relname", ""), relation.get("schemaname"), target["name"],
                                base + int(target.get("location", 0)))


def _walk_key(node: Any, key: str) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, dict):
                yield v
            yield from _walk_key(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _walk_key(v, key)


def _has(node: Any, key: str, test: Any = None) -> bool:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and (test(v) if test is not None else bool(v)):
                return True
            if _has(v, key, test):
                return True
    elif isinstance(node, list):
        return any(_has(v, key, test) for v in node)
    return False
