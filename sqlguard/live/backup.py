"""Backups for `sqlguard apply`, `rollback` and `restore`: `pg_dump` before a change, `pg_restore` to undo it.

A backup is a custom-format dump at `<root>/backups/YYYYMMDD/<env>_<db>_HHMMSS.dump`, created by sqlguard
with mode 0600 before pg_dump writes its first byte (pg_dump writes to our file descriptor on its stdout,
so the mode never depends on the umask), in directories of mode 0700. A dump counts as a backup only
once pg_dump has exited 0 and `pg_restore --list` has read its table of contents back; any other
outcome (a tool missing, a refused connection, a failed verification, Ctrl-C) removes the file and
raises a one-line `SqlguardError`. So a file under backups/ is always a verified backup.

A restore makes the database exactly what the backup holds, or leaves it untouched: psql runs, in
one transaction, a preamble that drops everything the restoring role may drop, then the script
`pg_restore --file=-` writes from the backup (owners and grants kept), and COMMIT only once pg_restore
exited 0 (so `psql` is needed too).

Credentials never reach a command line, where `ps` shows them to every user of the machine: the
connection goes to pg_dump, pg_restore and psql as libpq environment variables (PGHOST,
PGPASSWORD…) of the child alone.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

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
    """Where a project's backups go: `apply.backup-dir`, else a folder of the user's data directory
    named for the project (`$XDG_DATA_HOME/sqlguard/backups/<project>-<hash of its path>`, by default
    under `~/.local/share`): outside the work tree, so git never offers to commit a backup."""
    if settings.apply.backup_dir is not None:
        return settings.apply.backup_dir
    data = os.environ.get("XDG_DATA_HOME", "").strip()
    if not data or not os.path.isabs(data):
        try:
            data = str(Path.home() / ".local" / "share")
        except RuntimeError:
            raise SqlguardError("no home directory to keep backups in: set XDG_DATA_HOME, or `apply.backup-dir` "
                                "in the config") from None
    root = settings.root.resolve()
    digest = hashlib.sha256(str(root).encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return Path(data) / "sqlguard" / "backups" / f"{_safe_name(root.name) or 'project'}-{digest}"


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
    while os.path.lexists(path) or os.path.lexists(_partial(path)):  # (a dangling symlink is taken too)
        path = folder / f"{stem}_{n}.dump"
        n += 1
    return path


def _partial(path: Path) -> Path:
    """Where the dump for `path` is written until it is verified (`.<name>.partial`): a dump killed halfway
    never stands under a backup's name."""
    return path.with_name(f".{path.name}.partial")


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
    partial, verified = path, False
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
        entries = _verify(pg_restore, partial, env, f"cannot back up {where}: the dump did not verify")
        path = _publish(partial, folder.absolute(), env_name, dbname, now)
        verified = True
    finally:
        os.close(fd)
        if not verified:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
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
    listing: str = field(default="", repr=False)  # the table of contents, as `pg_restore --list` printed it


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
                   created.group(1).strip() if created else None, entries, out)


