"""The typed reader for PostgreSQL: PostgreSQL's own parse tree, turned into a `Description`.

What a statement is and does comes from the tree (`sqlguard.sql.pgtree`): its node type and fields
are the server's. Where it is written comes from the lexemes: the tree has no positions for many
names (a DROP's objects, an ALTER TABLE's subcommands), so the lexemes are cut the way the grammar
cuts them (subcommands at top-level commas, a DROP's names after its object keywords) and paired
with the tree's parts in order. When the two do not pair up, positions fall back to the whole
statement; what the statement does is never guessed from the lexemes.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlguard.postgres import locks as L
from sqlguard.sql.ddl.model import (
    Action,
    AlterEnum,
    AlterSequence,
    AlterTable,
    At,
    ColumnDef,
    ConstraintDef,
    CreateIndex,
    CreateOn,
    CreateRoutine,
    CreateSchema,
    CreateSequence,
    CreateTable,
    CreateType,
    CreateView,
    Description,
    Dml,
    Drop,
    Expr,
    Maintenance,
    Name,
    Other,
    Reference,
    RelationLock,
    Rename,
    SetSchema,
    Setting,
    Truncate,
    TypeRef,
    lower_unquoted,
)
from sqlguard.sql.lex import Lexeme
from sqlguard.sql.pgtree import Node, PgParse, const_value, def_elems, qualified, strings, walk

_NAMES = ("word", "quoted")

# libpg_query's ObjectType names, as the words of SQL.
OBJECTS = {
    "OBJECT_TABLE": "table", "OBJECT_VIEW": "view", "OBJECT_MATVIEW": "materialized view",
    "OBJECT_FOREIGN_TABLE": "foreign table", "OBJECT_INDEX": "index", "OBJECT_SEQUENCE": "sequence",
    "OBJECT_TYPE": "type", "OBJECT_DOMAIN": "domain", "OBJECT_SCHEMA": "schema", "OBJECT_FUNCTION": "function",
    "OBJECT_PROCEDURE": "procedure", "OBJECT_ROUTINE": "routine", "OBJECT_AGGREGATE": "aggregate",
    "OBJECT_TRIGGER": "trigger", "OBJECT_POLICY": "policy", "OBJECT_RULE": "rule", "OBJECT_EXTENSION": "extension",
    "OBJECT_COLUMN": "column", "OBJECT_TABCONSTRAINT": "constraint", "OBJECT_DOMCONSTRAINT": "constraint",
    "OBJECT_COLLATION": "collation", "OBJECT_CONVERSION": "conversion", "OBJECT_EVENT_TRIGGER": "event trigger",
    "OBJECT_PUBLICATION": "publication", "OBJECT_STATISTIC_EXT": "statistics", "OBJECT_OPERATOR": "operator",
    "OBJECT_OPCLASS": "operator class", "OBJECT_OPFAMILY": "operator family", "OBJECT_CAST": "cast",
    "OBJECT_LANGUAGE": "language", "OBJECT_FDW": "foreign data wrapper", "OBJECT_FOREIGN_SERVER": "server",
    "OBJECT_ACCESS_METHOD": "access method", "OBJECT_TRANSFORM": "transform",
    "OBJECT_TSCONFIGURATION": "text search configuration", "OBJECT_TSDICTIONARY": "text search dictionary",
    "OBJECT_TSPARSER": "text search parser", "OBJECT_TSTEMPLATE": "text search template",
    "OBJECT_ATTRIBUTE": "attribute", "OBJECT_DATABASE": "database", "OBJECT_ROLE": "role",
    "OBJECT_TABLESPACE": "tablespace", "OBJECT_SUBSCRIPTION": "subscription", "OBJECT_LARGEOBJECT": "large object",
}
_RELKINDS = {"table", "view", "materialized view", "foreign table", "index", "sequence"}

_FK_ACTIONS = {"a": None, "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
_CONSTRAINT_KINDS = {"CONSTR_PRIMARY": "primary key", "CONSTR_UNIQUE": "unique", "CONSTR_FOREIGN": "foreign key",
                     "CONSTR_CHECK": "check", "CONSTR_EXCLUSION": "exclude", "CONSTR_NOTNULL": "not null"}
# SQLValueFunction ops, as the function names they stand for
_SVF = {"SVFOP_CURRENT_DATE": "current_date", "SVFOP_CURRENT_TIME": "current_time",
        "SVFOP_CURRENT_TIME_N": "current_time", "SVFOP_CURRENT_TIMESTAMP": "current_timestamp",
        "SVFOP_CURRENT_TIMESTAMP_N": "current_timestamp", "SVFOP_LOCALTIME": "localtime",
        "SVFOP_LOCALTIME_N": "localtime", "SVFOP_LOCALTIMESTAMP": "localtimestamp",
        "SVFOP_LOCALTIMESTAMP_N": "localtimestamp", "SVFOP_CURRENT_ROLE": "current_role",
        "SVFOP_CURRENT_USER": "current_user", "SVFOP_USER": "user", "SVFOP_SESSION_USER": "session_user",
        "SVFOP_CURRENT_CATALOG": "current_catalog", "SVFOP_CURRENT_SCHEMA": "current_schema"}
# PostgreSQL's internal type names, as the schema model spells them
_TYPE_SPELLING = {"int4": "int", "int8": "bigint", "int2": "smallint", "float8": "double precision",
                  "float4": "real", "bool": "boolean", "bpchar": "char", "varbit": "bit varying",
                  "serial4": "serial", "serial8": "bigserial", "serial2": "smallserial"}
# Statements that cannot run inside a transaction block (PreventInTransactionBlock in the server).
_OUTSIDE = {"CreatedbStmt": "CREATE DATABASE", "DropdbStmt": "DROP DATABASE",
            "CreateTableSpaceStmt": "CREATE TABLESPACE", "DropTableSpaceStmt": "DROP TABLESPACE",
            "AlterSystemStmt": "ALTER SYSTEM"}
_TRANSACTION = {"TRANS_STMT_BEGIN": "begin", "TRANS_STMT_START": "begin", "TRANS_STMT_COMMIT": "commit",
                "TRANS_STMT_ROLLBACK": "rollback", "TRANS_STMT_SAVEPOINT": "savepoint",
                "TRANS_STMT_RELEASE": "release", "TRANS_STMT_ROLLBACK_TO": "rollback to",
                "TRANS_STMT_PREPARE": "prepare", "TRANS_STMT_COMMIT_PREPARED": "commit prepared",
                "TRANS_STMT_ROLLBACK_PREPARED": "rollback prepared"}
# What a DROP of each object type writes before the names (`DROP MATERIALIZED VIEW a`).
_DROP_WORDS = {"materialized view": 2, "foreign table": 2, "event trigger": 2, "operator class": 2,
               "operator family": 2, "access method": 2, "foreign data wrapper": 3,
               "text search configuration": 3, "text search dictionary": 3, "text search parser": 3,
               "text search template": 3}
# Statements that change what the schema model holds in ways the replay does not follow.
_UNMODELLED: dict[str, str] = {}


class _Text:
    """The statement's text and lexemes, for positions."""

    def __init__(self, text: str, toks: Sequence[Lexeme], parsed: PgParse) -> None:
        self.text = text
        self.toks = toks
        self.parsed = parsed
        self.starts = [t.start for t in toks]

    def index(self, location: int | None) -> int | None:
        """The index of the lexeme starting at a node's byte `location`."""
        char = self.parsed.char(location)
        if char is None:
            return None
        i = bisect_left(self.starts, char)
        return i if i < len(self.toks) and self.toks[i].start == char else None

    def at(self, i: int, j: int) -> At:
        """Lexemes i..j (inclusive) as a position."""
        return At(self.toks[i].start, self.toks[j].end)

    def name_end(self, i: int) -> int:
        """The index of the last lexeme of the dotted name starting at lexeme i."""
        toks = self.toks
        while i + 2 < len(toks) and toks[i + 1].value == "." and toks[i + 2].kind in _NAMES:
            i += 2
        return i

    def name_at(self, location: int | None) -> At | None:
        i = self.index(location)
        if i is None:
            return None
        return self.at(i, self.name_end(i))

    def source(self, at: At | None) -> str:
        return " ".join(self.text[at.start:at.end].split()) if at is not None else ""

    def close(self, i: int) -> int:
        """The index of the `)` closing the `(` at lexeme i (the last lexeme when unclosed)."""
        depth = self.toks[i].depth
        for j in range(i + 1, len(self.toks)):
            if self.toks[j].value == ")" and self.toks[j].depth == depth:
                return j
        return len(self.toks) - 1

    def pieces(self, i: int, j: int, depth: int) -> list[tuple[int, int]]:
        """Lexemes i..j-1 cut at the commas of parenthesis depth `depth`: (first, last) index pairs."""
        out: list[tuple[int, int]] = []
        start = i
        for k in range(i, j):
            t = self.toks[k]
            if t.value == "," and t.kind == "punct" and t.depth == depth:
                if k > start:
                    out.append((start, k - 1))
                start = k + 1
        if j > start:
            out.append((start, j - 1))
        return out

    def find(self, word: str, i: int = 0, depth: int | None = None) -> int | None:
        for k in range(i, len(self.toks)):
            t = self.toks[k]
            if t.upper == word and (depth is None or t.depth == depth):
                return k
        return None


