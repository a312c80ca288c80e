"""What a migration file sends to the server when sqlguard runs it: its statements, one by one.

`sqlguard apply` runs each statement on its own so that it can time it, read the locks it took and
count the rows it touched. Whether sqlguard wraps a migration in its transaction is what the linter
assumes too (`sqlguard.migrations.files.wraps`): yes for sqlguard's convention, unless the file says
`-- sqlguard: transaction=off`. What each statement is comes from the typed reader, the same the lint
reads: a statement that cannot run in a transaction block (`Description.outside_transaction`) inside
a wrapped file fails that migration before any of it runs, in the dry run too; the CONCURRENTLY ones
are also SG51's error at lint time. Which statements stand inside the file's own BEGIN … COMMIT is the
one transaction state machine's answer (`sqlguard.sql.transactions`). An unwrapped file runs statement
by statement, its own BEGIN / COMMIT included. In a wrapped file those are left out (they would end
sqlguard's transaction early, and the history row with it). What sqlguard cannot run (a psql
meta-command, COPY … FROM STDIN data, a template placeholder) is a `SqlguardError` naming the line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlguard.diagnostic import SqlguardError
from sqlguard.migrations.files import wraps
from sqlguard.sql import ddl
from sqlguard.sql.lex import lex
from sqlguard.sql.split import split
from sqlguard.sql.text import decode, hide_secrets
from sqlguard.sql.transactions import Transactions, track


@dataclass(frozen=True)
class ScriptStatement:
    text: str  # exactly as written in the file
    line: int  # 1-based line of its first character
    outside_transaction: str | None  # why it cannot run in a transaction block (`CREATE INDEX CONCURRENTLY`)
    control: str | None = None  # what it does to the transaction: begin, commit, rollback, savepoint, …

    @property
    def transaction_control(self) -> bool:
        """The file's own BEGIN / COMMIT / ROLLBACK (what sqlguard leaves out when it wraps the file)."""
        return self.control in ("begin", "commit", "rollback")

    @property
    def summary(self) -> str:
        """Its first line, shortened, with no secret (`PASSWORD '…'`): how reports name it."""
        first = hide_secrets(" ".join(self.text.split()))
        return first if len(first) <= 90 else first[:87] + "..."


@dataclass(frozen=True)
class Script:
    path: Path
    statements: tuple[ScriptStatement, ...]
    wrapped: bool  # runs inside one transaction sqlguard opens
    digest: str = ""  # SHA-256 (hex) of the file's bytes these statements were read from

    def inside_begin(self, line: int | None) -> bool:
        """Whether the statement at `line` runs inside the file's own BEGIN … COMMIT."""
        txs = _explicit(self.statements)
        return any(s.line == line and txs.of(i).kind == "explicit" for i, s in enumerate(self.statements))

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
        if not lex(body, dialect):
            continue
        desc = ddl.describe(body, dialect)
        out.append(ScriptStatement(body, line, desc.outside_transaction, desc.transaction))
    wrapped = wraps(text, assume_in_transaction, convention, section, path)
    if not wrapped:
        unclosed = _explicit(out).unclosed
        if unclosed:
            raise SqlguardError("opens a transaction that it never commits (add COMMIT at its end): sqlguard "
                                "would leave it open", str(path), out[unclosed[0][1]].line)
    return Script(path, tuple(out), wrapped, hashlib.sha256(data).hexdigest())


def _explicit(statements: Sequence[ScriptStatement]) -> Transactions[ScriptStatement]:
    """The file's own transactions, as it runs unwrapped (the one state machine)."""
    return track(statements, control=lambda s: s.control, section=lambda s: None, nested=lambda s: None,
                 wraps=lambda s: False)


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
