"""Where DROPs stand in a statement's lexemes: shared by SG20 (unconditional-drop) and SG21
(destructive-statement), which read the same syntax for different hazards."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlguard.sql.lex import Lexeme

# DROP <kind> … ; multi-word kinds first.
DROP_KINDS = (
    ("MATERIALIZED", "VIEW"), ("FOREIGN", "TABLE"), ("TABLE",), ("VIEW",), ("INDEX",), ("SEQUENCE",), ("TYPE",),
    ("FUNCTION",), ("PROCEDURE",), ("SCHEMA",), ("TRIGGER",), ("DOMAIN",), ("EXTENSION",), ("POLICY",),
    ("DATABASE",), ("EVENT",), ("AGGREGATE",), ("RULE",),
)


@dataclass(frozen=True)
class DropSite:
    kind: str  # "TABLE", "MATERIALIZED VIEW", "COLUMN", "CONSTRAINT", …
    keyword: Lexeme  # the DROP
    after: Lexeme  # the lexeme after which `IF EXISTS` belongs
    conditional: bool  # IF EXISTS present
    names: tuple[Lexeme, ...]  # the objects' (last) name lexemes
    table: Lexeme | None = None  # for ALTER TABLE … DROP: the table


def drop_sites(toks: list[Lexeme]) -> Iterator[DropSite]:
    if not toks or toks[0].kind != "word":
        return
    first = toks[0].upper
    if first == "DROP":
        yield from _drop_statement(toks)
    elif first == "ALTER" and len(toks) > 2 and toks[1].upper == "TABLE":
        yield from _alter_table_drops(toks)


def _drop_statement(toks: list[Lexeme]) -> Iterator[DropSite]:
    words = [t.upper for t in toks[1:4]]
    for kind in DROP_KINDS:
        if tuple(words[: len(kind)]) == kind:
            break
    else:
        return
    i = 1 + len(kind)
    after = toks[i - 1]
    if i < len(toks) and toks[i].upper == "CONCURRENTLY":
        after = toks[i]
        i += 1
    conditional = i + 1 < len(toks) and toks[i].upper == "IF" and toks[i + 1].upper == "EXISTS"
    if conditional:
        i += 2
    names = _name_list(toks, i)
    yield DropSite(" ".join(kind), toks[0], after, conditional, tuple(names))


def _name_list(toks: list[Lexeme], i: int) -> list[Lexeme]:
    names: list[Lexeme] = []
    while i < len(toks):
        t = toks[i]
        if t.kind not in ("word", "quoted") or t.upper in ("CASCADE", "RESTRICT", "ON"):
            break
        while i + 2 < len(toks) and toks[i + 1].value == "." and toks[i + 2].kind in ("word", "quoted"):
            i += 2
        names.append(toks[i])
        i += 1
        if i < len(toks) and toks[i].value == "(":  # DROP FUNCTION f(int)
            depth = toks[i].depth
            i += 1
            while i < len(toks) and not (toks[i].value == ")" and toks[i].depth == depth):
                i += 1
            i += 1
        if i < len(toks) and toks[i].value == ",":
            i += 1
            continue
        break
    return names


def _alter_table_drops(toks: list[Lexeme]) -> Iterator[DropSite]:
    i = 2
    while i < len(toks) and toks[i].upper in ("IF", "EXISTS", "ONLY"):
        i += 1
    table_names = _name_list(toks, i)
    if not table_names:
        return
    table = table_names[0]
    # an action starts right after the table name or after a comma at depth 0
    starts = [toks.index(table) + 1] + [k + 1 for k, t in enumerate(toks) if t.value == "," and t.depth == 0]
    for k in starts:
        if k >= len(toks) or toks[k].upper != "DROP":
            continue
        drop = toks[k]
        j = k + 1
        kind = "COLUMN"
        after = drop
        if j < len(toks) and toks[j].upper in ("COLUMN", "CONSTRAINT"):
            kind = toks[j].upper
            after = toks[j]
            j += 1
        elif j < len(toks) and toks[j].upper in ("PRIMARY", "FOREIGN", "INDEX", "KEY", "CHECK", "DEFAULT",
                                                  "PARTITION", "SYSTEM"):
            continue  # MySQL's DROP PRIMARY KEY / DROP INDEX …: no IF EXISTS form
        conditional = j + 1 < len(toks) and toks[j].upper == "IF" and toks[j + 1].upper == "EXISTS"
        if conditional:
            j += 2
        if j >= len(toks) or toks[j].kind not in ("word", "quoted"):
            continue
        yield DropSite(kind, drop, after, conditional, (toks[j],), table)
