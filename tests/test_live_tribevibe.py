"""TribeVibe's setup end to end: two PostgreSQL servers, test on port 5435 and dev on 5434 (free ports
when those are taken), the shipped `fixtures/tribevibe/sqlguard.yaml` (test before dev, the team's own
`migrations (id, filename, executed_at)` history table, which exists already: its runner made it), and a
clean migration history in
`services/api/src/db/migrations/` with `_rollback.sql` siblings. No mocks: real servers, real pg_dump."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pgserver
import psycopg
import pytest
from conftest import FIXTURES

from sqlguard.config import load_settings
from sqlguard.live.backup import backups_folder

pytestmark = pytest.mark.live

MIGRATIONS = "services/api/src/db/migrations"
HISTORY = {
    "20240101090000_create_users": (
        "CREATE TABLE users (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
        "    email text NOT NULL UNIQUE\n);\n",
        "DROP TABLE IF EXISTS users;\n"),
    "20240102090000_create_matches": (
        "CREATE TABLE matches (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
        "    user_a bigint NOT NULL REFERENCES users (id),\n    user_b bigint NOT NULL REFERENCES users (id)\n);\n"
        "CREATE INDEX matches_user_a_idx ON matches (user_a);\nCREATE INDEX matches_user_b_idx ON matches (user_b);\n",
        "DROP TABLE IF EXISTS matches;\n"),
    "20240110090000_add_user_bio": (
        "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN bio text;\n",
        "SET lock_timeout = '5s';\nALTER TABLE users DROP COLUMN IF EXISTS bio;\n"),
}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    bindir = pgserver.find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries")  # a failure under SQLGUARD_REQUIRE_LIVE=1 (conftest)
    assert bindir is not None
    started: list[pgserver.ThrowawayServer] = []
    urls: dict[str, str] = {}
    try:
        for env, port, dbname in (("test", 5435, "tribevibe_test"), ("dev", 5434, "tribevibe")):
            server = pgserver.ThrowawayServer(bindir, port=port)
            info = server.start()
            started.append(server)
            with psycopg.connect(info.dsn, autocommit=True) as admin:
                admin.execute(f"CREATE DATABASE {dbname}")
            urls[env] = info.url(dbname=dbname)
            with psycopg.connect(urls[env], autocommit=True) as conn:  # the table the team's runner writes
                conn.execute("CREATE TABLE migrations (id serial PRIMARY KEY, filename text NOT NULL, "
                             "executed_at timestamptz NOT NULL DEFAULT now())")
        yield urls
    finally:
        for server in started:
            server.stop()


def test_tribevibe_apply_rollback_and_status_on_two_servers(servers: dict[str, str], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch, run_cli) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "tribevibe"
    folder = root / MIGRATIONS
    folder.mkdir(parents=True)
    shutil.copy(FIXTURES / "tribevibe" / "sqlguard.yaml", root / "sqlguard.yaml")
    (root / "rules").mkdir()
    shutil.copy(FIXTURES.parent / "rules" / "tribevibe.yaml", root / "rules" / "tribevibe.yaml")
    config = (root / "sqlguard.yaml").read_text(encoding="utf-8").replace("../../rules/", "rules/")
    (root / "sqlguard.yaml").write_text(config, encoding="utf-8")
    for stem, (up, down) in HISTORY.items():
        (folder / f"{stem}.sql").write_text(up, encoding="utf-8")
        (folder / f"{stem}_rollback.sql").write_text(down, encoding="utf-8")
    monkeypatch.setenv("TRIBEVIBE_TEST_URL", servers["test"])
    monkeypatch.setenv("TRIBEVIBE_DEV_URL", servers["dev"])
    monkeypatch.chdir(root)
    ports = {env: url.split("@", 1)[1].split("/", 1)[0].rsplit(":", 1)[1] for env, url in servers.items()}
    assert ports["test"] != ports["dev"]  # two servers (5435 and 5434 when those were free)

    dry = run_cli("apply", "--no-progress")
    assert dry.code == 0, dry.err
    assert f"127.0.0.1:{ports['test']}/tribevibe_test: tried" in dry.out
    assert _tables(servers["test"]) == _tables(servers["dev"]) == ["migrations"]  # the dry run changed nothing

    done = run_cli("apply", "--execute", "--yes", "--no-progress")
    assert done.code == 0, done.err
    for env, db in (("test", "tribevibe_test"), ("dev", "tribevibe")):
        assert _tables(servers[env]) == ["matches", "migrations", "users"]
        rows = _rows(servers[env], "SELECT filename FROM migrations ORDER BY id")
        assert rows == [(f"{stem}.sql",) for stem in HISTORY]  # the team's own table, by file name
        assert len(list(backups_folder(load_settings(None, [root])).glob(f"*/{env}_{db}_*.dump"))) == 1
    # test before dev: every test row is older than every dev row
    last_test = _rows(servers["test"], "SELECT max(executed_at) FROM migrations")[0][0]
    first_dev = _rows(servers["dev"], "SELECT min(executed_at) FROM migrations")[0][0]
    assert last_test < first_dev

    status = run_cli("status", "--env", "dev")
    assert status.code == 0 and "`dev`: 3 applied." in status.out

    back = run_cli("rollback", "--env", "dev", "--to", "20240102090000", "--yes", "--no-progress")
    assert back.code == 0, back.err
    assert _columns(servers["dev"], "users") == ["id", "email"]
    assert _columns(servers["test"], "users") == ["id", "email", "bio"]  # test untouched
    assert _rows(servers["dev"], "SELECT count(*) FROM migrations") == [(2,)]

    again = run_cli("apply", "--execute", "--yes", "--no-progress")
    assert again.code == 0, again.err
    assert "test [test]" in again.out and "up to date" in again.out
    assert _columns(servers["dev"], "users") == ["id", "email", "bio"]


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def _tables(url: str) -> list[str]:
    return [r[0] for r in _rows(url, "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]


def _columns(url: str, table: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT attname::text FROM pg_attribute WHERE attrelid = %s::regclass "
                                           "AND attnum > 0 AND NOT attisdropped ORDER BY attnum", [table])]
