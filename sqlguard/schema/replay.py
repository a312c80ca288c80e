"""Static replay: statements applied in order to a schema, the way PostgreSQL would apply them.

`SchemaBuilder` is the one mutable schema. It reads each statement's syntax tree where sqlglot
gives one, and its lexemes where it does not (DROPs of several objects, `ALTER TYPE … ADD VALUE`,
`RENAME CONSTRAINT`, a CREATE TABLE the parser rejects), so that one unreadable statement does not
make every later reference look unknown. What it cannot apply it records in `unreadable`.

Every change is logged as an `Effect` with what was there before: `sqlguard rollback-gen` turns
the log of a migration into its rollback, and SG32 points at the statement that made a change its
rollback does not undo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlguard.diagnostic import Span
from sqlguard.schema.model import (
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
from sqlguard.sql.lex import Lexeme, lex
from sqlguard.sql.parse import ParseOutcome, dialect_of, parse_statement
from sqlguard.sql.split import Statement

if TYPE_CHECKING:
    from sqlglot import exp


@dataclass(frozen=True)
class Effect:
    """One change to the schema. `before` is what was there (for undo), `after` what is now."""

    kind: str  # create table | drop table | rename table | add column | drop column | alter column |
    # rename column | add constraint | drop constraint | rename constraint | create index | drop index |
    # rename index | create view | drop view | create sequence | drop sequence | create enum |
    # drop enum | add enum value | create schema
    target: str  # the table (or index, view, sequence, enum) key
    name: str | None = None  # column or constraint name; the new name for renames
    before: Any = None
    after: Any = None
    span: Span | None = None


_TABLEISH = {"TABLE", "VIEW", "INDEX", "SEQUENCE", "TYPE", "SCHEMA", "MATERIALIZED", "FOREIGN", "UNIQUE",
             "UNLOGGED", "TEMP", "TEMPORARY", "OR"}


@dataclass
class SchemaBuilder:
    tables: dict[str, Table] = field(default_factory=TableMap)
    views: set[str] = field(default_factory=set)
    indexes: dict[str, Index] = field(default_factory=dict)
    sequences: set[str] = field(default_factory=set)
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)
    schemas: set[str] = field(default_factory=set)
    dialect: str = "postgres"
    effects: list[Effect] = field(default_factory=list)
    unreadable: list[Span] = field(default_factory=list)

    @classmethod
    def from_schema(cls, schema: Schema | None, dialect: str = "postgres") -> SchemaBuilder:
        if schema is None:
            return cls(dialect=dialect)
        return cls(TableMap(schema.tables), set(schema.views), dict(schema.indexes), set(schema.sequences),
                   dict(schema.enums), set(schema.schemas), dialect)

    def freeze(self) -> Schema:
        return Schema(dict(self.tables), frozenset(self.views), dict(self.indexes), frozenset(self.sequences),
                      dict(self.enums), frozenset(self.schemas))

    # --- reading (what checks see through `Known`) ---------------------------------------------

    def table(self, name: str, schema: str | None = None) -> Table | None:
        return find(self.tables, name, schema)

    def has_relation(self, name: str, schema: str | None = None) -> bool:
        if self.table(name, schema) is not None:
            return True
        k = key(name, schema)
        return k in self.views or k.lower() in self.views or (
            schema is None and any(v.rsplit(".", 1)[-1] in (name, name.lower()) for v in self.views))

    # --- applying ------------------------------------------------------------------------------

    def apply_text(self, stmt: Statement) -> None:
        """Parse and apply one statement (for replaying files that are not being linted)."""
        self.apply(stmt, parse_statement(stmt, self.dialect, keep=True), lex(stmt.text, self.dialect))

    def apply(self, stmt: Statement, outcome: ParseOutcome, toks: list[Lexeme]) -> None:
        if stmt.kind != "sql" or stmt.context not in ("top", "do") or not toks or toks[0].kind != "word":
            return
        first = toks[0].upper
        if first not in ("CREATE", "ALTER", "DROP", "RENAME", "COMMENT"):
            return
        span = stmt.span
        try:
            if first == "DROP":
                self._drop(toks, span)
                return
            if outcome.status == "parsed" and self._apply_tree(outcome.tree, span):
                return
            if self._apply_tokens(toks, span):
                return
        except _Unreadable:
            pass
        words = [t.upper for t in toks[:4]]
        if first in ("CREATE", "ALTER", "RENAME") and len(words) > 1 and (set(words[1:3]) & _TABLEISH):
            self.unreadable.append(span)
            table = _token_table(toks)
            if table is not None:
                t = self.table(*table)
                if t is not None:
                    self.tables[t.name] = replace(t, exact=False)

    def _log(self, kind: str, target: str, name: str | None = None, before: Any = None, after: Any = None,
             span: Span | None = None) -> None:
        self.effects.append(Effect(kind, target, name, before, after, span))

    # --- DROP (always from lexemes: sqlglot rejects `DROP INDEX a, b`) -------------------------

    def _drop(self, toks: list[Lexeme], span: Span) -> None:
        from sqlguard.rules._drops import drop_sites

        for site in drop_sites(toks):
            if site.table is not None:
                continue  # ALTER TABLE … DROP is handled with the ALTER
            for name_tok in site.names:
                schema = _qualifier(toks, name_tok)
                self._drop_object(site.kind, name_tok.name, schema, span)

    def _drop_object(self, kind: str, name: str, schema: str | None, span: Span) -> None:
        k = key(name, schema)
        if kind in ("TABLE", "FOREIGN TABLE"):
            t = self.table(name, schema)
            if t is None:
                return
            for iname, idx in list(self.indexes.items()):
                if idx.table == t.name:  # dropped with their table; logged first so undo re-creates them last
                    del self.indexes[iname]
                    self._log("drop index", iname, before=idx, span=span)
            del self.tables[t.name]
            self._log("drop table", t.name, before=t, span=span)
        elif kind in ("VIEW", "MATERIALIZED VIEW"):
            if k in self.views:
                self.views.discard(k)
                self._log("drop view", k, before=k, span=span)
        elif kind == "INDEX":
            dropped = self.indexes.pop(k, None) or self.indexes.pop(name, None)
            if dropped is not None:
                self._log("drop index", dropped.name, before=dropped, span=span)
        elif kind == "SEQUENCE":
            if k in self.sequences:
                self.sequences.discard(k)
                self._log("drop sequence", k, before=k, span=span)
        elif kind in ("TYPE", "DOMAIN"):
            if k in self.enums:
                self._log("drop enum", k, before=self.enums.pop(k), span=span)
        elif kind == "SCHEMA":
            self.schemas.discard(name)

    # --- from the syntax tree -----------------------------------------------------------------

    def _apply_tree(self, tree: exp.Expression, span: Span) -> bool:
        from sqlglot import exp

        if isinstance(tree, exp.Create):
            return self._create(tree, span)
        if isinstance(tree, exp.Alter):
            kind = str(tree.args.get("kind") or "").upper()
            target = tree.this
            if not isinstance(target, exp.Table):
                return False
            if kind == "TABLE":
                return self._alter_table(tree, target, span)
            if kind in ("INDEX", "VIEW") and len(tree.args.get("actions") or []) == 1:
                action = tree.args["actions"][0]
                if isinstance(action, exp.AlterRename) and isinstance(action.this, exp.Table):
                    self._rename_simple(kind, _tkey(target), action.this.name, span)
                    return True
            return False
        return isinstance(tree, exp.Comment)

    def _create(self, tree: exp.Create, span: Span) -> bool:
        from sqlglot import exp

        kind = str(tree.args.get("kind") or "").upper()
        exists = bool(tree.args.get("exists"))
        this = tree.this
        if kind == "TABLE":
            table_node = this.this if isinstance(this, exp.Schema) else this
            if not isinstance(table_node, exp.Table):
                return False
            k = _tkey(table_node)
            if self.table(table_node.name, table_node.db or None) is not None:
                return True  # IF NOT EXISTS (or an error at run time): nothing changes
            table = self._table_from_create(k, tree, this)
            self.tables[k] = table
            self._log("create table", k, after=table, span=span)
            return True
        if kind == "VIEW":
            if isinstance(this, exp.Table):
                k = _tkey(this)
                if k not in self.views:
                    self.views.add(k)
                    self._log("create view", k, after=k, span=span)
                return True
            return False
        if kind == "INDEX" and isinstance(this, exp.Index):
            on_table = this.args.get("table")
            if not isinstance(on_table, exp.Table):
                return False
            tkey = self._resolve(on_table)
            params = this.args.get("params")
            cols = tuple(_sql(c.this if isinstance(c, exp.Ordered) else c, self.dialect).lower()
                         for c in (params.args.get("columns") or [] if params is not None else []))
            name = this.name or _default_index_name(tkey, cols)
            if name in self.indexes and exists:
                return True
            idx = Index(name, tkey, cols, bool(tree.args.get("unique")))
            self.indexes[name] = idx
            self._log("create index", name, after=idx, span=span)
            return True
        if kind == "SEQUENCE" and isinstance(this, exp.Table):
            k = _tkey(this)
            if k not in self.sequences:
                self.sequences.add(k)
                self._log("create sequence", k, after=k, span=span)
            return True
        if kind == "TYPE" and isinstance(this, exp.Table):
            dtype = tree.args.get("expression")
            if isinstance(dtype, exp.DataType) and dtype.this == exp.DataType.Type.ENUM:
                k = _tkey(this)
                values = tuple(v.name for v in dtype.expressions)
                if k not in self.enums:
                    self.enums[k] = values
                    self._log("create enum", k, after=values, span=span)
                return True
            return True  # composite and range types are not modelled
        if kind == "SCHEMA":
            db = this.args.get("db") if isinstance(this, exp.Table) else None
            if db is not None:
                self.schemas.add(db.name)
            return True
        # functions, triggers, extensions, policies, roles: not part of the modelled schema
        return kind in ("FUNCTION", "PROCEDURE", "TRIGGER", "EXTENSION", "POLICY", "ROLE", "USER", "DATABASE")

    def _table_from_create(self, k: str, tree: exp.Create, this: exp.Expression) -> Table:
        from sqlglot import exp

        bare = k.rsplit(".", 1)[-1]
        columns: list[Column] = []
        constraints: list[Constraint] = []
        exact = True
        props = tree.args.get("properties")
        for prop in (props.expressions if props is not None else []):
            if isinstance(prop, exp.PartitionedOfProperty) and isinstance(prop.this, exp.Table):
                parent = self.table(prop.this.name, prop.this.db or None)
                if parent is not None:
                    return replace(parent, name=k, constraints=())
                exact = False
        if tree.args.get("expression") is not None:
            select = tree.args["expression"]
            names = [e.alias_or_name for e in getattr(select, "expressions", [])]
            if names and all(names) and "*" not in names:
                columns = [Column(n.lower()) for n in names]
            exact = False
        if isinstance(this, exp.Schema):
            for item in this.expressions:
                if isinstance(item, exp.ColumnDef):
                    col, cons = self._column_def(bare, item)
                    columns.append(col)
                    constraints.extend(cons)
                elif isinstance(item, exp.LikeProperty) and isinstance(item.this, exp.Table):
                    other = self.table(item.this.name, item.this.db or None)
                    if other is not None:
                        columns.extend(other.columns)
                    else:
                        exact = False
                else:
                    c = self._table_constraint(bare, item)
                    if c is not None:
                        constraints.append(c)
                    elif not isinstance(item, exp.Identifier):
                        exact = exact and isinstance(item, (exp.Constraint, exp.PrimaryKey, exp.ForeignKey))
        pk = next((c.columns for c in constraints if c.kind == "primary key"), ())
        columns = [replace(c, nullable=False) if c.name in pk else c for c in columns]
        return Table(k, tuple(columns), tuple(constraints), exact)

    def _column_def(self, table: str, item: exp.ColumnDef) -> tuple[Column, list[Constraint]]:
        from sqlglot import exp

        name = item.name if item.this.args.get("quoted") else item.name.lower()
        kind = item.args.get("kind")
        ctype = normalize_type(_sql(kind, self.dialect)) if kind is not None else None
        nullable = True
        default = None
        constraints: list[Constraint] = []
        for cc in item.args.get("constraints") or []:
            ck = cc.args.get("kind") if isinstance(cc, exp.ColumnConstraint) else cc
            cname = cc.name if isinstance(cc, exp.ColumnConstraint) and cc.this else None
            if isinstance(ck, exp.NotNullColumnConstraint):
                nullable = bool(ck.args.get("allow_null"))
            elif isinstance(ck, exp.DefaultColumnConstraint):
                default = _sql(ck.this, self.dialect)
            elif isinstance(ck, exp.PrimaryKeyColumnConstraint):
                nullable = False
                constraints.append(Constraint(cname or f"{table}_pkey", "primary key", (name,),
                                              definition="PRIMARY KEY"))
            elif isinstance(ck, exp.UniqueColumnConstraint):
                constraints.append(Constraint(cname or f"{table}_{name}_key", "unique", (name,),
                                              definition="UNIQUE"))
            elif isinstance(ck, exp.CheckColumnConstraint):
                constraints.append(Constraint(cname or f"{table}_{name}_check", "check", _columns_in(ck, (name,)),
                                              definition=_sql(ck, self.dialect)))
            elif isinstance(ck, exp.Reference):
                ref_table, ref_cols, on_delete = self._reference(ck)
                constraints.append(Constraint(cname or f"{table}_{name}_fkey", "foreign key", (name,), ref_table,
                                              ref_cols, on_delete, definition=_sql(ck, self.dialect)))
        if ctype in ("serial", "bigserial", "smallserial", "serial4", "serial8", "serial2"):
            # what PostgreSQL makes of it: an integer column fed by its own sequence
            ctype = {"serial": "int", "serial4": "int", "bigserial": "bigint", "serial8": "bigint"}.get(ctype,
                                                                                                      "smallint")
            default = f"nextval('{table}_{name}_seq'::regclass)"
            nullable = False
        return Column(name, ctype, nullable, normalize_default(default) if default is not None else None), \
            constraints

    def _reference(self, ref: exp.Reference) -> tuple[str, tuple[str, ...], str | None]:
        from sqlglot import exp

        target = ref.this
        cols: tuple[str, ...] = ()
        if isinstance(target, exp.Schema):
            cols = tuple(_ident(c) for c in target.expressions)
            target = target.this
        table = self._resolve(target) if isinstance(target, exp.Table) else "?"
        if not cols and table in self.tables:
            cols = self.tables[table].primary_key  # `REFERENCES t` means t's primary key
        on_delete = None
        for opt in ref.args.get("options") or []:
            text = str(opt).upper()
            if text.startswith("ON DELETE"):
                on_delete = text[len("ON DELETE"):].strip()
        return table, cols, on_delete

    def _table_constraint(self, table: str, item: exp.Expression) -> Constraint | None:
        from sqlglot import exp

        name: str | None = None
        body = item
        if isinstance(item, exp.Constraint):
            name = item.name
            body = item.expressions[0] if item.expressions else item
        if isinstance(body, exp.ForeignKey):
            cols = tuple(_ident(c) for c in body.expressions)
            ref = body.args.get("reference")
            ref_table, ref_cols, on_delete = self._reference(ref) if isinstance(ref, exp.Reference) else ("?", (), None)
            return Constraint(name or f"{table}_{'_'.join(cols)}_fkey", "foreign key", cols, ref_table, ref_cols,
                              on_delete, definition=_sql(body, self.dialect))
        if isinstance(body, exp.PrimaryKey):
            cols = tuple(_ident(c) for c in body.expressions)
            return Constraint(name or f"{table}_pkey", "primary key", cols, definition=_sql(body, self.dialect))
        if isinstance(body, exp.UniqueColumnConstraint):
            schema = body.this
            cols = tuple(_ident(c) for c in schema.expressions) if isinstance(schema, exp.Schema) else ()
            return Constraint(name or f"{table}_{'_'.join(cols)}_key", "unique", cols,
                              definition=_sql(body, self.dialect))
        if isinstance(body, exp.CheckColumnConstraint):
            cols = _columns_in(body, ())
            return Constraint(name or f"{table}_{cols[0] if cols else ''}_check".replace("__", "_"), "check", cols,
                              definition=_sql(body, self.dialect))
        if isinstance(body, exp.ColumnConstraint) and name:
            return Constraint(name, "check", (), definition=_sql(body, self.dialect))
        return None

    def _alter_table(self, tree: exp.Alter, target: exp.Table, span: Span) -> bool:
        from sqlglot import exp

        t = self.table(target.name, target.db or None)
        if t is None:
            return True  # unknown table: SG11 reports it; nothing to change
        for action in tree.args.get("actions") or []:
            t = self.tables[t.name]
            if isinstance(action, exp.ColumnDef):
                col, cons = self._column_def(t.name.rsplit(".", 1)[-1], action)
                if t.column(col.name) is not None:
                    continue  # ADD COLUMN IF NOT EXISTS on an existing column
                self._set(replace(t, columns=(*t.columns, col), constraints=(*t.constraints, *cons)))
                self._log("add column", t.name, col.name, after=col, span=span)
                for c in cons:
                    self._log("add constraint", t.name, c.name, after=c, span=span)
            elif isinstance(action, exp.Drop):
                dkind = str(action.args.get("kind") or "").upper()
                for obj in action.args.get("tables") or []:
                    self._alter_drop(t.name, dkind, obj.name, span)
            elif isinstance(action, exp.AlterColumn):
                self._alter_column(t, action, span)
            elif isinstance(action, exp.RenameColumn):
                old, new = action.this.name, action.args["to"].name
                renamed = t.column(old)
                if renamed is None:
                    continue
                old_name = renamed.name
                self._set(replace(
                    t, columns=tuple(replace(c, name=new) if c is renamed else c for c in t.columns),
                    constraints=tuple(replace(c, columns=tuple(new if x == old_name else x for x in c.columns))
                                      for c in t.constraints)))
                self._log("rename column", t.name, new, before=old_name, after=new, span=span)
            elif isinstance(action, exp.AlterRename) and isinstance(action.this, exp.Table):
                self._rename_table(t, key(action.this.name, target.db or None), span)
            elif isinstance(action, exp.AddConstraint):
                for item in action.expressions:
                    added = self._table_constraint(t.name.rsplit(".", 1)[-1], item)
                    if added is None:
                        continue
                    t = self.tables[t.name]
                    self._set(replace(t, constraints=(*t.constraints, added)))
                    self._log("add constraint", t.name, added.name, after=added, span=span)
            else:
                self.tables[t.name] = replace(self.tables[t.name], exact=False)
        return True

    def _alter_drop(self, table: str, kind: str, name: str, span: Span) -> None:
        t = self.tables[table]
        if kind == "CONSTRAINT":
            c = t.constraint(name)
            if c is not None:
                self._set(replace(t, constraints=tuple(x for x in t.constraints if x is not c)))
                self._log("drop constraint", table, name, before=c, span=span)
            return
        col = t.column(name)
        if col is None:
            return
        # PostgreSQL drops the constraints and indexes that use the column along with it; they are
        # logged first so that an undo re-creates the column before them.
        lost = tuple(c for c in t.constraints if col.name in c.columns)
        for iname, idx in list(self.indexes.items()):
            if idx.table == table and col.name in idx.columns:
                del self.indexes[iname]
                self._log("drop index", iname, before=idx, span=span)
        for c in lost:
            self._log("drop constraint", table, c.name, before=c, span=span)
        self._set(replace(t, columns=tuple(c for c in t.columns if c is not col),
                          constraints=tuple(c for c in t.constraints if c not in lost)))
        self._log("drop column", table, col.name, before=col, span=span)

    def _alter_column(self, t: Table, action: exp.AlterColumn, span: Span) -> None:
        col = t.column(action.name)
        if col is None:
            return
        new = col
        if action.args.get("dtype") is not None:
            new = replace(new, type=normalize_type(_sql(action.args["dtype"], self.dialect)))
        if action.args.get("allow_null") is not None:
            new = replace(new, nullable=bool(action.args["allow_null"]))
        elif action.args.get("drop"):
            new = replace(new, default=None)
        if action.args.get("default") is not None:
            new = replace(new, default=normalize_default(_sql(action.args["default"], self.dialect)))
        if new != col:
            self._set(replace(t, columns=tuple(new if c is col else c for c in t.columns)))
            self._log("alter column", t.name, col.name, before=col, after=new, span=span)

    def _rename_table(self, t: Table, new_key: str, span: Span) -> None:
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
        for iname, idx in self.indexes.items():
            if idx.table == t.name:
                self.indexes[iname] = replace(idx, table=new_key)
        for other in list(self.tables.values()):
            if any(c.ref_table == t.name for c in other.constraints):
                self._set(replace(other, constraints=tuple(
                    replace(c, ref_table=new_key) if c.ref_table == t.name else c for c in other.constraints)))
        self._log("rename table", new_key, new_key, before=t.name, after=new_key, span=span)

    def _rename_simple(self, kind: str, old: str, new: str, span: Span) -> None:
        if kind == "INDEX":
            idx = self.indexes.pop(old, None)
            if idx is not None:
                self.indexes[new] = replace(idx, name=new)
                self._log("rename index", new, new, before=old, after=new, span=span)
        elif kind == "VIEW" and old in self.views:
            self.views.discard(old)
            self.views.add(new)
            self._log("rename view", new, new, before=old, after=new, span=span)
        elif kind == "SEQUENCE" and old in self.sequences:
            self.sequences.discard(old)
            self.sequences.add(new)

    def _set(self, t: Table) -> None:
        self.tables[t.name] = t

    def _resolve(self, table: exp.Table) -> str:
        """The key of a referenced table: the existing one when known, else as written."""
        t = self.table(table.name, table.db or None)
        return t.name if t is not None else _tkey(table)

    # --- from lexemes, for what sqlglot keeps opaque or rejects ---------------------------------

    def _apply_tokens(self, toks: list[Lexeme], span: Span) -> bool:
        w = [*(t.upper for t in toks[:6]), "", ""]  # (padded: `ALTER;` has no second word)
        if w[:2] == ["ALTER", "TYPE"] and len(toks) > 3:
            name = toks[2].name
            rest = w[3:]
            if rest[:2] == ["ADD", "VALUE"]:
                value = next((t.value.strip("'") for t in toks[4:] if t.kind == "string"), None)
                if value is not None and name in self.enums and value not in self.enums[name]:
                    self.enums[name] = (*self.enums[name], value)
                    self._log("add enum value", name, value, after=value, span=span)
                return True
            return True  # RENAME TO / RENAME VALUE / OWNER TO: not modelled beyond the values
        if w[:2] == ["ALTER", "TABLE"]:
            i = 2
            while i < len(toks) and toks[i].upper in ("IF", "EXISTS", "ONLY"):
                i += 1
            if i >= len(toks):
                return False
            t = self.table(toks[i].name, _qualifier(toks, toks[i]))
            if i + 2 < len(toks) and toks[i + 1].value == ".":
                t = self.table(toks[i + 2].name, toks[i].name)
                i += 2
            rest = [x.upper for x in toks[i + 1:i + 3]]
            if rest == ["RENAME", "CONSTRAINT"] and t is not None and i + 5 < len(toks):
                old, new = toks[i + 3].name, toks[i + 5].name
                c = t.constraint(old)
                if c is not None:
                    self._set(replace(t, constraints=tuple(replace(x, name=new) if x is c else x
                                                           for x in t.constraints)))
                    self._log("rename constraint", t.name, new, before=old, after=new, span=span)
                return True
            if t is None:
                return True  # unknown table: SG11's finding, not a replay gap
            # other ALTER TABLE forms the parser rejected: drops still apply, the rest is unknown
            from sqlguard.rules._drops import drop_sites

            dropped = False
            for site in drop_sites(toks):
                for n in site.names:
                    self._alter_drop(t.name, site.kind, n.name, span)
                    dropped = True
            if not dropped:
                raise _Unreadable
            return True
        if w[:1] == ["CREATE"]:
            i = 1
            while i < len(toks) and toks[i].upper in ("OR", "REPLACE", "UNIQUE", "TEMP", "TEMPORARY", "UNLOGGED",
                                                      "GLOBAL", "LOCAL", "MATERIALIZED", "RECURSIVE"):
                i += 1
            if i >= len(toks):
                return False
            kind = toks[i].upper
            j = i + 1
            while j < len(toks) and toks[j].upper in ("IF", "NOT", "EXISTS", "CONCURRENTLY"):
                j += 1
            if kind in ("FUNCTION", "PROCEDURE", "TRIGGER", "EXTENSION", "POLICY", "ROLE", "USER", "DATABASE",
                        "CAST", "OPERATOR", "AGGREGATE", "COLLATION", "EVENT", "PUBLICATION", "SUBSCRIPTION",
                        "SERVER", "RULE", "STATISTICS", "DOMAIN", "LANGUAGE", "ACCESS", "TEXT", "CONVERSION",
                        "TRANSFORM"):
                return True
            if j >= len(toks) or toks[j].kind not in ("word", "quoted"):
                return False
            schema, name = _qualified_at(toks, j)
            k = key(name, schema)
            if kind == "TABLE":
                if self.table(name, schema) is None:
                    t = Table(k, exact=False)
                    self.tables[k] = t
                    self._log("create table", k, after=t, span=span)
                return True
            if kind == "VIEW":
                if k not in self.views:
                    self.views.add(k)
                    self._log("create view", k, after=k, span=span)
                return True
            if kind == "SEQUENCE":
                if k not in self.sequences:
                    self.sequences.add(k)
                    self._log("create sequence", k, after=k, span=span)
                return True
            if kind == "SCHEMA":
                self.schemas.add(name)
                return True
            if kind == "TYPE":
                if j + 2 < len(toks) and toks[j + 1].upper == "AS" and toks[j + 2].upper == "ENUM":
                    values = tuple(t.value.strip("'") for t in toks[j + 3:] if t.kind == "string")
                    if k not in self.enums:
                        self.enums[k] = values
                        self._log("create enum", k, after=values, span=span)
                return True
            if kind == "INDEX":
                on = next((n for n in range(j, len(toks)) if toks[n].upper == "ON"), None)
                if on is None or on + 1 >= len(toks):
                    return False
                at = on + 1
                if toks[at].upper == "ONLY":
                    at += 1
                tschema, tname = _qualified_at(toks, at)
                target = self.table(tname, tschema)
                tkey = target.name if target is not None else key(tname, tschema)
                iname = name if toks[j].upper != "ON" else _default_index_name(tkey, ())
                idx = Index(iname, tkey, (), "UNIQUE" in w[:3])
                if iname not in self.indexes:
                    self.indexes[iname] = idx
                    self._log("create index", iname, after=idx, span=span)
                return True
            return False
        if w[:2] == ["RENAME", "TABLE"] and len(toks) > 4:  # MySQL: RENAME TABLE a TO b, c TO d
            pairs: list[list[Lexeme]] = [[]]
            for tok in toks[2:]:
                if tok.value == ",":
                    pairs.append([])
                else:
                    pairs[-1].append(tok)
            for pair in pairs:
                to = next((n for n, x in enumerate(pair) if x.upper == "TO"), None)
                if to is None or to == 0 or to + 1 >= len(pair):
                    continue
                t = self.table(pair[to - 1].name)
                if t is not None:
                    self._rename_table(t, pair[-1].name, span)
            return True
        if w[:2] in (["ALTER", "SEQUENCE"], ["ALTER", "INDEX"], ["ALTER", "VIEW"]) and "RENAME" in w:
            to = next((n for n in range(2, len(toks)) if toks[n].upper == "TO"), None)
            if to is not None and to + 1 < len(toks):
                self._rename_simple(w[1], toks[2].name, toks[to + 1].name, span)
            return True
        return w[0] == "COMMENT" or (w[0] == "ALTER" and w[1] not in _TABLEISH)


class _Unreadable(Exception):
    """A DDL statement the replay cannot apply (recorded, never raised past `apply`)."""


def _sql(node: Any, dialect: str) -> str:
    # copy=False: sqlglot otherwise deep-copies the node before generating (a tenth of a cold run);
    # the generators of the three dialects read the tree without changing it (the snapshots say so)
    return str(node.sql(dialect=dialect_of(dialect), copy=False))


def _columns_in(node: Any, first: tuple[str, ...]) -> tuple[str, ...]:
    """The columns a CHECK reads: dropping any of them drops the constraint."""
    from sqlglot import exp

    out = list(first)
    for col in node.find_all(exp.Column):
        name = _ident(col.this) if col.this is not None else col.name.lower()
        if name not in out:
            out.append(name)
    return tuple(out)


def _ident(node: Any) -> str:
    name = str(node.name)
    quoted = bool(getattr(node, "args", {}).get("quoted"))
    return name if quoted else name.lower()


def _tkey(table: exp.Table) -> str:
    name = table.name if table.this.args.get("quoted") else table.name.lower()
    return key(name, table.db or None)


def _default_index_name(table: str, cols: tuple[str, ...]) -> str:
    bare = table.rsplit(".", 1)[-1]
    simple = [c for c in cols if re.fullmatch(r"\w+", c)]
    return f"{bare}_{'_'.join(simple) or 'expr'}_idx"


def _qualifier(toks: list[Lexeme], name_tok: Lexeme) -> str | None:
    i = toks.index(name_tok)
    if i >= 2 and toks[i - 1].value == ".":
        return toks[i - 2].name
    return None


def _qualified_at(toks: list[Lexeme], j: int) -> tuple[str | None, str]:
    if j + 2 < len(toks) and toks[j + 1].value == "." and toks[j + 2].kind in ("word", "quoted"):
        return toks[j].name, toks[j + 2].name
    return None, toks[j].name


def _token_table(toks: list[Lexeme]) -> tuple[str, str | None] | None:
    if len(toks) > 2 and toks[0].upper == "ALTER" and toks[1].upper == "TABLE":
        i = 2
        while i < len(toks) and toks[i].upper in ("IF", "EXISTS", "ONLY"):
            i += 1
        if i < len(toks):
            schema, name = _qualified_at(toks, i)
            return name, schema
    return None


@dataclass
class Known:
    """What exists at the current statement: the catalog, the history so far, and this file so far.

    Checks read it; the engine applies each statement to `state` after the checks have run.
    """

    state: SchemaBuilder
    catalog: Schema | None = None

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
