"""What the rules look up across a file's statements, computed once per file from their descriptions.

A check runs per statement; some need to look around: the ALTER TABLEs of a table earlier in the
file, whether a later statement drops it, the locks other statements of the same transaction hold,
which functions the file creates and how volatile they are. Without one index per file, a dump of
thousands of statements would be re-read for every statement that asks. Every fact here is derived
from the typed reader's descriptions and the one transaction state machine: nothing reads tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlguard.postgres.locks import Lock, strongest
from sqlguard.sql.ddl.model import AlterTable, CreateRoutine, Description, Drop, Name

if TYPE_CHECKING:
    from sqlguard.lint.rule import FileContext, StatementContext


def _bare(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower()


class FileFacts:
    def __init__(self, file: FileContext) -> None:
        self.file = file
        self.statements = file.statements
        self._alters: dict[str, list[tuple[int, AlterTable]]] | None = None
        self._drops: dict[str, list[int]] | None = None
        self._functions: dict[str, list[tuple[int, str]]] | None = None
        self._top: dict[str | None, list[int]] | None = None
        self._locks: dict[str, list[tuple[int, Lock]]] | None = None

    def ddl(self, i: int) -> Description:
        return self.file.ddl(i)

    def _runs(self, i: int) -> bool:
        s = self.statements[i]
        return s.kind == "sql" and s.context in ("top", "do")

    def alters(self, table: str) -> list[tuple[int, AlterTable]]:
        """The ALTER TABLE statements of `table` (top level and in DO blocks), in file order."""
        if self._alters is None:
            self._alters = {}
            for i, s in enumerate(self.statements):
                if self._runs(i) and s.keyword == "ALTER":
                    d = self.ddl(i)
                    if isinstance(d, AlterTable):
                        self._alters.setdefault(_bare(d.name.name), []).append((i, d))
        return self._alters.get(_bare(table), [])

    def dropped_after(self, i: int, table: str) -> bool:
        """Whether a DROP TABLE of `table` follows statement `i` in the same section."""
        if self._drops is None:
            self._drops = {}
            for k, s in enumerate(self.statements):
                if self._runs(k) and s.keyword == "DROP":
                    d = self.ddl(k)
                    if isinstance(d, Drop) and d.object == "table":
                        for n in d.names:
                            self._drops.setdefault(_bare(n.name), []).append(k)
        section = self.statements[i].section
        return any(k > i and self.statements[k].section == section for k in self._drops.get(_bare(table), ()))

    def volatility(self, fn: str, before: int) -> str | None:
        """VOLATILE / STABLE / IMMUTABLE of a function this file creates before statement `before` (None: it
        does not create one of that name)."""
        if self._functions is None:
            self._functions = {}
            for k, s in enumerate(self.statements):
                if s.context == "top" and s.kind == "sql" and s.keyword == "CREATE":
                    d = self.ddl(k)
                    if isinstance(d, CreateRoutine):
                        self._functions.setdefault(d.name.name.lower(), []).append((k, d.volatility))
        found = None
        for k, declared in self._functions.get(fn.lower(), ()):
            if k < before:
                found = declared
        return found

    def alone(self, i: int) -> bool:
        """Whether statement `i` is the only top-level SQL statement of its file (or section)."""
        if self._top is None:
            self._top = {}
            for k, s in enumerate(self.statements):
                if s.kind == "sql" and s.context == "top":
                    self._top.setdefault(s.section, []).append(k)
        same = self._top.get(self.statements[i].section, [])
        return same == [i]

    def held_in_transaction(self, i: int, table: str, before: bool = False) -> Lock | None:
        """The strongest lock other statements of statement `i`'s transaction take on `table` (with
        `before`, only those that run before `i`, whose locks it waits behind)."""
        txs = self.file.transactions
        if txs is None or not txs.of(i).open:
            return None
        if self._locks is None:
            self._locks = {}
            for k, s in enumerate(self.statements):
                if not self._runs(k) or s.keyword not in _LOCKING:
                    continue
                for rl in self.ddl(k).locks:
                    if rl.relkind != "index":
                        self._locks.setdefault(_bare(rl.relation.name), []).append((k, rl.lock))
        held: Lock | None = None
        for k, lock in self._locks.get(_bare(table), ()):
            if k == i or (before and k > i) or not txs.same_block(i, k):
                continue
            held = strongest(held, lock)
        return held

    def index_table(self, i: int, index: Name) -> str | None:
        """The table of an index a statement names: from that statement's own effect in the replay (a DROP
        INDEX), else from the schema as the replay knows it. None when unknown."""
        state = self.file.state
        if state is None:
            return None
        span = self.statements[i].span
        bare = index.name
        for e in state.effects:
            if e.kind == "drop index" and e.span == span and e.target.rsplit(".", 1)[-1] == bare:
                return str(e.before.table)
        idx = state.index_of(index.name, index.schema)
        return idx.table if idx is not None else None


# Statements that can lock a table (the others are not described for this index).
_LOCKING = frozenset({"ALTER", "DROP", "TRUNCATE", "LOCK", "CLUSTER", "VACUUM", "REINDEX", "CREATE", "REFRESH",
                      "COMMENT", "INSERT", "UPDATE", "DELETE", "MERGE"})


def facts(file: FileContext) -> FileFacts:
    """The file's facts, built once per file and kept on its context."""
    found = file.memo.get("facts")
    if not isinstance(found, FileFacts) or found.statements is not file.statements:
        found = FileFacts(file)
        file.memo["facts"] = found
    return found


