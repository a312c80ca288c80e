"""The typed reader for MySQL and SQLite: sqlglot's tree where it gives one, the lexemes where it does not.

PostgreSQL statements are read from PostgreSQL's own tree (`sqlguard.sql.ddl.postgres`); this reader
serves the dialects sqlguard has no server grammar for, and PostgreSQL statements the server's parser
rejects (their names only, so that one broken CREATE TABLE does not make every later use of the
table look unknown).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from sqlguard.sql.ddl.model import (
    Action,
    AlterTable,
    At,
    ColumnDef,
    ConstraintDef,
    CreateIndex,
    CreateSchema,
    CreateSequence,
    CreateTable,
    CreateType,
    CreateView,
    Description,
    Dml,
    Drop,
    Expr,
    Name,
    Other,
    Reference,
    Rename,
    Truncate,
    TypeRef,
)
from sqlguard.sql.lex import Lexeme

if TYPE_CHECKING:
    from sqlglot import exp

from sqlguard.postgres import locks as L

_NAMES = ("word", "quoted")
# DROP <kind> …; multi-word kinds first.
DROP_KINDS = (
    ("MATERIALIZED", "VIEW"), ("FOREIGN", "TABLE"), ("TABLE",), ("VIEW",), ("INDEX",), ("SEQUENCE",), ("TYPE",),
    ("FUNCTION",), ("PROCEDURE",), ("SCHEMA",), ("TRIGGER",), ("DOMAIN",), ("EXTENSION",), ("POLICY",),
    ("DATABASE",), ("EVENT",), ("AGGREGATE",), ("RULE",),
)
_CREATE_MODIFIERS = ("OR", "REPLACE", "UNIQUE", "TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL", "MATERIALIZED",
                     "RECURSIVE", "ALGORITHM", "DEFINER", "SQL", "SECURITY", "VIRTUAL",
                     "CONSTRAINT")  # (CREATE CONSTRAINT TRIGGER)
_NOT_MODELLED = ("FUNCTION", "PROCEDURE", "TRIGGER", "EXTENSION", "POLICY", "ROLE", "USER", "DATABASE", "CAST",
                 "OPERATOR", "AGGREGATE", "COLLATION", "EVENT", "PUBLICATION", "SUBSCRIPTION", "SERVER", "RULE",
                 "STATISTICS", "DOMAIN", "LANGUAGE", "ACCESS", "TEXT", "CONVERSION", "TRANSFORM")


class _Lex:
    def __init__(self, toks: Sequence[Lexeme]) -> None:
        self.toks = list(toks)

    def at(self, i: int, j: int | None = None) -> At:
        j = i if j is None else j
        return At(self.toks[i].start, self.toks[j].end)

    def name_end(self, i: int) -> int:
        toks = self.toks
        while i + 2 < len(toks) and toks[i + 1].value == "." and toks[i + 2].kind in _NAMES:
            i += 2
        return i

    def name(self, i: int) -> tuple[Name, int] | None:
        """The dotted name at lexeme i and the index after it (`db.schema.name` keeps the last two)."""
        if i >= len(self.toks) or self.toks[i].kind not in _NAMES:
            return None
        j = self.name_end(i)
        parts = [self.toks[k] for k in range(i, j + 1, 2)]
        schema = parts[-2].name if len(parts) > 1 else None
        return Name(parts[-1].name, schema, self.at(i, j)), j + 1

    def skip(self, i: int, *words: str) -> int:
        while i < len(self.toks) and self.toks[i].upper in words:
            i += 1
        return i

    def words(self, n: int) -> list[str]:
        return [*(t.upper for t in self.toks[:n]), *([""] * n)][:n]


def rename_pairs(lx: _Lex, refs: tuple[Reference, ...] = ()) -> list[Rename]:
    """Each `a TO b` of MySQL's `RENAME TABLE a TO b, c TO d`, in order (they run one after another)."""
    out: list[Rename] = []
    i = 2
    while True:
        found = lx.name(i)
        if found is None or found[1] >= len(lx.toks) or lx.toks[found[1]].upper != "TO":
            return out
        new = lx.name(found[1] + 1)
        if new is None:
            return out
        out.append(Rename(kind="rename", object="table", relation=found[0], old=found[0].name, new=new[0].name,
                          references=refs))
        i = new[1]
        if i >= len(lx.toks) or lx.toks[i].value != ",":
            return out
        i += 1


