"""`sqlguard apply` against a real PostgreSQL server (no mocks): the dry run, --execute, and its faults.

Every test gets two brand-new databases: `test` (the `fresh_db` fixture) and `dev` (created here). The
project has TribeVibe's layout: `services/api/src/db/migrations/YYYYMMDDHHMMSS_name.sql` with
`_rollback.sql` siblings, environments `test` and `dev`. TribeVibe runs those as two servers (test on
port 5435, dev on 5434); here they are two databases of the one throwaway server, which is the same
thing to sqlguard: two DSNs, read from the variables the config names.

Where a detail of the result matters (locks, row counts, dropped indexes), the tests call
`sqlguard.live.apply` and read the `ApplyResult`; CLI runs are judged by exit code, stderr and the
stable keys of `--format json` (`mode`, `stopped`, `environments[].name/status`,
`environments[].migrations[].file/status/error`), since the report's other fields may change shape.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import CliResult, create_database, drop_database
from pgserver import PgServer

from sqlguard.config import Settings, load_settings
from sqlguard.diagnostic import SqlguardError
from sqlguard.live import apply as runner
from sqlguard.live.compare import one_history
from sqlguard.live.introspect import introspect
from sqlguard.schema.model import Change

pytestmark = pytest.mark.live

MIGRATIONS = "services/api/src/db/migrations"
CONFIG = (
    "migrations:\n"
    f"  - {{path: {MIGRATIONS}, convention: sqlguard}}\n"
    "environments:\n"
    "  test: {dsn-env: SQLGUARD_APPLY_TEST}\n"
    "  dev: {dsn-env: SQLGUARD_APPLY_DEV}\n"
)
WAITING = "another sqlguard apply is migrating this database"

# (file stem, migration, rollback): each lints clean of error-level findings (warnings are fine)
USERS = ("20240101090000_create_users",
         "CREATE TABLE users (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    email text NOT NULL\n);\n",
         "DROP TABLE IF EXISTS users;\n")
BIO = ("20240102090000_add_bio",
       "ALTER TABLE users ADD COLUMN bio text;\n"
       "INSERT INTO users (email) VALUES ('a@example.com'), ('b@example.com'), ('a@example.com');\n"
       "UPDATE users SET bio = 'hello' WHERE email = 'a@example.com';\n",
       "ALTER TABLE users DROP COLUMN IF EXISTS bio;\n")
# Line 2 fails at run time only (the linter cannot know the value is NULL): a fault, not a finding.
BROKEN = ("20240103090000_create_matches",
          "CREATE TABLE matches (id bigint PRIMARY KEY);\nINSERT INTO users (email) VALUES (NULL);\n",
          "DROP TABLE IF EXISTS matches;\n")
MATCHES = ("20240103090000_create_matches", "CREATE TABLE matches (id bigint PRIMARY KEY);\n",
           "DROP TABLE IF EXISTS matches;\n")
# BIO inserted `a@example.com` twice: the unique build fails, after CONCURRENTLY created the index
UNIQUE_EMAIL = ("20240104090000_unique_email",
                "-- sqlguard: transaction=off\n"
                "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_email_key ON users (email);\n",
                "-- sqlguard: transaction=off\nDROP INDEX CONCURRENTLY IF EXISTS users_email_key;\n")
# the rollback is a no-op: it leaves the table behind
NOTES = ("20240105090000_create_notes", "CREATE TABLE notes (id bigint PRIMARY KEY, body text);\n", "SELECT 1;\n")


def sleepy(seconds: float) -> tuple[str, str, str]:
    """Creates t1, then sleeps, but only when executed for real: the dry run's session has another
    application_name (`sqlguard apply (dry run)`), so the dry run stays quick and so does the test."""
    return ("20240106090000_create_t1",
            "CREATE TABLE t1 (id bigint PRIMARY KEY);\nSELECT pg_sleep(CASE WHEN current_setting('application_name') "
            f"= 'sqlguard apply' THEN {seconds} ELSE 0 END);\n", "DROP TABLE IF EXISTS t1;\n")


@dataclass
class Project:
    root: Path
    test: str  # URLs of the two databases
    dev: str

    @property
    def folder(self) -> Path:
        return self.root / MIGRATIONS

    def add(self, migration: tuple[str, str, str]) -> Path:
        stem, up, down = migration
        (self.folder / f"{stem}_rollback.sql").write_text(down, encoding="utf-8")
        path = self.folder / f"{stem}.sql"
        path.write_text(up, encoding="utf-8")
        return path

    def configure(self, extra: str = "") -> None:
        (self.root / "sqlguard.yaml").write_text(CONFIG + extra, encoding="utf-8")

    def settings(self) -> Settings:
        return load_settings(None, [self.root])

    def backup_folder(self) -> Path:
        from sqlguard.live.backup import backups_folder

        return backups_folder(Settings(root=self.root))  # (the default: outside the project)

    def backups(self) -> list[Path]:
        return sorted(self.backup_folder().glob("*/*.dump"))


@pytest.fixture
def project(fresh_db: str, pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    dev = create_database(pg_server)
    try:
        root = tmp_path / "tribevibe"
        (root / MIGRATIONS).mkdir(parents=True)
        proj = Project(root, fresh_db, dev)
        proj.configure()
        monkeypatch.setenv("SQLGUARD_APPLY_TEST", fresh_db)
        monkeypatch.setenv("SQLGUARD_APPLY_DEV", dev)
        monkeypatch.chdir(root)
        yield proj
    finally:
        drop_database(pg_server, dev)


# --- helpers ---------------------------------------------------------------------------------------

def query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql.encode(), params)
        return cur.fetchall() if cur.description is not None else []


def tables(url: str) -> set[str]:
    return {r[0] for r in query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def columns(url: str, table: str) -> list[str]:
    return [r[0] for r in query(url, "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                                     "ORDER BY ordinal_position", (table,))]


def recorded(url: str) -> list[str]:
    """The names in sqlguard's history table, in applied order ([] without the table)."""
    if "sqlguard_migrations" not in tables(url):
        return []
    return [r[0] for r in query(url, "SELECT name FROM sqlguard_migrations ORDER BY applied_at, version")]


