"""Reading PostgreSQL DDL from lexemes for the lock and rewrite rules SG50–SG54.

sqlglot keeps several of these statements opaque (`VALIDATE CONSTRAINT`, `REINDEX … CONCURRENTLY`,
`DROP INDEX a, b`), so the rules read the token stream: an `ALTER TABLE` split into its actions,
`CREATE INDEX` / `DROP INDEX` with their names, and which transaction each statement runs in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

from sqlguard.lint.rule import FileContext, StatementContext
from sqlguard.migrations.files import LABELS
from sqlguard.rules._drops import drop_sites
from sqlguard.rules._pg import (
    ACCESS_EXCLUSIVE,
    SHARE,
    SHARE_ROW_EXCLUSIVE,
    SHARE_UPDATE_EXCLUSIVE,
    Lock,
    alter_table_target,
)
from sqlguard.sql.lex import Lexeme, lex
from sqlguard.sql.split import Statement

_NAME_KINDS = ("word", "quoted")


def ident(t: Lexeme) -> str:
    """A name lexeme as SQL: quoted names stay quoted, so help texts can be pasted back."""
    if t.kind == "quoted":
        return '"' + t.value.replace('"', '""') + '"'
    return t.value


def qualified(toks: list[Lexeme], i: int) -> tuple[list[Lexeme], int]:
    """The parts of a (possibly schema-qualified) name starting at `i`, and the index after it."""
    if i >= len(toks) or toks[i].kind not in _NAME_KINDS:
        return [], i
    parts = [toks[i]]
    i += 1
    while i + 1 < len(toks) and toks[i].value == "." and toks[i + 1].kind in _NAME_KINDS:
        parts.append(toks[i + 1])
        i += 2
    return parts, i


def sql_name(parts: list[Lexeme] | tuple[Lexeme, ...]) -> str:
    return ".".join(ident(p) for p in parts)


def written(ctx: StatementContext, first: Lexeme, last: Lexeme | None = None) -> str:
    """A name (or any stretch of lexemes) exactly as the file has it, template placeholders included.

    (The lexemes come from the scan text, where `{{ … }}` placeholders are masked.)
    """
    return " ".join(ctx.source(ctx.cover(first, last or first)).split())


def written_name(ctx: StatementContext, parts: list[Lexeme] | tuple[Lexeme, ...]) -> str:
    return written(ctx, parts[0], parts[-1])


def new_relation(ctx: StatementContext, name: str) -> bool:
    """A table or materialized view created earlier in this file: locking it blocks nobody."""
    return ctx.file.created_here(name.rsplit(".", 1)[-1], views=True)


# --- ALTER TABLE --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Action:
    """One comma-separated action of an ALTER TABLE (its depth-0 and nested lexemes)."""

    toks: tuple[Lexeme, ...]

    @property
    def first(self) -> Lexeme:
        return self.toks[0]

    @property
    def last(self) -> Lexeme:
        return self.toks[-1]

    def words(self, n: int = 3) -> list[str]:
        return [t.upper for t in self.toks[:n]]

    def top(self) -> list[Lexeme]:
        """The lexemes outside parentheses."""
        return [t for t in self.toks if t.depth == 0 and t.value not in ("(", ")")]

    def has_pair(self, a: str, b: str) -> bool:
        top = self.top()
        return any(x.upper == a and y.upper == b for x, y in pairwise(top))


@dataclass(frozen=True)
class AlterTable:
    name: tuple[Lexeme, ...]  # the table's name parts (schema, table)
    actions: tuple[Action, ...]

    @property
    def table(self) -> Lexeme:
        return self.name[-1]


def alter_existing_table(ctx: StatementContext) -> AlterTable | None:
    """A migration's `ALTER TABLE` of a table that is already in use (not one this file created)."""
    if ctx.dialect != "postgres" or ctx.stmt.context == "function" or ctx.stmt.keyword != "ALTER":
        return None
    parsed = alter_table(ctx.lexemes)
    if parsed is None or new_relation(ctx, parsed.table.value):
        return None  # not an ALTER TABLE, or a table created in this file: not in use yet
    return parsed


