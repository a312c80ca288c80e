"""The typed description of one statement: what it is, what it creates, alters, drops or renames, which
lock it takes on which relation, and whether it may run inside a transaction block.

Plain frozen data, made once per statement by `sqlguard.sql.ddl.describe` (from PostgreSQL's own parse
tree for PostgreSQL, from sqlglot's tree and the lexemes for MySQL and SQLite). The replay, the rules,
`rollback-gen`, `sqlguard apply` and the sqlfluff plugin read statements through it and nothing else.

Positions (`At`) are character offsets into the statement's text, as lexemes' are: a rule turns them
into file spans with its context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlguard.postgres.locks import Lock

_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*\Z")


def quote(name: str) -> str:
    """An identifier as it must be written in SQL (`users`, `"UserProfiles"`)."""
    return name if _PLAIN.match(name) else '"' + name.replace('"', '""') + '"'


_QUOTED = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*")""")


def lower_unquoted(text: str) -> str:
    """An expression in lower case, except its string literals and quoted names (`lower("Email")`,
    `coalesce(x, 'N/A')`): one spelling, that still means what was written."""
    return "".join(p if i % 2 else p.lower() for i, p in enumerate(_QUOTED.split(text)))


@dataclass(frozen=True, slots=True)
class At:
    """Where something is written in the statement: character offsets into its text."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Name:
    """An object's name as PostgreSQL resolves it (unquoted names folded to lower case)."""

    name: str
    schema: str | None = None
    at: At | None = None

    @property
    def sql(self) -> str:
        """The name as SQL: `auth.users`, `"Users"`."""
        return (quote(self.schema) + "." if self.schema else "") + quote(self.name)


@dataclass(frozen=True, slots=True)
class TypeRef:
    """A column's or a cast's type."""

    text: str  # one spelling for the schema model: `varchar(20)[]`, `timestamptz(3)`, `mood`
    base: str  # the type's own name as PostgreSQL knows it: `int4`, `varchar`, `serial`, `mood`
    mods: tuple[int, ...] = ()
    array: bool = False
    at: At | None = None
    known: bool = True  # False for `t.c%TYPE` and the like

    @property
    def serial(self) -> bool:
        return not self.array and self.base in ("serial", "serial4", "bigserial", "serial8", "smallserial", "serial2")


@dataclass(frozen=True, slots=True)
class Expr:
    """An expression as written (a DEFAULT, a CHECK, a USING)."""

    text: str
    at: At | None = None
    calls: tuple[str, ...] = ()  # the functions it calls, lower case
    null: bool = False  # exactly NULL
    column_refs: tuple[str, ...] = ()  # the columns it reads


@dataclass(frozen=True, slots=True)
class ConstraintDef:
    kind: str  # primary key | unique | foreign key | check | exclude | not null
    name: str | None = None
    columns: tuple[str, ...] = ()
    ref: Name | None = None  # foreign keys: the referenced table
    ref_columns: tuple[str, ...] = ()
    on_delete: str | None = None  # NO ACTION | RESTRICT | CASCADE | SET NULL | SET DEFAULT
    not_valid: bool = False
    using_index: str | None = None
    check: Expr | None = None
    at: At | None = None
    definition: str = ""  # as written, to re-create it
    nulls_not_distinct: bool = False
    not_null_of: str | None = None  # a CHECK that is exactly `column IS NOT NULL`: the column


@dataclass(frozen=True, slots=True)
class ColumnDef:
    name: str
    type: TypeRef | None = None
    not_null: bool = False
    default: Expr | None = None
    identity: str | None = None  # always | by default
    generated: Expr | None = None  # GENERATED ALWAYS AS (…) STORED
    constraints: tuple[ConstraintDef, ...] = ()  # inline PRIMARY KEY, UNIQUE, CHECK, REFERENCES
    at: At | None = None  # the whole definition
    name_at: At | None = None

    def has(self, kind: str) -> ConstraintDef | None:
        return next((c for c in self.constraints if c.kind == kind), None)


@dataclass(frozen=True, slots=True)
class RelationLock:
    """A lock the statement takes on a relation (a table, or an index when its table is not named)."""

    relation: Name
    lock: Lock
    relkind: str = "table"  # table | index | view | materialized view | sequence
    form: str = ""  # the form of statement, as `postgres.locks` keys it