def describe_renames(text: str, toks: Sequence[Lexeme]) -> list[Rename]:
    """Every rename of a `RENAME TABLE` statement with several pairs (empty for anything else)."""
    lx = _Lex(toks)
    if [t.upper for t in lx.toks[:2]] != ["RENAME", "TABLE"]:
        return []
    return rename_pairs(lx)


def describe(text: str, toks: Sequence[Lexeme], tree: Any, dialect: str) -> Description:
    """A statement of `dialect` from sqlglot's `tree` (None when sqlglot could not read it) and its lexemes."""
    lx = _Lex(toks)
    if not lx.toks or lx.toks[0].kind != "word":
        return Other(kind="other", modelled=True)
    first = lx.toks[0].upper
    refs = tuple(_references(text, lx, tree, dialect))
    try:
        found = _describe(lx, tree, dialect, first, refs)
    except (IndexError, AttributeError, KeyError, TypeError, ValueError):
        found = None
    if found is None:
        found = Other(kind="other", node=type(tree).__name__ if tree is not None else "", references=refs,
                      transaction=_transaction(lx))
    return found


def _describe(lx: _Lex, tree: Any, dialect: str, first: str, refs: tuple[Reference, ...]) -> Description | None:
    w = lx.words(6)
    if first == "DROP":
        return _drop(lx, refs)
    if first == "TRUNCATE":
        names = []
        i = lx.skip(1, "TABLE", "ONLY")
        while True:
            found = lx.name(i)
            if found is None:
                break
            names.append(found[0])
            i = lx.skip(found[1], "*")
            if i < len(lx.toks) and lx.toks[i].value == ",":
                i = lx.skip(i + 1, "ONLY")
                continue
            break
        cascade = any(t.upper == "CASCADE" and t.depth == 0 for t in lx.toks)
        return Truncate(kind="truncate", tables=tuple(names), cascade=cascade, references=refs)
    if first in ("CREATE", "ALTER", "RENAME") or w[:2] == ["COMMENT", "ON"]:
        from sqlglot import exp

        if tree is not None and isinstance(tree, exp.Create):
            found = _create_tree(lx, tree, dialect, refs)
            if found is not None:
                return found
        if tree is not None and isinstance(tree, exp.Alter):
            found = _alter_tree(lx, tree, dialect, refs)
            if found is not None:
                return found
        return _ddl_tokens(lx, w, refs)
    verb, k = _main_verb(lx)
    if verb in ("DELETE", "UPDATE", "INSERT", "SELECT", "REPLACE", "MERGE"):
        where = True
        if verb in ("DELETE", "UPDATE"):
            where = any(t.upper == "WHERE" and t.depth == 0 for t in lx.toks[k:])
        target = _dml_target(lx, k, verb)
        assigned: list[str] = []
        if verb == "UPDATE":  # SET a = …, t.b = … (the names just before a top-level `=`)
            toks = lx.toks
            start = next((i for i in range(k, len(toks)) if toks[i].upper == "SET" and toks[i].depth == 0), len(toks))
            for i in range(start + 1, len(toks) - 1):
                if toks[i].upper == "WHERE" and toks[i].depth == 0:
                    break
                if toks[i + 1].value == "=" and toks[i].depth == 0 and toks[i].kind in _NAMES and (
                        toks[i - 1].upper == "SET" or toks[i - 1].value in (",", ".")):
                    assigned.append(toks[i].name)
        return Dml(kind=verb.lower(), verb=verb, target=target, where=where, verb_at=lx.at(k), references=refs,
                   assigned=tuple(dict.fromkeys(assigned)))
    return None


def _transaction(lx: _Lex) -> str | None:
    w = lx.words(2)
    if w[0] == "BEGIN" and w[1] in ("", "TRANSACTION", "WORK", "ISOLATION", "READ", "DEFERRABLE", "NOT"):
        return "begin"
    if w == ["START", "TRANSACTION"]:
        return "begin"
    if w[0] in ("COMMIT", "END"):
        return "commit"
    if w[0] in ("ROLLBACK", "ABORT"):
        return "rollback to" if w[1] == "TO" else "rollback"
    if w[0] == "SAVEPOINT":
        return "savepoint"
    if w[0] == "RELEASE":
        return "release"
    return None


def _main_verb(lx: _Lex) -> tuple[str, int]:
    toks = lx.toks
    if toks[0].upper != "WITH":
        return toks[0].upper, 0
    for k, t in enumerate(toks):
        if t.depth == 0 and t.upper in ("SELECT", "INSERT", "UPDATE", "DELETE", "MERGE") and k > 0 \
                and toks[k - 1].value != "(":
            return t.upper, k
    return "", 0