def alter_table(toks: list[Lexeme]) -> AlterTable | None:
    """`ALTER TABLE [IF EXISTS] [ONLY] name action, action …` split into its actions."""
    last, after = alter_table_target(toks)
    if last is None:
        return None
    k = toks.index(last)
    first = k
    while first >= 2 and toks[first - 1].value == "." and toks[first - 2].kind in _NAME_KINDS:
        first -= 2
    name = tuple(toks[first:k + 1:2])
    rest = toks[after:]
    if rest and rest[0].value == "*":  # ALTER TABLE name * … (descendants, the default)
        rest = rest[1:]
    actions: list[Action] = []
    current: list[Lexeme] = []
    for t in rest:
        if t.value == "," and t.depth == 0:
            if current:
                actions.append(Action(tuple(current)))
            current = []
            continue
        current.append(t)
    if current:
        actions.append(Action(tuple(current)))
    return AlterTable(name, tuple(actions))


_CONSTRAINT_KINDS = {"CHECK", "FOREIGN", "UNIQUE", "PRIMARY", "EXCLUDE"}


@dataclass(frozen=True)
class AddConstraint:
    action: Action
    kind: str  # CHECK | FOREIGN | UNIQUE | PRIMARY | EXCLUDE (| NOT for PostgreSQL 18's NOT NULL)
    name: Lexeme | None
    not_valid: bool
    columns: tuple[Lexeme, ...] = ()  # FOREIGN KEY (columns)
    references: tuple[Lexeme, ...] = ()  # the referenced table's name parts
    body: tuple[Lexeme, ...] = ()  # CHECK (body)


def add_constraint(action: Action) -> AddConstraint | None:
    toks = list(action.toks)
    if len(toks) < 2 or toks[0].upper != "ADD":
        return None
    i = 1
    name = None
    if toks[i].upper == "CONSTRAINT":
        if i + 1 >= len(toks):
            return None
        name = toks[i + 1]
        i += 2
    if i >= len(toks) or toks[i].upper not in _CONSTRAINT_KINDS | ({"NOT"} if name is not None else set()):
        return None
    kind = toks[i].upper
    not_valid = action.has_pair("NOT", "VALID")
    columns: tuple[Lexeme, ...] = ()
    references: tuple[Lexeme, ...] = ()
    body: tuple[Lexeme, ...] = ()
    if kind == "FOREIGN":
        j = i + 1
        if j < len(toks) and toks[j].upper == "KEY":
            j += 1
        group = _group(toks, j)
        columns = tuple(t for t in group if t.kind in _NAME_KINDS)
        r = next((k for k, t in enumerate(toks) if t.upper == "REFERENCES" and t.depth == 0), None)
        if r is not None:
            references = tuple(qualified(toks, r + 1)[0])
    elif kind == "CHECK":
        body = tuple(_group(toks, i + 1))
    return AddConstraint(action, kind, name, not_valid, columns, references, body)


def _group(toks: list[Lexeme], j: int) -> list[Lexeme]:
    """The lexemes inside the parenthesis opening at `j` (empty when there is none)."""
    if j >= len(toks) or toks[j].value != "(":
        return []
    depth = toks[j].depth
    out = []
    for t in toks[j + 1:]:
        if t.value == ")" and t.depth == depth:
            break
        out.append(t)
    return out


# Words that end a column definition's DEFAULT expression (the next column constraint).
_COLUMN_CONSTRAINT_WORDS = {"NOT", "NULL", "CONSTRAINT", "CHECK", "UNIQUE", "PRIMARY", "REFERENCES", "GENERATED",
                            "COLLATE", "DEFERRABLE", "INITIALLY", "COMPRESSION", "STORAGE"}


@dataclass(frozen=True)
class AddColumn:
    action: Action
    name: Lexeme
    type: tuple[Lexeme, ...]  # the type's lexemes (up to the first constraint)
    not_null: bool
    primary_key: bool
    default: tuple[Lexeme, ...] | None  # the DEFAULT expression's lexemes
    default_kw: Lexeme | None
    references: tuple[Lexeme, ...] = ()  # referenced table's name parts
    generated_stored: Lexeme | None = None  # the GENERATED of `GENERATED ALWAYS AS (…) STORED`
    identity: Lexeme | None = None  # the GENERATED of `GENERATED … AS IDENTITY`

    @property
    def serial(self) -> str | None:
        if len(self.type) == 1 and self.type[0].kind == "word" and self.type[0].value.lower() in SERIAL_TYPES:
            return self.type[0].value
        return None


SERIAL_TYPES = {"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"}