@dataclass(frozen=True, slots=True)
class Reference:
    """A table the statement names, and in which role."""

    name: Name
    role: str  # read | write | create | fk | drop | alter
    conditional: bool = False  # IF EXISTS: absence is expected
    columns: tuple[str, ...] = ()  # fk: the referenced columns


@dataclass(frozen=True, slots=True)
class Setting:
    """A run-time setting the statement changes: SET, SET LOCAL, RESET, set_config()."""

    name: str
    value: str | None  # None: back to the default (RESET, SET … TO DEFAULT)
    local: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Description:
    """What every statement has."""

    kind: str  # `create table`, `alter table`, `drop`, `select`, … (`other` with `node` naming it)
    node: str = ""  # PostgreSQL's parse-node name (`AlterTableStmt`), or sqlglot's class name
    locks: tuple[RelationLock, ...] = ()
    references: tuple[Reference, ...] = ()
    # why it cannot run inside a transaction block (`CREATE INDEX CONCURRENTLY`); None: it can
    outside_transaction: str | None = None
    transaction: str | None = None  # begin | commit | rollback | savepoint | release | rollback to | prepare
    settings: tuple[Setting, ...] = ()
    modelled: bool = True  # False: it changes the schema in a way the replay does not follow
    unmodelled: str = ""  # what is not followed, for the info message


@dataclass(frozen=True, kw_only=True, slots=True)
class CreateTable(Description):
    name: Name
    if_not_exists: bool = False
    persistence: str = "p"  # p (permanent) | u (unlogged) | t (temporary)
    columns: tuple[ColumnDef, ...] = ()
    constraints: tuple[ConstraintDef, ...] = ()
    like: tuple[Name, ...] = ()
    like_options: tuple[int, ...] = ()  # each LIKE's INCLUDING options, as PostgreSQL's bit mask
    inherits: tuple[Name, ...] = ()
    partition_of: Name | None = None
    partitioned: bool = False
    as_query: tuple[str, ...] | None = None  # CREATE TABLE … AS: the column names known from the query


@dataclass(frozen=True, slots=True)
class Action:
    """One subcommand of an ALTER TABLE."""

    kind: str  # PostgreSQL's subcommand type: AT_AddColumn, AT_DropColumn, AT_AlterColumnType, …
    lock: Lock
    at: At | None = None
    column: str | None = None
    column_at: At | None = None
    column_def: ColumnDef | None = None  # AT_AddColumn
    constraint: ConstraintDef | None = None  # AT_AddConstraint
    name: str | None = None  # the constraint of AT_DropConstraint / AT_ValidateConstraint, …
    name_at: At | None = None
    type: TypeRef | None = None  # AT_AlterColumnType
    using: Expr | None = None
    default: Expr | None = None  # AT_ColumnDefault (None: DROP DEFAULT)
    if_exists: bool = False
    cascade: bool = False
    partition: Name | None = None  # ATTACH / DETACH PARTITION
    concurrently: bool = False
    options: tuple[str, ...] = ()  # SET (…) / RESET (…): the parameters named
    identity: str | None = None  # AT_AddIdentity: always | by default
    if_exists_at: int | None = None  # DROP COLUMN / CONSTRAINT: where `IF EXISTS` belongs (after this offset)
    concurrently_at: At | None = None  # DETACH PARTITION … CONCURRENTLY
    # AT_AlterColumnType: USING is the column itself, or the column cast to the new type (no value changes)
    using_plain: bool = False
    # Whether PostgreSQL rewrites the table (every row and index) for it: `no`, `yes`; `if-volatile` (an ADD
    # COLUMN default calling a function sqlguard does not know: a rewrite if it is VOLATILE), `before-11`
    # (a constant default: a rewrite before PostgreSQL 11), `type-change` (ALTER COLUMN TYPE: it depends
    # on the column's current type, `postgres.types.type_change`)
    rewrites: str = "no"
    # Whether it reads every row while it holds its lock: a NOT NULL or constraint check, an index build
    scans: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class AlterTable(Description):
    name: Name
    relkind: str = "table"  # table | index | view | materialized view | foreign table | sequence
    if_exists: bool = False
    only: bool = False
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class CreateIndex(Description):
    name: Name | None  # None: PostgreSQL chooses it
    table: Name
    columns: tuple[str, ...] = ()  # column names, or expressions as written
    unique: bool = False
    concurrently: bool = False
    if_not_exists: bool = False
    only: bool = False  # ON ONLY: a partitioned table's parent index
    partial: bool = False
    where: str | None = None  # a partial index's predicate, as written
    keyword_at: At | None = None  # the INDEX keyword (CONCURRENTLY goes after it)
    concurrently_at: At | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Drop(Description):
    object: str  # table | view | materialized view | index | sequence | type | domain | schema | function | …
    names: tuple[Name, ...]
    table: Name | None = None  # DROP TRIGGER / POLICY / RULE … ON table
    if_exists: bool = False
    cascade: bool = False
    concurrently: bool = False
    keyword_at: At | None = None  # the DROP
    if_exists_at: int | None = None  # where `IF EXISTS` belongs (after this offset)
    concurrently_at: At | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Rename(Description):
    object: str  # table | view | materialized view | index | sequence | foreign table | column | constraint |
    # type | schema | function | trigger | policy | enum value | …
    relation: Name | None  # the renamed relation, or the table of a column, constraint, trigger, policy
    old: str
    new: str
    old_at: At | None = None
    new_at: At | None = None
    if_exists: bool = False
    relation_kind: str = "table"  # of a column's or constraint's relation: table | view | materialized view | …


