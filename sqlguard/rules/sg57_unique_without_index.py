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

from collections.abc import Iterator, Sequence

from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.rules._pg import ACCESS_EXCLUSIVE, locks_message, runs_in_migration
from sqlguard.rules._sg55_ddl import (
    Relation,
    added_column,
    alter_relation,
    column_list,
    quote,
    rollback,
    starts,
    written,
)
from sqlguard.sql.lex import Lexeme


def check(ctx: StatementContext) -> Iterator[Finding]:
    if not runs_in_migration(ctx):
        return
    if ctx.words(1) != ["ALTER"]:
        return
    if rollback(ctx.file.migration, ctx.stmt.section):
        return  # rollbacks run by hand to undo a release
    alter = alter_relation(ctx.lexemes)
    if alter is None or alter.kind != "TABLE" or ctx.file.created_here(alter.rel.name):
        return
    for action in alter.actions:
        if not action or action[0].upper != "ADD":
            continue
        col = added_column(action)
        if col is not None:
            k = next((n for n, t in enumerate(col.rest) if t.upper in ("UNIQUE", "PRIMARY")
                      and t.depth == col.name.depth), None)
            if k is not None:
                kind = "PRIMARY KEY" if col.rest[k].upper == "PRIMARY" else "UNIQUE"
                yield _report(ctx, alter.rel, action, kind, None, [col.name.name], inline=True)
            continue
        i = 1
        name: str | None = None
        if starts(action[1:], "CONSTRAINT") and len(action) > 2:
            name = action[2].name
            i = 3
        nulls = ""
        if starts(action[i:], "UNIQUE"):
            kind = "UNIQUE"
            j = i + 1
            if starts(action[j:], "NULLS"):
                distinct = starts(action[j + 1:], "NOT")
                nulls = " NULLS NOT DISTINCT" if distinct else ""
                j = j + 3 if distinct else j + 2
        elif starts(action[i:], "PRIMARY", "KEY"):
            kind = "PRIMARY KEY"
            j = i + 2
        else:
            continue
        if starts(action[j:], "USING", "INDEX"):
            continue  # attaches an index built beforehand
        cols, _ = column_list(action, j)
        yield _report(ctx, alter.rel, action, kind, name, [c.name for c in cols], inline=False, nulls=nulls)


def _report(ctx: StatementContext, rel: Relation, action: Sequence[Lexeme], kind: str, name: str | None,
            cols: list[str], inline: bool, nulls: str = "") -> Finding:
    table = written(ctx.file.text, ctx.stmt, rel)
    bare = rel.name
    if name is None:
        name = f"{bare}_pkey" if kind == "PRIMARY KEY" else f"{bare}_{'_'.join(cols)}_key"
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
    return ctx.report(ctx.cover(action[0], action[-1]),
                      locks_message(ACCESS_EXCLUSIVE, table, doing) + ".",
                      help=(steps[0].upper() + steps[1:]) + ".")


RULE = Rule(code="SG57", name="constraint-without-index", severity="warning", doc=__doc__, check=check)
