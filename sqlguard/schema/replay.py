"""Static replay: statements applied in order to a schema, the way PostgreSQL would apply them.

`SchemaBuilder` is the one mutable schema. It reads each statement's typed description
(`sqlguard.sql.ddl`) and nothing else, and does what the server does with it: the names PostgreSQL
gives unnamed constraints, indexes and sequences (`sqlguard.postgres.names`), the constraints,
indexes and owned sequences that go with a dropped column or table, the columns a partition or a
LIKE takes from its source. What it cannot follow it records in `unreadable`, and a table it is then
unsure of is marked inexact.

Every change is logged as an `Effect` with what was there before: `sqlguard rollback-gen` turns
the log of a migration into its rollback, and SG32 points at the statement that made a change its
rollback does not undo. The schema oracle (tests/test_oracle_schema.py) applies the shared histories
to a real server and compares its catalog with this replay after every migration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from sqlguard.diagnostic import Span
from sqlguard.postgres.names import choose_name, column_names_addition, index_column_names
from sqlguard.schema.model import (
    SYSTEM_SCHEMAS,
    Column,
    Constraint,
    Index,
    Schema,
    Table,
    TableMap,
    find,
    key,
    normalize_default,
    normalize_type,
)
from sqlguard.sql import ddl
from sqlguard.sql.ddl.model import (
    Action,
    AlterEnum,
    AlterSequence,
    AlterTable,
    ColumnDef,
    ConstraintDef,
    CreateIndex,
    CreateSchema,
    CreateSequence,
    CreateTable,
    CreateType,
    CreateView,
    Description,
    Drop,
    Name,
    Rename,
    SetSchema,
)
from sqlguard.sql.split import Statement


@dataclass(frozen=True)
class Effect:
    """One change to the schema. `before` is what was there (for undo), `after` what is now."""

    kind: str  # create table | drop table | rename table | add column | drop column | alter column |
    # rename column | add constraint | drop constraint | rename constraint | create index | drop index |
    # rename index | create view | drop view | rename view | create sequence | drop sequence | create enum |
    # drop enum | add enum value | create schema | rename schema
    target: str  # the table (or index, view, sequence, enum) key
    name: str | None = None  # column or constraint name; the new name for renames
    before: Any = None
    after: Any = None
    span: Span | None = None


_SERIAL_TYPES = {"serial": "int", "serial4": "int", "bigserial": "bigint", "serial8": "bigint",
                 "smallserial": "smallint", "serial2": "smallint"}
# LIKE … INCLUDING options (parsenodes.h, TableLikeOption)
_LIKE_CONSTRAINTS, _LIKE_DEFAULTS, _LIKE_IDENTITY, _LIKE_INDEXES = 1 << 2, 1 << 3, 1 << 5, 1 << 6


@dataclass
class SchemaBuilder:
    tables: TableMap = field(default_factory=TableMap)
    views: set[str] = field(default_factory=set)
    indexes: dict[str, Index] = field(default_factory=dict)
    sequences: set[str] = field(default_factory=set)
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)
    schemas: set[str] = field(default_factory=set)
    dialect: str = "postgres"
    effects: list[Effect] = field(default_factory=list)
    unreadable: list[Span] = field(default_factory=list)
    owned_sequences: dict[str, tuple[str, str]] = field(default_factory=dict)  # sequence -> (table, column)
    temporary: set[str] = field(default_factory=set)  # tables that end with the session

    @classmethod
    def from_schema(cls, schema: Schema | None, dialect: str = "postgres") -> SchemaBuilder:
        if schema is None:
            return cls(dialect=dialect)
        owned = {s: ("", "") for s in schema.owned_sequences}
        return cls(TableMap(schema.tables), set(schema.views), dict(schema.indexes), set(schema.sequences),
                   dict(schema.enums), set(schema.schemas), dialect, owned_sequences=owned)

    def freeze(self) -> Schema:
        return Schema(TableMap(self.tables), frozenset(self.views), dict(self.indexes), frozenset(self.sequences),
                      dict(self.enums), frozenset(self.schemas), frozenset(self.owned_sequences))

    def end_session(self) -> None:
        """A migration's session ended: its temporary tables are gone."""
        for k in list(self.temporary):
            self.tables.pop(k, None)
        self.temporary.clear()

    # --- reading (what checks see through `Known`) ---------------------------------------------

    def table(self, name: str, schema: str | None = None) -> Table | None:
        return find(self.tables, name, schema)

    def has_relation(self, name: str, schema: str | None = None) -> bool:
        if self.table(name, schema) is not None:
            return True
        k = key(name, schema)
        return k in self.views or k.lower() in self.views or (
            schema is None and any(v.rsplit(".", 1)[-1] in (name, name.lower()) for v in self.views))

    def index_of(self, name: str, schema: str | None = None) -> Index | None:
        k = key(name, schema)
        found = self.indexes.get(k) or self.indexes.get(name)
        if found is None and schema is None:
            found = next((v for k2, v in self.indexes.items() if k2.rsplit(".", 1)[-1] == name), None)
        return found

    # --- applying ------------------------------------------------------------------------------

    def apply_text(self, stmt: Statement) -> None:
        """Describe and apply one statement (for replaying files that are not being linted)."""
        if stmt.kind != "sql" or stmt.context not in ("top", "do"):
            return
        for desc in ddl.describe_all(stmt.text, self.dialect):
            self.apply(stmt, desc)

    def apply(self, stmt: Statement, desc: Description) -> None:
        """Apply one statement's description (what runs when the migration runs: not function bodies)."""
        if stmt.kind != "sql" or stmt.context not in ("top", "do"):
            return
        span = stmt.span
        handler = _HANDLERS.get(type(desc))
        if handler is not None:
            handler(self, desc, span)
        if not desc.modelled:
            self.unreadable.append(span)
            name = getattr(desc, "name", None)
            if isinstance(name, Name):
                t = self.table(name.name, name.schema)
                if t is not None:
                    self.tables[t.name] = replace(t, exact=False)

    def _log(self, kind: str, target: str, name: str | None = None, before: Any = None, after: Any = None,
             span: Span | None = None) -> None:
        self.effects.append(Effect(kind, target, name, before, after, span))

    # --- names ---------------------------------------------------------------------------------

    def _schema_of(self, k: str) -> str | None:
        return k.rsplit(".", 1)[0] if "." in k else None

    def _relation_taken(self, name: str, schema: str | None) -> bool:
        k = key(name, schema)
        if k in self.tables or k in self.views or k in self.indexes or k in self.sequences \
                or k in self.owned_sequences:
            return True
        return self.tables.constraint_named(name, self._schema_of(k), index_backed=True)

    def _constraint_taken(self, name: str, schema: str | None) -> bool:
        return self.tables.constraint_named(name, self._schema_of(key("x", schema)))

    def _constraint_name(self, table: str, c: ConstraintDef, others: list[str]) -> str:
        """The name PostgreSQL gives a constraint added to `table` (its key) without one."""
        if c.name:
            return c.name
        bare = table.rsplit(".", 1)[-1]
        schema = self._schema_of(table)
        if self.dialect != "postgres":
            # (SQLite and MySQL name unnamed constraints their own way; these names only need to be stable)
            label = {"primary key": "pkey", "unique": "key", "foreign key": "fkey", "check": "check"}.get(
                c.kind, "excl")
            cols = "_".join(c.columns[:1] if c.kind == "check" else c.columns)
            return f"{bare}_pkey" if c.kind == "primary key" else f"{bare}_{cols}_{label}".replace("__", "_")
        if c.kind == "primary key":
            return choose_name(bare, None, "pkey", lambda n: n in others or self._relation_taken(n, schema)
                               or self._constraint_taken(n, schema))
        if c.kind in ("unique", "exclude"):
            label = "key" if c.kind == "unique" else "excl"
            return choose_name(bare, column_names_addition(c.columns), label,
                               lambda n: n in others or self._relation_taken(n, schema)
                               or self._constraint_taken(n, schema))
        if c.kind == "foreign key":
            return choose_name(bare, column_names_addition(c.columns), "fkey",
                               lambda n: n in others or self._constraint_taken(n, schema))
        cols = tuple(dict.fromkeys(c.columns))
        return choose_name(bare, cols[0] if len(cols) == 1 else None, "check",
                           lambda n: n in others or self._constraint_taken(n, schema))

    # --- tables --------------------------------------------------------------------------------

    def _resolve(self, name: Name | None) -> str:
        """The key of a referenced table: the existing one when known, else as written."""
        if name is None:
            return "?"
        t = self.table(name.name, name.schema)
        return t.name if t is not None else key(name.name, name.schema)

    def _column(self, table_key: str, col: ColumnDef) -> tuple[Column, list[ConstraintDef]]:
        bare = table_key.rsplit(".", 1)[-1]
        ctype = normalize_type(col.type.text) if col.type is not None and col.type.known else None
        nullable = not col.not_null
        default = col.default.text if col.default is not None and not col.default.null else None
        if col.type is not None and col.type.serial:
            ctype = _SERIAL_TYPES[col.type.base]
            schema = self._schema_of(table_key)
            seq = choose_name(bare, col.name, "seq", lambda n: self._relation_taken(n, schema))
            seq_key = key(seq, schema)
            self.owned_sequences[seq_key] = (table_key, col.name)
            default = f"nextval('{seq_key}'::regclass)"
            nullable = False
        if col.identity is not None:
            nullable = False
            default = None
            schema = self._schema_of(table_key)
            seq = choose_name(bare, col.name, "seq", lambda n: self._relation_taken(n, schema))
            self.owned_sequences[key(seq, schema)] = (table_key, col.name)
        if col.generated is not None:
            default = None
        cons = [c if c.columns else replace(c, columns=(col.name,)) for c in col.constraints]
        if any(c.kind == "primary key" for c in cons):
            nullable = False
        return Column(col.name, ctype, nullable, normalize_default(default) if default is not None else None), cons

    def _constraint(self, table_key: str, c: ConstraintDef, others: list[str]) -> Constraint:
        ref_table = None
        ref_cols: tuple[str, ...] = ()
        if c.kind == "foreign key":
            ref_table = self._resolve(c.ref)
            ref_cols = c.ref_columns
            if not ref_cols:
                target = self.tables.get(ref_table)
                ref_cols = target.primary_key if target is not None else ()  # `REFERENCES t`: t's primary key
        name = self._constraint_name(table_key, c, others)
        definition = c.definition or None
        return Constraint(name, c.kind, c.columns, ref_table, ref_cols, c.on_delete, definition)  # type: ignore[arg-type]

    def _create_table(self, d: CreateTable, span: Span) -> None:
        k = key(d.name.name, d.name.schema)
        if self.table(d.name.name, d.name.schema) is not None or k in self.views:
            return  # IF NOT EXISTS (or an error at run time): nothing changes
        columns: list[Column] = []
        constraints: list[Constraint] = []
        exact = d.modelled
        source_indexes: list[Index] = []  # LIKE … INCLUDING INDEXES: copies of their own
        attached: list[Index] = []  # a partition's: part of the parent's index, gone with the partition
        parents = [d.partition_of] if d.partition_of is not None else list(d.inherits)
        for parent_name in parents:
            parent = self.table(parent_name.name, parent_name.schema)
            if parent is None:
                exact = False
                continue
            for col in parent.columns:
                if all(c.name != col.name for c in columns):
                    columns.append(col)
            constraints.extend(c for c in parent.constraints if c.kind == "check")
            if d.partition_of is not None:
                constraints.extend(c for c in parent.constraints if c.kind == "foreign key")
                # a partition gets its own primary key and unique constraints, named after it
                constraints.extend(replace(c, name="") for c in parent.constraints
                                   if c.kind in ("primary key", "unique"))
                attached.extend(i for i in self.indexes.values() if i.table == parent.name)
        for like_name, options in zip(d.like, d.like_options or (0,) * len(d.like), strict=False):
            other = self.table(like_name.name, like_name.schema)
            if other is None:
                exact = False
                continue
            for col in other.columns:
                columns.append(replace(col, default=col.default if options & _LIKE_DEFAULTS else None))
            if options & _LIKE_CONSTRAINTS:
                constraints.extend(c for c in other.constraints if c.kind == "check")
            if options & _LIKE_INDEXES:
                source_indexes.extend(i for i in self.indexes.values() if i.table == other.name)
                constraints.extend(replace(c, name="") for c in other.constraints
                                   if c.kind in ("primary key", "unique", "exclude"))
        if d.as_query is not None:
            # CREATE TABLE … AS: the query's columns, with the types of a `*`'s table (the others' types are
            # the query's, which the replay does not compute)
            sources = [r.name for r in d.references if r.role == "read"]
            source = self.table(sources[0].name, sources[0].schema) if len(sources) == 1 else None
            columns = []
            for n in d.as_query:
                if n == "*" and source is not None:
                    columns.extend(Column(c.name, c.type) for c in source.columns)
                elif n != "*":
                    columns.append(Column(n))
            exact = False
        pending: list[ConstraintDef] = []
        for col in d.columns:
            existing = next((c for c in columns if c.name == col.name), None)
            made, cons = self._column(k, col)
            if existing is not None:  # a column merged with an inherited one
                columns[columns.index(existing)] = replace(existing, nullable=existing.nullable and made.nullable,
                                                           default=made.default or existing.default)
            else:
                columns.append(made)
            pending.extend(cons)
        pending.extend(d.constraints)
        table = Table(k, tuple(columns), (), exact)
        self.tables[k] = table
        if d.persistence == "t":
            self.temporary.add(k)
        # what PostgreSQL names first: check constraints, then the primary key's and unique indexes, then
        # foreign keys (added last, by ALTER TABLE)
        order = {"check": 0, "primary key": 1, "unique": 2, "exclude": 2, "foreign key": 3}
        made_constraints = [c for c in constraints if c.name]
        taken = [c.name for c in made_constraints]
        unnamed_from_like = [c for c in constraints if not c.name]
        for c in sorted(pending, key=lambda c: order.get(c.kind, 4)):
            if c.kind == "not null":
                continue
            if c.kind == "foreign key" and not c.ref_columns:
                # `REFERENCES <this table>` means its primary key, made above
                self.tables[k] = replace(table, constraints=tuple(made_constraints))
            made = self._constraint(k, c, taken)
            taken.append(made.name)
            made_constraints.append(made)
        for c in unnamed_from_like:
            made = self._constraint(k, ConstraintDef(c.kind, None, c.columns), taken)
            taken.append(made.name)
            made_constraints.append(replace(c, name=made.name))
        pk = next((c.columns for c in made_constraints if c.kind == "primary key"), ())
        columns = [replace(c, nullable=False) if c.name in pk else c for c in columns]
        table = Table(k, tuple(columns), tuple(made_constraints), exact)
        self.tables[k] = table
        self._log("create table", k, after=table, span=span)
        for idx in [*source_indexes, *attached]:
            made_index = self._index_like(idx, k)
            if idx in source_indexes:
                # (a partition's index is not logged: it cannot be dropped alone, and goes with its table)
                self._log("create index", made_index.name, after=made_index, span=span)

    def _index_like(self, idx: Index, table: str) -> Index:
        """A copy of `idx` on `table`, named by PostgreSQL's rule (`<table>_<columns>_idx`)."""
        schema = self._schema_of(table)
        name = choose_name(table.rsplit(".", 1)[-1], column_names_addition(index_column_names(idx.columns)), "idx",
                           lambda n: self._relation_taken(n, schema))
        made = Index(key(name, schema), table, idx.columns, idx.unique, idx.where)
        self.indexes[made.name] = made
        return made

    def _alter_table(self, d: AlterTable, span: Span) -> None:
        if d.relkind in ("index", "view", "materialized view", "sequence"):
            return  # options, owners, statistics: nothing the model holds
        t = self.table(d.name.name, d.name.schema)
        if t is None:
            return  # unknown table: SG11 reports it; nothing to change
        for action in d.actions:
            t = self.tables[t.name]
            self._action(t, action, span)
            if t.name not in self.tables:
                return

    def _action(self, t: Table, a: Action, span: Span) -> None:
        kind = a.kind
        if kind == "AT_AddColumn" and a.column_def is not None:
            if t.column(a.column_def.name) is not None:
                return  # ADD COLUMN IF NOT EXISTS on an existing column (or an error at run time)
            col, cons = self._column(t.name, a.column_def)
            t = replace(t, columns=(*t.columns, col))
            self.tables[t.name] = t
            self._log("add column", t.name, col.name, after=col, span=span)
            taken: list[str] = []
            for c in sorted(cons, key=lambda c: {"check": 0, "primary key": 1, "unique": 2}.get(c.kind, 3)):
                if c.kind == "not null":
                    continue
                taken.append(self._add_constraint(t, c, span, taken))
        elif kind == "AT_DropColumn" and a.column:
            self._drop_column(t.name, a.column, span)
        elif kind == "AT_DropConstraint" and a.name:
            c = t.constraint(a.name)
            if c is not None:
                self.tables[t.name] = replace(t, constraints=tuple(x for x in t.constraints if x is not c))
                self._log("drop constraint", t.name, c.name, before=c, span=span)
                if c.kind in ("primary key", "unique") and a.cascade:
                    self._drop_referencing(t.name, c.columns, span)
        elif kind == "AT_AddConstraint" and a.constraint is not None:
            self._add_constraint(t, a.constraint, span)
        elif kind in ("AT_AlterColumnType", "AT_SetNotNull", "AT_DropNotNull", "AT_ColumnDefault", "AT_AddIdentity",
                      "AT_DropIdentity", "AT_DropExpression") and a.column:
            col = t.column(a.column)
            if col is None:
                return
            new = col
            if kind == "AT_AlterColumnType" and a.type is not None and a.type.known:
                new = replace(new, type=normalize_type(a.type.text))
            elif kind == "AT_SetNotNull":
                new = replace(new, nullable=False)
            elif kind == "AT_DropNotNull":
                new = replace(new, nullable=True)
            elif kind == "AT_ColumnDefault":
                default = a.default.text if a.default is not None and not a.default.null else None
                new = replace(new, default=normalize_default(default) if default is not None else None)
            elif kind == "AT_AddIdentity":
                new = replace(new, default=None, nullable=False)
                schema = self._schema_of(t.name)
                seq = choose_name(t.name.rsplit(".", 1)[-1], col.name, "seq",
                                  lambda n: self._relation_taken(n, schema))
                self.owned_sequences[key(seq, schema)] = (t.name, col.name)
            elif kind == "AT_DropIdentity":
                for s, owner in list(self.owned_sequences.items()):
                    if owner == (t.name, col.name):
                        del self.owned_sequences[s]
            if new != col:
                self.tables[t.name] = replace(t, columns=tuple(new if c is col else c for c in t.columns))
                self._log("alter column", t.name, col.name, before=col, after=new, span=span)
        elif kind == "AT_AttachPartition" and a.partition is not None:
            part = self.table(a.partition.name, a.partition.schema)
            if part is not None:
                inherited = [c for c in t.constraints if c.kind in ("check", "foreign key")
                             and part.constraint(c.name) is None]
                if inherited:
                    self.tables[part.name] = replace(part, constraints=(*part.constraints, *inherited))
                self._attach_indexes(t, self.tables[part.name])
        # other subcommands (storage, statistics, triggers, owners, row security, …) change nothing modelled

    def _attach_indexes(self, parent: Table, part: Table) -> None:
        """ATTACH PARTITION: each index and primary key or unique constraint of the parent is matched with
        an equal one of the partition, or made on it (AttachPartitionEnsureIndexes). Not logged: they go
        with DETACH or the partition, and cannot be dropped alone."""
        for c in parent.constraints:
            if c.kind in ("primary key", "unique") and not any(
                    x.kind == c.kind and x.columns == c.columns for x in part.constraints):
                made = self._constraint(part.name, ConstraintDef(c.kind, None, c.columns), [])
                part = replace(part, constraints=(*part.constraints, made))
                self.tables[part.name] = part
        own = [i for i in self.indexes.values() if i.table == part.name]
        for idx in [i for i in self.indexes.values() if i.table == parent.name]:
            if not any((i.columns, i.unique, i.where) == (idx.columns, idx.unique, idx.where) for i in own):
                self._index_like(idx, part.name)

    def _add_constraint(self, t: Table, c: ConstraintDef, span: Span, others: list[str] | None = None) -> str:
        """Add constraint `c` to table `t` (named as PostgreSQL names it, apart from `others` that the same
        statement adds); its name."""
        if c.using_index:
            idx = self.index_of(c.using_index, self._schema_of(t.name))
            cols = idx.columns if idx is not None else c.columns
            name = c.name or c.using_index
            if idx is not None:
                del self.indexes[idx.name]
                self._log("drop index", idx.name, before=idx, span=span)
            c = replace(c, name=name, columns=cols)
        made = self._constraint(t.name, c, others or [])
        t = self.tables[t.name]
        if made.kind == "primary key":
            t = replace(t, columns=tuple(replace(x, nullable=False) if x.name in made.columns else x
                                         for x in t.columns))
        self.tables[t.name] = replace(t, constraints=(*t.constraints, made))
        self._log("add constraint", t.name, made.name, after=made, span=span)
        return made.name

    def _drop_column(self, table: str, name: str, span: Span) -> None:
        t = self.tables[table]
        col = t.column(name)
        if col is None:
            return
        # PostgreSQL drops the constraints, indexes and owned sequences that use the column along with it;
        # they are logged first so that an undo re-creates the column before them.
        lost = tuple(c for c in t.constraints if col.name in c.columns)
        for iname, idx in list(self.indexes.items()):
            if idx.table == table and (col.name in idx.columns or any(
                    col.name in _words(c) for c in idx.columns if c not in (col.name,))):
                del self.indexes[iname]
                self._log("drop index", iname, before=idx, span=span)
        for c in lost:
            self._log("drop constraint", table, c.name, before=c, span=span)
        for s, owner in list(self.owned_sequences.items()):
            if owner == (table, col.name):
                del self.owned_sequences[s]
        self.tables[table] = replace(t, columns=tuple(c for c in t.columns if c is not col),
                                     constraints=tuple(c for c in t.constraints if c not in lost))
        self._log("drop column", table, col.name, before=col, span=span)

    def _drop_referencing(self, table: str, columns: tuple[str, ...], span: Span) -> None:
        """Foreign keys of other tables on `table`'s `columns`, dropped by a CASCADE."""
        for other in list(self.tables.values()):
            gone = [c for c in other.constraints if c.kind == "foreign key" and c.ref_table == table
                    and (not columns or set(c.ref_columns) <= set(columns) or not c.ref_columns)]
            if gone:
                self.tables[other.name] = replace(other, constraints=tuple(c for c in other.constraints
                                                                           if c not in gone))
                for c in gone:
                    self._log("drop constraint", other.name, c.name, before=c, span=span)

    # --- the other statements ------------------------------------------------------------------

    def _create_index(self, d: CreateIndex, span: Span) -> None:
        target = self.table(d.table.name, d.table.schema)
        # (an index of a table the history does not know is kept too: the table may come from outside the
        # history, and which table a later DROP INDEX locks is worth knowing)
        tkey = target.name if target is not None else key(d.table.name, d.table.schema)
        schema = self._schema_of(tkey)
        cols = tuple(c.lower() if c == c.upper() else c for c in d.columns)
        if d.name is not None:
            k = key(d.name.name, schema)
            if self._relation_taken(d.name.name, schema):
                return  # IF NOT EXISTS, or an error at run time
        else:
            bare = tkey.rsplit(".", 1)[-1]
            name = choose_name(bare, column_names_addition(index_column_names(cols)), "idx",
                               lambda n: self._relation_taken(n, schema))
            k = key(name, schema)
        idx = Index(k, tkey, cols, d.unique, d.where)
        self.indexes[k] = idx
        self._log("create index", k, after=idx, span=span)

    def _drop(self, d: Drop, span: Span) -> None:
        for name in d.names:
            self._drop_object(d.object, name, d.cascade, span)

    def _drop_object(self, kind: str, name: Name, cascade: bool, span: Span) -> None:
        k = key(name.name, name.schema)
        if kind in ("table", "foreign table"):
            t = self.table(name.name, name.schema)
            if t is None:
                return
            for iname, idx in list(self.indexes.items()):
                if idx.table == t.name:  # dropped with their table; logged first so undo re-creates them last
                    del self.indexes[iname]
                    self._log("drop index", iname, before=idx, span=span)
            if cascade:
                self._drop_referencing(t.name, (), span)
            for s, owner in list(self.owned_sequences.items()):
                if owner[0] == t.name:
                    del self.owned_sequences[s]
            del self.tables[t.name]
            self.temporary.discard(t.name)
            self._log("drop table", t.name, before=t, span=span)
        elif kind in ("view", "materialized view"):
            found = k if k in self.views else next((v for v in self.views if name.schema is None
                                                    and v.rsplit(".", 1)[-1] == name.name), None)
            if found is not None:
                self.views.discard(found)
                self._log("drop view", found, before=found, span=span)
        elif kind == "index":
            dropped = self.index_of(name.name, name.schema)
            if dropped is not None:
                del self.indexes[dropped.name]
                self._log("drop index", dropped.name, before=dropped, span=span)
        elif kind == "sequence":
            if k in self.sequences:
                self.sequences.discard(k)
                self._log("drop sequence", k, before=k, span=span)
            self.owned_sequences.pop(k, None)
        elif kind in ("type", "domain"):
            if k in self.enums:
                self._log("drop enum", k, before=self.enums.pop(k), span=span)
        elif kind == "schema":
            self._drop_schema(name.name, span)

    def _drop_schema(self, schema: str, span: Span) -> None:
        """DROP SCHEMA … CASCADE takes everything in it along (without CASCADE it had to be empty)."""
        prefix = schema + "."
        for t in [t for t in self.tables.values() if t.name.startswith(prefix)]:
            self._drop_object("table", Name(t.name[len(prefix):], schema), True, span)
        for v in [v for v in self.views if v.startswith(prefix)]:
            self._drop_object("view", Name(v[len(prefix):], schema), True, span)
        for s in [s for s in self.sequences if s.startswith(prefix)]:
            self._drop_object("sequence", Name(s[len(prefix):], schema), True, span)
        for e in [e for e in self.enums if e.startswith(prefix)]:
            self._drop_object("type", Name(e[len(prefix):], schema), True, span)
        for i in [i for i in self.indexes if i.startswith(prefix)]:
            self._drop_object("index", Name(i[len(prefix):], schema), True, span)
        self.schemas.discard(schema)

    def _rename(self, d: Rename, span: Span) -> None:
        obj = d.object
        rel = d.relation
        if obj in ("table", "foreign table") and rel is not None:
            t = self.table(rel.name, rel.schema)
            if t is not None and not self._relation_taken(d.new, self._schema_of(t.name)):
                self._rename_table(t, key(d.new, self._schema_of(t.name)), span)
        elif obj == "column" and rel is not None:
            t = self.table(rel.name, rel.schema)
            col = t.column(d.old) if t is not None else None
            if t is not None and col is not None and t.column(d.new) is None:
                self._rename_column(t, col.name, d.new, span)
        elif obj == "constraint" and rel is not None:
            t = self.table(rel.name, rel.schema)
            c = t.constraint(d.old) if t is not None else None
            if t is not None and c is not None:
                self.tables[t.name] = replace(t, constraints=tuple(replace(x, name=d.new) if x is c else x
                                                                   for x in t.constraints))
                self._log("rename constraint", t.name, d.new, before=d.old, after=d.new, span=span)
        elif obj == "index" and rel is not None:
            idx = self.index_of(rel.name, rel.schema)
            if idx is not None:
                new = key(d.new, self._schema_of(idx.name))
                del self.indexes[idx.name]
                self.indexes[new] = replace(idx, name=new)
                self._log("rename index", new, new, before=idx.name, after=new, span=span)
            else:
                self._rename_constraint_index(rel, d.new, span)
        elif obj in ("view", "materialized view") and rel is not None:
            old = key(rel.name, rel.schema)
            if old in self.views:
                new = key(d.new, rel.schema)
                self.views.discard(old)
                self.views.add(new)
                self._log("rename view", new, new, before=old, after=new, span=span)
        elif obj == "sequence" and rel is not None:
            old = key(rel.name, rel.schema)
            new = key(d.new, rel.schema)
            self._resequence(old, new)
            if old in self.sequences:
                self.sequences.discard(old)
                self.sequences.add(new)
                self._log("rename sequence", new, new, before=old, after=new, span=span)
            elif old in self.owned_sequences:
                self.owned_sequences[new] = self.owned_sequences.pop(old)
        elif obj in ("type", "domain") and rel is not None:
            old = key(rel.name, rel.schema)
            new = key(d.new, rel.schema)
            self._retype(old, new)
            if old in self.enums:
                self.enums[new] = self.enums.pop(old)
                self._log("rename enum", new, new, before=old, after=new, span=span)
        elif obj == "schema":
            self._rename_schema(d.old or (rel.name if rel else ""), d.new, span)

    def _retype(self, old: str, new: str) -> None:
        """A type renamed or moved: the columns of that type (or of arrays of it) follow it, as columns
        refer to their type by OID."""
        for t in list(self.tables.values()):
            if any(c.type is not None and (c.type == old or c.type.startswith(old + "[")) for c in t.columns):
                self.tables[t.name] = replace(t, columns=tuple(
                    replace(c, type=new + c.type[len(old):])
                    if c.type is not None and (c.type == old or c.type.startswith(old + "[")) else c
                    for c in t.columns))

    def _resequence(self, old: str, new: str) -> None:
        """A sequence renamed or moved: `nextval('old')` defaults follow it (the literal is a regclass, an
        OID), as PostgreSQL shows them afterwards."""
        pattern = re.compile(r"nextval\('(?:public\.)?" + re.escape(old) + r"'(?:::regclass)?\)")
        for t in list(self.tables.values()):
            if any(c.default is not None and pattern.search(c.default) for c in t.columns):
                self.tables[t.name] = replace(t, columns=tuple(
                    replace(c, default=pattern.sub(f"nextval('{new}'::regclass)", c.default))
                    if c.default is not None else c for c in t.columns))

    def _rename_constraint_index(self, rel: Name, new: str, span: Span) -> None:
        """ALTER INDEX of the index behind a primary key or unique constraint renames the constraint."""
        for t in self.tables.values():
            if rel.schema is not None and self._schema_of(t.name) != rel.schema:
                continue
            c = next((c for c in t.constraints if c.name == rel.name and c.kind in ("primary key", "unique",
                                                                                      "exclude")), None)
            if c is not None:
                self.tables[t.name] = replace(t, constraints=tuple(replace(x, name=new) if x is c else x
                                                                   for x in t.constraints))
                self._log("rename constraint", t.name, new, before=c.name, after=new, span=span)
                return

    def _rename_column(self, t: Table, old: str, new: str, span: Span) -> None:
        self.tables[t.name] = replace(
            t, columns=tuple(replace(c, name=new) if c.name == old else c for c in t.columns),
            constraints=tuple(replace(c, columns=tuple(new if x == old else x for x in c.columns))
                              for c in t.constraints))
        for iname, idx in list(self.indexes.items()):
            if idx.table == t.name and old in idx.columns:
                self.indexes[iname] = replace(idx, columns=tuple(new if x == old else x for x in idx.columns))
        for other in list(self.tables.values()):
            if any(c.ref_table == t.name and old in c.ref_columns for c in other.constraints):
                self.tables[other.name] = replace(other, constraints=tuple(
                    replace(c, ref_columns=tuple(new if x == old else x for x in c.ref_columns))
                    if c.ref_table == t.name else c for c in other.constraints))
        for s, owner in list(self.owned_sequences.items()):
            if owner == (t.name, old):
                self.owned_sequences[s] = (t.name, new)
        self._log("rename column", t.name, new, before=old, after=new, span=span)

    def _rename_table(self, t: Table, new_key: str, span: Span, log: bool = True) -> None:
        del self.tables[t.name]
        renamed = replace(t, name=new_key)
        if self.dialect != "postgres":
            # SQLite and MySQL have no names for unnamed constraints; the names sqlguard gives them
            # follow the table, so the create-copy-rename idiom ends where it started.
            old_bare, new_bare = t.name.rsplit(".", 1)[-1], new_key.rsplit(".", 1)[-1]
            renamed = replace(renamed, constraints=tuple(
                replace(c, name=new_bare + c.name[len(old_bare):])
                if c.name.startswith(old_bare + "_") and c.name.endswith(("_pkey", "_fkey", "_key", "_check")) else c
                for c in t.constraints))
        self.tables[new_key] = renamed
        if t.name in self.temporary:
            self.temporary.discard(t.name)
            self.temporary.add(new_key)
        for iname, idx in self.indexes.items():
            if idx.table == t.name:
                self.indexes[iname] = replace(idx, table=new_key)
        for other in list(self.tables.values()):
            if any(c.ref_table == t.name for c in other.constraints):
                self.tables[other.name] = replace(other, constraints=tuple(
                    replace(c, ref_table=new_key) if c.ref_table == t.name else c for c in other.constraints))
        for s, owner in list(self.owned_sequences.items()):
            if owner[0] == t.name:
                self.owned_sequences[s] = (new_key, owner[1])
        if log:
            self._log("rename table", new_key, new_key, before=t.name, after=new_key, span=span)

    def _rename_schema(self, old: str, new: str, span: Span) -> None:
        prefix = old + "."

        def moved(k: str) -> str:
            return key(k[len(prefix):], new) if k.startswith(prefix) else k

        for t in [t for t in self.tables.values() if t.name.startswith(prefix)]:
            self._rename_table(t, moved(t.name), span, log=False)  # (undone by renaming the schema back)
        self.views = {moved(v) for v in self.views}
        for s in [s for s in (*self.sequences, *self.owned_sequences) if s.startswith(prefix)]:
            self._resequence(s, moved(s))
        self.sequences = {moved(s) for s in self.sequences}
        self.owned_sequences = {moved(s): owner for s, owner in self.owned_sequences.items()}
        for e in [e for e in self.enums if e.startswith(prefix)]:
            self._retype(e, moved(e))
        self.enums = {moved(e): v for e, v in self.enums.items()}
        self.indexes = {moved(k): replace(i, name=moved(i.name)) for k, i in self.indexes.items()}
        if old in self.schemas:
            self.schemas.discard(old)
            self.schemas.add(new)
        self._log("rename schema", new, new, before=old, after=new, span=span)

    def _set_schema(self, d: SetSchema, span: Span) -> None:
        if d.object in ("table", "foreign table"):
            t = self.table(d.name.name, d.name.schema)
            if t is not None:
                new_key = key(t.name.rsplit(".", 1)[-1], d.new_schema)
                self._rename_table(t, new_key, span)
                # its indexes and the sequences its columns own move with it
                for s, owner in list(self.owned_sequences.items()):
                    if owner[0] == new_key:
                        moved = key(s.rsplit(".", 1)[-1], d.new_schema)
                        self._resequence(s, moved)
                        self.owned_sequences[moved] = self.owned_sequences.pop(s)
                for k, idx in list(self.indexes.items()):
                    if idx.table == new_key:
                        moved = key(k.rsplit(".", 1)[-1], d.new_schema)
                        del self.indexes[k]
                        self.indexes[moved] = replace(idx, name=moved)
        elif d.object in ("view", "materialized view"):
            old = key(d.name.name, d.name.schema)
            if old in self.views:
                self.views.discard(old)
                self.views.add(key(d.name.name, d.new_schema))
        elif d.object == "sequence":
            old = key(d.name.name, d.name.schema)
            self._resequence(old, key(d.name.name, d.new_schema))
            if old in self.sequences:
                self.sequences.discard(old)
                self.sequences.add(key(d.name.name, d.new_schema))
        elif d.object in ("type", "domain"):
            old = key(d.name.name, d.name.schema)
            self._retype(old, key(d.name.name, d.new_schema))
            if old in self.enums:
                self.enums[key(d.name.name, d.new_schema)] = self.enums.pop(old)

    def _create_view(self, d: CreateView, span: Span) -> None:
        k = key(d.name.name, d.name.schema)
        if k not in self.views and self.table(d.name.name, d.name.schema) is None:
            self.views.add(k)
            # (`after` says which kind: a materialized view is dropped by DROP MATERIALIZED VIEW)
            self._log("create view", k, after="materialized view" if d.materialized else "view", span=span)

    def _create_sequence(self, d: CreateSequence, span: Span) -> None:
        k = key(d.name.name, d.name.schema)
        if k in self.sequences or k in self.owned_sequences:
            return
        if d.owned_by is not None:
            self.owned_sequences[k] = (self._resolve(d.owned_by[0]), d.owned_by[1])
            return
        self.sequences.add(k)
        self._log("create sequence", k, after=k, span=span)

    def _alter_sequence(self, d: AlterSequence, span: Span) -> None:
        k = key(d.name.name, d.name.schema)
        if d.owned_by is not None and k in self.sequences:
            self.sequences.discard(k)
            self.owned_sequences[k] = (self._resolve(d.owned_by[0]), d.owned_by[1])
        elif d.owned_by_none and k in self.owned_sequences:
            del self.owned_sequences[k]
            self.sequences.add(k)

    def _create_type(self, d: CreateType, span: Span) -> None:
        if d.type_kind != "enum":
            return  # composite, range, domain and base types are not modelled
        k = key(d.name.name, d.name.schema)
        if k not in self.enums:
            self.enums[k] = d.enum_values
            self._log("create enum", k, after=d.enum_values, span=span)

    def _alter_enum(self, d: AlterEnum, span: Span) -> None:
        k = key(d.name.name, d.name.schema)
        values = self.enums.get(k)
        if values is None:
            return
        if d.renamed_from is not None:
            if d.renamed_from in values:
                self.enums[k] = tuple(d.value if v == d.renamed_from else v for v in values)
            return
        if d.value in values:
            return  # IF NOT EXISTS, or an error at run time
        new = list(values)
        if d.neighbor is not None and d.neighbor in new:
            at = new.index(d.neighbor) + (0 if d.before else 1)
            new.insert(at, d.value)
        else:
            new.append(d.value)
        self.enums[k] = tuple(new)
        self._log("add enum value", k, d.value, after=d.value, span=span)

    def _create_schema(self, d: CreateSchema, span: Span) -> None:
        if d.name and d.name not in self.schemas:
            self.schemas.add(d.name)
            self._log("create schema", d.name, after=d.name, span=span)