@dataclass(frozen=True, kw_only=True, slots=True)
class SetSchema(Description):
    object: str
    name: Name
    new_schema: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CreateView(Description):
    name: Name
    materialized: bool = False
    replace: bool = False
    if_not_exists: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class CreateSequence(Description):
    name: Name
    if_not_exists: bool = False
    owned_by: tuple[Name, str] | None = None  # (table, column)


@dataclass(frozen=True, kw_only=True, slots=True)
class AlterSequence(Description):
    name: Name
    owned_by: tuple[Name, str] | None = None
    owned_by_none: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class CreateType(Description):
    name: Name
    type_kind: str  # enum | composite | range | domain | base | shell
    enum_values: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class AlterEnum(Description):
    name: Name
    value: str  # the value added, or the new name of a renamed one
    value_at: At | None = None
    neighbor: str | None = None
    before: bool = False
    if_not_exists: bool = False
    renamed_from: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CreateSchema(Description):
    name: str
    if_not_exists: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class CreateRoutine(Description):
    name: Name
    routine: str = "function"  # function | procedure
    replace: bool = False
    language: str = ""
    volatility: str = "VOLATILE"  # VOLATILE | STABLE | IMMUTABLE
    body: At | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CreateOn(Description):
    """CREATE TRIGGER / POLICY / RULE / STATISTICS … ON table."""

    object: str
    name: str
    table: Name


@dataclass(frozen=True, kw_only=True, slots=True)
class Truncate(Description):
    tables: tuple[Name, ...]
    cascade: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Dml(Description):
    """SELECT, INSERT, UPDATE, DELETE, MERGE."""

    verb: str  # SELECT | INSERT | UPDATE | DELETE | MERGE
    target: Name | None = None
    where: bool = True  # UPDATE / DELETE: has a WHERE (or a join that limits it)
    verb_at: At | None = None
    assigned: tuple[str, ...] = ()  # UPDATE: the columns its SET assigns


@dataclass(frozen=True, kw_only=True, slots=True)
class Maintenance(Description):
    """VACUUM, ANALYZE, CLUSTER, REINDEX, REFRESH MATERIALIZED VIEW, LOCK TABLE."""

    command: str  # VACUUM | ANALYZE | CLUSTER | REINDEX | REFRESH | LOCK
    tables: tuple[Name, ...] = ()  # none: every table (of the database or, for REINDEX, the schema)
    target: str = ""  # REINDEX: INDEX | TABLE | SCHEMA | DATABASE | SYSTEM
    full: bool = False
    concurrently: bool = False
    concurrently_at: At | None = None
    mode: Lock | None = None  # LOCK TABLE
    nowait: bool = False

    @property
    def rewrites(self) -> bool:
        """VACUUM FULL and CLUSTER copy the whole table into a new file."""
        return (self.command == "VACUUM" and self.full) or self.command == "CLUSTER"


@dataclass(frozen=True, kw_only=True, slots=True)
class Other(Description):
    """A statement no rule asks more of (GRANT, CREATE EXTENSION, DO, SET, BEGIN, …)."""

    detail: dict[str, Any] = field(default_factory=dict)


STATEMENT_KINDS = (CreateTable, AlterTable, CreateIndex, Drop, Rename, SetSchema, CreateView, CreateSequence,
                   AlterSequence, CreateType, AlterEnum, CreateSchema, CreateRoutine, CreateOn, Truncate, Dml,
                   Maintenance, Other)