# Empties the database inside the restore's transaction, evaluated when it runs: everything the restoring
# role may drop (what a role it is a member of owns), so that afterwards the database holds exactly what
# the backup recreates. In order:
# - extensions (all but plpgsql), with what depends on them;
# - schemas (but `public`, which a PostgreSQL 15 dump does not create): a schema of ours is dropped whole,
#   unless it holds an extension the role may not drop; in the others, each object of ours: relations
#   (an identity's sequence goes with its column), routines, types and domains, collations, text search
#   configurations and dictionaries, conversions, operators, statistics objects;
# - publications, foreign servers and wrappers, event triggers, large objects;
# - default privileges (ALTER DEFAULT PRIVILEGES): each entry back to PostgreSQL's built-in defaults.
# Objects of other owners stay: the role could not drop them, and recreating one fails the restore,
# which then changes nothing. The grants on a schema that stays (`public`) are reset after the backup's
# script (`_RESET_SCHEMA_GRANTS`): before it, an owner the script sets may need them.
_EMPTY_DATABASE = r"""
SET client_min_messages = warning;
SET LOCAL lock_timeout = {lock_timeout};
DO $sqlguard$
DECLARE
  ns record;
  obj record;
  g record;
BEGIN
  FOR obj IN SELECT e.extname FROM pg_catalog.pg_extension e
              WHERE e.extname <> 'plpgsql' AND pg_catalog.pg_has_role(e.extowner, 'USAGE') LOOP
    EXECUTE format('DROP EXTENSION IF EXISTS %I CASCADE', obj.extname);
  END LOOP;
  FOR ns IN
    SELECT n.oid, n.nspname, n.nspowner, pg_catalog.pg_has_role(n.nspowner, 'USAGE') AS mine,
           EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extnamespace = n.oid) AS holds_extension
      FROM pg_catalog.pg_namespace n
     WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                        WHERE d.classid = 'pg_catalog.pg_namespace'::regclass AND d.objid = n.oid
                          AND d.deptype = 'e')
  LOOP
    IF ns.mine AND ns.nspname <> 'public' AND NOT ns.holds_extension THEN
      EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', ns.nspname);
      CONTINUE;
    END IF;
    FOR obj IN
      SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                            WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind,
             format('%I.%I', ns.nspname, c.relname) AS name, c.oid AS oid, 'pg_catalog.pg_class'::regclass AS cat
        FROM pg_catalog.pg_class c
       WHERE c.relnamespace = ns.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
         AND pg_catalog.pg_has_role(c.relowner, 'USAGE')
         AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass
                           AND d.objid = c.oid AND d.deptype = 'i')  -- an identity's sequence: with its table
      UNION ALL
      SELECT CASE p.prokind WHEN 'a' THEN 'AGGREGATE' ELSE 'ROUTINE' END, p.oid::pg_catalog.regprocedure::text,
             p.oid, 'pg_catalog.pg_proc'::regclass
        FROM pg_catalog.pg_proc p WHERE p.pronamespace = ns.oid AND pg_catalog.pg_has_role(p.proowner, 'USAGE')
      UNION ALL
      SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, format('%I.%I', ns.nspname, t.typname),
             t.oid, 'pg_catalog.pg_type'::regclass
        FROM pg_catalog.pg_type t
       WHERE t.typnamespace = ns.oid AND t.typtype IN ('e', 'd', 'r', 'm', 'c')
         AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c')
         AND pg_catalog.pg_has_role(t.typowner, 'USAGE')
      UNION ALL
      SELECT 'COLLATION', format('%I.%I', ns.nspname, o.collname), o.oid, 'pg_catalog.pg_collation'::regclass
        FROM pg_catalog.pg_collation o WHERE o.collnamespace = ns.oid AND pg_catalog.pg_has_role(o.collowner, 'USAGE')
      UNION ALL
      SELECT 'TEXT SEARCH CONFIGURATION', format('%I.%I', ns.nspname, o.cfgname), o.oid,
             'pg_catalog.pg_ts_config'::regclass
        FROM pg_catalog.pg_ts_config o WHERE o.cfgnamespace = ns.oid AND pg_catalog.pg_has_role(o.cfgowner, 'USAGE')
      UNION ALL
      SELECT 'TEXT SEARCH DICTIONARY', format('%I.%I', ns.nspname, o.dictname), o.oid,
             'pg_catalog.pg_ts_dict'::regclass
        FROM pg_catalog.pg_ts_dict o WHERE o.dictnamespace = ns.oid AND pg_catalog.pg_has_role(o.dictowner, 'USAGE')
      UNION ALL
      SELECT 'CONVERSION', format('%I.%I', ns.nspname, o.conname), o.oid, 'pg_catalog.pg_conversion'::regclass
        FROM pg_catalog.pg_conversion o WHERE o.connamespace = ns.oid AND pg_catalog.pg_has_role(o.conowner, 'USAGE')
      UNION ALL
      SELECT 'OPERATOR', o.oid::pg_catalog.regoperator::text, o.oid, 'pg_catalog.pg_operator'::regclass
        FROM pg_catalog.pg_operator o WHERE o.oprnamespace = ns.oid AND pg_catalog.pg_has_role(o.oprowner, 'USAGE')
      UNION ALL
      SELECT 'STATISTICS', format('%I.%I', ns.nspname, o.stxname), o.oid, 'pg_catalog.pg_statistic_ext'::regclass
        FROM pg_catalog.pg_statistic_ext o WHERE o.stxnamespace = ns.oid AND pg_catalog.pg_has_role(o.stxowner, 'USAGE')
    LOOP
      -- (what an extension the role may not drop created is left to the extension)
      CONTINUE WHEN EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid = obj.cat AND d.objid = obj.oid
                              AND d.deptype = 'e');
      EXECUTE format('DROP %s IF EXISTS %s CASCADE', obj.kind, obj.name);
    END LOOP;
  END LOOP;
  FOR obj IN
    SELECT 'PUBLICATION' AS kind, quote_ident(pubname) AS name FROM pg_catalog.pg_publication
     WHERE pg_catalog.pg_has_role(pubowner, 'USAGE')
    UNION ALL
    SELECT 'SERVER', quote_ident(srvname) FROM pg_catalog.pg_foreign_server
     WHERE pg_catalog.pg_has_role(srvowner, 'USAGE')
    UNION ALL
    SELECT 'FOREIGN DATA WRAPPER', quote_ident(w.fdwname) FROM pg_catalog.pg_foreign_data_wrapper w
     WHERE pg_catalog.pg_has_role(w.fdwowner, 'USAGE')
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                        WHERE d.classid = 'pg_catalog.pg_foreign_data_wrapper'::regclass AND d.objid = w.oid
                          AND d.deptype = 'e')
    UNION ALL
    SELECT 'EVENT TRIGGER', quote_ident(evtname) FROM pg_catalog.pg_event_trigger
     WHERE pg_catalog.pg_has_role(evtowner, 'USAGE')
  LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE', obj.kind, obj.name);
  END LOOP;
  PERFORM pg_catalog.lo_unlink(m.oid) FROM pg_catalog.pg_largeobject_metadata m
    WHERE pg_catalog.pg_has_role(m.lomowner, 'USAGE');
  FOR obj IN
    SELECT d.defaclrole, d.defaclnamespace, quote_ident(d.defaclrole::regrole::text) AS owner,
           CASE d.defaclnamespace WHEN 0 THEN '' ELSE format(' IN SCHEMA %I', d.defaclnamespace::regnamespace) END
             AS place,
           CASE d.defaclobjtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS'
                                WHEN 'T' THEN 'TYPES' ELSE 'SCHEMAS' END AS kind,
           (SELECT array_agg(DISTINCT a.grantee) FROM pg_catalog.aclexplode(d.defaclacl) a) AS grantees
      FROM pg_catalog.pg_default_acl d WHERE pg_catalog.pg_has_role(d.defaclrole, 'MEMBER')
  LOOP
    FOR g IN SELECT u.oid FROM unnest(obj.grantees) u (oid) WHERE obj.defaclnamespace <> 0 OR u.oid <> obj.defaclrole
    LOOP
      EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %s%s REVOKE ALL ON %s FROM %s', obj.owner, obj.place,
                     obj.kind, CASE g.oid WHEN 0 THEN 'PUBLIC' ELSE quote_ident(g.oid::regrole::text) END);
    END LOOP;
    IF obj.defaclnamespace = 0 THEN  -- the built-in defaults: the owner has all, PUBLIC may run and use
      EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT ALL ON %s TO %s', obj.owner, obj.kind, obj.owner);
      IF obj.kind IN ('FUNCTIONS', 'TYPES') THEN
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT %s ON %s TO PUBLIC', obj.owner,
                       CASE obj.kind WHEN 'FUNCTIONS' THEN 'EXECUTE' ELSE 'USAGE' END, obj.kind);
      END IF;
    END IF;
  END LOOP;
END
$sqlguard$;
"""


