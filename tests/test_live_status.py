"""Migration status against a real PostgreSQL server (no mocks): the history table versus the files.

Each test gets its own fresh database (the `fresh_db` fixture in conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from sqlguard.config import load_settings
from sqlguard.diagnostic import SqlguardError
from sqlguard.live.status import HISTORY_DDL, checksum, exit_code, migration_status, render_status

pytestmark = pytest.mark.live

FILES = {
    "20240101090000_create_users.sql": "CREATE TABLE users (id bigint PRIMARY KEY);\n",
    "20240102090000_create_matches.sql": "CREATE TABLE matches (id bigint PRIMARY KEY);\n",
    "20240103090000_add_user_bio.sql": "ALTER TABLE users ADD COLUMN bio text;\n",
}


def _project(tmp_path: Path) -> Path:
    folder = tmp_path / "db" / "migrations"
    folder.mkdir(parents=True)
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    (tmp_path / "sqlguard.yaml").write_text(
        "migrations:\n  - {path: db/migrations, convention: sqlguard}\n"
        "environments:\n  dev:\n    dsn-env: SQLGUARD_T_DEV\n", encoding="utf-8")
    return folder


def _record(dsn: str, rows: list[tuple[str, str, str]]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL(HISTORY_DDL).format(sql.Identifier("sqlguard_migrations")))
        for version, name, digest in rows:
            conn.execute("INSERT INTO sqlguard_migrations (version, name, checksum, environment) "
                         "VALUES (%s, %s, %s, 'dev')", (version, name, digest))


def test_status_classifies_applied_modified_pending_and_missing(
        fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _project(tmp_path)
    users, matches = folder / "20240101090000_create_users.sql", folder / "20240102090000_create_matches.sql"
    _record(fresh_db, [("20240101090000", "create_users", checksum(users)),
                       ("20240102090000", "create_matches", checksum(matches)),
                       ("20231231090000", "create_sessions", "0" * 64)])
    matches.write_text("CREATE TABLE matches (id bigint PRIMARY KEY, score int);\n", encoding="utf-8")
    monkeypatch.setenv("SQLGUARD_T_DEV", fresh_db)
    settings = load_settings(None, [tmp_path])

    report = migration_status(settings, "dev", [])

    assert report.table_exists
    assert [(e.version, e.name) for e in report.applied] == [("20240101090000", "create_users")]
    assert [(e.version, e.name) for e in report.modified] == [("20240102090000", "create_matches")]
    assert report.modified[0].checksum == checksum(matches) != report.modified[0].recorded_checksum
    assert [(e.version, e.name, e.applied_at) for e in report.pending] == [
        ("20240103090000", "add_user_bio", None)]
    assert [(e.version, e.name, e.file) for e in report.missing] == [
        ("20231231090000", "create_sessions", None)]
    assert [e.state for e in report.entries] == ["applied", "modified", "pending", "missing"]
    assert exit_code(report) == 1

    text = render_status(report, "text")
    table = text.splitlines()
    assert table[0].split() == ["STATE", "VERSION", "NAME", "APPLIED", "AT"]
    assert table[1].split()[:3] == ["applied", "20240101090000", "create_users"]
    assert table[3].split() == ["pending", "20240103090000", "add_user_bio", "-"]
    assert "`dev`: 1 applied, 1 modified, 1 pending, 1 missing." in text
    assert "no longer exist as files" in text

    items = json.loads(render_status(report, "json"))
    assert [(i["state"], i["name"], i["file"]) for i in items] == [
        ("applied", "create_users", "20240101090000_create_users.sql"),
        ("modified", "create_matches", "20240102090000_create_matches.sql"),
        ("pending", "add_user_bio", "20240103090000_add_user_bio.sql"),
        ("missing", "create_sessions", None),
    ]
    assert items[0]["applied_at"] and items[2]["applied_at"] is None


def test_status_all_applied_exits_clean(fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _project(tmp_path)
    _record(fresh_db, [(n[:14], n[15:-4], checksum(folder / n)) for n in FILES])
    monkeypatch.setenv("SQLGUARD_T_DEV", fresh_db)

    report = migration_status(load_settings(None, [tmp_path]), "dev", [folder])

    assert len(report.applied) == 3 and not (report.modified or report.pending or report.missing)
    assert exit_code(report) == 0


def test_status_without_the_history_table(fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path)
    monkeypatch.setenv("SQLGUARD_T_DEV", fresh_db)

    report = migration_status(load_settings(None, [tmp_path]), "dev", [])

    assert not report.table_exists
    assert [e.name for e in report.pending] == ["create_users", "create_matches", "add_user_bio"]
    assert not (report.applied or report.modified or report.missing)
    assert exit_code(report) == 1
    text = render_status(report, "text")
    assert "`dev` has no `sqlguard_migrations` table" in text
    assert "3 pending" in text
    with psycopg.connect(fresh_db) as conn:  # read-only: status created nothing
        assert conn.execute("SELECT to_regclass('sqlguard_migrations')").fetchone() == (None,)


def test_status_needs_one_history(fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path)
    monkeypatch.setenv("SQLGUARD_T_DEV", fresh_db)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SqlguardError, match="found 0"):
        migration_status(load_settings(None, [tmp_path]), "dev", [empty])


def test_status_command_end_to_end(fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "db" / "migrations"
    folder.mkdir(parents=True)
    (folder / "20240101000000_a.sql").write_text("CREATE TABLE IF NOT EXISTS a (id int);\n")
    (folder / "20240101000000_a_rollback.sql").write_text("DROP TABLE IF EXISTS a;\n")
    (tmp_path / "sqlguard.yaml").write_text("migrations: [{path: db/migrations, convention: sqlguard}]\n"
                                            "environments: {dev: {dsn-env: SQLGUARD_T_STATUS}}\n")
    monkeypatch.setenv("SQLGUARD_T_STATUS", fresh_db)
    res = run_cli("status", "--env", "dev", cwd=tmp_path)
    assert res.code == 1 and "pending" in res.out, res.err
    res = run_cli("status", "--env", "nope", cwd=tmp_path)
    assert res.code == 2 and "nope" in res.err