def _dml_target(lx: _Lex, k: int, verb: str) -> Name | None:
    if verb == "SELECT":
        return None
    i = lx.skip(k + 1, "FROM", "INTO", "ONLY", "LOW_PRIORITY", "QUICK", "IGNORE", "OR", "REPLACE", "ABORT", "FAIL",
                "ROLLBACK", "DELAYED", "HIGH_PRIORITY")
    found = lx.name(i)
    return found[0] if found else None


# --- DROP ---------------------------------------------------------------------------------------------

def _drop(lx: _Lex, refs: tuple[Reference, ...]) -> Description | None:
    toks = lx.toks
    words = [t.upper for t in toks[1:4]]
    for kind in DROP_KINDS:
        if tuple(words[: len(kind)]) == kind:
            break
    else:
        return None
    i = 1 + len(kind)
    after = i - 1
    concurrently = False
    if i < len(toks) and toks[i].upper == "CONCURRENTLY":
        after, concurrently = i, True
        i += 1
    if_exists = i + 1 < len(toks) and toks[i].upper == "IF" and toks[i + 1].upper == "EXISTS"
    if if_exists:
        i += 2
    names: list[Name] = []
    while i < len(toks):
        if toks[i].kind not in _NAMES or toks[i].upper in ("CASCADE", "RESTRICT", "ON"):
            break
        found = lx.name(i)
        if found is None:
            break
        names.append(found[0])
        i = found[1]
        if i < len(toks) and toks[i].value == "(":  # DROP FUNCTION f(int)
            depth = toks[i].depth
            i += 1
            while i < len(toks) and not (toks[i].value == ")" and toks[i].depth == depth):
                i += 1
            i += 1
        if i < len(toks) and toks[i].value == ",":
            i += 1
            continue
        break
    table = None
    if i < len(toks) and toks[i].upper == "ON":  # DROP INDEX i ON t (MySQL), DROP TRIGGER t ON x
        found = lx.name(i + 1)
        table = found[0] if found else None
    cascade = any(t.upper == "CASCADE" and t.depth == 0 for t in toks)
    return Drop(kind="drop", object=" ".join(kind).lower(), names=tuple(names), table=table, if_exists=if_exists,
                cascade=cascade, concurrently=concurrently, keyword_at=lx.at(0), if_exists_at=toks[after].end,
                references=refs)


def _alter_drops(lx: _Lex, start: int) -> Iterator[Action]:
    """`ALTER TABLE t … DROP [COLUMN|CONSTRAINT] [IF EXISTS] x` actions, from the lexemes."""
    toks = lx.toks
    starts = [start] + [k + 1 for k, t in enumerate(toks) if t.value == "," and t.depth == 0 and k >= start]
    for k in starts:
        if k >= len(toks) or toks[k].upper != "DROP":
            continue
        j = k + 1
        kind = "AT_DropColumn"
        after = toks[k].end  # where IF EXISTS belongs
        if j < len(toks) and toks[j].upper in ("COLUMN", "CONSTRAINT"):
            kind = "AT_DropColumn" if toks[j].upper == "COLUMN" else "AT_DropConstraint"
            after = toks[j].end
            j += 1
        elif j < len(toks) and toks[j].upper in ("PRIMARY", "FOREIGN", "INDEX", "KEY", "CHECK", "DEFAULT",
                                                  "PARTITION", "SYSTEM"):
            continue  # MySQL's DROP PRIMARY KEY / DROP INDEX …: no IF EXISTS form
        if_exists = j + 1 < len(toks) and toks[j].upper == "IF" and toks[j + 1].upper == "EXISTS"
        if if_exists:
            j += 2
        if j >= len(toks) or toks[j].kind not in _NAMES:
            continue
        end = next((n - 1 for n in range(j, len(toks)) if toks[n].value == "," and toks[n].depth == 0), len(toks) - 1)
        name = toks[j].name
        yield Action(kind, L.ACCESS_EXCLUSIVE, lx.at(k, end), column=name if kind == "AT_DropColumn" else None,
                     column_at=lx.at(j), name=name, name_at=lx.at(j), if_exists=if_exists,
                     cascade=any(t.upper == "CASCADE" for t in toks[j:end + 1]), if_exists_at=after)


# --- CREATE / ALTER from sqlglot's tree ---------------------------------------------------------------

def _sql(node: Any, dialect: str) -> str:
    from sqlguard.sql.parse import dialect_of

    # copy=False: the generators read the tree without changing it
    return str(node.sql(dialect=dialect_of(dialect), copy=False))