def history_rows(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute("SELECT * FROM sqlguard_migrations ORDER BY applied_at, version")
        return list(cur.fetchall())


def schema_of(url: str) -> Any:
    with psycopg.connect(url) as conn:
        return introspect(conn)


def _dbname(url: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_direct(project: Project, *, execute: bool = True, check_rollback: bool = False,
               progress: runner.Progress | None = None) -> runner.ApplyResult:
    """Plan, then execute (or dry-run) with the library, skipping the CLI's lint and dry run."""
    settings = project.settings()
    history = one_history(settings, [], "apply")
    plans = runner.plan(settings, history, runner.targets(settings, None))
    if execute:
        return runner.execute(settings, history, plans, check_rollback=check_rollback, progress=progress)
    return runner.dry_run(settings, history, plans, check_rollback=check_rollback, progress=progress)


def report(res: CliResult) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(res.out)
    return data


def statuses(data: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["name"], e["status"]) for e in data["environments"]]


def wait_for(what: str, found: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def sleeping_backend(url: str) -> int:
    """The server pid of a `sqlguard apply` session in the pg_sleep of `sleepy` (waits for it)."""
    rows = wait_for("sqlguard apply to sleep in its migration", lambda: query(
        url, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
             "AND application_name = 'sqlguard apply' AND query LIKE '%%pg_sleep%%'"))
    return int(rows[0][0])


def cli_process(*args: str) -> subprocess.Popen[str]:
    """`sqlguard apply …` as a real process, in the project (cwd) with the DSN variables of os.environ."""
    return subprocess.Popen([sys.executable, "-m", "sqlguard", "apply", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=os.getcwd(), env=dict(os.environ))


# --- 1. the dry run ---------------------------------------------------------------------------------

def test_a_database_that_predates_its_history_is_linted_as_it_is(project: Project, run_cli: Any) -> None:
    """Adopting sqlguard: the databases already hold `accounts`, which no migration creates. The pending
    migrations are linted against what the databases hold, so `accounts` is known; a table that neither
    the databases nor the history has is still an error."""
    for url in (project.test, project.dev):
        query(url, "CREATE TABLE accounts (id bigint PRIMARY KEY, email text)")
    project.add(("20240101090000_add_note", "ALTER TABLE accounts ADD COLUMN note text;\n",
                 "ALTER TABLE accounts DROP COLUMN IF EXISTS note;\n"))

    res = run_cli("apply", "--format", "json")

    assert res.code == 0, res.err
    data = report(res)
    assert not [v for v in data["validation"] if v["code"] == "SG11"]
    assert statuses(data) == [("test", "tried"), ("dev", "pending")]
    project.add(("20240102090000_use_profiles", "ALTER TABLE profiles ADD COLUMN note text;\n",
                 "ALTER TABLE profiles DROP COLUMN IF EXISTS note;\n"))
    res = run_cli("apply", "--format", "json")
    assert res.code == 1
    found = [v for v in report(res)["validation"] if v["code"] == "SG11" and v["file"].endswith("_profiles.sql")]
    assert len(found) == 1 and "not in databases `test` or `dev`" in found[0]["message"]
    # status lints what is pending the same way, against what its database holds
    res = run_cli("status", "--env", "dev", "--format", "json")
    entries = {e["name"]: e for e in json.loads(res.out)}
    assert res.code == 1 and [f["code"] for f in entries["add_note"]["findings"] if f["code"] == "SG11"] == []
    assert any(f["code"] == "SG11" and "not in database `dev`" in f["message"]
               for f in entries["use_profiles"]["findings"])


def test_dry_run_on_new_databases_changes_nothing(project: Project, run_cli: Any) -> None:
    project.add(USERS)
    project.add(BIO)

    res = run_cli("apply", "--format", "json")

    assert res.code == 0, res.err
    data = report(res)
    assert data["mode"] == "dry-run" and data["stopped"] is None
    assert statuses(data) == [("test", "tried"), ("dev", "pending")]
    assert [(m["file"], m["status"]) for m in data["environments"][0]["migrations"]] == [
        ("20240101090000_create_users.sql", "tried"), ("20240102090000_add_bio.sql", "tried")]
    # rolled back: no table (not even the history table) on either database, and no backup taken
    assert tables(project.test) == set() and tables(project.dev) == set()
    assert not project.backup_folder().exists()


def test_dry_run_reports_time_locks_rows_and_schema_change(project: Project, run_cli: Any) -> None:
    project.add(USERS)
    assert run_cli("apply", "--execute", "--yes").code == 0
    project.add(BIO)
    before = {url: (schema_of(url), history_rows(url)) for url in (project.test, project.dev)}
    backups = project.backups()

    result = run_direct(project, execute=False)

    test, dev = result.environments
    assert (result.mode, result.ok, test.status, dev.status) == ("dry-run", True, "tried", "pending")
    (mr,) = test.migrations
    assert (mr.file, mr.status, mr.transactional) == ("20240102090000_add_bio.sql", "tried", True)
    assert [(s.line, s.rows, s.locks) for s in mr.statements] == [
        (1, None, ["AccessExclusiveLock on users"]),  # users existed before the run: ALTER takes the lock
        (2, 3, ["RowExclusiveLock on users"]),  # a mode the transaction did not hold yet
        (3, 2, []),  # the UPDATE's RowExclusiveLock is already held: not repeated
    ]
    assert all(s.ms > 0 for s in mr.statements)
    assert mr.ms >= sum(s.ms for s in mr.statements)
    assert mr.changes == [Change("added", "column", "users.bio")]
    assert mr.locks == ["AccessExclusiveLock on users"]
    assert [m.status for m in dev.migrations] == ["not run"]
    # the CLI's dry run says the same and exits 0
    res = run_cli("apply", "--format", "json")
    assert res.code == 0 and statuses(report(res)) == [("test", "tried"), ("dev", "pending")]
    # nothing changed: schema, history, rows, backups
    assert {url: (schema_of(url), history_rows(url)) for url in (project.test, project.dev)} == before
    assert query(project.test, "SELECT count(*) FROM users") == [(0,)]
    assert project.backups() == backups


# --- 2. --execute --------------------------------------------------------------------------------------

def test_execute_backs_up_both_then_migrates_test_before_dev(project: Project, run_cli: Any) -> None:
    users, bio = project.add(USERS), project.add(BIO)

    res = run_cli("apply", "--execute", "--yes", "--format", "json")

    assert res.code == 0, res.err
    data = report(res)
    assert data["mode"] == "execute" and data["stopped"] is None
    assert statuses(data) == [("test", "applied"), ("dev", "applied")]
    # one verified backup per target, private to the user, named backups/YYYYMMDD/<env>_<db>_HHMMSS.dump
    backups = project.backups()
    names = {url: str(query(url, "SELECT current_database()")[0][0]) for url in (project.test, project.dev)}
    assert len(backups) == 2
    by_env: dict[str, Path] = {}
    for path in backups:
        match = re.fullmatch(r"(test|dev)_(\w+)_\d{6}\.dump", path.name)
        assert match, path.name
        by_env[match[1]] = path
        assert re.fullmatch(r"\d{8}", path.parent.name)
        assert match[2] == names[project.test if match[1] == "test" else project.dev]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(by_env) == {"test", "dev"}
    # recorded on each database with everything an operator needs later
    user = query(project.test, "SELECT current_user")[0][0]
    rows = {}
    for env, url in (("test", project.test), ("dev", project.dev)):
        rows[env] = history_rows(url)
        assert [(r["version"], r["name"], r["checksum"]) for r in rows[env]] == [
            ("20240101090000", "create_users", sha256(users)), ("20240102090000", "add_bio", sha256(bio))]
        for r in rows[env]:
            assert r["applied_by"] == user and r["environment"] == env
            assert isinstance(r["duration_ms"], int) and r["duration_ms"] >= 0
            assert r["backup_path"] == str(by_env[env])
        assert columns(url, "users") == ["id", "email", "bio"]
    # test committed both migrations before dev began
    assert max(r["applied_at"] for r in rows["test"]) < min(r["applied_at"] for r in rows["dev"])

    # a second run has nothing to do: no backup, exit 0
    again = run_cli("apply", "--execute", "--yes", "--format", "json")
    assert again.code == 0 and statuses(report(again)) == [("test", "up to date"), ("dev", "up to date")]
    assert project.backups() == backups


# --- 3. confirmation -----------------------------------------------------------------------------------

def test_execute_without_yes_and_without_terminal_is_refused(project: Project, run_cli: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    project.add(USERS)
    monkeypatch.setattr(sys, "stdin", io.StringIO("yes\n"))  # piped input is not a terminal's answer

    res = run_cli("apply", "--execute")

    assert res.code == 2
    assert "needs a confirmation" in res.err and "--yes" in res.err
    assert not project.backup_folder().exists()
    assert tables(project.test) == set() and tables(project.dev) == set()


# --- 4. a failing statement ------------------------------------------------------------------------------

def test_failing_statement_is_caught_by_the_dry_run(project: Project, run_cli: Any) -> None:
    project.add(USERS)
    project.add(BROKEN)

    res = run_cli("apply", "--execute", "--yes", "--format", "json")

    assert res.code == 1
    data = report(res)
    assert data["stopped"] and "20240103090000_create_matches.sql" in data["stopped"]
    broken = data["environments"][0]["migrations"][1]
    assert (broken["file"], broken["status"]) == ("20240103090000_create_matches.sql", "failed")
    assert broken["error"].startswith("line 2: ") and 'null value in column "email"' in broken["error"]
    # the dry run stopped the run: no backup, nothing on either database
    assert not project.backup_folder().exists()
    assert tables(project.test) == set() and tables(project.dev) == set()


def test_failing_statement_at_execute_undoes_its_migration_and_spares_dev(project: Project) -> None:
    project.add(USERS)
    project.add(BROKEN)

    result = run_direct(project)  # no dry run: the failure happens while executing

    test, dev = result.environments
    assert not result.ok and result.stopped and "`test` failed" in result.stopped
    assert [(m.file, m.status) for m in test.migrations] == [
        ("20240101090000_create_users.sql", "applied"), ("20240103090000_create_matches.sql", "failed")]
    failed = test.migrations[1]
    assert failed.error_line == 2 and failed.error and failed.error.startswith("line 2: ")
    assert test.status == "failed" and test.error and "20240103090000_create_matches.sql" in test.error
    # the failed migration's first statement went with it; the one before it stays, recorded
    assert tables(project.test) == {"users", "sqlguard_migrations"}
    assert recorded(project.test) == ["create_users"]
    # dev was backed up (every backup comes first) but never touched
    assert dev.status == "not run" and dev.migrations == []
    assert tables(project.dev) == set()
    assert sorted(p.name.split("_")[0] for p in project.backups()) == ["dev", "test"]


# --- 5. the process dies -------------------------------------------------------------------------------

def test_sigkill_mid_migration_leaves_it_unapplied_and_a_rerun_completes(project: Project, run_cli: Any) -> None:
    project.add(USERS)
    project.add(sleepy(30))
    proc = cli_process("--execute", "--yes", "--no-progress")
    try:
        pid = sleeping_backend(project.test)
    finally:
        proc.kill()  # SIGKILL: no handler, no cleanup
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    # The server notices a dead client only when it next talks to it; an operator ends the backend.
    query(project.test, "SELECT pg_terminate_backend(%s)", (pid,))
    wait_for("the backend to go", lambda: not query(project.test, "SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                                                     (pid,)))
    assert "t1" not in tables(project.test)
    assert recorded(project.test) == ["create_users"]  # committed before the kill; t1's never was
    assert tables(project.dev) == set()

    # it was never recorded, so editing it is fine: the rerun applies it once, on both
    project.add(sleepy(0.01))
    res = run_cli("apply", "--execute", "--yes", "--format", "json")
    assert res.code == 0, res.err
    assert statuses(report(res)) == [("test", "applied"), ("dev", "applied")]
    assert recorded(project.test) == ["create_users", "create_t1"]
    assert recorded(project.dev) == ["create_users", "create_t1"]
    assert "t1" in tables(project.test) and "t1" in tables(project.dev)


def test_an_interrupted_transaction_off_migration_is_named_on_the_next_run(project: Project, run_cli: Any) -> None:
    """kill -9 after its CREATE INDEX CONCURRENTLY committed: the index exists, the migration is not
    recorded. The next run (dry run and --execute, before any backup) names the statement and the index
    and says how to clean up; once the index is dropped, the file runs again from its start."""
    project.add(USERS)
    run_cli("apply", "--execute", "--yes", "--no-progress")
    project.add(("20240107090000_index_email",
                 "-- sqlguard: transaction=off\n"
                 "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n"
                 "SELECT pg_sleep(CASE WHEN current_setting('application_name') = 'sqlguard apply' THEN 30 ELSE 0 "
                 "END);\n", "-- sqlguard: transaction=off\nDROP INDEX CONCURRENTLY IF EXISTS users_email_idx;\n"))
    proc = cli_process("--execute", "--yes", "--no-progress")
    try:
        pid = sleeping_backend(project.test)
    finally:
        proc.kill()
        proc.communicate()
    query(project.test, "SELECT pg_terminate_backend(%s)", (pid,))
    wait_for("the backend to go", lambda: not query(project.test, "SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                                                     (pid,)))
    assert recorded(project.test) == ["create_users"]
    backups = project.backups()

    for args in ((), ("--execute", "--yes")):
        res = run_cli("apply", "--no-progress", "--format", "json", *args)
        assert res.code == 1, res.err
        [test] = [e for e in report(res)["environments"] if e["name"] == "test"]
        assert test["status"] == "failed"
        assert "`20240107090000_index_email.sql` was interrupted by an earlier run at line 3" in test["error"]
        assert 'left behind: index "users_email_idx".' in test["error"]
        assert 'clean up with `DROP INDEX CONCURRENTLY IF EXISTS "users_email_idx";`' in test["error"]
        assert "sqlguard baseline --env test --to 20240107090000" in test["error"]
    assert project.backups() == backups  # refused before a backup would have kept the leftover
    assert recorded(project.dev) == ["create_users"]
    res = run_cli("status", "--env", "test")
    assert "an earlier run was interrupted at line 3 (statement 2 of 2)" in res.out

    query(project.test, 'DROP INDEX CONCURRENTLY IF EXISTS "users_email_idx"')
    project.add(("20240107090000_index_email",
                 "-- sqlguard: transaction=off\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n",
                 "-- sqlguard: transaction=off\nDROP INDEX CONCURRENTLY IF EXISTS users_email_idx;\n"))
    res = run_cli("apply", "--execute", "--yes", "--no-progress", "--format", "json")
    assert res.code == 0, res.err
    assert recorded(project.test) == recorded(project.dev) == ["create_users", "index_email"]
    assert query(project.test, "SELECT count(*) FROM sqlguard_journal") == [(0,)]


def test_a_server_that_ends_the_session_is_not_blamed_on_the_migration(project: Project) -> None:
    project.add(USERS)
    project.add(sleepy(30))
    proc = cli_process("--execute", "--yes", "--no-progress", "--format", "json")
    try:
        pid = sleeping_backend(project.test)
        query(project.test, "SELECT pg_terminate_backend(%s)", (pid,))  # as a shutdown would (57P01)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    [test] = [e for e in json.loads(out)["environments"] if e["name"] == "test"]
    [failed] = [m for m in test["migrations"] if m["status"] == "failed"]
    assert "the connection to the server ended during this statement" in failed["error"]
    assert "no fault of the migration" in failed["error"]
    assert recorded(project.test) == ["create_users"] and tables(project.dev) == set()


def test_an_unwritable_report_path_is_refused_before_anything_runs(project: Project, run_cli: Any) -> None:
    project.add(USERS)
    for target in ("no/such/folder/report.md", "."):
        res = run_cli("apply", "--execute", "--yes", "--no-progress", "-o", target)
        assert res.code == 2 and "cannot write the report to" in res.err and "\n" not in res.err.strip()
    assert tables(project.test) == tables(project.dev) == set() and project.backups() == []


def test_reports_hide_the_secrets_statements_carry(project: Project, run_cli: Any) -> None:
    role = f"sg_reporter_{_dbname(project.test)[-8:]}"
    project.add(("20240101090000_reporter", f"CREATE ROLE {role} LOGIN PASSWORD 'hunter2-secret';\n",
                 f"DROP ROLE IF EXISTS {role};\n"))
    try:
        for fmt in ("json", "markdown", "text"):
            res = run_cli("apply", "--no-progress", "--format", fmt)
            assert res.code == 0, res.err
            assert "hunter2-secret" not in res.out + res.err
            assert fmt == "text" or "PASSWORD '***'" in res.out  # (the terminal summary shows no statement)
    finally:
        query(project.test, f"DROP ROLE IF EXISTS {role}")


# --- 6. two runs at once -------------------------------------------------------------------------------

def test_concurrent_applies_apply_each_migration_once(project: Project) -> None:
    project.add(USERS)
    project.add(sleepy(1))

    procs = [cli_process("--execute", "--yes", "--format", "json") for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]

    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    runs = [(statuses(json.loads(out)), err) for out, err in outs]
    # one run migrated both; the other waited for it, then found nothing left to do
    first = [r for r in runs if r[0] == [("test", "applied"), ("dev", "applied")]]
    second = [r for r in runs if r[0] == [("test", "up to date"), ("dev", "up to date")]]
    assert len(first) == len(second) == 1, runs
    assert WAITING in second[0][1]
    for url in (project.test, project.dev):
        assert recorded(url) == ["create_users", "create_t1"]
        assert {"users", "t1"} <= tables(url)


def test_apply_started_while_another_executes_waits_then_finds_nothing_to_do(project: Project,
                                                                            run_cli: Any) -> None:
    project.add(USERS)
    project.add(sleepy(1))
    first = cli_process("--execute", "--yes", "--format", "json")
    try:
        sleeping_backend(project.test)  # the first run is inside t1's migration on test, not committed yet

        # its plan still says pending; its dry run waits for the first run instead of tripping over t1
        res = run_cli("apply", "--execute", "--yes", "--format", "json")
    finally:
        out, err = first.communicate(timeout=60)

    assert first.returncode == 0, err
    assert statuses(json.loads(out)) == [("test", "applied"), ("dev", "applied")]
    assert res.code == 0, res.err
    assert statuses(report(res)) == [("test", "up to date"), ("dev", "up to date")]
    assert f"sqlguard: test: {WAITING} (server pid " in res.err
    for url in (project.test, project.dev):
        assert recorded(url) == ["create_users", "create_t1"]


def test_lock_wait_zero_refuses_at_once(project: Project, run_cli: Any) -> None:
    project.configure("apply:\n  lock-wait: 0\n")
    project.add(USERS)
    key = runner._lock_key("public.sqlguard_migrations")
    # another run's session: it holds the apply lock of the test database
    with psycopg.connect(project.test, autocommit=True, application_name="sqlguard apply") as other:
        other.execute("SELECT pg_advisory_lock(%s)", (key,))
        began = time.monotonic()
        res = run_cli("apply", "--execute", "--yes")  # the dry run meets the lock first
        assert time.monotonic() - began < 10
        # past the dry run, --execute meets it too
        with pytest.raises(SqlguardError, match=r"apply\.lock-wait.*\(this run changed no database\)$"):
            run_direct(project)

    assert res.code == 2  # not a finding nor a failed migration: try again later
    lines = res.err.strip().splitlines()
    assert lines[-1].startswith("sqlguard: error: environment `test`: ") and WAITING in lines[-1]
    assert "`sqlguard apply`" in lines[-1]  # who holds the lock
    assert "0 s (apply.lock-wait): try again when it has finished" in lines[-1]
    assert tables(project.test) == set() and tables(project.dev) == set()


def test_a_connection_lost_while_waiting_is_one_line_and_exit_2(project: Project) -> None:
    project.add(USERS)
    key = runner._lock_key("public.sqlguard_migrations")
    with psycopg.connect(project.test, autocommit=True, application_name="another apply") as other:
        other.execute("SELECT pg_advisory_lock(%s)", (key,))
        waiting = cli_process("--execute", "--yes")
        try:
            pid = wait_for("the run to wait for the apply lock", lambda: query(
                project.test, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                              "AND application_name LIKE 'sqlguard apply%%' AND (query LIKE "
                              "'%%pg_try_advisory_lock%%' OR query LIKE '%%pg_locks%%')"), timeout=120)[0][0]
            other.execute("SELECT pg_terminate_backend(%s)", (pid,))
            _, err = waiting.communicate(timeout=120)
        finally:
            if waiting.poll() is None:
                waiting.kill()
    assert waiting.returncode == 2, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("sqlguard: error: lost the connection to the server: ")
    assert tables(project.test) == set()


def test_a_migration_that_became_pending_after_the_plan_is_backed_up_before_it_runs(project: Project) -> None:
    project.add(USERS)
    assert [e.status for e in run_direct(project).environments] == ["applied", "applied"]
    settings = project.settings()
    history = one_history(settings, [], "apply")
    plans = runner.plan(settings, history, runner.targets(settings, None))  # nothing pending anywhere
    # meanwhile another run rolls `create_users` back on dev
    query(project.dev, "DROP TABLE users")
    query(project.dev, "DELETE FROM sqlguard_migrations")
    result = runner.execute(settings, history, plans)
    test, dev = result.environments
    assert (test.status, dev.status) == ("up to date", "applied")
    assert dev.backup is not None and dev.backup.path.exists()
    assert [r["backup_path"] for r in history_rows(project.dev)] == [str(dev.backup.path)]


def test_the_undo_commands_of_an_out_of_order_run_never_name_a_rollback_that_does_nothing(
        project: Project, run_cli: Any) -> None:
    project.add(USERS)
    project.add(("20240103090000_create_c", "CREATE TABLE c (id int);\n", "DROP TABLE IF EXISTS c;\n"))
    first = run_cli("apply", "--execute", "--yes", "--format", "json")
    assert first.code == 0, first.err
    assert report(first)["commands"]["rollback"][0].endswith("--env dev --to 0")
    project.add(("20240102090000_create_b", "CREATE TABLE b (id int);\n", "DROP TABLE IF EXISTS b;\n"))
    late = run_cli("apply", "--execute", "--yes", "--format", "json")
    assert late.code == 0, late.err
    commands = report(late)["commands"]
    assert commands["rollback"] == []  # `--to 20240103090000` would roll back nothing
    assert len(commands["restore"]) == 2


def test_a_database_changed_between_the_backup_and_the_lock_is_backed_up_again(project: Project) -> None:
    project.add(USERS)
    run_direct(project)
    project.add(BIO)
    settings = project.settings()
    history = one_history(settings, [], "apply")
    plans = runner.plan(settings, history, runner.targets(settings, None))  # dev: users applied, bio pending
    before = set(project.backups())
    changed = []

    def meanwhile(what: str, done: int, total: int) -> None:
        if what.startswith("dev: backup ") and not changed:  # after this run's backups, before its locks
            query(project.dev, "DROP TABLE users")  # another run rolls `create_users` back on dev
            query(project.dev, "DELETE FROM sqlguard_migrations")
            changed.append(what)

    result = runner.execute(settings, history, plans, progress=meanwhile)
    dev = result.environments[1]
    assert changed and dev.status == "applied" and [m.file for m in dev.migrations] == [
        "20240101090000_create_users.sql", "20240102090000_add_bio.sql"]
    new_dev = sorted((b for b in set(project.backups()) - before if b.name.startswith("dev_")),
                     key=lambda b: b.stat().st_mtime_ns)
    assert len(new_dev) == 2  # the one before the change, then the one to undo this run by
    assert dev.backup.path == new_dev[-1]
    assert {r["backup_path"] for r in history_rows(project.dev)} == {str(new_dev[-1])}


# --- 7. no backup, no change -----------------------------------------------------------------------

@pytest.mark.parametrize("pg_dump", ["missing", "failing"])
def test_no_backup_no_change(project: Project, run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             pg_dump: str) -> None:
    project.add(USERS)
    tools = tmp_path / "bin"
    tools.mkdir()
    if pg_dump == "missing":
        monkeypatch.setenv("PATH", str(tools))  # psycopg needs nothing from PATH; pg_dump is not there
        expected = "`pg_dump` not found on PATH"
    else:
        fake = tools / "pg_dump"
        fake.write_text("#!/bin/sh\necho 'pg_dump: error: query failed: ERROR:  out of shared memory' >&2\n"
                        "exit 1\n", encoding="utf-8")
        fake.chmod(0o755)
        monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
        expected = "pg_dump failed: query failed: out of shared memory"

    res = run_cli("apply", "--execute", "--yes", "--format", "json")

    assert res.code != 0
    data = report(res)
    assert statuses(data)[0] == ("test", "failed") and "backup" in data["stopped"]
    assert expected in res.out + res.err
    assert project.backups() == []  # a failed dump leaves no file
    assert tables(project.test) == set() and tables(project.dev) == set()


def test_a_failed_backup_exits_1_from_apply_rollback_and_restore(project: Project, run_cli: Any, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    project.add(USERS)
    assert run_cli("apply", "--execute", "--yes", "--no-progress").code == 0
    [backup] = [b for b in project.backups() if b.name.startswith("test_")]
    project.add(BIO)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "pg_dump").write_text("#!/bin/sh\necho 'pg_dump: error: disk full' >&2\nexit 1\n", encoding="utf-8")
    (tools / "pg_dump").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    for args in (("apply", "--execute", "--yes"), ("rollback", "--env", "test", "--yes"),
                 ("restore", "--env", "test", str(backup), "--yes")):
        res = run_cli(*args, "--no-progress")
        assert res.code == 1, (args, res.err)
        assert "pg_dump failed: disk full" in res.out + res.err
    assert recorded(project.test) == ["create_users"] and columns(project.test, "users") == ["id", "email"]


# --- 8. an edited migration ------------------------------------------------------------------------

def test_a_file_edited_while_the_confirmation_waits_is_not_run(project: Project, run_cli: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The dry run passed on what the file said; the file is rewritten to `DROP TABLE users` before the
    confirmation is given: nothing of it runs, on test or on dev."""
    import sqlguard.cli_apply as cli_apply

    project.add(USERS)
    run_cli("apply", "--execute", "--yes", "--no-progress")
    path = project.add(NOTES)

    def edit_then_confirm(plans: Any, dry: Any) -> bool:
        path.write_text("DROP TABLE users;\n", encoding="utf-8")
        return True

    monkeypatch.setattr(cli_apply, "_interactive", lambda: True)
    monkeypatch.setattr(cli_apply, "_confirm", edit_then_confirm)
    res = run_cli("apply", "--execute", "--no-progress", "--format", "json")

    assert res.code == 1, res.err
    data = report(res)
    assert statuses(data)[0] == ("test", "failed")
    assert "changed after this run checked it" in data["environments"][0]["error"]
    for url in (project.test, project.dev):
        assert "users" in tables(url) and "notes" not in tables(url)
        assert recorded(url) == ["create_users"]


def test_migration_edited_after_it_was_applied_is_refused(project: Project, run_cli: Any) -> None:
    users = project.add(USERS)
    assert run_cli("apply", "--execute", "--yes").code == 0
    old = sha256(users)
    backups = project.backups()
    users.write_text(USERS[1].replace("email text NOT NULL", "email text NOT NULL,\n    bio text"), encoding="utf-8")
    project.add(BIO)

    res = run_cli("apply", "--execute", "--yes")

    assert res.code == 2
    (line,) = res.err.strip().splitlines()
    assert "`20240101090000_create_users.sql` changed after it was applied to `test`" in line
    assert f"recorded checksum {old}, file checksum {sha256(users)}" in line
    assert project.backups() == backups  # refused while planning: before any backup
    assert columns(project.test, "users") == ["id", "email"] == columns(project.dev, "users")


# --- 9. test first ---------------------------------------------------------------------------------

def test_a_crlf_checkout_or_a_fixed_down_section_is_the_same_migration(fresh_db: str, tmp_path: Path, run_cli: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """What ran is what the history row's checksum covers: the migration's text with LF line endings, and
    for dbmate (goose) only its up section. A CRLF checkout, or a fix to the down section, is no change."""
    root = tmp_path / "app"
    (root / "db" / "migrations").mkdir(parents=True)
    (root / "sqlguard.yaml").write_text("migrations: [{path: db/migrations, convention: dbmate}]\n"
                                        "environments:\n  test: {dsn-env: SQLGUARD_APPLY_TEST}\n", encoding="utf-8")
    monkeypatch.setenv("SQLGUARD_APPLY_TEST", fresh_db)
    monkeypatch.chdir(root)
    migration = root / "db" / "migrations" / "20240101090000_create_users.sql"
    migration.write_text("-- migrate:up\nCREATE TABLE users (id bigint PRIMARY KEY);\n\n-- migrate:down\n"
                         "DROP TABLE users;\n", encoding="utf-8")
    assert run_cli("apply", "--execute", "--yes", "--no-progress").code == 0

    migration.write_bytes(migration.read_bytes().replace(b"\n", b"\r\n"))  # core.autocrlf on another machine
    migration.write_bytes(migration.read_bytes().replace(b"DROP TABLE users;", b"DROP TABLE IF EXISTS users;"))
    res = run_cli("status", "--env", "test", "--format", "json")
    assert res.code == 0, res.err
    assert [e["state"] for e in json.loads(res.out)] == ["applied"]
    assert run_cli("apply", "--execute", "--yes", "--no-progress").code == 0  # nothing pending, nothing refused
    res = run_cli("rollback", "--env", "test", "--yes", "--no-progress")
    assert res.code == 0, res.err
    assert "users" not in tables(fresh_db)

    migration.write_bytes(migration.read_bytes().replace(b"PRIMARY KEY", b"PRIMARY KEY, email text"))
    assert run_cli("apply", "--execute", "--yes", "--no-progress").code == 0
    migration.write_bytes(migration.read_bytes().replace(b", email text", b""))  # the up section: a change
    res = run_cli("status", "--env", "test", "--format", "json")
    assert [e["state"] for e in json.loads(res.out)] == ["modified"]


def test_dev_before_test_in_config_is_refused(project: Project, run_cli: Any) -> None:
    project.configure("apply:\n  environments: [dev, test]\n")
    project.add(USERS)

    res = run_cli("apply", "--execute", "--yes")

    assert res.code == 2
    (line,) = res.err.strip().splitlines()
    assert line.startswith("sqlguard: error: ") and "test" in line and "`environments`" in line
    assert not project.backup_folder().exists()
    assert tables(project.test) == set() and tables(project.dev) == set()


def test_env_dev_alone_waits_until_test_has_the_migration(project: Project, run_cli: Any) -> None:
    project.add(USERS)

    for args in (["--execute", "--yes"], []):  # refused in the dry run as in --execute
        res = run_cli("apply", "--env", "dev", *args)
        assert res.code == 2
        assert "refusing to migrate `dev` before test" in res.err
        assert "`20240101090000_create_users.sql` has not been applied to a test environment" in res.err
    assert not project.backup_folder().exists()
    assert tables(project.dev) == set()

    assert run_cli("apply", "--env", "test", "--execute", "--yes").code == 0
    assert tables(project.test) == {"users", "sqlguard_migrations"} and tables(project.dev) == set()

    res = run_cli("apply", "--env", "dev", "--execute", "--yes", "--format", "json")
    assert res.code == 0, res.err
    assert statuses(report(res)) == [("dev", "applied")]
    assert [r["environment"] for r in history_rows(project.dev)] == ["dev"]


# --- 10. a failed CONCURRENTLY build ----------------------------------------------------------------

def test_failed_concurrent_index_build_drops_the_invalid_index(project: Project) -> None:
    project.add(USERS)
    project.add(BIO)
    project.add(UNIQUE_EMAIL)

    # the dry run would try it without CONCURRENTLY and stop there: execute it directly
    result = run_direct(project)

    test, dev = result.environments
    assert [m.status for m in test.migrations] == ["applied", "applied", "failed"]
    mr = test.migrations[2]
    assert mr.transactional is False
    assert mr.error and 'could not create unique index "users_email_key"' in mr.error
    assert mr.invalid_indexes_dropped == ["users_email_key"]
    assert query(project.test, "SELECT count(*) FROM pg_index WHERE NOT indisvalid") == [(0,)]
    assert query(project.test, "SELECT count(*) FROM pg_indexes WHERE indexname = 'users_email_key'") == [(0,)]
    assert recorded(project.test) == ["create_users", "add_bio"]
    assert dev.status == "not run" and tables(project.dev) == set()


def test_a_statement_that_cannot_run_in_the_wrapping_transaction_fails_the_dry_run_and_execute(
        project: Project) -> None:
    project.add(USERS)
    vacuum = project.add(("20240103090000_vacuum_users", "ALTER TABLE users ADD COLUMN bio text;\nVACUUM users;\n",
                          "ALTER TABLE users DROP COLUMN IF EXISTS bio;\n"))
    for execute in (False, True):
        test = run_direct(project, execute=execute).environments[0]
        assert [m.status for m in test.migrations] == ["tried" if not execute else "applied", "failed"]
        failed = test.migrations[1]
        assert failed.error is not None and failed.error.startswith(
            "`VACUUM` cannot run inside a transaction block, and sqlguard runs this file in one")
        assert failed.error_line == 2 and failed.statements == []  # refused before anything of it ran
    assert recorded(project.test) == ["create_users"] and columns(project.test, "users") == ["id", "email"]
    # marked transaction=off, it runs (statement by statement) and is recorded
    vacuum.write_text("-- sqlguard: transaction=off\nALTER TABLE users ADD COLUMN bio text;\nVACUUM users;\n",
                      encoding="utf-8")
    assert [m.status for m in run_direct(project).environments[0].migrations] == ["applied"]
    assert recorded(project.test) == ["create_users", "vacuum_users"]


def test_reindex_with_the_concurrently_option_is_tried_without_it_then_runs_concurrently(project: Project) -> None:
    project.add(USERS)
    project.add(("20240103090000_reindex_users", "-- sqlguard: transaction=off\nREINDEX (CONCURRENTLY) TABLE users;\n",
                 "SELECT 1;\n"))
    dry = run_direct(project, execute=False).environments[0].migrations[1]
    assert dry.status == "tried", dry.error
    assert dry.statements[0].note == "tried without CONCURRENTLY (the dry run is one transaction)"
    done = run_direct(project).environments[0].migrations[1]
    assert done.status == "applied", done.error
    assert done.statements[0].outside_transaction


def test_what_a_migration_sets_for_its_session_does_not_move_its_history_row_or_reach_the_next(
        project: Project) -> None:
    project.add(("20240101090000_app_schema", "-- sqlguard: transaction=off\nCREATE SCHEMA app;\n"
                 "SET search_path = app;\nCREATE TABLE users (id bigint PRIMARY KEY);\n",
                 "DROP SCHEMA IF EXISTS app CASCADE;\n"))
    project.add(("20240102090000_wrapped", "SET search_path = app;\nCREATE TABLE likes (id bigint PRIMARY KEY);\n",
                 "DROP TABLE IF EXISTS app.likes;\n"))
    project.add(("20240103090000_plain", "CREATE TABLE notes (id bigint PRIMARY KEY);\n",
                 "DROP TABLE IF EXISTS notes;\n"))
    dry = run_direct(project, execute=False).environments[0]
    assert [m.status for m in dry.migrations] == ["tried"] * 3, [m.error for m in dry.migrations]
    test = run_direct(project).environments[0]
    assert [m.status for m in test.migrations] == ["applied"] * 3, [m.error for m in test.migrations]
    assert recorded(project.test) == ["app_schema", "wrapped", "plain"]  # all in public.sqlguard_migrations
    assert query(project.test, "SELECT schemaname, tablename FROM pg_tables WHERE schemaname IN ('app', 'public') "
                               "ORDER BY 1, 2") == [("app", "likes"), ("app", "users"), ("public", "notes"),
                                                    ("public", "sqlguard_journal"), ("public", "sqlguard_migrations")]


def test_the_dry_run_checks_deferred_constraints_as_commit_would(project: Project) -> None:
    project.add(USERS)
    project.add(("20240102090000_likes", "CREATE TABLE likes (user_id bigint REFERENCES users (id) "
                 "DEFERRABLE INITIALLY DEFERRED);\nINSERT INTO likes VALUES (42);\n", "DROP TABLE IF EXISTS likes;\n"))
    dry = run_direct(project, execute=False).environments[0]
    assert [m.status for m in dry.migrations] == ["tried", "failed"]
    assert "violates foreign key constraint" in (dry.migrations[1].error or "")
    # fixed by a later statement of the same migration: the deferred check passes, as at COMMIT
    project.add(("20240102090000_likes", "CREATE TABLE likes (user_id bigint REFERENCES users (id) "
                 "DEFERRABLE INITIALLY DEFERRED);\nINSERT INTO likes VALUES (42);\n"
                 "INSERT INTO users (id, email) OVERRIDING SYSTEM VALUE VALUES (42, 'a@example.com');\n",
                 "DROP TABLE IF EXISTS likes;\n"))
    project.add(("20240103090000_more_likes", "INSERT INTO likes VALUES (43);\n"
                 "INSERT INTO users (id, email) OVERRIDING SYSTEM VALUE VALUES (43, 'b@example.com');\n",
                 "DELETE FROM likes WHERE user_id = 43;\n"))
    dry = run_direct(project, execute=False).environments[0]
    assert [m.status for m in dry.migrations] == ["tried"] * 3, [m.error for m in dry.migrations]


def test_what_the_dry_runs_one_transaction_cannot_try_is_left_to_execute_and_said(
        project: Project, run_cli: Any) -> None:
    project.add(("20240101090000_mood", "CREATE TYPE mood AS ENUM ('sad');\nCREATE TABLE moods (m mood);\n",
                 "DROP TABLE IF EXISTS moods;\nDROP TYPE IF EXISTS mood;\n"))
    project.add(("20240102090000_happy", "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'happy';\n", "SELECT 1;\n"))
    project.add(("20240103090000_use_happy", "INSERT INTO moods VALUES ('happy');\n",
                 "DELETE FROM moods WHERE m = 'happy';\n"))
    project.add(("20240104090000_after", "CREATE TABLE later (id int);\n", "DROP TABLE IF EXISTS later;\n"))
    test = run_direct(project, execute=False).environments[0]
    assert test.status == "tried", [(m.status, m.error) for m in test.migrations]
    assert [m.status for m in test.migrations] == ["tried", "tried", "not run", "not run"]
    assert test.note is not None and test.note.startswith(
        "tried up to `20240103090000_use_happy.sql`, which uses an enum value that an earlier migration")
    assert test.note.endswith("it and the 1 after it were not tried")
    res = run_cli("apply", "--execute", "--yes", "--format", "json")
    assert res.code == 0, res.err
    assert statuses(report(res)) == [("test", "applied"), ("dev", "applied")]
    assert query(project.dev, "SELECT m::text FROM moods") == [("happy",)]


def test_a_batched_backfill_that_commits_is_left_to_execute_and_fails_only_where_execute_would(
        project: Project) -> None:
    project.add(USERS)
    backfill = ("DO $$\nBEGIN\n  FOR i IN 1..3 LOOP\n"
                "    INSERT INTO users (email) VALUES ('u' || i || '@example.com');\n"
                "    COMMIT;\n  END LOOP;\nEND $$;\n")
    project.add(("20240102090000_backfill", "-- sqlguard: transaction=off\n" + backfill,
                 "DELETE FROM users WHERE email LIKE 'u%@example.com';\n"))
    dry = run_direct(project, execute=False).environments[0]
    assert (dry.status, [m.status for m in dry.migrations]) == ("tried", ["tried", "not run"])
    assert dry.note is not None and "commits inside a procedure or DO block" in dry.note
    assert [m.status for m in run_direct(project).environments[0].migrations] == ["applied", "applied"]
    assert query(project.test, "SELECT count(*) FROM users") == [(3,)]
    # wrapped, the same COMMIT fails for real: the dry run says so
    project.add(("20240103090000_backfill_again", backfill, "SELECT 1;\n"))
    dry = run_direct(project, execute=False).environments[0]
    assert dry.status == "failed" and "invalid transaction termination" in (dry.migrations[0].error or "")


def test_a_sql_standard_function_body_runs_as_one_statement(project: Project) -> None:
    project.add(("20240101090000_add", "CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql\n"
                 "BEGIN ATOMIC\n  SELECT CASE WHEN a > 0 THEN a + b ELSE b END;\nEND;\n",
                 "DROP FUNCTION IF EXISTS add(int, int);\n"))
    assert [m.status for m in run_direct(project, execute=False).environments[0].migrations] == ["tried"]
    assert [m.status for m in run_direct(project).environments[0].migrations] == ["applied"]
    assert query(project.test, "SELECT add(2, 3)") == [(5,)]


def test_a_role_a_migration_sets_does_not_record_its_history_row(project: Project) -> None:
    role = f"sqlguard_t_{os.getpid()}_{time.monotonic_ns() % 10**6}"
    query(project.test, f'CREATE ROLE "{role}" NOLOGIN')
    try:
        query(project.test, f'GRANT CREATE ON SCHEMA public TO "{role}"')
        project.configure("apply:\n  environments: [test]\n")
        project.add(("20240101090000_as_owner", f'SET ROLE "{role}";\nCREATE TABLE owned (id int);\n',
                     "DROP TABLE IF EXISTS owned;\n"))
        project.add(("20240102090000_after", "CREATE TABLE later (id int);\n", "DROP TABLE IF EXISTS later;\n"))
        assert [m.status for m in run_direct(project, execute=False).environments[0].migrations] == ["tried"] * 2
        test = run_direct(project).environments[0]
        assert [m.status for m in test.migrations] == ["applied"] * 2, [m.error for m in test.migrations]
        owners = dict(query(project.test, "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'"))
        assert owners["owned"] == role and owners["later"] != role  # the next migration runs as the connection
        assert {r["applied_by"] for r in history_rows(project.test)} == {owners["later"]}
    finally:
        query(project.test, f'DROP OWNED BY "{role}"')
        query(project.test, f'DROP ROLE "{role}"')


def test_each_database_keeps_its_history_table_where_its_search_path_puts_it(project: Project) -> None:
    query(project.dev, "CREATE SCHEMA app")
    query(project.dev, f'ALTER DATABASE "{_dbname(project.dev)}" SET search_path = app')
    project.add(USERS)
    run_direct(project)
    assert query(project.dev, "SELECT schemaname FROM pg_tables WHERE tablename = 'sqlguard_migrations'") == [("app",)]
    project.add(("20240102090000_notes", "CREATE TABLE notes (id int);\n", "DROP TABLE IF EXISTS notes;\n"))
    dry = run_direct(project, execute=False)
    assert [[m.file for m in e.migrations] for e in dry.environments] == [["20240102090000_notes.sql"]] * 2


def test_an_enum_value_used_where_it_is_added_fails_the_dry_run(project: Project) -> None:
    project.add(("20240101090000_mood", "CREATE TYPE mood AS ENUM ('sad');\nCREATE TABLE moods (m mood);\n",
                 "DROP TABLE IF EXISTS moods;\nDROP TYPE IF EXISTS mood;\n"))
    run_direct(project)
    project.add(("20240102090000_happy", "ALTER TYPE mood ADD VALUE 'happy';\n"
                 "INSERT INTO moods VALUES (lower('HAPPY')::mood);\n", "SELECT 1;\n"))
    dry = run_direct(project, execute=False).environments[0]
    assert dry.status == "failed" and 'unsafe use of new value "happy"' in (dry.migrations[0].error or "")


def test_a_procedure_that_commits_inside_the_files_own_begin_fails_the_dry_run(project: Project) -> None:
    project.add(("20240101090000_proc", "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN COMMIT; END $$;\n",
                 "DROP PROCEDURE IF EXISTS p();\n"))
    run_direct(project)
    project.add(("20240102090000_call", "-- sqlguard: transaction=off\nBEGIN;\nCALL p();\nCOMMIT;\n", "SELECT 1;\n"))
    dry = run_direct(project, execute=False).environments[0]
    assert dry.status == "failed" and "invalid transaction termination" in (dry.migrations[0].error or "")


# --- 11. --check-rollback ------------------------------------------------------------------------------

def test_check_rollback_passes_a_rollback_that_undoes_its_migration(project: Project, run_cli: Any) -> None:
    project.add(USERS)
    project.add(BIO)

    result = run_direct(project, check_rollback=True)

    test, dev = result.environments
    assert result.ok
    assert [(m.status, m.rollback_check) for m in test.migrations] == [("applied", "identical")] * 2
    assert [(m.status, m.rollback_check) for m in dev.migrations] == [("applied", None)] * 2  # checked on test
    for url in (project.test, project.dev):
        assert recorded(url) == ["create_users", "add_bio"]
        assert columns(url, "users") == ["id", "email", "bio"]
        assert query(url, "SELECT count(*) FROM users") == [(3,)]  # ran once, not twice


def test_check_rollback_refuses_a_rollback_that_does_not_undo(project: Project, run_cli: Any) -> None:
    project.add(USERS)
    project.add(NOTES)

    result = run_direct(project, check_rollback=True)

    test, dev = result.environments
    assert not result.ok and dev.status == "not run"
    mr = test.migrations[1]
    assert (mr.status, mr.rollback_check) == ("failed", "differs")
    assert mr.rollback_diff == [Change("added", "table", "notes")]
    assert mr.error and "the rollback does not undo the migration" in mr.error and "`notes`" in mr.error
    assert tables(project.test) == {"users", "sqlguard_migrations"}
    assert recorded(project.test) == ["create_users"]
    assert tables(project.dev) == set()
    # the CLI's dry run finds it first
    res = run_cli("apply", "--execute", "--yes", "--check-rollback", "--format", "json")
    assert res.code == 1
    notes = report(res)["environments"][0]["migrations"][0]
    assert notes["status"] == "failed" and "rollback does not undo" in notes["error"]
    assert recorded(project.test) == ["create_users"]


def test_the_dry_run_sees_functions_triggers_views_grants_and_renames(project: Project) -> None:
    """What a replay never models, the database's catalog tells: a migration that renames a column,
    (re)defines a function, a trigger and a view, and grants, shows each; a rollback that leaves one of
    them behind fails --check-rollback."""
    project.add(USERS)
    project.add(("20240108090000_objects",
                 "ALTER TABLE users RENAME COLUMN email TO mail;\n"
                 "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n"
                 "CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();\n"
                 "CREATE VIEW mails AS SELECT mail FROM users;\n"
                 "GRANT SELECT ON users TO PUBLIC;\n",
                 # leaves the function, and the grant, behind
                 "DROP VIEW IF EXISTS mails;\nDROP TRIGGER IF EXISTS users_touch ON users;\n"
                 "ALTER TABLE users RENAME COLUMN mail TO email;\n"))

    result = run_direct(project, execute=False, check_rollback=True)

    mr = result.environments[0].migrations[1]
    shown = {c.describe() for c in mr.changes}
    assert {"column `users.email` changed: renamed to mail", "function `touch()` added",
            "trigger `users.users_touch` added", "view `mails` added"} <= shown, shown
    assert any(c.object == "grants on" and c.name == "users" for c in mr.changes)
    assert (mr.status, mr.rollback_check) == ("failed", "differs")
    assert {c.describe() for c in mr.rollback_diff} >= {"function `touch()` added"}
    assert any(c.object == "grants on" for c in mr.rollback_diff)
    assert tables(project.test) == set()  # a dry run


# --- 12. lock_timeout ------------------------------------------------------------------------------

def test_lock_timeout_fails_fast_behind_a_lock(project: Project, run_cli: Any) -> None:
    project.configure("apply:\n  lock-timeout: 200ms\n")
    project.add(USERS)
    assert run_direct(project).ok
    project.add(BIO)
    with psycopg.connect(project.test) as holder:
        holder.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")  # an open transaction holds it

        began = time.monotonic()
        res = run_cli("apply", "--format", "json")  # the dry run hits the lock first
        assert time.monotonic() - began < 5
        assert res.code == 1
        error = report(res)["environments"][0]["migrations"][0]["error"]
        assert error.startswith("line 1: could not take a lock within lock_timeout")
        holder.rollback()

        # --execute: the lock is taken after the backups (pg_dump would wait for it), just before the ALTER
        def take_lock(what: str, done: int, total: int) -> None:
            if what == "test: applying 20240102090000_add_bio.sql":
                holder.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")

        result = run_direct(project, progress=take_lock)
        holder.rollback()

    test, dev = result.environments
    (mr,) = test.migrations
    assert mr.status == "failed" and mr.error_line == 1
    assert mr.error and "lock_timeout" in mr.error
    assert mr.ms < 3000
    assert dev.status == "not run"
    for url in (project.test, project.dev):
        assert recorded(url) == ["create_users"]
        assert columns(url, "users") == ["id", "email"]


# --- 13. adopting TribeVibe's history table --------------------------------------------------------

def test_adopts_an_existing_history_table(project: Project, run_cli: Any) -> None:
    project.configure("apply:\n  history:\n    table: migrations\n"
                      "    columns: {filename: filename, applied_at: executed_at}\n")
    project.add(USERS)
    project.add(BIO)
    project.add(MATCHES)
    for url in (project.test, project.dev):  # what TribeVibe's own runner left behind
        query(url, "CREATE TABLE migrations (id serial PRIMARY KEY, filename text NOT NULL, "
                   "executed_at timestamptz NOT NULL DEFAULT now())")
        query(url, USERS[1])
        query(url, "INSERT INTO migrations (filename, executed_at) VALUES (%s, now() - interval '1 day')",
              (f"{USERS[0]}.sql",))

    res = run_cli("apply", "--execute", "--yes", "--format", "json")

    assert res.code == 0, res.err
    data = report(res)
    assert statuses(data) == [("test", "applied"), ("dev", "applied")]
    assert [m["file"] for m in data["environments"][0]["migrations"]] == [
        "20240102090000_add_bio.sql", "20240103090000_create_matches.sql"]
    for url in (project.test, project.dev):
        rows = query(url, "SELECT id, filename, executed_at > now() - interval '1 hour' FROM migrations ORDER BY id")
        assert rows == [(1, "20240101090000_create_users.sql", False), (2, "20240102090000_add_bio.sql", True),
                        (3, "20240103090000_create_matches.sql", True)]
        assert tables(url) == {"migrations", "users", "matches"}  # no sqlguard_migrations beside it
