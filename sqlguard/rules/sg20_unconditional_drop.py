"""`DROP` without `IF EXISTS` fails when the object is already gone.

Covers DROP TABLE / VIEW / MATERIALIZED VIEW / INDEX / SEQUENCE / TYPE / FUNCTION / PROCEDURE /
SCHEMA / TRIGGER / DOMAIN / EXTENSION / POLICY, and ALTER TABLE … DROP COLUMN / CONSTRAINT, where
the dialect has an `IF EXISTS` form (MySQL has none for DROP INDEX or DROP COLUMN, SQLite none for
DROP COLUMN). Autofix: `sqlguard lint --fix` inserts `IF EXISTS`.

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
from sqlguard.rules._drops import drop_sites

# Which DROP kinds have an IF EXISTS form, per dialect (None: all of them).
_SUPPORTED: dict[str, set[str] | None] = {
    "postgres": None,
    "mysql": {"TABLE", "VIEW", "DATABASE", "SCHEMA", "FUNCTION", "PROCEDURE", "TRIGGER", "EVENT"},
    "sqlite": {"TABLE", "VIEW", "INDEX", "TRIGGER"},
}


def check(ctx: StatementContext) -> Iterator[Finding]:
    words = ctx.words(2)
    if not words or words[0] not in ("DROP", "ALTER"):
        return
    supported = _SUPPORTED.get(ctx.dialect)
    for site in drop_sites(ctx.lexemes):
        if site.conditional or (supported is not None and site.kind not in supported):
            continue
        name = site.names[0].value if site.names else "?"
        at = ctx.span(site.after).end
        fix = Fix("Insert `IF EXISTS`", (Edit(Span(at, at), " IF EXISTS"),))
        if site.table is not None:
            message = (f"`DROP {site.kind} {name}` fails if `{site.table.value}` has no {site.kind.lower()} "
                       f"`{name}`.")
        else:
            more = f" (and {len(site.names) - 1} more)" if len(site.names) > 1 else ""
            message = f"`DROP {site.kind} {name}`{more} fails if it does not exist."
        yield ctx.report(ctx.cover(site.keyword, site.names[0] if site.names else site.after),
                         message, help="Add `IF EXISTS`.", fix=fix)


RULE = Rule(code="SG20", name="unconditional-drop", severity="warning", doc=__doc__, check=check, fixable=True)