def _ident(node: Any) -> str:
    name = str(node.name)
    quoted = bool(getattr(node, "args", {}).get("quoted"))
    return name if quoted else name.lower()


def _table_name(lx: _Lex, table: exp.Table) -> Name:
    name = table.name if table.this.args.get("quoted") else table.name.lower()
    at = _node_at(lx, table)
    return Name(name, table.db or None, at)


def _node_at(lx: _Lex, node: Any) -> At | None:
    starts, ends = [], []
    for n in node.walk():
        meta = n.meta if hasattr(n, "meta") else None
        if meta and "start" in meta:
            starts.append(meta["start"])
            ends.append(meta["end"] + 1)
    return At(min(starts), max(ends)) if starts else None


def _type(node: Any, dialect: str) -> TypeRef | None:
    if node is None:
        return None
    text = _sql(node, dialect)
    base = text.split("(")[0].strip().lower()
    return TypeRef(text.lower(), base)


def _create_tree(lx: _Lex, tree: exp.Create, dialect: str, refs: tuple[Reference, ...]) -> Description | None:
    from sqlglot import exp

    kind = str(tree.args.get("kind") or "").upper()
    this = tree.this
    exists = bool(tree.args.get("exists"))
    if kind == "TABLE":
        node = this.this if isinstance(this, exp.Schema) else this
        if not isinstance(node, exp.Table):
            return None
        name = _table_name(lx, node)
        columns: list[ColumnDef] = []
        constraints: list[ConstraintDef] = []
        like: list[Name] = []
        partition_of = None
        modelled = True
        props = tree.args.get("properties")
        for prop in (props.expressions if props is not None else []):
            if isinstance(prop, exp.PartitionedOfProperty) and isinstance(prop.this, exp.Table):
                partition_of = _table_name(lx, prop.this)
        as_query = None
        if tree.args.get("expression") is not None:
            select = tree.args["expression"]
            names = [e.alias_or_name for e in getattr(select, "expressions", [])]
            as_query = tuple(n.lower() for n in names) if names and all(names) and "*" not in names else ()
        if isinstance(this, exp.Schema):
            for item in this.expressions:
                if isinstance(item, exp.ColumnDef):
                    columns.append(_column_def(item, dialect))
                elif isinstance(item, exp.LikeProperty) and isinstance(item.this, exp.Table):
                    like.append(_table_name(lx, item.this))
                else:
                    c = _table_constraint(item, dialect)
                    if c is not None:
                        constraints.append(c)
                    elif not isinstance(item, (exp.Identifier, exp.Constraint, exp.PrimaryKey, exp.ForeignKey)):
                        modelled = False
        return CreateTable(kind="create table", node="Create", name=name, if_not_exists=exists,
                           columns=tuple(columns), constraints=tuple(constraints), like=tuple(like),
                           partition_of=partition_of, as_query=as_query, references=refs, modelled=modelled,
                           unmodelled="" if modelled else "a table element")
    if kind in ("VIEW", "MATERIALIZED VIEW") or (kind == "VIEW" and tree.args.get("materialized")):
        if isinstance(this, exp.Table):
            return CreateView(kind="create view", node="Create", name=_table_name(lx, this),
                              materialized="MATERIALIZED" in [t.upper for t in lx.toks[:4]], references=refs)
        if isinstance(this, exp.Schema) and isinstance(this.this, exp.Table):
            return CreateView(kind="create view", node="Create", name=_table_name(lx, this.this), references=refs)
        return None
    if kind == "INDEX" and isinstance(this, exp.Index):
        on_table = this.args.get("table")
        if not isinstance(on_table, exp.Table):
            return None
        params = this.args.get("params")
        cols = tuple(_sql(c.this if isinstance(c, exp.Ordered) else c, dialect).lower()
                     for c in (params.args.get("columns") or [] if params is not None else []))
        table = _table_name(lx, on_table)
        name = Name(this.name, table.schema) if this.name else None
        return CreateIndex(kind="create index", node="Create", name=name, table=table, columns=cols,
                           unique=bool(tree.args.get("unique")), if_not_exists=exists, references=refs)
    if kind == "SEQUENCE" and isinstance(this, exp.Table):
        return CreateSequence(kind="create sequence", node="Create", name=_table_name(lx, this), if_not_exists=exists)
    if kind == "TYPE" and isinstance(this, exp.Table):
        dtype = tree.args.get("expression")
        if isinstance(dtype, exp.DataType) and dtype.this == exp.DataType.Type.ENUM:
            return CreateType(kind="create type", node="Create", name=_table_name(lx, this), type_kind="enum",
                              enum_values=tuple(v.name for v in dtype.expressions))
        return CreateType(kind="create type", node="Create", name=_table_name(lx, this), type_kind="composite")
    if kind == "SCHEMA":
        db = this.args.get("db") if isinstance(this, exp.Table) else None
        if db is not None:
            return CreateSchema(kind="create schema", node="Create", name=db.name, if_not_exists=exists)
    return None


