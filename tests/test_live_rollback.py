"""`sqlguard rollback`, `restore` and `baseline` against a real PostgreSQL server (no mocks).

Each test gets a brand-new database (`fresh_db`), configured as the environment `test` of a project in
tmp_path whose `sqlguard.yaml` reads the DSN from a variable. Migrations reach the database through
`sqlguard apply --execute --yes` (only its exit code is relied on: its report's shape is not ours).
Everything else goes through the CLI in-process, so exit codes and messages are what is checked; the
database is then read directly to see what really changed.
"""

from __future__ import annotations

import io
import json
import stat
import sys
from pathlib import Path

import psycopg
import pytest
from conftest import CliResult, create_database, drop_database
from pgserver import PgServer

from sqlguard.live.apply import _lock_key

pytestmark = pytest.mark.live

USERS = "20240101000000_create_users"
MATCHES = "20240102000000_create_matches"
BIO = "20240103000000_add_user_bio"
FILES = {
    f"{USERS}.sql": "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n",
    f"{USERS}_rollback.sql": "DROP TABLE IF EXISTS users;\n",
    f"{MATCHES}.sql": "CREATE TABLE matches (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));\n",
    f"{MATCHES}_rollback.sql": "DROP TABLE IF EXISTS matches;\n",
    f"{BIO}.sql": "ALTER TABLE users ADD COLUMN IF NOT EXISTS bio text;\n",
    f"{BIO}_rollback.sql": "ALTER TABLE users DROP COLUMN IF EXISTS bio;\n",
}
VAR = "SQLGUARD_T_ROLLBACK"


def _project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dsn: str, *, apply_yaml: str = "",
             files: dict[str, str] | None = None) -> Path:
    folder = tmp_path / "db" / "migrations"
    folder.mkdir(parents=True)
    for name, text in (FILES if files is None else files).items():
        (folder / name).write_text(text, encoding="utf-8")
    (tmp_path / "sqlguard.yaml").write_text(
        "migrations: [{path: db/migrations, convention: sqlguard}]\n"
        f"environments:\n  test: {{dsn-env: {VAR}}}\n"
        f"apply: {{lock-timeout: 2s{', ' + apply_yaml if apply_yaml else ''}}}\n", encoding="utf-8")
    monkeypatch.setenv(VAR, dsn)
    monkeypatch.chdir(tmp_path)
    return folder


def _apply(run_cli, *extra: str) -> None:  # type: ignore[no-untyped-def]
    res = run_cli("apply", "--execute", "--yes", "--no-progress", *extra)
    assert res.code == 0, res.err


def _recorded(dsn: str, table: str = "sqlguard_migrations", column: str = "name") -> list[str]:
    with psycopg.connect(dsn) as conn:
        if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
            return []
        return [r[0] for r in conn.execute(f"SELECT {column} FROM {table} ORDER BY {column}")]


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def _columns(dsn: str, table: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                                           "ORDER BY ordinal_position", (table,))]


def _backups(tmp_path: Path) -> list[Path]:
    from sqlguard.config import load_settings
    from sqlguard.live.backup import backups_folder

    return sorted(backups_folder(load_settings(None, [tmp_path])).rglob("*.dump"))


def _no_secret(res: CliResult, dsn: str) -> None:
    password = psycopg.conninfo.conninfo_to_dict(dsn).get("password")
    for text in (res.out, res.err):
        assert dsn not in text
        if password:
            assert str(password) not in text


# --- rollback ------------------------------------------------------------------------------------------

def test_rollback_of_the_last_migration(fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path, monkeypatch, fresh_db)
    _apply(run_cli)
    assert _columns(fresh_db, "users") == ["id", "email", "bio"]
    before = _backups(tmp_path)

    res = run_cli("rollback", "--env", "test", "--yes", "--no-progress")

    assert res.code == 0, res.err
    assert _columns(fresh_db, "users") == ["id", "email"]  # the rollback ran
    assert _recorded(fresh_db) == ["create_matches", "create_users"]  # and its row went with it
    assert _tables(fresh_db) == {"users", "matches", "sqlguard_migrations"}
    [backup] = [b for b in _backups(tmp_path) if b not in before]
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    lines = res.out.splitlines()
    assert lines[0] == f"Rolled back 1 migration(s) on `test` ({_target(fresh_db)}):"
    assert lines[1].split()[:3] == [f"{BIO}.sql", "rolled", "back"] and lines[1].endswith(" ms")
    assert f"To undo the rollback: sqlguard restore --config sqlguard.yaml --env test {backup}" in res.out
    assert res.err == ""
    _no_secret(res, fresh_db)