def describe(text: str, toks: Sequence[Lexeme], parsed: PgParse) -> Description:
    """The description of a statement PostgreSQL's parser accepted."""
    t = _Text(text, toks, parsed)
    kind, node = parsed.stmts[0][0], parsed.stmts[0][1]
    reader = _READERS.get(kind)
    try:
        found = reader(t, node) if reader is not None else None
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):
        found = None  # a tree shape this reader does not know: described as opaque, never a crash
    if found is None:
        found = Other(kind="other", node=kind, outside_transaction=_OUTSIDE.get(kind),
                      modelled=kind not in _UNMODELLED, unmodelled=_UNMODELLED.get(kind, ""),
                      references=tuple(_other_references(t, kind, node)))
    if isinstance(found, Maintenance) and not found.references and found.target != "INDEX":
        found = replace(found, references=tuple(Reference(x, "read") for x in found.tables))
    return found


# Statements whose RangeVars name something other than tables and views (or nothing SG11 should know).
_NO_REFERENCES = frozenset({"CreateSeqStmt", "AlterSeqStmt", "CreateFunctionStmt", "DoStmt", "CreateExtensionStmt",
                            "AlterOwnerStmt", "CompositeTypeStmt", "CreateForeignTableStmt", "CreateEventTrigStmt",
                            "AlterDefaultPrivilegesStmt", "DropOwnedStmt", "ReassignOwnedStmt",
                            # constraint names; a foreign schema's remote tables
                            "ConstraintsSetStmt", "ImportForeignSchemaStmt"})


def _other_references(t: _Text, kind: str, node: Node) -> list[Reference]:
    """The tables an otherwise undescribed statement names (GRANT ON t, COPY t, …)."""
    if kind in _NO_REFERENCES:
        return []
    if kind == "GrantStmt" and (node.get("objtype") != "OBJECT_TABLE" or node.get("targtype") != "ACL_TARGET_OBJECT"):
        return []  # GRANT … ON SEQUENCE / SCHEMA / ALL TABLES IN SCHEMA …: not one table
    if kind == "AlterObjectDependsStmt" and node.get("objectType") == "OBJECT_INDEX":
        return []  # ALTER INDEX i DEPENDS ON EXTENSION e: an index
    return _references(t, node)


# --- names and references -----------------------------------------------------------------------------

def _range_var(t: _Text, rv: Node | None) -> Name:
    rv = rv or {}
    return Name(rv.get("relname", ""), rv.get("schemaname"), t.name_at(rv.get("location")))


def _references(t: _Text, node: Any, *, skip: tuple[int, ...] = ()) -> list[Reference]:
    """Every table a statement reads or writes (RangeVar nodes that are not a WITH query's name)."""
    ctes: set[str] = set()
    for k, n in walk(node):
        if k == "CommonTableExpr":
            ctes.add(n.get("ctename", ""))
    out: list[Reference] = []
    seen: set[int] = set()
    for n in _range_vars(node):
        if id(n) in skip:
            continue
        if not n.get("schemaname") and n["relname"] in ctes:
            continue
        if isinstance(n.get("location"), int) and n["location"] >= 0:
            if n["location"] in seen:
                continue  # (the tree repeats a shared subquery once per column: `SET (a, b) = (SELECT …)`)
            seen.add(n["location"])
        out.append(Reference(_range_var(t, n), "read"))
    out.sort(key=lambda r: r.name.at.start if r.name.at is not None else 1 << 30)
    return out


def _range_vars(node: Any) -> list[Node]:
    """Every RangeVar under `node`, whatever field holds it (`relation`, `fromClause`, a RangeVar list)."""
    out: list[Node] = []
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            if "relname" in cur and isinstance(cur.get("relname"), str):
                out.append(cur)
                continue
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)
    return out


def _read_locks(refs: Sequence[Reference], form: str = "SELECT") -> list[RelationLock]:
    """The lock on each table a statement reads (`refs` in the role `read`)."""
    return [RelationLock(r.name, L.lock_of(form), form=form) for r in refs if r.role == "read"]


# --- types and expressions ----------------------------------------------------------------------------

def type_ref(t: _Text, tn: Node | None) -> TypeRef | None:
    if not tn:
        return None
    names = strings(tn.get("names"))
    if not names:
        return None
    base = names[-1]
    schema = names[-2] if len(names) > 1 else None
    mods = tuple(int(v) for v in (const_value(m) for m in tn.get("typmods") or ()) if isinstance(v, int))
    array = bool(tn.get("arrayBounds"))
    known = not tn.get("pct_type") and not tn.get("setof")
    spelled = _TYPE_SPELLING.get(base, base) if schema in (None, "pg_catalog") else base
    if base == "interval":
        mods = ()  # (the typmod of INTERVAL DAY TO SECOND is a field mask, not a precision)
    if schema and schema not in ("pg_catalog", "public"):
        spelled = f"{schema}.{spelled}"
    if base in ("bpchar", "bit") and schema == "pg_catalog" and not mods:
        mods = (1,)  # char and bit mean char(1) and bit(1)
    text = spelled + (f"({','.join(str(m) for m in mods)})" if mods else "") + ("[]" if array else "")
    return TypeRef(text, base, mods, array, _type_at(t, tn.get("location")), known)


# Words that continue a type's name after its first (`character varying`, `double precision`, `bit varying`,
# `interval day to second`); WITH / WITHOUT only as `… TIME ZONE`.
_TYPE_WORDS = frozenset({"VARYING", "PRECISION", "ARRAY", "YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND", "TO"})


def _type_at(t: _Text, location: int | None) -> At | None:
    """Where the whole type is written: its words, modifiers and array bounds (`character varying(20)[]`,
    `timestamp(3) without time zone`), not only the first word the tree's location points at."""
    i = t.index(location)
    if i is None:
        return None
    toks = t.toks
    j = t.name_end(i)
    while j + 1 < len(toks):
        k = j + 1
        if toks[k].value == "(":
            j = t.close(k)
        elif toks[k].value == "[":
            j = next((n for n in range(k, len(toks)) if toks[n].value == "]"), len(toks) - 1)
        elif toks[k].kind == "word" and toks[k].upper in _TYPE_WORDS:
            j = k
        elif (toks[k].upper in ("WITH", "WITHOUT") and k + 2 < len(toks) and toks[k + 1].upper == "TIME"
              and toks[k + 2].upper == "ZONE"):
            j = k + 2
        else:
            break
    return t.at(i, j)


def _expr(t: _Text, node: Node | None, start: int | None, end: int | None) -> Expr | None:
    """An expression node with its text, which runs from lexeme `start` up to (not including) `end`."""
    if node is None:
        return None
    at = None
    if start is not None:
        last = (end if end is not None else len(t.toks)) - 1
        if last >= start:
            at = t.at(start, last)
    calls: list[str] = []
    cols: list[tuple[int, str]] = []
    for k, n in walk({"root": node}):
        if k == "FuncCall":
            name = strings(n.get("funcname"))
            if name:
                calls.append(name[-1].lower())
        elif k == "SQLValueFunction":
            calls.append(_SVF.get(n.get("op", ""), "current_timestamp"))
        elif k == "ColumnRef":
            fields = strings(n.get("fields"))
            if fields and fields[-1] != "*":
                cols.append((n.get("location", -1), fields[-1]))
    null = "A_Const" in node and bool(node["A_Const"].get("isnull"))
    # (in the order they are written, as PostgreSQL lists a CHECK constraint's columns: `walk` is not)
    return Expr(t.source(at), at, tuple(calls), null, tuple(dict.fromkeys(c for _, c in sorted(cols))))


def _first_token_at_or_after(t: _Text, location: int | None) -> int | None:
    char = t.parsed.char(location)
    if char is None:
        return None
    i = bisect_left(t.starts, char)
    return i if i < len(t.toks) else None


# --- constraints and columns --------------------------------------------------------------------------

def _constraint(t: _Text, c: Node, columns: tuple[str, ...], end: int | None) -> ConstraintDef | None:
    kind = _CONSTRAINT_KINDS.get(c.get("contype", ""))
    if kind is None:
        return None
    start = _first_token_at_or_after(t, c.get("location"))
    at = t.at(start, (end if end is not None else len(t.toks)) - 1) if start is not None and (
        end is None or end > start) else None
    body = at
    if at is not None and start is not None and c.get("conname") and t.toks[start].upper == "CONSTRAINT" \
            and start + 2 < len(t.toks):
        body = At(t.toks[start + 2].start, at.end)  # the definition without its `CONSTRAINT name`
    if body is not None and c.get("skip_validation"):
        last = bisect_left(t.starts, body.end) - 1  # ... and without NOT VALID, which is not part of it
        if last >= 1 and t.toks[last].upper == "VALID" and t.toks[last - 1].upper == "NOT":
            body = At(body.start, t.toks[last - 2].end) if last >= 2 else body
    own = tuple(strings(c.get("keys"))) or tuple(strings(c.get("fk_attrs")))
    if kind == "exclude":  # (each element is [IndexElem, operator]; the server keeps the plain columns)
        elems = [e.get("List", {}).get("items", [{}])[0].get("IndexElem", {}) for e in c.get("exclusions") or ()]
        own = tuple(e["name"] for e in elems if e.get("name"))
    cols = own or (columns if kind != "check" else ())
    check = None
    if kind == "check" and c.get("raw_expr") is not None and start is not None:
        open_ = next((k for k in range(start, len(t.toks)) if t.toks[k].value == "("), None)
        if open_ is not None:
            check = _expr(t, c["raw_expr"], open_ + 1, t.close(open_))
            # the columns the expression reads, as the server keeps them (conkey), even for a column's own
            # CHECK: `b int CHECK (a > 0)` belongs to `a`, and is named after it
            cols = check.column_refs if check else columns
    ref = None
    if kind == "foreign key":
        ref = _range_var(t, c.get("pktable"))
    not_null_of = None
    if kind == "check":
        test = c.get("raw_expr") or {}
        nt = test.get("NullTest")
        if nt is not None and nt.get("nulltesttype") == "IS_NOT_NULL" and "ColumnRef" in (nt.get("arg") or {}):
            fields = strings(nt["arg"]["ColumnRef"].get("fields"))
            not_null_of = fields[-1] if fields else None
    return ConstraintDef(
        kind, c.get("conname"), cols, ref, tuple(strings(c.get("pk_attrs"))),
        _FK_ACTIONS.get(c.get("fk_del_action", "a")) if kind == "foreign key" else None,
        bool(c.get("skip_validation")), c.get("indexname"), check, at, t.source(body),
        bool(c.get("nulls_not_distinct")), not_null_of)


