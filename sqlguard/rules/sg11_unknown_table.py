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
from sqlguard.rules._refs import in_routine, table_refs
from sqlguard.schema.model import SYSTEM_SCHEMAS, suggest
from sqlguard.schema.replay import Known

# Tables that migration runners create for their own bookkeeping, outside the history.
RUNNER_TABLES = frozenset({"migrations", "schema_migrations", "schema_version", "flyway_schema_history",
                           "goose_db_version", "knex_migrations", "alembic_version", "django_migrations",
                           "sqlguard_migrations", "__diesel_schema_migrations", "seaql_migrations"})


def is_foreign(known: Known, name: str, schema: str | None) -> bool:
    """System tables, runners' bookkeeping tables and tables of schemas the project does not manage."""
    low = name.lower()
    if low.startswith(("pg_", "sqlite_")) or low in ("information_schema", "dual") or low in RUNNER_TABLES:
        return True
    return schema is not None and (schema.lower() in SYSTEM_SCHEMAS or not known.manages_schema(schema))


def where_known(known: Known) -> str:
    sources = []
    if known.catalog is not None:
        sources.append("not in the catalog")
    sources.append("not created by an earlier migration or earlier in this file")
    return ", ".join(sources)


def check(ctx: StatementContext) -> Iterator[Finding]:
    known = ctx.file.known
    if known is None or in_routine(ctx):
        return
    catalog = ctx.catalog
    for ref in table_refs(ctx):
        if ref.role in ("create", "fk") or ref.conditional:
            continue
        if is_foreign(known, ref.name, ref.schema):
            continue
        if catalog is not None and catalog.lookup_forbidden(ref.name, ref.schema) is not None:
            continue  # SG10 names the table to use instead
        if known.has_relation(ref.name, ref.schema):
            continue
        shown = f"{ref.schema}.{ref.name}" if ref.schema else ref.name
        close = suggest(ref.name, known.names())
        help = f"Did you mean `{close}`?" if close else "Create it in an earlier migration, or add it to the catalog."
        yield ctx.report(ref.where, f"table `{shown}` is not known at this point: {where_known(known)}.", help=help)


RULE = Rule(code="SG11", name="unknown-table", severity="error", doc=__doc__, check=check)
