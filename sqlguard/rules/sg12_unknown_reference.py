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
from sqlguard.rules._refs import in_routine, table_refs
from sqlguard.rules.sg11_unknown_table import is_foreign, where_known
from sqlguard.schema.model import suggest


def check(ctx: StatementContext) -> Iterator[Finding]:
    known = ctx.file.known
    if known is None or in_routine(ctx) or ctx.dialect == "sqlite":
        return
    catalog = ctx.catalog
    own = _created_here(ctx)
    for ref in table_refs(ctx):
        if ref.role != "fk" or is_foreign(known, ref.name, ref.schema):
            continue
        if catalog is not None and catalog.lookup_forbidden(ref.name, ref.schema) is not None:
            continue  # SG10 names the table to use instead
        shown = f"{ref.schema}.{ref.name}" if ref.schema else ref.name
        if own is not None and ref.name.lower() == own[0]:
            columns: tuple[str, ...] | None = own[1]
        else:
            table = known.table(ref.name, ref.schema)
            if table is None:
                if known.has_relation(ref.name, ref.schema):
                    continue  # a view: PostgreSQL refuses it, but that is another finding
                close = suggest(ref.name, known.names())
                yield ctx.report(ref.where, f"foreign key targets table `{shown}`, which does not exist at this point: "
                                            f"{where_known(known)}.",
                                 help=f"Did you mean `{close}`?" if close else
                                 "Create the target table in an earlier migration.")
                continue
            columns = tuple(c.name for c in table.columns) if table.exact and table.columns else None
        if columns is None:
            continue
        for col in ref.columns:
            if col.lower() not in columns and col not in columns:
                close = suggest(col, columns)
                yield ctx.report(ref.where, f"foreign key targets `{shown}.{col}`, but `{shown}` has no column "
                                            f"`{col}` at this point.",
                                 help=f"Did you mean `{close}`?" if close else f"Reference a column of `{shown}`.")


def _created_here(ctx: StatementContext) -> tuple[str, tuple[str, ...]] | None:
    """The table this statement creates, with its columns: a table may reference itself."""
    from sqlglot import exp

    tree = ctx.tree
    if not isinstance(tree, exp.Create) or not isinstance(tree.this, exp.Schema):
        return None
    table = tree.this.this
    if not isinstance(table, exp.Table):
        return None
    cols = tuple(c.name.lower() for c in tree.this.expressions if isinstance(c, exp.ColumnDef))
    return table.name.lower(), cols


RULE = Rule(code="SG12", name="unknown-reference", severity="error", doc=__doc__, check=check)