# Run after the backup's script: each schema of the role's goes back to its initial grants (pg_init_privs;
# none for a schema the backup created), then the backup's own grants on schemas are run again
# (`ACL - SCHEMA` entries only add to what is there, and a grant given since the backup must not stay).
_RESET_SCHEMA_GRANTS = r"""
DO $sqlguard$
DECLARE
  ns record;
  obj record;
BEGIN
  FOR ns IN SELECT n.oid, n.nspname, n.nspowner FROM pg_catalog.pg_namespace n
             WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
               AND pg_catalog.pg_has_role(n.nspowner, 'USAGE') LOOP
    FOR obj IN SELECT a.grantee FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
                WHERE n.oid = ns.oid AND a.grantee <> ns.nspowner GROUP BY a.grantee LOOP
      EXECUTE format('REVOKE ALL ON SCHEMA %I FROM %s', ns.nspname,
                     CASE obj.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(obj.grantee::regrole::text) END);
    END LOOP;
    FOR obj IN SELECT a.grantee, a.privilege_type FROM pg_catalog.pg_init_privs i, pg_catalog.aclexplode(i.initprivs) a
                WHERE i.classoid = 'pg_catalog.pg_namespace'::regclass AND i.objoid = ns.oid
                  AND a.grantee <> ns.nspowner LOOP
      EXECUTE format('GRANT %s ON SCHEMA %I TO %s', obj.privilege_type, ns.nspname,
                     CASE obj.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(obj.grantee::regrole::text) END);
    END LOOP;
  END LOOP;
END
$sqlguard$;
"""


