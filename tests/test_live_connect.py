"""Connecting in live mode, against a real PostgreSQL server (no mocks): each failure a user can cause is
one line naming the target, and no message ever holds a password.

Each test takes its own fresh database (`fresh_db` in conftest.py); the server is tests/pgserver.py's.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote

import psycopg
import pytest
from pgserver import PgServer, free_port, silent_listener, to_url
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from sqlguard.config import Environment, Settings, load_settings
from sqlguard.diagnostic import SqlguardError
from sqlguard.live.connect import connect, dsn_for, environment, redact, run_query

pytestmark = pytest.mark.live

WRONG_PASSWORD = "hunter2-Wr0ng!pw"


def _error(target: Environment | str, **kw: object) -> SqlguardError:
    with pytest.raises(SqlguardError) as info:
        connect(target, **kw).close()  # type: ignore[arg-type]
    return info.value


def _assert_one_line_without(err: SqlguardError, *secrets: str) -> str:
    text = str(err)
    assert "\n" not in text and "Traceback" not in text
    for secret in secrets:
        assert secret not in text
    return text


def _params(dsn: str) -> dict[str, str]:
    return {k: str(v) for k, v in conninfo_to_dict(dsn).items()}


@pytest.fixture
def role_without_privileges(pg_server: PgServer) -> Iterator[str]:
    name = f"sqlguard_np_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(pg_server.dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def test_connects_with_the_dsn_from_the_variable_the_config_names(
        fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sqlguard.yaml").write_text("environments:\n  dev:\n    dsn-env: SQLGUARD_TEST_DEV_DSN\n",
                                            encoding="utf-8")
    monkeypatch.setenv("SQLGUARD_TEST_DEV_DSN", fresh_db)
    settings = load_settings(None, [tmp_path])
    env = environment(settings, "dev")
    assert env.dsn_env == "SQLGUARD_TEST_DEV_DSN"
    with connect(env) as conn:
        assert conn.autocommit is False
        rows = run_query(conn, "SELECT current_database(), current_setting('application_name'), "
                               "current_setting('default_transaction_read_only')")
    assert rows == [(_params(fresh_db)["dbname"], "sqlguard", "off")]


def test_connects_with_libpq_parameters_from_the_config(fresh_db: str) -> None:
    p = _params(fresh_db)
    env = Environment("dev", host=p["host"], port=int(p["port"]), dbname=p["dbname"], user=p.get("user"))
    with connect(env, application_name="sqlguard-test") as conn:
        assert run_query(conn, "SELECT current_database(), current_setting('application_name')") == [
            (p["dbname"], "sqlguard-test")]


def test_read_only_session_refuses_writes(fresh_db: str) -> None:
    with connect(fresh_db, read_only=True) as conn:
        with pytest.raises(SqlguardError) as info:
            run_query(conn, "CREATE TABLE t (id int)")
        assert "read-only" in str(info.value)
        # the failed transaction was rolled back: the connection is still usable
        assert run_query(conn, "SELECT 1") == [(1,)]


def test_unknown_environment_names_the_configured_ones() -> None:
    settings = Settings(environments=(Environment("dev", dsn_env="A"), Environment("test", dsn_env="B")))
    with pytest.raises(SqlguardError, match=r"^unknown environment `prod` \(configured: dev, test\)$"):
        environment(settings, "prod")
    with pytest.raises(SqlguardError, match=r"^no environments configured: add \[tool\.sqlguard\.environments\.NAME\]"):
        environment(Settings(), "dev")


@pytest.mark.parametrize("value", [None, "", "  "])
def test_unset_or_empty_variable_is_named(value: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if value is None:
        monkeypatch.delenv("SQLGUARD_TEST_NO_SUCH_DSN", raising=False)
    else:
        monkeypatch.setenv("SQLGUARD_TEST_NO_SUCH_DSN", value)
    env = Environment("staging", dsn_env="SQLGUARD_TEST_NO_SUCH_DSN")
    with pytest.raises(SqlguardError) as info:
        dsn_for(env)
    state = "is not set" if value is None else "is empty"
    assert str(info.value).startswith(f"environment `staging`: the variable `SQLGUARD_TEST_NO_SUCH_DSN` {state}")
    assert str(_error(env)) == str(info.value)


def test_unparsable_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLGUARD_TEST_BAD_DSN", f"host=localhost password=two {WRONG_PASSWORD}")
    env = Environment("dev", dsn_env="SQLGUARD_TEST_BAD_DSN")
    text = _assert_one_line_without(_error(env), WRONG_PASSWORD, "two", "Wr0ng")
    assert text.startswith("the variable `SQLGUARD_TEST_BAD_DSN` does not hold a valid DSN: missing \"=\" after")
    text = _assert_one_line_without(_error(f"postgresql://u:{WRONG_PASSWORD}@127.0.0.1:notaport/db"), WRONG_PASSWORD)
    assert "invalid" in text and '"port"' in text


def test_a_raw_at_sign_in_the_password_shows_no_part_of_it(fresh_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`postgresql://app:hunter@2secret@host/db`: libpq takes `2secret@host` for the host, which the message
    named; now the DSN is refused before anything connects, naming neither."""
    params = _params(fresh_db)
    monkeypatch.setenv("SQLGUARD_TEST_AT_DSN", f"postgresql://postgres:hunter@2secret@{params['host']}:"
                                               f"{params['port']}/{params['dbname']}")
    env = Environment("dev", dsn_env="SQLGUARD_TEST_AT_DSN", connect_timeout=2)
    text = _assert_one_line_without(_error(env), "hunter", "2secret")
    assert "raw `@`" in text and "%40" in text
    monkeypatch.setenv("SQLGUARD_TEST_AT_DSN", to_password(fresh_db, "hunter@2secret"))  # percent-encoded: fine
    connect(env).close()


