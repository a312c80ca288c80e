"""Splitting SQL text into statements with exact spans.

The splitter is a hand-written scanner (not sqlglot's tokenizer) for three reasons: it must survive
text sqlglot raises on (unterminated quotes, psql meta-commands, `DELIMITER` blocks, COPY data), it
must keep comments with their positions (for `-- sqlguard: ignore`), and it must be fast on 20 MB
files, which a per-token Python loop is not. It jumps between the few characters that matter
(quotes, comments, parentheses, terminators) with one compiled regex.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache

from sqlguard.diagnostic import Span
from sqlguard.sql.lex import Lexeme, lex
from sqlguard.sql.reading import lexical
from sqlguard.sql.text import SourceProblem


@dataclass(frozen=True)
class Comment:
    span: Span
    text: str  # as written, markers included


@dataclass(frozen=True)
class Statement:
    """One statement: `text` is what gets parsed, `span` is where it stands in the file.

    `kind` is "sql", "meta" (a psql backslash command), "copy-data" (rows after COPY FROM STDIN) or
    "directive" (a client directive such as DELIMITER). `context` is "top", or "do" / "function" for
    statements found inside a PL/pgSQL or SQL body. `prefix` is synthetic text put before the source
    (a PL/pgSQL condition is parsed as `SELECT <condition>`); positions inside it map to `span.start`.
    """

    span: Span
    text: str
    depth: int = 0
    kind: str = "sql"
    terminated: bool = True
    section: str | None = None
    context: str = "top"
    prefix: str = ""
    # For SQL found in another language's string literals: (position in text, file offset) pairs,
    # ascending; between two anchors text and file advance together (escapes and concatenation
    # make the jumps).
    anchors: tuple[tuple[int, int], ...] = ()

    def offset(self, pos: int) -> int:
        """File offset of a position in `text` (prefix included)."""
        if self.anchors:
            i = bisect.bisect_right(self.anchors, (pos, 1 << 62)) - 1
            if i < 0:
                return self.anchors[0][1]
            tpos, fpos = self.anchors[i]
            return fpos + (pos - tpos)
        # (clamped: SQL synthesized from code, such as Alembic's op.drop_table, is longer or shorter
        # than the call it stands for)
        return min(self.span.start + max(0, pos - len(self.prefix)), max(self.span.end, self.span.start))

    @property
    def keyword(self) -> str:
        m = _FIRST_WORDS.match(self.text, len(self.prefix))
        return m.group(1).upper() if m else ""


_FIRST_WORDS = re.compile(r"\s*([A-Za-z_]+)")


@dataclass(frozen=True)
class Split:
    statements: tuple[Statement, ...]
    comments: tuple[Comment, ...]
    problems: tuple[SourceProblem, ...]


_DOLLAR = r"\$(?:[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$"
_SECTION = re.compile(r"--\s*(?:migrate:(up|down)\b|\+goose\s+(Up|Down)\b)", re.I)
_GOOSE_BLOCK = re.compile(r"--\s*\+goose\s+Statement(Begin|End)\b", re.I)
_DELIMITER = re.compile(r"DELIMITER[ \t]+(\S+)[^\n]*", re.I)
_COPY_STDIN = re.compile(r"COPY\b[^;]*?\bFROM\s+STDIN\b", re.I | re.S)
_NONSPACE = re.compile(r"[^\s\ufeff]")


@lru_cache(maxsize=32)
def _pattern(dialect: str, delimiter: str) -> re.Pattern[str]:
    alts = []
    if delimiter != ";":
        alts.append(re.escape(delimiter))
    alts += [r"--", r"/\*", r"'", r'"', r"\(", r"\)"]
    if delimiter == ";":
        alts.append(";")
    if dialect == "postgres":
        alts += [_DOLLAR, r"\\"]
    elif dialect == "mysql":
        alts += ["#", "`"]
    elif dialect == "mssql":
        alts += [r"\[", _GO]
    elif dialect == "oracle":
        alts += [_SLASH]
    else:
        alts += ["`"]
    return re.compile("|".join(alts))


# sqlcmd's batch separator (`GO`, `GO 5`: a line of its own), and SQL*Plus's end of a PL/SQL unit (`/`).
_GO = r"(?im:^[ \t]*GO(?:[ \t]+\d+)?[ \t]*\r?$)"
_SLASH = r"(?m:^[ \t]*/[ \t]*\r?$)"


def _find_quote_end(text: str, pos: int, quote: str, backslash: bool) -> int:
    """Index just past the closing quote of a quoted token opened at `pos`, or -1."""
    i = pos + 1
    n = len(text)
    while True:
        j = text.find(quote, i)
        if j < 0:
            return -1
        if backslash:
            # Count the backslashes right before the quote: an odd number escapes it.
            k = j - 1
            while k >= i and text[k] == "\\":
                k -= 1
            if (j - 1 - k) % 2 == 1:
                i = j + 1
                continue
        if j + 1 < n and text[j + 1] == quote:
            i = j + 2  # doubled quote
            continue
        return j + 1


def _find_block_comment_end(text: str, pos: int, nested: bool) -> int:
    if not nested:
        j = text.find("*/", pos + 2)
        return -1 if j < 0 else j + 2
    depth = 0
    i = pos
    pat = re.compile(r"/\*|\*/")
    for m in pat.finditer(text, i):
        if m.group(0) == "/*":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return m.end()
    return -1


def split(text: str, dialect: str = "postgres", base: int = 0) -> Split:
    """Split `text` (a file's scan text, or a body inside it starting at `base`) into statements."""
    dialect = lexical(dialect)
    statements: list[Statement] = []
    comments: list[Comment] = []
    problems: list[SourceProblem] = []
    delimiter = ";"
    pattern = _pattern(dialect, delimiter)
    n = len(text)
    pos = 0
    start: int | None = None  # first significant character of the pending statement
    depth = max_depth = 0
    section: str | None = None
    goose_block = False
    # a BEGIN ATOMIC body being read: (its statement's start, how far it is lexed, open BEGIN/CASE count)
    atomic: tuple[int, int, int] | None = None

    def inside_atomic(at: int) -> bool:
        """Is the `;` at `at` inside a SQL-standard routine body (`CREATE FUNCTION … BEGIN ATOMIC …; END`)?
        As psql counts it: in a CREATE FUNCTION or PROCEDURE, BEGIN and CASE open a block and END closes
        one (words in strings and comments do not count). Each `;` lexes only the text since the last."""
        nonlocal atomic
        assert start is not None
        if atomic is None or atomic[0] != start:
            if not _ATOMIC.search(text, start, at):
                return False  # (the cheap test: most statements never get further)
            toks = lex(text[start:at], "postgres")
            words = [t.upper for t in toks[:8] if t.kind == "word"]
            if words[:1] != ["CREATE"] or not {"FUNCTION", "PROCEDURE"} & set(words[1:5]):
                return False
            atomic = (start, at, _block_balance(toks))
        else:
            atomic = (start, at, atomic[2] + _block_balance(lex(text[atomic[1]:at], "postgres")))
        return atomic[2] > 0

    # a T-SQL or PL/SQL statement being read: (its start, how far it is lexed, open blocks, whole unit)
    block: tuple[int, int, int, bool] | None = None

    def inside_block(at: int) -> bool:
        """Is the `;` at `at` inside a T-SQL routine or `BEGIN … END` block, or a PL/SQL unit? (A T-SQL
        CREATE PROCEDURE, FUNCTION, TRIGGER or VIEW runs to the end of its batch, an Oracle PL/SQL unit
        to its `/` line.) Each `;` lexes only the text since the last."""
        nonlocal block
        assert start is not None
        if block is None or block[0] != start:
            toks = lex(text[start:at], dialect)
            block = (start, at, _block_balance(toks, _NOT_A_BLOCK), _whole_unit(dialect, toks))
        else:
            block = (start, at, block[2] + _block_balance(lex(text[block[1]:at], dialect), _NOT_A_BLOCK), block[3])
        return block[3] or (dialect == "mssql" and block[2] > 0)

    def begin(upto: int) -> None:
        """Start the pending statement at the first significant character in [pos, upto)."""
        nonlocal start
        if start is None:
            m = _NONSPACE.search(text, pos, upto)
            if m is not None:
                start = m.start()

    def finish(at: int, terminated: bool, kind: str = "sql") -> None:
        nonlocal start, depth, max_depth
        if start is not None:
            end = start + len(text[start:at].rstrip())
            if end > start:
                statements.append(Statement(Span(base + start, base + end), text[start:end], max_depth,
                                            kind, terminated, section))
        start = None
        depth = max_depth = 0

    while pos < n:
        if start is None:
            # Client directives are recognised where a statement would start.
            m0 = _NONSPACE.search(text, pos)
            if m0 is None:
                break
            s0 = m0.start()
            if text.startswith(("DELIMITER", "delimiter", "Delimiter"), s0):
                d = _DELIMITER.match(text, s0)
                if d is not None:
                    statements.append(Statement(Span(base + s0, base + d.end()), d.group(0), 0, "directive",
                                                True, section))
                    delimiter = d.group(1)
                    pattern = _pattern(dialect, delimiter)
                    pos = d.end()
                    continue
        m = pattern.search(text, pos)
        if m is None:
            begin(n)
            pos = n
            break
        tok = m.group(0)
        at = m.start()
        if tok == "--" or tok == "#":
            if tok == "--" and dialect == "mysql" and at + 2 < n and not text[at + 2].isspace():
                begin(at + 2)
                pos = at + 2
                continue
            begin(at)
            end = text.find("\n", at)
            end = n if end < 0 else end
            ctext = text[at:end].rstrip("\r")
            if start is None:
                sec = _SECTION.match(ctext)
                if sec is not None:
                    section = (sec.group(1) or sec.group(2)).lower()
            else:
                sec = _SECTION.match(ctext)
                if sec is not None:
                    finish(at, False)
                    section = (sec.group(1) or sec.group(2)).lower()
            gb = _GOOSE_BLOCK.match(ctext)
            if gb is not None:
                if gb.group(1).lower() == "begin":
                    goose_block = True
                else:
                    goose_block = False
                    finish(at, True)
            comments.append(Comment(Span(base + at, base + end), ctext))
            pos = end
            continue
        if tok == "/*":
            begin(at)
            end = _find_block_comment_end(text, at, nested=(dialect == "postgres"))
            if end < 0:
                problems.append(SourceProblem("unterminated-comment", Span(base + at, base + at + 2)))
                finish(at, False)
                return Split(tuple(statements), tuple(comments), tuple(problems))
            comments.append(Comment(Span(base + at, base + end), text[at:end]))
            pos = end
            continue
        begin(m.end())
        if tok == ";" or (tok == delimiter and delimiter != ";"):
            if goose_block or (dialect == "postgres" and start is not None and inside_atomic(at)) or (
                    dialect in ("mssql", "oracle") and start is not None and inside_block(at)):
                pos = m.end()
                continue
            stmt_start = start
            finish(at, True)
            pos = m.end()
            if dialect == "postgres" and stmt_start is not None and _COPY_STDIN.match(text, stmt_start):
                pos = _skip_copy_data(text, pos, base, statements, section)
            continue
        if tok == "(":
            depth += 1
            if depth > max_depth:
                max_depth = depth
            pos = m.end()
            continue
        if tok == ")":
            depth -= 1
            pos = m.end()
            continue
        if tok == "\\":
            # A psql meta-command runs to the end of the line.
            if start is not None and start < at:
                finish(at, True)
            end = text.find("\n", at)
            end = n if end < 0 else end
            statements.append(Statement(Span(base + at, base + end), text[at:end].rstrip(), 0, "meta", True,
                                        section))
            start = None
            pos = end
            continue
        if (dialect == "mssql" and tok.strip()[:2].upper() == "GO") or (dialect == "oracle" and tok.strip() == "/"):
            finish(at, True)  # (a batch's or a PL/SQL unit's end)
            pos = m.end()
            continue
        if tok == "[":
            end = _find_quote_end(text, at, "]", False)
            if end < 0:
                problems.append(SourceProblem("unterminated-identifier", Span(base + at, base + at + 1)))
                finish(at, False)
                return Split(tuple(statements), tuple(comments), tuple(problems))
            pos = end
            continue
        if tok in ("'", '"', "`"):
            backslash = dialect == "mysql" and tok != "`"
            if tok == "'" and dialect == "postgres" and at > 0 and text[at - 1] in "eE" and (
                    at < 2 or not (text[at - 2].isalnum() or text[at - 2] == "_")):
                backslash = True
            end = _find_quote_end(text, at, tok, backslash)
            if end < 0:
                kind = "unterminated-string" if tok == "'" else "unterminated-identifier"
                problems.append(SourceProblem(kind, Span(base + at, base + at + 1)))
                finish(at, False)
                return Split(tuple(statements), tuple(comments), tuple(problems))
            pos = end
            continue
        if tok.startswith("$"):
            if at > 0 and (text[at - 1].isalnum() or text[at - 1] == "_"):
                pos = at + 1  # `$` inside an identifier such as a$b
                continue
            end = text.find(tok, m.end())
            if end < 0:
                problems.append(SourceProblem("unterminated-dollar-quote", Span(base + at, base + m.end()), tok))
                finish(at, False)
                return Split(tuple(statements), tuple(comments), tuple(problems))
            pos = end + len(tok)
            continue
        pos = m.end()
    finish(n, False)
    return Split(tuple(statements), tuple(comments), tuple(problems))


# A SQL-standard function body (PostgreSQL 14+): `CREATE FUNCTION … BEGIN ATOMIC stmt; stmt; END;`
_ATOMIC = re.compile(r"\bATOMIC\b", re.I)


# T-SQL words after BEGIN that start a transaction or a conversation, not a block
_NOT_A_BLOCK = frozenset({"TRAN", "TRANSACTION", "DISTRIBUTED", "DIALOG", "CONVERSATION"})
_TSQL_UNITS = frozenset({"PROC", "PROCEDURE", "FUNCTION", "TRIGGER", "VIEW"})
_PLSQL_UNITS = frozenset({"PROCEDURE", "FUNCTION", "PACKAGE", "TRIGGER", "TYPE", "LIBRARY", "JAVA"})


def _whole_unit(dialect: str, toks: list[Lexeme]) -> bool:
    """A statement its client never splits at `;`: a T-SQL CREATE/ALTER PROCEDURE, FUNCTION, TRIGGER or
    VIEW (the rest of its batch is its body); an Oracle PL/SQL unit or anonymous block (up to a `/` line)."""
    words = [t.upper for t in toks[:6] if t.kind == "word"]
    if dialect == "oracle" and words[:1] in (["DECLARE"], ["BEGIN"]):
        return True
    if words[:1] != ["CREATE"] and (dialect == "oracle" or words[:1] != ["ALTER"]):
        return False
    rest = [w for w in words[1:] if w not in ("OR", "ALTER", "REPLACE", "EDITIONABLE", "NONEDITIONABLE")]
    return bool(rest) and rest[0] in (_TSQL_UNITS if dialect == "mssql" else _PLSQL_UNITS)


def _block_balance(toks: list[Lexeme], not_blocks: frozenset[str] = frozenset()) -> int:
    """BEGIN and CASE words minus END words; a BEGIN followed by one of `not_blocks` (T-SQL's `BEGIN TRAN`)
    opens no block."""
    n = 0
    for i, t in enumerate(toks):
        if t.upper == "BEGIN":
            n += not (i + 1 < len(toks) and toks[i + 1].upper in not_blocks)
        elif t.upper == "CASE":
            n += 1
        elif t.upper == "END":
            n -= 1
    return n


_COPY_END = re.compile(r"^\\\.[ \t]*\r?$", re.M)


def _skip_copy_data(text: str, pos: int, base: int, out: list[Statement], section: str | None) -> int:
    """Rows after `COPY … FROM STDIN;` run to a line holding only `\\.`: data, not SQL."""
    nl = text.find("\n", pos)
    if nl < 0:
        return len(text)
    m = _COPY_END.search(text, nl + 1)
    end = m.end() if m else len(text)
    if end > nl + 1:
        out.append(Statement(Span(base + nl + 1, base + end), "", 0, "copy-data", True, section))
    return end