def restore_backup(dsn: str, path: Path, lock_timeout: str = "5s") -> None:
    """Make the database `dsn` names exactly what the backup at `path` holds, in one transaction.

    psql runs, between a BEGIN sqlguard sends first and a COMMIT it sends only once pg_restore has exited
    0, the preamble that empties the database (`_EMPTY_DATABASE`) and then the script `pg_restore
    --file=-` writes from the backup, owners and grants included: a backup that breaks halfway is
    never half restored. An extension the role may not drop stays, and so its comment is not set again.
    Credentials reach both programs through their environment only (as for pg_dump). The file must be
    a backup `pg_restore --list` reads (else a `SqlguardError` naming it, before anything runs).
    """
    params = dsn_params(dsn)
    env = _child_env(params)
    where = describe(params)
    archive = read_archive(path)
    path = archive.path
    pg_restore, psql = pg_tool("pg_restore"), pg_tool("psql")
    preamble = _EMPTY_DATABASE.replace("{lock_timeout}", _sql_literal(lock_timeout))
    with tempfile.TemporaryDirectory(prefix="sqlguard-restore-") as scratch:
        listing, grants = Path(scratch) / "toc.list", Path(scratch) / "grants.list"
        entries = _entries(archive.listing, psql, path, env, where)
        listing.write_text("".join(line + "\n" for line in entries), encoding="utf-8")
        grants.write_text("".join(line + "\n" for line in entries if _SCHEMA_ACL.match(line)), encoding="utf-8")
        with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_err:
            try:
                consumer = subprocess.Popen([psql, "--no-psqlrc", "--quiet", "--no-password",
                                             "--set=ON_ERROR_STOP=1", "--file=-"], stdin=subprocess.PIPE,
                                            stdout=subprocess.DEVNULL, stderr=psql_err, env=env)
            except OSError as err:
                raise SqlguardError(f"cannot run `{psql}`: {err.strerror or err}") from None
            try:
                producer = _producer(pg_restore, listing, path, restore_err, env)
            except SqlguardError:
                _stop(consumer)
                raise
            committed = False
            try:
                committed = _pump([preamble, producer, _RESET_SCHEMA_GRANTS,
                                   lambda: _producer(pg_restore, grants, path, restore_err, env)], consumer)
            except BaseException:
                _stop(producer)
                _stop(consumer)
                raise
            producer.wait()
            psql_code = consumer.wait()
            psql_said, restore_said = _text(psql_err), _text(restore_err)
    if committed and psql_code == 0:
        return
    # psql stopping at an error stops pg_restore too (its pipe closes): psql's message is the reason then
    if psql_said.strip() or not restore_said.strip():
        reason = _psql_reason(psql_said)
        if m := re.search(r'must be (?:a )?member of role "([^"]+)"', reason):
            reason = (f"the backup holds objects owned by `{m.group(1)}`, which this role may not give back to "
                      f"it: restore as a member of `{m.group(1)}` (or as a superuser)")
        raise SqlguardError(redact(f"cannot restore {path} into {where}: nothing was restored: {reason}"))
    raise SqlguardError(redact(f"cannot restore {path}: pg_restore failed, nothing was restored: "
                               f"{_reason(restore_said)}"))


