"""A column is `timestamp` (without time zone), which stores a wall-clock reading without saying whose.

Opt-in (group `hygiene`). Covers `timestamp`, `timestamp(p)` and `timestamp without time zone` in
CREATE TABLE, ADD COLUMN and ALTER COLUMN … TYPE.

## Why is this bad?
A `timestamp` value is a date and a time with no zone. `now()` and any `timestamptz` written into it
are converted to the *session's* TimeZone first, so two services (or a psql session and a
connection pool) with different settings store different readings for the same instant; around a
daylight-saving change one reading means two instants. `timestamptz` stores the instant itself
(as UTC) and shows it in whatever zone the reader asks for: same size, same speed.

1. Declare new columns `timestamptz`.
2. To convert an existing one: on PostgreSQL 12+, `SET TimeZone = 'UTC';` then
   `ALTER TABLE t ALTER COLUMN c TYPE timestamptz;` skips the table rewrite if the stored readings
   are UTC (indexes on the column are still rebuilt); otherwise add a `timestamptz` column and
   backfill it with `c AT TIME ZONE 'the zone the readings are in'`.

## Example
    CREATE TABLE events (id bigint PRIMARY KEY, happened_at timestamp NOT NULL DEFAULT now());

## Use instead
    CREATE TABLE events (id bigint PRIMARY KEY, happened_at timestamptz NOT NULL DEFAULT now());
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
        if t.base != "timestamp":
            continue
        better = "timestamptz" + (f"({t.mods[0]})" if t.mods else "") + ("[]" if t.array else "")
        yield ctx.report(col.at,
                         f"`{name}` is `{type_}`, a reading without a time zone: values are "
                         "converted to each writer's session TimeZone, so sessions with different settings store "
                         "different readings for the same instant.",
                         help=f"Declare it `{better}`, which stores the instant and shows it in the reader's zone.")


RULE = Rule(code="SG62", name="timestamp-without-time-zone", severity="warning", doc=__doc__, check=check,
            group="hygiene", default=False, dialects=("postgres",))
