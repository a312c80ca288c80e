"""Two migrations of one folder share a version: a tool refuses the folder or runs only one of them.

## Why is this bad?
Migration tools record which migrations a database ran by version. Two files with one version
(two branches that each added `0042_…`, or `V1__` next to `V1.0__`, which Flyway reads as the same
version) make golang-migrate, Flyway and goose refuse to run at all, and make dbmate, diesel and
sqlguard's own convention run the first and, on a database that already ran one of them, silently
skip the other. Versions are compared as the tool compares them: `V1` and `V1.0` are one version,
`0002` and `2` are one number.

If your tool keys migrations by the whole file name rather than its version (harness uses
maragudk/migrate this way), files that share a leading number are fine: turn this rule off for
that folder.

## Example
    migrations/0042_add_orders_status.up.sql
    migrations/0042_add_users_locale.up.sql

## Use instead
    migrations/0042_add_orders_status.up.sql
    migrations/0043_add_users_locale.up.sql
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sqlguard.diagnostic import Finding, Span
from sqlguard.lint.rule import FileContext, Rule
from sqlguard.migrations.files import short_name
from sqlguard.sql.reading import KNOWN

_CONSEQUENCE = {
    "golang-migrate": "golang-migrate refuses to run a folder with two migrations of one version",
    "flyway": "Flyway refuses to migrate a folder with two migrations of one version",
    "goose": "goose refuses to run a folder with two migrations of one version",
}
_DEFAULT = ("databases record migrations by version, so on a new database the second one fails and on a "
            "database that ran one of them the other is silently skipped")


def check(ctx: FileContext) -> Iterator[Finding]:
    others = ctx.duplicates
    if not others:
        return
    migration = ctx.migration
    shown = short_name(migration.path, migration.convention) if migration else Path(ctx.path).name
    version = migration.version if migration and migration.version else None
    convention = migration.convention if migration else ""
    listed = ", ".join(f"`{o}`" for o in others)
    consequence = _CONSEQUENCE.get(convention, _DEFAULT)
    has = f"has version `{version}`" if version else "has the version"
    yield ctx.report(Span(0, 0), f"`{shown}` {has}, like {listed}: {consequence}.",
                     help="Give the newer one a version of its own (`sqlguard new` picks the next free one).")


RULE = Rule(code="SG33", name="duplicate-version", severity="error", doc=__doc__, check=check, scope="file",
            dialects=KNOWN)