def add_column(action: Action) -> AddColumn | None:
    toks = list(action.toks)
    if len(toks) < 2 or toks[0].upper != "ADD":
        return None
    i = 1
    if toks[i].upper == "COLUMN":
        i += 1
    elif toks[i].upper in _CONSTRAINT_KINDS or toks[i].upper == "CONSTRAINT":
        return None
    if i + 2 < len(toks) and toks[i].upper == "IF" and toks[i + 1].upper == "NOT" and toks[i + 2].upper == "EXISTS":
        i += 3
    if i >= len(toks) or toks[i].kind not in _NAME_KINDS:
        return None
    name = toks[i]
    i += 1
    type_start = i
    while i < len(toks) and not (toks[i].depth == 0 and toks[i].upper in _COLUMN_CONSTRAINT_WORDS | {"DEFAULT"}):
        i += 1
    type_toks = tuple(toks[type_start:i])
    rest = toks[i:]
    top = [t for t in rest if t.depth == 0]
    not_null = any(a.upper == "NOT" and b.upper == "NULL" for a, b in pairwise(top))
    primary_key = any(a.upper == "PRIMARY" and b.upper == "KEY" for a, b in pairwise(top))
    default: tuple[Lexeme, ...] | None = None
    default_kw = None
    for k, t in enumerate(rest):
        if t.depth == 0 and t.upper == "DEFAULT":
            default_kw = t
            j = k + 1
            while j < len(rest) and not (rest[j].depth == 0 and rest[j].upper in _COLUMN_CONSTRAINT_WORDS
                                         and not (rest[j].upper == "NULL" and j == k + 1)):
                j += 1
            default = tuple(rest[k + 1:j])
            break
    references: tuple[Lexeme, ...] = ()
    r = next((k for k, t in enumerate(rest) if t.upper == "REFERENCES" and t.depth == 0), None)
    if r is not None:
        references = tuple(qualified(rest, r + 1)[0])
    stored = identity = None
    for k, t in enumerate(top):
        if t.upper == "GENERATED":
            tail = [x.upper for x in top[k + 1:k + 6]]
            if "IDENTITY" in tail:
                identity = t
            elif "STORED" in [x.upper for x in top[k + 1:]]:
                stored = t
    return AddColumn(action, name, type_toks, not_null, primary_key, default, default_kw, references, stored,
                     identity)


def validate_constraint(action: Action) -> Lexeme | None:
    """The constraint name of a `VALIDATE CONSTRAINT name` action."""
    toks = action.toks
    if len(toks) >= 3 and toks[0].upper == "VALIDATE" and toks[1].upper == "CONSTRAINT":
        return toks[2]
    return None


def set_not_null(action: Action) -> Lexeme | None:
    """The column of an `ALTER [COLUMN] c SET NOT NULL` action."""
    toks = action.toks
    i = 1
    if len(toks) > 1 and toks[0].upper == "ALTER" and toks[1].upper == "COLUMN":
        i = 2
    if (len(toks) == i + 4 and toks[0].upper == "ALTER" and toks[i].kind in _NAME_KINDS
            and [t.upper for t in toks[i + 1:]] == ["SET", "NOT", "NULL"]):
        return toks[i]
    return None


def is_not_null_check(body: tuple[Lexeme, ...] | list[Lexeme], column: str) -> bool:
    """Whether a CHECK body is exactly `column IS NOT NULL` (in any number of parentheses)."""
    toks = [t for t in body if t.value not in ("(", ")")]
    return (len(toks) == 4 and toks[0].kind in _NAME_KINDS and toks[0].name == column
            and [t.upper for t in toks[1:]] == ["IS", "NOT", "NULL"])


# --- the lock an ALTER TABLE takes ------------------------------------------------------------------

_RANK = {SHARE_UPDATE_EXCLUSIVE.mode: 1, SHARE.mode: 2, SHARE_ROW_EXCLUSIVE.mode: 3, ACCESS_EXCLUSIVE.mode: 4}


def strongest(a: Lock, b: Lock) -> Lock:
    return a if _RANK[a.mode] >= _RANK[b.mode] else b


def action_lock(action: Action) -> Lock:
    """The table lock one ALTER TABLE action takes (AlterTableGetLockLevel in tablecmds.c)."""
    con = add_constraint(action)
    if con is not None and con.kind == "FOREIGN":
        return SHARE_ROW_EXCLUSIVE
    if validate_constraint(action) is not None:
        return SHARE_UPDATE_EXCLUSIVE
    top = [t.upper for t in action.top()]
    if top[:1] in (["ENABLE"], ["DISABLE"]) and "TRIGGER" in top[:3]:
        return SHARE_ROW_EXCLUSIVE
    if (top[:1] in (["SET"], ["RESET"]) and len(action.toks) > 1 and action.toks[1].value == "(") or \
            top[:2] in (["CLUSTER", "ON"], ["SET", "WITHOUT"], ["ATTACH", "PARTITION"]) or \
            (top[:2] == ["DETACH", "PARTITION"] and top[-1:] == ["CONCURRENTLY"]) or \
            (top[:1] == ["ALTER"] and "STATISTICS" in top):
        return SHARE_UPDATE_EXCLUSIVE
    return ACCESS_EXCLUSIVE


