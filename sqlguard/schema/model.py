"""One Schema model: tables, columns, constraints, indexes, views, sequences and enum types.

Three producers make it: static replay of a migration history (`sqlguard.schema.replay`), the rule
catalog (`from_catalog`), and, later, live introspection of a PostgreSQL database. All three are
compared by the one `diff`. The model is plain frozen data; `SchemaBuilder` in `replay` is the only
thing that mutates a schema, and it hands out frozen snapshots.

Names are keys as PostgreSQL resolves them: unquoted names folded to lower case, quoted names as
written, and a table outside `public` keyed as `schema.name`.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sqlguard.catalog import Catalog

DEFAULT_SCHEMAS = frozenset({"public", "main", "dbo"})
SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast", "sqlite_master", "mysql",
                            "performance_schema", "sys"})

ConstraintKind = Literal["primary key", "foreign key", "unique", "check", "exclude"]


def key(name: str, schema: str | None = None) -> str:
    """The key of a relation: `users`, or `auth.users` outside the default schema."""
    if schema and schema.lower() not in DEFAULT_SCHEMAS:
        return f"{schema}.{name}"
    return name


@dataclass(frozen=True)
class Column:
    name: str
    type: str | None = None  # normalised SQL type text (`uuid`, `varchar(20)`); None when unknown
    nullable: bool = True
    default: str | None = None
    # PostgreSQL's attnum, when read from a database: a renamed column keeps it (so the diff of two
    # snapshots tells a rename from a drop and an add); None in a replayed schema
    number: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Constraint:
    name: str
    kind: ConstraintKind
    columns: tuple[str, ...] = ()
    ref_table: str | None = None  # foreign keys
    ref_columns: tuple[str, ...] = ()
    on_delete: str | None = None
    definition: str | None = None  # the constraint's SQL, to re-create it


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    # False when a statement that shaped this table could not be read in full (CREATE TABLE … AS,
    # an ALTER the parser rejected): its column list is then not a basis for "no such column".
    exact: bool = True

    def column(self, name: str) -> Column | None:
        low = name.lower()
        return next((c for c in self.columns if c.name == name or c.name == low), None)

    def constraint(self, name: str) -> Constraint | None:
        return next((c for c in self.constraints if c.name == name), None)

    @property
    def primary_key(self) -> tuple[str, ...]:
        return next((c.columns for c in self.constraints if c.kind == "primary key"), ())

    @property
    def foreign_keys(self) -> tuple[Constraint, ...]:
        return tuple(c for c in self.constraints if c.kind == "foreign key")


@dataclass(frozen=True)
class Index:
    name: str
    table: str
    columns: tuple[str, ...] = ()  # column names or expressions, as SQL
    unique: bool = False
    where: str | None = None  # a partial index's predicate, as SQL


@dataclass(frozen=True)
class Schema:
    tables: Mapping[str, Table] = field(default_factory=dict)
    views: frozenset[str] = frozenset()
    indexes: Mapping[str, Index] = field(default_factory=dict)
    sequences: frozenset[str] = frozenset()
    enums: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    schemas: frozenset[str] = frozenset()  # schemas created by the history (CREATE SCHEMA)
    # sequences that belong to a column (serial, identity, OWNED BY): PostgreSQL drops them with it, and
    # they are not compared (they come and go with their column)
    owned_sequences: frozenset[str] = frozenset()
    # What only a database's own catalog tells, read when asked (`introspect(objects=True)`), by name: a
    # routine's, trigger's or view's definition and a relation's grants, each as a digest of its text.
    # A replay leaves them empty, and so do introspections for comparing with one.
    routines: Mapping[str, str] = field(default_factory=dict)  # `schema.name(argument types)`
    triggers: Mapping[str, str] = field(default_factory=dict)  # `table.trigger`
    view_definitions: Mapping[str, str] = field(default_factory=dict)
    grants: Mapping[str, str] = field(default_factory=dict)  # relation -> its ACL

    def table(self, name: str, schema: str | None = None) -> Table | None:
        return find(self.tables, name, schema)

    def relation_names(self) -> list[str]:
        return sorted(set(self.tables) | set(self.views))


def joined(first: Schema | None, second: Schema | None) -> Schema | None:
    """Everything either schema holds (for a name both hold, `first`'s), e.g. the catalog and what a
    database really holds; None when both are None."""
    if first is None or second is None:
        return first or second
    return Schema({**second.tables, **first.tables}, first.views | second.views,
                  {**second.indexes, **first.indexes}, first.sequences | second.sequences,
                  {**second.enums, **first.enums}, first.schemas | second.schemas,
                  first.owned_sequences | second.owned_sequences)


_GONE = None  # (in a Delta's mappings: the key was removed)


@dataclass(frozen=True)
class Delta:
    """What changed from one schema to the next: per mapping, the keys set (to their new value) or
    removed (to None); per set, the names added and removed. A history's schemas are stored as the
    first one and a delta per migration: a long history's schemas share nearly everything."""

    tables: Mapping[str, Table | None] = field(default_factory=dict)
    indexes: Mapping[str, Index | None] = field(default_factory=dict)
    enums: Mapping[str, tuple[str, ...] | None] = field(default_factory=dict)
    sets: Mapping[str, tuple[frozenset[str], frozenset[str]]] = field(default_factory=dict)  # field -> (+, -)

    @classmethod
    def between(cls, a: Schema, b: Schema, touched: Iterable[str] | None = None) -> Delta:
        """`touched`: the only table keys that may differ (a builder's `tables.touched`), else all."""
        def changed(x: Mapping[str, Any], y: Mapping[str, Any]) -> dict[str, Any]:
            out = {k: v for k, v in y.items() if x.get(k, _GONE) is not v}
            out.update((k, _GONE) for k in x if k not in y)
            return out

        if touched is not None:
            tables = {k: b.tables.get(k, _GONE) for k in touched
                      if a.tables.get(k, _GONE) is not b.tables.get(k, _GONE)}
        else:
            tables = changed(a.tables, b.tables)

        sets = {}
        for name in ("views", "sequences", "schemas", "owned_sequences"):
            x, y = getattr(a, name), getattr(b, name)
            if x != y:
                sets[name] = (frozenset(y - x), frozenset(x - y))
        return cls(tables, changed(a.indexes, b.indexes), changed(a.enums, b.enums), sets)

    def apply(self, builder: Any) -> None:
        """Make the change on a `SchemaBuilder` holding the first schema."""
        for target, changes in ((builder.tables, self.tables), (builder.indexes, self.indexes),
                                (builder.enums, self.enums)):
            for k, v in changes.items():
                if v is _GONE:
                    target.pop(k, None)
                else:
                    target[k] = v
        for name, (added, removed) in self.sets.items():
            held = getattr(builder, name)
            if isinstance(held, dict):  # (the builder's owned sequences: sequence -> its column)
                for s in removed:
                    held.pop(s, None)
                held.update((s, ("", "")) for s in added)
            else:
                held.difference_update(removed)
                held.update(added)


class TableMap(dict[str, "Table"]):
    """The tables of a schema being built, by key, with an index of the schema-qualified keys by their
    last part, so that looking up an unqualified name that is not there costs no scan of every table
    (a dump creating thousands of tables looks each one up before creating it). Every way of changing
    it keeps the index; popitem and clear, which nothing needs, are refused.

    It also counts the constraint names of each schema (`constraint_named`), which PostgreSQL checks when
    it chooses a name for an unnamed constraint: without the count, each CREATE TABLE of a dump would scan
    every constraint created before it."""

    def __init__(self, items: Mapping[str, Table] | None = None) -> None:
        super().__init__()
        self.qualified: dict[str, dict[str, None]] = {}  # (dicts: insertion order, as a scan would find)
        self._named: Counter[tuple[str | None, str]] = Counter()  # (schema, constraint name)
        self._indexed: Counter[tuple[str | None, str]] = Counter()  # … of PRIMARY KEY, UNIQUE, EXCLUDE
        self.touched: set[str] = set()  # keys set or removed since made (or since cleared): for `Delta`
        if isinstance(items, TableMap):  # a copy (each file's replay starts from its history's schema)
            dict.update(self, items)
            self.qualified = {k: dict(v) for k, v in items.qualified.items()}
            self._named, self._indexed = items._named.copy(), items._indexed.copy()
            return
        for k, t in (items or {}).items():
            self[k] = t

    def __setitem__(self, k: str, t: Table) -> None:
        self.touched.add(k)
        if "." in k and k not in self:
            self.qualified.setdefault(k.rsplit(".", 1)[-1].lower(), {})[k] = None
        old = super().get(k)
        if old is not None:
            self._count(k, old, -1)
        super().__setitem__(k, t)
        self._count(k, t, 1)

    def __delitem__(self, k: str) -> None:
        self.touched.add(k)
        old = self[k]
        super().__delitem__(k)
        self._count(k, old, -1)
        if "." in k:
            self.qualified.get(k.rsplit(".", 1)[-1].lower(), {}).pop(k, None)

    def _count(self, k: str, t: Table, by: int) -> None:
        schema = k.rsplit(".", 1)[0] if "." in k else None
        for c in t.constraints:
            self._named[(schema, c.name)] += by
            if c.kind in ("primary key", "unique", "exclude"):
                self._indexed[(schema, c.name)] += by

    def constraint_named(self, name: str, schema: str | None, *, index_backed: bool = False) -> bool:
        """Whether a table of `schema` (None: unqualified keys) has a constraint `name` (with an index of
        that name, for `index_backed`)."""
        return (self._indexed if index_backed else self._named)[(schema, name)] > 0

    def update(self, *others: Any, **more: Table) -> None:
        for other in others:
            for k, t in dict(other).items():
                self[k] = t
        for k, t in more.items():
            self[k] = t

    def pop(self, k: str, *default: Any) -> Any:
        if k in self:
            t = self[k]
            del self[k]
            return t
        if default:
            return default[0]
        raise KeyError(k)

    def setdefault(self, k: str, t: Table) -> Table:
        if k not in self:
            self[k] = t
        return self[k]

    def _refuse(self, *_: Any, **__: Any) -> Any:
        raise TypeError("TableMap changes through [k] = t, del [k], update, pop and setdefault only")

    popitem = clear = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        # (the index and the counts travel with the tables: rebuilding them costs a count per constraint
        # of every table of every stored schema)
        return (_restored, (dict(self), self.qualified, dict(self._named), dict(self._indexed)))


def _restored(tables: dict[str, Table], qualified: dict[str, dict[str, None]], named: dict[tuple[str | None, str], int],
              indexed: dict[tuple[str | None, str], int]) -> TableMap:
    out = TableMap()
    dict.update(out, tables)
    out.qualified = qualified
    out._named, out._indexed = Counter(named), Counter(indexed)
    return out


def find(tables: Mapping[str, Table], name: str, schema: str | None = None) -> Table | None:
    """A table by name: exact key, then folded case, then (unqualified) the same name in any schema."""
    for k in (key(name, schema), key(name.lower(), schema.lower() if schema else None)):
        if k in tables:
            return tables[k]
    if schema is None:
        low = name.lower()
        if isinstance(tables, TableMap):
            for k in tables.qualified.get(low, {}):
                if k.rsplit(".", 1)[-1] in (name, low):
                    return tables[k]
            return None
        for k, t in tables.items():
            if k.rsplit(".", 1)[-1] in (name, low):
                return t
    return None


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(name.lower(), sorted({c.rsplit(".", 1)[-1] for c in candidates}),
                                      n=1, cutoff=0.6)
    return close[0] if close else None


def from_catalog(catalog: Catalog) -> Schema:
    """The catalog's truths as a Schema: its tables, with columns where the catalog names them."""
    tables: dict[str, Table] = {}
    for name, spec in catalog.tables.items():
        schema, _, bare = name.rpartition(".")
        cols = tuple(Column(c.name, normalize_type(c.type) if c.type else None,
                            True if c.nullable is None else c.nullable) for c in spec.columns)
        constraints = tuple(
            Constraint(f"{bare}_{c.name}_fkey", "foreign key", (c.name,), *_split_reference(c.references))
            for c in spec.columns if c.references)
        tables[key(bare, schema or None)] = Table(key(bare, schema or None), cols, constraints,
                                                  exact=bool(spec.columns))
    return Schema(tables=tables)


def _split_reference(ref: str) -> tuple[str, tuple[str, ...]]:
    table, _, cols = ref.partition("(")
    return table.strip().lower(), tuple(c.strip().lower() for c in cols.rstrip(")").split(",") if c.strip())


def normalize_type(text: str) -> str:
    """One spelling per type, so that `INTEGER`, `int4`, `int` and PostgreSQL's own
    `character varying(20)` / sqlglot's `VARCHAR(20)` compare equal."""
    t = " ".join(text.lower().split())
    t = re.sub(r"\s*,\s*", ",", t)
    array = ""
    while t.endswith("[]"):
        array += "[]"
        t = t[:-2].strip()
    m = re.fullmatch(r"(timestamp|time)(\(\d+\))? with(out)? time zone", t)
    if m:
        t = (m.group(1) + ("" if m.group(3) else "tz")) + (m.group(2) or "")
    for long, short in (("character varying", "varchar"), ("character", "char"), ("decimal", "numeric"),
                        ("double precision", "double precision")):
        if t.startswith(long) and (len(t) == len(long) or t[len(long)] == "("):
            t = short + t[len(long):]
            break
    return _TYPE_ALIASES.get(t, t) + array


def normalize_default(text: str) -> str:
    """One spelling per default: casts PostgreSQL adds (`'x'::text`) dropped, keywords and function
    names in lower case (string literals kept as written)."""
    text = text.strip()
    previous = None
    while previous != text:
        previous = text
        text = re.sub(r"::(\"?[\w ]+\"?)(\(\d+(,\d+)?\))?(\[\])?$", "", text).strip()
    parts = re.split(r"('(?:[^']|'')*')", text)
    out = "".join(p if i % 2 else re.sub(r"\s*,\s*", ", ", p.lower()) for i, p in enumerate(parts))
    # sqlglot writes `'s'::regclass` as CAST('s' AS REGCLASS), and now() as CURRENT_TIMESTAMP: one spelling
    out = re.sub(r"cast\(('(?:[^']|'')*') as ([\w ]+)\)", lambda m: f"{m.group(1)}::{m.group(2).strip()}", out)
    return _SAME_DEFAULT.get(out, out)


_SAME_DEFAULT = {"current_timestamp": "now()", "transaction_timestamp()": "now()", "current_timestamp()": "now()"}


def same_default(a: str | None, b: str | None, type_: str | None = None) -> bool:
    """Whether two (normalised) defaults of a column of type `type_` are one expression, however spelled.
    PostgreSQL writes a default back its own way: `'utc'::text`, `'-1'::integer`, `(1000)::numeric`,
    `'01:00:00'::interval` for `interval '1 hour'`, `true` for a boolean's `'t'`, parentheses around every
    operator. Compared as PostgreSQL's parse trees, with positions, parentheses and the casts of
    constants left out (a constant's type is the column's)."""
    if a == b:
        return True
    if a is None or b is None:
        return False
    return _expression_key(a, type_) == _expression_key(b, type_)


def same_expression(a: str, b: str) -> bool:
    """Whether two expressions (an index's key, a default) are one, however PostgreSQL spells them back."""
    return a == b or _expression_key(a) == _expression_key(b)


def _expression_key(text: str, type_: str | None = None) -> object:
    from sqlguard.sql.pgtree import parse

    parsed = parse("SELECT " + text)
    targets = (parsed.node.get("targetList") or []) if parsed.ok and len(parsed.stmts) == 1 else []
    if parsed.kind != "SelectStmt" or len(targets) != 1 or set(parsed.node) - {"targetList", "limitOption", "op"}:
        return text  # (not one PostgreSQL expression: another dialect's, compared as written)
    found = _canonical(targets[0].get("ResTarget", {}).get("val"))
    value = found.get("const") if isinstance(found, dict) else None
    if isinstance(value, str) and type_ == "boolean" and value.lower() in _BOOLEANS:
        return {"const": _BOOLEANS[value.lower()]}  # (PostgreSQL keeps `'t'` as `true`)
    if isinstance(value, str) and type_ is not None and type_.startswith("interval"):
        return {"const": _interval(value)}
    return found


_BOOLEANS = {**dict.fromkeys(("t", "true", "y", "yes", "on", "1"), "True"),
             **dict.fromkeys(("f", "false", "n", "no", "off", "0"), "False")}
_INTERVAL_UNITS = {  # unit -> (months, days, microseconds) per one
    "microsecond": (0, 0, 1), "us": (0, 0, 1), "usec": (0, 0, 1), "millisecond": (0, 0, 1000), "ms": (0, 0, 1000),
    "msec": (0, 0, 1000), "second": (0, 0, 10**6), "s": (0, 0, 10**6), "sec": (0, 0, 10**6),
    "minute": (0, 0, 60 * 10**6), "m": (0, 0, 60 * 10**6), "min": (0, 0, 60 * 10**6),
    "hour": (0, 0, 3600 * 10**6), "h": (0, 0, 3600 * 10**6), "hr": (0, 0, 3600 * 10**6), "day": (0, 1, 0),
    "d": (0, 1, 0), "week": (0, 7, 0), "w": (0, 7, 0), "month": (1, 0, 0), "mon": (1, 0, 0), "year": (12, 0, 0),
    "y": (12, 0, 0), "yr": (12, 0, 0), "decade": (120, 0, 0), "century": (1200, 0, 0), "millennium": (12000, 0, 0),
}


def _interval(text: str) -> str:
    """An interval literal as (months, days, microseconds), as PostgreSQL stores it: `1 hour` and its
    output `01:00:00` are one value. Forms it does not read (ISO 8601, fractional days) stay as written."""
    words = text.strip().lower().lstrip("@").split()
    sign = -1 if words[-1:] == ["ago"] else 1
    words = words[:-1] if sign < 0 else words
    months = days = micros = 0
    i = 0
    try:
        while i < len(words):
            clock = re.fullmatch(r"([+-]?)(\d+):(\d+)(?::(\d+(?:\.\d*)?))?", words[i])
            if clock is not None:
                value = (int(clock.group(2)) * 3600 + int(clock.group(3)) * 60) * 10**6 + round(
                    float(clock.group(4) or 0) * 10**6)
                micros += -value if clock.group(1) == "-" else value
                i += 1
                continue
            number = float(words[i])
            unit = words[i + 1] if i + 1 < len(words) else "second"
            unit = unit if unit in _INTERVAL_UNITS else unit.rstrip("s")  # (`ms` is not `m`)
            unit = {"mil": "millennium", "millennia": "millennium", "centurie": "century"}.get(unit, unit)
            m, d, us = _INTERVAL_UNITS[unit]
            if number != int(number) and (m or d):
                return text
            months, days, micros = months + int(number) * m, days + int(number) * d, micros + round(number * us)
            i += 2
    except (KeyError, ValueError):
        return text
    return f"{sign * months} {sign * days} {sign * micros}"


def _canonical(node: Any) -> Any:
    """The parts of an expression's tree that say what it computes, one way: PostgreSQL's spelling of it
    (pg_get_expr) and the migration's give the same."""
    if isinstance(node, list):
        return [_canonical(n) for n in node]
    if not isinstance(node, dict):
        return node
    if "TypeCast" in node:
        arg = _canonical(node["TypeCast"].get("arg"))
        names = [n.get("String", {}).get("sval") for n in node["TypeCast"].get("typeName", {}).get("names", [])]
        if names[-1:] == ["interval"] and isinstance(arg, dict) and isinstance(arg.get("const"), str):
            return {"const": _interval(arg["const"])}
        # casts of constants, and the `::text` PostgreSQL shows where it compares a varchar with text
        if _constant(arg) or names[-1:] in (["text"], ["varchar"], ["bpchar"], ["name"]):
            return arg
    a_expr = node.get("A_Expr")
    if a_expr is not None and a_expr.get("kind") == "AEXPR_IN" and "List" in (a_expr.get("rexpr") or {}):
        # `x IN ('a', 'b')` is kept as `x = ANY (ARRAY['a', 'b'])`, NOT IN as `x <> ALL (…)`
        op = [n.get("String", {}).get("sval") for n in a_expr.get("name", [])]
        items = a_expr["rexpr"]["List"].get("items")
        return _canonical({"A_Expr": {
            "kind": "AEXPR_OP_ANY" if op == ["="] else "AEXPR_OP_ALL", "name": a_expr.get("name"),
            "lexpr": a_expr.get("lexpr"), "rexpr": {"A_ArrayExpr": {"elements": items}}}})
    if "CollateClause" in node:
        return _canonical(node["CollateClause"].get("arg"))  # (a collation is not modelled)
    if "A_Const" in node:
        from sqlguard.sql.pgtree import const_value

        value = const_value(node)
        return {"const": None if value is None else str(value)}  # (`-1` and PostgreSQL's `'-1'::integer`)
    out = {k: _canonical(v) for k, v in node.items() if k != "location"}
    if "FuncCall" in out and [n.get("String", {}).get("sval") for n in out["FuncCall"].get("funcname", [])[:1]] \
            == ["pg_catalog"]:
        out["FuncCall"] = {**out["FuncCall"], "funcname": out["FuncCall"]["funcname"][1:]}
    return out


def _constant(node: Any) -> bool:
    """A canonical constant, or an array of them."""
    if isinstance(node, dict) and "const" in node:
        return True
    if isinstance(node, dict) and "A_ArrayExpr" in node:
        return all(_constant(e) for e in node["A_ArrayExpr"].get("elements") or ())
    return False


_TYPE_ALIASES = {
    "integer": "int", "int4": "int", "int8": "bigint", "int2": "smallint", "serial4": "serial",
    "serial8": "bigserial", "bool": "boolean", "float8": "double precision", "float4": "real",
    "character varying": "varchar", "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz", "time without time zone": "time",
    "time with time zone": "timetz", "decimal": "numeric", "character": "char",
}


# --- the one diff -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    kind: Literal["added", "removed", "changed"]
    object: str  # table, column, constraint, index, view, sequence, enum, enum value
    name: str  # `likes`, `likes.note`, `likes.likes_user_id_fkey`
    detail: str = ""

    def describe(self) -> str:
        what = f"{self.object} `{self.name}`"
        if self.kind == "changed":
            return f"{what} changed: {self.detail}"
        return f"{what} {self.kind}" + (f" ({self.detail})" if self.detail else "")


def diff(before: Schema, after: Schema) -> list[Change]:
    """What turns `before` into `after`, object by object, in a stable order."""
    out = _diff_mapping("table", before.tables, after.tables, lambda _, a, b: _diff_table(a, b))
    out.extend(_diff_names("view", before.views, after.views))
    out.extend(_diff_names("sequence", before.sequences, after.sequences))
    out.extend(_diff_mapping("index", before.indexes, after.indexes, lambda name, a, b: [] if _same_index(a, b) else [
        Change("changed", "index", name, _index_text(a) + " -> " + _index_text(b))]))
    out.extend(_diff_mapping("enum", before.enums, after.enums, lambda name, a, b: [
        *(Change("added", "enum value", f"{name}.{v}") for v in b if v not in a),
        *(Change("removed", "enum value", f"{name}.{v}") for v in a if v not in b)]))
    out.extend(_diff_mapping("function", before.routines, after.routines, _definition("function")))
    out.extend(_diff_mapping("trigger", before.triggers, after.triggers, _definition("trigger")))
    out.extend(c for c in _diff_mapping("view", before.view_definitions, after.view_definitions, _definition("view"))
               if c.kind == "changed")  # (a view added or dropped: said above)
    out.extend(_diff_mapping("grants on", before.grants, after.grants, lambda name, a, b: [] if a == b else [
        Change("changed", "grants on", name, f"{a} -> {b}")]))
    return out


def _definition(obj: str) -> Callable[[str, str, str], list[Change]]:
    return lambda name, a, b: [] if a == b else [Change("changed", obj, name, "its definition changed")]


def _diff_mapping(obj: str, before: Mapping[str, Any], after: Mapping[str, Any],
                  compare: Callable[[str, Any, Any], list[Change]]) -> list[Change]:
    """Objects by name: added, removed, or (present in both) what `compare` finds."""
    out: list[Change] = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        if a is None:
            out.append(Change("added", obj, name))
        elif b is None:
            out.append(Change("removed", obj, name))
        elif a is not b:  # (snapshots of one replay share what a migration left alone)
            out.extend(compare(name, a, b))
    return out


def _diff_names(obj: str, a: frozenset[str], b: frozenset[str]) -> list[Change]:
    return [Change("added", obj, n) for n in sorted(b - a)] + [Change("removed", obj, n) for n in sorted(a - b)]


def _diff_table(a: Table, b: Table) -> list[Change]:
    out: list[Change] = []
    cols_a = {c.name: c for c in a.columns}
    cols_b = {c.name: c for c in b.columns}
    # a column read from a database under a new name but the same attnum was renamed, not dropped and added
    renamed = {ca.name: cb for ca in a.columns if ca.name not in cols_b and ca.number is not None
               for cb in b.columns if cb.number == ca.number and cb.name not in cols_a}
    for old, new in renamed.items():
        out.append(Change("changed", "column", f"{a.name}.{old}", f"renamed to {new.name}"))
        cols_a[new.name] = replace(cols_a.pop(old), name=new.name)
    for name in [c.name for c in a.columns if c.name not in renamed] + \
            [c.name for c in b.columns if c.name not in cols_a or c.name in {n.name for n in renamed.values()}]:
        ca, cb = cols_a.get(name), cols_b.get(name)
        full = f"{a.name}.{name}"
        if ca is None:
            out.append(Change("added", "column", full))
        elif cb is None:
            out.append(Change("removed", "column", full))
        else:
            details = []
            if ca.type != cb.type and ca.type and cb.type:
                details.append(f"type {ca.type} -> {cb.type}")
            if ca.nullable != cb.nullable:
                details.append("NOT NULL dropped" if cb.nullable else "NOT NULL added")
            if not same_default(ca.default, cb.default, cb.type or ca.type):
                details.append(f"default {ca.default or 'none'} -> {cb.default or 'none'}")
            if details:
                out.append(Change("changed", "column", full, ", ".join(details)))
    cons_a = {c.name: c for c in a.constraints}
    cons_b = {c.name: c for c in b.constraints}
    for name in sorted(set(cons_a) | set(cons_b)):
        xa, xb = cons_a.get(name), cons_b.get(name)
        full = f"{a.name}.{name}"
        if xa is None and xb is not None:
            out.append(Change("added", "constraint", full, xb.kind))
        elif xb is None and xa is not None:
            out.append(Change("removed", "constraint", full, xa.kind))
        elif xa is not None and xb is not None and _constraint_shape(xa) != _constraint_shape(xb):
            out.append(Change("changed", "constraint", full, f"{xa.kind} changed"))
    return out


def _constraint_shape(c: Constraint) -> tuple[object, ...]:
    # no ON DELETE means NO ACTION
    return (c.kind, c.columns, c.ref_table, c.ref_columns, (c.on_delete or "NO ACTION").upper())


def _same_index(a: Index, b: Index) -> bool:
    return a == b or (a.table == b.table and a.unique == b.unique and len(a.columns) == len(b.columns)
                      and all(same_expression(x, y) for x, y in zip(a.columns, b.columns, strict=True))
                      and (a.where == b.where or (a.where is not None and b.where is not None
                                                  and same_expression(a.where, b.where))))


def _index_text(i: Index) -> str:
    return f"{'unique ' if i.unique else ''}on {i.table} ({', '.join(i.columns)})" + (
        f" where {i.where}" if i.where else "")
