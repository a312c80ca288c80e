"""PostgreSQL's table-level lock modes, and the one lock table: which lock each form of statement takes.

The modes and what conflicts with what are those of the docs' "Explicit Locking" chapter; which
statement takes which mode is PostgreSQL's own reckoning, `AlterTableGetLockLevel` in tablecmds.c
for ALTER TABLE (keyed here by the same subcommand names libpg_query gives, `AT_AddColumn` …) and
the utility commands' `table_open` / `RangeVarGetRelidExtended` calls for the rest. Every form in
`FORMS` is checked against `pg_locks` on a real server by tests/test_oracle_locks.py.

Messages name the lock, the table and what waits behind it, in the words of the docs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Lock:
    name: str  # as pg_locks names it: AccessExclusiveLock
    mode: str  # as the docs and LOCK TABLE name it: ACCESS EXCLUSIVE
    rank: int  # 1 (ACCESS SHARE) … 8 (ACCESS EXCLUSIVE), the lock manager's numbering
    blocks: str  # what waits behind it, for messages

    @property
    def blocks_writes(self) -> bool:
        """Whether INSERT, UPDATE and DELETE (ROW EXCLUSIVE) wait behind it."""
        return conflicts(self, ROW_EXCLUSIVE)

    @property
    def blocks_reads(self) -> bool:
        """Whether plain SELECTs (ACCESS SHARE) wait behind it."""
        return conflicts(self, ACCESS_SHARE)

    @property
    def article(self) -> str:
        """`an ACCESS EXCLUSIVE lock`, `a SHARE lock`."""
        return "an" if self.mode[0] in "AEIOU" else "a"


ACCESS_SHARE = Lock("AccessShareLock", "ACCESS SHARE", 1, "nothing but ACCESS EXCLUSIVE locks wait")
ROW_SHARE = Lock("RowShareLock", "ROW SHARE", 2, "EXCLUSIVE and ACCESS EXCLUSIVE locks wait")
ROW_EXCLUSIVE = Lock("RowExclusiveLock", "ROW EXCLUSIVE", 3, "schema changes that block writes wait")
SHARE_UPDATE_EXCLUSIVE = Lock("ShareUpdateExclusiveLock", "SHARE UPDATE EXCLUSIVE", 4,
                              "other schema changes and VACUUM of the table wait; reads and writes go on")
SHARE = Lock("ShareLock", "SHARE", 5, "every INSERT, UPDATE and DELETE on the table waits until it finishes")
SHARE_ROW_EXCLUSIVE = Lock("ShareRowExclusiveLock", "SHARE ROW EXCLUSIVE", 6,
                           "every INSERT, UPDATE and DELETE on the table waits until it finishes")
EXCLUSIVE = Lock("ExclusiveLock", "EXCLUSIVE", 7,
                 "every INSERT, UPDATE, DELETE and SELECT … FOR UPDATE on the table waits until it finishes")
ACCESS_EXCLUSIVE = Lock("AccessExclusiveLock", "ACCESS EXCLUSIVE", 8,
                        "every read and write of the table waits until it finishes")

# REINDEX: SHARE on the table, ACCESS EXCLUSIVE on each index while it is rebuilt (a message of its own).
REINDEX_LOCKS = Lock("ShareLock", "SHARE", 5,
                     "every write of the table waits until it finishes, and so does every read that would use one of "
                     "its indexes (each index is held in ACCESS EXCLUSIVE mode while it is rebuilt)")

MODES: dict[str, Lock] = {lock.mode: lock for lock in (ACCESS_SHARE, ROW_SHARE, ROW_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE,
                                                       SHARE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE, ACCESS_EXCLUSIVE)}
BY_NAME: dict[str, Lock] = {lock.name: lock for lock in MODES.values()}

# The docs' "Conflicting Lock Modes" table: for each mode, the modes it conflicts with (by rank).
_CONFLICTS: dict[int, frozenset[int]] = {
    1: frozenset({8}),
    2: frozenset({7, 8}),
    3: frozenset({5, 6, 7, 8}),
    4: frozenset({4, 5, 6, 7, 8}),
    5: frozenset({3, 4, 6, 7, 8}),
    6: frozenset({3, 4, 5, 6, 7, 8}),
    7: frozenset({2, 3, 4, 5, 6, 7, 8}),
    8: frozenset({1, 2, 3, 4, 5, 6, 7, 8}),
}


def conflicts(a: Lock, b: Lock) -> bool:
    return b.rank in _CONFLICTS[a.rank]


def strongest(*locks: Lock | None) -> Lock | None:
    """The strongest of the locks (None when there are none)."""
    found = [lock for lock in locks if lock is not None]
    return max(found, key=lambda lock: lock.rank) if found else None


def message(lock: Lock, table: str, doing: str) -> str:
    """`<doing> takes an ACCESS EXCLUSIVE lock on `users`: every read and write … finishes`."""
    return f"{doing} takes {lock.article} {lock.mode} lock on `{table}`: {lock.blocks}"


# --- the lock table ---------------------------------------------------------------------------

# ALTER TABLE subcommands (libpg_query's AlterTableType names), as AlterTableGetLockLevel decides.
# Those missing take ACCESS EXCLUSIVE; AT_AddConstraint and AT_SetRelOptions depend on what they add
# or set (`alter_table_lock`).
_ALTER_TABLE: dict[str, Lock] = {
    "AT_EnableTrig": SHARE_ROW_EXCLUSIVE, "AT_EnableAlwaysTrig": SHARE_ROW_EXCLUSIVE,
    "AT_EnableReplicaTrig": SHARE_ROW_EXCLUSIVE, "AT_EnableTrigAll": SHARE_ROW_EXCLUSIVE,
    "AT_EnableTrigUser": SHARE_ROW_EXCLUSIVE, "AT_DisableTrig": SHARE_ROW_EXCLUSIVE,
    "AT_DisableTrigAll": SHARE_ROW_EXCLUSIVE, "AT_DisableTrigUser": SHARE_ROW_EXCLUSIVE,
    "AT_SetStatistics": SHARE_UPDATE_EXCLUSIVE, "AT_ClusterOn": SHARE_UPDATE_EXCLUSIVE,
    "AT_DropCluster": SHARE_UPDATE_EXCLUSIVE, "AT_SetOptions": SHARE_UPDATE_EXCLUSIVE,
    "AT_ResetOptions": SHARE_UPDATE_EXCLUSIVE, "AT_ValidateConstraint": SHARE_UPDATE_EXCLUSIVE,
    # on the parent; ATTACH took ACCESS EXCLUSIVE on it before PostgreSQL 12 (FINALIZE is new in 14)
    "AT_AttachPartition": SHARE_UPDATE_EXCLUSIVE, "AT_DetachPartitionFinalize": SHARE_UPDATE_EXCLUSIVE,
}

# Storage parameters whose change takes only SHARE UPDATE EXCLUSIVE (reloptions.c, each option's
# `lockmode`; the same names for tables and indexes); any other (and any unknown) parameter takes ACCESS
# EXCLUSIVE, among them the indexes' `fastupdate`, `gin_pending_list_limit`, `buffering`,
# `pages_per_range` and `autosummarize` and the views' `security_barrier` and `check_option`.
_LIGHT_RELOPTIONS = frozenset({
    "fillfactor", "toast_tuple_target", "parallel_workers", "vacuum_index_cleanup", "vacuum_truncate",
    "deduplicate_items", "vacuum_cleanup_index_scale_factor",
    "log_autovacuum_min_duration", "autovacuum_enabled", "autovacuum_vacuum_threshold",
    "autovacuum_vacuum_insert_threshold", "autovacuum_vacuum_scale_factor",
    "autovacuum_vacuum_insert_scale_factor", "autovacuum_analyze_threshold", "autovacuum_analyze_scale_factor",
    "autovacuum_vacuum_cost_delay", "autovacuum_vacuum_cost_limit", "autovacuum_freeze_min_age",
    "autovacuum_freeze_max_age", "autovacuum_freeze_table_age", "autovacuum_multixact_freeze_min_age",
    "autovacuum_multixact_freeze_max_age", "autovacuum_multixact_freeze_table_age",
    "toast.autovacuum_enabled", "toast.autovacuum_vacuum_threshold", "toast.autovacuum_vacuum_scale_factor",
    "toast.autovacuum_vacuum_cost_delay", "toast.autovacuum_vacuum_cost_limit", "toast.autovacuum_freeze_min_age",
    "toast.autovacuum_freeze_max_age", "toast.autovacuum_freeze_table_age", "toast.log_autovacuum_min_duration",
    "toast.vacuum_index_cleanup", "toast.vacuum_truncate", "toast.autovacuum_vacuum_insert_threshold",
    "toast.autovacuum_vacuum_insert_scale_factor", "toast.autovacuum_multixact_freeze_min_age",
    "toast.autovacuum_multixact_freeze_max_age", "toast.autovacuum_multixact_freeze_table_age",
})


def alter_table_lock(subtype: str, constraint: str | None = None, options: tuple[str, ...] = (),
                     concurrent: bool = False) -> Lock:
    """The lock one ALTER TABLE subcommand takes on its table.

    `constraint`: for AT_AddConstraint, the kind added (`foreign key`, `check`, …); `options`: for
    AT_SetRelOptions / AT_ResetRelOptions, the storage parameters named; `concurrent`: DETACH
    PARTITION … CONCURRENTLY.
    """
    if subtype == "AT_AddConstraint":
        return SHARE_ROW_EXCLUSIVE if constraint == "foreign key" else ACCESS_EXCLUSIVE
    if subtype in ("AT_SetRelOptions", "AT_ResetRelOptions"):
        light = options and all(o.lower() in _LIGHT_RELOPTIONS for o in options)
        return SHARE_UPDATE_EXCLUSIVE if light else ACCESS_EXCLUSIVE
    if subtype == "AT_DetachPartition":
        return SHARE_UPDATE_EXCLUSIVE if concurrent else ACCESS_EXCLUSIVE
    return _ALTER_TABLE.get(subtype, ACCESS_EXCLUSIVE)


# Other statements: the lock a form of statement takes on a relation it names (`lock_of`'s keys; the
# typed reader writes the key in `RelationLock.form`). One statement may take several: a foreign key
# locks both tables, ATTACH / DETACH PARTITION the parent (its ALTER TABLE subcommand's lock) and the
# partition, CLUSTER … USING the table and the index. What a statement locks without naming it (DROP
# INDEX and REINDEX INDEX the index's table, DROP CONSTRAINT of a foreign key the referenced table) is
# for the rules to find in the replayed schema. Every entry is checked against `pg_locks` on
# PostgreSQL 15 by tests/test_oracle_locks.py; where older servers differ, the entry says so.
FORMS: dict[str, Lock] = {
    "CREATE INDEX": SHARE,
    "CREATE INDEX CONCURRENTLY": SHARE_UPDATE_EXCLUSIVE,
    "DROP INDEX": ACCESS_EXCLUSIVE,  # on the index's table as well as the index
    # on the index and its table while it waits for their users; its very last step takes ACCESS
    # EXCLUSIVE on the index, which by then no query opens (marked dead)
    "DROP INDEX CONCURRENTLY": SHARE_UPDATE_EXCLUSIVE,
    "REINDEX": SHARE,  # REINDEX TABLE: on the table; ACCESS EXCLUSIVE on each index while it is rebuilt
    "REINDEX INDEX": ACCESS_EXCLUSIVE,  # on the index (reads that would use it wait); SHARE on its table
    "REINDEX CONCURRENTLY": SHARE_UPDATE_EXCLUSIVE,  # on the table and each index
    "CLUSTER": ACCESS_EXCLUSIVE,  # the table, and the index of CLUSTER … USING
    "CLUSTER ON INDEX": SHARE_UPDATE_EXCLUSIVE,  # ALTER TABLE … CLUSTER ON: the index
    "VACUUM": SHARE_UPDATE_EXCLUSIVE,
    "VACUUM FULL": ACCESS_EXCLUSIVE,
    "ANALYZE": SHARE_UPDATE_EXCLUSIVE,
    "TRUNCATE": ACCESS_EXCLUSIVE,
    "DROP TABLE": ACCESS_EXCLUSIVE,
    "DROP FOREIGN TABLE": ACCESS_EXCLUSIVE,
    "DROP VIEW": ACCESS_EXCLUSIVE,
    "DROP MATERIALIZED VIEW": ACCESS_EXCLUSIVE,
    "DROP SEQUENCE": ACCESS_EXCLUSIVE,
    "CREATE TRIGGER": SHARE_ROW_EXCLUSIVE,
    "DROP TRIGGER": ACCESS_EXCLUSIVE,
    "ALTER TRIGGER": ACCESS_EXCLUSIVE,  # … RENAME TO
    "CREATE POLICY": ACCESS_EXCLUSIVE,
    "ALTER POLICY": ACCESS_EXCLUSIVE,  # and its RENAME TO
    "DROP POLICY": ACCESS_EXCLUSIVE,
    "CREATE RULE": ACCESS_EXCLUSIVE,
    "DROP RULE": ACCESS_EXCLUSIVE,
    # a table, view, materialized view, sequence, foreign table, column, constraint or rule (ALTER
    # TABLE spelled on an index: ACCESS EXCLUSIVE on the index too)
    "RENAME": ACCESS_EXCLUSIVE,
    # ALTER INDEX … RENAME: SHARE UPDATE EXCLUSIVE since PostgreSQL 12; ACCESS EXCLUSIVE before
    "RENAME INDEX": SHARE_UPDATE_EXCLUSIVE,
    "SET SCHEMA": ACCESS_EXCLUSIVE,
    "COMMENT": SHARE_UPDATE_EXCLUSIVE,  # on a table, view, index, sequence, or a column's table
    "COMMENT ON CONSTRAINT": ACCESS_SHARE,  # and on a trigger, rule or policy: their table is only read
    "REFRESH MATERIALIZED VIEW": ACCESS_EXCLUSIVE,
    "REFRESH MATERIALIZED VIEW CONCURRENTLY": EXCLUSIVE,
    "CREATE STATISTICS": SHARE_UPDATE_EXCLUSIVE,
    "CREATE OR REPLACE VIEW": ACCESS_EXCLUSIVE,
    "ALTER SEQUENCE": SHARE_ROW_EXCLUSIVE,
    "SEQUENCE OWNED BY": ACCESS_SHARE,  # the table of CREATE / ALTER SEQUENCE … OWNED BY
    "ATTACH PARTITION": ACCESS_EXCLUSIVE,  # on the partition (the parent takes SHARE UPDATE EXCLUSIVE)
    # on the partition; … CONCURRENTLY too: SHARE UPDATE EXCLUSIVE in its first transaction, ACCESS
    # EXCLUSIVE in its second, once the queries that planned with the partition have finished
    "DETACH PARTITION": ACCESS_EXCLUSIVE,
    "CREATE TABLE PARTITION OF": ACCESS_EXCLUSIVE,  # on the parent
    "CREATE TABLE INHERITS": SHARE_UPDATE_EXCLUSIVE,  # on each parent
    "CREATE TABLE LIKE": ACCESS_SHARE,
    "INHERIT": SHARE_UPDATE_EXCLUSIVE,  # ALTER TABLE … INHERIT: on the new parent
    "NO INHERIT": ACCESS_SHARE,  # ALTER TABLE … NO INHERIT: on the parent
    # ADD CONSTRAINT … USING INDEX: on the index, when it keeps its name (renamed to the constraint's
    # name it takes RENAME INDEX's)
    "CONSTRAINT USING INDEX": ACCESS_SHARE,
    "REPLICA IDENTITY USING INDEX": SHARE,  # on the index
    "CREATE FOREIGN KEY": SHARE_ROW_EXCLUSIVE,  # on the referenced table
    "INSERT": ROW_EXCLUSIVE,
    "UPDATE": ROW_EXCLUSIVE,
    "DELETE": ROW_EXCLUSIVE,
    "MERGE": ROW_EXCLUSIVE,
    "SELECT": ACCESS_SHARE,  # every table a statement reads
    "SELECT FOR UPDATE": ROW_SHARE,
}


def lock_of(form: str) -> Lock:
    """The lock a form of statement takes on the relation it names (a key of `FORMS`, or an ALTER
    TABLE subcommand's name such as `AT_AddColumn`)."""
    if form.startswith("AT_"):
        return alter_table_lock(form)
    return FORMS[form]