def test_server_down(fresh_db: str) -> None:
    port = free_port()
    dsn = f"postgresql://postgres:{WRONG_PASSWORD}@127.0.0.1:{port}/{_params(fresh_db)['dbname']}"
    text = _assert_one_line_without(_error(dsn), WRONG_PASSWORD)
    assert text == (f"cannot connect to 127.0.0.1:{port}/{_params(fresh_db)['dbname']}: connection refused: "
                    "is PostgreSQL running and listening on that host and port?")


@pytest.fixture
def password_role(pg_server: PgServer) -> Iterator[tuple[str, str]]:
    """(role, password) of a role that must give its password: the throwaway server's, else one made here."""
    if pg_server.password_role is not None:
        yield pg_server.password_role
        return
    role, password = f"sqlguard_pw_{uuid.uuid4().hex[:8]}", "s3cret-test"
    with psycopg.connect(pg_server.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
    try:
        yield role, password
    finally:
        with psycopg.connect(pg_server.dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_wrong_password(password_role: tuple[str, str], fresh_db: str) -> None:
    role, password = password_role
    dbname = _params(fresh_db)["dbname"]
    # the right password works…
    with connect(to_role(fresh_db, role, password)) as conn:
        assert run_query(conn, "SELECT current_user") == [(role,)]
    with contextlib.suppress(SqlguardError), connect(to_role(fresh_db, role, WRONG_PASSWORD)):
        pytest.skip("SQLGUARD_TEST_DSN's server lets this role in without checking its password (trust)")
    # …a wrong one is one line, without it
    text = _assert_one_line_without(_error(to_role(fresh_db, role, WRONG_PASSWORD)), WRONG_PASSWORD, password)
    port = _params(fresh_db)["port"]
    assert text.startswith(f"cannot connect to 127.0.0.1:{port}/{dbname}: authentication failed for user "
                           f"`{role}` (wrong password?)")
    # in key/value form too, and with none at all
    kv = f"host=127.0.0.1 port={port} dbname={dbname} user={role} password='{WRONG_PASSWORD} x'"
    _assert_one_line_without(_error(kv), WRONG_PASSWORD)
    text = str(_error(to_role(fresh_db, role, "")))
    assert f"the server wants a password for user `{role}`" in text


def test_missing_database(fresh_db: str) -> None:
    missing = f"{_params(fresh_db)['dbname']}_missing"
    text = _assert_one_line_without(_error(to_db(fresh_db, missing)))
    assert text.endswith(f"/{missing}: database `{missing}` does not exist")


def test_permission_denied_on_a_table(fresh_db: str, role_without_privileges: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as owner:
        owner.execute("CREATE TABLE secrets (id int)")
    with connect(to_role(fresh_db, role_without_privileges, "")) as conn:
        with pytest.raises(SqlguardError) as info:
            run_query(conn, "SELECT * FROM secrets")
        text = _assert_one_line_without(info.value)
        assert text == (f"127.0.0.1:{_params(fresh_db)['port']}/{_params(fresh_db)['dbname']}: permission denied "
                        f"for table secrets (connected as `{role_without_privileges}`): grant that role access, "
                        "or connect as one that has it")
        assert run_query(conn, "SELECT 1") == [(1,)]  # rolled back, still usable


def test_permission_denied_on_the_database(pg_server: PgServer, fresh_db: str, role_without_privileges: str) -> None:
    dbname = _params(fresh_db)["dbname"]
    with psycopg.connect(pg_server.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(dbname)))
    text = _assert_one_line_without(_error(to_role(fresh_db, role_without_privileges, "")))
    assert text.endswith(f"permission denied: user `{role_without_privileges}` may not connect to database "
                         f"`{dbname}` (no CONNECT privilege)")


def test_timeout_when_the_server_never_answers(fresh_db: str) -> None:
    with silent_listener() as port:
        env = Environment("hung", dsn_env="SQLGUARD_TEST_HUNG_DSN", connect_timeout=1)
        dsn = f"postgresql://postgres:{WRONG_PASSWORD}@127.0.0.1:{port}/{_params(fresh_db)['dbname']}"
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SQLGUARD_TEST_HUNG_DSN", dsn)
            began = time.monotonic()
            text = _assert_one_line_without(_error(env), WRONG_PASSWORD)
        assert time.monotonic() - began < 10
    assert text.startswith(f"cannot connect to environment `hung` (127.0.0.1:{port}/")
    assert "connection timed out: no answer within 2 s" in text  # psycopg waits at least 2 s


def test_connect_with_an_unknown_host_and_a_socket_that_is_not_there(fresh_db: str) -> None:
    text = _assert_one_line_without(_error(f"postgresql://u:{WRONG_PASSWORD}@no-such-host.invalid/db"), WRONG_PASSWORD)
    assert text.endswith("unknown host `no-such-host.invalid`")
    text = _assert_one_line_without(_error(f"host=/nonexistent-dir port=5 dbname=x password={WRONG_PASSWORD}"),
                                    WRONG_PASSWORD)
    assert "no server on the socket /nonexistent-dir/.s.PGSQL.5" in text


def test_a_password_in_the_variable_is_never_shown(fresh_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every failure above, with the password in the DSN the environment names."""
    env = Environment("dev", dsn_env="SQLGUARD_TEST_SECRET_DSN", connect_timeout=2)
    dbname = _params(fresh_db)["dbname"]
    for dsn in (to_db(fresh_db, f"{dbname}_missing"), f"postgresql://postgres@127.0.0.1:{free_port()}/{dbname}",
                to_role(fresh_db, "no_such_role_here", "")):
        secret_dsn = to_password(dsn, WRONG_PASSWORD)
        assert WRONG_PASSWORD in unquote(secret_dsn)  # percent-encoded in the URL
        monkeypatch.setenv("SQLGUARD_TEST_SECRET_DSN", secret_dsn)
        _assert_one_line_without(_error(env), WRONG_PASSWORD, "Wr0ng")
        monkeypatch.setenv("SQLGUARD_TEST_SECRET_DSN", _kv(secret_dsn))
        _assert_one_line_without(_error(env), WRONG_PASSWORD, "Wr0ng")


def test_redact() -> None:
    assert redact("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
    assert redact("postgres://:secret@h:5432/db?sslmode=require") == "postgres://:***@h:5432/db?sslmode=require"
    assert redact("postgresql://u:p@ss@h/db") == "postgresql://u:***@h/db"  # a raw @ in the password
    assert redact("postgresql://u@h:5432/db") == "postgresql://u@h:5432/db"  # nothing to hide
    assert redact("host=h password=secret user=u") == "host=h password=*** user=u"
    assert redact("host=h password = 'se cr\\'et' user=u") == "host=h password = *** user=u"
    assert redact("postgresql://h/db?user=u&password=secret") == "postgresql://h/db?user=u&password=***"
    assert redact("PGPASSWORD=secret psql") == "PGPASSWORD=*** psql"
    assert redact("sslpassword=secret") == "sslpassword=***"
    assert redact('could not connect to "postgresql://u:secret@h/db": refused') == \
        'could not connect to "postgresql://u:***@h/db": refused'
    assert redact('password authentication failed for user "u"') == 'password authentication failed for user "u"'


def test_dsn_for_keys_next_to_the_variable_override_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQLGUARD_TEST_BASE_DSN", "postgresql://u:pw@h:5432/app")
    env = Environment("dev", dsn_env="SQLGUARD_TEST_BASE_DSN", dbname="app_test")
    assert _params(dsn_for(env)) == {"user": "u", "password": "pw", "host": "h", "port": "5432", "dbname": "app_test"}
    assert dsn_for(replace(env, dbname=None)) == "postgresql://u:pw@h:5432/app"
    assert _params(dsn_for(Environment("svc", service="billing", user="ro"))) == {"service": "billing", "user": "ro"}


def to_db(dsn: str, dbname: str) -> str:
    return to_url(dsn, dbname=dbname)


def to_role(dsn: str, role: str, password: str) -> str:
    """`dsn` as `role`, with `password` ("" for none)."""
    return to_url(dsn, user=role, password=password)


def to_password(dsn: str, password: str) -> str:
    return to_url(dsn, password=password)


def _kv(dsn: str) -> str:
    return " ".join(f"{k}='{v}'" for k, v in _params(dsn).items())
