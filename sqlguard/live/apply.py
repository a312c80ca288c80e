"""`sqlguard apply`: run pending migrations, test database first, with a backup, a record and a way back.

The steps cannot be skipped or reordered:

1. Plan: read each target environment's history table (`HistoryStore`) and find what is pending.
   A migration edited after it ran is refused, naming the file and both checksums.
2. Dry run (the default): every pending migration runs on the test environment inside one
   transaction that is rolled back. Each statement is timed, the relation locks it took are read from
   `pg_locks`, its row count kept; each migration's schema change is the diff of the schema before and
   after it. Statements that cannot run in a transaction block are tried without CONCURRENTLY (the
   same change, with a stronger lock) or, when that is not possible (VACUUM…), skipped with a note.
3. `--execute`: back up every target (`pg_dump`, verified) before changing any, then migrate the
   targets in order, test first; a failure stops the run, so dev is never touched after test failed.
   Each migration runs in its own transaction with `lock_timeout` and `statement_timeout`, and the same
   transaction inserts its history row: a migration is recorded if and only if it committed. A
   migration marked `-- sqlguard: transaction=off` (what CREATE INDEX CONCURRENTLY needs) runs
   statement by statement; an index a failed CONCURRENTLY build left INVALID is dropped and reported.

A session-level advisory lock per database and history table serialises concurrent runs, dry runs
included: the second waits (`apply.lock-wait` seconds), then re-reads the history, so each migration is
applied once. A wait that runs out before this run changed anything is a `SqlguardError` (exit 2: try
again later), not a failed migration.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlguard.config import STAGES, Environment, Settings, stage_order_problem
from sqlguard.diagnostic import SqlguardError
from sqlguard.live.status import (
    JOURNAL_TABLE,
    HistoryStore,
    Journal,
    StatusReport,
    classify,
    migration_checksum,
    migration_key,
    ran_as,
)
from sqlguard.migrations.history import History, Migration
from sqlguard.migrations.script import Script, ScriptStatement, read_script, without_concurrently
from sqlguard.schema.model import Change, diff
from sqlguard.sql.lex import lex

Progress = Callable[[str, int, int], None]  # (what, done, total)

_LOCK_RANK = ("AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock",
              "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock")
# Relation locks this session holds (tables, views, materialized views; not indexes or sequences).
_LOCKS = """
SELECT n.nspname, c.relname, l.mode
  FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE l.pid = pg_backend_pid() AND l.granted AND l.locktype = 'relation' AND c.relkind IN ('r', 'p', 'v', 'm')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