def _column(t: _Text, cd: Node, span: tuple[int, int] | None) -> ColumnDef:
    """A column definition; `span` is its lexemes (first, last) when known."""
    name = cd.get("colname", "")
    end = span[1] + 1 if span is not None else None
    raw = [c.get("Constraint", {}) for c in cd.get("constraints") or ()]
    # each constraint's text runs up to the next one's start
    starts = [_first_token_at_or_after(t, c.get("location")) for c in raw]
    bounds = [s for s in starts if s is not None] + ([end] if end is not None else [])
    not_null = False
    default = generated = None
    identity = None
    constraints: list[ConstraintDef] = []
    for c, s in zip(raw, starts, strict=True):
        nxt = min((b for b in bounds if s is not None and b is not None and b > s), default=end)
        contype = c.get("contype")
        if contype == "CONSTR_NOTNULL":
            not_null = True
        elif contype == "CONSTR_DEFAULT":
            # (the constraint starts at its DEFAULT keyword; the expression right after it)
            default = _expr(t, c.get("raw_expr"), s + 1 if s is not None else None, nxt)
        elif contype == "CONSTR_IDENTITY":
            identity = "always" if c.get("generated_when") == "a" else "by default"
        elif contype == "CONSTR_GENERATED":
            generated = _expr(t, c.get("raw_expr"), s, nxt)
        else:
            found = _constraint(t, c, (name,), nxt)
            if found is not None:
                constraints.append(found)
    at = t.at(span[0], span[1]) if span is not None else None
    name_at = t.name_at(cd.get("location"))
    return ColumnDef(name, type_ref(t, cd.get("typeName")), not_null, default, identity, generated,
                     tuple(constraints), at, name_at)


# --- the statements -----------------------------------------------------------------------------------

def _create_table(t: _Text, n: Node) -> Description:
    name = _range_var(t, n.get("relation"))
    elts = n.get("tableElts") or []
    spans: list[tuple[int, int]] = []
    if name.at is not None:
        i = t.name_end(bisect_left(t.starts, name.at.start))
        if i + 1 < len(t.toks) and t.toks[i + 1].value == "(":
            close = t.close(i + 1)
            spans = t.pieces(i + 2, close, t.toks[i + 1].depth + 1)
    paired = len(spans) == len(elts)
    columns: list[ColumnDef] = []
    constraints: list[ConstraintDef] = []
    like: list[Name] = []
    like_options: list[int] = []
    for k, elt in enumerate(elts):
        span = spans[k] if paired else None
        if "ColumnDef" in elt:
            columns.append(_column(t, elt["ColumnDef"], span))
        elif "Constraint" in elt:
            c = _constraint(t, elt["Constraint"], (), span[1] + 1 if span else None)
            if c is not None:
                constraints.append(c)
        elif "TableLikeClause" in elt:
            like.append(_range_var(t, elt["TableLikeClause"].get("relation")))
            like_options.append(int(elt["TableLikeClause"].get("options", 0)))
    inherits = tuple(_range_var(t, r.get("RangeVar")) for r in n.get("inhRelations") or ())
    partition_of = inherits[0] if n.get("partbound") and inherits else None
    refs = [Reference(name, "create")]
    locks: list[RelationLock] = []
    for c in [*constraints, *(x for col in columns for x in col.constraints)]:
        if c.kind == "foreign key" and c.ref is not None:
            refs.append(Reference(c.ref, "fk", columns=c.ref_columns))
            locks.append(RelationLock(c.ref, L.lock_of("CREATE FOREIGN KEY"), form="CREATE FOREIGN KEY"))
    for rel in like:
        refs.append(Reference(rel, "read"))
        locks.append(RelationLock(rel, L.lock_of("CREATE TABLE LIKE"), form="CREATE TABLE LIKE"))
    if partition_of is not None:
        refs.append(Reference(partition_of, "alter"))
        locks.append(RelationLock(partition_of, L.lock_of("CREATE TABLE PARTITION OF"),
                                  form="CREATE TABLE PARTITION OF"))
    else:
        refs.extend(Reference(r, "read") for r in inherits)
        locks.extend(RelationLock(r, L.lock_of("CREATE TABLE INHERITS"), form="CREATE TABLE INHERITS")
                     for r in inherits)
    of_type = n.get("ofTypename") is not None
    return CreateTable(
        kind="create table", node="CreateStmt", name=name, if_not_exists=bool(n.get("if_not_exists")),
        persistence=(n.get("relation") or {}).get("relpersistence", "p"), columns=tuple(columns),
        constraints=tuple(constraints), like=tuple(like), like_options=tuple(like_options),
        inherits=() if partition_of else inherits,
        partition_of=partition_of, partitioned=n.get("partspec") is not None, references=tuple(refs),
        locks=tuple(locks), modelled=not of_type, unmodelled="CREATE TABLE … OF type" if of_type else "")


def _create_table_as(t: _Text, n: Node) -> Description:
    into = n.get("into") or {}
    name = _range_var(t, into.get("rel"))
    refs = [Reference(name, "create"), *_references(t, n.get("query"))]
    if n.get("objtype") == "OBJECT_MATVIEW":
        return CreateView(kind="create view", node="CreateTableAsStmt", name=name, materialized=True,
                          if_not_exists=bool(n.get("if_not_exists")), references=tuple(refs),
                          locks=tuple(_read_locks(refs)))
    columns = tuple(strings(into.get("colNames")))
    if not columns:
        targets = ((n.get("query") or {}).get("SelectStmt") or {}).get("targetList") or []
        names = []
        for target in targets:
            rt = target.get("ResTarget", {})
            # (`*` stands for the columns of the query's table, which the replay knows)
            names.append(rt.get("name") or _figure_colname(rt.get("val"))[0])
        columns = tuple(names)
    return CreateTable(kind="create table", node="CreateTableAsStmt", name=name,
                       if_not_exists=bool(n.get("if_not_exists")), persistence=(into.get("rel") or {}).get(
                           "relpersistence", "p"), as_query=columns, references=tuple(refs),
                       locks=tuple(_read_locks(refs)))


def _figure_colname(node: Any) -> tuple[str, int]:
    """The name PostgreSQL gives a query's column written without AS, and how sure it is of it
    (FigureColnameInternal: 2 a name, 1 a guess, 0 none): `upper(x)` is `upper`, `x::int` is `x`,
    `'a'::text` is `text`, `1 + 2` is `?column?`; `*` stands for a star."""
    if not isinstance(node, dict) or not node:
        return "?column?", 0
    kind, n = next(iter(node.items()))
    if kind == "ColumnRef":
        fields = strings(n.get("fields"))
        return (fields[-1], 2) if fields else ("?column?", 0)
    if kind == "A_Indirection":
        names = [x["String"]["sval"] for x in n.get("indirection") or () if "String" in x]
        return (names[-1], 2) if names else _figure_colname(n.get("arg"))
    if kind == "FuncCall":
        return strings(n.get("funcname"))[-1], 2
    if kind == "A_Expr" and n.get("kind") == "AEXPR_NULLIF":
        return "nullif", 2
    if kind in ("TypeCast", "CollateClause"):
        name, strength = _figure_colname(n.get("arg"))
        type_names = strings((n.get("typeName") or {}).get("names"))
        if strength <= 1 and type_names:
            return type_names[-1], 1
        return name, strength
    if kind == "CaseExpr":
        name, strength = _figure_colname(n.get("defresult"))
        return (name, strength) if strength > 1 else ("case", 1)
    if kind == "SubLink" and n.get("subLinkType") in ("EXISTS_SUBLINK", "ARRAY_SUBLINK"):
        return ("exists" if n["subLinkType"] == "EXISTS_SUBLINK" else "array"), 2
    if kind == "MinMaxExpr":
        return ("greatest" if n.get("op") == "IS_GREATEST" else "least"), 2
    if kind == "SQLValueFunction":
        return _SVF.get(n.get("op", ""), "?column?"), 2
    fixed = {"A_ArrayExpr": "array", "RowExpr": "row", "CoalesceExpr": "coalesce", "GroupingFunc": "grouping"}
    return (fixed[kind], 2) if kind in fixed else ("?column?", 0)


def _actions_spans(t: _Text, name: Name, count: int) -> list[tuple[int, int]] | None:
    """The lexemes of each ALTER TABLE subcommand, when they pair up with the tree's `count`."""
    if name.at is None:
        return None
    i = t.name_end(bisect_left(t.starts, name.at.start)) + 1
    if i < len(t.toks) and t.toks[i].value == "*":
        i += 1
    pieces = t.pieces(i, len(t.toks), 0)
    return pieces if len(pieces) == count else None


