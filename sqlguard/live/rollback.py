"""`sqlguard rollback`, `restore` and `baseline`: undo migrations, put a backup back, adopt a database.

rollback
    Runs the rollback files of the last applied migration (`--steps N`: the last N; `--to VERSION`:
    every one applied after VERSION; `--to 0`: all), newest first. "Applied" is what the history table
    records; "newest" is the history's order (the files' order), not `applied_at`, which a baseline
    or a runner that writes no timestamp leaves useless. Before anything changes, the whole selection
    is checked: every migration needs a rollback with statements, no recorded file may have changed
    (the rollback would undo something else than what ran), no recorded migration without a file may
    sort after the ones to undo. Then, holding `apply`'s advisory lock (so rollback and apply never run
    at once on a database), the history is read again, the database is backed up (a failed backup
    changes nothing), and each rollback runs in its own transaction with `lock_timeout` and
    `statement_timeout`, deleting its history row in that same transaction: a migration is recorded
    if and only if its rollback did not commit. A rollback file marked `-- sqlguard: transaction=off`
    runs statement by statement, then its row is deleted. The first failure stops the run.
    `--dry-run` runs the same rollbacks and deletes in one transaction that is rolled back (under the
    same lock, as apply's dry run).

restore
    Makes a database what a backup holds, atomically. `pg_restore --clean` alone drops and recreates
    only the objects the backup holds: a table created after the backup (by the migration being undone)
    would stay while its history row went. So the restore is one psql transaction: first every schema
    is emptied (`public` is kept with its owner, privileges and comment; the others are dropped), then
    the backup's script (`pg_restore --clean --if-exists --no-owner`) runs. It commits only when
    pg_restore produced the whole script and psql ran every statement; otherwise nothing changes.
    Before that, the current state is backed up, so a restore is itself undoable.

baseline
    Records every migration up to VERSION as applied without running it: how a database that was
    migrated by another tool (or by hand) starts being migrated by sqlguard.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlguard.config import Environment, Settings
from sqlguard.diagnostic import SqlguardError
from sqlguard.live.apply import (
    Progress,
    StatementResult,
    _error_text,
    _Failed,
    _progress,
    _quietly,
    _Session,
    migration_scripts,
    refuse_modified,
)
from sqlguard.live.backup import Archive, read_archive, restore_backup
from sqlguard.live.connect import target_of
from sqlguard.live.status import (
    HistoryStore,
    Journal,
    StatusEntry,
    StatusReport,
    classify,
    migration_checksum,
    migration_key,
)
from sqlguard.migrations.history import History, Migration
from sqlguard.migrations.script import Script

# --- shared ----------------------------------------------------------------------------------------

def _read_history(env: Environment, history: History, store: HistoryStore, conn: Any | None = None
                  ) -> StatusReport:
    """The environment's status (on `conn`, else on a read-only connection of its own)."""
    from sqlguard.live.connect import connect

    if conn is not None:
        report = classify(env.name, history, store.rows(conn), store)
        conn.commit()
        return report
    own = connect(env, application_name="sqlguard (plan)", read_only=True)
    try:
        return classify(env.name, history, store.rows(own), store)
    finally:
        own.close()


def _versions_match(given: str, version: str | None) -> bool:
    """`given` names `version`: the same text, or the same numbers (`7` is `0007`, `1.0` is not `1.1`)."""
    if version is None or version == "":
        return False
    if given == version:
        return True
    parts = _numbers(given)
    return bool(parts) and parts == _numbers(version)


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(d) for d in re.findall(r"\d+", version))


def _last_position(history: History, version: str, option: str) -> int:
    """The history position of the (last) migration whose version is `version`; refuses when none is."""
    found = [i for i, m in enumerate(history.migrations) if _versions_match(version, m.version)]
    if not found:
        versions = [m.version for m in history.migrations if m.version]
        span = f" (its versions run from {versions[0]} to {versions[-1]})" if versions else ""
        raise SqlguardError(f"{option} {version}: no migration of {history.folder} has that version{span}")
    return found[-1]


# --- rollback: results ------------------------------------------------------------------------------

