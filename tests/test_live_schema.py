"""Live mode against a real PostgreSQL server (no mocks): db schema, db drift, db diff.

Each test gets its own fresh database (the `fresh_db` fixture in conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import psycopg
import pytest
import yaml
from conftest import FIXTURES

from sqlguard.catalog import parse_catalog

pytestmark = pytest.mark.live

GOOD = sorted((FIXTURES / "tribevibe" / "services" / "api" / "src" / "db" / "migrations").glob("2024010*.sql"))


def _migrate(dsn: str, files: list[Path]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for f in files:
            if not f.name.endswith("_rollback.sql"):
                conn.execute(f.read_text(encoding="utf-8"))  # type: ignore[arg-type]


def _project(tmp_path: Path, envs: dict[str, str]) -> Path:
    folder = tmp_path / "db" / "migrations"
    folder.mkdir(parents=True)
    for f in GOOD:
        shutil.copy(f, folder / f.name)
    lines = ["migrations:", "  - {path: db/migrations, convention: sqlguard}", "environments:"]
    for name, var in envs.items():
        lines += [f"  {name}:", f"    dsn-env: {var}"]
    (tmp_path / "sqlguard.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_db_schema_dumps_a_valid_catalog(fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _migrate(fresh_db, GOOD)
    _project(tmp_path, {"dev": "SQLGUARD_T_DEV"})
    monkeypatch.setenv("SQLGUARD_T_DEV", fresh_db)
    res = run_cli("db", "schema", "--env", "dev", cwd=tmp_path)
    assert res.code == 0, res.err
    catalog = parse_catalog(res.out, "live.yaml")
    assert {"users", "matches", "profile_images"} <= set(catalog.tables)
    data = yaml.safe_load(res.out)
    assert data["tables"]["matches"]["columns"]["user_id"] == {"type": "uuid", "nullable": False,
                                                               "references": "users(id)"}
    mermaid = run_cli("db", "schema", "--env", "dev", "--format", "mermaid", cwd=tmp_path).out
    assert "users ||--o{ profile_images" in mermaid  # the FK added inside the DO block


def test_db_drift_in_sync_then_drifted(fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _migrate(fresh_db, GOOD)
    _project(tmp_path, {"dev": "SQLGUARD_T_DEV"})
    monkeypatch.setenv("SQLGUARD_T_DEV", fresh_db)
    res = run_cli("db", "drift", "--env", "dev", cwd=tmp_path)
    assert res.code == 0, res.out + res.err
    assert "in sync" in res.out
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("ALTER TABLE users ADD COLUMN shadow_flag boolean")
        conn.execute("ALTER TABLE matches ALTER COLUMN created_at DROP NOT NULL")
        conn.execute("CREATE TABLE profiles (id uuid)")
    res = run_cli("db", "drift", "--env", "dev", "--format", "json", cwd=tmp_path)
    assert res.code == 1
    assert {(c["kind"], c["object"], c["name"]) for c in json.loads(res.out)} == {
        ("added", "column", "users.shadow_flag"),
        ("changed", "column", "matches.created_at"),
        ("added", "table", "profiles"),
    }


def test_renames_replay_as_postgresql_applies_them(fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """#14: `ALTER TABLE t RENAME a TO b` renames a column (COLUMN is optional), an indexed column's index
    follows it, and `ALTER INDEX … RENAME` renames an index: drift sees no difference, lint no unknown table."""
    folder = tmp_path / "db" / "migrations"
    folder.mkdir(parents=True)
    files = {
        "20240101000000_likes.sql": "CREATE TABLE likes (id bigint PRIMARY KEY, liked_at timestamptz NOT NULL, "
                                    "user_id bigint);\nCREATE INDEX idx_likes_liked_at ON likes (liked_at);\n"
                                    "CREATE UNIQUE INDEX ON likes (user_id, liked_at);\n",
        "20240102000000_rename.sql": "ALTER TABLE likes RENAME liked_at TO created_at;\n"
                                     "ALTER INDEX idx_likes_liked_at RENAME TO idx_likes_created_at;\n"
                                     "INSERT INTO likes (id, created_at) VALUES (1, now());\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
        (folder / name.replace(".sql", "_rollback.sql")).write_text("SELECT 1;\n", encoding="utf-8")
    (tmp_path / "sqlguard.yaml").write_text("migrations:\n  - {path: db/migrations, convention: sqlguard}\n"
                                            "environments:\n  dev:\n    dsn-env: SQLGUARD_T_DEV\n", encoding="utf-8")
    _migrate(fresh_db, sorted(folder.glob("*.sql")))
    monkeypatch.setenv("SQLGUARD_T_DEV", fresh_db)
    res = run_cli("db", "drift", "--env", "dev", cwd=tmp_path)
    assert res.code == 0 and "in sync" in res.out, res.out + res.err
    lint = run_cli("lint", "--format", "json", "--select", "SG11,SG12", str(folder), cwd=tmp_path)
    assert lint.code == 0 and json.loads(lint.out) == [], lint.out


def test_db_diff_between_two_databases(fresh_db: str, pg_server, run_cli,  # type: ignore[no-untyped-def]
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from psycopg import sql

    name = "sqlguard_test_other_" + fresh_db.rsplit("/", 1)[-1].split("?")[0][-12:]
    with psycopg.connect(pg_server.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    other = pg_server.url(dbname=name)
    try:
        _migrate(fresh_db, GOOD)
        _migrate(other, GOOD)
        _project(tmp_path, {"dev": "SQLGUARD_T_DEV", "test": "SQLGUARD_T_TEST"})
        monkeypatch.setenv("SQLGUARD_T_DEV", fresh_db)
        monkeypatch.setenv("SQLGUARD_T_TEST", other)
        res = run_cli("db", "diff", "dev", "test", cwd=tmp_path)
        assert res.code == 0 and "in sync" in res.out, res.out + res.err
        for dsn in (fresh_db, other):
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("CREATE TYPE mood AS ENUM ('happy', 'sad')")
        with psycopg.connect(other, autocommit=True) as conn:
            conn.execute("CREATE INDEX idx_users_email_lower ON users (lower(email))")
            conn.execute("ALTER TABLE users ALTER COLUMN bio TYPE varchar(500)")
            conn.execute("ALTER TABLE users ALTER COLUMN bio SET DEFAULT 'hi'")
            conn.execute("ALTER TYPE mood ADD VALUE 'meh'")
            conn.execute("ALTER TABLE matches DROP CONSTRAINT matches_user_id_fkey")
        res = run_cli("db", "diff", "dev", "test", cwd=tmp_path)
        assert res.code == 1
        assert "index `idx_users_email_lower` added" in res.out
        assert "column `users.bio` changed: type text -> varchar(500), default none -> 'hi'" in res.out
        assert "enum value `mood.meh` added" in res.out
        assert "constraint `matches.matches_user_id_fkey` removed (foreign key)" in res.out
    finally:
        with psycopg.connect(pg_server.dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_db_commands_with_an_unknown_environment_are_usage_errors(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _project(tmp_path, {"dev": "SQLGUARD_T_DEV"})
    res = run_cli("db", "schema", "--env", "staging", cwd=tmp_path)
    assert res.code == 2 and "staging" in res.err


def test_db_check_reports_catalog_mistakes(fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import TRIBEVIBE_CATALOG

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute((FIXTURES / "rules" / "SG13" / "schema.sql").read_text(encoding="utf-8"))  # type: ignore[arg-type]
    _project(tmp_path, {"dev": "SQLGUARD_T_DEV"})
    monkeypatch.setenv("SQLGUARD_T_DEV", fresh_db)
    res = run_cli("db", "check", "--env", "dev", "--catalog", str(TRIBEVIBE_CATALOG), "--format", "json",
                  cwd=tmp_path)
    assert res.code == 1, res.err
    (report,) = json.loads(res.out)
    assert report["connection"] == "ok"
    assert {"name": "matches", "columns": 4, "foreign_keys": 1} in report["tables"]
    messages = [m["message"] for m in report["mistakes"]]
    assert "table `profiles` exists in the database, but the catalog forbids it: use `users`." in messages
    assert "catalog table `likes` does not exist in the database." in messages
    assert "catalog column `users.display_name` does not exist in the database." in messages
    assert any(m.startswith("foreign key `matches_user_id_fkey` on `matches` targets `profiles`") for m in messages)
    assert all(m["correction"] for m in report["mistakes"])
    text = run_cli("db", "check", "--env", "dev", "--catalog", str(TRIBEVIBE_CATALOG), cwd=tmp_path)
    assert text.code == 1 and "db:dev:1:1: SG13 [error] table `profiles` exists in the database" in text.out
    # SG13's snapshot (the rule walk in test_rules.py leaves live-only rules to this test)
    snap = Path(__file__).parent / "snapshots" / "SG13.txt"
    if os.environ.get("SQLGUARD_UPDATE_SNAPSHOTS"):
        snap.write_text(text.out, encoding="utf-8")
    assert text.out == snap.read_text(encoding="utf-8")
    markdown = run_cli("db", "check", "--env", "dev", "--catalog", str(TRIBEVIBE_CATALOG), "--format", "markdown",
                       cwd=tmp_path).out
    assert "| matches | 4 | 1 |" in markdown and "### Mistakes" in markdown


def test_db_check_connection_failure_is_exit_2_without_the_password(run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import TRIBEVIBE_CATALOG
    from pgserver import free_port

    _project(tmp_path, {"dev": "SQLGUARD_T_DEV"})
    monkeypatch.setenv("SQLGUARD_T_DEV", f"postgresql://app:hunter2secret@127.0.0.1:{free_port()}/tribevibe")
    res = run_cli("db", "check", "--env", "dev", "--catalog", str(TRIBEVIBE_CATALOG), cwd=tmp_path)
    assert res.code == 2
    assert "hunter2secret" not in res.out + res.err
    assert res.err.count("\n") == 1 and "cannot connect" in res.err
