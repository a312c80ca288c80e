"""Parsing one statement with sqlglot: strict (never a lenient mode that drops text), bounded
(depth and size limits keep the compiled parser from crashing), and never raising."""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from sqlguard.sql.lex import MAX_PARSE_CHARS
from sqlguard.sql.split import Statement

# Deeper nesting is not handed to sqlglot: its compiled parser recurses per level and would hit
# the interpreter's recursion limit (raising it segfaults the compiled build). 400 parses here.
MAX_PARSE_DEPTH = 200


@dataclass(frozen=True)
class ParseOutcome:
    status: Literal["parsed", "opaque", "failed", "skipped"]
    tree: Any = None  # sqlglot Expression when parsed or opaque
    reason: str = ""
    offset: int | None = None  # file offset of the parse error


_log_silenced = False


@lru_cache(maxsize=8)
def dialect_of(name: str) -> Any:
    """sqlglot's Dialect for sqlguard's name of a dialect (`sqlguard.sql.reading.SQLGLOT`), made once
    (sqlglot builds a new one for each name it is given)."""
    from sqlglot.dialects.dialect import Dialect

    from sqlguard.sql.reading import SQLGLOT

    return Dialect.get_or_raise(SQLGLOT.get(name, name))


@lru_cache(maxsize=8)
def _tools(dialect: str) -> tuple[Any, Any]:
    """A tokenizer and a strict parser for `dialect`, reused: each parse starts from a reset state."""
    from sqlglot.errors import ErrorLevel

    d = dialect_of(dialect)
    return d.tokenizer(), d.parser(error_level=ErrorLevel.RAISE, max_errors=1)


def parse_statement(stmt: Statement, dialect: str, *, keep: bool = False) -> ParseOutcome:
    """Parse one statement with sqlglot, strictly: an error is an outcome, never an exception.

    `keep`: the replay of a history parses each migration's statements before the migrations are
    linted; what it parses is kept for the lint of that file to take (once), instead of parsing again.
    """
    global _log_silenced
    if stmt.kind == "meta":
        return ParseOutcome("skipped", reason="psql meta-command")
    if stmt.depth > MAX_PARSE_DEPTH:
        return ParseOutcome("skipped", reason=f"nested {stmt.depth} parentheses deep "
                                              f"(the parser's limit is {MAX_PARSE_DEPTH})")
    if len(stmt.text) > MAX_PARSE_CHARS:
        return ParseOutcome("skipped", reason=f"{len(stmt.text) / 1e6:.1f} MB long (the parser's limit is "
                                              f"{MAX_PARSE_CHARS / 1e6:.0f} MB)")
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    if not _log_silenced:
        # sqlglot logs "falling back to Command" itself; that is reported as SG00 instead.
        logging.getLogger("sqlglot").setLevel(logging.CRITICAL)
        _log_silenced = True
    memo_key = (stmt.text, dialect)
    known = _parsed.pop(memo_key, None)
    if known is not None:
        return known
    tokenizer, parser = _tools(dialect)
    try:
        tokens = tokenizer.tokenize(stmt.text)
        trees = parser.parse(tokens, stmt.text)
    except ParseError as err:
        info = err.errors[0] if err.errors else {}
        desc = str(info.get("description") or err).splitlines()[0]
        # sqlglot's internal class and token reprs teach nothing; keep the words the user wrote.
        desc = re.sub(r" for <class '[^']+'>", "", desc)
        desc = re.sub(r"<Token token_type: [^,]+, text: ([^,]*), [^>]*>", r"`\1`", desc)
        offset = None
        if info.get("line"):
            offset = _offset_in(stmt, int(info["line"]), int(info.get("col") or 1))
        near = info.get("highlight")
        if near and f"`{near}`" not in desc:
            desc += f" near `{str(near)[:40]}`"
        return ParseOutcome("failed", reason=desc, offset=offset)
    except TokenError as err:
        return ParseOutcome("failed", reason=str(err).splitlines()[0][:200])
    except RecursionError:
        return ParseOutcome("skipped", reason="too deeply nested for the parser")
    except Exception as err:
        return ParseOutcome("failed", reason=f"the parser failed ({type(err).__name__})")
    trees = [t for t in trees if t is not None]
    if not trees:
        return ParseOutcome("failed", reason="nothing to parse")
    tree = trees[0]
    outcome = ParseOutcome("opaque" if isinstance(tree, exp.Command) else "parsed", tree=tree)
    if keep:
        _parsed[memo_key] = outcome
        if len(_parsed) > _PARSED_MAX:
            _parsed.popitem(last=False)
    return outcome


# Trees the replay parsed, by statement text, until the lint of their file takes them (or the oldest
# go). Trees are read, never changed, by the replay and the checks. Failures are not kept (their
# positions belong to one place in one file).
_PARSED_MAX = 4096
_parsed: OrderedDict[tuple[str, str], ParseOutcome] = OrderedDict()


def _offset_in(stmt: Statement, line: int, col: int) -> int:
    """File offset of a 1-based line/column inside a statement's text (sqlglot's col is a token's end)."""
    lines = stmt.text.split("\n")
    line = max(1, min(line, len(lines)))
    pos = sum(len(x) + 1 for x in lines[: line - 1]) + max(col - 1, 0)
    return stmt.offset(min(pos, len(stmt.text)))