# --- running outside a transaction ----------------------------------------------------------------------

def runner_runs_alone(ctx: StatementContext) -> bool:
    """The file is wrapped only by its convention's runner, which runs a lone statement outside one."""
    from sqlguard.migrations.files import LONE_STATEMENT_RUNNERS
    from sqlguard.sql.directives import transaction_directive

    f = ctx.file
    if ctx.stmt.context != "top" or not f.wraps(ctx.stmt.section) or f.migration is None:
        return False
    if f.migration.convention not in LONE_STATEMENT_RUNNERS or f.settings.assume_in_transaction is not None:
        return False
    if transaction_directive(f.text, ctx.stmt.section) is not None:
        return False  # the file says how it runs
    return facts(f).alone(ctx.index)


def concurrently_allowed(ctx: StatementContext) -> bool:
    """Whether `… CONCURRENTLY` can run where this statement stands (outside any transaction)."""
    return not ctx.in_transaction or runner_runs_alone(ctx)


def outside_transaction(ctx: StatementContext, statement: str) -> str:
    """Help: how to run `statement` outside the transaction block it stands in."""
    from sqlguard.migrations.files import LABELS, LONE_STATEMENT_RUNNERS, no_transaction_howto
    from sqlguard.sql.directives import transaction_directive

    f = ctx.file
    convention = f.migration.convention if f.migration is not None else None
    howto = no_transaction_howto(convention, ctx.stmt.section)
    tx = ctx.tx
    kind = tx.kind if tx is not None else "runner"
    if ctx.stmt.context != "top":
        if kind == "do":  # the DO block itself commits on its own
            return f"Take it out of the DO block and run `{statement}` as a statement of its own."
        return f"Take it out of the DO block into a migration of its own as `{statement}`, marked {howto}."
    if kind == "explicit" and not f.wraps(ctx.stmt.section):
        return f"Run `{statement}` after the `COMMIT`, outside the transaction."
    if (convention in LONE_STATEMENT_RUNNERS and f.settings.assume_in_transaction is None
            and transaction_directive(f.text, ctx.stmt.section) is None):
        return (f"Move `{statement}` to a migration of its own: {LABELS[convention]} runs a migration of one "
                "statement outside a transaction.")
    if facts(f).alone(ctx.index):
        return f"Mark this migration {howto} so that `{statement}` runs outside a transaction."
    return f"Move `{statement}` to a migration of its own, marked {howto}."