def _column_def(item: exp.ColumnDef, dialect: str) -> ColumnDef:
    from sqlglot import exp

    name = item.name if item.this.args.get("quoted") else item.name.lower()
    type_ = _type(item.args.get("kind"), dialect)
    not_null = False
    default = None
    constraints: list[ConstraintDef] = []
    for cc in item.args.get("constraints") or []:
        ck = cc.args.get("kind") if isinstance(cc, exp.ColumnConstraint) else cc
        cname = cc.name if isinstance(cc, exp.ColumnConstraint) and cc.this else None
        if isinstance(ck, exp.NotNullColumnConstraint):
            not_null = not bool(ck.args.get("allow_null"))
        elif isinstance(ck, exp.DefaultColumnConstraint):
            text = _sql(ck.this, dialect)
            default = Expr(text, null=text.upper() == "NULL",
                           calls=tuple(f.name.lower() for f in ck.this.find_all(exp.Func) if f.name))
        elif isinstance(ck, exp.PrimaryKeyColumnConstraint):
            constraints.append(ConstraintDef("primary key", cname, (name,), definition="PRIMARY KEY"))
        elif isinstance(ck, exp.UniqueColumnConstraint):
            constraints.append(ConstraintDef("unique", cname, (name,), definition="UNIQUE"))
        elif isinstance(ck, exp.CheckColumnConstraint):
            constraints.append(ConstraintDef("check", cname, _columns_in(ck, (name,)), definition=_sql(ck, dialect)))
        elif isinstance(ck, exp.Reference):
            ref, ref_cols, on_delete = _reference(ck)
            constraints.append(ConstraintDef("foreign key", cname, (name,), ref, ref_cols, on_delete,
                                             definition=_sql(ck, dialect)))
    return ColumnDef(name, type_, not_null, default, constraints=tuple(constraints))


def _reference(ref: exp.Reference) -> tuple[Name, tuple[str, ...], str | None]:
    from sqlglot import exp

    target = ref.this
    cols: tuple[str, ...] = ()
    if isinstance(target, exp.Schema):
        cols = tuple(_ident(c) for c in target.expressions)
        target = target.this
    if isinstance(target, exp.Table):
        name = Name(target.name if target.this.args.get("quoted") else target.name.lower(), target.db or None)
    else:
        name = Name("?")
    on_delete = None
    for opt in ref.args.get("options") or []:
        text = str(opt).upper()
        if text.startswith("ON DELETE"):
            on_delete = text[len("ON DELETE"):].strip()
    return name, cols, on_delete


def _table_constraint(item: exp.Expression, dialect: str) -> ConstraintDef | None:
    from sqlglot import exp

    name: str | None = None
    body = item
    if isinstance(item, exp.Constraint):
        name = item.name
        body = item.expressions[0] if item.expressions else item
    if isinstance(body, exp.ForeignKey):
        cols = tuple(_ident(c) for c in body.expressions)
        r = body.args.get("reference")
        ref, ref_cols, on_delete = _reference(r) if isinstance(r, exp.Reference) else (Name("?"), (), None)
        return ConstraintDef("foreign key", name, cols, ref, ref_cols, on_delete, definition=_sql(body, dialect))
    if isinstance(body, exp.PrimaryKey):
        return ConstraintDef("primary key", name, tuple(_ident(c) for c in body.expressions),
                             definition=_sql(body, dialect))
    if isinstance(body, exp.UniqueColumnConstraint):
        schema = body.this
        cols = tuple(_ident(c) for c in schema.expressions) if isinstance(schema, exp.Schema) else ()
        return ConstraintDef("unique", name, cols, definition=_sql(body, dialect))
    if isinstance(body, exp.CheckColumnConstraint):
        return ConstraintDef("check", name, _columns_in(body, ()), definition=_sql(body, dialect))
    if isinstance(body, exp.ColumnConstraint) and name:
        return ConstraintDef("check", name, (), definition=_sql(body, dialect))
    return None


def _columns_in(node: Any, first: tuple[str, ...]) -> tuple[str, ...]:
    from sqlglot import exp

    out = list(first)
    for col in node.find_all(exp.Column):
        name = _ident(col.this) if col.this is not None else col.name.lower()
        if name not in out:
            out.append(name)
    return tuple(out)