def statement_lock(parsed: AlterTable) -> Lock:
    """The strongest lock of the statement's actions (an ALTER TABLE holds it until commit)."""
    lock = SHARE_UPDATE_EXCLUSIVE
    for action in parsed.actions:
        lock = strongest(lock, action_lock(action))
    return lock


# --- CREATE INDEX / DROP INDEX --------------------------------------------------------------------

@dataclass(frozen=True)
class IndexStatement:
    verb: str  # CREATE | DROP
    index_kw: Lexeme  # the INDEX keyword (CONCURRENTLY goes right after it)
    concurrently: Lexeme | None
    names: tuple[tuple[Lexeme, ...], ...]  # the index names' parts (CREATE: none or one)
    table: tuple[Lexeme, ...] = ()  # CREATE: the table's name parts
    only: bool = False  # CREATE INDEX … ON ONLY a partitioned table's parent
    cascade: bool = False
    unique: bool = False


def index_statement(toks: list[Lexeme]) -> IndexStatement | None:
    """`CREATE [UNIQUE] INDEX …` or `DROP INDEX …`, from lexemes."""
    if len(toks) < 3 or toks[0].kind != "word":
        return None
    verb = toks[0].upper
    i = 1
    unique = False
    if verb == "CREATE" and toks[i].upper == "UNIQUE":
        unique = True
        i += 1
    if verb not in ("CREATE", "DROP") or i >= len(toks) or toks[i].upper != "INDEX":
        return None
    index_kw = toks[i]
    i += 1
    concurrently = None
    if i < len(toks) and toks[i].upper == "CONCURRENTLY":
        concurrently = toks[i]
        i += 1
    if verb == "DROP":
        if i + 1 < len(toks) and toks[i].upper == "IF" and toks[i + 1].upper == "EXISTS":
            i += 2
        names: list[tuple[Lexeme, ...]] = []
        while True:
            parts, i = qualified(toks, i)
            if not parts or parts[0].upper in ("CASCADE", "RESTRICT"):
                break
            names.append(tuple(parts))
            if i < len(toks) and toks[i].value == ",":
                i += 1
                continue
            break
        cascade = any(t.upper == "CASCADE" and t.depth == 0 for t in toks[i:])
        return IndexStatement(verb, index_kw, concurrently, tuple(names), cascade=cascade) if names else None
    if i + 2 < len(toks) and toks[i].upper == "IF" and toks[i + 1].upper == "NOT" and toks[i + 2].upper == "EXISTS":
        i += 3
    name: tuple[tuple[Lexeme, ...], ...] = ()
    if i < len(toks) and toks[i].upper != "ON":
        parts, i = qualified(toks, i)
        name = (tuple(parts),) if parts else ()
    if i >= len(toks) or toks[i].upper != "ON":
        return None
    i += 1
    only = i < len(toks) and toks[i].upper == "ONLY"
    if only:
        i += 1
    table, _ = qualified(toks, i)
    if not table:
        return None
    return IndexStatement(verb, index_kw, concurrently, name, tuple(table), only, unique=unique)


# --- the statements of this file -----------------------------------------------------------------

def alter_statements(ctx: StatementContext, before: Statement, table: str) -> Iterator[tuple[Statement, AlterTable]]:
    """The ALTER TABLE statements of this file (top level and in DO blocks) on `table` before `before`."""
    f = facts(ctx.file)
    end = f.position.get(id(before), len(f.statements))
    for pos, stmt, parsed in f.alters().get(table.lower(), ()):
        if pos >= end:
            return
        yield stmt, parsed


@dataclass(frozen=True)
class Tx:
    """The transaction a statement runs in."""

    kind: str  # "runner" (the file is wrapped) | "explicit" (BEGIN … COMMIT) | "do" | "none" (autocommit)
    block: int  # statements with the same block commit together
    begin: Statement | None = None  # the BEGIN of an explicit block


