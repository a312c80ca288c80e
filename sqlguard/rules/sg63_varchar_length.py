"""A column is `varchar(n)` or `char(n)`, a length limit that is costly to change, where `text` with a CHECK is not.

Opt-in (group `hygiene`). Covers `varchar(n)` / `character varying(n)` and `char(n)` /
`character(n)` / `char` (which means `char(1)`) in CREATE TABLE, ADD COLUMN and
ALTER COLUMN … TYPE. Plain `varchar` without a length is `text` by another name and passes.

## Why is this bad?
In PostgreSQL `varchar(n)` is stored and compared exactly like `text`; the `n` is only a check, and
a check that is hard to move. Raising it is `ALTER COLUMN … TYPE`, which fails while a view
depends on the column and takes an ACCESS EXCLUSIVE lock; lowering it rewrites the table. A
`CHECK (char_length(c) <= n)` constraint says the same thing and can be replaced online
(`ADD CONSTRAINT … NOT VALID`, then `VALIDATE CONSTRAINT`, then drop the old one).
`char(n)` is worse: it pads values with spaces, which comparisons ignore but `length()`,
concatenation and client code do not.

## Example
    CREATE TABLE users (id bigint PRIMARY KEY, email varchar(255) NOT NULL);

## Use instead
    CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL CHECK (char_length(email) <= 255));
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.sql.ddl import declared_columns
from sqlguard.sql.ddl.model import quote


def check(ctx: StatementContext) -> Iterator[Finding]:
    if not ctx.runs_now or ctx.stmt.keyword not in ("CREATE", "ALTER"):
        return
    for col in declared_columns(ctx.ddl):
        name, type_ = ctx.column(col.table, col.name), ctx.written(col.type.at) or col.type.text
        t = col.parsed
        if t.base not in ("varchar", "char") or not t.mods or col.type.base == "char":
            continue  # (PostgreSQL's own name for char(n) is bpchar; `char` is its one-byte internal "char")
        column = quote(col.name)
        limit = t.mods[0]
        check_sql = f"CHECK (char_length({column}) <= {limit})"
        if t.base == "char":
            message = (f"`{name}` is `{type_}`, a blank-padded type: it stores trailing spaces that "
                       "comparisons and casts to text silently drop but client code receives, and it is no faster "
                       "than `text`.")
        else:
            message = (f"`{name}` is `{type_}`: it is stored like `text`, and changing the limit later is "
                       "ALTER COLUMN … TYPE, which fails while a view uses the column and takes an ACCESS EXCLUSIVE "
                       "lock (and rewrites the table to lower the limit).")
        yield ctx.report(col.at, message,
                         help=f"Declare it `text{'[]' if t.array else ''}`"
                              + ("" if t.array else f" with `{check_sql}` if the limit is a rule of the data") + ".")


RULE = Rule(code="SG63", name="varchar-length", severity="info", doc=__doc__, check=check, group="hygiene",
            default=False, dialects=("postgres",))