"""
_INVALID_INDEXES = """
SELECT n.nspname, c.relname
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE NOT i.indisvalid
"""


# --- results ---------------------------------------------------------------------------------------

@dataclass
class StatementResult:
    line: int
    summary: str
    ms: float
    rows: int | None  # rows affected (None for DDL)
    locks: list[str]  # "AccessExclusiveLock on users", strongest per relation, new in this statement
    outside_transaction: bool = False
    note: str | None = None


@dataclass
class MigrationResult:
    version: str
    name: str
    file: str  # relative to the history's folder
    checksum: str
    status: str = "not run"  # applied | tried (dry run) | failed | not run
    ms: float = 0.0
    transactional: bool = True
    statements: list[StatementResult] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    locks: list[str] = field(default_factory=list)  # held until the migration's transaction ends
    rollback_check: str | None = None  # identical | differs | no rollback | None (not checked)
    rollback_diff: list[Change] = field(default_factory=list)
    invalid_indexes_dropped: list[str] = field(default_factory=list)
    error: str | None = None
    error_line: int | None = None


@dataclass
class EnvResult:
    name: str
    stage: str | None
    target: str  # host:port/dbname
    status: str = "not run"  # applied | up to date | tried | failed | not run | pending
    migrations: list[MigrationResult] = field(default_factory=list)
    backup: Any = None  # backup.Backup
    ms: float = 0.0
    error: str | None = None
    note: str | None = None


@dataclass
class ApplyResult:
    mode: str  # dry-run | execute
    folder: Path
    environments: list[EnvResult]
    validation: list[dict[str, Any]] = field(default_factory=list)  # lint findings of the pending files
    check_rollback: bool = False
    stopped: str | None = None  # why the run stopped early
    dry_run: ApplyResult | None = None  # with --execute: the dry run that came first

    @property
    def ok(self) -> bool:
        return self.stopped is None and all(e.status not in ("failed",) for e in self.environments)

    @property
    def backups(self) -> list[Any]:
        return [e.backup for e in self.environments if e.backup is not None]


# --- plan ------------------------------------------------------------------------------------------

@dataclass
class TargetPlan:
    env: Environment
    target: str
    status: StatusReport
    pending: list[Migration]


def targets(settings: Settings, names: list[str] | None) -> list[Environment]:
    """The environments `apply` migrates, in order: `apply.environments`, else test, dev, staging, prod
    by stage. `names` picks some of them (in that order). A prod environment is migrated only when named:
    never as part of the default set. A test environment always goes first: an order that would change
    another database before test is refused."""
    from sqlguard.live.connect import environment

    if not settings.environments:
        environment(settings, "")  # raises the "no environments configured" error
    by_name = {e.name: e for e in settings.environments}
    if settings.apply.environments:
        order = [by_name[n] for n in settings.apply.environments]
    else:
        rank = {s: i for i, s in enumerate(STAGES)}
        order = sorted((e for e in settings.environments if e.stage is not None), key=lambda e: rank[e.stage or ""])
    if names:
        for n in names:
            environment(settings, n)  # unknown names fail with the configured list
        unknown = [n for n in names if n not in {e.name for e in order}]
        if unknown:
            raise SqlguardError(f"environment `{unknown[0]}` is not one `apply` migrates (apply.environments: "
                                f"{', '.join(e.name for e in order)})")
        order = [e for e in order if e.name in names]
    else:
        order = [e for e in order if e.stage != "prod"]  # no implicit prod: `--env NAME` names it
    if not order:
        raise SqlguardError("no environment to migrate: give environments a `stage` (test, dev…) or list them "
                            "in `apply.environments`, test first")
    problem = stage_order_problem([(e.name, e.stage) for e in order])
    if problem and not (names and order[0].stage != "test" and _has_test(settings)):
        raise SqlguardError(f"refusing to migrate: {problem}")
    return order


def _has_test(settings: Settings) -> bool:
    return any(e.stage == "test" for e in settings.environments)


def plan(settings: Settings, history: History, envs: list[Environment]) -> list[TargetPlan]:
    """Each environment's status, read-only. Raises when a migration changed after it was applied, and
    when the run has no test environment and would give another one a migration test has not run."""
    from sqlguard.live.connect import connect, target_of

    store = HistoryStore(settings.apply.history)
    plans: list[TargetPlan] = []
    for env in envs:
        conn = connect(env, application_name="sqlguard apply (plan)", read_only=True)
        try:
            report = classify(env.name, history, store.rows(conn), store)
        finally:
            conn.close()
        refuse_modified(report)
        pending = [history.migrations[e.position] for e in report.pending if e.position is not None]
        plans.append(TargetPlan(env, target_of(env), report, pending))
    if not any(p.env.stage == "test" for p in plans):
        # `--env dev` alone: refuse now, in the dry run too, rather than after a backup of dev
        for p in plans:
            _require_tried_on_test(settings, history, p.env, p.pending, {})
    return plans


def refuse_modified(report: StatusReport) -> None:
    if report.modified:
        e = report.modified[0]
        more = f" (and {len(report.modified) - 1} more)" if len(report.modified) > 1 else ""
        raise SqlguardError(f"`{e.file}` changed after it was applied to `{report.environment}`{more}: recorded "
                            f"checksum {e.recorded_checksum}, file checksum {e.checksum}. Restore the file and put "
                            "the change in a new migration.")


# --- the runs --------------------------------------------------------------------------------------

def dry_run(settings: Settings, history: History, plans: list[TargetPlan], *, check_rollback: bool = False,
            progress: Progress | None = None, checked: Mapping[Path, str] | None = None) -> ApplyResult:
    """Run every migration pending on the test environment in one transaction, then roll it back.
    `checked`: {file: SHA-256} the lint read; a file whose bytes differ now is refused."""
    from sqlguard.live.connect import connect

    result = ApplyResult("dry-run", history.folder, [], check_rollback=check_rollback)
    tried = False
    for p in plans:
        env_result = EnvResult(p.env.name, p.env.stage, p.target)
        env_result.migrations = [_result_for(history, m) for m in p.pending]
        result.environments.append(env_result)
        if not p.pending:
            env_result.status = "up to date"
            continue
        if tried or p.env.stage != "test":
            env_result.status = "pending"
            env_result.note = ("runs after test succeeds" if p.env.stage != "test" else
                               "tried on the first test environment only")
            continue
        tried = True
        began = time.monotonic()
        conn = connect(p.env, application_name="sqlguard apply (dry run)")
        try:
            session = _Session(conn, settings, progress, p.env.name)
            session.checked = checked
            # A run executing on this database would change it under the dry run, and may have applied part
            # of the plan since it was read: wait for it as --execute does, then read what is pending now.
            store = HistoryStore(settings.apply.history)
            session.advisory_lock(store, settings.apply.lock_wait)
            report = classify(p.env.name, history, store.rows(conn), store)
            conn.commit()
            refuse_modified(report)
            pending = [history.migrations[e.position] for e in report.pending if e.position is not None]
            env_result.migrations = [_result_for(history, m) for m in pending]
            try:
                _refuse_interrupted(conn, store, history, pending, settings, p.env.name, clear=False)
            except SqlguardError as err:
                env_result.status, env_result.error = "failed", str(err)
                result.stopped = f"`{p.env.name}` holds a migration an earlier run left half done"
                break
            session.set_timeouts(local=True)
            for n, (m, mr) in enumerate(zip(pending, env_result.migrations, strict=True)):
                _progress(progress, f"{p.env.name}: trying {mr.file}", n, len(pending))
                if not session.try_migration(m, mr, history, check_rollback):
                    if mr.status == "not run":  # what one transaction cannot try: it and those after it
                        env_result.status = "tried"
                        env_result.note = (f"tried up to `{mr.file}`, which {mr.error}; it and the "
                                           f"{len(pending) - n - 1} after it were not tried")
                        mr.error = None
                        break
                    env_result.status = "failed"
                    env_result.error = f"{mr.file}: {mr.error}"
                    result.stopped = f"`{mr.file}` failed on `{p.env.name}` in the dry run"
                    break
            else:
                env_result.status = "tried" if pending else "up to date"
                if pending:
                    _progress(progress, f"{p.env.name}: tried {len(pending)} migration(s), rolling back",
                              len(pending), len(pending))
        finally:
            _quietly(conn.rollback)
            conn.close()
        env_result.ms = (time.monotonic() - began) * 1000
        if result.stopped:
            break
    return result


def execute(settings: Settings, history: History, plans: list[TargetPlan], *, check_rollback: bool = False,
            progress: Progress | None = None, checked: Mapping[Path, str] | None = None) -> ApplyResult:
    """Back up every target, then migrate them in order; the first failure stops the run. `checked`:
    {file: SHA-256} of what the lint and the dry run checked; a file whose bytes differ when it is about
    to run (edited while the confirmation waited) is refused, and so is one they did not check."""
    from sqlguard.live.backup import back_up

    result = ApplyResult("execute", history.folder, [], check_rollback=check_rollback)
    envs = [EnvResult(p.env.name, p.env.stage, p.target) for p in plans]
    result.environments = envs
    # 1. every backup first: a failed backup stops the run before anything changed anywhere
    for p, er in zip(plans, envs, strict=True):
        if not p.pending:
            continue
        _progress(progress, f"{p.env.name}: backing up {p.target}", 0, 1)
        try:
            er.backup = back_up(settings, p.env)
        except SqlguardError as err:
            er.status, er.error = "failed", str(err)
            result.stopped = f"the backup of `{p.env.name}` failed; nothing was changed"
            return result
        _progress(progress, f"{p.env.name}: backup {er.backup.path.name} ({er.backup.size} bytes, verified)", 1, 1)
    # 2. test first, then the others in order
    applied_on_test: dict[str, set[str]] = {}  # checksums each migration reached a test database with
    for p, er in zip(plans, envs, strict=True):
        began = time.monotonic()
        try:
            _migrate_env(settings, history, p, er, check_rollback and p.env.stage == "test", progress,
                         applied_on_test, checked)
        except _Busy as err:
            if not any(e.status == "applied" for e in envs):
                # another run is at work: not a failed migration (exit 1) but a run to retry (exit 2)
                raise SqlguardError(f"{err} (this run changed no database)") from None
            er.status, er.error = "failed", str(err)
        except SqlguardError as err:
            er.status, er.error = "failed", str(err)
        er.ms = (time.monotonic() - began) * 1000
        if er.status == "failed":
            result.stopped = f"`{p.env.name}` failed; the environments after it were not touched"
            return result
    return result


def _migrate_env(settings: Settings, history: History, p: TargetPlan, er: EnvResult, check_rollback: bool,
                 progress: Progress | None, applied_on_test: dict[str, set[str]],
                 checked: Mapping[Path, str] | None = None) -> None:
    from sqlguard.live.connect import connect

    store = HistoryStore(settings.apply.history)
    conn = connect(p.env, application_name="sqlguard apply")
    try:
        session = _Session(conn, settings, progress, p.env.name)
        session.checked = checked
        session.advisory_lock(store, settings.apply.lock_wait)
        store.ensure(conn)
        conn.commit()
        # the plan was read before the lock: another run may have applied some since
        report = classify(p.env.name, history, store.rows(conn), store)
        conn.commit()
        refuse_modified(report)
        pending = [history.migrations[e.position] for e in report.pending if e.position is not None]
        _refuse_interrupted(conn, store, history, pending, settings, p.env.name, clear=True)
        if p.env.stage == "test":
            for e in report.applied:
                applied_on_test.setdefault(e.file or "", set()).add(e.checksum or "")
        else:
            _require_tried_on_test(settings, history, p.env, pending, applied_on_test)
        er.migrations = [_result_for(history, m) for m in pending]
        if not pending:
            er.status = "up to date"
            return
        recorded = {(e.version, e.name) for e in (*report.applied, *report.modified, *report.missing)}
        planned = {(e.version, e.name) for e in (*p.status.applied, *p.status.modified, *p.status.missing)}
        if er.backup is None or recorded != planned:
            # Nothing was pending when the run began (so no backup then), or another run applied or rolled
            # back migrations between this run's backup and its lock: the backup to undo this run by is
            # one taken now, under the lock, before changing anything here.
            from sqlguard.live.backup import back_up

            _progress(progress, f"{p.env.name}: backing up {p.target}", 0, 1)
            er.backup = back_up(settings, p.env)
        backup_path = str(er.backup.path)
        for n, (m, mr) in enumerate(zip(pending, er.migrations, strict=True)):
            _progress(progress, f"{p.env.name}: applying {mr.file}", n, len(pending))
            if not session.apply_migration(m, mr, history, store, check_rollback, backup_path):
                er.status = "failed"
                er.error = f"{mr.file}: {mr.error}"
                return
            if p.env.stage == "test":
                applied_on_test.setdefault(mr.file, set()).add(mr.checksum)
        _progress(progress, f"{p.env.name}: applied {len(pending)} migration(s)", len(pending), len(pending))
        er.status = "applied"
    finally:
        _quietly(conn.rollback)
        conn.close()  # ends the session: the advisory lock goes with it


def _require_tried_on_test(settings: Settings, history: History, env: Environment, pending: list[Migration],
                           applied_on_test: dict[str, set[str]]) -> None:
    """A non-test database only gets migrations a test database already runs, with the same bytes."""
    if not pending:
        return
    if not applied_on_test:  # test was not part of this run: read what the test environments record
        from sqlguard.live.connect import connect

        store = HistoryStore(settings.apply.history)
        for test_env in (e for e in settings.environments if e.stage == "test"):
            conn = connect(test_env, application_name="sqlguard apply (plan)", read_only=True)
            try:
                report = classify(test_env.name, history, store.rows(conn), store)
            finally:
                conn.close()
            for e in report.applied:
                applied_on_test.setdefault(e.file or "", set()).add(e.checksum or "")
    for m in pending:
        rel = history.relative(m.path)
        current = migration_checksum(m, history.convention)
        if not any(ran_as(digest, m, current) for digest in applied_on_test.get(rel, set())):
            raise SqlguardError(f"refusing to migrate `{env.name}` before test: `{rel}` has not been applied to a "
                                "test environment yet; run `sqlguard apply --execute` with the test environment "
                                "first")


# Statements that leave no object behind when a run is killed during them or after them.
_NO_LEFTOVER = frozenset({"select", "set", "vacuum", "analyze"})


def _refuse_interrupted(conn: Any, store: HistoryStore, history: History, pending: list[Migration],
                        settings: Settings, env_name: str, *, clear: bool) -> None:
    """Refuse a pending `transaction=off` migration an earlier run began and never finished (its journal row
    is there), naming the statement it stopped at, what it left behind and how to finish or clean up.

    When every statement it got to creates an index (or leaves nothing: SELECT, SET, VACUUM, ANALYZE), and
    none of those indexes exists, nothing is left: the row is stale and the migration runs again from its
    start (`clear`: the row is deleted then)."""
    from psycopg import sql

    from sqlguard.live.connect import run_query
    from sqlguard.sql.ddl import describe
    from sqlguard.sql.ddl.model import CreateIndex

    journal = Journal(store)
    rows = journal.rows(conn)
    conn.commit()
    for m in pending:
        row = rows.get(migration_key(m))
        if row is None:
            continue
        up, _ = migration_scripts(m, history, settings)
        statements = up.to_run(False)
        reached = statements[:row.statement]
        left: list[tuple[str, bool]] = []  # (index, valid)
        named = True
        for s in reached:
            d = describe(s.text, settings.dialect)
            if d.kind in _NO_LEFTOVER:
                continue
            if not isinstance(d, CreateIndex) or d.name is None:
                named = False
                continue
            schema = d.name.schema or d.table.schema
            ident = sql.Identifier(schema, d.name.name) if schema else sql.Identifier(d.name.name)
            found = run_query(conn, "SELECT i.indisvalid FROM pg_catalog.pg_index i WHERE i.indexrelid = "
                                    "to_regclass(%s)", [ident.as_string(conn)])
            if found:
                left.append((ident.as_string(conn), bool(found[0][0])))
        conn.commit()
        if named and not left:
            if clear:
                journal.clear(conn, m)
                conn.commit()
            continue
        file = history.relative(m.path)
        at = statements[row.statement - 1] if 0 < row.statement <= len(statements) else None
        where = f"line {row.line}" if row.line is not None else f"statement {row.statement}"
        what = f" (statement {row.statement} of {row.statements}: `{at.summary}`)" if at is not None else ""
        shown = ", ".join(f"index {name}{'' if valid else ' (INVALID)'}" for name, valid in left) or \
            "what its statements did (sqlguard names only the indexes a statement creates)"
        version, name = migration_key(m)
        if named:
            clean = " ".join(f"DROP INDEX CONCURRENTLY IF EXISTS {n};" for n, _ in left)
            fix = f"clean up with `{clean}` and run apply again (the file starts over)"
        else:
            table = journal.identifier(conn).as_string(conn)
            fix = (f"undo what it did by hand, delete its row (`DELETE FROM {table} WHERE version = "
                   f"'{version}' AND name = '{name}'`) and run apply again (the file starts over)")
        raise SqlguardError(
            f"`{file}` was interrupted by an earlier run at {where}{what}: it runs outside a transaction, so what "
            f"came before took effect, and that statement may have; left behind: {shown}. To go on, "
            f"{fix}; or finish its statements from {where} by hand and record it with "
            f"`sqlguard baseline --env {env_name} --to {version}`")


def _result_for(history: History, m: Migration) -> MigrationResult:
    from sqlguard.live.status import migration_key

    version, name = migration_key(m)
    return MigrationResult(version, name, history.relative(m.path), migration_checksum(m, history.convention))


def _progress(progress: Progress | None, what: str, done: int, total: int) -> None:
    if progress is not None:
        progress(what, done, total)


def _quietly(action: Callable[[], Any]) -> None:
    # cleanup on a connection that may be gone; the error that matters is reported
    with contextlib.suppress(Exception):
        action()


class _Busy(SqlguardError):
    """Another `sqlguard apply` held the database's apply lock for longer than `apply.lock-wait`."""