def _alter_tree(lx: _Lex, tree: exp.Alter, dialect: str, refs: tuple[Reference, ...]) -> Description | None:
    from sqlglot import exp

    kind = str(tree.args.get("kind") or "").upper()
    target = tree.this
    if not isinstance(target, exp.Table):
        return None
    name = _table_name(lx, target)
    actions_in = tree.args.get("actions") or []
    if kind in ("INDEX", "VIEW") and len(actions_in) == 1:
        action = actions_in[0]
        if isinstance(action, exp.AlterRename) and isinstance(action.this, exp.Table):
            return Rename(kind="rename", node="Alter", object=kind.lower(), relation=name, old=name.name,
                          new=action.this.name, old_at=name.at, references=refs)
        return None
    if kind != "TABLE":
        return None
    actions: list[Action] = []
    modelled = True
    for action in actions_in:
        if isinstance(action, exp.ColumnDef):
            col = _column_def(action, dialect)
            actions.append(Action("AT_AddColumn", L.ACCESS_EXCLUSIVE, column=col.name, column_def=col))
        elif isinstance(action, exp.Drop):
            dkind = str(action.args.get("kind") or "").upper()
            if dkind not in ("", "COLUMN", "CONSTRAINT", "FOREIGN KEY", "CHECK"):
                modelled = False  # MySQL's DROP INDEX / KEY: an index, not a column
                continue
            for obj in action.args.get("tables") or []:
                sub = "AT_DropColumn" if dkind in ("", "COLUMN") else "AT_DropConstraint"
                actions.append(Action(sub, L.ACCESS_EXCLUSIVE, column=obj.name if sub == "AT_DropColumn" else None,
                                      name=obj.name, if_exists=bool(action.args.get("exists"))))
        elif isinstance(action, exp.AlterColumn):
            col = action.name
            if action.args.get("dtype") is not None:
                actions.append(Action("AT_AlterColumnType", L.ACCESS_EXCLUSIVE, column=col,
                                      type=_type(action.args["dtype"], dialect)))
            if action.args.get("allow_null") is not None:
                actions.append(Action("AT_DropNotNull" if action.args["allow_null"] else "AT_SetNotNull",
                                      L.ACCESS_EXCLUSIVE, column=col))
            elif action.args.get("drop"):
                actions.append(Action("AT_ColumnDefault", L.ACCESS_EXCLUSIVE, column=col))
            if action.args.get("default") is not None:
                actions.append(Action("AT_ColumnDefault", L.ACCESS_EXCLUSIVE, column=col,
                                      default=Expr(_sql(action.args["default"], dialect))))
        elif isinstance(action, exp.RenameColumn):
            return Rename(kind="rename", node="Alter", object="column", relation=name, old=action.this.name,
                          new=action.args["to"].name, references=refs)
        elif isinstance(action, exp.AlterRename) and isinstance(action.this, exp.Table):
            return Rename(kind="rename", node="Alter", object="table", relation=name, old=name.name,
                          new=action.this.name, old_at=name.at, references=refs)
        elif isinstance(action, exp.AddConstraint):
            for item in action.expressions:
                added = _table_constraint(item, dialect)
                if added is not None:
                    actions.append(Action("AT_AddConstraint", L.ACCESS_EXCLUSIVE, constraint=added))
        else:
            modelled = False
    # positions of the drops, for SG20's fix
    drops = list(_alter_drops(lx, lx.name_end(_table_start(lx)) + 1))
    if drops and len(drops) == sum(1 for a in actions if a.kind in ("AT_DropColumn", "AT_DropConstraint")):
        it = iter(drops)
        actions = [next(it) if a.kind in ("AT_DropColumn", "AT_DropConstraint") else a for a in actions]
    return AlterTable(kind="alter table", node="Alter", name=name, if_exists=bool(tree.args.get("exists")),
                      actions=tuple(actions), references=refs, modelled=modelled,
                      unmodelled="" if modelled else "an ALTER TABLE action")


def _table_start(lx: _Lex) -> int:
    return lx.skip(2, "IF", "EXISTS", "ONLY")


# --- DDL from lexemes, for what sqlglot keeps opaque or rejects ----------------------------------------

