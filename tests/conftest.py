"""Shared test helpers: lint a string in-process, assert a rule fires or not, run the CLI; live fixtures."""

from __future__ import annotations

import io
import os
import sys
import uuid
from collections.abc import Generator, Iterator
from dataclasses import replace
from pathlib import Path

import pgserver
import pytest
from pgserver import PgServer

from sqlguard.catalog import Catalog, load_catalog
from sqlguard.config import Settings
from sqlguard.diagnostic import Diagnostic
from sqlguard.lint.engine import lint_stdin

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SHARED = ROOT.parent / "shared"
CORPORA = SHARED / "corpora"
REGRESS = SHARED / "conformance" / "postgres-regress"
# Tests that read ../shared (the real corpora, PostgreSQL's regression SQL) skip on a plain clone without
# it, unless the run promised it: CI sets SQLGUARD_REQUIRE_SHARED=1, and there a missing folder fails them.
REQUIRE_SHARED = "SQLGUARD_REQUIRE_SHARED"
needs_shared = pytest.mark.skipif(not (CORPORA.is_dir() and REGRESS.is_dir()) and os.environ.get(REQUIRE_SHARED) != "1",
                                  reason="../shared (the corpora and PostgreSQL's regression SQL) is not checked out")
TRIBEVIBE_CATALOG = ROOT / "rules" / "tribevibe.yaml"

_catalog: Catalog | None = None


def tribevibe() -> Catalog:
    global _catalog
    if _catalog is None:
        _catalog = load_catalog(TRIBEVIBE_CATALOG)
    return _catalog


def lint_sql(sql: str | bytes, *, select: tuple[str, ...] = (), dialect: str = "postgres",
             catalog: Catalog | bool | None = True, filename: str = "migration.sql",
             pg_version: int = 15) -> list[Diagnostic]:
    """Lint SQL text in-process, as `sqlguard lint -` would, with the TribeVibe catalog by default."""
    settings = replace(Settings(), dialect=dialect, select=select, pg_version=pg_version)
    cat = tribevibe() if catalog is True else (catalog or None)
    data = sql.encode("utf-8") if isinstance(sql, str) else sql
    return lint_stdin(data, filename, settings, cat).diagnostics  # type: ignore[arg-type]


def assert_flags(sql: str | bytes, code: str, **kw: object) -> list[Diagnostic]:
    found = [d for d in lint_sql(sql, **kw) if d.code == code]  # type: ignore[arg-type]
    assert found, f"{code} did not fire on:\n{sql!r}"
    return found


def assert_clean(sql: str | bytes, code: str, **kw: object) -> None:
    found = [d for d in lint_sql(sql, **kw) if d.code == code]  # type: ignore[arg-type]
    assert not found, f"{code} fired on:\n{sql!r}\n" + "\n".join(d.message for d in found)


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err


@pytest.fixture(autouse=True)
def user_data_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own user data directory ($XDG_DATA_HOME), where backups go by default: no test writes
    into the real ~/.local/share (and none is inside the test's project, as the real one is not)."""
    folder = tmp_path_factory.mktemp("xdg-data")
    monkeypatch.setenv("XDG_DATA_HOME", str(folder))
    return folder


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Call `sqlguard.cli.main(argv)` in-process; optional `stdin` bytes."""
    from sqlguard.cli import main

    def run(*argv: str, stdin: bytes | None = None, cwd: Path | None = None) -> CliResult:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = main(list(argv))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


# Live tests: a real PostgreSQL server (tests/pgserver.py), one fresh database per test.

REQUIRE_LIVE = "SQLGUARD_REQUIRE_LIVE"


def _live_unavailable(reason: str) -> None:
    """Skip, unless the run promised live tests (CI sets SQLGUARD_REQUIRE_LIVE=1): then fail."""
    if os.environ.get(REQUIRE_LIVE) == "1":
        pytest.fail(f"{reason} (and {REQUIRE_LIVE}=1 forbids skipping live tests)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL server: SQLGUARD_TEST_DSN's, or a throwaway one started here (and stopped).

    `.dsn` is a superuser's postgresql:// URL; `.url(dbname=…)` the same server with other parameters.
    """
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _live_unavailable("live tests need psycopg: pip install -e '.[live]'")
    external = os.environ.get("SQLGUARD_TEST_DSN")
    if external:
        yield PgServer(dsn=pgserver.to_url(external), password_role=None, startup_seconds=0.0)
        return
    bindir = pgserver.find_bindir()
    if bindir is None:
        _live_unavailable("no PostgreSQL server: set SQLGUARD_TEST_DSN, or install PostgreSQL "
                          "(initdb not on PATH nor in /usr/lib/postgresql/*/bin)")
    assert bindir is not None
    server = pgserver.ThrowawayServer(bindir)
    with pytest.MonkeyPatch.context() as mp:
        # The caller's PGHOST, PGSSLMODE, PGPASSWORD… would change what the tests' DSNs mean.
        for key in [k for k in os.environ if k.startswith("PG")]:
            mp.delenv(key)
        try:
            try:
                info = server.start()
            except pgserver.ServerStartError as err:
                pytest.fail(f"could not start a throwaway PostgreSQL server: {err}", pytrace=False)
            yield info
        finally:
            server.stop()


def create_database(server: PgServer | str) -> str:
    """Create a brand-new empty database on the server (`pg_server` or its DSN); return its postgresql:// URL."""
    import psycopg
    from psycopg import sql

    server_dsn = server.dsn if isinstance(server, PgServer) else server
    name = f"sqlguard_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return pgserver.to_url(server_dsn, dbname=name)


def drop_database(server: PgServer | str, database: str) -> None:
    """Drop a database (its URL, or its name), even with sessions still open on it."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    server_dsn = server.dsn if isinstance(server, PgServer) else server
    name = str(conninfo_to_dict(database)["dbname"]) if "://" in database or "=" in database else database
    with psycopg.connect(server_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def fresh_db(pg_server: PgServer) -> Iterator[str]:
    """The postgresql:// URL of a brand-new empty database, dropped after the test."""
    url = create_database(pg_server)
    try:
        yield url
    finally:
        drop_database(pg_server, url)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                               ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """With SQLGUARD_REQUIRE_LIVE=1, a skipped `live` test is a failure, whatever skipped it."""
    report: pytest.TestReport = yield
    if (report.skipped and not hasattr(report, "wasxfail") and item.get_closest_marker("live") is not None
            and os.environ.get(REQUIRE_LIVE) == "1"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"live test skipped although {REQUIRE_LIVE}=1: {reason}"
    return report
