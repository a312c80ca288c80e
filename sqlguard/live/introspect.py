"""Live introspection: what a PostgreSQL database really holds, as the one Schema model.

Read from `pg_catalog` (the source `information_schema` is built on, and the only place that knows
index definitions, enum order and which sequences belong to a column). Objects PostgreSQL creates
on its own are left out so that a live schema compares cleanly with a replayed one: indexes that
back a PRIMARY KEY or UNIQUE constraint, and sequences owned by a serial or identity column.
"""

from __future__ import annotations

import re
from typing import Any

from sqlguard.schema.model import Column, Constraint, Index, Schema, Table, key, normalize_default, normalize_type
from sqlguard.sql.ddl.model import lower_unquoted

# (run without parameters, so `%` needs no doubling; `%%` would still match as two wildcards)
_SKIP_SCHEMAS = ("('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
                 "AND n.nspname NOT LIKE 'pg_temp%'")

_TABLES = f"""
SELECT c.oid, n.nspname, c.relname, c.relkind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
   AND n.nspname NOT IN {_SKIP_SCHEMAS}
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
 ORDER BY n.nspname, c.relname
"""

_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, a.attnum
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attrelid = ANY(%s)
 ORDER BY a.attrelid, a.attnum
"""

_CONSTRAINTS = """
SELECT con.conrelid, con.conname, con.contype,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
              JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i),
       con.confrelid,
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
              JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i),
       con.confdeltype, pg_get_constraintdef(con.oid)
  FROM pg_constraint con
 WHERE con.conrelid = ANY(%s) AND con.contype IN ('p', 'f', 'u', 'c', 'x')
 ORDER BY con.conrelid, con.conname
"""

_INDEXES = """
SELECT i.indrelid, ic.relname, i.indisunique, i.indnatts,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) k),
       n.nspname, pg_get_expr(i.indpred, i.indrelid, true)
  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
 WHERE i.indrelid = ANY(%s)
   AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x'))
 ORDER BY ic.relname
"""

_OWNED_SEQUENCES = """
SELECT d.objid FROM pg_depend d
 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
"""

_ENUMS = f"""
SELECT n.nspname, t.typname, ARRAY(SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid
                                   ORDER BY e.enumsortorder)
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE t.typtype = 'e' AND n.nspname NOT IN {_SKIP_SCHEMAS}
"""

_SCHEMAS = f"""
SELECT n.nspname FROM pg_namespace n
 WHERE n.nspname NOT IN {_SKIP_SCHEMAS} AND n.nspname <> 'public'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = n.oid AND d.deptype = 'e')
"""

# What only the catalog tells (`objects=True`): routines (not aggregates, whose definition
# pg_get_functiondef cannot print), triggers, view definitions and relations' grants; none of an extension.
_ROUTINES = f"""
SELECT p.oid::regprocedure::text, md5(pg_get_functiondef(p.oid))
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE p.prokind IN ('f', 'p') AND n.nspname NOT IN {_SKIP_SCHEMAS}
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                     AND d.deptype = 'e')
"""

_TRIGGERS = """
SELECT t.tgrelid, t.tgname, md5(pg_get_triggerdef(t.oid)) FROM pg_trigger t
 WHERE NOT t.tgisinternal AND t.tgrelid = ANY(%s)
