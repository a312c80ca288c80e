"""Open a connection to a configured environment (or a DSN) and speak of it without leaking secrets.

Credentials never live in the config: an environment names a variable holding the DSN (`dsn-env`),
or libpq parameters without a password (`service`, `host`, `port`, `dbname`, `user`), and libpq
itself finds the password in the DSN, PGPASSWORD, ~/.pgpass or pg_service.conf. Every failure a
user can cause becomes a `SqlguardError` with one line: what failed, at which `host:port/dbname`,
and what to check. Messages go through `redact` because libpq and psycopg may quote a DSN.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlguard.config import Environment, Settings
from sqlguard.diagnostic import SqlguardError

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql
    from psycopg.rows import TupleRow

DEFAULT_CONNECT_TIMEOUT = 10
# psycopg enforces this floor on connect_timeout (as libpq does): a smaller value waits this long.
MIN_CONNECT_TIMEOUT = 2

# scheme://user:PASSWORD@host — up to the last `@` before a `/` or a blank, so that a password holding a
# raw `@` is hidden whole (libpq stops at the first `@`; hiding more than needed is harmless).
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/?#@]*:)[^\s/]*@")
# password=…, sslpassword=…, PGPASSWORD=…, oauth_client_secret=… in key/value conninfo, URL queries
# and environment dumps: a quoted value whole, else up to the next blank (a conninfo value may hold
# `&`, so stopping there could leave half a password behind).
_KV_SECRET = re.compile(r"(?i)((?:password|secret|scram_client_key|scram_server_key)\s*=\s*)"
                        r"(?:'(?:\\.|[^'\\])*'?|\"[^\"]*\"?|(?:\\.|[^\s\\])*)")
_QUOTED = re.compile(r'"([^"]*)"')


def redact(dsn_or_message: str) -> str:
    """`dsn_or_message` with every password replaced by `***` (URLs, key/value conninfo, messages, and a
    statement's `PASSWORD '…'` or `CONNECTION '…'`)."""
    from sqlguard.sql.text import hide_secrets

    text = _URL_PASSWORD.sub(r"\1***@", hide_secrets(dsn_or_message))
    return _KV_SECRET.sub(r"\1***", text)


def environment(settings: Settings, name: str) -> Environment:
    """The configured environment called `name`."""
    if not settings.environments:
        raise SqlguardError("no environments configured: add [tool.sqlguard.environments.NAME] to pyproject.toml "
                            "(or `environments:` to sqlguard.yaml) with `dsn-env` (an environment variable "
                            "holding the DSN) or `service` (a libpq service name)")
    for env in settings.environments:
        if env.name == name:
            return env
    names = ", ".join(env.name for env in settings.environments)
    raise SqlguardError(f"unknown environment `{name}` (configured: {names})")


def dsn_for(env: Environment) -> str:
    """The DSN of `env`: the value of its variable `dsn_env`, else libpq parameters from the config.

    Keys set next to `dsn-env` (host, port, dbname, user, service) override the variable's.
    """
    _require_psycopg()
    params: dict[str, str | int] = {k: v for k, v in (("service", env.service), ("host", env.host),
                                                      ("port", env.port), ("dbname", env.dbname),
                                                      ("user", env.user)) if v is not None}
    if env.dsn_env:
        value = os.environ.get(env.dsn_env, "")
        if not value.strip():
            state = "is empty" if env.dsn_env in os.environ else "is not set"
            raise SqlguardError(f"environment `{env.name}`: the variable `{env.dsn_env}` {state}: set it to the "
                                "database's DSN, e.g. postgresql://USER@HOST:5432/DBNAME")
        return _make(value, params, f"the variable `{env.dsn_env}` does not hold a valid DSN")
    return _make("", params, f"environment `{env.name}` does not make a valid DSN")


def dsn_params(dsn: str) -> dict[str, str]:
    """The parameters of a DSN (URL or key/value); a one-line `SqlguardError` when libpq cannot read it."""
    _require_psycopg()
    return _parse(dsn, "invalid DSN")


def target_of(env: Environment) -> str:
    """`host:port/dbname` of an environment, never its password: how every message names it."""
    return describe(dsn_params(dsn_for(env)))


def connect(env: Environment | str, *, application_name: str = "sqlguard", read_only: bool = False,
            connect_timeout: int | None = None) -> psycopg.Connection[TupleRow]:
    """A psycopg connection (autocommit off) to a configured environment or to a DSN.

    `connect_timeout` (seconds) defaults to the environment's, else the DSN's, else 10. With
    `read_only=True` every transaction of the session is read-only (`default_transaction_read_only`).
    """
    _require_psycopg()
    import psycopg

    dsn = dsn_for(env) if isinstance(env, Environment) else env
    params = _parse(dsn, "invalid DSN")
    if isinstance(env, Environment):
        label: str | None = f"environment `{env.name}`"
        timeout = connect_timeout or env.connect_timeout
    else:
        label = None
        raw = params.get("connect_timeout", "").strip()
        timeout = connect_timeout or (int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_CONNECT_TIMEOUT)
    where = describe(params)
    target = f"{label} ({where})" if label else where
    try:
        conn = psycopg.Connection.connect(dsn, autocommit=False, application_name=application_name,
                                          connect_timeout=timeout)
    except psycopg.Error as err:
        raise SqlguardError(redact(f"cannot connect to {target}: {_connect_reason(err, params, timeout)}")) from None
    if read_only:
        try:
            conn.execute("SET default_transaction_read_only = on")
            conn.commit()  # a SET inside a transaction that is rolled back would be undone
        except psycopg.Error as err:
            conn.close()
            raise SqlguardError(redact(f"{target}: cannot make the session read-only: {_first_line(err)}")) from None
    return conn


def run_query(conn: psycopg.Connection[TupleRow], query: str | bytes | sql.SQL | sql.Composed,
              params: Sequence[Any] | Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement and return its rows ([] when it returns none).

    What the server refuses (no privilege, read-only session, timeout, lost connection) becomes a
    `SqlguardError`, and the failed transaction is rolled back so the connection stays usable. A
    mistake of the caller's own (wrong number of parameters…) still raises psycopg's error.
    """
    import psycopg

    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description is not None else []
    except psycopg.Error as err:
        if err.sqlstate is None and not isinstance(err, psycopg.OperationalError):
            raise  # raised by psycopg before reaching the server: a bug of the caller, not of the user
        where = _connection_target(conn)
        if not conn.closed:
            with contextlib.suppress(psycopg.Error):  # the connection is gone; the error below says why
                conn.rollback()
        raise SqlguardError(redact(f"{where}: {_query_reason(err, conn)}")) from None


def describe(params: Mapping[str, str]) -> str:
    """`host:port/dbname` of a parsed DSN, with libpq's defaults (PGHOST…) filled in; never a password."""
    host = params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST", "")
    service = params.get("service") or os.environ.get("PGSERVICE", "")
    if not host and service:
        host = f"service `{service}`"
    port = params.get("port") or os.environ.get("PGPORT") or "5432"
    user = params.get("user") or os.environ.get("PGUSER") or _os_user()
    dbname = params.get("dbname") or os.environ.get("PGDATABASE") or user
    if not host:
        host = "local socket"
    return f"{host}:{port}/{dbname}"


def _connection_target(conn: psycopg.Connection[TupleRow]) -> str:
    try:
        info = conn.info
        return f"{info.host}:{info.port}/{info.dbname}"
    except Exception:  # a closed connection may not tell; the message still stands
        return "the database"


def _connect_reason(err: Exception, params: Mapping[str, str], timeout: int) -> str:
    import psycopg

    text = str(err)
    user = params.get("user") or os.environ.get("PGUSER") or _os_user()
    dbname = params.get("dbname") or os.environ.get("PGDATABASE") or user
    if isinstance(err, psycopg.errors.ConnectionTimeout) or "timeout expired" in text:
        return (f"connection timed out: no answer within {max(timeout, MIN_CONNECT_TIMEOUT)} s; is the server up "
                "and the host and port right? (`connect-timeout` sets the wait)")
    if m := re.search(r'password authentication failed for user "([^"]*)"', text):
        return (f"authentication failed for user `{m.group(1)}` (wrong password?): check the password in the DSN, "
                "PGPASSWORD or ~/.pgpass")
    if "no password supplied" in text:
        return (f"the server wants a password for user `{user}` and none was given: put it in ~/.pgpass "
                "or PGPASSWORD")
    if m := re.search(r"(\w+) authentication failed for user \"([^\"]*)\"", text):
        return f"{m.group(1)} authentication failed for user `{m.group(2)}`"
    if m := re.search(r'database "([^"]*)" does not exist', text):
        return f"database `{m.group(1)}` does not exist"
    if m := re.search(r'role "([^"]*)" does not exist', text):
        return f"role `{m.group(1)}` does not exist"
    if m := re.search(r'permission denied for database "([^"]*)"', text):
        return f"permission denied: user `{user}` may not connect to database `{m.group(1)}` (no CONNECT privilege)"
    if "no pg_hba.conf entry" in text:
        return (f"the server's pg_hba.conf lets no connection in for user `{user}` to database `{dbname}` "
                "from this host (or without SSL)")
    if "Connection refused" in text:
        return "connection refused: is PostgreSQL running and listening on that host and port?"
    if m := re.search(r'on socket "([^"]*)" failed: No such file or directory', text):
        return f"no server on the socket {m.group(1)}: is PostgreSQL running locally?"
    if m := re.search(r"failed to resolve host '([^']*)'|could not translate host name \"([^\"]*)\"", text):
        return f"unknown host `{m.group(1) or m.group(2)}`"
    if "too many clients" in text or "remaining connection slots" in text:
        return "the server has no free connection slot (max_connections reached)"
    if "for connection option" in text or "connection info string" in text or "URI" in text:
        return f"invalid DSN: {_scrub(_first_line(err))}"
    return _first_line(err)


def _query_reason(err: Exception, conn: psycopg.Connection[TupleRow]) -> str:
    import psycopg

    errors = psycopg.errors
    primary = getattr(getattr(err, "diag", None), "message_primary", None) or _first_line(err)
    if isinstance(err, errors.InsufficientPrivilege):
        user = _safe(lambda: conn.info.user)
        return f"{primary} (connected as `{user}`): grant that role access, or connect as one that has it"
    if isinstance(err, errors.ReadOnlySqlTransaction):
        return f"{primary}: the session is read-only"
    if isinstance(err, errors.QueryCanceled):
        return f"query cancelled: {primary}"
    if isinstance(err, errors.LockNotAvailable):
        return f"could not take a lock in time: {primary}"
    if isinstance(err, psycopg.OperationalError) and (conn.closed or err.sqlstate is None
                                                       or err.sqlstate.startswith(("08", "57P"))):
        return f"lost the connection to the server: {primary}"
    return f"query failed: {primary}"


def database_error(err: Exception) -> str:
    """One line for a driver error no caller turned into a `SqlguardError` (a server shut down under a
    waiting run, say), with any password redacted."""
    import psycopg

    primary = getattr(getattr(err, "diag", None), "message_primary", None) or _first_line(err)
    lost = isinstance(err, psycopg.OperationalError) and (getattr(err, "sqlstate", None) or "08").startswith(
        ("08", "57P"))
    return redact(f"{'lost the connection to the server' if lost else 'the database refused'}: {primary}")


def _first_line(err: Exception) -> str:
    """libpq's message without its preamble (`connection failed: connection to server at …`) or `FATAL:`."""
    text = str(err).strip()
    line = text.splitlines()[0] if text else type(err).__name__
    line = re.sub(r"^connection (?:failed|is bad): (?:connection to server (?:at|on socket) .*? failed: )?", "", line)
    return re.sub(r"^(?:FATAL|ERROR):\s+", "", line).strip() or type(err).__name__


def _scrub(message: str) -> str:
    """A libpq parse error quotes a fragment of the DSN, which may be a piece of a password: keep only the
    fragments that are option names (`"port"`) or punctuation (`"="`), replace the others by `…`."""
    from psycopg import pq

    if message.startswith("invalid URI query parameter:"):
        return message  # quotes the name of a parameter (a typo), never a value

    keywords = {opt.keyword.decode() for opt in pq.Conninfo.get_defaults()}

    def keep(m: re.Match[str]) -> str:
        fragment = m.group(1)
        return m.group(0) if fragment in keywords or re.fullmatch(r"[^\w\s]{1,2}", fragment) else '"…"'

    return _QUOTED.sub(keep, message)


def _parse(dsn: str, what: str) -> dict[str, str]:
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    except ProgrammingError as err:
        raise SqlguardError(redact(f"{what}: {_scrub(_first_line(err))}")) from None
    if "@" in params.get("host", ""):
        # postgresql://app:pa@ss@host/db: libpq ends the password at the first `@` and takes the rest of it
        # for the host name, which every message would then show
        raise SqlguardError(f"{what}: its user or password holds a raw `@`, which ends it early (libpq reads "
                            "the rest as the host name): write `@` as `%40` in a URL")
    return params


def _make(dsn: str, params: Mapping[str, str | int], what: str) -> str:
    from psycopg import ProgrammingError
    from psycopg.conninfo import make_conninfo

    try:
        return make_conninfo(dsn, **params)
    except ProgrammingError as err:
        raise SqlguardError(redact(f"{what}: {_scrub(_first_line(err))}")) from None


def _require_psycopg() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise SqlguardError("live mode needs psycopg: pip install 'sqlguard[live]'") from None


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "?"


def _safe(get: Any) -> str:
    try:
        return str(get())
    except Exception:  # only decorates a message
        return "?"
