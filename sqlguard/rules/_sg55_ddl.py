"""The shapes of PostgreSQL DDL in a statement's lexemes, for the rules SG55–SG65.

Read from lexemes, which always exist (sqlglot turns `ALTER TABLE … SET DATA TYPE … USING`,
`ADD CONSTRAINT … USING INDEX` and most maintenance commands into opaque Commands): which relation
a statement names, the actions of an ALTER TABLE, the column definitions of a CREATE TABLE, and
which table lock each ALTER TABLE action takes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlguard.lint.rule import StatementContext
from sqlguard.postgres.types import PgType, parse_type
from sqlguard.rules._pg import (
    ACCESS_EXCLUSIVE,
    SHARE,
    SHARE_ROW_EXCLUSIVE,
    SHARE_UPDATE_EXCLUSIVE,
    Lock,
    runs_in_migration,
)
from sqlguard.sql.lex import Lexeme
from sqlguard.sql.split import Statement

EXCLUSIVE = Lock("ExclusiveLock", "EXCLUSIVE",
                 "every INSERT, UPDATE, DELETE and SELECT … FOR UPDATE on the table waits until it finishes")
# REINDEX: SHARE on the table, ACCESS EXCLUSIVE on each index while it is rebuilt.
REINDEX_LOCKS = Lock("ShareLock", "SHARE",
                     "every write of the table waits until it finishes, and so does every read that would "
                     "use one of its indexes (each index is held in ACCESS EXCLUSIVE mode while it is rebuilt)")
# Table lock modes by strength, as in the docs' conflict table (the weak ones never queue writes).
RANK = {"ACCESS SHARE": 0, "ROW SHARE": 1, "ROW EXCLUSIVE": 2, "SHARE UPDATE EXCLUSIVE": 3, "SHARE": 4,
        "SHARE ROW EXCLUSIVE": 5, "EXCLUSIVE": 6, "ACCESS EXCLUSIVE": 7}
LOCKS = {lock.mode: lock for lock in (ACCESS_EXCLUSIVE, EXCLUSIVE, SHARE_ROW_EXCLUSIVE, SHARE,
                                      SHARE_UPDATE_EXCLUSIVE)}
_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*\Z")
_NAMES = ("word", "quoted")


def quote(name: str) -> str:
    """An identifier as it must be written in SQL (`users`, `"UserProfiles"`)."""
    return name if _PLAIN.match(name) else '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Relation:
    """A (possibly schema-qualified) name in a statement."""

    name: str  # as PostgreSQL resolves it: unquoted folded to lower case
    schema: str | None
    first: Lexeme
    last: Lexeme

    @property
    def shown(self) -> str:
        """The name as SQL: `auth.users`, `"Users"`."""
        return (quote(self.schema) + "." if self.schema else "") + quote(self.name)


def relation_at(toks: Sequence[Lexeme], i: int) -> tuple[Relation, int] | None:
    """The dotted name starting at `toks[i]` and the index after it (`db.schema.name` keeps the last two)."""
    if i >= len(toks) or toks[i].kind not in _NAMES:
        return None
    parts = [toks[i]]
    j = i + 1
    while j + 1 < len(toks) and toks[j].value == "." and toks[j + 1].kind in _NAMES:
        parts.append(toks[j + 1])
        j += 2
    schema = parts[-2].name if len(parts) > 1 else None
    return Relation(parts[-1].name, schema, toks[i], parts[-1]), j


def relation_list(toks: Sequence[Lexeme], i: int, stop: frozenset[str] = frozenset()) -> list[Relation]:
    """Comma-separated names from `toks[i]` (`TRUNCATE a, ONLY b *`), up to a keyword in `stop`."""
    out: list[Relation] = []
    while i < len(toks):
        if toks[i].upper == "ONLY":
            i += 1
        if i >= len(toks) or toks[i].upper in stop:
            break
        found = relation_at(toks, i)
        if found is None:
            break
        rel, i = found
        out.append(rel)
        if i < len(toks) and toks[i].value == "*":
            i += 1
        if i < len(toks) and toks[i].value == ",":
            i += 1
            continue
        break
    return out


def split_top(toks: Sequence[Lexeme], depth: int = 0) -> list[list[Lexeme]]:
    """`toks` cut at the commas at parenthesis depth `depth` (empty pieces dropped)."""
    out: list[list[Lexeme]] = [[]]
    for t in toks:
        if t.value == "," and t.kind == "punct" and t.depth == depth:
            out.append([])
        else:
            out[-1].append(t)
    return [p for p in out if p]


def skip_words(toks: Sequence[Lexeme], i: int, *words: str) -> int:
    """The index after the run of `words` (in any order) starting at `toks[i]`."""
    while i < len(toks) and toks[i].upper in words:
        i += 1
    return i


def starts(toks: Sequence[Lexeme], *words: str) -> bool:
    return len(toks) >= len(words) and all(t.upper == w for t, w in zip(toks, words, strict=False))


# --- ALTER TABLE / VIEW / MATERIALIZED VIEW ----------------------------------------------------------

@dataclass(frozen=True)
class Alter:
    kind: str  # TABLE | VIEW | MATERIALIZED VIEW | FOREIGN TABLE
    rel: Relation
    actions: tuple[tuple[Lexeme, ...], ...]  # each action's lexemes, split at depth-0 commas


def alter_relation(toks: Sequence[Lexeme]) -> Alter | None:
    if len(toks) < 4 or toks[0].upper != "ALTER":
        return None
    if toks[1].upper == "TABLE":
        kind, i = "TABLE", 2
    elif toks[1].upper == "VIEW":
        kind, i = "VIEW", 2
    elif starts(toks[1:], "MATERIALIZED", "VIEW"):
        kind, i = "MATERIALIZED VIEW", 3
    elif starts(toks[1:], "FOREIGN", "TABLE"):
        kind, i = "FOREIGN TABLE", 3
    else:
        return None
    if starts(toks[i:], "ALL", "IN"):
        return None  # ALTER TABLE ALL IN TABLESPACE: no one table
    if starts(toks[i:], "IF", "EXISTS"):
        i += 2
    if i < len(toks) and toks[i].upper == "ONLY":
        i += 1
    found = relation_at(toks, i)
    if found is None:
        return None
    rel, i = found
    if i < len(toks) and toks[i].value == "*":
        i += 1
    return Alter(kind, rel, tuple(tuple(a) for a in split_top(toks[i:])))


def action_lock(action: Sequence[Lexeme]) -> Lock:
    """The table lock one ALTER TABLE action takes (tablecmds.c, AlterTableGetLockLevel)."""
    w = [t.upper for t in action[:6]]
    if not w:
        return ACCESS_EXCLUSIVE
    if w[0] == "ADD":
        if w[1:2] == ["FOREIGN"] or (w[1:2] == ["CONSTRAINT"] and w[3:4] == ["FOREIGN"]):
            return SHARE_ROW_EXCLUSIVE
        return ACCESS_EXCLUSIVE
    if w[0] == "VALIDATE":
        return SHARE_UPDATE_EXCLUSIVE
    if w[0] == "ALTER" and len(w) > 2 and w[1] != "CONSTRAINT":
        k = 3 if w[1] == "COLUMN" else 2
        if w[k:k + 2] == ["SET", "STATISTICS"] or (w[k:k + 1] in (["SET"], ["RESET"]) and k + 1 < len(action)
                                                     and action[k + 1].value == "("):
            return SHARE_UPDATE_EXCLUSIVE
        return ACCESS_EXCLUSIVE
    if w[:2] == ["CLUSTER", "ON"] or w[:3] == ["SET", "WITHOUT", "CLUSTER"]:
        return SHARE_UPDATE_EXCLUSIVE
    if w[0] in ("SET", "RESET") and len(action) > 1 and action[1].value == "(":
        return SHARE_UPDATE_EXCLUSIVE  # storage parameters (fillfactor, autovacuum_*)
    if w[0] in ("ENABLE", "DISABLE") and "TRIGGER" in w[1:3]:
        return SHARE_ROW_EXCLUSIVE
    if w[:2] == ["ATTACH", "PARTITION"] or (w[:2] == ["DETACH", "PARTITION"]
                                            and any(t.upper in ("CONCURRENTLY", "FINALIZE") for t in action)):
        return SHARE_UPDATE_EXCLUSIVE
    return ACCESS_EXCLUSIVE


def strongest(locks: Sequence[Lock]) -> Lock:
    return max(locks, key=lambda lock: RANK.get(lock.mode, 7))


def blocks_writes(lock: Lock) -> bool:
    return RANK.get(lock.mode, 7) >= RANK["SHARE"]


# --- column definitions (CREATE TABLE, ADD COLUMN) -----------------------------------------------------

# Words that end a column's type in a column definition.
_COLUMN_CONSTRAINT = frozenset({"CONSTRAINT", "NOT", "NULL", "DEFAULT", "PRIMARY", "UNIQUE", "REFERENCES", "CHECK",
                                "GENERATED", "COLLATE", "DEFERRABLE", "INITIALLY", "COMPRESSION", "STORAGE",
                                "OPTIONS"})
_TABLE_CONSTRAINT = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "EXCLUDE", "LIKE"})


@dataclass(frozen=True)
class ColumnDef:
    name: Lexeme
    type: tuple[Lexeme, ...]  # the type's lexemes
    rest: tuple[Lexeme, ...]  # the column constraints

    @property
    def type_text(self) -> str:
        return type_text(self.type)

    def has(self, *words: str) -> bool:
        return any(t.upper == words[0] and starts(self.rest[k:], *words) for k, t in enumerate(self.rest))

    @property
    def primary_key(self) -> bool:
        return self.has("PRIMARY", "KEY")


def type_text(toks: Sequence[Lexeme]) -> str:
    """Lexemes as one string (`timestamp(3) with time zone`, `varchar(255)[]`, `numeric(10,2)`)."""
    out = ""
    for t in toks:
        v = '"' + t.value.replace('"', '""') + '"' if t.kind == "quoted" else t.value
        if out and not (t.kind == "punct" and v in ("(", ")", "[", "]", ",", ".", "::")) \
                and not out.endswith(("(", "[", ".", "::")):
            out += " "
        out += v
    return out


def column_def(piece: Sequence[Lexeme]) -> ColumnDef | None:
    """`name type [constraints]` (None for a table constraint or LIKE)."""
    if not piece or piece[0].kind not in _NAMES or (piece[0].kind == "word" and piece[0].upper in _TABLE_CONSTRAINT):
        return None
    depth = piece[0].depth
    k = 1
    while k < len(piece) and not (piece[k].depth == depth and piece[k].upper in _COLUMN_CONSTRAINT):
        if piece[k].upper == "WITH" and k + 1 < len(piece) and piece[k + 1].upper == "OPTIONS":
            break
        k += 1
    return ColumnDef(piece[0], tuple(piece[1:k]), tuple(piece[k:]))


@dataclass(frozen=True)
class CreateTable:
    rel: Relation
    columns: tuple[ColumnDef, ...]
    constraints: tuple[tuple[Lexeme, ...], ...]  # table constraints (PRIMARY KEY (…), FOREIGN KEY …)


def create_table(toks: Sequence[Lexeme]) -> CreateTable | None:
    """`CREATE [TEMP|UNLOGGED] TABLE [IF NOT EXISTS] name ( … )` (not AS / PARTITION OF / OF type)."""
    if not toks or toks[0].upper != "CREATE":
        return None
    i = skip_words(toks, 1, "GLOBAL", "LOCAL", "TEMP", "TEMPORARY", "UNLOGGED")
    if i >= len(toks) or toks[i].upper != "TABLE":
        return None
    i = skip_words(toks, i + 1, "IF", "NOT", "EXISTS")
    found = relation_at(toks, i)
    if found is None:
        return None
    rel, i = found
    if i >= len(toks) or toks[i].value != "(":
        return None
    depth = toks[i].depth + 1
    end = i + 1
    while end < len(toks) and not (toks[end].value == ")" and toks[end].depth == depth - 1):
        end += 1
    columns: list[ColumnDef] = []
    constraints: list[tuple[Lexeme, ...]] = []
    for piece in split_top(toks[i + 1:end], depth):
        col = column_def(piece)
        if col is not None:
            columns.append(col)
        elif piece[0].upper != "LIKE":
            constraints.append(tuple(piece))
    return CreateTable(rel, tuple(columns), tuple(constraints))


def added_column(action: Sequence[Lexeme]) -> ColumnDef | None:
    """The column of an `ADD [COLUMN] [IF NOT EXISTS] name type …` action."""
    if not action or action[0].upper != "ADD":
        return None
    i = 1
    if i < len(action) and action[i].upper == "COLUMN":
        i += 1
    elif i < len(action) and action[i].upper in _TABLE_CONSTRAINT:
        return None
    if starts(action[i:], "IF", "NOT", "EXISTS"):
        i += 3
    return column_def(action[i:])


def altered_type(action: Sequence[Lexeme]) -> tuple[Lexeme, list[Lexeme], list[Lexeme]] | None:
    """(column, type lexemes, USING lexemes) of `ALTER [COLUMN] c [SET DATA] TYPE t [COLLATE …] [USING …]`."""
    if len(action) < 3 or action[0].upper != "ALTER":
        return None
    i = 2 if action[1].upper == "COLUMN" else 1
    if i >= len(action) or action[i].kind not in _NAMES:
        return None
    col = action[i]
    j = i + 1
    if starts(action[j:], "SET", "DATA", "TYPE"):
        j += 3
    elif starts(action[j:], "TYPE"):
        j += 1
    else:
        return None
    top = action[0].depth
    k = j
    while k < len(action) and not (action[k].depth == top and action[k].upper in ("USING", "COLLATE")):
        k += 1
    u = next((n for n in range(k, len(action)) if action[n].upper == "USING" and action[n].depth == top), None)
    using = list(action[u + 1:]) if u is not None else []
    return col, list(action[j:k]), using


def column_list(toks: Sequence[Lexeme], i: int) -> tuple[list[Lexeme], int]:
    """The names in the parenthesised list at `toks[i]` and the index after its `)`."""
    if i >= len(toks) or toks[i].value != "(":
        return [], i
    depth = toks[i].depth
    cols: list[Lexeme] = []
    j = i + 1
    while j < len(toks) and not (toks[j].value == ")" and toks[j].depth == depth):
        if toks[j].kind in _NAMES and toks[j].depth == depth + 1 and toks[j - 1].value in ("(", ","):
            cols.append(toks[j])
        j += 1
    return cols, j + 1


# --- maintenance commands ----------------------------------------------------------------------------

def after_parens(toks: Sequence[Lexeme], i: int) -> int:
    depth = toks[i].depth
    j = i + 1
    while j < len(toks) and not (toks[j].value == ")" and toks[j].depth == depth):
        j += 1
    return j + 1


def lock_mode(toks: Sequence[Lexeme]) -> str:
    """The mode of `LOCK TABLE … IN <mode> MODE` (ACCESS EXCLUSIVE when none is given)."""
    i = next((k for k, t in enumerate(toks) if t.upper == "IN"), None)
    if i is None:
        return "ACCESS EXCLUSIVE"
    words = []
    for t in toks[i + 1:]:
        if t.upper == "MODE":
            break
        words.append(t.upper)
    return " ".join(words)


def vacuum_full(toks: Sequence[Lexeme]) -> tuple[bool, list[Relation]]:
    """Whether `VACUUM …` is FULL, and the tables it names (none: the whole database)."""
    i = 1
    full = False
    if i < len(toks) and toks[i].value == "(":
        end = after_parens(toks, i)
        opts = toks[i + 1:end - 1]
        for k, t in enumerate(opts):
            if t.upper == "FULL" and t.depth == toks[i].depth + 1:
                nxt = opts[k + 1] if k + 1 < len(opts) else None
                full = nxt is None or nxt.value == "," or nxt.upper in ("TRUE", "ON") or nxt.value in ("1", "'1'")
        i = end
    else:
        while i < len(toks) and toks[i].upper in ("FULL", "FREEZE", "VERBOSE", "ANALYZE", "ANALYSE"):
            full = full or toks[i].upper == "FULL"
            i += 1
    return full, relation_list(toks, i)


def reindex_target(toks: Sequence[Lexeme]) -> tuple[str, bool, Relation | None] | None:
    """(INDEX/TABLE/SCHEMA/DATABASE/SYSTEM, CONCURRENTLY, the named relation for INDEX/TABLE)."""
    i = 1
    concurrently = False
    if i < len(toks) and toks[i].value == "(":
        end = after_parens(toks, i)
        concurrently = any(t.upper == "CONCURRENTLY" for t in toks[i:end])
        i = end
    if i >= len(toks) or toks[i].upper not in ("INDEX", "TABLE", "SCHEMA", "DATABASE", "SYSTEM"):
        return None
    kind = toks[i].upper
    i += 1
    if i < len(toks) and toks[i].upper == "CONCURRENTLY":
        concurrently = True
        i += 1
    if kind in ("INDEX", "TABLE"):
        found = relation_at(toks, i)
        return kind, concurrently, found[0] if found else None
    return kind, concurrently, None


# --- declared columns (the hygiene rules SG60–SG64) ---------------------------------------------------

@dataclass(frozen=True)
class Declared:
    """A column as a statement declares it: in CREATE TABLE, ADD COLUMN, or ALTER COLUMN … TYPE."""

    table: Relation
    name: Lexeme
    type: tuple[Lexeme, ...]
    primary_key: bool  # inline PRIMARY KEY, or one of the table's PRIMARY KEY (…) columns
    references: bool  # inline REFERENCES, or one of a FOREIGN KEY (…)'s columns
    altered: bool  # ALTER COLUMN … TYPE (not a new column)

    @property
    def type_text(self) -> str:
        return type_text(self.type)


def declared_columns(toks: Sequence[Lexeme]) -> list[Declared]:
    if not toks or toks[0].upper not in ("CREATE", "ALTER"):
        return []
    out: list[Declared] = []
    if toks[0].upper == "CREATE":
        table = create_table(toks)
        if table is None:
            return []
        pk: set[str] = set()
        fk: set[str] = set()
        for cons in table.constraints:
            i = 2 if cons and cons[0].upper == "CONSTRAINT" else 0
            if starts(cons[i:], "PRIMARY", "KEY"):
                pk.update(c.name for c in column_list(cons, i + 2)[0])
            elif starts(cons[i:], "FOREIGN", "KEY"):
                fk.update(c.name for c in column_list(cons, i + 2)[0])
        for col in table.columns:
            if col.type:
                out.append(Declared(table.rel, col.name, col.type, col.primary_key or col.name.name in pk,
                                    col.has("REFERENCES") or col.name.name in fk, False))
        return out
    alter = alter_relation(toks)
    if alter is None or alter.kind != "TABLE":
        return []
    for action in alter.actions:
        new = added_column(action)
        if new is not None and new.type:
            out.append(Declared(alter.rel, new.name, new.type, new.primary_key, new.has("REFERENCES"), False))
            continue
        changed = altered_type(action)
        if changed is not None:
            name, type_toks, _ = changed
            out.append(Declared(alter.rel, name, tuple(type_toks), False, False, True))
    return out


def rollback(migration: object | None, section: str | None) -> bool:
    """A down migration or a down section: run by hand to undo a release, not checked for locks
    (as strong_migrations leaves `down` unchecked by default)."""
    return section == "down" or getattr(migration, "role", None) == "down"


def written(text: str, stmt: Statement, rel: Relation) -> str:
    """`rel` for messages: as `Relation.shown`, or as the file has it where a template placeholder
    (`{{ .Schema }}.users`, masked in the text the lexemes come from) stands in the name."""
    if stmt.anchors or stmt.context.startswith("python"):
        return rel.shown
    scanned = stmt.text[rel.first.start:rel.last.end]
    a, b = stmt.offset(rel.first.start), stmt.offset(rel.last.end - 1) + 1
    raw = text[a:b]
    return rel.shown if raw == scanned else " ".join(raw.split())


def typed_columns(ctx: StatementContext) -> Iterator[tuple[Declared, PgType]]:
    """The columns a migration's CREATE TABLE or ALTER TABLE declares, with their parsed types
    (what the hygiene rules SG60–SG64 each judge)."""
    if not runs_in_migration(ctx) or ctx.words(1) not in (["CREATE"], ["ALTER"]):
        return
    for col in declared_columns(ctx.lexemes):
        t = parse_type(col.type_text)
        if t is not None:
            yield col, t
