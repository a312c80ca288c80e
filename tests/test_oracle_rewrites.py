"""The rewrite oracle: whether a statement rewrites a table, or reads every row of it, as PostgreSQL does.

`Action.rewrites` and `Action.scans` (the typed reader's, `sqlguard.sql.ddl.postgres`), with the type
model's `type_change` for ALTER COLUMN … TYPE and a function's declared volatility for a default that
calls it, say what SG53–SG57 and SG59 report. Each form runs inside a transaction on a real server: a
rewrite gives the table a new file (`pg_relation_filenode` changes), a scan shows in the transaction's
own statistics (`pg_stat_xact_user_tables.seq_scan`). VACUUM FULL runs outside a transaction.
"""

from __future__ import annotations

import pytest

from sqlguard.postgres.types import parse_type, type_change
from sqlguard.sql.ddl import describe
from sqlguard.sql.ddl.model import AlterTable, Maintenance

pytestmark = pytest.mark.live

SETUP = """
CREATE TABLE t (id int PRIMARY KEY, a int NOT NULL, v varchar(10), s text, n numeric(10, 2), ts timestamp,
                r int);
INSERT INTO t SELECT g, g, 'v' || g, 's' || g, g, now(), g FROM generate_series(1, 50) g;
CREATE TABLE parent (id int PRIMARY KEY);
INSERT INTO parent SELECT generate_series(1, 50);
CREATE INDEX t_a_idx ON t (a);
ALTER TABLE t ADD CONSTRAINT t_r_check CHECK (r > 0) NOT VALID;
CREATE FUNCTION vol() RETURNS int LANGUAGE plpgsql VOLATILE AS 'BEGIN RETURN 1; END';
CREATE FUNCTION stab() RETURNS int LANGUAGE plpgsql STABLE AS 'BEGIN RETURN 1; END';
"""
# the column types SETUP gives, for ALTER COLUMN … TYPE
TYPES = {"a": "int", "v": "varchar(10)", "s": "text", "n": "numeric(10,2)", "ts": "timestamp", "r": "int"}
# the functions SETUP creates, as the file that created them would declare them (PL/pgSQL: a SQL function
# whose body is a constant is inlined, and then its declared volatility no longer matters)
DECLARED = {"vol": "volatile", "stab": "stable"}

CASES = [
    "ALTER TABLE t ADD COLUMN x int",
    "ALTER TABLE t ADD COLUMN x int DEFAULT 1",
    "ALTER TABLE t ADD COLUMN x timestamptz DEFAULT now()",
    "ALTER TABLE t ADD COLUMN x uuid DEFAULT gen_random_uuid()",
    "ALTER TABLE t ADD COLUMN x float8 DEFAULT random()",
    "ALTER TABLE t ADD COLUMN x int DEFAULT vol()",
    "ALTER TABLE t ADD COLUMN x int DEFAULT stab()",
    "ALTER TABLE t ADD COLUMN x serial",
    "ALTER TABLE t ADD COLUMN x bigint GENERATED ALWAYS AS IDENTITY",
    "ALTER TABLE t ADD COLUMN x int GENERATED ALWAYS AS (a + 1) STORED",
    "ALTER TABLE t ADD COLUMN x int UNIQUE",
    "ALTER TABLE t ALTER COLUMN a TYPE bigint",
    "ALTER TABLE t ALTER COLUMN a TYPE bigint USING a + 1",
    "ALTER TABLE t ALTER COLUMN v TYPE varchar(20)",
    "ALTER TABLE t ALTER COLUMN v TYPE text",
    "ALTER TABLE t ALTER COLUMN v TYPE varchar(5)",
    "ALTER TABLE t ALTER COLUMN s TYPE varchar(50)",
    "ALTER TABLE t ALTER COLUMN s TYPE varchar",
    "ALTER TABLE t ALTER COLUMN n TYPE numeric(12, 2)",
    "ALTER TABLE t ALTER COLUMN n TYPE numeric(10, 4)",
    "ALTER TABLE t ALTER COLUMN n TYPE numeric",
    "ALTER TABLE t ALTER COLUMN ts TYPE timestamptz",
    "ALTER TABLE t ALTER COLUMN ts TYPE timestamp(3)",
    "ALTER TABLE t ALTER COLUMN ts SET NOT NULL",
    "ALTER TABLE t ALTER COLUMN r SET NOT NULL",
    "ALTER TABLE t ADD CONSTRAINT t_a_check CHECK (a > 0)",
    "ALTER TABLE t ADD CONSTRAINT t_a_check CHECK (a > 0) NOT VALID",
    "ALTER TABLE t ADD CONSTRAINT t_fk FOREIGN KEY (a) REFERENCES parent (id)",
    "ALTER TABLE t ADD CONSTRAINT t_fk FOREIGN KEY (a) REFERENCES parent (id) NOT VALID",
    "ALTER TABLE t VALIDATE CONSTRAINT t_r_check",
    "ALTER TABLE t ADD CONSTRAINT t_a_key UNIQUE (a)",
    "ALTER TABLE t SET UNLOGGED",
    "ALTER TABLE t DROP COLUMN r",
    "ALTER TABLE t ALTER COLUMN a SET DEFAULT 0",
    "ALTER TABLE t ALTER COLUMN a SET STATISTICS 500",
    "CLUSTER t USING t_a_idx",
]


