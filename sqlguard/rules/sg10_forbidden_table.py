"""A statement names a table that the catalog forbids (the classic: `profiles` where the table is `users`).

The rule catalog lists names that must not be used, each with the table to use instead. Every
reference counts, schema-qualified or quoted: FROM, JOIN, INTO, UPDATE, REFERENCES, ALTER TABLE,
DROP, CREATE INDEX … ON, TRUNCATE, COMMENT ON, GRANT, views, and statements inside DO blocks and
function bodies. Names defined by a WITH clause are not table references. The rule is active only
when a catalog is configured.

## Why is this bad?
The query fails at run time with `relation "profiles" does not exist`, or worse, a stray table of
that name exists and the code reads and writes data that nothing else uses.

## Example
    SELECT p.display_name FROM profiles p WHERE p.id = $1;

## Use instead
    SELECT u.display_name FROM users u WHERE u.id = $1;
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.catalog import ForbiddenName
from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.sql.ddl.model import At
from sqlguard.sql.reading import KNOWN


def check(ctx: StatementContext) -> Iterator[Finding]:
    catalog = ctx.catalog
    if catalog is None or not catalog.forbidden:
        return
    low = ctx.stmt.text.lower()
    if not any(name.rsplit(".", 1)[-1] in low for name in catalog.forbidden):
        return  # cheap pre-filter: no forbidden name appears anywhere in the text
    for ref in ctx.ddl.references:
        hit = catalog.lookup_forbidden(ref.name.name, ref.name.schema)
        if hit is not None:
            yield _report(ctx, ref.name.at, ref.name.name, hit, ref.role == "create")


def _report(ctx: StatementContext, where: At | None, name: str, hit: ForbiddenName, creates: bool) -> Finding:
    if creates:
        message = f"creates table `{name}`, which this schema forbids"
    else:
        message = f"table `{name}` does not exist in this schema"
    if hit.use:
        message += f": use `{hit.use}`"
    if hit.reason:
        message += f" ({hit.reason.rstrip('.')})"
    help = f"Replace `{name}` with `{hit.use}`." if hit.use else f"Remove the reference to `{name}`."
    return ctx.report(where, message + ".", help=help)


RULE = Rule(code="SG10", name="forbidden-table", severity="error", doc=__doc__, check=check,
            dialects=KNOWN)
