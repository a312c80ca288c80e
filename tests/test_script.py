"""What `sqlguard apply` sends (`sqlguard.sources.script`): which statements cannot run in a
transaction block, and what the dry run tries instead of a concurrent one."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlguard.sources.script import read_script, without_concurrently


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
    ("CLUSTER", "CLUSTER of every table"),
    ("CLUSTER VERBOSE", "CLUSTER of every table"),
    ("CLUSTER t USING t_pkey", None),
    ("ALTER TABLE m DETACH PARTITION m_2020 CONCURRENTLY", "ALTER TABLE … DETACH PARTITION … CONCURRENTLY"),
    ("CREATE DATABASE other", "CREATE DATABASE"),
    ("ALTER SYSTEM SET work_mem = '64MB'", "ALTER SYSTEM"),
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