# What the dry run's one transaction cannot try, though --execute (a transaction per migration) runs it.
_UNTRIABLE = {
    "55P04": ("uses an enum value that an earlier migration of this run adds (PostgreSQL allows that only once "
              "the adding transaction has committed; --execute commits each migration before the next)"),
    "2D000": ("commits inside a procedure or DO block, which cannot happen inside the dry run's transaction "
              "(--execute runs a transaction=off file outside one)"),
}


def _adds_enum_value(text: str, dialect: str) -> bool:
    """`ALTER TYPE … ADD VALUE`."""
    words = [t.upper for t in lex(text, dialect) if t.kind == "word"]
    return words[:2] == ["ALTER", "TYPE"] and "ADD" in words and "VALUE" in words


class _Failed(Exception):
    def __init__(self, message: str, line: int | None, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.sqlstate = sqlstate  # the server's error code, when the server refused a statement


class _Session:
    """One connection running migrations statement by statement, watching locks and timing."""

    def __init__(self, conn: Any, settings: Settings, progress: Progress | None, env_name: str) -> None:
        self.conn = conn
        self.settings = settings
        self.progress = progress
        self.env_name = env_name
        self.dialect = settings.dialect
        history_table = settings.apply.history.table.split(".")[-1]
        self.skip_relations = {history_table, JOURNAL_TABLE}
        self.enum_values_added = False  # by a migration this dry run tried
        # {file: SHA-256} of what the lint and the dry run checked (None: run what the files hold now)
        self.checked: Mapping[Path, str] | None = None

    # -- settings and locks --

    def set_timeouts(self, *, local: bool) -> None:
        with self.conn.cursor() as cur:
            for name, value in (("lock_timeout", self.settings.apply.lock_timeout),
                                ("statement_timeout", self.settings.apply.statement_timeout)):
                cur.execute("SELECT set_config(%s, %s, %s)", (name, value, local))

    def reset_session(self, *, local: bool) -> None:
        """Undo what a migration SET for the session (search_path, role…): the next one, and the history
        row, start from the connection's own settings, as each file does under psql. In a transaction
        the timeouts are set again (LOCAL) for what follows."""
        with self.conn.cursor() as cur:
            cur.execute("SET SESSION AUTHORIZATION DEFAULT")  # (RESET ALL leaves the role and the session user)
            cur.execute("RESET ROLE")
            cur.execute("RESET ALL")
        if local:
            self.set_timeouts(local=True)

    def end_trial(self) -> None:
        """After a migration tried in the dry run's transaction: check the deferred constraints as its
        COMMIT would (then give them back their own modes), and reset what it SET."""
        with self.conn.cursor() as cur:
            cur.execute("SAVEPOINT sqlguard_deferred")
            try:
                cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            except Exception:
                cur.execute("ROLLBACK TO SAVEPOINT sqlguard_deferred")
                raise
            cur.execute("ROLLBACK TO SAVEPOINT sqlguard_deferred")  # (the SET CONSTRAINTS goes with it)
            cur.execute("RELEASE SAVEPOINT sqlguard_deferred")
        self.reset_session(local=True)

    def advisory_lock(self, store: HistoryStore, wait: int) -> None:
        """Hold this database's apply lock for the session, waiting up to `wait` seconds for another run."""
        key = _lock_key(store.qualified_name(self.conn))
        deadline = time.monotonic() + wait
        told = False
        while True:
            with self.conn.cursor() as cur:
                cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                row = cur.fetchone()
            self.conn.commit()
            if row is not None and row[0]:
                return
            holder = self._lock_holder(key)
            if time.monotonic() >= deadline:
                raise _Busy(f"environment `{self.env_name}`: another sqlguard apply is migrating this "
                            f"database{holder}; it still ran after {wait} s (apply.lock-wait): try again "
                            "when it has finished")
            if not told:
                _progress(self.progress, f"{self.env_name}: another sqlguard apply is migrating this "
                                         f"database{holder}; waiting up to {wait} s", 0, 1)
                told = True
            time.sleep(0.25)

    def _lock_holder(self, key: int) -> str:
        with self.conn.cursor() as cur:
            cur.execute("SELECT a.pid, a.application_name, a.client_addr FROM pg_locks l "
                        "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                        "AND ((l.classid::bigint << 32) | l.objid::bigint) = %s", (key,))  # both signed
            row = cur.fetchone()
        self.conn.commit()
        return f" (server pid {row[0]}, `{row[1]}`)" if row else ""

    def _locks(self) -> set[tuple[str, str]]:
        with self.conn.cursor() as cur:
            cur.execute(_LOCKS)
            rows = cur.fetchall()
        return {(rel if schema == "public" else f"{schema}.{rel}", mode) for schema, rel, mode in rows
                if rel not in self.skip_relations}

    def _invalid_indexes(self) -> set[tuple[str, str]]:
        with self.conn.cursor() as cur:
            cur.execute(_INVALID_INDEXES)
            return {(str(a), str(b)) for a, b in cur.fetchall()}

    # -- statements --

    def _run(self, script: Script, *, in_transaction: bool, results: list[StatementResult] | None,
             before_each: Callable[[int, int, ScriptStatement], None] | None = None) -> list[str]:
        """Run the script's statements in order; the relation locks they hold at the end (in a transaction).

        A statement's locks are those new after it: a lock its transaction already holds (an earlier
        statement's, or in the dry run an earlier migration's) is held, not taken again, and not repeated.
        A statement that cannot run in a transaction block, in a script sqlguard wraps in one, fails the
        script before anything of it runs (the dry run says so too: it is what --execute would meet). In
        the dry run's transaction, a `transaction=off` script's such statements are tried without
        CONCURRENTLY, or not at all.
        """
        import psycopg

        statements = script.to_run(in_transaction)
        if script.wrapped:
            refused = next((s for s in statements if s.outside_transaction), None)
            if refused is not None:
                raise _Failed(f"`{refused.outside_transaction}` cannot run inside a transaction block, and sqlguard "
                              "runs this file in one: move it to a migration of its own marked "
                              "`-- sqlguard: transaction=off`", refused.line)
        held = start = self._locks() if in_transaction else set()
        for n, s in enumerate(statements, 1):
            if before_each is not None:
                before_each(n, len(statements), s)
            text, note = s.text, None
            if s.outside_transaction and in_transaction:
                if "CONCURRENTLY" not in s.outside_transaction:
                    if results is not None:
                        results.append(StatementResult(s.line, s.summary, 0.0, None, [], True,
                                                       f"not tried: {s.outside_transaction} cannot run in the "
                                                       "dry run's transaction"))
                    continue
                text = without_concurrently(s.text, self.dialect)
                note = "tried without CONCURRENTLY (the dry run is one transaction)"
            began = time.perf_counter()
            try:
                with self.conn.cursor() as cur:
                    cur.execute(text.encode("utf-8", errors="surrogateescape"))
                    rows = cur.rowcount if cur.rowcount >= 0 and _counts_rows(s) else None
            except psycopg.Error as err:
                raise _Failed(_error_text(err, s), s.line, getattr(err, "sqlstate", None)) from None
            ms = (time.perf_counter() - began) * 1000
            locks: list[str] = []
            if in_transaction:
                now = self._locks()
                locks = _strongest(now - held)
                held = now
            elif s.outside_transaction:
                note = f"{s.outside_transaction}: ran outside a transaction (its locks end with it)"
            if results is not None:
                results.append(StatementResult(s.line, s.summary, ms, rows, locks, bool(s.outside_transaction),
                                               note))
        return _strongest(held - start) if in_transaction else []

    def _scripts(self, m: Migration, history: History) -> tuple[Script, Script | None]:
        """What `m` and its rollback run, read once; refused when the bytes are not what was checked."""
        up, down = migration_scripts(m, history, self.settings)
        for script in (up, down):
            if script is None or self.checked is None:
                continue
            want = self.checked.get(script.path)
            if want != script.digest:
                why = "was not checked by this run" if want is None else "changed after this run checked it"
                raise _Failed(f"`{history.relative(script.path)}` {why} (lint and dry run): nothing of it ran; run "
                              "`sqlguard apply` again to check what it says now", None)
        return up, down

    def try_migration(self, m: Migration, mr: MigrationResult, history: History, check_rollback: bool) -> bool:
        """Dry run: run `m` in the open transaction (kept open for the next migration)."""
        import psycopg

        from sqlguard.live.introspect import introspect

        began = time.monotonic()
        up: Script | None = None
        try:
            up, down = self._scripts(m, history)
            mr.transactional = up.wrapped
            before = introspect(self.conn, objects=True)
            mr.locks = self._run(up, in_transaction=True, results=mr.statements)
            if any(_adds_enum_value(s.text, self.dialect) for s in up.statements):
                self.enum_values_added = True  # (a later migration may use them: see _UNTRIABLE)
            after = introspect(self.conn, objects=True)
            mr.changes = diff(before, after)
            if check_rollback:
                self._check_rollback(up, down, mr, before, after)
            self.end_trial()
            mr.status = "tried" if mr.error is None else "failed"  # a failed rollback check fails it
            return mr.error is None
        except (_Failed, psycopg.Error) as err:
            code = getattr(err, "sqlstate", None) or ""
            untriable = _UNTRIABLE.get(code)
            line = err.line if isinstance(err, _Failed) else None
            if code == "55P04" and not self.enum_values_added:
                untriable = None  # no earlier migration of this run added one: it fails at --execute too
            if code == "2D000" and (mr.transactional or up is None or up.inside_begin(line)):
                untriable = None  # (in a transaction at --execute too: the runner's, or the file's own BEGIN)
            if untriable is not None:
                mr.status, mr.error = "not run", untriable
            elif isinstance(err, _Failed):
                mr.status, mr.error, mr.error_line = "failed", str(err), err.line
            else:
                mr.status, mr.error = "failed", _error_text(err, None)
            return False
        finally:
            mr.ms = (time.monotonic() - began) * 1000

    def _check_rollback(self, up: Script, down: Script | None, mr: MigrationResult, before: Any,
                        after: Any) -> None:
        """Run the rollback, compare the schema with the one before the migration, run the migration again.

        In a transaction the round trip is undone afterwards (a savepoint): a rollback usually restores the
        schema, not the data, so running the migration again would leave its rows twice. Outside a
        transaction there is no savepoint: the migration really runs, is rolled back, and runs again.
        """
        from sqlguard.live.introspect import introspect

        if down is None:
            mr.rollback_check = "no rollback"
            mr.status, mr.error = "failed", "no rollback to check (add its rollback file)"
            return
        in_tx = self.conn.autocommit is False
        if in_tx:
            self.conn.execute("SAVEPOINT sqlguard_rollback_check")
        self._run(down, in_transaction=in_tx, results=None)
        back = introspect(self.conn, objects=True)
        mr.rollback_diff = diff(before, back)
        if mr.rollback_diff:
            mr.rollback_check = "differs"
            mr.status = "failed"
            mr.error = ("the rollback does not undo the migration: " +
                        "; ".join(c.describe() for c in mr.rollback_diff[:5]))
            return
        mr.rollback_check = "identical"
        self._run(up, in_transaction=in_tx, results=None)
        again = introspect(self.conn, objects=True)
        if diff(after, again):
            mr.status, mr.error = "failed", "running the migration again after its rollback gives another schema"
        elif in_tx:
            self.conn.execute("ROLLBACK TO SAVEPOINT sqlguard_rollback_check")  # back to the state after `up`
            self.conn.execute("RELEASE SAVEPOINT sqlguard_rollback_check")

    @contextlib.contextmanager
    def script_mode(self, script: Script) -> Iterator[list[str]]:
        """Run the body in the way `script` runs: inside a transaction (with SET LOCAL timeouts), or, for
        a file marked `transaction=off`, statement by statement with session timeouts. Leaving normally,
        the connection is back in transaction mode, so the caller records (or deletes) the history row
        and commits. On an error: rolled back, the INVALID indexes a failed CONCURRENTLY build left are
        dropped (their names fill the yielded list), and the error goes on."""
        conn = self.conn
        dropped: list[str] = []
        invalid_before: set[tuple[str, str]] = set()
        if script.wrapped:
            self.set_timeouts(local=True)
        else:
            conn.commit()
            conn.autocommit = True
            self.set_timeouts(local=False)
            invalid_before = self._invalid_indexes()
        try:
            yield dropped
        except BaseException:
            _quietly(conn.rollback)
            if not script.wrapped:
                dropped.extend(self._drop_invalid(invalid_before))
                _quietly(lambda: self.reset_session(local=False))
                _quietly(lambda: setattr(conn, "autocommit", False))
            raise
        self.reset_session(local=script.wrapped)  # (outside a transaction: the timeouts go too)
        if not script.wrapped:
            conn.autocommit = False

    def apply_migration(self, m: Migration, mr: MigrationResult, history: History, store: HistoryStore,
                        check_rollback: bool, backup_path: str | None) -> bool:
        """Execute: run `m` and record it, in one transaction when it can run in one."""
        import psycopg

        from sqlguard.live.introspect import introspect

        began = time.monotonic()
        dropped: list[str] = []
        try:
            up, down = self._scripts(m, history)
            mr.transactional = up.wrapped
            journal = Journal(store)
            if not up.wrapped:
                journal.ensure(self.conn)  # (before the schema is read: the table is no change of the migration)
                self.conn.commit()

            def progress(n: int, total: int, s: ScriptStatement) -> None:
                # (outside a transaction each statement commits alone: how far the file got is written first)
                journal.begin(self.conn, m, mr.checksum, n, total, s.line)

            with self.script_mode(up) as dropped:
                before = introspect(self.conn, objects=True)
                mr.locks = self._run(up, in_transaction=up.wrapped, results=mr.statements,
                                     before_each=None if up.wrapped else progress)
                after = introspect(self.conn, objects=True)
                mr.changes = diff(before, after)
                if check_rollback:
                    self._check_rollback(up, down, mr, before, after)
                    if mr.error is not None:
                        raise _Failed(mr.error, None)
            ms = int((time.monotonic() - began) * 1000)
            store.insert(self.conn, m, mr.checksum, duration_ms=ms, environment=self.env_name,
                         backup_path=backup_path)
            if not up.wrapped:
                journal.clear(self.conn, m)  # (in the history row's transaction)
            self.conn.commit()
            mr.status = "applied"
            return True
        except (_Failed, psycopg.Error, SqlguardError) as err:
            _quietly(self.conn.rollback)
            mr.status = "failed"
            mr.error = _error_text(err, None) if isinstance(err, psycopg.Error) else str(err)
            mr.error_line = err.line if isinstance(err, _Failed) else None
            mr.invalid_indexes_dropped = dropped
            return False
        finally:
            mr.ms = (time.monotonic() - began) * 1000

    def _drop_invalid(self, before: set[tuple[str, str]]) -> list[str]:
        """Drop the indexes a failed CONCURRENTLY build left INVALID (not those that were invalid before)."""
        from psycopg import sql

        dropped: list[str] = []
        try:
            self.conn.autocommit = True
            for schema, name in sorted(self._invalid_indexes() - before):
                self.conn.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(schema, name)))
                dropped.append(name if schema == "public" else f"{schema}.{name}")
        except Exception:  # reported as what was dropped so far; the migration's own error is the news
            pass
        return dropped


