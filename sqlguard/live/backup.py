"""Backups for `sqlguard apply`, `rollback` and `restore`: `pg_dump` before a change, `pg_restore` to undo it.

A backup is a custom-format dump at `<root>/backups/YYYYMMDD/<env>_<db>_HHMMSS.dump`, created by sqlguard
with mode 0600 before pg_dump writes its first byte (pg_dump writes to our file descriptor on its stdout,
so the mode never depends on the umask), in directories of mode 0700. A dump counts as a backup only
once pg_dump has exited 0 and `pg_restore --list` has read its table of contents back; any other
outcome (a tool missing, a refused connection, a failed verification, Ctrl-C) removes the file and
raises a one-line `SqlguardError`. So a file under backups/ is always a verified backup.

A restore makes the database exactly what the backup holds, or leaves it untouched: psql runs, in
one transaction, a preamble that empties every non-system schema, then the script `pg_restore
--file=-` writes from the backup, and COMMIT only once pg_restore exited 0 (so `psql` is needed too).

Credentials never reach a command line, where `ps` shows them to every user of the machine: the
connection goes to pg_dump, pg_restore and psql as libpq environment variables (PGHOST,
PGPASSWORD…) of the child alone.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlguard.config import Environment, Settings
from sqlguard.diagnostic import SqlguardError
from sqlguard.live.connect import DEFAULT_CONNECT_TIMEOUT, describe, dsn_params, redact

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
# Keywords libpq reads from no environment variable that only tune a live connection: without them the
# dump still reaches the same database as the same user, so they are left out rather than refused.
_DROPPABLE = frozenset({"fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval",
                        "keepalives_count", "tcp_user_timeout"})
_HEADER = re.compile(r"^;\s+TOC Entries: \d+", re.M)


@dataclass(frozen=True)
class Backup:
    """A verified backup of one database."""

    environment: str  # the environment's name
    database: str  # the database's name
    path: Path  # absolute path of the .dump
    size: int  # bytes
    entries: int  # objects `pg_restore --list` lists (0 for a database without any)
    seconds: float  # wall time of pg_dump and the verification


def pg_tool(name: str) -> str:
    """The absolute path of the PostgreSQL client program `name` (pg_dump, pg_restore) found on PATH."""
    found = shutil.which(name)
    if found is None:
        raise SqlguardError(f"`{name}` not found on PATH: install the PostgreSQL client (e.g. apt install "
                            "postgresql-client) of the server's major version or newer")
    return os.path.abspath(found)


def backups_folder(settings: Settings) -> Path:
    """Where a project's backups go: `apply.backup-dir`, else `backups/` next to the config."""
    return settings.apply.backup_dir or settings.root / "backups"


def back_up(settings: Settings, env: Environment) -> Backup:
    """`take_backup` of an environment, as apply, rollback and restore take one: into the project's
    backups folder, waiting at most `apply.lock-timeout` for each table's lock."""
    from sqlguard.live.connect import dsn_for

    return take_backup(dsn_for(env), env.name, backups_folder(settings), lock_wait=settings.apply.lock_timeout)


def backup_path(folder: Path, env_name: str, dbname: str, now: datetime) -> Path:
    """Where a backup taken at `now` goes: `folder/YYYYMMDD/<env>_<db>_HHMMSS.dump` (`folder` is the
    backups folder, `<project>/backups` unless `apply.backup-dir` says otherwise).

    Names are reduced to `[A-Za-z0-9_.-]` (anything else becomes `_`). When that file exists, the
    name gets a suffix `_2`, `_3`… : an existing backup is never overwritten.
    """
    folder = folder / now.strftime("%Y%m%d")
    stem = f"{_safe_name(env_name)}_{_safe_name(dbname)}_{now.strftime('%H%M%S')}"
    path = folder / f"{stem}.dump"
    n = 2
    while path.exists():
        path = folder / f"{stem}_{n}.dump"
        n += 1
    return path