def transactions(file: FileContext) -> dict[int, Tx]:
    """The transaction of every statement of the file, keyed by `id(statement)` (the one state machine's)."""
    out: dict[int, Tx] = {}
    txs = file.transactions
    if txs is None:
        return out
    for i, stmt in enumerate(file.statements):
        tx = txs.of(i)
        kind = "none" if tx.kind == "function" else tx.kind
        out[id(stmt)] = Tx(kind, tx.block, file.statements[tx.begin] if tx.begin is not None else None)
    return out


_DIRECTIVE = re.compile(r"--\s*sqlguard:\s*transaction\s*=", re.I)
# Runners that run a migration of one CONCURRENTLY statement outside a transaction by themselves:
# Flyway detects CONCURRENTLY and runs such a migration non-transactionally. (golang-migrate sends
# a file as one query string, which PostgreSQL runs as one implicit transaction only when it holds
# several statements; but pop and maragudk/migrate, which read the same `.up.sql` files, wrap every
# migration in a transaction, so a lone statement there is not taken on trust.)
_LONE_STATEMENT_RUNNERS = ("flyway",)


def concurrently_allowed(ctx: StatementContext) -> bool:
    """Whether `… CONCURRENTLY` can run where this statement stands (outside any transaction)."""
    if not ctx.in_transaction:
        return True
    return runner_runs_alone(ctx)


def runner_runs_alone(ctx: StatementContext) -> bool:
    """The file is wrapped only by its convention's runner, which runs a lone statement outside one."""
    f = ctx.file
    if ctx.stmt.context != "top" or not f.wraps(ctx.stmt.section) or f.migration is None:
        return False
    if f.migration.convention not in _LONE_STATEMENT_RUNNERS or f.settings.assume_in_transaction is not None:
        return False
    if _DIRECTIVE.search(f.text[:20000]):
        return False  # the file says how it runs
    return facts(f).alone(ctx.stmt)


def no_transaction_howto(ctx: StatementContext) -> str:
    """How to make this file's migration run outside a transaction, for its runner."""
    convention = ctx.file.migration.convention if ctx.file.migration is not None else None
    if convention == "dbmate":
        return f"`-- migrate:{'down' if ctx.stmt.section == 'down' else 'up'} transaction:false`"
    if convention == "goose":
        return "`-- +goose NO TRANSACTION`"
    return "`-- sqlguard: transaction=off` (and your runner's setting for it)"


def outside_transaction(ctx: StatementContext, statement: str) -> str:
    """Help: how to run `statement` (a CONCURRENTLY form) outside the transaction it stands in."""
    tx = facts(ctx.file).transactions(ctx.file).get(id(ctx.stmt))
    kind = tx.kind if tx is not None else "runner"
    if ctx.stmt.context != "top":
        if kind == "do":  # the DO block itself commits on its own
            return f"Take it out of the DO block and run `{statement}` as a statement of its own."
        return (f"Take it out of the DO block into a migration of its own as `{statement}`, marked "
                f"{no_transaction_howto(ctx)}.")
    if kind == "explicit" and not ctx.file.wraps(ctx.stmt.section):
        return f"Run `{statement}` after the `COMMIT`, outside the transaction."
    migration = ctx.file.migration
    convention = migration.convention if migration is not None else ""
    if (convention in _LONE_STATEMENT_RUNNERS and ctx.file.settings.assume_in_transaction is None
            and not _DIRECTIVE.search(ctx.file.text[:20000])):
        label = LABELS[convention]
        return (f"Move `{statement}` to a migration of its own: {label} runs a migration of one statement "
                "outside a transaction.")
    if facts(ctx.file).alone(ctx.stmt):
        return f"Mark this migration {no_transaction_howto(ctx)} so that `{statement}` runs outside a transaction."
    return f"Move `{statement}` to a migration of its own, marked {no_transaction_howto(ctx)}."


def line_of(file: FileContext, offset: int) -> int:
    return file.text.count("\n", 0, offset) + 1


# --- facts about the whole file, computed once per file ----------------------------------------------