def _alter_table(t: _Text, n: Node) -> Description:
    relkind = OBJECTS.get(n.get("objtype", "OBJECT_TABLE"), "table")
    name = _range_var(t, n.get("relation"))
    cmds = [c.get("AlterTableCmd", {}) for c in n.get("cmds") or ()]
    spans = _actions_spans(t, name, len(cmds))
    actions: list[Action] = []
    # (ALTER INDEX / SEQUENCE / TYPE are AlterTableStmts too; references are tables and views)
    refs = [Reference(name, "alter", bool(n.get("missing_ok")))] \
        if relkind in ("table", "view", "materialized view", "foreign table") else []
    extra: list[RelationLock] = []
    for k, cmd in enumerate(cmds):
        span = spans[k] if spans is not None else None
        action = _action(t, cmd, span)
        actions.append(action)
        if action.constraint is not None and action.constraint.kind == "foreign key" and action.constraint.ref:
            refs.append(Reference(action.constraint.ref, "fk", columns=action.constraint.ref_columns))
            extra.append(RelationLock(action.constraint.ref, L.lock_of("CREATE FOREIGN KEY"),
                                      form="CREATE FOREIGN KEY"))
        if action.column_def is not None:
            for c in action.column_def.constraints:
                if c.kind == "foreign key" and c.ref is not None:
                    refs.append(Reference(c.ref, "fk", columns=c.ref_columns))
                    extra.append(RelationLock(c.ref, L.lock_of("CREATE FOREIGN KEY"), form="CREATE FOREIGN KEY"))
        if action.partition is not None:
            form = "ATTACH PARTITION" if action.kind == "AT_AttachPartition" else "DETACH PARTITION"
            refs.append(Reference(action.partition, "alter"))
            if relkind == "table":
                extra.append(RelationLock(action.partition, L.lock_of(form), form=form))
        extra.extend(_other_relation_locks(t, cmd, action, name))
    lock = L.strongest(*(a.lock for a in actions))
    locks: list[RelationLock] = []
    if lock is not None:
        locks.append(RelationLock(name, lock, relkind, form="ALTER TABLE"))
    locks.extend(extra)
    outside = None
    if any(a.kind == "AT_DetachPartition" and a.concurrently for a in actions):
        outside = "ALTER TABLE … DETACH PARTITION … CONCURRENTLY"
    # (ALTER TYPE … ADD ATTRIBUTE and the like change a composite type, which the schema model does not hold)
    modelled = relkind in ("table", "foreign table", "index", "view", "materialized view", "sequence", "type")
    return AlterTable(kind="alter table", node="AlterTableStmt", name=name, relkind=relkind,
                      if_exists=bool(n.get("missing_ok")), only=not (n.get("relation") or {}).get("inh", False),
                      actions=tuple(actions), locks=tuple(locks), references=tuple(refs),
                      outside_transaction=outside, modelled=modelled,
                      unmodelled="" if modelled else f"ALTER {relkind.upper()}")


def _other_relation_locks(t: _Text, cmd: Node, action: Action, table: Name) -> list[RelationLock]:
    """The locks an ALTER TABLE subcommand takes on another relation it names: the parent of INHERIT and
    NO INHERIT, the index of CLUSTER ON, REPLICA IDENTITY USING INDEX and ADD … USING INDEX."""
    d = cmd.get("def") or {}
    index: str | None = None
    form = ""
    if action.kind in ("AT_AddInherit", "AT_DropInherit") and "RangeVar" in d:
        form = "INHERIT" if action.kind == "AT_AddInherit" else "NO INHERIT"
        return [RelationLock(_range_var(t, d["RangeVar"]), L.lock_of(form), form=form)]
    if action.kind == "AT_ClusterOn" and cmd.get("name"):
        index, form = cmd["name"], "CLUSTER ON INDEX"
    elif action.kind == "AT_ReplicaIdentity" and (d.get("ReplicaIdentityStmt") or {}).get("name"):
        index, form = d["ReplicaIdentityStmt"]["name"], "REPLICA IDENTITY USING INDEX"
    elif action.constraint is not None and action.constraint.using_index:
        index = action.constraint.using_index
        # the index takes the constraint's name: a rename of the index
        renamed = action.constraint.name is not None and action.constraint.name != index
        form = "RENAME INDEX" if renamed else "CONSTRAINT USING INDEX"
    if index is None:
        return []
    # (an index lives in its table's schema)
    return [RelationLock(Name(index, table.schema), L.lock_of(form), "index", form=form)]


def _action(t: _Text, cmd: Node, span: tuple[int, int] | None) -> Action:
    subtype = cmd.get("subtype", "")
    d = cmd.get("def") or {}
    at = t.at(span[0], span[1]) if span is not None else None
    end = span[1] + 1 if span is not None else None
    column = cmd.get("name")
    column_at = None
    constraint = None
    column_def = None
    type_ = using = default = None
    partition = None
    concurrently = False
    options: tuple[str, ...] = ()
    identity = None
    name_at = None
    if span is not None and column:
        k = next((i for i in range(span[0], span[1] + 1) if t.toks[i].kind in _NAMES and t.toks[i].name == column
                  and t.toks[i].upper not in ("COLUMN", "CONSTRAINT")), None)
        if k is not None:
            name_at = column_at = t.at(k, k)
    if subtype == "AT_AddColumn" and "ColumnDef" in d:
        col_span = None
        if span is not None:
            loc = _first_token_at_or_after(t, d["ColumnDef"].get("location"))
            col_span = (loc, span[1]) if loc is not None else None
        column_def = _column(t, d["ColumnDef"], col_span)
        column = column_def.name
        column_at = column_def.name_at
    elif subtype == "AT_AddConstraint" and "Constraint" in d:
        constraint = _constraint(t, d["Constraint"], (), end)
    elif subtype == "AT_AlterColumnType" and "ColumnDef" in d:
        cd = d["ColumnDef"]
        type_ = type_ref(t, cd.get("typeName"))
        if cd.get("raw_default") is not None and span is not None:
            u = t.find("USING", span[0], t.toks[span[0]].depth)
            using = _expr(t, cd["raw_default"], u + 1 if u is not None else None, end)
    elif subtype == "AT_ColumnDefault" and d:
        if span is not None:
            k = t.find("DEFAULT", span[0])
            default = _expr(t, d, k + 1 if k is not None else None, end)
        else:
            default = _expr(t, d, None, None)
    elif subtype in ("AT_AttachPartition", "AT_DetachPartition", "AT_DetachPartitionFinalize") and "PartitionCmd" in d:
        partition = _range_var(t, d["PartitionCmd"].get("name"))
        concurrently = bool(d["PartitionCmd"].get("concurrent"))
    elif subtype in ("AT_SetRelOptions", "AT_ResetRelOptions"):
        options = tuple(def_elems(d.get("List", {}).get("items") if "List" in d else d).keys())
    elif subtype == "AT_AddIdentity" and "Constraint" in d:
        identity = "always" if d["Constraint"].get("generated_when") == "a" else "by default"
    kind_of_constraint = constraint.kind if constraint is not None else None
    lock = L.alter_table_lock(subtype, kind_of_constraint, options, concurrently)
    if_exists_at = concurrently_at = None
    using_plain = False
    if span is not None:
        toks = t.toks
        if subtype in ("AT_DropColumn", "AT_DropConstraint") and toks[span[0]].upper == "DROP":
            k = span[0] + 1 if span[0] + 1 <= span[1] and toks[span[0] + 1].upper in ("COLUMN", "CONSTRAINT") \
                else span[0]
            if_exists_at = toks[k].end
        if concurrently:
            k = next((i for i in range(span[0], span[1] + 1) if toks[i].upper == "CONCURRENTLY"), None)
            concurrently_at = t.at(k, k) if k is not None else None
    if subtype == "AT_AlterColumnType" and "ColumnDef" in d:
        using_plain = _plain_using(d["ColumnDef"].get("raw_default"), column, d["ColumnDef"].get("typeName"))
    rewrites, scans = _rewrites_and_scans(subtype, column_def, constraint, using_plain)
    return Action(subtype, lock, at, column, column_at, column_def, constraint, cmd.get("name"), name_at, type_,
                  using, default, bool(cmd.get("missing_ok")), cmd.get("behavior") == "DROP_CASCADE", partition,
                  concurrently, options, identity, if_exists_at, concurrently_at, using_plain, rewrites, scans)


# Subcommands that copy the table into a new file whatever they are given.
_REWRITING = frozenset({"AT_SetLogged", "AT_SetUnLogged", "AT_SetTableSpace", "AT_SetAccessMethod"})


def _rewrites_and_scans(subtype: str, col: ColumnDef | None, con: ConstraintDef | None,
                        using_plain: bool) -> tuple[str, bool]:
    """Whether an ALTER TABLE subcommand rewrites the table, and whether it reads every row (ATRewriteTables
    and the checks of tablecmds.c). Checked against a real server by tests/test_oracle_rewrites.py."""
    from sqlguard.postgres.functions import volatility

    if subtype in _REWRITING:
        return "yes", False
    if subtype == "AT_AlterColumnType":
        # (a change the type's support function calls free is catalog-only: no scan either)
        return ("type-change", False) if using_plain else ("yes", True)
    if subtype in ("AT_SetNotNull", "AT_ValidateConstraint"):
        return "no", True
    if subtype == "AT_AddConstraint" and con is not None:
        builds_index = con.kind in ("primary key", "unique", "exclude") and not con.using_index
        checks = con.kind in ("check", "foreign key") and not con.not_valid
        return "no", builds_index or checks
    if subtype == "AT_AddColumn" and col is not None:
        scans = any(c.kind in ("primary key", "unique") for c in col.constraints)
        if (col.type is not None and col.type.serial) or col.identity is not None or col.generated is not None:
            return "yes", True
        if col.default is None or col.default.null:
            return "no", scans
        kinds = [volatility(fn) for fn in col.default.calls]
        if "volatile" in kinds:
            return "yes", True
        if None in kinds:
            return "if-volatile", scans
        return "before-11", scans
    return "no", False


