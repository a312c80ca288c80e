"""`DROP` without `IF EXISTS` fails when the object is already gone.

Covers DROP TABLE / VIEW / MATERIALIZED VIEW / INDEX / SEQUENCE / TYPE / FUNCTION / PROCEDURE /
SCHEMA / TRIGGER / DOMAIN / EXTENSION / POLICY (on PostgreSQL every DROP, which all have the form),
and ALTER TABLE … DROP COLUMN / CONSTRAINT, where the dialect has an `IF EXISTS` form (MySQL has none
for DROP INDEX or DROP COLUMN, SQLite none for DROP COLUMN). Autofix: `sqlguard lint --fix` inserts
`IF EXISTS`.

## Why is this bad?
A rerun, a partially applied migration or a rollback that already removed the object makes the
migration fail halfway, and leaves the schema between two versions.

## Example
    DROP TABLE legacy_sessions;

## Use instead
    DROP TABLE IF EXISTS legacy_sessions;
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Edit, Finding, Fix, Span
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.sql.ddl.model import AlterTable, At, Drop, Name
from sqlguard.sql.reading import KNOWN

# Which DROP kinds (and ALTER TABLE … DROP COLUMN / CONSTRAINT) have an IF EXISTS form, per dialect
# (None: all of them). T-SQL: SQL Server 2016 and later; Oracle: none before 23ai.
_SUPPORTED: dict[str, set[str] | None] = {
    "postgres": None,
    "mysql": {"TABLE", "VIEW", "DATABASE", "SCHEMA", "FUNCTION", "PROCEDURE", "TRIGGER", "EVENT"},
    "sqlite": {"TABLE", "VIEW", "INDEX", "TRIGGER"},
    "mssql": {"TABLE", "VIEW", "INDEX", "SEQUENCE", "TYPE", "FUNCTION", "PROCEDURE", "SCHEMA", "TRIGGER", "DATABASE",
              "COLUMN", "CONSTRAINT"},
    "oracle": set(),
    "h2": {"TABLE", "VIEW", "INDEX", "SEQUENCE", "SCHEMA", "TRIGGER", "DOMAIN", "COLUMN", "CONSTRAINT"},
    "cockroachdb": {"TABLE", "VIEW", "INDEX", "SEQUENCE", "TYPE", "SCHEMA", "DATABASE", "FUNCTION", "COLUMN",
                    "CONSTRAINT"},
    "clickhouse": {"TABLE", "VIEW", "DATABASE", "DICTIONARY", "FUNCTION", "COLUMN", "CONSTRAINT"},
    "duckdb": {"TABLE", "VIEW", "INDEX", "SEQUENCE", "TYPE", "SCHEMA", "MACRO", "FUNCTION", "COLUMN"},
}


_ACTIONS = {"AT_DropColumn": "COLUMN", "AT_DropConstraint": "CONSTRAINT"}


def check(ctx: StatementContext) -> Iterator[Finding]:
    if ctx.stmt.keyword not in ("DROP", "ALTER"):
        return  # (most statements: decided without describing them)
    d = ctx.ddl
    supported = _SUPPORTED[ctx.dialect]
    if isinstance(d, Drop):
        kind = d.object.upper()
        if d.if_exists or (supported is not None and kind not in supported):
            return
        if not d.names:  # DROP CAST (a AS b), DROP TRANSFORM FOR t LANGUAGE l: no name, the statement says it
            yield ctx.report(None, f"`{ctx.written(ctx.stmt.span)}` fails if it does not exist.",
                             help="Add `IF EXISTS`.", fix=_fix(ctx, d.if_exists_at))
            return
        first = d.names[0]
        more = f" (and {len(d.names) - 1} more)" if len(d.names) > 1 else ""
        where = ctx.cover(d.keyword_at, first.at) if d.keyword_at and first.at else d.keyword_at
        yield ctx.report(where, f"`DROP {kind} {shown(ctx, first)}`{more} fails if it does not exist.",
                         help="Add `IF EXISTS`.", fix=_fix(ctx, d.if_exists_at))
    elif isinstance(d, AlterTable) and d.relkind in ("table", "foreign table"):
        # (ALTER TYPE … DROP ATTRIBUTE is a drop of a column too, with its IF EXISTS elsewhere)
        for action in d.actions:
            kind = _ACTIONS.get(action.kind, "")
            if not kind or action.if_exists or (supported is not None and kind not in supported):
                continue
            name = shown(ctx, Name(action.name or "?", None, action.name_at))
            where = At(action.at.start, action.name_at.end) if action.at and action.name_at else action.at
            yield ctx.report(where, f"`DROP {kind} {name}` fails if `{shown(ctx, d.name)}` has no {kind.lower()} "
                                    f"`{name}`.", help="Add `IF EXISTS`.", fix=_fix(ctx, action.if_exists_at))


def shown(ctx: StatementContext, name: Name) -> str:
    """A name for messages: as PostgreSQL files write it (quotes and template placeholders kept); bare for
    MySQL and SQLite, whose backticks would break the message's own."""
    if ctx.dialect == "postgres":
        return ctx.name(name)
    return f"{name.schema}.{name.name}" if name.schema else name.name


def _fix(ctx: StatementContext, after: int | None) -> Fix | None:
    """`IF EXISTS` inserted after statement offset `after` (None: the reader does not know where)."""
    if after is None:
        return None
    at = ctx.span(At(after - 1, after)).end
    return Fix("Insert `IF EXISTS`", (Edit(Span(at, at), " IF EXISTS"),))


RULE = Rule(code="SG20", name="unconditional-drop", severity="warning", doc=__doc__, check=check, fixable=True,
            dialects=KNOWN)
