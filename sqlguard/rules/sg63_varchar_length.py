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
from sqlguard.rules._sg55_ddl import quote, typed_columns, written


def check(ctx: StatementContext) -> Iterator[Finding]:
    for col, t in typed_columns(ctx):
        if t.base not in ("varchar", "char") or not t.mods:
            continue
        column = quote(col.name.name)
        name = f"{written(ctx.file.text, ctx.stmt, col.table)}.{column}"
        limit = t.mods[0]
        check_sql = f"CHECK (char_length({column}) <= {limit})"
        if t.base == "char":
            message = (f"`{name}` is `{col.type_text}`, a blank-padded type: it stores trailing spaces that "
                       "comparisons and casts to text silently drop but client code receives, and it is no faster "
                       "than `text`.")
        else:
            message = (f"`{name}` is `{col.type_text}`: it is stored like `text`, and changing the limit later is "
                       "ALTER COLUMN … TYPE, which fails while a view uses the column and takes an ACCESS EXCLUSIVE "
                       "lock (and rewrites the table to lower the limit).")
        yield ctx.report(ctx.cover(col.name, col.type[-1]), message,
                         help=f"Declare it `text{'[]' if t.array else ''}`"
                              + ("" if t.array else f" with `{check_sql}` if the limit is a rule of the data") + ".")


RULE = Rule(code="SG63", name="varchar-length", severity="info", doc=__doc__, check=check, group="hygiene",
            default=False)