def _plain_using(using: Node | None, column: str | None, new_type: Node | None) -> bool:
    """Whether `USING` computes nothing PostgreSQL's own cast would not: the column itself, or the column
    cast to the new type (`c::bigint`, `CAST(c AS bigint)`)."""
    if using is None:
        return True
    node = using
    if "TypeCast" in node:
        cast = node["TypeCast"]
        same = strings((cast.get("typeName") or {}).get("names"))[-1:] == strings((new_type or {}).get("names"))[-1:]
        if not same or (cast.get("typeName") or {}).get("typmods") != (new_type or {}).get("typmods"):
            return False
        node = cast.get("arg") or {}
    ref = node.get("ColumnRef")
    return ref is not None and strings(ref.get("fields"))[-1:] == [column]


def _index(t: _Text, n: Node) -> Description:
    table = _range_var(t, n.get("relation"))
    columns: list[str] = []
    params = n.get("indexParams") or ()
    pieces = _index_elements(t, table, len(params))
    for k, p in enumerate(params):
        elem = p.get("IndexElem", {})
        expr = elem.get("expr") or {}
        while "CollateClause" in expr:
            expr = expr["CollateClause"].get("arg") or {}
        fields = strings(expr["ColumnRef"].get("fields")) if "ColumnRef" in expr else []
        if elem.get("name"):
            columns.append(elem["name"])
        elif len(fields) == 1 and fields[0] != "*":
            columns.append(fields[0])  # `(name COLLATE "C")` is the column `name`, with a collation of its own
        elif elem.get("expr") is not None:
            columns.append(_element_text(t, pieces[k]) if pieces is not None else _expr_text(t, elem["expr"]))
    keyword = t.find("INDEX", 0, 0)
    name = None
    if n.get("idxname"):
        at = None
        if keyword is not None:
            k = keyword + 1
            while k < len(t.toks) and t.toks[k].upper in ("CONCURRENTLY", "IF", "NOT", "EXISTS"):
                k += 1
            if k < len(t.toks) and t.toks[k].kind in _NAMES and t.toks[k].upper != "ON":
                at = t.at(k, t.name_end(k))
        name = Name(n["idxname"], table.schema, at)
    concurrently = bool(n.get("concurrent"))
    form = "CREATE INDEX CONCURRENTLY" if concurrently else "CREATE INDEX"
    conc = keyword + 1 if concurrently and keyword is not None and keyword + 1 < len(t.toks) else None
    only = not (n.get("relation") or {}).get("inh", False)
    return CreateIndex(
        kind="create index", node="IndexStmt", name=name, table=table, columns=tuple(columns),
        unique=bool(n.get("unique")), concurrently=concurrently, if_not_exists=bool(n.get("if_not_exists")),
        only=only, partial=n.get("whereClause") is not None, where=_index_predicate(t, n.get("whereClause")),
        keyword_at=t.at(keyword, keyword) if keyword is not None else None,
        concurrently_at=t.at(conc, conc) if conc is not None else None,
        locks=(RelationLock(table, L.lock_of(form), form=form),), references=(Reference(table, "alter"),),
        outside_transaction=(f"CREATE {'UNIQUE ' if n.get('unique') else ''}INDEX CONCURRENTLY"
                             if concurrently else None))


def _index_predicate(t: _Text, where: Node | None) -> str | None:
    """A partial index's WHERE expression as written (None: not partial, or not found in the text)."""
    k = t.find("WHERE", 0, 0) if where is not None else None
    if k is None:
        return None
    end = len(t.toks) - 1 if t.toks and t.toks[-1].value == ";" else len(t.toks)
    found = _expr(t, where, k + 1, end)
    return found.text if found is not None and found.text else None


def _index_elements(t: _Text, table: Name, count: int) -> list[tuple[int, int]] | None:
    """The lexemes of each element of an index's column list, when they pair up with the tree's `count`."""
    if table.at is None:
        return None
    i = t.name_end(bisect_left(t.starts, table.at.start)) + 1
    if i + 1 < len(t.toks) and t.toks[i].upper == "USING":
        i += 2
    if i >= len(t.toks) or t.toks[i].value != "(":
        return None
    pieces = t.pieces(i + 1, t.close(i), t.toks[i].depth + 1)
    return pieces if len(pieces) == count else None


def _element_text(t: _Text, piece: tuple[int, int]) -> str:
    """An index element's expression, without its collation, operator class and ordering: the grammar's
    `(expression)` or function call, up to the parenthesis that closes it."""
    first, last = piece
    depth = t.toks[first].depth
    open_ = next((k for k in range(first, last + 1) if t.toks[k].value == "(" and t.toks[k].depth == depth), None)
    end = min(t.close(open_), last) if open_ is not None else last
    return lower_unquoted(t.source(t.at(first, end)))


def _expr_text(t: _Text, node: Node) -> str:
    """An index expression as written, from its first lexeme to the end of its parenthesised element."""
    loc = None
    for _, n in walk({"root": node}):
        if isinstance(n, dict) and isinstance(n.get("location"), int) and n["location"] >= 0:
            loc = n["location"] if loc is None else min(loc, n["location"])
    i = _first_token_at_or_after(t, loc)
    if i is None:
        return "?"
    depth = t.toks[i].depth
    j = i
    while j + 1 < len(t.toks) and not (t.toks[j + 1].depth < depth or (
            t.toks[j + 1].depth == depth and (t.toks[j + 1].value == "," or t.toks[j + 1].upper in (
                "ASC", "DESC", "NULLS", "COLLATE")))):
        j += 1
    # an expression wrapped in parentheses of its own: `((a + b))`
    return lower_unquoted(t.source(t.at(i, j)))


def _drop(t: _Text, n: Node) -> Description:
    obj = OBJECTS.get(n.get("removeType", ""), "object")
    words = _DROP_WORDS.get(obj, 1)
    i = 1 + words
    if obj == "language" and len(t.toks) > 1 and t.toks[1].upper == "PROCEDURAL":
        i += 1
    after = i - 1
    concurrently = bool(n.get("concurrent"))
    concurrently_at = None
    if i < len(t.toks) and t.toks[i].upper == "CONCURRENTLY":
        after = i
        concurrently_at = t.at(i, i)
        i += 1
    if_exists = bool(n.get("missing_ok"))
    if if_exists:
        i += 2
    objects = n.get("objects") or []
    positions = _name_list(t, i)
    table = None
    names: list[Name] = []
    for k, o in enumerate(objects):
        pos = positions[k] if len(positions) == len(objects) else None
        if "List" in o:
            parts = strings(o["List"].get("items"))
        elif "ObjectWithArgs" in o:
            parts = strings(o["ObjectWithArgs"].get("objname"))
        elif "TypeName" in o:
            parts = strings(o["TypeName"].get("names"))
        elif "String" in o:
            parts = [o["String"].get("sval", "")]
        else:
            parts = []
        if not parts:
            continue
        if obj in ("trigger", "policy", "rule") and len(parts) >= 2:
            # DROP TRIGGER name ON [schema.]table: the tree lists the table's parts, then the name
            table = Name(parts[-2], parts[-3] if len(parts) > 2 else None, _on_table_at(t, i))
            names.append(Name(parts[-1], None, pos))
            continue
        names.append(Name(parts[-1], parts[-2] if len(parts) > 1 else None, pos))
    locks: list[RelationLock] = []
    refs: list[Reference] = []
    form = f"DROP {obj.upper()}"
    if obj in ("table", "view", "materialized view", "sequence", "foreign table"):
        for name in names:
            locks.append(RelationLock(name, L.lock_of(form), obj, form=form))
            if obj != "sequence":  # (references are tables and views: what SG11 knows)
                refs.append(Reference(name, "drop", if_exists))
    elif obj == "index":
        form = "DROP INDEX CONCURRENTLY" if concurrently else "DROP INDEX"
        for name in names:
            locks.append(RelationLock(name, L.lock_of(form), "index", form=form))
    elif table is not None:
        locks.append(RelationLock(table, L.lock_of(form), form=form))
        refs.append(Reference(table, "alter", if_exists))
    outside = "DROP INDEX CONCURRENTLY" if concurrently else None
    return Drop(kind="drop", node="DropStmt", object=obj, names=tuple(names), table=table, if_exists=if_exists,
                cascade=n.get("behavior") == "DROP_CASCADE", concurrently=concurrently,
                keyword_at=t.at(0, 0) if t.toks else None,
                if_exists_at=t.toks[after].end if after < len(t.toks) else None, concurrently_at=concurrently_at,
                locks=tuple(locks), references=tuple(refs), outside_transaction=outside)


def _on_table_at(t: _Text, i: int) -> At | None:
    on = t.find("ON", i, 0)
    if on is None or on + 1 >= len(t.toks):
        return None
    return t.at(on + 1, t.name_end(on + 1))


