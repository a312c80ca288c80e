"""A FOREIGN KEY or REFERENCES targets a table, or a column, that does not exist at that point.

The target must be in the catalog, created by an earlier migration, or created earlier in this
file (a table may reference itself). Column checks apply where the target's columns are known.
Not checked for SQLite, which resolves foreign keys only when rows are written.

## Why is this bad?
The migration fails with `relation "…" does not exist` or `column "…" referenced in foreign key
constraint does not exist`; when the target exists only in a later migration, a fresh database
cannot be built from the history.

## Example
    CREATE TABLE users (id uuid PRIMARY KEY);
    CREATE TABLE likes (user_id uuid REFERENCES users (uid));

## Use instead
    CREATE TABLE users (id uuid PRIMARY KEY);
    CREATE TABLE likes (user_id uuid REFERENCES users (id));
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.schema.model import suggest
from sqlguard.sql.ddl import in_routine
from sqlguard.sql.ddl.model import CreateTable


def check(ctx: StatementContext) -> Iterator[Finding]:
    known = ctx.file.known
    if known is None or in_routine(ctx.ddl, ctx.stmt.context) or ctx.dialect == "sqlite":
        return
    catalog = ctx.catalog
    d = ctx.ddl
    # a table may reference itself: the one this statement creates, with its columns
    own = (d.name.name.lower(), tuple(c.name.lower() for c in d.columns)) \
        if isinstance(d, CreateTable) and d.as_query is None else None
    for ref in d.references:
        name, schema = ref.name.name, ref.name.schema
        if ref.role != "fk" or known.is_foreign(name, schema):
            continue
        if catalog is not None and catalog.lookup_forbidden(name, schema) is not None:
            continue  # SG10 names the table to use instead
        shown = f"{schema}.{name}" if schema else name
        if own is not None and name.lower() == own[0]:
            columns: tuple[str, ...] | None = own[1]
        else:
            table = known.table(name, schema)
            if table is None:
                if known.has_relation(name, schema):
                    continue  # a view: PostgreSQL refuses it, but that is another finding
                close = suggest(name, known.names())
                yield ctx.report(ref.name.at, f"foreign key targets table `{shown}`, which does not exist at this "
                                              f"point: {known.sources()}.",
                                 help=f"Did you mean `{close}`?" if close else
                                 "Create the target table in an earlier migration.")
                continue
            columns = tuple(c.name for c in table.columns) if table.exact and table.columns else None
        if columns is None:
            continue
        for col in ref.columns:
            if col.lower() not in columns and col not in columns:
                close = suggest(col, columns)
                yield ctx.report(ref.name.at, f"foreign key targets `{shown}.{col}`, but `{shown}` has no column "
                                              f"`{col}` at this point.",
                                 help=f"Did you mean `{close}`?" if close else f"Reference a column of `{shown}`.")


RULE = Rule(code="SG12", name="unknown-reference", severity="error", doc=__doc__, check=check)
