"""A throwaway PostgreSQL server for the live tests, and the small network helpers they need.

`SQLGUARD_TEST_DSN` names an existing server (a superuser or a role with CREATEDB and CREATEROLE) and
wins when set. Otherwise `ThrowawayServer` runs `initdb` into a temporary directory and starts a server
on a free port of 127.0.0.1 with its socket in that directory: durability off (the data dies with the
session), `trust` for everyone except the role `sqlguard_pw`, which must give its password
(`scram-sha-256`) so that a wrong password can be tested. PostgreSQL refuses to run as root, so as root
the server runs as `postgres` (the Debian package's user), or as a system user `sqlguard-pg` created
for the purpose when that is missing.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

PASSWORD_ROLE = "sqlguard_pw"
PASSWORD = "s3cret-test"
SUPERUSER = "postgres"
FALLBACK_OS_USER = "sqlguard-pg"


@dataclass(frozen=True)
class PgServer:
    """A server the live tests may create databases and roles on."""

    dsn: str  # a postgresql:// URL of a superuser (or CREATEDB + CREATEROLE) connection
    # (role, password) of a role that must authenticate with its password; None when pg_hba.conf is
    # not ours to set (an external server from SQLGUARD_TEST_DSN)
    password_role: tuple[str, str] | None
    startup_seconds: float  # 0.0 for an external server

    def url(self, **changes: str | int) -> str:
        """This server's URL with some parameters changed, e.g. `url(dbname="x", user="y")`."""
        return to_url(self.dsn, **changes)


def find_bindir() -> Path | None:
    """Where `initdb` and `pg_ctl` are: PATH first, then Debian's /usr/lib/postgresql/<major>/bin (newest)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    candidates.sort(key=lambda p: int(re.sub(r"\D", "", Path(p).parent.parent.name) or 0), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on (at the time of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A port of 127.0.0.1 that accepts TCP connections and never says a word: a hung server.

    Nobody calls accept(): the kernel completes the handshake from the backlog and buffers what the
    client sends, so the client waits for an answer until its own timeout.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield int(s.getsockname()[1])


def to_url(dsn: str, **changes: str | int) -> str:
    """Any DSN (URL or key=value) as a postgresql:// URL, with some parameters changed."""
    from psycopg.conninfo import conninfo_to_dict

    params = {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    params.update({k: str(v) for k, v in changes.items()})
    host = params.pop("host", "")
    port = params.pop("port", "")
    user = params.pop("user", "")
    password = params.pop("password", "")
    dbname = params.pop("dbname", "")
    query: list[str] = []
    if host.startswith("/") or "," in host:
        query.append(f"host={quote(host, safe='')}")  # a socket directory or a host list: not URL syntax
        host = ""
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    netloc = (auth + "@" if auth else "") + (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    query.extend(f"{k}={quote(v, safe='')}" for k, v in params.items())
    return f"postgresql://{netloc}/{quote(dbname, safe='')}" + ("?" + "&".join(query) if query else "")


class ServerStartError(RuntimeError):
    pass


class ThrowawayServer:
    """initdb + pg_ctl start on a free port; `stop()` (idempotent) stops it and removes its directory."""

    def __init__(self, bindir: Path, port: int | None = None) -> None:
        self.bindir = bindir
        self.dir: Path | None = None
        self.wanted_port = port  # tried first; a free port when it is taken
        self.port = 0
        self._started = False
        self._owner: pwd.struct_passwd | None = None

    @property
    def data(self) -> Path:
        assert self.dir is not None
        return self.dir / "data"

    @property
    def log(self) -> Path:
        assert self.dir is not None
        return self.dir / "server.log"

    def start(self) -> PgServer:
        began = time.monotonic()
        self._owner = _unprivileged_user() if os.geteuid() == 0 else None
        # Directly under /tmp, not pytest's tmp_path: that one is private to root, and the server's
        # user must be able to reach its data and socket directories.
        self.dir = Path(tempfile.mkdtemp(prefix="sqlguard-pg-"))
        atexit.register(self.stop)  # a safety net when the session dies before fixture teardown
        (self.dir / "sock").mkdir()
        if self._owner is not None:
            for p in (self.dir, self.dir / "sock"):
                os.chown(p, self._owner.pw_uid, self._owner.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
                  "--locale=C", "--no-sync")
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            # Durability off: a test server's data dies with it, and start-up and CREATE DATABASE get fast.
            conf.write("\n# sqlguard test server\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                       f"listen_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir / 'sock'}'\n"
                       "max_connections = 50\nshared_buffers = 16MB\n")
        (self.data / "pg_hba.conf").write_text(
            "# sqlguard test server: trust, except the role that tests a wrong password\n"
            "local all all trust\n"
            f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
            "host all all 127.0.0.1/32 trust\n", encoding="utf-8")
        for attempt in range(3):  # another process may take the free port between asking and binding
            self.port = self.wanted_port if attempt == 0 and self.wanted_port and _port_free(self.wanted_port) \
                else free_port()
            try:
                self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log),
                          "-o", f"-p {self.port}")
                break
            except ServerStartError:
                if attempt == 2 or "already in use" not in self._log_tail():
                    raise
        self._started = True
        dsn = f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"
        _create_password_role(dsn)
        return PgServer(dsn=dsn, password_role=(PASSWORD_ROLE, PASSWORD), startup_seconds=time.monotonic() - began)

    def stop(self) -> None:
        if self.dir is None:
            return
        try:
            if self._started:
                with contextlib.suppress(ServerStartError):
                    self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))
                self._started = False
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def _run(self, tool: str, *args: str) -> None:
        owner = self._owner
        try:
            subprocess.run(
                [str(self.bindir / tool), *args], cwd=self.dir, check=True, text=True,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
                user=owner.pw_uid if owner else None, group=owner.pw_gid if owner else None,
                extra_groups=[] if owner else None, env=_clean_env(owner))
        except subprocess.CalledProcessError as err:
            raise ServerStartError(f"`{tool} {' '.join(args)}` failed (exit {err.returncode}):\n{err.stdout}"
                                   f"{self._log_tail()}") from None
        except subprocess.TimeoutExpired:
            raise ServerStartError(f"`{tool} {' '.join(args)}` did not finish in 120 s{self._log_tail()}") from None

    def _log_tail(self) -> str:
        try:
            lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return "\nserver log (last lines):\n" + "\n".join(lines[-20:])


def _unprivileged_user() -> pwd.struct_passwd:
    """The OS user the server runs as when we are root."""
    for name in ("postgres", FALLBACK_OS_USER):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    try:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        FALLBACK_OS_USER], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as err:
        raise ServerStartError(f"running as root, no `postgres` user, and `useradd {FALLBACK_OS_USER}` "
                               f"failed: {getattr(err, 'stderr', '') or err}") from None
    return pwd.getpwnam(FALLBACK_OS_USER)


def _clean_env(owner: pwd.struct_passwd | None) -> dict[str, str]:
    """The tools' environment: no PG* variables of the caller, a HOME the server's user can read."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    if owner is not None:
        env.update(HOME=owner.pw_dir, USER=owner.pw_name, LOGNAME=owner.pw_name)
    return env


def _create_password_role(dsn: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(PASSWORD_ROLE), sql.Literal(PASSWORD)))
