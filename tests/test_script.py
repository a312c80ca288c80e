"""What `sqlguard apply` sends (`sqlguard.migrations.script`): which statements cannot run in a
transaction block, and what the dry run tries instead of a concurrent one."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlguard.migrations.script import read_script, without_concurrently


@pytest.mark.parametrize(("sql", "why"), [
    ("CREATE INDEX CONCURRENTLY i ON t (a)", "CREATE INDEX CONCURRENTLY"),
    ("DROP INDEX CONCURRENTLY IF EXISTS i", "DROP INDEX CONCURRENTLY"),
    ("REINDEX TABLE CONCURRENTLY t", "REINDEX CONCURRENTLY"),
    ("REINDEX (CONCURRENTLY) TABLE t", "REINDEX CONCURRENTLY"),
    ("REINDEX (VERBOSE, CONCURRENTLY true) INDEX i", "REINDEX CONCURRENTLY"),
    ("REINDEX (CONCURRENTLY false) TABLE t", None),
    ("REINDEX TABLE t", None),
    ("REINDEX SCHEMA app", "REINDEX SCHEMA"),
    ("REINDEX DATABASE app", "REINDEX DATABASE"),
    ("VACUUM (ANALYZE) t", "VACUUM"),
    ("CLUSTER", "CLUSTER"),
    ("CLUSTER VERBOSE", "CLUSTER"),
    ("CLUSTER t USING t_pkey", None),
    ("ALTER TABLE m DETACH PARTITION m_2020 CONCURRENTLY", "ALTER TABLE … DETACH PARTITION … CONCURRENTLY"),
    ("CREATE DATABASE other", "CREATE DATABASE"),
    ("ALTER SYSTEM SET work_mem = '64MB'", "ALTER SYSTEM"),
    ("CREATE SUBSCRIPTION s CONNECTION 'dbname=x' PUBLICATION p", "CREATE SUBSCRIPTION"),
    ("DROP SUBSCRIPTION s", "DROP SUBSCRIPTION"),
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY v", None),
    ("CREATE TABLE concurrently_named (id int)", None),
])
def test_statements_that_cannot_run_in_a_transaction_block(tmp_path: Path, sql: str, why: str | None) -> None:
    path = tmp_path / "20240101000000_x.sql"
    path.write_text(f"-- sqlguard: transaction=off\n{sql};\n", encoding="utf-8")
    script = read_script(path)
    assert not script.wrapped
    assert [s.outside_transaction for s in script.statements] == [why]


@pytest.mark.parametrize(("sql", "tried"), [
    ("CREATE INDEX CONCURRENTLY i ON t (a)", "CREATE INDEX i ON t (a)"),
    ("REINDEX TABLE CONCURRENTLY t", "REINDEX TABLE t"),
    ("REINDEX (CONCURRENTLY) TABLE t", "REINDEX (CONCURRENTLY false) TABLE t"),
    ("REINDEX (VERBOSE, CONCURRENTLY on) TABLE t", "REINDEX (VERBOSE, CONCURRENTLY false) TABLE t"),
    ("SELECT 'CONCURRENTLY'", "SELECT 'CONCURRENTLY'"),
])
def test_the_dry_run_tries_the_statement_without_concurrently(sql: str, tried: str) -> None:
    assert without_concurrently(sql) == tried


def test_each_dbmate_section_runs_as_its_own_flag_says(tmp_path: Path) -> None:
    path = tmp_path / "20240101000000_idx.sql"
    path.write_text("-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY i ON t (a);\n\n"
                    "-- migrate:down\nDROP TABLE IF EXISTS keep_me;\n", encoding="utf-8")
    up, down = (read_script(path, section, convention="dbmate") for section in ("up", "down"))
    assert (up.wrapped, down.wrapped) == (False, True)  # the down section keeps its transaction
    assert [s.text for s in down.statements] == ["DROP TABLE IF EXISTS keep_me"]
    path.write_text("-- migrate:up\nCREATE TABLE t (a int);\n\n"
                    "-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY IF EXISTS i;\n", encoding="utf-8")
    up, down = (read_script(path, section, convention="dbmate") for section in ("up", "down"))
    assert (up.wrapped, down.wrapped) == (True, False)
    assert down.statements[0].outside_transaction == "DROP INDEX CONCURRENTLY"


def test_a_file_that_runs_on_its_own_and_never_commits_its_begin_is_refused(tmp_path: Path) -> None:
    from sqlguard.diagnostic import SqlguardError

    path = tmp_path / "20240101000000_x.sql"
    path.write_text("-- sqlguard: transaction=off\nCREATE TABLE a (id int);\nBEGIN;\nINSERT INTO a VALUES (1);\n",
                    encoding="utf-8")
    with pytest.raises(SqlguardError, match="opens a transaction that it never commits") as err:
        read_script(path)
    assert err.value.line == 3
    path.write_text("-- sqlguard: transaction=off\nBEGIN;\nINSERT INTO a VALUES (1);\nCOMMIT;\n"
                    "BEGIN ISOLATION LEVEL SERIALIZABLE;\nSELECT 1;\nROLLBACK;\n", encoding="utf-8")
    assert len(read_script(path).statements) == 6
    path.write_text("BEGIN;\nINSERT INTO a VALUES (1);\n", encoding="utf-8")  # wrapped: its BEGIN is left out
    assert [s.text for s in read_script(path).to_run()] == ["INSERT INTO a VALUES (1)"]