def test_undo_commands_keep_the_config_they_came_from(pg_server, fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`rollback --config ops/other.yaml --env test` prints a restore that reaches the same database when
    run verbatim, not the one the default config calls `test`."""
    import shlex

    from conftest import create_database, drop_database

    _project(tmp_path, monkeypatch, fresh_db)
    other = create_database(pg_server)
    try:
        (tmp_path / "ops").mkdir()
        (tmp_path / "ops" / "other.yaml").write_text(
            "migrations: [{path: ../db/migrations, convention: sqlguard}]\n"
            "environments:\n  test: {dsn-env: SQLGUARD_OTHER_DSN}\napply: {lock-timeout: 2s}\n", encoding="utf-8")
        monkeypatch.setenv("SQLGUARD_OTHER_DSN", other)
        _apply(run_cli, "--config", "ops/other.yaml")
        res = run_cli("rollback", "--config", "ops/other.yaml", "--env", "test", "--yes", "--no-progress")
        assert res.code == 0, res.err
        [command] = [line.split(": ", 1)[1] for line in res.out.splitlines() if line.startswith("To undo")]
        argv = shlex.split(command)
        assert argv[:5] == ["sqlguard", "restore", "--config", "ops/other.yaml", "--env"]
        assert _columns(other, "users") == ["id", "email"]
        restored = run_cli(*argv[1:], "--yes", "--no-progress")
        assert restored.code == 0, restored.err
        assert _columns(other, "users") == ["id", "email", "bio"]  # the rollback undone, where it ran
        assert _tables(fresh_db) == set()  # the default config's `test` was never touched
    finally:
        drop_database(pg_server, other)


def test_restore_refuses_another_databases_backup(fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                  monkeypatch: pytest.MonkeyPatch, pg_server) -> None:
    from conftest import create_database, drop_database

    from sqlguard.live.backup import take_backup

    _project(tmp_path, monkeypatch, fresh_db)
    other = create_database(pg_server)
    try:
        backup = take_backup(other, "other", tmp_path / "elsewhere")
        res = run_cli("restore", "--env", "test", str(backup.path), "--yes", "--no-progress")
        assert res.code == 2 and "is a backup of database `sqlguard_test_" in res.err and "--other-database" in res.err
        res = run_cli("restore", "--env", "test", str(backup.path), "--yes", "--no-progress", "--other-database")
        assert res.code == 0, res.err
    finally:
        drop_database(pg_server, other)


def _target(dsn: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    return f"{params['host']}:{params['port']}/{params['dbname']}"


def test_rollback_to_a_version_and_by_steps(fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path, monkeypatch, fresh_db)
    _apply(run_cli)

    res = run_cli("rollback", "--env", "test", "--to", USERS[:14], "--yes", "--no-progress", "--format", "json")

    assert res.code == 0, res.err
    report = json.loads(res.out)
    assert [(m["file"], m["status"]) for m in report["migrations"]] == [
        (f"{BIO}.sql", "rolled back"), (f"{MATCHES}.sql", "rolled back")]  # newest first
    assert report["migrations"][0]["rollback_file"] == f"{BIO}_rollback.sql"
    assert report["ok"] and report["mode"] == "execute" and report["stopped"] is None
    assert report["restore_command"] == \
        f"sqlguard restore --config sqlguard.yaml --env test {report['backup']['path']}"
    assert Path(report["backup"]["path"]).is_file()
    assert _recorded(fresh_db) == ["create_users"]  # VERSION itself stays applied
    assert _tables(fresh_db) == {"users", "sqlguard_migrations"}
    assert _columns(fresh_db, "users") == ["id", "email"]

    res = run_cli("rollback", "--env", "test", "--to", USERS[:14], "--yes", "--no-progress")
    assert res.code == 0 and res.out.startswith("Nothing to roll back on `test`"), res.err

    _apply(run_cli)
    res = run_cli("rollback", "--env", "test", "--steps", "9", "--yes", "--no-progress")
    assert res.code == 2 and "--steps 9: `test` records only 3 applied migration(s)" in res.err
    res = run_cli("rollback", "--env", "test", "--steps", "2", "--yes", "--no-progress")
    assert res.code == 0, res.err
    assert _recorded(fresh_db) == ["create_users"]

    res = run_cli("rollback", "--env", "test", "--to", "20990101", "--yes", "--no-progress")
    assert res.code == 2 and "--to 20990101: no migration of" in res.err
    res = run_cli("rollback", "--env", "test", "--to", "1", "--steps", "1", "--yes")
    assert res.code == 2 and "not allowed with argument" in res.err


def test_rollback_to_zero_undoes_everything(fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path, monkeypatch, fresh_db)
    _apply(run_cli)

    res = run_cli("rollback", "--env", "test", "--to", "0", "--yes", "--no-progress")

    assert res.code == 0, res.err
    assert _tables(fresh_db) == {"sqlguard_migrations"}
    assert _recorded(fresh_db) == []
    assert [line.split()[0] for line in res.out.splitlines()[1:4]] == [f"{BIO}.sql", f"{MATCHES}.sql", f"{USERS}.sql"]

    res = run_cli("rollback", "--env", "test", "--yes", "--no-progress")
    assert res.code == 0 and "Nothing to roll back" in res.out
    _apply(run_cli)  # the history is consistent: everything applies again
    assert _recorded(fresh_db) == ["add_user_bio", "create_matches", "create_users"]


def test_rollback_refuses_a_migration_without_rollback(fresh_db: str, run_cli,  # type: ignore[no-untyped-def]
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _project(tmp_path, monkeypatch, fresh_db)
    _apply(run_cli)
    (folder / f"{MATCHES}_rollback.sql").unlink()
    before = _backups(tmp_path)

    res = run_cli("rollback", "--env", "test", "--to", "0", "--yes", "--no-progress")

    assert res.code == 2
    assert res.err.count("\n") == 1 and f"`{MATCHES}.sql` has no rollback" in res.err
    assert "Traceback" not in res.err
    # refused before anything: the later migration's rollback did not run either, no backup was taken
    assert _recorded(fresh_db) == ["add_user_bio", "create_matches", "create_users"]
    assert _columns(fresh_db, "users") == ["id", "email", "bio"]
    assert _backups(tmp_path) == before

    (folder / f"{MATCHES}_rollback.sql").write_text("-- nothing yet\n", encoding="utf-8")
    res = run_cli("rollback", "--env", "test", "--to", "0", "--yes", "--no-progress")
    assert res.code == 2 and f"{MATCHES}_rollback.sql) holds no statement" in res.err
    assert _recorded(fresh_db) == ["add_user_bio", "create_matches", "create_users"]


def test_rollback_refuses_a_modified_migration(fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    folder = _project(tmp_path, monkeypatch, fresh_db)
    _apply(run_cli)
    old = hashlib.sha256((folder / f"{USERS}.sql").read_bytes()).hexdigest()
    (folder / f"{USERS}.sql").write_text("CREATE TABLE users (id bigint PRIMARY KEY);\n", encoding="utf-8")
    new = hashlib.sha256((folder / f"{USERS}.sql").read_bytes()).hexdigest()

    res = run_cli("rollback", "--env", "test", "--yes", "--no-progress")

    assert res.code == 2
    assert f"`{USERS}.sql` changed after it was applied to `test`" in res.err
    assert old in res.err and new in res.err
    assert _recorded(fresh_db) == ["add_user_bio", "create_matches", "create_users"]


def test_rollback_refuses_to_pass_a_migration_whose_file_is_gone(  # type: ignore[no-untyped-def]
        fresh_db: str, run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path, monkeypatch, fresh_db)
    _apply(run_cli)
    with psycopg.connect(fresh_db, autocommit=True) as conn:  # applied from a branch, file since deleted
        conn.execute("INSERT INTO sqlguard_migrations (version, name, checksum) VALUES "
                     "('20240109000000', 'from_a_branch', 'abc')")

    res = run_cli("rollback", "--env", "test", "--yes", "--no-progress")

    assert res.code == 2
    assert "`test` records `20240109000000_from_a_branch` as applied but its file is gone" in res.err
    assert _columns(fresh_db, "users") == ["id", "email", "bio"]
    res = run_cli("rollback", "--env", "test", "--to", "20240109", "--dry-run", "--no-progress")
    assert res.code == 2 and "--to 20240109: no migration of" in res.err


def test_rollback_needs_a_confirmation(fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path, monkeypatch, fresh_db)
    _apply(run_cli)
    before = _backups(tmp_path)

    res = run_cli("rollback", "--env", "test", "--no-progress")  # pytest's stdin is no terminal

    assert res.code == 2 and res.out == ""
    assert res.err == ("sqlguard: error: rollback changes the database and needs a confirmation: no terminal to ask "
                       "on, so pass --yes (or --dry-run to try it)\n")
    assert _recorded(fresh_db) == ["add_user_bio", "create_matches", "create_users"]
    assert _backups(tmp_path) == before

    # on a terminal: only `yes` goes on
    monkeypatch.setattr("sqlguard.cli_apply._interactive", lambda: True)
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    res = run_cli("rollback", "--env", "test", "--no-progress")
    assert res.code == 2 and "not confirmed: nothing was changed" in res.err
    assert f"  {BIO}.sql" in res.err and "Type `yes` to go on" in res.err
    assert _recorded(fresh_db) == ["add_user_bio", "create_matches", "create_users"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("yes\n"))
    res = run_cli("rollback", "--env", "test", "--no-progress")
    assert res.code == 0, res.err
    assert _recorded(fresh_db) == ["create_matches", "create_users"]


def test_rollback_dry_run_changes_nothing(fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path, monkeypatch, fresh_db)
    _apply(run_cli)
    before = _backups(tmp_path)

    res = run_cli("rollback", "--env", "test", "--to", "0", "--dry-run", "--no-progress")  # no --yes needed

    assert res.code == 0, res.err
    assert "ran in a transaction that was rolled back; nothing changed" in res.out
    assert [line.split()[1] for line in res.out.splitlines()[1:]] == ["tried", "tried", "tried"]
    assert _tables(fresh_db) == {"users", "matches", "sqlguard_migrations"}
    assert _recorded(fresh_db) == ["add_user_bio", "create_matches", "create_users"]
    assert _backups(tmp_path) == before

    res = run_cli("rollback", "--env", "test", "--dry-run", "--format", "json", "--no-progress")
    report = json.loads(res.out)
    assert report["mode"] == "dry-run" and report["backup"] is None
    assert report["migrations"][0]["statements"][0]["locks"] == ["AccessExclusiveLock on users"]


def test_a_failing_rollback_stops_and_stays_recorded(fresh_db: str, run_cli,  # type: ignore[no-untyped-def]
                                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _project(tmp_path, monkeypatch, fresh_db)
    _apply(run_cli)
    (folder / f"{MATCHES}_rollback.sql").write_text(
        "DROP TABLE IF EXISTS matches;\nDROP TABLE no_such_table;\n", encoding="utf-8")

    res = run_cli("rollback", "--env", "test", "--to", "0", "--yes", "--no-progress")

    assert res.code == 1, res.err
    lines = res.out.splitlines()
    assert lines[0].startswith("Rolled back 1 of 3 migration(s) on `test`")
    assert lines[1].split()[:3] == [f"{BIO}.sql", "rolled", "back"]
    assert lines[2].split()[:2] == [f"{MATCHES}.sql", "failed"]
    assert lines[3].strip() == f'{MATCHES}_rollback.sql:2: table "no_such_table" does not exist'
    assert lines[4].split() == [f"{USERS}.sql", "not", "run"]
    assert f"Stopped: the rollback of `{MATCHES}.sql` failed; it stays applied and recorded." in res.out
    assert "To undo the rollback: sqlguard restore --config sqlguard.yaml --env test /" in res.out
    # the failed rollback's first statement was undone with its transaction: matches is still there
    assert _tables(fresh_db) == {"users", "matches", "sqlguard_migrations"}
    assert _recorded(fresh_db) == ["create_matches", "create_users"]
    assert _columns(fresh_db, "users") == ["id", "email"]

    res = run_cli("rollback", "--env", "test", "--yes", "--no-progress", "--format", "json")
    report = json.loads(res.out)
    assert res.code == 1 and not report["ok"]
    assert report["migrations"][0]["error_line"] == 2
    assert "no_such_table" in report["migrations"][0]["error"]


def test_a_rollback_whose_history_row_vanished_is_undone_and_fails(  # type: ignore[no-untyped-def]
        fresh_db: str, run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _project(tmp_path, monkeypatch, fresh_db)
    _apply(run_cli)
    # something else removes the row while the rollback runs (here: the rollback itself)
    (folder / f"{BIO}_rollback.sql").write_text(
        "ALTER TABLE users DROP COLUMN IF EXISTS bio;\nDELETE FROM sqlguard_migrations WHERE name = 'add_user_bio';\n",
        encoding="utf-8")
    res = run_cli("rollback", "--env", "test", "--yes", "--no-progress", "--format", "json")
    report = json.loads(res.out)
    assert res.code == 1 and not report["ok"]
    assert "has no row in sqlguard_migrations any more" in report["migrations"][0]["error"]
    assert _columns(fresh_db, "users") == ["id", "email", "bio"]  # undone with its transaction
    assert "add_user_bio" in _recorded(fresh_db)


def test_rollback_outside_a_transaction(fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    index = "20240104000000_index_email"
    files = {**FILES,
             f"{index}.sql": "-- sqlguard: transaction=off\n"
                             "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email_idx ON users (email);\n",
             f"{index}_rollback.sql": "-- sqlguard: transaction=off\n"
                                      "DROP INDEX CONCURRENTLY IF EXISTS users_email_idx;\n"}
    _project(tmp_path, monkeypatch, fresh_db, files=files)
    _apply(run_cli)

    res = run_cli("rollback", "--env", "test", "--yes", "--no-progress", "--format", "json")

    assert res.code == 0, res.err
    [step] = json.loads(res.out)["migrations"]
    assert step["file"] == f"{index}.sql" and step["status"] == "rolled back" and not step["transactional"]
    assert step["statements"][0]["outside_transaction"]
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT to_regclass('users_email_idx')").fetchone() == (None,)
    assert "index_email" not in _recorded(fresh_db)


def test_rollback_waits_for_the_apply_lock(fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path, monkeypatch, fresh_db, apply_yaml="lock-wait: 0")
    _apply(run_cli)
    with psycopg.connect(fresh_db, autocommit=True, application_name="sqlguard apply") as other:
        other.execute("SELECT pg_advisory_lock(%s)", (_lock_key("public.sqlguard_migrations"),))

        res = run_cli("rollback", "--env", "test", "--yes", "--no-progress")

        assert res.code == 2
        assert "another sqlguard apply is migrating this database" in res.err
        assert _recorded(fresh_db) == ["add_user_bio", "create_matches", "create_users"]
        res = run_cli("rollback", "--env", "test", "--dry-run", "--no-progress")
        assert res.code == 2 and "another sqlguard apply" in res.err
        res = run_cli("baseline", "--env", "test", "--to", USERS[:14], "--yes")
        assert res.code == 2 and "another sqlguard apply" in res.err
    res = run_cli("rollback", "--env", "test", "--yes", "--no-progress")  # the lock is free again
    assert res.code == 0, res.err


def test_rollback_touches_only_its_environment(pg_server: PgServer, fresh_db: str, run_cli,  # type: ignore[no-untyped-def]
                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dev = create_database(pg_server)
    try:
        _project(tmp_path, monkeypatch, fresh_db)
        config = tmp_path / "sqlguard.yaml"
        config.write_text(config.read_text().replace(
            f"  test: {{dsn-env: {VAR}}}\n", f"  test: {{dsn-env: {VAR}}}\n  dev: {{dsn-env: {VAR}_DEV}}\n"))
        monkeypatch.setenv(f"{VAR}_DEV", dev)
        _apply(run_cli)  # test first, then dev
        assert _recorded(dev) == _recorded(fresh_db) == ["add_user_bio", "create_matches", "create_users"]

        res = run_cli("rollback", "--env", "dev", "--to", "0", "--yes", "--no-progress")

        assert res.code == 0, res.err
        assert _tables(dev) == {"sqlguard_migrations"} and _recorded(dev) == []
        assert _tables(fresh_db) == {"users", "matches", "sqlguard_migrations"}
        assert f"--env dev {_backups(tmp_path)[0].parent.parent}/" in res.out and "/dev_" in res.out
        _no_secret(res, dev)
    finally:
        drop_database(pg_server, dev)


# --- restore -------------------------------------------------------------------------------------------

def test_restore_round_trip(fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                            monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path, monkeypatch, fresh_db)
    _apply(run_cli)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("INSERT INTO users (id, email, bio) VALUES (1, 'ada@example.com', 'hi')")
    [pre_apply] = _backups(tmp_path)  # taken by apply on the empty database

    res = run_cli("restore", "--env", "test", str(pre_apply), "--yes", "--no-progress")

    assert res.code == 0, res.err
    assert _tables(fresh_db) == set()  # created after the backup: gone too, with the history table
    [safety] = [b for b in _backups(tmp_path) if b != pre_apply]
    assert stat.S_IMODE(safety.stat().st_mode) == 0o600
    lines = res.out.splitlines()
    assert lines[0].startswith(f"Backed up `test` ({_target(fresh_db)}) as it was to {safety} (")
    assert lines[1].startswith(f"Restored {pre_apply} (database ")
    assert lines[2] == f"To go back to the state before the restore: sqlguard restore --config sqlguard.yaml " \
                       f"--env test {safety}"
    _no_secret(res, fresh_db)
    with psycopg.connect(fresh_db) as conn:  # `public` is kept as it was: owner, privileges, comment
        owner, comment = conn.execute("SELECT nspowner::regrole::text, obj_description(oid, 'pg_namespace') "
                                      "FROM pg_namespace WHERE nspname = 'public'").fetchone() or (None, None)
        assert comment == "standard public schema" and owner

    res = run_cli("restore", "--env", "test", str(safety), "--yes", "--no-progress", "--format", "json")

    assert res.code == 0, res.err
    assert json.loads(res.out)["restored"]["path"] == str(safety)
    assert _recorded(fresh_db) == ["add_user_bio", "create_matches", "create_users"]
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT email, bio FROM users").fetchall() == [("ada@example.com", "hi")]
    res = run_cli("status", "--env", "test")
    assert res.code == 0, res.out


def test_restore_drops_what_depends_on_restored_tables(fresh_db: str, run_cli,  # type: ignore[no-untyped-def]
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # pg_restore --clean alone would fail here: it drops `users`, which the new view and schema use
    _project(tmp_path, monkeypatch, fresh_db)
    _apply(run_cli, "--no-progress")
    res = run_cli("rollback", "--env", "test", "--yes", "--no-progress")
    assert res.code == 0, res.err
    undo = "To undo the rollback: sqlguard restore --config sqlguard.yaml --env test "
    backup = Path(res.out.split(undo)[1].strip())
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE VIEW user_emails AS SELECT email FROM users")
        conn.execute("CREATE SCHEMA reports")
        conn.execute("CREATE VIEW reports.users_count AS SELECT count(*) FROM public.users")

    res = run_cli("restore", "--env", "test", str(backup), "--yes", "--no-progress")

    assert res.code == 0, res.err
    assert _columns(fresh_db, "users") == ["id", "email", "bio"]
    assert _recorded(fresh_db) == ["add_user_bio", "create_matches", "create_users"]
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT to_regclass('user_emails'), to_regnamespace('reports')").fetchone() == (None, None)


def test_restore_refusals(fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                          monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path, monkeypatch, fresh_db)
    _apply(run_cli)
    [backup] = _backups(tmp_path)
    missing = backup.parent / "nope.dump"

    res = run_cli("restore", "--env", "test", str(missing), "--yes")
    assert res.code == 2 and res.err == f"sqlguard: error: no backup at {missing}\n"

    res = run_cli("restore", "--env", "test", str(tmp_path / "sqlguard.yaml"), "--yes")
    assert res.code == 2 and "is not a backup pg_restore can read" in res.err

    res = run_cli("restore", "--env", "test", str(backup))  # no terminal, no --yes
    assert res.code == 2 and "needs a confirmation: no terminal to ask on, so pass --yes" in res.err

    res = run_cli("restore", "--env", "nope", str(backup), "--yes")
    assert res.code == 2 and "unknown environment `nope`" in res.err

    assert _backups(tmp_path) == [backup]  # no refusal took a backup
    assert _tables(fresh_db) == {"users", "matches", "sqlguard_migrations"}


def test_a_failed_restore_changes_nothing(fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path, monkeypatch, fresh_db, apply_yaml="lock-timeout: 300ms")
    _apply(run_cli)
    [backup] = _backups(tmp_path)
    with psycopg.connect(fresh_db) as other:
        other.execute("SELECT count(*) FROM users")  # an open transaction holding a lock on users

        res = run_cli("restore", "--env", "test", str(backup), "--yes", "--no-progress")

        other.rollback()
    assert res.code == 1
    assert "nothing was restored" in res.err and "lock" in res.err and res.err.count("\n") == 1
    safety = [b for b in _backups(tmp_path) if b != backup]
    assert len(safety) == 1 and str(safety[0]) in res.err  # the safety backup is named
    assert _tables(fresh_db) == {"users", "matches", "sqlguard_migrations"}
    assert _recorded(fresh_db) == ["add_user_bio", "create_matches", "create_users"]


def test_a_backup_that_breaks_halfway_restores_nothing(fresh_db: str, run_cli,  # type: ignore[no-untyped-def]
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path, monkeypatch, fresh_db)
    _apply(run_cli)
    res = run_cli("rollback", "--env", "test", "--to", "0", "--yes", "--no-progress")
    assert res.code == 0, res.err
    [backup] = [b for b in _backups(tmp_path) if f"--env test {b}" in res.out]  # holds tables and rows
    broken = tmp_path / "broken.dump"
    broken.write_bytes(backup.read_bytes()[:-15])  # its table of contents reads, its last data does not

    res = run_cli("restore", "--env", "test", str(broken), "--yes", "--no-progress")

    assert res.code == 1
    assert "pg_restore failed, nothing was restored" in res.err and res.err.count("\n") == 1
    assert _tables(fresh_db) == {"sqlguard_migrations"}  # what the script had already run was rolled back
    assert _recorded(fresh_db) == []


# --- baseline ------------------------------------------------------------------------------------------

def test_baseline_then_apply_runs_only_later_migrations(fresh_db: str, run_cli,  # type: ignore[no-untyped-def]
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path, monkeypatch, fresh_db)
    with psycopg.connect(fresh_db, autocommit=True) as conn:  # migrated by another tool
        conn.execute("CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL)")
        conn.execute("INSERT INTO users VALUES (1, 'ada@example.com')")

    res = run_cli("baseline", "--env", "test", "--to", USERS[:14], "--yes")

    assert res.code == 0, res.err
    assert res.out.splitlines()[0].startswith(f"Recorded 1 migration(s) up to {USERS[:14]} as applied on `test`")
    assert "(created `sqlguard_migrations`)" in res.out
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT version, name, environment, duration_ms, backup_path, applied_by = current_user "
                            "FROM sqlguard_migrations").fetchall() == [
            (USERS[:14], "create_users", "test", None, None, True)]

    _apply(run_cli)  # would fail on `CREATE TABLE users` had it run create_users again

    assert _recorded(fresh_db) == ["add_user_bio", "create_matches", "create_users"]
    assert _columns(fresh_db, "users") == ["id", "email", "bio"]
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (1,)
    res = run_cli("baseline", "--env", "test", "--to", MATCHES[:14], "--yes", "--format", "json")
    assert res.code == 0, res.err
    assert [m["state"] for m in json.loads(res.out)["migrations"]] == ["already recorded", "already recorded"]


def test_baseline_refusals(fresh_db: str, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                           monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path, monkeypatch, fresh_db)

    res = run_cli("baseline", "--env", "test", "--to", "20240105", "--yes")
    assert res.code == 2
    assert "--to 20240105: no migration of" in res.err and "has that version" in res.err
    res = run_cli("baseline", "--env", "test", "--to", USERS[:14])  # no terminal, no --yes
    assert res.code == 2 and "baseline writes to the history table and needs a confirmation" in res.err
    assert _tables(fresh_db) == set()  # not even the history table was created


def test_baseline_and_rollback_with_a_custom_history_table(fresh_db: str, run_cli,  # type: ignore[no-untyped-def]
                                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # TribeVibe's own runner records file names in `migrations (id, filename, executed_at)`
    _project(tmp_path, monkeypatch, fresh_db,
             apply_yaml="history: {table: migrations, columns: {filename: filename, applied_at: executed_at}}")
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE migrations (id serial PRIMARY KEY, filename text NOT NULL, "
                     "executed_at timestamptz DEFAULT now())")
        conn.execute(FILES[f"{USERS}.sql"])
        conn.execute(FILES[f"{MATCHES}.sql"])
        conn.execute("INSERT INTO migrations (filename) VALUES (%s)", (f"{USERS}.sql",))

    res = run_cli("baseline", "--env", "test", "--to", MATCHES[:14], "--yes")

    assert res.code == 0, res.err
    assert [line.split(None, 1) for line in res.out.splitlines()[1:3]] == [
        [f"{USERS}.sql", "already recorded"], [f"{MATCHES}.sql", "marked"]]
    assert _recorded(fresh_db, "migrations", "filename") == [f"{USERS}.sql", f"{MATCHES}.sql"]
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM migrations WHERE executed_at IS NOT NULL").fetchone() == (2,)

    _apply(run_cli)
    assert _recorded(fresh_db, "migrations", "filename") == [f"{USERS}.sql", f"{MATCHES}.sql", f"{BIO}.sql"]

    res = run_cli("rollback", "--env", "test", "--to", USERS[:14], "--yes", "--no-progress")

    assert res.code == 0, res.err
    assert _recorded(fresh_db, "migrations", "filename") == [f"{USERS}.sql"]
    assert _tables(fresh_db) == {"users", "migrations"}


def test_a_bare_rollback_after_an_out_of_order_apply_undoes_what_was_applied_last(
        fresh_db: str, run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """users and bio applied; then matches, which sorts between them, arrives from a merged branch and is
    applied out of order. The last applied migration is matches: a bare rollback undoes it, not bio."""
    files = {k: v for k, v in FILES.items() if not k.startswith(MATCHES)}
    folder = _project(tmp_path, monkeypatch, fresh_db, files=files)
    _apply(run_cli)
    for name in (f"{MATCHES}.sql", f"{MATCHES}_rollback.sql"):
        (folder / name).write_text(FILES[name], encoding="utf-8")
    _apply(run_cli)
    assert _recorded(fresh_db) == ["add_user_bio", "create_matches", "create_users"]

    res = run_cli("rollback", "--env", "test", "--yes", "--no-progress", "--format", "json")

    assert res.code == 0, res.err
    assert [m["file"] for m in json.loads(res.out)["migrations"]] == [f"{MATCHES}.sql"]
    assert _tables(fresh_db) == {"users", "sqlguard_migrations"}
    assert _columns(fresh_db, "users") == ["id", "email", "bio"]