def _ddl_tokens(lx: _Lex, w: list[str], refs: tuple[Reference, ...]) -> Description | None:
    toks = lx.toks
    if w[:2] == ["ALTER", "TABLE"]:
        i = _table_start(lx)
        found = lx.name(i)
        if found is None:
            return None
        name, j = found
        rest = [t.upper for t in toks[j:j + 2]]
        if rest == ["RENAME", "CONSTRAINT"] and j + 4 < len(toks):
            return Rename(kind="rename", object="constraint", relation=name, old=toks[j + 2].name,
                          new=toks[j + 4].name, references=refs)
        if rest[:1] == ["RENAME"]:
            k = j + 1
            if k < len(toks) and toks[k].upper == "TO":
                return Rename(kind="rename", object="table", relation=name, old=name.name,
                              new=toks[k + 1].name if k + 1 < len(toks) else "", old_at=name.at, references=refs)
            if k < len(toks) and toks[k].upper == "COLUMN":
                k += 1
            if k + 2 < len(toks) and toks[k + 1].upper == "TO":
                return Rename(kind="rename", object="column", relation=name, old=toks[k].name, new=toks[k + 2].name,
                              references=refs)
        drops = tuple(_alter_drops(lx, j))
        return AlterTable(kind="alter table", name=name, actions=drops, references=refs, modelled=bool(drops),
                          unmodelled="" if drops else "ALTER TABLE")
    if w[:2] in (["ALTER", "SEQUENCE"], ["ALTER", "INDEX"], ["ALTER", "VIEW"]) and "RENAME" in w:
        to = next((n for n in range(2, len(toks)) if toks[n].upper == "TO"), None)
        found = lx.name(2)
        if to is not None and to + 1 < len(toks) and found is not None:
            return Rename(kind="rename", object=w[1].lower(), relation=found[0], old=found[0].name,
                          new=toks[to + 1].name, references=refs)
        return None
    if w[:2] == ["RENAME", "TABLE"] and len(toks) > 4:  # MySQL: RENAME TABLE a TO b[, c TO d …]
        pairs = rename_pairs(lx, refs)
        return pairs[0] if pairs else None
    if w[0] != "CREATE":
        return Other(kind="other", references=refs) if w[0] == "COMMENT" else None
    i = lx.skip(1, *_CREATE_MODIFIERS)
    if i >= len(toks):
        return None
    kind = toks[i].upper
    j = lx.skip(i + 1, "IF", "NOT", "EXISTS", "CONCURRENTLY")
    if kind in _NOT_MODELLED:
        return Other(kind=f"create {kind.lower()}", references=refs)
    found = lx.name(j)
    if kind == "INDEX":
        on = next((n for n in range(j, len(toks)) if toks[n].upper == "ON"), None)
        if on is None:
            return None
        target = lx.name(lx.skip(on + 1, "ONLY"))
        if target is None:
            return None
        name = found[0] if found is not None and toks[j].upper != "ON" else None
        return CreateIndex(kind="create index", name=name, table=target[0], unique="UNIQUE" in w[:3],
                           references=refs, modelled=False, unmodelled="CREATE INDEX")
    if found is None:
        return None
    name, k = found
    if kind == "TABLE":
        return CreateTable(kind="create table", name=name, references=refs, modelled=False,
                           unmodelled="CREATE TABLE (its columns)")
    if kind == "VIEW":
        return CreateView(kind="create view", name=name, references=refs)
    if kind == "SEQUENCE":
        return CreateSequence(kind="create sequence", name=name)
    if kind == "SCHEMA":
        return CreateSchema(kind="create schema", name=name.name)
    if kind == "TYPE":
        if k + 1 < len(toks) and toks[k].upper == "AS" and toks[k + 1].upper == "ENUM":
            values = tuple(t.value[1:-1].replace("''", "'") for t in toks[k + 2:] if t.kind == "string")
            return CreateType(kind="create type", name=name, type_kind="enum", enum_values=values)
        return CreateType(kind="create type", name=name, type_kind="composite")
    return None


# --- the tables a statement names ---------------------------------------------------------------------

_TABLE_KINDS = {"TABLE", "VIEW", "MATERIALIZED VIEW", "FOREIGN TABLE"}
Role = Literal["read", "write", "create", "fk", "drop", "alter"]


def _references(text: str, lx: _Lex, tree: Any, dialect: str) -> Iterator[Reference]:
    if tree is not None:
        from sqlglot import exp

        if not isinstance(tree, exp.Command):
            yield from _tree_refs(lx, tree)
            return
    yield from _token_refs(lx)