# Entries of a backup's table of contents: an extension's own comment (`1234; 0 0 COMMENT - EXTENSION
# name`), a schema (`8; 2615 16652 SCHEMA - reporting app`), the grants on a schema (`3578; 0 0 ACL -
# SCHEMA public pg_database_owner`).
_EXTENSION_COMMENT = re.compile(r"^\d+;\s+\d+\s+\d+\s+COMMENT\s+-\s+EXTENSION\s+(\S+)")
_SCHEMA = re.compile(r"^\d+;\s+\d+\s+\d+\s+SCHEMA\s+-\s+(\S+)\s")
_SCHEMA_ACL = re.compile(r"^\d+;\s+\d+\s+\d+\s+ACL\s+-\s+SCHEMA\s")
# What the preamble cannot drop: extensions of other owners (`e:name`), and the schemas that therefore
# stay, those of other owners and ours that hold such an extension (`s:name`).
_STAYS = (
    "SELECT 'e:' || extname FROM pg_catalog.pg_extension WHERE NOT pg_catalog.pg_has_role(extowner, 'USAGE') "
    "UNION ALL SELECT 's:' || n.nspname FROM pg_catalog.pg_namespace n "
    "WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' "
    "AND (NOT pg_catalog.pg_has_role(n.nspowner, 'USAGE') "
    "OR EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extnamespace = n.oid "
    "AND NOT pg_catalog.pg_has_role(e.extowner, 'USAGE'))) "
    "UNION ALL SELECT 'o:' || n.nspname || '.' || c.relname || ' ' || c.relowner::regrole::text "
    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT pg_catalog.pg_has_role(c.relowner, 'USAGE') "
    "AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'"
)
# A relation in a backup's table of contents: `218; 1259 16628 TABLE public users app`
_RELATION = re.compile(r"^\d+;\s+\d+\s+\d+\s+(?:TABLE|VIEW|SEQUENCE|MATERIALIZED VIEW|FOREIGN TABLE)\s+(\S+)\s+(\S+)\s")


