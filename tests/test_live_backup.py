"""Backups with the real pg_dump and pg_restore against a real PostgreSQL server (no mocks of PostgreSQL).

Each test gets its own fresh database (the `fresh_db` fixture in conftest.py). Fake tools on PATH stand
in for pg_dump or pg_restore only where a test needs one to misbehave or to tell what it was given.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from pgserver import PgServer
from psycopg import sql

from sqlguard.diagnostic import SqlguardError
from sqlguard.live.backup import Backup, backup_path, restore_backup, take_backup

pytestmark = pytest.mark.live

NOON = datetime(2024, 5, 17, 12, 30, 45)


def _seed(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO users VALUES (1, 'ada'), (2, 'grace')")


def _backed_up_then(dsn: str, tmp_path: Path, *changes: str) -> Backup:
    """Seed `users`, back it up, then run `changes`: the state a restore has to undo."""
    _seed(dsn)
    backup = take_backup(dsn, "dev", tmp_path / "backups", now=NOON)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for change in changes:
            conn.execute(change)
    return backup


def _rows(dsn: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT id, name FROM users ORDER BY id").fetchall()


def _dbname(dsn: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(dsn)["dbname"])


def _files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "backups").rglob("*") if p.is_file())


def _fake_tool(folder: Path, name: str, script: str) -> None:
    folder.mkdir(exist_ok=True)
    tool = folder / name
    tool.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    tool.chmod(0o755)


def _put_first_on_path(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_backup_is_private_verified_and_named_by_env_db_and_time(fresh_db: str, tmp_path: Path) -> None:
    _seed(fresh_db)
    db = _dbname(fresh_db)

    backup = take_backup(fresh_db, "dev", tmp_path / "backups", now=NOON)

    assert backup.path == tmp_path / "backups" / "20240517" / f"dev_{db}_123045.dump"
    assert backup.path.is_absolute() and _files(tmp_path) == [backup.path]
    assert (backup.environment, backup.database) == ("dev", db)
    assert stat.S_IMODE(backup.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(backup.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "backups").stat().st_mode) == 0o700
    assert backup.size == backup.path.stat().st_size > 0
    assert backup.entries > 0 and backup.seconds > 0
    listing = subprocess.run(["pg_restore", "--list", str(backup.path)], capture_output=True, text=True, check=True)
    assert "TABLE public users" in listing.stdout and "TABLE DATA public users" in listing.stdout


def test_file_is_0600_whatever_the_umask(fresh_db: str, tmp_path: Path) -> None:
    old = os.umask(0o277)  # would make a file created 0o666 read-only for its owner and 0o400
    try:
        backup = take_backup(fresh_db, "dev", tmp_path / "backups", now=NOON)
    finally:
        os.umask(old)
    assert stat.S_IMODE(backup.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(backup.path.parent.stat().st_mode) == 0o700


def test_empty_database_is_a_valid_backup_with_no_entries(fresh_db: str, tmp_path: Path) -> None:
    # the state before the first migration: pg_restore --list lists no object, yet the archive is sound
    backup = take_backup(fresh_db, "dev", tmp_path / "backups", now=NOON)
    assert backup.entries == 0 and backup.path.is_file()


def test_restore_brings_back_dropped_and_changed_data(fresh_db: str, tmp_path: Path) -> None:
    backup = _backed_up_then(fresh_db, tmp_path, "UPDATE users SET name = 'changed'",
                             "DELETE FROM users WHERE id = 2", "ALTER TABLE users ADD COLUMN bio text")

    restore_backup(fresh_db, backup.path)
    assert _rows(fresh_db) == [(1, "ada"), (2, "grace")]

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("DROP TABLE users")
    restore_backup(fresh_db, backup.path)
    assert _rows(fresh_db) == [(1, "ada"), (2, "grace")]


def test_restore_into_a_database_whose_name_reads_like_a_conninfo(pg_server: PgServer, tmp_path: Path) -> None:
    # pg_restore parses a --dbname holding `=` as a conninfo; the name travels in PGDATABASE instead
    name = "app db=x"
    with psycopg.connect(pg_server.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        dsn = pg_server.url(dbname=name)
        _seed(dsn)
        backup = take_backup(dsn, "dev", tmp_path / "backups", now=NOON)
        assert backup.path.name == "dev_app_db_x_123045.dump"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP TABLE users")
        restore_backup(dsn, backup.path)
        assert _rows(dsn) == [(1, "ada"), (2, "grace")]
    finally:
        with psycopg.connect(pg_server.dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_restore_leaves_exactly_what_the_backup_holds(fresh_db: str, tmp_path: Path) -> None:
    # made since the backup: gone after the restore (a plain pg_restore --clean would keep them, and the
    # view would even block its DROP TABLE users)
    backup = _backed_up_then(fresh_db, tmp_path, "UPDATE users SET name = 'changed'",
                             "CREATE VIEW user_names AS SELECT name FROM users", "CREATE SCHEMA audit",
                             "CREATE TABLE audit.log (id int)", "CREATE TYPE mood AS ENUM ('ok')")

    restore_backup(fresh_db, backup.path)

    assert _rows(fresh_db) == [(1, "ada"), (2, "grace")]
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT to_regclass('user_names'), to_regnamespace('audit'), "
                            "to_regtype('mood')").fetchone() == (None, None, None)


RICH_SCHEMA = """
CREATE EXTENSION citext;
CREATE EXTENSION hstore;
CREATE SCHEMA extensions;
CREATE EXTENSION pgcrypto SCHEMA extensions;
CREATE TYPE mood AS ENUM ('ok', 'meh');
CREATE TABLE users (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email citext NOT NULL, m mood, attrs hstore);
CREATE TABLE tags (id serial PRIMARY KEY, label text);
INSERT INTO users (email, m) VALUES ('a@x', 'ok'), ('b@x', 'meh');
INSERT INTO tags (label) VALUES ('one');
CREATE VIEW user_emails AS SELECT email FROM users;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON users USING (true);
ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO {reader};
CREATE SCHEMA reporting;
CREATE TABLE reporting.totals (n bigint);
CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TEXT SEARCH CONFIGURATION my_ts (COPY = english);
CREATE PUBLICATION {pub} FOR TABLE users;
SELECT lo_create(424242);
GRANT CREATE ON SCHEMA public TO {other};
SET ROLE {other};
CREATE TABLE other_t (id int GENERATED ALWAYS AS IDENTITY, v text);
INSERT INTO other_t (v) VALUES ('theirs');
RESET ROLE;
"""

# made after the backup: none of it may survive the restore
SINCE = """
CREATE EXTENSION pg_trgm;
ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA reporting GRANT INSERT ON TABLES TO {reader};
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO {reader};
CREATE COLLATION ci2 (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TEXT SEARCH CONFIGURATION ts2 (COPY = english);
CREATE PUBLICATION {pub}_2 FOR TABLE users;
SELECT lo_create(515151);
DROP TABLE tags;
UPDATE users SET email = 'changed';
CREATE TABLE newer (id int GENERATED BY DEFAULT AS IDENTITY);
ALTER TABLE other_t OWNER TO {app};
SET ROLE {other};
CREATE TABLE other_new (id int GENERATED ALWAYS AS IDENTITY);
RESET ROLE;
"""


def _plain(dsn: str, backup: Path | None = None) -> list[str]:
    """A database (or a backup) as pg_dump's SQL, without comments, blank lines and psql's session keys."""
    argv = ["pg_restore", "--file=-", str(backup)] if backup is not None else ["pg_dump", "--format=plain"]
    names = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "dbname": "PGDATABASE"}
    env = {**os.environ, **{names[k]: str(v) for k, v in psycopg.conninfo.conninfo_to_dict(dsn).items() if k in names}}
    out = subprocess.run(argv, capture_output=True, text=True, check=True, env=env).stdout
    return [line for line in out.splitlines()
            if line.strip() and not line.startswith(("--", "\\restrict", "\\unrestrict"))]


def test_restore_is_exactly_the_backup_for_a_rich_schema(pg_server: PgServer, fresh_db: str, tmp_path: Path) -> None:
    """Identity and serial columns, extensions (and one the role may not drop, in a schema it owns), enums,
    views, functions, triggers, policies, default privileges, collations, text search, publications,
    large objects and a second owner: after the restore, pg_dump of the database is the backup's script,
    line for line, for a role that is not a superuser."""
    tag = _dbname(fresh_db)[-8:]
    names = {k: f"sg_{k}_{tag}" for k in ("app", "other", "reader", "pub")}
    with psycopg.connect(fresh_db, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(names["app"])))
        for role in ("other", "reader"):
            admin.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(names[role])))
        admin.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(names["other"]), sql.Identifier(names["app"])))
        admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(_dbname(fresh_db)),
                                                                      sql.Identifier(names["app"])))
        # an untrusted extension a superuser put in a schema the role owns
        admin.execute(sql.SQL("CREATE SCHEMA ext AUTHORIZATION {}").format(sql.Identifier(names["app"])))
        admin.execute("CREATE EXTENSION dblink SCHEMA ext")
    app = pg_server.url(dbname=_dbname(fresh_db), user=names["app"])
    try:
        with psycopg.connect(app, autocommit=True) as conn:
            conn.execute(RICH_SCHEMA.format(**names))
        backup = take_backup(app, "dev", tmp_path / "backups", now=NOON)
        with psycopg.connect(app, autocommit=True) as conn:
            conn.execute(SINCE.format(**names))
        assert _plain(app) != _plain(app, backup.path)

        restore_backup(app, backup.path)

        assert _plain(app) == _plain(app, backup.path)
        restore_backup(app, backup.path)  # again, on the restored database: the same
        assert _plain(app) == _plain(app, backup.path)
    finally:
        with psycopg.connect(fresh_db, autocommit=True) as admin:
            for role in ("app", "other", "reader"):  # (one by one: PostgreSQL 15 trips over a default ACL of two)
                admin.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(names[role])))
            admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(sql.Identifier(_dbname(fresh_db))))
        with psycopg.connect(pg_server.dsn, autocommit=True) as admin:
            for role in ("app", "other", "reader"):
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(names[role])))


def test_a_backup_of_another_owners_objects_is_restored_by_its_member_or_not_at_all(
        pg_server: PgServer, fresh_db: str, tmp_path: Path) -> None:
    """Owners come back as the backup has them: a role that may not give a table back to its owner
    restores nothing, and says whose objects they are (it used to take them over silently)."""
    if pg_server.password_role is None:
        pytest.skip("an external server (SQLGUARD_TEST_DSN) has no second role")
    role, password = pg_server.password_role
    _seed(fresh_db)  # `users` is the superuser's
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT SELECT ON users TO {}").format(sql.Identifier(role)))
    dsn = pg_server.url(dbname=_dbname(fresh_db), user=role, password=password)
    backup = take_backup(dsn, "dev", tmp_path / "backups", now=NOON)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE later (id int)")
        conn.execute(sql.SQL("ALTER TABLE later OWNER TO {}").format(sql.Identifier(role)))

    with pytest.raises(SqlguardError) as info:
        restore_backup(dsn, backup.path)

    message = str(info.value)
    assert "nothing was restored" in message and "owned by `postgres`" in message and "\n" not in message
    with psycopg.connect(fresh_db) as conn:  # the transaction was rolled back: `later` is still there
        assert conn.execute("SELECT to_regclass('later') IS NOT NULL").fetchone() == (True,)


def test_a_failed_restore_changes_nothing(fresh_db: str, tmp_path: Path) -> None:
    backup = _backed_up_then(fresh_db, tmp_path, "UPDATE users SET name = 'changed'")
    # the archive's table of contents reads, its data does not: pg_restore fails halfway
    broken = tmp_path / "broken.dump"
    broken.write_bytes(backup.path.read_bytes()[:-40])

    with pytest.raises(SqlguardError) as info:
        restore_backup(fresh_db, broken)

    message = str(info.value)
    assert "\n" not in message and str(broken) in message and "nothing was restored" in message
    assert _rows(fresh_db) == [(1, "changed"), (2, "changed")]  # the single transaction was never committed


def test_two_backups_in_the_same_second_do_not_overwrite(fresh_db: str, tmp_path: Path) -> None:
    _seed(fresh_db)
    first = take_backup(fresh_db, "dev", tmp_path / "backups", now=NOON)
    before = first.path.read_bytes()
    second = take_backup(fresh_db, "dev", tmp_path / "backups", now=NOON)
    third = take_backup(fresh_db, "dev", tmp_path / "backups", now=NOON)

    assert second.path == first.path.with_name(first.path.stem + "_2.dump")
    assert third.path == first.path.with_name(first.path.stem + "_3.dump")
    assert first.path.read_bytes() == before
    assert len(_files(tmp_path)) == 3


def test_backup_path_sanitises_names_and_never_reuses_one(tmp_path: Path) -> None:
    path = backup_path(tmp_path / "backups", "prod/eu west", "../../etc/passwd", NOON)
    assert path == tmp_path / "backups" / "20240517" / "prod_eu_west__._.._etc_passwd_123045.dump"
    assert backup_path(tmp_path / "backups", ".hidden", "-opt", NOON).name == "_hidden__opt_123045.dump"
    path.parent.mkdir(parents=True)
    path.touch()
    assert backup_path(tmp_path / "backups", "prod/eu west", "../../etc/passwd", NOON).name.endswith("_123045_2.dump")


def test_pg_dump_missing(fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    with pytest.raises(SqlguardError, match=r"`pg_dump` not found on PATH: install the PostgreSQL client"):
        take_backup(fresh_db, "dev", tmp_path / "backups", now=NOON)
    assert not (tmp_path / "backups").exists()


def test_pg_dump_failing_leaves_no_file(pg_server: PgServer, tmp_path: Path) -> None:
    dsn = pg_server.url(dbname="sqlguard_no_such_db")

    with pytest.raises(SqlguardError) as info:
        take_backup(dsn, "dev", tmp_path / "backups", now=NOON)

    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("cannot back up environment `dev` (127.0.0.1:")
    assert 'pg_dump failed: database "sqlguard_no_such_db" does not exist' in message
    assert _files(tmp_path) == []


def test_a_table_locked_for_longer_than_the_lock_wait_fails_the_backup_instead_of_stalling(
        fresh_db: str, tmp_path: Path) -> None:
    import time

    _seed(fresh_db)
    with psycopg.connect(fresh_db) as holder:  # a session that keeps `users` locked (a long migration)
        holder.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        began = time.monotonic()
        with pytest.raises(SqlguardError) as err:
            take_backup(fresh_db, "dev", tmp_path / "backups", lock_wait="1s")
        waited = time.monotonic() - began
        holder.rollback()
    assert "held a lock on a table for longer than 1s" in str(err.value)
    assert waited < 30  # not until the holder lets go
    assert _files(tmp_path) == []
    assert take_backup(fresh_db, "dev", tmp_path / "backups", lock_wait="1s").entries > 0  # once it is free


def test_pg_dump_version_mismatch_says_what_to_do(fresh_db: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # what pg_dump 15 prints against a PostgreSQL 16 server (only a 15 server is at hand)
    fake = tmp_path / "bin"
    _fake_tool(fake, "pg_dump", "echo partial\n"
               "echo 'pg_dump: error: aborting because of server version mismatch' >&2\n"
               "echo 'pg_dump: detail: server version: 16.2; pg_dump version: 15.18' >&2\nexit 1\n")
    _put_first_on_path(monkeypatch, fake)

    with pytest.raises(SqlguardError) as info:
        take_backup(fresh_db, "dev", tmp_path / "backups", now=NOON)

    assert str(info.value).endswith(
        "pg_dump failed: aborting because of server version mismatch (server version: 16.2; pg_dump version: "
        "15.18): use a pg_dump of the server's major version or newer")
    assert _files(tmp_path) == []


def test_credentials_never_reach_a_command_line(pg_server: PgServer, fresh_db: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    if pg_server.password_role is None:
        pytest.skip("an external server (SQLGUARD_TEST_DSN) has no role that must give a password")
    role, password = pg_server.password_role
    _seed(fresh_db)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER TABLE users OWNER TO {}").format(sql.Identifier(role)))
        # to restore, the role recreates the table in `public` (PostgreSQL 15 grants CREATE there to no one)
        conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(role)))
    dsn = pg_server.url(dbname=_dbname(fresh_db), user=role, password=password)
    argv_log = tmp_path / "argv.txt"
    fake = tmp_path / "bin"
    real_dump, real_restore = shutil.which("pg_dump"), shutil.which("pg_restore")
    _fake_tool(fake, "pg_dump", f'printf "%s\\n" "$0" "$@" >> "{argv_log}"\nexec "{real_dump}" "$@"\n')
    real_psql = shutil.which("psql")
    _fake_tool(fake, "pg_restore", f'printf "%s\\n" "$0" "$@" >> "{argv_log}"\nexec "{real_restore}" "$@"\n')
    _fake_tool(fake, "psql", f'printf "%s\\n" "$0" "$@" >> "{argv_log}"\nexec "{real_psql}" "$@"\n')
    _put_first_on_path(monkeypatch, fake)

    backup = take_backup(dsn, "dev", tmp_path / "backups", now=NOON)  # the server refuses the role without its password
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("DELETE FROM users")
    restore_backup(dsn, backup.path)

    assert _rows(fresh_db) == [(1, "ada"), (2, "grace")]
    argv = argv_log.read_text(encoding="utf-8").splitlines()
    # the three tools went through the recording wrappers
    assert "--format=custom" in argv and "--set=ON_ERROR_STOP=1" in argv
    assert any(a.startswith("--use-list=") for a in argv)
    assert not [arg for arg in argv if password in arg or role in arg or "://" in arg or "dbname" in arg]

    wrong = pg_server.url(dbname="sqlguard_no_such_db", user=role, password=password)
    with pytest.raises(SqlguardError) as info:
        take_backup(wrong, "dev", tmp_path / "backups", now=NOON)
    assert password not in str(info.value) and "does not exist" in str(info.value)
    with pytest.raises(SqlguardError) as info:
        restore_backup(wrong, backup.path)
    assert password not in str(info.value)


def test_wrong_password_is_one_clear_line(pg_server: PgServer, fresh_db: str, tmp_path: Path) -> None:
    if pg_server.password_role is None:
        pytest.skip("an external server (SQLGUARD_TEST_DSN) has no role that must give a password")
    role, _ = pg_server.password_role
    dsn = pg_server.url(dbname=_dbname(fresh_db), user=role, password="not-the-password")

    with pytest.raises(SqlguardError) as info:
        take_backup(dsn, "dev", tmp_path / "backups", now=NOON)

    assert str(info.value).endswith(f'pg_dump failed: password authentication failed for user "{role}"')
    assert "not-the-password" not in str(info.value) and _files(tmp_path) == []


def test_a_dsn_option_without_environment_variable_is_refused(fresh_db: str, tmp_path: Path) -> None:
    with pytest.raises(SqlguardError, match=r"the DSN sets `sslpassword`.*command line"):
        take_backup(fresh_db + "?sslpassword=hunter2", "dev", tmp_path / "backups", now=NOON)
    assert not (tmp_path / "backups").exists()
    # options that only tune the connection are left out, not refused
    backup = take_backup(fresh_db + "?keepalives_idle=30", "dev", tmp_path / "backups", now=NOON)
    assert backup.path.is_file()


def test_failed_verification_leaves_no_file(fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(fresh_db)
    fake = tmp_path / "bin"
    _fake_tool(fake, "pg_restore", "echo 'pg_restore: error: could not read from input file: end of file' >&2\n"
                                   "exit 1\n")
    _put_first_on_path(monkeypatch, fake)

    with pytest.raises(SqlguardError) as info:
        take_backup(fresh_db, "dev", tmp_path / "backups", now=NOON)

    assert str(info.value).endswith("the dump did not verify: `pg_restore --list` failed: could not read from "
                                    "input file: end of file")
    assert _files(tmp_path) == []


def test_a_listing_without_table_of_contents_does_not_verify(fresh_db: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin"
    _fake_tool(fake, "pg_restore", "exit 0\n")
    _put_first_on_path(monkeypatch, fake)

    with pytest.raises(SqlguardError, match="printed no table of contents"):
        take_backup(fresh_db, "dev", tmp_path / "backups", now=NOON)
    assert _files(tmp_path) == []


def test_ctrl_c_kills_pg_dump_and_removes_the_partial_file(fresh_db: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    pid_file = tmp_path / "pid"
    fake = tmp_path / "bin"
    # writes a first part of a "dump", then hangs as a pg_dump waiting for a lock would
    _fake_tool(fake, "pg_dump", f'echo PGDMP-partial\necho $$ > "{pid_file}"\nexec sleep 60\n')
    _put_first_on_path(monkeypatch, fake)
    main = threading.main_thread().ident
    assert main is not None

    def interrupt() -> None:
        deadline = time.monotonic() + 10
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        if pid_file.exists():  # else take_backup failed early; the test fails on its own
            time.sleep(0.2)  # let take_backup settle in its wait for pg_dump
            signal.pthread_kill(main, signal.SIGINT)  # as Ctrl-C would, in the thread waiting for pg_dump

    threading.Thread(target=interrupt, daemon=True).start()
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        take_backup(fresh_db, "dev", tmp_path / "backups", now=NOON)

    assert time.monotonic() - began < 30
    assert _files(tmp_path) == []
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(int(pid_file.read_text()), 0)


def test_restore_refuses_a_missing_file_or_one_that_is_not_a_dump(fresh_db: str, tmp_path: Path) -> None:
    missing = tmp_path / "gone.dump"
    with pytest.raises(SqlguardError) as info:
        restore_backup(fresh_db, missing)
    assert str(info.value) == f"no backup at {missing}"

    text = tmp_path / "notes.dump"
    text.write_text("CREATE TABLE users (id int);\n", encoding="utf-8")
    with pytest.raises(SqlguardError) as info:
        restore_backup(fresh_db, text)
    message = str(info.value)
    assert message.startswith(f"{text} is not a backup pg_restore can read: ")
    assert "does not appear to be a valid archive" in message and "\n" not in message

    with pytest.raises(SqlguardError) as info:
        restore_backup(fresh_db, tmp_path)
    assert str(info.value) == f"no backup at {tmp_path} (it is a folder)"


def test_backups_go_outside_the_project_by_default_in_private_folders(fresh_db: str, tmp_path: Path,
                                                                     user_data_home: Path) -> None:
    """By default a project's backups live in the user's data directory, never in the work tree git
    offers to commit; every folder created is 0700, under umask 000 too."""
    from sqlguard.config import Settings
    from sqlguard.live.backup import backups_folder

    project = tmp_path / "tribe vibe"
    project.mkdir()
    folder = backups_folder(Settings(root=project))
    assert folder.parent == user_data_home / "sqlguard" / "backups"
    assert folder.name.startswith("tribe_vibe-") and not folder.is_relative_to(project)
    assert backups_folder(Settings(root=tmp_path / "other")) != folder  # one folder per project
    _seed(fresh_db)
    old = os.umask(0)
    try:
        backup = take_backup(fresh_db, "dev", folder, now=NOON)
    finally:
        os.umask(old)
    for d in (backup.path.parent, folder, folder.parent, folder.parent.parent):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    assert stat.S_IMODE(backup.path.stat().st_mode) == 0o600


def test_a_backups_folder_inside_a_git_work_tree_is_ignored_by_git(fresh_db: str, tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    _seed(fresh_db)
    take_backup(fresh_db, "dev", tmp_path / "backups", now=NOON)
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=tmp_path,
                            capture_output=True, text=True, check=True).stdout
    assert "dump" not in status and "backups" not in status


def test_a_backups_folder_others_may_write_to_or_own_is_refused(fresh_db: str, tmp_path: Path) -> None:
    _seed(fresh_db)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(SqlguardError) as info:
        take_backup(fresh_db, "dev", shared, now=NOON)
    assert "other users may write to it (mode 0777)" in str(info.value)
    if os.geteuid() == 0:  # (only root can give a folder away)
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 65534, 65534)
        with pytest.raises(SqlguardError) as info:
            take_backup(fresh_db, "dev", theirs, now=NOON)
        assert "belongs to another user" in str(info.value)
    assert not list(tmp_path.rglob("*.dump"))


def test_a_dangling_symlink_at_the_next_name_is_skipped(fresh_db: str, tmp_path: Path) -> None:
    _seed(fresh_db)
    first = take_backup(fresh_db, "dev", tmp_path / "backups", now=NOON)
    first.path.with_name(first.path.stem + "_2.dump").symlink_to(tmp_path / "nowhere")
    second = take_backup(fresh_db, "dev", tmp_path / "backups", now=NOON)  # (it used to spin forever)
    assert second.path.name == first.path.stem + "_3.dump"


def test_a_killed_backup_leaves_no_file_under_a_backups_name(fresh_db: str, tmp_path: Path) -> None:
    """kill -9 while pg_dump writes: what stays is a `.partial` file, which no restore takes for a backup."""
    _seed(fresh_db)
    code = ("import sys\nfrom datetime import datetime\nfrom pathlib import Path\nimport sqlguard.live.backup as b\n"
            "b._verify = lambda *a: __import__('os').kill(__import__('os').getpid(), 9)\n"
            f"b.take_backup({fresh_db!r}, 'dev', Path({str(tmp_path / 'backups')!r}))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    left = [p.name for p in (tmp_path / "backups").rglob("*") if p.is_file()]
    assert len(left) == 1 and left[0].startswith(".") and left[0].endswith(".dump.partial")
    assert not list((tmp_path / "backups").rglob("*.dump"))


def test_when_psql_fails_its_reason_is_given_not_pg_restores(fresh_db: str, tmp_path: Path) -> None:
    """A session holds a lock on `users`: the restore's DROP waits out its lock_timeout and psql stops.
    pg_restore then stops too (its pipe closed), and the message used to be `pg_restore failed: no message`."""
    backup = _backed_up_then(fresh_db, tmp_path, "UPDATE users SET name = 'changed'")
    with psycopg.connect(fresh_db) as holder:
        holder.execute("SELECT * FROM users")  # ACCESS SHARE, held until this transaction ends
        with pytest.raises(SqlguardError) as info:
            restore_backup(fresh_db, backup.path, lock_timeout="200ms")
        holder.rollback()
    message = str(info.value)
    assert "lock timeout" in message and "pg_restore failed" not in message and "nothing was restored" in message
    assert _rows(fresh_db) == [(1, "changed"), (2, "changed")]
