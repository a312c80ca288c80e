"""Lexemes: the significant tokens of one statement, with positions and parenthesis depth."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from sqlguard.sql.reading import lexical

# Larger statements are data (a dump's INSERT … VALUES): no parser is given them (their tree would cost
# seconds and memory, and no rule needs it), and only their head is lexed, which names the target.
MAX_PARSE_CHARS = 1_000_000
MAX_LEX_CHARS = 65_536


def head(text: str) -> str:
    """What is lexed of a statement: all of it, or the head of a data block."""
    return text if len(text) <= MAX_PARSE_CHARS else text[:MAX_LEX_CHARS]


# --- lexemes for token-level checks ---------------------------------------------------------

class Lexeme(NamedTuple):
    """One significant token of a statement (a tuple: lexing runs on every statement of every file)."""

    kind: str  # word | quoted | string | number | punct
    value: str  # a word as written, a quoted identifier unquoted, punctuation itself
    start: int  # offset into the statement's text
    end: int
    depth: int  # parenthesis depth
    upper: str = ""  # a word upper-cased (the checks compare keywords so); "" for anything else

    @property
    def name(self) -> str:
        """The identifier this lexeme names (quoted as written, unquoted folded to lower case)."""
        return self.value if self.kind == "quoted" else self.value.lower()


_LEX_HEAD = r"""(?P<ws>\s+)
    |(?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z){hash})
    |(?P<dollar>(?P<tag>\$(?:[A-Za-z_][\w]*)?\$).*?(?:(?P=tag)|\Z))
    |(?P<string>{strings})
    |(?P<quoted>{quoted})
    |(?P<word>[A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*)
    |(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
    |(?P<punct>::|:=|[<>!=]=|<>|\S)"""


@lru_cache(maxsize=8)
def _lexer(dialect: str) -> re.Pattern[str]:
    dialect = lexical(dialect)
    if dialect == "mysql":
        strings = r"[BbXxNn]?'(?:[^'\\]|\\.|'')*(?:'|\Z)|\"(?:[^\"\\]|\\.|\"\")*(?:\"|\Z)"
        quoted = r"`[^`]*(?:`|\Z)"
        hash_comment = r"|\#[^\n]*"
    else:
        # Backslash escapes only in E'' strings (standard_conforming_strings is on since PostgreSQL 9.1).
        strings = r"[Ee]'(?:[^'\\]|\\.|'')*(?:'|\Z)|(?:[BbXxNn]|[Uu]&)?'(?:[^']|'')*(?:'|\Z)"
        quoted = r"\"(?:[^\"]|\"\")*(?:\"|\Z)|`[^`]*(?:`|\Z)"
        hash_comment = ""
        if dialect == "mssql":
            quoted += r"|\[(?:[^\]]|\]\])*(?:\]|\Z)"
    return re.compile(_LEX_HEAD.format(hash=hash_comment, strings=strings, quoted=quoted), re.S | re.X)


def lex(text: str, dialect: str = "postgres") -> list[Lexeme]:
    """Significant lexemes of one statement's text (comments and white space dropped).

    Several checks, the replay and the PL/pgSQL reader lex the same statement: the result of a
    statement of ordinary size is remembered (a fresh list each call, so callers may keep or change it).
    """
    if len(text) > _LEX_MEMO_MAX_CHARS:
        # one large statement (a dump's INSERT) is asked about by several checks in a row: keep the last
        global _last_large
        if _last_large is None or _last_large[1] != dialect or (
                _last_large[0] is not text and _last_large[0] != text):
            _last_large = (text, dialect, tuple(_lex(text, dialect)))
        return list(_last_large[2])
    return list(_lex_memo(text, dialect))


_LEX_MEMO_MAX_CHARS = 20_000
_last_large: tuple[str, str, tuple[Lexeme, ...]] | None = None


@lru_cache(maxsize=2048)
def _lex_memo(text: str, dialect: str) -> tuple[Lexeme, ...]:
    return tuple(_lex(text, dialect))


def _lex(text: str, dialect: str) -> list[Lexeme]:
    out: list[Lexeme] = []
    append = out.append
    depth = 0
    for m in _lexer(dialect).finditer(text):
        kind = m.lastgroup
        if kind == "ws" or kind == "comment":
            continue
        if kind == "tag" or kind == "dollar":
            kind = "string"
        value = m.group(0)
        if kind == "quoted":
            q = "]" if value[0] == "[" else value[0]
            closed = len(value) > 1 and value.endswith(q)
            value = value[1:-1].replace(q + q, q) if closed else value[1:]
        elif kind == "punct":
            if value == "(":
                append(Lexeme("punct", "(", m.start(), m.end(), depth))
                depth += 1
                continue
            if value == ")":
                depth -= 1
        append(Lexeme(kind or "punct", value, m.start(), m.end(), depth, value.upper() if kind == "word" else ""))
    return out