def _producer(pg_restore: str, listing: Path, path: Path, stderr: IO[bytes], env: Mapping[str, str]
              ) -> subprocess.Popen[bytes]:
    """pg_restore writing the entries `listing` names of the backup at `path` as a script on its stdout."""
    try:
        return subprocess.Popen([pg_restore, f"--use-list={listing}", "--file=-", str(path)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=stderr, env=env)
    except OSError as err:
        raise SqlguardError(f"cannot run `{pg_restore}`: {err.strerror or err}") from None


def _entries(listing: str, psql: str, path: Path, env: Mapping[str, str], where: str) -> list[str]:
    """The backup's table of contents (`listing`, as `read_archive` read it), for `pg_restore --use-list`:
    every entry but the comments of the extensions that stay in the database (the role may not drop them,
    nor set their comment) and the schemas that stay (they exist: creating them again would fail)."""
    code, kept, err = _run([psql, "--no-psqlrc", "--no-password", "--tuples-only", "--no-align", "--command",
                            _STAYS], env)
    if code != 0:
        raise SqlguardError(redact(f"cannot restore {path} into {where}: nothing was restored: "
                                   f"{_psql_reason(err)}"))
    stays = set(kept.splitlines())
    others = dict(line[2:].rsplit(" ", 1) for line in stays if line.startswith("o:"))
    for line in listing.splitlines():
        m = _RELATION.match(line)
        owner = others.get(f"{m.group(1)}.{m.group(2)}") if m is not None else None
        if m is not None and owner is not None:
            raise SqlguardError(redact(
                f"cannot restore {path} into {where}: nothing was restored: `{m.group(1)}.{m.group(2)}` is owned by "
                f"`{owner}`, which this role may not drop and create again: restore as a member of `{owner}` (or as "
                "a superuser)"))

    def kept_entry(line: str) -> bool:
        m = _EXTENSION_COMMENT.match(line)
        if m is not None:
            return f"e:{m.group(1)}" not in stays
        m = _SCHEMA.match(line)
        return m is None or f"s:{m.group(1)}" not in stays

    return [line for line in listing.splitlines() if kept_entry(line)]


def _pump(parts: list[Any], consumer: subprocess.Popen[bytes]) -> bool:
    """Feed psql BEGIN, then each part in order (SQL text, a running pg_restore, or a function that starts
    one), and COMMIT once every pg_restore has exited 0. Whether COMMIT was sent (psql's exit code says
    whether it, and everything before, succeeded); each pg_restore started is waited for."""
    feed: IO[bytes] | None = consumer.stdin
    assert feed is not None
    running: subprocess.Popen[bytes] | None = None
    try:
        feed.write(b"BEGIN;\n")
        for part in parts:
            if isinstance(part, str):
                feed.write(part.encode() + b"\n")
                continue
            running = part if isinstance(part, subprocess.Popen) else part()
            source = running.stdout
            assert source is not None
            with source:
                for chunk in iter(lambda: source.read(1 << 16), b""):  # noqa: B023 (read before the next part)
                    feed.write(chunk)
            if running.wait() != 0:
                return False  # psql reaches the end of its input inside the transaction: the server rolls it back
        feed.write(b"\nCOMMIT;\n")
        return True
    except BrokenPipeError:  # psql stopped at an error (ON_ERROR_STOP): its stderr says which
        if running is not None:
            _stop(running)
        return False
    finally:
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
    """Create the file a backup is dumped to (its `.partial` name, 0600, never an existing file) and the
    directories it needs (each one created 0700, whatever the umask); its path and fd. An existing backups
    folder must be the user's own and writable by nobody else; one inside a git work tree gets a
    `.gitignore` that keeps every backup out of commits."""
    folder = backups / now.strftime("%Y%m%d")
    missing = [d for d in (folder, *folder.parents) if not os.path.lexists(d)]
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
            os.chmod(d, 0o700)  # the umask may have taken bits away from mkdir's mode
        except FileExistsError:
            pass  # (another backup made it meanwhile)
        except OSError as err:
            raise SqlguardError(f"cannot create the backup directory {d}: {err.strerror or err}") from None
    for d in (backups, folder):
        _check_private(d)
    _ignore_in_git(backups)
    while True:
        path = _partial(backup_path(backups, env_name, dbname, now))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:
            continue  # another backup took this name since backup_path looked: take the next suffix
        except OSError as err:
            raise SqlguardError(f"cannot create the backup file {path}: {err.strerror or err}") from None
        os.fchmod(fd, 0o600)  # a umask such as 0o277 would otherwise leave it read-only
        return path, fd


def _publish(partial: Path, backups: Path, env_name: str, dbname: str, now: datetime | None) -> Path:
    """Give a verified dump its backup name, the one it was made for, else the next free one (a file is
    never replaced)."""
    when = now or datetime.now()
    path = partial.with_name(partial.name[1:-len(".partial")])
    while True:
        try:
            os.link(partial, path)  # (fails when the name exists, where a rename would replace it)
        except FileExistsError:
            path = backup_path(backups, env_name, dbname, when)
            continue
        except OSError:
            os.replace(partial, path)  # a file system without hard links: the name was free just now
            return path
        partial.unlink()
        return path


def _check_private(folder: Path) -> None:
    """Refuse a backups folder another user owns or may write to (they could swap or delete a backup)."""
    try:
        st = os.stat(folder)
    except OSError as err:
        raise SqlguardError(f"cannot use the backup directory {folder}: {err.strerror or err}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise SqlguardError(f"cannot use the backup directory {folder}: it is not a directory")
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        raise SqlguardError(f"cannot use the backup directory {folder}: it belongs to another user (uid {st.st_uid})")
    if st.st_mode & 0o022:
        raise SqlguardError(f"cannot use the backup directory {folder}: other users may write to it (mode "
                            f"{stat.S_IMODE(st.st_mode):04o}); `chmod go-w` it, or choose another `apply.backup-dir`")


def _ignore_in_git(backups: Path) -> None:
    """A backups folder inside a git work tree gets a `.gitignore` of `*` (when it has none)."""
    from sqlguard.migrations.gitinfo import work_tree

    ignore = backups / ".gitignore"
    if os.path.lexists(ignore) or work_tree(backups) is None:
        return
    with contextlib.suppress(OSError):
        fd = os.open(ignore, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("# written by sqlguard: database backups never belong in git\n*\n")


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