def migration_scripts(m: Migration, history: History, settings: Settings) -> tuple[Script, Script | None]:
    """What a migration runs, and what its rollback runs (None when it has none)."""
    def script(path: Path, section: str | None) -> Script:
        return read_script(path, section, settings.dialect, assume_in_transaction=settings.assume_in_transaction,
                           convention=history.convention)

    up = script(m.path, "up" if m.single_file else None)
    down = None
    if m.rollback is not None:
        down = script(m.rollback, "down" if m.single_file else None)
    elif m.single_file:
        down = script(m.path, "down")
        down = down if down.statements else None
    return up, down


def _counts_rows(s: ScriptStatement) -> bool:
    first = s.text.lstrip().split(None, 1)[0].upper() if s.text.strip() else ""
    return first in ("INSERT", "UPDATE", "DELETE", "MERGE", "WITH", "COPY", "SELECT")


def _strongest(locks: set[tuple[str, str]]) -> list[str]:
    best: dict[str, str] = {}
    for rel, mode in locks:
        if rel not in best or _rank(mode) > _rank(best[rel]):
            best[rel] = mode
    return [f"{mode} on {rel}" for rel, mode in sorted(best.items(), key=lambda kv: (-_rank(kv[1]), kv[0]))]


def _rank(mode: str) -> int:
    return _LOCK_RANK.index(mode) if mode in _LOCK_RANK else -1