def _name_list(t: _Text, i: int) -> list[At]:
    """The comma-separated names from lexeme i (a function's argument list skipped), as positions."""
    toks = t.toks
    out: list[At] = []
    while i < len(toks):
        if toks[i].kind not in _NAMES or toks[i].upper in ("CASCADE", "RESTRICT", "ON"):
            break
        j = t.name_end(i)
        out.append(t.at(i, j))
        i = j + 1
        if i < len(toks) and toks[i].value == "(":
            i = t.close(i) + 1
        if i < len(toks) and toks[i].value == ",":
            i += 1
            continue
        break
    return out


def _single_drop(t: _Text, obj: str, name: str, if_exists: bool, node: str, outside: str | None) -> Description:
    """DROP DATABASE / TABLESPACE / SUBSCRIPTION, which have nodes of their own."""
    pos = _name_list(t, 2 + (2 if if_exists else 0))
    return Drop(kind="drop", node=node, object=obj, names=(Name(name, None, pos[0] if pos else None),),
                if_exists=if_exists, keyword_at=t.at(0, 0) if t.toks else None,
                if_exists_at=t.toks[1].end if len(t.toks) > 1 else None, outside_transaction=outside)


def _rename(t: _Text, n: Node) -> Description:
    obj = OBJECTS.get(n.get("renameType", ""), "object")
    relation = _range_var(t, n.get("relation")) if n.get("relation") else None
    old = n.get("subname") or ""
    new = n.get("newname", "")
    rename = t.find("RENAME", 0, 0)
    to = t.find("TO", rename or 0, 0)
    new_at = t.at(to + 1, to + 1) if to is not None and to + 1 < len(t.toks) else None
    old_at = None
    if obj in ("column", "constraint", "attribute") and rename is not None:
        k = rename + 1
        if k < len(t.toks) and t.toks[k].upper in ("COLUMN", "CONSTRAINT", "ATTRIBUTE"):
            k += 1
        old_at = t.at(k, k) if k < len(t.toks) else None
    elif relation is not None:
        old = relation.name
        old_at = relation.at
    else:
        obj_node = n.get("object") or {}
        if "List" in obj_node:
            parts = strings(obj_node["List"].get("items"))
        elif "ObjectWithArgs" in obj_node:
            parts = strings(obj_node["ObjectWithArgs"].get("objname"))
        elif "String" in obj_node:
            parts = [obj_node["String"].get("sval", "")]
        else:
            parts = []
        if obj in ("trigger", "policy", "rule") and n.get("relation"):
            old = n.get("subname", "")
        elif parts:
            old = parts[-1]
            relation = Name(parts[-1], parts[-2] if len(parts) > 1 else None)
    locks: list[RelationLock] = []
    refs: list[Reference] = []
    if relation is not None and obj in ("table", "view", "materialized view", "foreign table", "sequence", "column",
                                        "constraint", "index", "trigger", "policy", "rule"):
        relkind = obj if obj in ("index", "view", "materialized view", "sequence") else "table"
        form = {"index": "RENAME INDEX", "trigger": "ALTER TRIGGER", "policy": "ALTER POLICY"}.get(obj, "RENAME")
        locks.append(RelationLock(relation, L.lock_of(form), relkind, form=form))
        if obj not in ("index", "sequence"):
            refs.append(Reference(relation, "alter", bool(n.get("missing_ok"))))
        if obj in ("table", "view", "materialized view", "foreign table"):
            refs.append(Reference(Name(new, relation.schema, new_at), "create"))
    relation_kind = OBJECTS.get(n.get("relationType", ""), "table")
    relation_kind = relation_kind if relation_kind in _RELKINDS else "table"
    return Rename(kind="rename", node="RenameStmt", object=obj, relation=relation, old=old, new=new,
                  relation_kind=relation_kind,
                  old_at=old_at, new_at=new_at, if_exists=bool(n.get("missing_ok")), locks=tuple(locks),
                  references=tuple(refs))


def _set_schema(t: _Text, n: Node) -> Description:
    obj = OBJECTS.get(n.get("objectType", ""), "object")
    if n.get("relation"):
        name = _range_var(t, n["relation"])
    else:
        o = n.get("object") or {}
        if "List" in o:
            nm, sch = qualified(o["List"].get("items"))
        elif "ObjectWithArgs" in o:
            nm, sch = qualified(o["ObjectWithArgs"].get("objname"))
        elif "String" in o:
            nm, sch = o["String"].get("sval", ""), None
        else:
            nm, sch = "", None
        name = Name(nm, sch)
    relkind = obj if obj in ("index", "view", "materialized view", "sequence") else "table"
    locks = (RelationLock(name, L.lock_of("SET SCHEMA"), relkind, form="SET SCHEMA"),) if obj in _RELKINDS else ()
    refs = (Reference(name, "alter", bool(n.get("missing_ok"))),) \
        if obj in ("table", "view", "materialized view", "foreign table") else ()
    return SetSchema(kind="set schema", node="AlterObjectSchemaStmt", object=obj, name=name,
                     new_schema=n.get("newschema", ""), locks=locks, references=refs)


def _view(t: _Text, n: Node) -> Description:
    name = _range_var(t, n.get("view"))
    refs = [Reference(name, "create"), *_references(t, n.get("query"))]
    locks = _read_locks(refs)
    if n.get("replace"):
        locks.insert(0, RelationLock(name, L.lock_of("CREATE OR REPLACE VIEW"), "view", form="CREATE OR REPLACE VIEW"))
    return CreateView(kind="create view", node="ViewStmt", name=name, replace=bool(n.get("replace")),
                      references=tuple(refs), locks=tuple(locks))


def _owned_by(options: Any) -> tuple[tuple[Name, str] | None, bool]:
    opts = def_elems(options)
    if "owned_by" not in opts:
        return None, False
    for item in options or ():
        d = item.get("DefElem", {})
        if d.get("defname") == "owned_by":
            parts = strings((d.get("arg") or {}).get("List", {}).get("items"))
            if parts == ["none"]:
                return None, True
            if len(parts) >= 2:
                return (Name(parts[-2], parts[-3] if len(parts) > 2 else None), parts[-1]), False
    return None, False


def _owned_by_locks(owned: tuple[Name, str] | None) -> tuple[RelationLock, ...]:
    return (RelationLock(owned[0], L.lock_of("SEQUENCE OWNED BY"), form="SEQUENCE OWNED BY"),) if owned else ()


def _create_sequence(t: _Text, n: Node) -> Description:
    owned, _ = _owned_by(n.get("options"))
    return CreateSequence(kind="create sequence", node="CreateSeqStmt", name=_range_var(t, n.get("sequence")),
                          if_not_exists=bool(n.get("if_not_exists")), owned_by=owned, locks=_owned_by_locks(owned))


def _alter_sequence(t: _Text, n: Node) -> Description:
    owned, none = _owned_by(n.get("options"))
    name = _range_var(t, n.get("sequence"))
    return AlterSequence(kind="alter sequence", node="AlterSeqStmt", name=name, owned_by=owned, owned_by_none=none,
                         locks=(RelationLock(name, L.lock_of("ALTER SEQUENCE"), "sequence", form="ALTER SEQUENCE"),
                                *_owned_by_locks(owned)))


def _enum(t: _Text, n: Node) -> Description:
    nm, sch = qualified(n.get("typeName"))
    values = tuple(strings(n.get("vals")))
    return CreateType(kind="create type", node="CreateEnumStmt", name=Name(nm, sch), type_kind="enum",
                      enum_values=values)


def _other_type(kind: str) -> Any:
    def read(t: _Text, n: Node) -> Description:
        names = n.get("typeName") or n.get("domainname") or n.get("defnames")
        if kind == "composite":
            rv = n.get("typevar") or {}
            nm, sch = rv.get("relname", ""), rv.get("schemaname")
        else:
            nm, sch = qualified(names)
        return CreateType(kind="create type", node="", name=Name(nm, sch), type_kind=kind)
    return read


def _define(t: _Text, n: Node) -> Description | None:
    if n.get("kind") != "OBJECT_TYPE":
        return None
    nm, sch = qualified(n.get("defnames"))
    return CreateType(kind="create type", node="DefineStmt", name=Name(nm, sch),
                      type_kind="base" if n.get("definition") else "shell")


def _alter_enum(t: _Text, n: Node) -> Description:
    nm, sch = qualified(n.get("typeName"))
    value = n.get("newVal", "")
    value_at = None
    for tok in t.toks:
        if tok.kind == "string" and tok.value[1:-1].replace("''", "'") == value:
            value_at = At(tok.start, tok.end)
            break
    return AlterEnum(kind="alter enum", node="AlterEnumStmt", name=Name(nm, sch), value=value, value_at=value_at,
                     neighbor=n.get("newValNeighbor"), before=not n.get("newValIsAfter", False) and bool(
                         n.get("newValNeighbor")), if_not_exists=bool(n.get("skipIfNewValExists")),
                     renamed_from=n.get("oldVal"))


def _create_schema(t: _Text, n: Node) -> Description:
    name = n.get("schemaname") or ((n.get("authrole") or {}).get("rolename") or "")
    elements = bool(n.get("schemaElts"))
    return CreateSchema(kind="create schema", node="CreateSchemaStmt", name=name,
                        if_not_exists=bool(n.get("if_not_exists")), modelled=not elements,
                        unmodelled="CREATE SCHEMA … CREATE …" if elements else "")


