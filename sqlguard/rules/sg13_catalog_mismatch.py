"""The database does not hold what the rule catalog states (`sqlguard db check`).

Live mode only: `sqlguard db check --env dev` reads the database's schema from `pg_catalog` and
compares it with the catalog. It reports a forbidden table that exists (`profiles`, where the
catalog says to use `users`), a catalog table the database lacks, a foreign key whose target is a
forbidden table or not the one the catalog names, and a catalog column the table lacks.

## Why is this bad?
Code and migrations are checked against the catalog; if the database disagrees, either the catalog
is wrong (and every check built on it) or the database has drifted: a stray `profiles` table that
code still writes to, a foreign key that points at the wrong table, a column that was never added.

## Example
    -- the database holds a table the catalog forbids, and a foreign key to it
    CREATE TABLE profiles (id uuid PRIMARY KEY);
    CREATE TABLE likes (id uuid PRIMARY KEY, user_id uuid REFERENCES profiles (id));

## Use instead
    CREATE TABLE users (id uuid PRIMARY KEY);
    CREATE TABLE likes (id uuid PRIMARY KEY, user_id uuid REFERENCES users (id));
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.catalog import Catalog
from sqlguard.diagnostic import Finding, Span
from sqlguard.lint.rule import Rule
from sqlguard.schema.model import Schema


def check(pair: tuple[Schema, Catalog]) -> Iterator[Finding]:
    """Findings for a live schema against the catalog (called by `sqlguard db check`)."""
    live, catalog = pair
    at = Span(0, 0)
    for name in sorted(live.tables):
        hit = catalog.lookup_forbidden(name.rsplit(".", 1)[-1], name.rpartition(".")[0] or None)
        if hit is not None:
            use = f": use `{hit.use}`" if hit.use else ""
            yield Finding(at, f"table `{name}` exists in the database, but the catalog forbids it{use}.",
                          help=f"Move its data to `{hit.use}` and drop it in a migration." if hit.use else
                          "Drop it in a migration, or remove it from `forbidden`.")
    for name, spec in sorted(catalog.tables.items()):
        table = live.table(name.rsplit(".", 1)[-1], name.rpartition(".")[0] or None)
        if table is None:
            yield Finding(at, f"catalog table `{name}` does not exist in the database.",
                          help="Run the migration that creates it, or remove it from the catalog.")
            continue
        for col in spec.columns:
            if table.column(col.name) is None:
                yield Finding(at, f"catalog column `{name}.{col.name}` does not exist in the database.",
                              help=f"Add it with a migration, or remove it from `{name}.columns` in the catalog.")
            elif col.references:
                want = col.references.split("(")[0].strip().lower()
                fks = [fk for fk in table.foreign_keys if fk.columns == (col.name,)]
                if fks and all((fk.ref_table or "").rsplit(".", 1)[-1] != want for fk in fks):
                    got = ", ".join(f"`{fk.ref_table}`" for fk in fks)
                    yield Finding(at, f"foreign key on `{name}.{col.name}` targets {got}; the catalog says "
                                      f"`{col.references}`.", help=f"Point it at `{col.references}` in a migration.")
    for name in sorted(live.tables):
        for fk in live.tables[name].foreign_keys:
            target = (fk.ref_table or "").rsplit(".", 1)[-1]
            hit = catalog.lookup_forbidden(target)
            if hit is not None:
                use = f" `{hit.use}`" if hit.use else " another table"
                yield Finding(at, f"foreign key `{fk.name}` on `{name}` targets `{fk.ref_table}`, which the catalog "
                                  f"forbids: it should reference{use}.",
                              help=f"Drop `{fk.name}` and add it again with `REFERENCES {hit.use or '…'}`.")


RULE = Rule(code="SG13", name="catalog-mismatch", severity="error", doc=__doc__, check=check, scope="live")
