"""What a migration file sends to the server when sqlguard runs it: its statements, one by one.

`sqlguard apply` runs each statement on its own so that it can time it, read the locks it took and
count the rows it touched. Whether sqlguard wraps a migration in its transaction is what the linter assumes too
(`sources.transactions.wraps`): yes for sqlguard's convention, unless the file says
`-- sqlguard: transaction=off`. A statement that cannot run in a transaction block (`non_transactional`)
inside a wrapped file fails that migration before any of it runs, in the dry run too; the
CONCURRENTLY ones are also SG51's error at lint time. An unwrapped file runs statement by statement, its
own BEGIN / COMMIT included. In a wrapped file those are left out (they would end sqlguard's
transaction early, and the history row with it). What sqlguard cannot run (a psql
meta-command, COPY … FROM STDIN data, a template placeholder) is a `SqlguardError` naming the line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlguard.diagnostic import SqlguardError
from sqlguard.sql.lex import Lexeme, lex
from sqlguard.sql.split import split
from sqlguard.sql.text import decode
from sqlguard.sql.transactions import explicit_transaction, wraps


@dataclass(frozen=True)
class ScriptStatement:
    text: str  # exactly as written in the file
    line: int  # 1-based line of its first character
    outside_transaction: str | None  # why it cannot run in a transaction block (`CREATE INDEX CONCURRENTLY`)
    transaction_control: bool  # the file's own BEGIN / COMMIT / ROLLBACK

    @property
    def summary(self) -> str:
        """Its first line, shortened: how reports name it."""
        first = " ".join(self.text.split())
        return first if len(first) <= 90 else first[:87] + "..."


@dataclass(frozen=True)
class Script:
    path: Path
    statements: tuple[ScriptStatement, ...]
    wrapped: bool  # runs inside one transaction sqlguard opens

    def inside_begin(self, line: int | None) -> bool:
        """Whether the statement at `line` runs inside the file's own BEGIN … COMMIT."""
        opened, _ = _explicit_transactions(self.statements)
        return any(s.line == line and at is not None for s, at in opened)

    def to_run(self, wrapped: bool | None = None) -> list[ScriptStatement]:
        """The statements to send: without the file's BEGIN / COMMIT when sqlguard wraps it in its own."""
        inside = self.wrapped if wrapped is None else wrapped
        return [s for s in self.statements if not (inside and s.transaction_control)]