@dataclass
class RollbackStep:
    version: str
    name: str
    file: str  # the migration, relative to the history's folder
    rollback_file: str  # what runs, relative to the history's folder
    status: str = "not run"  # rolled back | tried (dry run) | failed | not run
    ms: float = 0.0
    transactional: bool = True
    statements: list[StatementResult] = field(default_factory=list)
    error: str | None = None
    error_line: int | None = None  # in rollback_file
    note: str | None = None


@dataclass
class RollbackResult:
    mode: str  # dry-run | execute
    environment: str
    target: str
    folder: Path
    selection: str  # what was asked, in words
    steps: list[RollbackStep]
    backup: Any = None  # backup.Backup taken before the first change
    stopped: str | None = None
    nothing: str = "no migration is recorded as applied"  # why there is nothing to roll back

    @property
    def ok(self) -> bool:
        return self.stopped is None and all(s.status != "failed" for s in self.steps)


@dataclass(frozen=True)
class RollbackPlan:
    env: Environment
    target: str
    selection: str
    migrations: list[Migration]  # in the order they are rolled back: newest first
    rollbacks: list[Script]  # each one's rollback script
    nothing: str  # why there is nothing to roll back, when there is not

    def keys(self) -> list[tuple[str, str]]:
        return [migration_key(m) for m in self.migrations]


# --- rollback: plan ----------------------------------------------------------------------------------

def plan_rollback(settings: Settings, history: History, env: Environment, *, to: str | None = None,
                  steps: int | None = None, conn: Any | None = None) -> RollbackPlan:
    """What rolling back `env` means, checked; nothing is changed. Raises a one-line SqlguardError when the
    rollback must not run (no rollback file, a changed file, a version that names nothing…)."""
    if to is not None and steps is not None:
        raise SqlguardError("--to and --steps both say how far to roll back: give one of them")
    if steps is not None and steps < 1:
        raise SqlguardError(f"--steps {steps}: roll back at least one migration")
    store = HistoryStore(settings.apply.history)
    report = _read_history(env, history, store, conn)
    refuse_modified(report)
    # in the order they were applied (a migration applied out of order is the last one, not its file's
    # place), else the history's order; a `missing` row has no file to roll back with
    applied = sorted((e for e in report.applied if e.position is not None), key=lambda e: e.position or 0)
    if applied and all(e.applied_at is not None for e in applied):
        applied.sort(key=lambda e: (e.applied_at, e.position or 0))
    nothing = f"no migration of {history.folder} is recorded as applied"
    if to is not None:
        if to.strip() == "0":
            chosen, selection = applied, "every applied migration (--to 0)"
        else:
            cut = _last_position(history, to, "--to")
            chosen, selection = [e for e in applied if (e.position or 0) > cut], f"every migration after {to}"
            nothing = f"no migration after {to} is recorded as applied"
    else:
        n = steps or 1
        if 0 < len(applied) < n:
            raise SqlguardError(f"--steps {n}: `{env.name}` records only {len(applied)} applied migration(s) of "
                                f"{history.folder}")
        chosen = applied[max(len(applied) - n, 0):]
        selection = "the last applied migration" if n == 1 else f"the last {n} applied migrations"
    _refuse_missing_after(report, chosen, to, env.name, history)
    migrations = [history.migrations[e.position or 0] for e in reversed(chosen)]
    rollbacks = [_rollback_script(settings, history, m) for m in migrations]
    return RollbackPlan(env, target_of(env), selection, migrations, rollbacks, nothing)


def _rollback_script(settings: Settings, history: History, m: Migration) -> Script:
    _, down = migration_scripts(m, history, settings)
    file = history.relative(m.path)
    if down is None:
        raise SqlguardError(f"refusing to roll back: `{file}` has no rollback (write its rollback file, e.g. with "
                            f"`sqlguard rollback-gen {m.path}`); nothing was changed")
    if not down.statements:
        raise SqlguardError(f"refusing to roll back: the rollback of `{file}` ({history.relative(down.path)}) holds "
                            "no statement; write what undoes the migration (`SELECT 1;` when nothing needs "
                            "undoing); nothing was changed")
    return down


