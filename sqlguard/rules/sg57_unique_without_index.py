"""Adding a UNIQUE or PRIMARY KEY constraint builds its index while the table is locked for reads and writes.

Covers `ALTER TABLE … ADD [CONSTRAINT name] UNIQUE (…)` / `PRIMARY KEY (…)` without `USING INDEX`,
and `ADD COLUMN … UNIQUE` / `PRIMARY KEY`. Not reported on a table created earlier in the same
file, in rollbacks (down sections and files), nor in function bodies.

## Why is this bad?
PostgreSQL builds the unique index inside the ALTER TABLE, holding an ACCESS EXCLUSIVE lock for
the whole build: on a large table every read and write waits for minutes. Building the index
first with `CREATE UNIQUE INDEX CONCURRENTLY` lets traffic go on; attaching a finished index as the
constraint then takes the lock only for a moment.

1. `CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);` in a migration that does
   not run in a transaction (CONCURRENTLY cannot). If it fails, it leaves an INVALID index:
   `DROP INDEX CONCURRENTLY users_email_key;` and run it again.
2. For a primary key, make the columns NOT NULL first without a long lock: add
   `CHECK (id IS NOT NULL) NOT VALID`, `VALIDATE CONSTRAINT` it, then `ALTER COLUMN id SET NOT NULL`
   (PostgreSQL 12+ uses the valid check instead of scanning) and drop the check.
3. `ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;`
   (or `PRIMARY KEY USING INDEX …`), with a `lock_timeout`.

Partitioned tables have no CONCURRENTLY index build: create the index on each partition
concurrently, then on the parent with `ON ONLY`, and attach each partition's index.

## Example
    ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);

## Use instead
    CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);
    ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.postgres.locks import ACCESS_EXCLUSIVE, message
from sqlguard.postgres.names import column_names_addition, make_object_name
from sqlguard.sql.ddl.model import Action, Name, quote

_KINDS = {"primary key": "PRIMARY KEY", "unique": "UNIQUE"}


def check(ctx: StatementContext) -> Iterator[Finding]:
    d = ctx.altered_table()
    if d is None or ctx.in_rollback:
        return  # rollbacks run by hand to undo a release
    for action in d.actions:
        if action.kind == "AT_AddColumn" and action.column_def is not None:
            col = action.column_def
            inline = next((c for c in col.constraints if c.kind in _KINDS), None)
            if inline is not None:
                yield _report(ctx, d.name, action, _KINDS[inline.kind], None, [col.name], inline=True)
        elif action.kind == "AT_AddConstraint" and action.constraint is not None:
            con = action.constraint
            if con.kind not in _KINDS or con.using_index:
                continue  # USING INDEX attaches an index built beforehand
            nulls = " NULLS NOT DISTINCT" if con.nulls_not_distinct else ""
            yield _report(ctx, d.name, action, _KINDS[con.kind], con.name, list(con.columns), inline=False,
                          nulls=nulls)


def _report(ctx: StatementContext, rel: Name, action: Action, kind: str, name: str | None, cols: list[str],
            inline: bool, nulls: str = "") -> Finding:
    table = ctx.name(rel)
    if name is None:
        label = "pkey" if kind == "PRIMARY KEY" else "key"
        name = make_object_name(rel.name, None if kind == "PRIMARY KEY" else column_names_addition(cols), label)
    index = quote(name)
    col_sql = ", ".join(quote(c) for c in cols) or "…"
    what = f"`ADD COLUMN {quote(cols[0])} … {kind}`" if inline else f"`{kind} ({col_sql})`"
    doing = f"{what} builds a unique index on `{table}` inside the ALTER TABLE, which"
    if inline:
        steps = (f"add the column without `{kind}`, run `CREATE UNIQUE INDEX CONCURRENTLY {index} ON {table} "
                 f"({col_sql});`, then `ALTER TABLE {table} ADD CONSTRAINT {index} {kind} USING INDEX {index};`")
    else:
        steps = (f"Run `CREATE UNIQUE INDEX CONCURRENTLY {index} ON {table} ({col_sql}){nulls};` first, then "
                 f"`ALTER TABLE {table} ADD CONSTRAINT {index} {kind} USING INDEX {index};`")
    return ctx.report(action.at, message(ACCESS_EXCLUSIVE, table, doing) + ".",
                      help=(steps[0].upper() + steps[1:]) + ".")


RULE = Rule(code="SG57", name="constraint-without-index", severity="warning", doc=__doc__, check=check,
            dialects=("postgres",))