def _lock_key(table: str) -> int:
    """The advisory lock key of `sqlguard apply` on one history table (a signed 64-bit integer)."""
    raw = int.from_bytes(hashlib.sha256(f"sqlguard apply:{table}".encode()).digest()[:8], "big")
    return raw - (1 << 64) if raw >= 1 << 63 else raw


def _connection_ended(err: Any) -> bool:
    """The server ended the session (shutdown, pg_terminate_backend, a crash) or the connection broke."""
    import psycopg

    sqlstate = getattr(err, "sqlstate", None) or ""
    return sqlstate in ("57P01", "57P02", "57P03") or sqlstate.startswith("08") or (
        not sqlstate and isinstance(err, psycopg.OperationalError))


def _error_text(err: Any, s: ScriptStatement | None) -> str:
    from sqlguard.live.connect import redact

    diag = getattr(err, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(err).strip().splitlines()[0]
    sqlstate = getattr(err, "sqlstate", None)
    if sqlstate == "55P03":
        primary = f"could not take a lock within lock_timeout: {primary}"
    elif sqlstate == "57014":
        primary = f"cancelled by statement_timeout: {primary}"
    elif _connection_ended(err):
        primary = (f"the connection to the server ended during this statement ({primary}): the server shut down "
                   "or the session was ended, which is no fault of the migration; what was not committed was "
                   "rolled back: run apply again once the server is back")
    where = f"line {s.line}: " if s is not None else ""
    return redact(f"{where}{primary}")