def _words(text: str) -> set[str]:
    """The identifiers an index expression uses (`lower(email)` uses `lower` and `email`)."""
    out = set()
    word = ""
    for ch in text + " ":
        if ch.isalnum() or ch in "_$":
            word += ch
        else:
            if word and not word[0].isdigit():
                out.add(word)
            word = ""
    return out


_HANDLERS: dict[type, Any] = {
    CreateTable: SchemaBuilder._create_table,
    AlterTable: SchemaBuilder._alter_table,
    CreateIndex: SchemaBuilder._create_index,
    Drop: SchemaBuilder._drop,
    Rename: SchemaBuilder._rename,
    SetSchema: SchemaBuilder._set_schema,
    CreateView: SchemaBuilder._create_view,
    CreateSequence: SchemaBuilder._create_sequence,
    AlterSequence: SchemaBuilder._alter_sequence,
    CreateType: SchemaBuilder._create_type,
    AlterEnum: SchemaBuilder._alter_enum,
    CreateSchema: SchemaBuilder._create_schema,
}


@dataclass
class Known:
    """What exists at the current statement: the catalog, the history so far, and this file so far.

    Checks read it; the engine applies each statement to `state` after the checks have run.
    """

    state: SchemaBuilder
    catalog: Schema | None = None
    catalog_label: str = "the catalog"  # what `catalog` is: the catalog, and/or a database's schema

    def table(self, name: str, schema: str | None = None) -> Table | None:
        t = self.state.table(name, schema)
        if t is None and self.catalog is not None:
            t = self.catalog.table(name, schema)
        return t

    def has_relation(self, name: str, schema: str | None = None) -> bool:
        return self.state.has_relation(name, schema) or (
            self.catalog is not None and self.catalog.table(name, schema) is not None)

    def names(self) -> list[str]:
        out = set(self.state.tables) | set(self.state.views)
        if self.catalog is not None:
            out |= set(self.catalog.tables)
        return sorted(out)

    def is_foreign(self, name: str, schema: str | None) -> bool:
        """System tables, migration runners' bookkeeping tables, and tables of schemas the project does not
        manage: none of them is the history's to know."""
        from sqlguard.migrations.files import RUNNER_TABLES

        low = name.lower()
        if low.startswith(("pg_", "sqlite_")) or low in ("information_schema", "dual") or low in RUNNER_TABLES:
            return True
        return schema is not None and (schema.lower() in SYSTEM_SCHEMAS or not self.manages_schema(schema))

    def sources(self) -> str:
        """Where a known table would come from, for messages: `not in the catalog, not created …`."""
        found = [f"not in {self.catalog_label}"] if self.catalog is not None else []
        found.append("not created by an earlier migration or earlier in this file")
        return ", ".join(found)

    def manages_schema(self, schema: str) -> bool:
        """Whether objects in `schema` are this project's (created in the history or the catalog).

        A schema nobody here created (`auth` in Supabase, an extension's) is someone else's: its
        tables are not reported as unknown.
        """
        low = schema.lower()
        if low in ("public", "main", "dbo") or low in {s.lower() for s in self.state.schemas}:
            return True
        prefix = low + "."
        return any(n.lower().startswith(prefix) for n in self.names())