"""

_VIEW_DEFINITIONS = "SELECT c.oid, md5(pg_get_viewdef(c.oid)) FROM pg_class c WHERE c.oid = ANY(%s)"

_GRANTS = "SELECT c.oid, c.relacl::text FROM pg_class c WHERE c.oid = ANY(%s) AND c.relacl IS NOT NULL"

_ON_DELETE = {"a": None, "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
_KIND = {"p": "primary key", "f": "foreign key", "u": "unique", "c": "check", "x": "exclude"}


def introspect(conn: Any, *, objects: bool = False) -> Schema:
    """The schema of the database `conn` is connected to (read-only queries). `objects`: read too what
    a replay never models (routines, triggers, view definitions, grants), for comparing two snapshots of
    one database, as apply's dry run and --check-rollback do."""
    with conn.cursor() as cur:
        cur.execute(_TABLES)
        rels = cur.fetchall()
        cur.execute(_OWNED_SEQUENCES)
        owned = {row[0] for row in cur.fetchall()}
        oids = [oid for oid, _, _, kind in rels if kind in ("r", "p", "f")]
        indexed = [oid for oid, _, _, kind in rels if kind in ("r", "p", "f", "m")]  # (a materialized view's too)
        names = {oid: key(rel, schema) for oid, schema, rel, _ in rels}
        columns: dict[int, list[Column]] = {oid: [] for oid in oids}
        cur.execute(_COLUMNS, (oids,))
        for relid, name, type_, notnull, default, identity, generated, number in cur.fetchall():
            columns[relid].append(Column(name, normalize_type(type_), not notnull,
                                         _default(default, identity, generated), number))
        constraints: dict[int, list[Constraint]] = {oid: [] for oid in oids}
        cur.execute(_CONSTRAINTS, (oids,))
        for relid, name, kind, cols, frelid, fcols, deltype, definition in cur.fetchall():
            constraints[relid].append(Constraint(
                name, _KIND[kind], tuple(cols), names.get(frelid) if kind == "f" else None,  # type: ignore[arg-type]
                tuple(fcols) if kind == "f" else (), _ON_DELETE.get(deltype) if kind == "f" else None, definition))
        indexes: dict[str, Index] = {}
        cur.execute(_INDEXES, (indexed,))
        for relid, name, unique, _, cols, schema, where in cur.fetchall():
            # (keyed as the replay keys them: `schema.name` outside the default schema)
            indexes[key(name, schema)] = Index(key(name, schema), names[relid], tuple(_index_column(c) for c in cols),
                                               unique, where)
        cur.execute(_ENUMS)
        enums = {key(name, schema): tuple(values) for schema, name, values in cur.fetchall()}
        cur.execute(_SCHEMAS)
        schemas = frozenset(row[0] for row in cur.fetchall())
        routines: dict[str, str] = {}
        triggers: dict[str, str] = {}
        definitions: dict[str, str] = {}
        grants: dict[str, str] = {}
        if objects:
            cur.execute(_ROUTINES)
            routines = {name: digest for name, digest in cur.fetchall()}
            cur.execute(_TRIGGERS, ([oid for oid, _, _, kind in rels if kind in ("r", "p", "f", "v")],))
            triggers = {f"{names[relid]}.{name}": digest for relid, name, digest in cur.fetchall()}
            cur.execute(_VIEW_DEFINITIONS, ([oid for oid, _, _, kind in rels if kind in ("v", "m")],))
            definitions = {names[oid]: digest for oid, digest in cur.fetchall()}
            cur.execute(_GRANTS, ([oid for oid, *_ in rels],))
            grants = {names[oid]: acl for oid, acl in cur.fetchall()}
    tables = {names[oid]: Table(names[oid], tuple(columns[oid]), tuple(constraints[oid])) for oid in oids}
    views = frozenset(names[oid] for oid, _, _, kind in rels if kind in ("v", "m"))
    sequences = frozenset(names[oid] for oid, _, _, kind in rels if kind == "S" and oid not in owned)
    return Schema(tables, views, indexes, sequences, enums, schemas, routines=routines, triggers=triggers,
                  view_definitions=definitions, grants=grants)


def _default(default: str | None, identity: str, generated: str = "") -> str | None:
    if identity:
        return None  # GENERATED … AS IDENTITY: the sequence is the column's own
    if generated:
        return None  # GENERATED ALWAYS AS (…) STORED: pg_attrdef holds its expression, which is no default
    if default is None:
        return None
    return normalize_default(default)


def _index_column(text: str) -> str:
    """A key column as the replay writes it: a column's name without quotes, an expression in lower case."""
    if re.fullmatch(r"[\w$]+", text):
        return text
    quoted = re.fullmatch(r'"((?:[^"]|"")*)"', text)
    return quoted.group(1).replace('""', '"') if quoted else lower_unquoted(text)
