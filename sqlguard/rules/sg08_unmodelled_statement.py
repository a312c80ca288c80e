"""A valid statement changes the schema in a way sqlguard's replay does not follow.

sqlguard replays a migration history to know, at every statement, which tables, columns, constraints
and indexes exist. A few statements change them in ways the replay does not model (`CREATE TABLE …
OF type`, `CREATE SCHEMA … CREATE TABLE …`, a statement PostgreSQL's parser rejects). The statement
is valid, so this is information, not a warning: the tables it touches are marked as not fully known,
and the checks that need their exact columns (SG12's column check, SG55's current type) stay quiet
about them rather than guess. README.md counts how often this happens on real histories.

## Why is this bad?
It is not wrong: it means sqlguard knows less from here on, so a later mistake about that table can
go unreported.

## Example
    CREATE TABLE account_copy OF account_type;

## Use instead
    CREATE TABLE account_copy (id bigint PRIMARY KEY, name text);
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import Rule, StatementContext


def check(ctx: StatementContext) -> Iterator[Finding]:
    stmt = ctx.stmt
    if stmt.kind != "sql" or stmt.context not in ("top", "do"):
        return  # function bodies run later; the replay does not follow them
    if ctx.dialect == "postgres":
        pg = ctx.pg
        if pg is None or not pg.ok:
            return  # SG00's finding
    desc = ctx.ddl
    if desc.modelled:
        return
    name = getattr(desc, "name", None)
    about = f" (`{name.sql}`)" if name is not None and hasattr(name, "sql") else ""
    yield ctx.report(None, f"sqlguard's schema replay does not follow `{desc.unmodelled or 'this statement'}`{about}: "
                           "later checks know less about what it changes, and stay quiet where they would have to "
                           "guess.")


RULE = Rule(code="SG08", name="unmodelled-statement", severity="info", doc=__doc__, check=check, dialects=("postgres",))