def _tree_refs(lx: _Lex, tree: Any) -> Iterator[Reference]:
    from sqlglot import exp

    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        ident = table.this
        if not isinstance(ident, exp.Identifier):
            continue  # a table function such as generate_series(…)
        parent = table.parent
        kind = str(parent.args.get("kind") or "").upper() if parent is not None else ""
        if isinstance(parent, (exp.Create, exp.Drop)) and kind not in _TABLE_KINDS:
            continue  # an index, sequence, type, schema or constraint that happens to share the name
        if isinstance(parent, (exp.Grant, exp.Revoke, exp.Comment)) and kind and kind not in _TABLE_KINDS:
            continue
        if isinstance(parent, (exp.Grant, exp.Revoke)) and not any(t.upper == "ON" for t in lx.toks):
            continue  # GRANT role TO role: no table involved
        if isinstance(parent, (exp.UserDefinedFunction, exp.Opclass)):
            continue
        name = ident.name if ident.args.get("quoted") else ident.name.lower()
        schema = table.db or None
        if schema is None and name.lower() in ctes:
            continue
        role: Role = "read"
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
        yield Reference(Name(name, schema, _node_at(lx, table)), role, conditional, columns)
    if isinstance(tree, exp.Comment) and isinstance(tree.this, exp.Column) and tree.this.table:
        col = tree.this
        tbl = col.args.get("table")
        at = _node_at(lx, tbl if isinstance(tbl, exp.Expression) else col)
        yield Reference(Name(col.table, col.db or None, at), "read")


# Words after which a table name follows, in a statement the parser could not read.
_AFTER = {"FROM", "JOIN", "INTO", "UPDATE", "TABLE", "TRUNCATE", "REFERENCES", "VIEW"}
_ON_STATEMENTS = {"INDEX", "TRIGGER", "POLICY", "GRANT", "REVOKE", "RULE", "COMMENT"}
_SKIP = {"ONLY", "IF", "NOT", "EXISTS", "LATERAL", "CONCURRENTLY", "UNLOGGED", "TEMP", "TEMPORARY", "TABLE",
         "IGNORE", "LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY"}
_NOT_NAMES = {"SELECT", "WITH", "VALUES", "SET", "ALL", "COLUMN", "CONSTRAINT", "TO", "AS", "IN", "ON", "WHERE",
              "TRIGGER", "POLICY", "RULE", "INDEX", "FUNCTION", "TYPE", "SCHEMA", "SEQUENCE", "DELETE", "UPDATE",
              "INSERT", "EACH", "ROW", "STATEMENT", "DOMAIN", "EXTENSION", "DATABASE", "PROCEDURE", "ROLE",
              "USING", "FOR", "TABLES", "SEQUENCES", "FUNCTIONS"}


def _token_refs(lx: _Lex) -> Iterator[Reference]:
    toks = lx.toks
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
                k = found[2] - 2
                yield Reference(Name(found[0], None, lx.at(k)), "read")
            continue
        found = _qualified(toks, j)
        if found is None:
            continue
        schema, table, last = found
        if last + 1 < n and toks[last + 1].value == "(" and w in ("FROM", "JOIN"):
            continue  # a table function
        if schema is None and table.lower() in ctes:
            continue
        role: Role = "read"
        if w in ("TABLE", "VIEW") and first == "CREATE":
            role = "create"
        elif w == "TABLE" and first == "DROP":
            role = "drop"
        elif w == "TABLE" and first == "ALTER":
            role = "alter"
        elif w == "REFERENCES":
            role = "fk"
        yield Reference(Name(table, schema, lx.at(last)), role, conditional)


def _qualified(toks: list[Lexeme], j: int) -> tuple[str | None, str, int] | None:
    if j >= len(toks) or toks[j].kind not in _NAMES or toks[j].upper in _NOT_NAMES:
        return None
    parts = [toks[j]]
    k = j
    while k + 2 < len(toks) and toks[k + 1].value == "." and toks[k + 2].kind in _NAMES:
        parts.append(toks[k + 2])
        k += 2
    names = [p.name for p in parts]
    return (names[-2] if len(names) > 1 else None), names[-1], k


def _cte_names(toks: list[Lexeme]) -> set[str]:
    out = set()
    for i, t in enumerate(toks):
        if t.upper == "AS" and i + 1 < len(toks) and toks[i + 1].value == "(" and i > 0:
            prev = toks[i - 1]
            if prev.kind in _NAMES and prev.upper not in ("MATERIALIZED", "NOT"):
                out.add(prev.name)
            elif prev.upper in ("MATERIALIZED", "NOT") and i > 2:
                out.add(toks[i - 2].name if toks[i - 2].upper != "NOT" else toks[i - 3].name)
    return out
