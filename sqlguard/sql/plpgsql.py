"""Statements inside PL/pgSQL and SQL bodies (`DO $$ … $$`, `CREATE FUNCTION … AS $$ … $$`).

A body is split with the same scanner as a file; then PL/pgSQL control syntax (BEGIN, DECLARE,
IF … THEN, LOOP, EXCEPTION WHEN …, END IF, …) is peeled off each piece, and what is left, if it is a
SQL statement, is linted like any other, at its exact position in the file. Conditions that hold a
query (`IF EXISTS (SELECT …) THEN`) are linted as `SELECT <condition>`; `PERFORM` is read as SELECT.
Dynamic SQL (`EXECUTE format(…)`) cannot be read statically and is left alone.
"""

from __future__ import annotations

import re
from dataclasses import replace

from sqlguard.diagnostic import Span
from sqlguard.sql.lex import Lexeme, lex
from sqlguard.sql.split import Statement, split

SQL_STARTS = frozenset({
    "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "CREATE", "ALTER", "DROP", "TRUNCATE", "GRANT",
    "REVOKE", "COMMENT", "REFRESH", "MERGE", "LOCK", "REINDEX", "CLUSTER", "ANALYZE", "VACUUM", "SET",
    "RESET", "CALL", "COPY", "IMPORT", "SECURITY",
})
_CONDITION_ENDS = {"IF": "THEN", "ELSIF": "THEN", "ELSEIF": "THEN", "WHEN": "THEN", "WHILE": "LOOP",
                   "FOR": "LOOP", "FOREACH": "LOOP"}
_PEEL = frozenset({"BEGIN", "ELSE", "LOOP", "EXCEPTION", "THEN"})


_ROUTINE = re.compile(r"\b(?:FUNCTION|PROCEDURE)\b", re.I)


def body_of(stmt: Statement) -> tuple[int, int, str] | None:
    """(start, end, context) of the dollar-quoted body inside `stmt.text`, if it is lintable SQL."""
    keyword = stmt.keyword
    if keyword != "DO" and (keyword != "CREATE" or _ROUTINE.search(stmt.text) is None):
        return None  # (most statements: decided without lexing them)
    toks = lex(stmt.text)
    if not toks or toks[0].kind != "word":
        return None
    first = toks[0].upper
    if first == "DO":
        context = "do"
    elif first == "CREATE" and any(t.upper in ("FUNCTION", "PROCEDURE") for t in toks[1:5]):
        context = "function"
    else:
        return None
    language = "plpgsql" if context == "do" else ""
    body: Lexeme | None = None
    for i, t in enumerate(toks):
        if t.upper == "LANGUAGE" and i + 1 < len(toks):
            language = toks[i + 1].value.strip("'\"").lower()
        elif (t.kind == "string" and t.value.startswith("$") and t.depth == 0 and body is None
              and (context == "do" or (i > 0 and toks[i - 1].upper == "AS"))):
            body = t
    if body is None or language not in ("plpgsql", "sql"):
        return None
    tag_len = body.value.index("$", 1) + 1
    return body.start + tag_len, body.end - tag_len, context


def nested_statements(stmt: Statement, scan_text: str) -> list[Statement]:
    """The SQL statements inside a DO block or function body, with file positions."""
    found = body_of(stmt)
    if found is None:
        return []
    b_start, b_end, context = found
    abs_start = stmt.span.start + b_start
    body = scan_text[abs_start:stmt.span.start + b_end]
    out: list[Statement] = []
    declaring = False
    for piece in split(body, "postgres", base=abs_start).statements:
        if piece.kind != "sql":
            continue
        toks = lex(piece.text)
        if toks and toks[0].upper == "DECLARE":
            declaring = True
            toks = toks[1:]
        if declaring:
            if not toks or toks[0].upper != "BEGIN":
                continue  # a declaration: `v_count integer := 0`
            declaring = False
        out.extend(_statements_in_piece(piece, toks, context))
    # A body may itself hold a DO block or a function (rare): one more level.
    deeper = [n for s in out if s.context != "condition" for n in nested_statements(s, scan_text)]
    return out + deeper


def _statements_in_piece(piece: Statement, toks: list[Lexeme], context: str) -> list[Statement]:
    out: list[Statement] = []
    i = 0
    n = len(toks)
    while i < n:
        t = toks[i]
        w = t.upper
        if t.value == "<<":  # <<label>>
            i += 1
            continue
        if t.value == "<" and i + 1 < n and toks[i + 1].value == "<":
            while i < n and toks[i].value != ">":
                i += 1
            i += 2
            continue
        if w in _PEEL:
            i += 1
            continue
        if w == "CASE":
            i += 1
            while i < n and toks[i].upper != "WHEN":
                i += 1
            continue
        if w in _CONDITION_ENDS:
            end_word = _CONDITION_ENDS[w]
            j = i + 1
            while j < n and not (toks[j].upper == end_word and toks[j].depth == toks[i].depth):
                j += 1
            if j >= n:
                return out  # not control syntax we know: leave it alone
            cond = toks[i + 1:j]
            if w in ("FOR", "FOREACH"):
                q = next((k for k, c in enumerate(cond) if c.upper == "IN"), None)
                if q is not None and q + 1 < len(cond) and cond[q + 1].upper in ("SELECT", "WITH"):
                    out.append(_sub(piece, cond[q + 1], cond[-1], context))
            elif any(c.upper == "SELECT" for c in cond):
                out.append(_sub(piece, cond[0], cond[-1], "condition", prefix="SELECT "))
            i = j + 1
            continue
        if w == "END":
            return out
        if w == "RETURN" and i + 1 < n and toks[i + 1].upper == "QUERY":
            i += 2
            continue
        if w == "PERFORM":
            sub = _sub(piece, t, toks[-1], context)
            # `SELECT ` has the length of `PERFORM`, so every position stays where it was.
            return [*out, replace(sub, text="SELECT " + sub.text[len("PERFORM"):])]
        if w in SQL_STARTS and not (i + 1 < n and toks[i + 1].value in (":=", "=")):
            out.append(_sub(piece, t, toks[-1], context))
        return out
    return out


def _sub(piece: Statement, first: Lexeme, last: Lexeme, context: str, prefix: str = "") -> Statement:
    start = piece.span.start + first.start
    end = piece.span.start + last.end
    text = piece.text[first.start:last.end]
    toks = lex(text)
    depth = max(0, max((c.depth for c in toks), default=0))
    if toks and toks[0].upper in ("SELECT", "WITH"):
        text = _blank_into(text, toks)
    return Statement(Span(start, end), prefix + text, depth, "sql", piece.terminated, piece.section,
                     context, prefix)


def _blank_into(text: str, toks: list[Lexeme]) -> str:
    """PL/pgSQL's `SELECT a, b INTO v_a, v_b FROM …` assigns variables; SQL has no such clause.

    The clause is blanked with spaces (positions stay put) so the query parses as the SQL it is.
    """
    for i, t in enumerate(toks):
        if t.upper != "INTO" or t.depth != 0:
            continue
        j = i + 1
        if j < len(toks) and toks[j].upper == "STRICT":
            j += 1
        end = None
        while j < len(toks) and toks[j].kind in ("word", "quoted"):
            while j + 2 < len(toks) and toks[j + 1].value == "." and toks[j + 2].kind in ("word", "quoted"):
                j += 2
            end = toks[j].end
            j += 1
            if j < len(toks) and toks[j].value == ",":
                j += 1
                continue
            break
        if end is None:
            return text
        return text[:t.start] + " " * (end - t.start) + text[end:]
    return text