def _routine(t: _Text, n: Node) -> Description:
    nm, sch = qualified(n.get("funcname"))
    opts = def_elems(n.get("options"))
    volatility = str(opts.get("volatility") or "volatile").upper()
    body = None
    for tok in t.toks:
        if tok.kind == "string" and tok.value.startswith("$") and tok.depth == 0:
            body = At(tok.start, tok.end)
            break
    return CreateRoutine(kind="create routine", node="CreateFunctionStmt", name=Name(nm, sch),
                         routine="procedure" if n.get("is_procedure") else "function", replace=bool(n.get("replace")),
                         language=str(opts.get("language") or "sql").lower(), volatility=volatility, body=body)


def _trigger(t: _Text, n: Node) -> Description:
    table = _range_var(t, n.get("relation"))
    return CreateOn(kind="create trigger", node="CreateTrigStmt", object="trigger", name=n.get("trigname", ""),
                    table=table, locks=(RelationLock(table, L.lock_of("CREATE TRIGGER"), form="CREATE TRIGGER"),),
                    references=(Reference(table, "alter"),))


def _policy(t: _Text, n: Node, form: str = "CREATE POLICY") -> Description:
    table = _range_var(t, n.get("table"))
    return CreateOn(kind=form.lower(), node="", object="policy", name=n.get("policy_name", ""), table=table,
                    locks=(RelationLock(table, L.lock_of(form), form=form),), references=(Reference(table, "alter"),))


def _rule(t: _Text, n: Node) -> Description:
    table = _range_var(t, n.get("relation"))
    return CreateOn(kind="create rule", node="RuleStmt", object="rule", name=n.get("rulename", ""), table=table,
                    locks=(RelationLock(table, L.lock_of("CREATE RULE"), form="CREATE RULE"),),
                    references=(Reference(table, "alter"),))


def _statistics(t: _Text, n: Node) -> Description:
    rels = [_range_var(t, r.get("RangeVar")) for r in n.get("relations") or () if "RangeVar" in r]
    if not rels:
        return Other(kind="other", node="CreateStatsStmt")
    return CreateOn(kind="create statistics", node="CreateStatsStmt", object="statistics",
                    name=".".join(strings(n.get("defnames"))), table=rels[0],
                    locks=(RelationLock(rels[0], L.lock_of("CREATE STATISTICS"), form="CREATE STATISTICS"),),
                    references=(Reference(rels[0], "read"),))


def _truncate(t: _Text, n: Node) -> Description:
    tables = tuple(_range_var(t, r.get("RangeVar")) for r in n.get("relations") or ())
    return Truncate(kind="truncate", node="TruncateStmt", tables=tables, cascade=n.get("behavior") == "DROP_CASCADE",
                    locks=tuple(RelationLock(x, L.lock_of("TRUNCATE"), form="TRUNCATE") for x in tables),
                    references=tuple(Reference(x, "write") for x in tables))


def _dml(verb: str) -> Any:
    def read(t: _Text, n: Node) -> Description:
        target = _range_var(t, n["relation"]) if n.get("relation") else None
        clauses = [c.get("LockingClause") or {} for c in n.get("lockingClause") or ()]
        # (the names after FOR UPDATE OF are the FROM items', not tables of their own)
        refs = _references(t, n, skip=tuple(id(r["RangeVar"]) for c in clauses for r in c.get("lockedRels") or ()
                                            if "RangeVar" in r))
        if target is not None:
            refs = [Reference(r.name, "write") if r.name == target else r for r in refs]
        if (n.get("intoClause") or {}).get("rel"):  # SELECT … INTO t creates the table t
            into = _range_var(t, n["intoClause"]["rel"])
            refs = [Reference(r.name, "create") if r.name == into else r for r in refs]
        where = True
        if verb in ("UPDATE", "DELETE"):
            where = n.get("whereClause") is not None or bool(n.get("fromClause")) or bool(n.get("usingClause"))
        locks: list[RelationLock] = []
        settings = _settings_in(n)
        if verb == "SELECT":
            # a data-modifying WITH query writes its table
            for k, sub in walk(n.get("withClause")):
                if k in ("InsertStmt", "UpdateStmt", "DeleteStmt") and sub.get("relation"):
                    name = _range_var(t, sub["relation"])
                    refs = [Reference(r.name, "write") if r.name == name else r for r in refs]
                    form = k.removesuffix("Stmt").upper()
                    locks.append(RelationLock(name, L.lock_of(form), form=form))
            locked = _locked_rows(n, clauses)
            for r in refs:
                if r.role == "read" and (r.name.name, r.name.schema) in locked:
                    locks.append(RelationLock(r.name, L.lock_of("SELECT FOR UPDATE"), form="SELECT FOR UPDATE"))
                else:
                    locks.extend(_read_locks([r]))
        elif target is not None:
            locks.append(RelationLock(target, L.lock_of(verb), form=verb))
            locks.extend(_read_locks(refs))
        verb_i = t.find(verb, 0, 0)
        assigned = tuple(dict.fromkeys(r["ResTarget"]["name"] for r in n.get("targetList") or ()
                                       if "ResTarget" in r and r["ResTarget"].get("name"))) if verb == "UPDATE" else ()
        return Dml(kind=verb.lower(), node=f"{verb.title()}Stmt", verb=verb, target=target, where=where,
                   verb_at=t.at(verb_i, verb_i) if verb_i is not None else None, locks=tuple(locks),
                   references=tuple(refs), settings=settings, assigned=assigned)
    return read


def _locked_rows(n: Node, clauses: list[Node]) -> set[tuple[str, str | None]]:
    """The tables whose rows a SELECT's FOR UPDATE / SHARE locks (ROW SHARE): those of its FROM clause
    (subqueries there included), or those FOR … OF names, by their alias or their name."""
    if not clauses:
        return set()
    items = [x for k, x in walk({"from": n.get("fromClause")}) if k == "RangeVar" and "relname" in x]
    every = {(x["relname"], x.get("schemaname")) for x in items}
    if any(not c.get("lockedRels") for c in clauses):
        return every
    aliases = {(x.get("alias") or {}).get("aliasname"): x for x in items if x.get("alias")}
    out: set[tuple[str, str | None]] = set()
    for c in clauses:
        for item in c.get("lockedRels") or ():
            rv = item.get("RangeVar") or {}
            if not rv.get("schemaname") and rv.get("relname") in aliases:
                x = aliases[rv["relname"]]
                out.add((x["relname"], x.get("schemaname")))
            else:
                out.update((x["relname"], x.get("schemaname")) for x in items
                           if not x.get("alias") and x["relname"] == rv.get("relname")
                           and rv.get("schemaname") in (None, x.get("schemaname")))
    return out


def _settings_in(n: Node) -> tuple[Setting, ...]:
    """`set_config('lock_timeout', '5s', true)` calls in a query."""
    out = []
    for k, sub in walk({"root": n}):
        if k != "FuncCall" or strings(sub.get("funcname"))[-1:] != ["set_config"]:
            continue
        args = [const_value(a) for a in sub.get("args") or ()]
        if len(args) >= 2 and isinstance(args[0], str):
            local = args[2] if len(args) > 2 else False
            local = local if isinstance(local, bool) else str(local).lower() in ("true", "t", "on", "1", "yes")
            out.append(Setting(args[0].lower(), None if args[1] is None else str(args[1]), bool(local)))
    return tuple(out)


def _merge(t: _Text, n: Node) -> Description:
    target = _range_var(t, n.get("relation"))
    refs = [Reference(r.name, "write") if r.name == target else r for r in _references(t, n)]
    return Dml(kind="merge", node="MergeStmt", verb="MERGE", target=target,
               locks=(RelationLock(target, L.lock_of("MERGE"), form="MERGE"), *_read_locks(refs)),
               references=tuple(refs))


def _set(t: _Text, n: Node) -> Description:
    kind = n.get("kind", "")
    name = (n.get("name") or "").lower()
    if kind == "VAR_RESET_ALL":
        settings = (Setting("all", None),)
    elif kind in ("VAR_RESET", "VAR_SET_DEFAULT"):
        settings = (Setting(name, None, bool(n.get("is_local"))),)
    elif kind == "VAR_SET_VALUE":
        values = [const_value(a) for a in n.get("args") or ()]
        value = ", ".join(str(v) for v in values if v is not None) if values else None
        settings = (Setting(name, value, bool(n.get("is_local"))),)
    else:
        settings = ()
    return Other(kind="set", node="VariableSetStmt", settings=settings)


def _transaction(t: _Text, n: Node) -> Description:
    return Other(kind="transaction", node="TransactionStmt", transaction=_TRANSACTION.get(n.get("kind", "")),
                 outside_transaction="COMMIT PREPARED / ROLLBACK PREPARED" if n.get("kind", "").endswith(
                     "_PREPARED") and n.get("kind") != "TRANS_STMT_PREPARE" else None)


def _vacuum(t: _Text, n: Node) -> Description:
    opts = def_elems(n.get("options"))
    vacuum = bool(n.get("is_vacuumcmd"))
    full = bool(opts.get("full")) and opts.get("full") not in (False, 0, "false", "off", "0")
    tables = tuple(_range_var(t, r.get("VacuumRelation", {}).get("relation")) for r in n.get("rels") or ())
    form = "VACUUM FULL" if full else "VACUUM" if vacuum else "ANALYZE"
    return Maintenance(kind=form.lower(), node="VacuumStmt", command="VACUUM" if vacuum else "ANALYZE", tables=tables,
                       full=full, locks=tuple(RelationLock(x, L.lock_of(form), form=form) for x in tables),
                       outside_transaction="VACUUM" if vacuum else None)