def _refuse_missing_after(report: StatusReport, chosen: list[StatusEntry], to: str | None, env_name: str,
                          history: History) -> None:
    """A recorded migration whose file is gone and whose version comes after what is rolled back: refuse,
    since the rollbacks would undo what it may build on, and it cannot be undone itself. (A row without
    a version, as a table keyed by file name keeps, cannot be placed: it does not stop anything.)"""
    if not report.missing:
        return
    if to is not None:
        cut = None if to.strip() == "0" else history.migrations[_last_position(history, to, "--to")].version
    elif chosen:
        cut = chosen[0].version
    else:
        return
    floor = _numbers(cut or "")
    if cut and not floor:
        return  # a version without numbers: nothing to compare the missing ones with
    for e in report.missing:
        parts = _numbers(e.version)
        if parts and parts > floor:
            raise SqlguardError(f"refusing to roll back: `{env_name}` records `{e.version}_{e.name}` as applied but "
                                "its file is gone, and it sorts after the migrations to roll back; restore the file "
                                "first")


# --- rollback: the runs ------------------------------------------------------------------------------

def _steps(history: History, plan: RollbackPlan) -> list[RollbackStep]:
    out: list[RollbackStep] = []
    for m, down in zip(plan.migrations, plan.rollbacks, strict=True):
        version, name = migration_key(m)
        out.append(RollbackStep(version, name, history.relative(m.path), history.relative(down.path),
                                transactional=down.wrapped))
    return out


def dry_run_rollback(settings: Settings, history: History, plan: RollbackPlan, *, to: str | None = None,
                     steps: int | None = None, progress: Progress | None = None) -> RollbackResult:
    """Run every rollback of the plan and delete its history row in one transaction, then roll it back.

    Holds the apply lock too, as apply's dry run does: a run changing the database meanwhile would make
    the trial meaningless."""
    import psycopg

    result = RollbackResult("dry-run", plan.env.name, plan.target, history.folder, plan.selection,
                            _steps(history, plan), nothing=plan.nothing)
    if not plan.migrations:
        return result
    application = "sqlguard rollback (dry run)"
    with _locked_session(settings, history, plan, to, steps, progress, application) as (session, store):
        conn = session.conn
        session.set_timeouts(local=True)
        for n, (m, down, step) in enumerate(zip(plan.migrations, plan.rollbacks, result.steps, strict=True)):
            _progress(progress, f"{plan.env.name}: trying the rollback of {step.file}", n, len(plan.migrations))
            began = time.monotonic()
            try:
                session._run(down, in_transaction=True, results=step.statements)
                session.end_trial()
                store.delete(conn, m)
                step.status = "tried"
            except (_Failed, psycopg.Error, SqlguardError) as err:
                _record_failure(step, err)
                result.stopped = f"the rollback of `{step.file}` failed in the dry run"
                break
            finally:
                step.ms = (time.monotonic() - began) * 1000
    return result


def execute_rollback(settings: Settings, history: History, plan: RollbackPlan, *, to: str | None = None,
                     steps: int | None = None, progress: Progress | None = None) -> RollbackResult:
    """Lock, check the plan still holds, back up, then roll back one migration per transaction.

    Raises SqlguardError (nothing changed) when the lock, the re-check or the backup fails; a failed
    rollback is reported in the result, with what was rolled back before it.
    """
    from sqlguard.live.backup import back_up

    result = RollbackResult("execute", plan.env.name, plan.target, history.folder, plan.selection,
                            _steps(history, plan), nothing=plan.nothing)
    if not plan.migrations:
        return result
    with _locked_session(settings, history, plan, to, steps, progress, "sqlguard rollback") as (session, store):
        _progress(progress, f"{plan.env.name}: backing up {plan.target}", 0, 1)
        try:
            result.backup = back_up(settings, plan.env)
        except SqlguardError as err:
            raise BackupFailed(f"{err}; nothing was rolled back") from None
        _progress(progress, f"{plan.env.name}: backup {result.backup.path.name} ({result.backup.size} bytes, "
                            "verified)", 1, 1)
        total = len(plan.migrations)
        for n, (m, down, step) in enumerate(zip(plan.migrations, plan.rollbacks, result.steps, strict=True)):
            _progress(progress, f"{plan.env.name}: rolling back {step.file}", n, total)
            if not _roll_back(session, store, m, down, step):
                result.stopped = f"the rollback of `{step.file}` failed; it stays applied and recorded"
                break
        else:
            _progress(progress, f"{plan.env.name}: rolled back {total} migration(s)", total, total)
    return result