class FileFacts:
    """What the rules look up across the file (earlier ALTERs, transactions, drops), built once.

    Checks run per statement; without this, a dump of thousands of statements would be read again
    for every statement that needs a look around.
    """

    def __init__(self, file: FileContext) -> None:
        self.statements = file.statements
        self.position = {id(s): i for i, s in enumerate(file.statements)}
        self._alters: dict[str, list[tuple[int, Statement, AlterTable]]] | None = None
        self._tx: dict[int, Tx] | None = None
        self._drops: dict[str, list[int]] | None = None
        self._top: dict[str | None, list[Statement]] | None = None
        self._functions: dict[str, list[tuple[int, str]]] | None = None

    def alters(self) -> dict[str, list[tuple[int, Statement, AlterTable]]]:
        """ALTER TABLE statements (top level and in DO blocks) by table name (lower case), in file order."""
        if self._alters is None:
            self._alters = {}
            for i, stmt in enumerate(self.statements):
                if stmt.kind != "sql" or stmt.context not in ("top", "do") or stmt.keyword != "ALTER":
                    continue
                parsed = alter_table(lex(stmt.text))
                if parsed is not None:
                    self._alters.setdefault(parsed.table.value.lower(), []).append((i, stmt, parsed))
        return self._alters

    def transactions(self, file: FileContext) -> dict[int, Tx]:
        if self._tx is None:
            self._tx = transactions(file)
        return self._tx

    def dropped_after(self, stmt: Statement, table: str) -> bool:
        """Whether a DROP TABLE of `table` follows `stmt` in the same section."""
        if self._drops is None:
            self._drops = {}
            for i, s in enumerate(self.statements):
                if s.kind == "sql" and s.keyword == "DROP" and s.context != "function":
                    for site in drop_sites(lex(s.text)):
                        if site.kind == "TABLE":
                            for n in site.names:
                                self._drops.setdefault(n.name.lower(), []).append(i)
        here = self.position.get(id(stmt), -1)
        return any(i > here and self.statements[i].section == stmt.section
                   for i in self._drops.get(table.rsplit(".", 1)[-1].lower(), ()))

    def volatility(self, fn: str, before: Statement) -> str | None:
        """VOLATILE / STABLE / IMMUTABLE of a function this file creates before `before` (None: it does not)."""
        if self._functions is None:
            self._functions = {}
            for i, s in enumerate(self.statements):
                if s.context != "top" or s.keyword != "CREATE":
                    continue
                m = _CREATE_FUNCTION.match(s.text)
                if m is None:
                    continue
                marks = {t.upper for t in lex(s.text) if t.depth == 0 and t.kind == "word"}
                declared = "STABLE" if "STABLE" in marks else "IMMUTABLE" if "IMMUTABLE" in marks else "VOLATILE"
                self._functions.setdefault(m.group(1).lower(), []).append((i, declared))
        end = self.position.get(id(before), len(self.statements))
        found = None
        for i, declared in self._functions.get(fn.lower(), ()):
            if i < end:
                found = declared
        return found

    def locked_in_transaction(self, file: FileContext, stmt: Statement, table: str,
                              before: bool = False) -> Lock | None:
        """The strongest lock an ALTER TABLE or DROP TABLE of the same transaction as `stmt` takes on
        `table` (with `before`, only those that run before `stmt`, whose lock it waits behind)."""
        txs = self.transactions(file)
        mine = txs.get(id(stmt))
        if mine is None or mine.kind == "none":
            return None
        low = table.rsplit(".", 1)[-1].lower()
        here = self.position.get(id(stmt), len(self.statements))
        lock: Lock | None = None
        for pos, other, parsed in self.alters().get(low, ()):
            tx = txs.get(id(other))
            if before and pos >= here:
                break
            if other is not stmt and tx is not None and tx.block == mine.block:
                got = statement_lock(parsed)
                lock = got if lock is None else strongest(lock, got)
        if self._drops is None:
            self.dropped_after(stmt, table)  # builds the index of DROP TABLEs
        for i in (self._drops or {}).get(low, ()):
            tx = txs.get(id(self.statements[i]))
            if tx is not None and tx.block == mine.block and not (before and i >= here):
                return ACCESS_EXCLUSIVE
        return lock

    def alone(self, stmt: Statement) -> bool:
        """Whether `stmt` is the only top-level SQL statement of its file (or section)."""
        if self._top is None:
            self._top = {}
            for s in self.statements:
                if s.kind == "sql" and s.context == "top":
                    self._top.setdefault(s.section, []).append(s)
        same = self._top.get(stmt.section, [])
        return len(same) == 1 and same[0] is stmt



_CREATE_FUNCTION = re.compile(r"\s*CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+(?:[\w\"]+\s*\.\s*)?\"?(\w+)\"?\s*\(",
                              re.I)

def facts(file: FileContext) -> FileFacts:
    """The file's facts, built once per file and kept on its context (not in module state)."""
    found = file.memo.get("sg50")
    if not isinstance(found, FileFacts) or found.statements is not file.statements:
        found = FileFacts(file)
        file.memo["sg50"] = found
    return found
