"""The transaction-block oracle: which statements PostgreSQL refuses inside a transaction block.

`Description.outside_transaction` is the one reader of that fact: SG51 reports such a statement inside
a transaction, and `sqlguard apply` refuses it in a migration it wraps. Each statement here runs
inside `BEGIN` on a real server, with the objects it needs; PostgreSQL's answer (SQLSTATE 25001,
active_sql_transaction, or not) must match the reader's, both ways.
"""

from __future__ import annotations

import pytest

from sqlguard.sql.ddl import describe

pytestmark = pytest.mark.live

SETUP = """
CREATE TABLE t (a int PRIMARY KEY, b int);
CREATE INDEX i ON t (b);
CREATE TABLE m (k int) PARTITION BY RANGE (k);
CREATE TABLE m_2020 PARTITION OF m FOR VALUES FROM (0) TO (10);
CREATE MATERIALIZED VIEW v AS SELECT a FROM t;
CREATE UNIQUE INDEX v_a ON v (a);
CREATE TYPE mood AS ENUM ('a');
CREATE PUBLICATION p FOR TABLE t;
"""

CASES = [
    # (statement, refused inside a transaction block)
    ("CREATE INDEX CONCURRENTLY i2 ON t (a)", True),
    ("CREATE UNIQUE INDEX CONCURRENTLY i3 ON t (a)", True),
    ("DROP INDEX CONCURRENTLY IF EXISTS i", True),
    ("REINDEX TABLE CONCURRENTLY t", True),
    ("REINDEX (CONCURRENTLY) TABLE t", True),
    ("REINDEX (VERBOSE, CONCURRENTLY true) INDEX i", True),
    ("REINDEX (CONCURRENTLY false) TABLE t", False),
    ("REINDEX TABLE t", False),
    ("REINDEX INDEX i", False),
    ("REINDEX SCHEMA public", True),
    ("VACUUM (ANALYZE) t", True),
    ("VACUUM FULL t", True),
    ("ANALYZE t", False),
    ("CLUSTER", True),
    ("CLUSTER VERBOSE", True),
    ("CLUSTER t USING t_pkey", False),
    ("ALTER TABLE m DETACH PARTITION m_2020 CONCURRENTLY", True),
    ("ALTER TABLE m DETACH PARTITION m_2020", False),
    ("CREATE DATABASE sqlguard_tx_other", True),
    ("DROP DATABASE IF EXISTS sqlguard_tx_nope", True),
    ("ALTER SYSTEM SET work_mem = '64MB'", True),
    ("CREATE TABLESPACE sqlguard_ts LOCATION '/nonexistent'", True),
    ("DROP TABLESPACE IF EXISTS sqlguard_ts_nope", True),
    ("CREATE SUBSCRIPTION s2 CONNECTION 'dbname=sqlguard_nope' PUBLICATION p", True),
    ("DISCARD ALL", True),
    ("DISCARD PLANS", False),
    ("COMMIT PREPARED 'sqlguard_nope'", True),
    ("ROLLBACK PREPARED 'sqlguard_nope'", True),
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY v", False),
    ("REFRESH MATERIALIZED VIEW v", False),
    ("ALTER TYPE mood ADD VALUE 'b'", False),  # (since PostgreSQL 12)
    ("CREATE TABLE concurrently_named (id int)", False),
    ("CREATE INDEX ON t (a, b)", False),
    ("DROP INDEX i", False),
]


@pytest.mark.parametrize(("sql", "refused"), CASES, ids=[c[0][:40] for c in CASES])
def test_outside_transaction_agrees_with_postgresql(fresh_db: str, sql: str, refused: bool) -> None:
    import psycopg

    said = describe(sql, "postgres").outside_transaction
    assert (said is not None) == refused, f"the reader says {said!r}"
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(SETUP)
        conn.autocommit = False
        code = None
        try:
            conn.execute("SET LOCAL lock_timeout = '2s'")
            conn.execute(sql)
        except psycopg.Error as err:
            code = err.sqlstate
        conn.rollback()
    assert (code == "25001") == refused, f"PostgreSQL answered {code}"


# Prisma Migrate sends a migration.sql as one script (one simple query): PostgreSQL runs a script of
# several statements as one implicit transaction, and a lone statement on its own.
PRISMA_SCRIPTS = [
    # (migration.sql, refused: one implicit transaction block)
    ('CREATE INDEX CONCURRENTLY "t_b_idx" ON "t"("b");\n', False),
    ('-- CreateIndex\nCREATE INDEX CONCURRENTLY "t_b_idx" ON "t"("b");\n', False),
    ('CREATE INDEX CONCURRENTLY "t_b_idx" ON "t"("b");\nSELECT 1;\n', True),
    ('CREATE TABLE "u" ("id" INTEGER);\nCREATE INDEX CONCURRENTLY "t_b_idx" ON "t"("b");\n', True),
    ('VACUUM "t";\n', False),
    ('ALTER TABLE "t" ADD COLUMN "c" INTEGER;\nVACUUM "t";\n', True),
]


@pytest.mark.parametrize(("script", "refused"), PRISMA_SCRIPTS, ids=[s[0][:40] for s in PRISMA_SCRIPTS])
def test_prisma_one_script_transaction_agrees_with_postgresql(fresh_db: str, run_cli, tmp_path, script: str,  # type: ignore[no-untyped-def]
                                                               refused: bool) -> None:
    import json

    import psycopg

    tree = tmp_path / "prisma" / "migrations"
    (tree / "20240101000000_init").mkdir(parents=True)
    (tree / "20240101000000_init" / "migration.sql").write_text('CREATE TABLE "t" ("a" INTEGER, "b" INTEGER);\n',
                                                               encoding="utf-8")
    (tree / "20240102000000_change").mkdir()
    (tree / "20240102000000_change" / "migration.sql").write_text(script, encoding="utf-8")
    (tree / "migration_lock.toml").write_text('provider = "postgresql"\n', encoding="utf-8")
    r = run_cli("lint", "--no-cache", "--format", "json", "--exit-zero", "--select", "SG51", str(tree))
    said = [d for d in json.loads(r.out) if d["code"] == "SG51"]
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute('CREATE TABLE "t" ("a" INTEGER, "b" INTEGER)')
        code = None
        try:
            conn.execute(script)  # (no parameters: one simple query, as Prisma sends it)
        except psycopg.Error as err:
            code = err.sqlstate
    assert (code == "25001") == refused, f"PostgreSQL answered {code}"
    assert bool(said) == refused, said