def _expected(sql: str, timezone_utc: bool) -> tuple[bool, bool]:
    """(rewrites, scans) as sqlguard reckons them for PostgreSQL 15."""
    d = describe(sql, "postgres")
    if isinstance(d, Maintenance):
        return d.rewrites, d.rewrites
    assert isinstance(d, AlterTable) and len(d.actions) == 1, d
    a = d.actions[0]
    rewrites = a.rewrites
    if rewrites == "type-change":
        assert a.type is not None and a.column is not None
        old, new = parse_type(TYPES[a.column]), parse_type(a.type.text)
        assert old is not None and new is not None
        change = type_change(old, new)
        rewrites = "yes" if change == "rewrite" or (change == "timezone" and not timezone_utc) else "no"
    elif rewrites == "if-volatile":
        assert a.column_def is not None and a.column_def.default is not None
        kinds = [DECLARED.get(fn) for fn in a.column_def.default.calls]
        assert None not in kinds, "a function this test does not declare"
        rewrites = "yes" if "volatile" in kinds else "no"
    elif rewrites == "before-11":
        rewrites = "no"  # (the server is PostgreSQL 15)
    return rewrites == "yes", a.scans or rewrites == "yes"


@pytest.mark.parametrize("sql", CASES)
def test_rewrites_and_scans_agree_with_postgresql(fresh_db: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(SETUP)
        conn.execute("ANALYZE t")
        conn.autocommit = False
        conn.execute("SET LOCAL TimeZone = 'Europe/Paris'")
        before = conn.execute("SELECT pg_relation_filenode('t')").fetchone()
        scans_before = conn.execute("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 't'").fetchone()
        conn.execute(sql)
        after = conn.execute("SELECT pg_relation_filenode('t')").fetchone()
        scans_after = conn.execute("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 't'").fetchone()
        conn.rollback()
    rewrote = before != after
    scanned = rewrote or (scans_after or (0,))[0] > (scans_before or (0,))[0]
    assert (rewrote, scanned) == _expected(sql, timezone_utc=False)


def test_timestamp_to_timestamptz_skips_the_rewrite_when_the_session_is_utc(fresh_db: str) -> None:
    """type_change's `timezone` verdict: no rewrite when TimeZone is UTC (PostgreSQL 12+), a rewrite otherwise."""
    import psycopg

    sql = "ALTER TABLE t ALTER COLUMN ts TYPE timestamptz"
    for zone, utc in (("UTC", True), ("Europe/Paris", False)):
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS t, parent CASCADE; DROP FUNCTION IF EXISTS vol, stab")
            conn.execute(SETUP)
            conn.autocommit = False
            conn.execute(f"SET LOCAL TimeZone = '{zone}'")
            before = conn.execute("SELECT pg_relation_filenode('t')").fetchone()
            conn.execute(sql)
            after = conn.execute("SELECT pg_relation_filenode('t')").fetchone()
            conn.rollback()
        assert (before != after) == _expected(sql, timezone_utc=utc)[0], zone


def test_vacuum_full_rewrites(fresh_db: str) -> None:
    import psycopg

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(SETUP)
        before = conn.execute("SELECT pg_relation_filenode('t')").fetchone()
        conn.execute("VACUUM FULL t")
        after = conn.execute("SELECT pg_relation_filenode('t')").fetchone()
    d = describe("VACUUM FULL t", "postgres")
    assert isinstance(d, Maintenance) and d.rewrites == (before != after)