def take_backup(dsn: str, env_name: str, folder: Path, *, now: datetime | None = None,
                lock_wait: str | None = None) -> Backup:
    """Dump the database `dsn` names (`pg_dump --format=custom`) to `backup_path(folder, …)` and verify it.

    `now` (default: the local time) names the file. `lock_wait` (a PostgreSQL duration, `5s`): how long
    pg_dump may wait for each table's lock; a table that a session keeps locked longer fails the backup
    instead of stalling it, and everything that queues behind it. The file is 0600 and its directories 0700. Every
    failure raises a one-line `SqlguardError` (what failed, on which `host:port/dbname`, and pg_dump's
    reason) and removes the file: what stays on disk is a backup `pg_restore --list` has read.
    """
    params = dsn_params(dsn)
    env = _child_env(params)
    dbname = _dbname(params)
    where = f"environment `{env_name}` ({describe(params)})"
    pg_dump, pg_restore = pg_tool("pg_dump"), pg_tool("pg_restore")  # before anything is written
    began = time.monotonic()
    path, fd = _create(folder.absolute(), env_name, dbname, now or datetime.now())
    verified = False
    try:
        waits = [f"--lock-wait-timeout={lock_wait}"] if lock_wait else []
        code, _, err = _run([pg_dump, "--format=custom", "--no-password", *waits], env, stdout=fd)
        if code != 0:
            reason = _reason(err)
            if lock_wait and "timeout" in reason:
                reason += (f" (a session held a lock on a table for longer than {lock_wait}, apply.lock-timeout: "
                           "try again once it is done)")
            raise SqlguardError(redact(f"cannot back up {where}: pg_dump failed: {reason}"))
        os.fsync(fd)  # the backup must outlive a crash during the migration that follows
        size = os.fstat(fd).st_size
        entries = _verify(pg_restore, path, env, f"cannot back up {where}: the dump did not verify")
        verified = True
    finally:
        os.close(fd)
        if not verified:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    _sync_dir(path.parent)
    return Backup(environment=env_name, database=dbname, path=path, size=size, entries=entries,
                  seconds=time.monotonic() - began)


@dataclass(frozen=True)
class Archive:
    """What `pg_restore --list` says of a backup file."""

    path: Path  # absolute
    database: str | None  # the database it was dumped from
    created: str | None  # "2024-01-01 12:00:00 UTC"
    entries: int


