"""A column is `json` rather than `jsonb`: re-parsed on every read, with no equality and no GIN index.

Opt-in (group `hygiene`). Covers `json` and `json[]` in CREATE TABLE, ADD COLUMN and
ALTER COLUMN … TYPE.

## Why is this bad?
`json` keeps the text exactly as written, so every `->`, `->>` or `@>`-style access parses the
whole document again. It has no equality operator, so `DISTINCT`, `GROUP BY`, `UNION`, `UNIQUE`
and `=` on the column fail, and no GIN operator class, so containment queries cannot use an index.
`jsonb` stores the parsed form: faster to query, indexable, comparable. Keep `json` only when the
exact text (key order, duplicate keys, white space) must survive, such as a verbatim webhook body.

## Example
    CREATE TABLE webhooks (id bigint PRIMARY KEY, payload json NOT NULL);

## Use instead
    CREATE TABLE webhooks (id bigint PRIMARY KEY, payload jsonb NOT NULL);
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.sql.ddl import declared_columns


def check(ctx: StatementContext) -> Iterator[Finding]:
    if not ctx.runs_now or ctx.stmt.keyword not in ("CREATE", "ALTER"):
        return
    for col in declared_columns(ctx.ddl):
        name, type_ = ctx.column(col.table, col.name), ctx.written(col.type.at) or col.type.text
        t = col.parsed
        if t.base != "json":
            continue
        yield ctx.report(col.at,
                         f"`{name}` is `{type_}`: every read re-parses the text, and the "
                         "column has no equality (no DISTINCT, GROUP BY, UNIQUE or `=`) and no GIN index.",
                         help=f"Declare it `jsonb{'[]' if t.array else ''}`, unless the exact text must be kept.")


RULE = Rule(code="SG64", name="json-column", severity="info", doc=__doc__, check=check, group="hygiene",
            default=False, dialects=("postgres",))