@contextlib.contextmanager
def _locked_session(settings: Settings, history: History, plan: RollbackPlan, to: str | None, steps: int | None,
                    progress: Progress | None, application: str) -> Iterator[tuple[_Session, HistoryStore]]:
    """A session on the plan's database holding the apply lock, with the plan checked again under it;
    closed at the end (which ends the lock), after rolling back whatever is still open."""
    from sqlguard.live.connect import connect

    store = HistoryStore(settings.apply.history)
    conn = connect(plan.env, application_name=application)
    try:
        session = _Session(conn, settings, progress, plan.env.name)
        _lock_and_check(session, store, settings, history, plan, to, steps)
        yield session, store
    finally:
        _quietly(conn.rollback)
        conn.close()


def _lock_and_check(session: _Session, store: HistoryStore, settings: Settings, history: History,
                    plan: RollbackPlan, to: str | None, steps: int | None) -> None:
    """Take the apply lock, then check that the plan still holds: another run may have applied or rolled
    back migrations since it was read (and confirmed)."""
    session.advisory_lock(store, settings.apply.lock_wait)
    now = plan_rollback(settings, history, plan.env, to=to, steps=steps, conn=session.conn)
    if now.keys() != plan.keys():
        raise SqlguardError(f"the history of `{plan.env.name}` changed since the rollback was planned (another run "
                            "applied or rolled back migrations); nothing was changed: run the command again")


def _roll_back(session: _Session, store: HistoryStore, m: Migration, down: Script, step: RollbackStep) -> bool:
    """Run one rollback and delete its history row: in one transaction when the rollback runs in one."""
    import psycopg

    began = time.monotonic()
    dropped: list[str] = []
    try:
        with session.script_mode(down) as dropped:
            session._run(down, in_transaction=down.wrapped, results=step.statements)
        if store.delete(session.conn, m) == 0:  # (a wrapped rollback is undone with it)
            raise SqlguardError(f"`{step.file}` has no row in {store.label} any more: something else removed it "
                                "while this rollback ran")
        session.conn.commit()
        step.status = "rolled back"
        return True
    except (_Failed, psycopg.Error, SqlguardError) as err:
        _quietly(session.conn.rollback)
        _record_failure(step, err)
        if not down.wrapped:
            done = [s for s in step.statements if s.note is None or "not tried" not in s.note]
            notes = []
            if done:
                notes.append(f"{len(done)} statement(s) ran outside a transaction before the failure and stay done")
            if dropped:
                notes.append(f"dropped the INVALID index(es) the failed statement left: {', '.join(dropped)}")
            step.note = "; ".join(notes) or None
        return False
    finally:
        step.ms = (time.monotonic() - began) * 1000


def _record_failure(step: RollbackStep, err: Exception) -> None:
    import psycopg

    step.status = "failed"
    step.error = _error_text(err, None) if isinstance(err, psycopg.Error) else str(err)
    step.error_line = err.line if isinstance(err, _Failed) else None


# --- rollback: report --------------------------------------------------------------------------------

# --- restore -----------------------------------------------------------------------------------------

@dataclass
class RestoreResult:
    environment: str
    target: str
    archive: Archive
    safety: Any  # backup.Backup of the state before the restore
    seconds: float = 0.0


