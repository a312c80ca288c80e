"""PostgreSQL's own parser: whether PostgreSQL accepts a statement, and the tree it makes of it.

This is libpg_query (PostgreSQL 17's grammar, scanner and parse-tree nodes, compiled from the server's
source) through the `pgparse` binding (both BSD-licensed). A statement it rejects, PostgreSQL rejects:
the message and position are the server's own ("syntax error at or near …"). Its tree is the one the
server executes, so what a statement does is read from it rather than guessed from its words:
`ALTER TABLE t RENAME a TO b` is a `RenameStmt` of a column, `ALTER INDEX i RENAME TO j` one of an
index.

Node locations are byte offsets into the UTF-8 text; `PgParse.char` turns them into the character
offsets the rest of sqlguard uses. The grammar is PostgreSQL 17's: syntax that an older server
rejects is caught by `sqlguard.sql.syntax`, against the configured `pg-version`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlguard.sql.lex import MAX_PARSE_CHARS

GRAMMAR_VERSION = 17

Node = dict[str, Any]


@dataclass(frozen=True)
class PgParse:
    """The parser's verdict on one statement's text."""

    text: str
    stmts: tuple[tuple[str, Node, int, int], ...] = ()  # (node type, node, start, end) per statement, chars
    error: str | None = None  # PostgreSQL's message when it rejects the text
    error_at: int | None = None  # character offset of the error in `text`
    skipped: str | None = None  # why the text was not parsed (too long)
    _bytes: tuple[int, ...] | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None and self.skipped is None and bool(self.stmts)

    @property
    def kind(self) -> str | None:
        """The first statement's node type (`AlterTableStmt`), None when there is none."""
        return self.stmts[0][0] if self.stmts else None

    @property
    def node(self) -> Node:
        """The first statement's node (empty when there is none)."""
        return self.stmts[0][1] if self.stmts else {}

    def char(self, location: int | None) -> int | None:
        """The character offset of a node's byte `location` (None stays None; -1 means unknown)."""
        if location is None or location < 0:
            return None
        if self._bytes is None:
            return location
        # _bytes[i] is the byte offset of character i (and _bytes[-1] the length in bytes)
        return max(0, bisect_right(self._bytes, location) - 1)


def parse(text: str) -> PgParse:
    """PostgreSQL's verdict on `text` (one statement, or a runner's block of several), remembered."""
    found = _memo.get(text)
    if found is not None:
        _memo.move_to_end(text)
        return found
    found = _parse(text)
    _memo[text] = found
    if len(_memo) > _MEMO_MAX:
        _memo.popitem(last=False)
    return found


_MEMO_MAX = 4096
_memo: OrderedDict[str, PgParse] = OrderedDict()
_SURROGATE = re.compile("[\ud800-\udfff]")


def _parse(text: str) -> PgParse:
    if len(text) > MAX_PARSE_CHARS:
        return PgParse(text, skipped=f"{len(text) / 1e6:.1f} MB long (the parser's limit is "
                                     f"{MAX_PARSE_CHARS / 1e6:.0f} MB)")
    import pgparse

    # Bytes that are not UTF-8 (kept as lone surrogates, reported by SG02) become one ASCII character
    # each, so that every other offset stays where it was.
    source = _SURROGATE.sub("?", text) if not text.isascii() else text
    offsets: tuple[int, ...] | None = None
    if not source.isascii():
        acc = 0
        table = []
        for ch in source:
            table.append(acc)
            acc += len(ch.encode("utf-8"))
        table.append(acc)  # the end
        offsets = tuple(table)
    try:
        raw = pgparse.parse(source)
    except pgparse.PGQueryError as err:
        message = str(err.args[0]) if err.args else str(err)
        position = err.args[1] if len(err.args) > 1 and isinstance(err.args[1], int) else 0
        # (PostgreSQL's cursor position: 1-based, in characters; 0 when it has none)
        at = min(max(position - 1, 0), len(text)) if position else None
        return PgParse(text, error=_message(message), error_at=at, _bytes=offsets)
    except (RecursionError, MemoryError, ValueError) as err:
        return PgParse(text, error=f"the parser gave up ({type(err).__name__})", _bytes=offsets)
    stmts = []
    for item in raw:
        stmt = item.get("stmt") or {}
        if not stmt:
            continue
        node_type, node = next(iter(stmt.items()))
        start = item.get("stmt_location", 0)
        length = item.get("stmt_len", 0)
        parse_ = PgParse(text, _bytes=offsets)
        a = parse_.char(start) or 0
        b = parse_.char(start + length) if length else len(text)
        stmts.append((node_type, node, a, len(text) if b is None else b))
    return PgParse(text, tuple(stmts), _bytes=offsets)


def _message(message: str) -> str:
    """PostgreSQL's message without libpg_query's trailing position."""
    return re.sub(r",? at position \d+$", "", message).strip()


# --- reading nodes ----------------------------------------------------------------------------------

def strings(items: Any) -> list[str]:
    """The `sval`s of a list of String nodes (a qualified name, a column list)."""
    out = []
    for item in items or ():
        if isinstance(item, dict) and "String" in item:
            out.append(item["String"].get("sval", ""))
        elif isinstance(item, dict) and "A_Star" in item:
            out.append("*")
    return out


def qualified(items: Any) -> tuple[str, str | None]:
    """(name, schema) of a qualified name given as String nodes (`["s", "t"]`, `["db", "s", "t"]`)."""
    parts = strings(items)
    if not parts:
        return "", None
    return parts[-1], (parts[-2] if len(parts) > 1 else None)


def walk(node: Any) -> Any:
    """Every (type, node) pair under `node`, depth first."""
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            for k, v in cur.items():
                if isinstance(v, dict):
                    if k[:1].isupper():
                        yield k, v
                    stack.append(v)
                elif isinstance(v, list):
                    stack.extend(v)
        elif isinstance(cur, list):
            stack.extend(cur)


def const_value(node: Any) -> Any:
    """The Python value of an A_Const / Integer / String / Boolean node (None for anything else)."""
    if not isinstance(node, dict):
        return None
    if "A_Const" in node:
        node = node["A_Const"]
        if node.get("isnull"):
            return None
        for key in ("ival", "sval", "fval", "boolval", "bsval"):
            if key in node:
                return const_value({key: node[key]})
        return 0  # an ival of 0 is left out of the JSON
    if "ival" in node:
        return node["ival"].get("ival", 0)
    if "Integer" in node:
        return node["Integer"].get("ival", 0)
    if "sval" in node:
        return node["sval"].get("sval", "")
    if "String" in node:
        return node["String"].get("sval", "")
    if "fval" in node:
        return node["fval"].get("fval", "")
    if "Float" in node:
        return node["Float"].get("fval", "")
    if "boolval" in node:
        return bool(node["boolval"].get("boolval", False))
    if "Boolean" in node:
        return bool(node["Boolean"].get("boolval", False))
    return None


def def_elems(items: Any) -> dict[str, Any]:
    """Options given as DefElem nodes (`WITH (fillfactor = 70)`, `(CONCURRENTLY false)`), by name; an
    option without a value is True."""
    out: dict[str, Any] = {}
    for item in items or ():
        d = item.get("DefElem") if isinstance(item, dict) else None
        if not d:
            continue
        name = d.get("defname", "")
        if d.get("defnamespace"):
            name = f"{d['defnamespace']}.{name}"
        arg = d.get("arg")
        value = True if arg is None else const_value(arg)
        if value is None and isinstance(arg, dict) and "TypeName" in arg:
            value = ".".join(strings(arg["TypeName"].get("names")))
        out[name] = value
    return out