def _cluster(t: _Text, n: Node) -> Description:
    tables = (_range_var(t, n["relation"]),) if n.get("relation") else ()
    locks = [RelationLock(x, L.lock_of("CLUSTER"), form="CLUSTER") for x in tables]
    if tables and n.get("indexname"):  # CLUSTER t USING i (an index lives in its table's schema)
        locks.append(RelationLock(Name(n["indexname"], tables[0].schema), L.lock_of("CLUSTER"), "index",
                                  form="CLUSTER"))
    return Maintenance(kind="cluster", node="ClusterStmt", command="CLUSTER", tables=tables, locks=tuple(locks),
                       outside_transaction=None if tables else "CLUSTER")  # (of every table clustered before)


def _reindex(t: _Text, n: Node) -> Description:
    target = n.get("kind", "").replace("REINDEX_OBJECT_", "")
    params = def_elems(n.get("params"))
    concurrently = "concurrently" in params and params["concurrently"] not in (False, 0, "false", "off", "0", "no")
    at = None
    for tok in t.toks:
        if tok.upper == "CONCURRENTLY" and tok.depth <= 1:
            at = At(tok.start, tok.end)
            break
    tables: tuple[Name, ...] = ()
    locks: tuple[RelationLock, ...] = ()
    form = "REINDEX CONCURRENTLY" if concurrently else "REINDEX INDEX" if target == "INDEX" else "REINDEX"
    if n.get("relation"):
        rel = _range_var(t, n["relation"])
        tables = (rel,)
        locks = (RelationLock(rel, L.lock_of(form), "index" if target == "INDEX" else "table", form=form),)
    outside = None
    if concurrently:
        outside = "REINDEX CONCURRENTLY"
    elif target in ("SCHEMA", "DATABASE", "SYSTEM"):
        outside = f"REINDEX {target}"
    return Maintenance(kind="reindex", node="ReindexStmt", command="REINDEX", tables=tables, target=target,
                       concurrently=concurrently, concurrently_at=at if concurrently else None, locks=locks,
                       outside_transaction=outside)


def _refresh(t: _Text, n: Node) -> Description:
    rel = _range_var(t, n.get("relation"))
    form = "REFRESH MATERIALIZED VIEW CONCURRENTLY" if n.get("concurrent") else "REFRESH MATERIALIZED VIEW"
    return Maintenance(kind="refresh", node="RefreshMatViewStmt", command="REFRESH", tables=(rel,),
                       concurrently=bool(n.get("concurrent")),
                       locks=(RelationLock(rel, L.lock_of(form), "materialized view", form=form),))


_LOCK_MODES = {1: L.ACCESS_SHARE, 2: L.ROW_SHARE, 3: L.ROW_EXCLUSIVE, 4: L.SHARE_UPDATE_EXCLUSIVE, 5: L.SHARE,
               6: L.SHARE_ROW_EXCLUSIVE, 7: L.EXCLUSIVE, 8: L.ACCESS_EXCLUSIVE}


def _lock(t: _Text, n: Node) -> Description:
    tables = tuple(_range_var(t, r.get("RangeVar")) for r in n.get("relations") or ())
    mode = _LOCK_MODES.get(n.get("mode", 8), L.ACCESS_EXCLUSIVE)
    return Maintenance(kind="lock", node="LockStmt", command="LOCK", tables=tables, mode=mode,
                       nowait=bool(n.get("nowait")),
                       locks=tuple(RelationLock(x, mode, form="LOCK TABLE") for x in tables))


def _comment(t: _Text, n: Node) -> Description:
    obj = OBJECTS.get(n.get("objtype", ""), "object")
    o = n.get("object") or {}
    parts = strings(o.get("List", {}).get("items")) if "List" in o else []
    locks: tuple[RelationLock, ...] = ()
    refs: tuple[Reference, ...] = ()
    table: Name | None = None
    relkind = "table"
    form = "COMMENT"
    if obj in ("table", "view", "materialized view", "foreign table", "index", "sequence") and parts:
        table = Name(parts[-1], parts[-2] if len(parts) > 1 else None)
        relkind = obj if obj in ("index", "view", "materialized view", "sequence") else "table"
    elif obj in ("column", "constraint", "trigger", "policy", "rule") and len(parts) >= 2:
        table = Name(parts[-2], parts[-3] if len(parts) > 2 else None)
        form = "COMMENT" if obj == "column" else "COMMENT ON CONSTRAINT"
    if table is not None:
        table = replace(table, at=_comment_table_at(t, obj, table))
        locks = (RelationLock(table, L.lock_of(form), relkind, form=form),)
        refs = (Reference(table, "read"),) if obj not in ("index", "sequence") else ()
    return Other(kind="comment", node="CommentStmt", locks=locks, references=refs, detail={"object": obj})


def _comment_table_at(t: _Text, obj: str, table: Name) -> At | None:
    """Where COMMENT ON writes the table: `ON TABLE [s.]t`, `ON COLUMN [s.]t.c`, `ON CONSTRAINT c ON [s.]t`."""
    if obj == "column":
        first = 3
        last = t.name_end(first) - 2 if first < len(t.toks) else first
    elif obj in ("constraint", "trigger", "policy", "rule"):
        on = t.find("ON", 3, 0)
        first = on + 1 if on is not None else len(t.toks)
        last = t.name_end(first) if first < len(t.toks) else first
    else:
        first = 2 + _DROP_WORDS.get(obj, 1)
        last = t.name_end(first) if first < len(t.toks) else first
    if last < first or last >= len(t.toks) or t.toks[last].name != table.name:
        return None  # (ON DOMAIN, or a shape this does not know: no position rather than a wrong one)
    return t.at(first, last)


def _alter_policy(t: _Text, n: Node) -> Description:
    return _policy(t, n, "ALTER POLICY")


def _create_subscription(t: _Text, n: Node) -> Description:
    opts = def_elems(n.get("options"))
    # a replication slot is created on the publisher unless create_slot or connect is false
    slot = all(opts.get(k, True) not in (False, "false", "off", 0) for k in ("create_slot", "connect"))
    return Other(kind="create subscription", node="CreateSubscriptionStmt",
                 outside_transaction="CREATE SUBSCRIPTION" if slot else None)


def _drop_subscription(t: _Text, n: Node) -> Description:
    return _single_drop(t, "subscription", n.get("subname", ""), bool(n.get("missing_ok")), "DropSubscriptionStmt",
                        "DROP SUBSCRIPTION")


def _do(t: _Text, n: Node) -> Description:
    return Other(kind="do", node="DoStmt")


def _explain(t: _Text, n: Node) -> Description:
    return Other(kind="explain", node="ExplainStmt", references=tuple(_references(t, n.get("query"))))


_READERS: dict[str, Any] = {
    "CreateStmt": _create_table,
    "CreateTableAsStmt": _create_table_as,
    "AlterTableStmt": _alter_table,
    "IndexStmt": _index,
    "DropStmt": _drop,
    "RenameStmt": _rename,
    "AlterObjectSchemaStmt": _set_schema,
    "ViewStmt": _view,
    "CreateSeqStmt": _create_sequence,
    "AlterSeqStmt": _alter_sequence,
    "CreateEnumStmt": _enum,
    "CompositeTypeStmt": _other_type("composite"),
    "CreateRangeStmt": _other_type("range"),
    "CreateDomainStmt": _other_type("domain"),
    "DefineStmt": _define,
    "AlterEnumStmt": _alter_enum,
    "CreateSchemaStmt": _create_schema,
    "CreateFunctionStmt": _routine,
    "CreateTrigStmt": _trigger,
    "CreatePolicyStmt": _policy,
    "AlterPolicyStmt": _alter_policy,
    "RuleStmt": _rule,
    "CreateStatsStmt": _statistics,
    "TruncateStmt": _truncate,
    "SelectStmt": _dml("SELECT"),
    "InsertStmt": _dml("INSERT"),
    "UpdateStmt": _dml("UPDATE"),
    "DeleteStmt": _dml("DELETE"),
    "MergeStmt": _merge,
    "VariableSetStmt": _set,
    "TransactionStmt": _transaction,
    "VacuumStmt": _vacuum,
    "ClusterStmt": _cluster,
    "ReindexStmt": _reindex,
    "RefreshMatViewStmt": _refresh,
    "LockStmt": _lock,
    "CommentStmt": _comment,
    "CreateSubscriptionStmt": _create_subscription,
    "DropSubscriptionStmt": _drop_subscription,
    "DropdbStmt": lambda t, n: _single_drop(t, "database", n.get("dbname", ""), bool(n.get("missing_ok")),
                                            "DropdbStmt", "DROP DATABASE"),
    "DropTableSpaceStmt": lambda t, n: _single_drop(t, "tablespace", n.get("tablespacename", ""),
                                                    bool(n.get("missing_ok")), "DropTableSpaceStmt", "DROP TABLESPACE"),
    "DoStmt": _do,
    "DiscardStmt": lambda t, n: Other(kind="discard", node="DiscardStmt", outside_transaction=(
        "DISCARD ALL" if n.get("target") == "DISCARD_ALL" else None)),
    "AlterDatabaseStmt": lambda t, n: Other(kind="alter database", node="AlterDatabaseStmt", outside_transaction=(
        "ALTER DATABASE … SET TABLESPACE" if "tablespace" in def_elems(n.get("options")) else None)),
    "ExplainStmt": _explain,
}