def read_script(path: Path, section: str | None = None, dialect: str = "postgres", *,
                assume_in_transaction: bool | None = None, convention: str | None = "sqlguard") -> Script:
    """The statements of `path` (of one `section` of a dbmate / goose file: `up` or `down`)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SqlguardError(f"cannot read {path}: {err.strerror or err}") from None
    decoded = decode(data)
    for problem in decoded.problems:
        if problem.kind in ("invalid-utf8", "nul-byte", "template"):
            line = decoded.text.count("\n", 0, problem.span.start) + 1
            what = {"invalid-utf8": "is not valid UTF-8", "nul-byte": "holds a NUL byte",
                    "template": f"holds a template placeholder ({problem.detail}) that nothing fills in"}
            raise SqlguardError(f"{what[problem.kind]}: sqlguard will not run it", str(path), line)
    text = decoded.text
    parts = split(text, dialect)
    out: list[ScriptStatement] = []
    for stmt in parts.statements:
        if section is not None and (stmt.section or "up") != section:
            continue
        line = text.count("\n", 0, stmt.span.start) + 1
        if stmt.kind == "meta":
            raise SqlguardError("a psql meta-command: sqlguard apply runs SQL statements only", str(path), line)
        if stmt.kind == "copy-data":
            raise SqlguardError("COPY … FROM STDIN data: sqlguard apply cannot feed it; load the data with a "
                                "separate step", str(path), line)
        if stmt.kind != "sql":
            continue
        body = text[stmt.span.start:stmt.span.end].strip()
        if body.endswith(";"):
            body = body[:-1].rstrip()
        toks = lex(body, dialect)
        if not toks:
            continue
        first, second = ([t.upper for t in toks[:2]] + [""])[:2]
        # BEGIN… opens a transaction that was not open; COMMIT, ROLLBACK… close one that was
        control = explicit_transaction(first, second, False) or not explicit_transaction(first, second, True)
        out.append(ScriptStatement(body, line, non_transactional(toks), control))
    wrapped = wraps(text, assume_in_transaction, convention, section)
    if not wrapped:
        _, opened = _explicit_transactions(out)
        if opened is not None:
            raise SqlguardError("opens a transaction that it never commits (add COMMIT at its end): sqlguard "
                                "would leave it open", str(path), opened)
    return Script(path, tuple(out), wrapped)


def _explicit_transactions(statements: Sequence[ScriptStatement]
                           ) -> tuple[list[tuple[ScriptStatement, int | None]], int | None]:
    """Each statement with the line of the file's own BEGIN open when it runs (None: none), and the line
    of the BEGIN still open after the last one."""
    out: list[tuple[ScriptStatement, int | None]] = []
    opened: int | None = None
    for s in statements:
        out.append((s, opened))
        toks = lex(s.text)
        first, second = ([t.upper for t in toks[:2]] + ["", ""])[:2]
        is_open = explicit_transaction(first, second, opened is not None)
        opened = (opened if opened is not None else s.line) if is_open else None
    return out, opened


def non_transactional(toks: list[Lexeme]) -> str | None:
    """What makes a statement impossible inside a transaction block, None when nothing does."""
    top = [t.upper for t in toks if t.depth == 0 and t.kind == "word"]
    if not top:
        return None
    first = top[0]
    head = top[:6]
    if first in ("CREATE", "DROP") and "INDEX" in head and "CONCURRENTLY" in head:
        return f"{first} INDEX CONCURRENTLY"
    if first == "REINDEX":
        if top[1:2] in (["SCHEMA"], ["DATABASE"], ["SYSTEM"]):
            return f"REINDEX {top[1]}"
        return "REINDEX CONCURRENTLY" if reindex_concurrently(toks) is not None else None
    if first == "ALTER" and top[1:2] == ["TABLE"] and "DETACH" in top and "CONCURRENTLY" in top:
        return "ALTER TABLE … DETACH PARTITION … CONCURRENTLY"
    if first == "VACUUM":
        return "VACUUM"
    if first == "CLUSTER" and len(top) == 1 + ("VERBOSE" in top[1:2]):
        return "CLUSTER of every table"
    if first in ("CREATE", "DROP") and top[1:2] in (["DATABASE"], ["TABLESPACE"]):
        return f"{first} {top[1]}"
    if first == "ALTER" and top[1:2] == ["SYSTEM"]:
        return "ALTER SYSTEM"
    if first in ("CREATE", "DROP") and top[1:2] == ["SUBSCRIPTION"]:
        return f"{first} SUBSCRIPTION"  # (unless it says create_slot = false / slot_name = NONE)
    return None


_OFF = frozenset({"FALSE", "OFF", "0"})


def reindex_concurrently(toks: list[Lexeme]) -> Lexeme | None:
    """The CONCURRENTLY of a REINDEX that runs concurrently: the keyword (`REINDEX TABLE CONCURRENTLY t`)
    or the option (`REINDEX (CONCURRENTLY) TABLE t`, not `(CONCURRENTLY false)`); None otherwise."""
    if not toks or toks[0].upper != "REINDEX":
        return None
    for i, t in enumerate(toks):
        if t.upper == "CONCURRENTLY" and t.depth <= 1:
            after = toks[i + 1] if i + 1 < len(toks) else None
            if t.depth == 1 and after is not None and after.depth == 1 and after.value.upper() in _OFF:
                return None
            return t
    return None


def without_concurrently(text: str, dialect: str = "postgres") -> str:
    """The statement with its CONCURRENTLY removed (a REINDEX option set to false): what a dry run can
    try inside its transaction."""
    toks = lex(text, dialect)
    for i, t in enumerate(toks):
        if t.upper != "CONCURRENTLY":
            continue
        if t.depth == 0:
            return text[:t.start] + text[t.end:].lstrip(" ")
        if t.depth == 1 and toks[0].upper == "REINDEX":  # the option: `(CONCURRENTLY [true])`
            after = toks[i + 1] if i + 1 < len(toks) else None
            if after is not None and after.depth == 1 and after.value.upper() in ("TRUE", "ON", "1"):
                return text[:after.start] + "false" + text[after.end:]
            return text[:t.end] + " false" + text[t.end:]
    return text