def restore(settings: Settings, env: Environment, path: Path, progress: Progress | None = None) -> RestoreResult:
    """Back up `env` as it is now, then make it exactly what the backup at `path` holds (one transaction)."""
    from sqlguard.live.backup import back_up
    from sqlguard.live.connect import connect, dsn_for

    archive = read_archive(path)
    target = target_of(env)
    store = HistoryStore(settings.apply.history)
    conn = connect(env, application_name="sqlguard restore")
    try:
        session = _Session(conn, settings, progress, env.name)
        session.advisory_lock(store, settings.apply.lock_wait)  # no apply or rollback while the restore runs
        _progress(progress, f"{env.name}: backing up {target} before the restore", 0, 2)
        try:
            safety = back_up(settings, env)
        except SqlguardError as err:
            raise BackupFailed(f"{err}; nothing was restored") from None
        _progress(progress, f"{env.name}: restoring {archive.path.name}", 1, 2)
        began = time.monotonic()
        try:
            restore_backup(dsn_for(env), archive.path, settings.apply.lock_timeout)
        except SqlguardError as err:
            raise RestoreFailed(f"{err}; the backup taken just before is {safety.path}") from None
        _progress(progress, f"{env.name}: restored {archive.path.name}", 2, 2)
    finally:
        _quietly(conn.rollback)
        conn.close()
    return RestoreResult(env.name, target, archive, safety, time.monotonic() - began)


class RestoreFailed(SqlguardError):
    """pg_restore or psql failed after the safety backup was taken: nothing was restored (exit 1)."""


class BackupFailed(SqlguardError):
    """The backup taken before a rollback or restore failed: nothing changed (exit 1, as in `apply`)."""


# --- baseline ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BaselineEntry:
    version: str
    name: str
    file: str
    checksum: str
    state: str  # marked | already recorded | modified (recorded, with another checksum)


@dataclass
class BaselineResult:
    environment: str
    target: str
    folder: Path
    version: str
    table: str
    entries: list[BaselineEntry]
    created_table: bool = False

    @property
    def marked(self) -> list[BaselineEntry]:
        return [e for e in self.entries if e.state == "marked"]


@dataclass(frozen=True)
class BaselinePlan:
    env: Environment
    target: str
    version: str
    migrations: list[Migration]  # every migration up to and including `version`, in order
    unrecorded: list[Migration]  # those of them the history table does not record


def plan_baseline(settings: Settings, history: History, env: Environment, version: str,
                  conn: Any | None = None) -> BaselinePlan:
    """Which migrations up to `version` a baseline would record; nothing is changed."""
    cut = _last_position(history, version, "--to")
    store = HistoryStore(settings.apply.history)
    report = _read_history(env, history, store, conn)
    recorded = {e.position for e in (*report.applied, *report.modified)}
    migrations = list(history.migrations[:cut + 1])
    unrecorded = [m for i, m in enumerate(migrations) if i not in recorded]
    return BaselinePlan(env, target_of(env), version, migrations, unrecorded)


def execute_baseline(settings: Settings, history: History, plan: BaselinePlan,
                     progress: Progress | None = None) -> BaselineResult:
    """Record the plan's unrecorded migrations as applied (one transaction), holding apply's lock."""
    from sqlguard.live.connect import connect

    store = HistoryStore(settings.apply.history)
    conn = connect(plan.env, application_name="sqlguard baseline")
    try:
        session = _Session(conn, settings, progress, plan.env.name)
        session.advisory_lock(store, settings.apply.lock_wait)
        created = not store.exists(conn)
        store.ensure(conn)
        conn.commit()
        report = classify(plan.env.name, history, store.rows(conn), store)  # read again under the lock
        states = {e.position: e.state for e in (*report.applied, *report.modified)}
        entries: list[BaselineEntry] = []
        for i, m in enumerate(plan.migrations):
            version, name = migration_key(m)
            digest = migration_checksum(m, history.convention)
            state = states.get(i)
            if state is None:
                store.insert(conn, m, digest, duration_ms=None, environment=plan.env.name, backup_path=None)
                Journal(store).clear(conn, m)  # (a migration finished by hand after an interrupted run)
                state = "marked"
            elif state == "applied":
                state = "already recorded"
            entries.append(BaselineEntry(version, name, history.relative(m.path), digest, state))
        conn.commit()
    finally:
        _quietly(conn.rollback)
        conn.close()
    return BaselineResult(plan.env.name, plan.target, history.folder, plan.version, store.label, entries, created)