def read_archive(path: Path) -> Archive:
    """Check that `path` is a backup pg_restore can read; what its table of contents says."""
    path = path.absolute()
    if not path.is_file():
        raise SqlguardError(f"no backup at {path}" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        with path.open("rb"):
            pass
    except OSError as err:
        raise SqlguardError(f"cannot read the backup {path}: {err.strerror or err}") from None
    code, out, stderr = _run([pg_tool("pg_restore"), "--list", str(path)], dict(os.environ))
    if code != 0 or not _HEADER.search(out):
        why = _reason(stderr) if code != 0 else "no table of contents"
        raise SqlguardError(f"{path} is not a backup pg_restore can read: {why}")
    database = re.search(r"^;\s+dbname: (.*)$", out, re.M)
    created = re.search(r"^; Archive created at (.*)$", out, re.M)
    entries = sum(1 for line in out.splitlines() if line.strip() and not line.startswith(";"))
    return Archive(path, database.group(1).strip() if database else None,
                   created.group(1).strip() if created else None, entries)


# Empties the database inside the restore's transaction, evaluated when it runs. A schema the
# restoring role owns (other than `public`) is dropped whole; in `public` and in schemas of other
# owners, the relations, routines and types the role owns are dropped one by one (`public` itself
# stays: a PostgreSQL 15 dump does not create it, and a role that does not own the database may not
# drop it). What an extension created is left to the extension. Objects of other owners stay: the
# role could not drop them, and pg_restore's own DROP … IF EXISTS handles those the backup holds.
_EMPTY_DATABASE = r"""
SET client_min_messages = warning;
SET LOCAL lock_timeout = {lock_timeout};
DO $sqlguard$
DECLARE
  ns record;
  obj record;
BEGIN
  FOR ns IN
    SELECT n.oid, n.nspname, pg_catalog.pg_has_role(n.nspowner, 'USAGE') AS mine
      FROM pg_catalog.pg_namespace n
     WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                        WHERE d.classid = 'pg_catalog.pg_namespace'::regclass AND d.objid = n.oid
                          AND d.deptype = 'e')
  LOOP
    IF ns.mine AND ns.nspname <> 'public' THEN
      EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', ns.nspname);
      CONTINUE;
    END IF;
    FOR obj IN
      SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                            WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind,
             format('%I.%I', ns.nspname, c.relname) AS name
        FROM pg_catalog.pg_class c
       WHERE c.relnamespace = ns.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
         AND pg_catalog.pg_has_role(c.relowner, 'USAGE')
         AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass
                           AND d.objid = c.oid AND d.deptype = 'e')
      UNION ALL
      SELECT CASE p.prokind WHEN 'a' THEN 'AGGREGATE' ELSE 'ROUTINE' END, p.oid::pg_catalog.regprocedure::text
        FROM pg_catalog.pg_proc p
       WHERE p.pronamespace = ns.oid AND pg_catalog.pg_has_role(p.proowner, 'USAGE')
         AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_proc'::regclass
                           AND d.objid = p.oid AND d.deptype = 'e')
      UNION ALL
      SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, format('%I.%I', ns.nspname, t.typname)
        FROM pg_catalog.pg_type t
       WHERE t.typnamespace = ns.oid AND t.typtype IN ('e', 'd', 'r', 'm', 'c')
         AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c')
         AND pg_catalog.pg_has_role(t.typowner, 'USAGE')
         AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_type'::regclass
                           AND d.objid = t.oid AND d.deptype = 'e')
    LOOP
      EXECUTE format('DROP %s IF EXISTS %s CASCADE', obj.kind, obj.name);
    END LOOP;
  END LOOP;
END
$sqlguard$;
"""


def restore_backup(dsn: str, path: Path, lock_timeout: str = "5s") -> None:
    """Make the database `dsn` names exactly what the backup at `path` holds, in one transaction.

    `pg_restore --file=-` writes the backup as a script; psql runs it after emptying the database,
    between a BEGIN sqlguard sends first and a COMMIT it sends only once pg_restore has exited 0: a
    backup that breaks halfway is never half restored. Credentials reach both programs through their
    environment only (as for pg_dump). The file must be a backup `pg_restore --list` reads (else a
    `SqlguardError` naming it, before anything runs). Objects created since the backup are gone after
    it: every schema but the system ones is emptied first.
    """
    params = dsn_params(dsn)
    env = _child_env(params)
    where = describe(params)
    path = read_archive(path).path
    pg_restore, psql = pg_tool("pg_restore"), pg_tool("psql")
    preamble = _EMPTY_DATABASE.replace("{lock_timeout}", _sql_literal(lock_timeout))
    with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_err:
        try:
            consumer = subprocess.Popen([psql, "--no-psqlrc", "--quiet", "--no-password", "--set=ON_ERROR_STOP=1",
                                         "--file=-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=psql_err, env=env)
        except OSError as err:
            raise SqlguardError(f"cannot run `{psql}`: {err.strerror or err}") from None
        try:
            producer = subprocess.Popen([pg_restore, "--clean", "--if-exists", "--no-owner", "--file=-", str(path)],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=restore_err,
                                        env=env)
        except OSError as err:
            _stop(consumer)
            raise SqlguardError(f"cannot run `{pg_restore}`: {err.strerror or err}") from None
        committed = False
        try:
            committed = _pump(producer, consumer, preamble)
        except BaseException:
            _stop(producer)
            _stop(consumer)
            raise
        restore_code, psql_code = producer.wait(), consumer.wait()
        if restore_code != 0:
            raise SqlguardError(redact(f"cannot restore {path}: pg_restore failed, nothing was restored: "
                                       f"{_reason(_text(restore_err))}"))
        if psql_code != 0 or not committed:
            raise SqlguardError(redact(f"cannot restore {path} into {where}: nothing was restored: "
                                       f"{_psql_reason(_text(psql_err))}"))


def _pump(producer: subprocess.Popen[bytes], consumer: subprocess.Popen[bytes], preamble: str) -> bool:
    """Feed psql: BEGIN, the preamble, pg_restore's script, and COMMIT when pg_restore succeeded.
    Whether COMMIT was sent (psql's exit code says whether it, and everything before, succeeded)."""
    feed: IO[bytes] | None = consumer.stdin
    source: IO[bytes] | None = producer.stdout
    assert feed is not None and source is not None
    try:
        feed.write(b"BEGIN;\n" + preamble.encode() + b"\n")
        for chunk in iter(lambda: source.read(1 << 16), b""):
            feed.write(chunk)
        if producer.wait() != 0:
            return False  # psql reaches the end of its input inside the transaction: the server rolls it back
        feed.write(b"\nCOMMIT;\n")
        return True
    except BrokenPipeError:  # psql stopped at an error (ON_ERROR_STOP): its stderr says which
        _stop(producer)
        return False
    finally:
        source.close()
        with contextlib.suppress(BrokenPipeError):
            feed.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        proc.kill()
    proc.wait()


def _text(stream: IO[bytes]) -> str:
    stream.seek(0)
    return stream.read().decode("utf-8", "replace")


def _psql_reason(stderr: str) -> str:
    """psql's first error (without its `psql:<stdin>:12:` prefix) and its detail line."""
    lines = [re.sub(r"^psql:[^:\n]*:\d+:\s*", "", line).strip() for line in stderr.splitlines() if line.strip()]
    first = next((i for i, line in enumerate(lines) if re.match(r"^(?:ERROR|FATAL):|^psql: error:", line)), 0)
    if not lines:
        return "psql stopped without a message"
    return _reason("\n".join(lines[first:]))


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _child_env(params: Mapping[str, str]) -> dict[str, str]:
    """os.environ with the DSN's parameters as libpq variables: libpq in pg_dump reads them as the DSN."""
    from psycopg import pq

    envvars = {opt.keyword.decode(): opt.envvar.decode() if opt.envvar else None
               for opt in pq.Conninfo.get_defaults()}
    env = dict(os.environ)
    for key, value in params.items():
        var = envvars.get(key)
        if var is not None:
            env[var] = value
        elif key not in _DROPPABLE:
            raise SqlguardError(f"the DSN sets `{key}`, which pg_dump and pg_restore could only receive on their "
                                "command line, where any user of this machine can read it: remove it from the DSN")
    if "PGCONNECT_TIMEOUT" not in env:
        env["PGCONNECT_TIMEOUT"] = str(DEFAULT_CONNECT_TIMEOUT)  # as `connect` does: a dead host fails, not hangs
    return env


def _dbname(params: Mapping[str, str]) -> str:
    """The database libpq will pick, as `describe` says it (a service file's dbname is not read)."""
    user = params.get("user") or os.environ.get("PGUSER")
    if not user:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "?"
    return params.get("dbname") or os.environ.get("PGDATABASE") or user


def _safe_name(name: str) -> str:
    safe = _UNSAFE.sub("_", name)[:64] or "_"
    return "_" + safe[1:] if safe[0] in ".-" else safe  # no hidden file, nothing that reads as an option


def _create(backups: Path, env_name: str, dbname: str, now: datetime) -> tuple[Path, int]:
    """Create the backup file (0600, never an existing one) and its directories (0700); its path and fd."""
    folder = backups / now.strftime("%Y%m%d")
    try:
        backups.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SqlguardError(f"cannot create the backup directory {backups.parent}: {err.strerror or err}") from None
    for d in (folder.parent, folder):
        try:
            os.mkdir(d, 0o700)
            os.chmod(d, 0o700)  # the umask may have taken bits away from mkdir's mode
        except FileExistsError:
            pass  # an existing directory keeps the mode its owner gave it
        except OSError as err:
            raise SqlguardError(f"cannot create the backup directory {d}: {err.strerror or err}") from None
    while True:
        path = backup_path(backups, env_name, dbname, now)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue  # another backup took this name since backup_path looked: take the next suffix
        except OSError as err:
            raise SqlguardError(f"cannot create the backup file {path}: {err.strerror or err}") from None
        os.fchmod(fd, 0o600)  # a umask such as 0o277 would otherwise leave it read-only
        return path, fd


def _run(argv: list[str], env: Mapping[str, str], stdout: int = subprocess.PIPE) -> tuple[int, str, str]:
    """Run a PostgreSQL tool: exit code, stdout (unless sent elsewhere), stderr. Ctrl-C (any exception) kills
    and reaps the child before it propagates, so nothing writes to a file the caller then removes."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE, env=env)
    except OSError as err:
        raise SqlguardError(f"cannot run `{argv[0]}`: {err.strerror or err}") from None
    try:
        out, errors = proc.communicate()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc.returncode, (out or b"").decode("utf-8", "replace"), errors.decode("utf-8", "replace")


def _verify(pg_restore: str, path: Path, env: Mapping[str, str], failed: str) -> int:
    """The number of objects `pg_restore --list` lists in `path`; SqlguardError(`failed: why`) if it cannot."""
    code, out, err = _run([pg_restore, "--list", str(path)], env)
    if code != 0:
        raise SqlguardError(redact(f"{failed}: `pg_restore --list` failed: {_reason(err)}"))
    if not _HEADER.search(out):
        # an empty database lists no object, but every archive states its number of TOC entries
        raise SqlguardError(f"{failed}: `pg_restore --list` printed no table of contents")
    return sum(1 for line in out.splitlines() if line.strip() and not line.startswith(";"))


def _reason(stderr: str) -> str:
    """The first error line of a PostgreSQL tool's stderr, without its preamble, plus its detail line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "no message (exit code only)"
    main = next((line for line in lines if re.match(r"^[\w.-]+: error: ", line)), lines[0])
    index = lines.index(main)
    text = re.sub(r"^[\w.-]+: (?:error|fatal): ", "", main)
    text = re.sub(r"^connection to server (?:at|on socket) .*? failed: ", "", text)
    text = re.sub(r"\b(?:FATAL|ERROR):\s+", "", text)
    # the tool's own detail (`pg_dump: detail: server version: …`) or the server's (`DETAIL:  view v depends…`)
    detail = next((m.group(1) for line in lines[index + 1:index + 3]
                   if (m := re.match(r"^(?:[\w.-]+: detail:|DETAIL:)\s+(.*)", line))), None)
    if detail:
        text += f" ({detail[:200]})"
    if "version mismatch" in text:
        text += ": use a pg_dump of the server's major version or newer"
    return text


def _sync_dir(folder: Path) -> None:
    """fsync a directory so that the new file's name survives a crash; best effort."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
