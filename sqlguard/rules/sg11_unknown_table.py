"""A statement references a table that is not known at that point of the history.

Known means: in the rule catalog, created by an earlier migration of the history, or created
earlier in this file. The rule is active only when a catalog or a migration history exists.
Not reported: `DROP … IF EXISTS` and `ALTER TABLE IF EXISTS` (absence is expected), foreign-key
targets (SG12 reports those), forbidden names (SG10), system catalogs (`pg_*`,
`information_schema`), migration runners' own tables (`schema_migrations`, `flyway_schema_history`,
…), tables in schemas this project does not manage (Supabase's `auth`), and
function bodies, whose tables are looked up when the function runs.

## Why is this bad?
The statement fails with `relation "…" does not exist` when the migration runs, usually because
of a typo, a table that was renamed, or a migration that depends on one that runs after it.

## Example
    CREATE TABLE users (id uuid PRIMARY KEY);
    INSERT INTO user (id) VALUES (gen_random_uuid());

## Use instead
    CREATE TABLE users (id uuid PRIMARY KEY);
    INSERT INTO users (id) VALUES (gen_random_uuid());
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.schema.model import suggest
from sqlguard.sql.ddl import in_routine


def check(ctx: StatementContext) -> Iterator[Finding]:
    known = ctx.file.known
    if known is None or in_routine(ctx.ddl, ctx.stmt.context):
        return
    catalog = ctx.catalog
    for ref in ctx.ddl.references:
        if ref.role in ("create", "fk") or ref.conditional:
            continue
        name, schema = ref.name.name, ref.name.schema
        if known.is_foreign(name, schema):
            continue
        if catalog is not None and catalog.lookup_forbidden(name, schema) is not None:
            continue  # SG10 names the table to use instead
        if known.has_relation(name, schema):
            continue
        shown = f"{schema}.{name}" if schema else name
        close = suggest(name, known.names())
        help = f"Did you mean `{close}`?" if close else "Create it in an earlier migration, or add it to the catalog."
        yield ctx.report(ref.name.at, f"table `{shown}` is not known at this point: {known.sources()}.", help=help)


RULE = Rule(code="SG11", name="unknown-table", severity="error", doc=__doc__, check=check)
