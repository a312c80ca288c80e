"""A new migration sorts before one that databases already ran: it is skipped or runs out of order.

## Why is this bad?
Databases that already ran the newer migration have moved past this one's version. golang-migrate
only remembers the newest version it ran and never comes back for it; Flyway and goose refuse to
migrate such databases (unless `outOfOrder` / `-allow-missing` is on); dbmate and others run it
after the newer migration, an order nobody tested. It happens when a branch written last week is
merged after someone else's newer migration. "New" means added since `--diff-base REF` (in CI: the
branch a pull request targets), or, without it, staged or untracked (the pre-commit case).

## Example
    20240110090000_add_orders_status.sql     (already in main)
    20240105120000_add_users_locale.sql      (new in this branch)

## Use instead
    20240110090000_add_orders_status.sql
    20240112083000_add_users_locale.sql
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from sqlguard.diagnostic import Finding, Span
from sqlguard.lint.rule import FileContext, Rule
from sqlguard.migrations.files import short_name
from sqlguard.sql.reading import KNOWN

_CONSEQUENCE = {
    "golang-migrate": "golang-migrate only remembers the newest version a database ran, so databases that "
                      "ran `{other}` never run it",
    "flyway": "Flyway refuses to migrate databases that ran `{other}` (a resolved migration not applied) "
              "unless `outOfOrder` is on",
    "goose": "goose refuses to migrate databases that ran `{other}` (missing migrations) unless run with "
             "`-allow-missing`",
    "dbmate": "dbmate runs it after `{other}` on databases that already ran that one, an order nobody tested",
}
_DEFAULT = "databases that ran `{other}` will either skip it or apply it out of order"


def check(ctx: FileContext) -> Iterator[Finding]:
    newer = ctx.newer_existing
    if not newer:
        return
    migration = ctx.migration
    shown = short_name(migration.path, migration.convention) if migration else Path(ctx.path).name
    convention = migration.convention if migration else ""
    stem = re.sub(r"(?:[/.]up)?\.sql$", "", newer, flags=re.IGNORECASE)  # how people name a migration
    consequence = _CONSEQUENCE.get(convention, _DEFAULT).format(other=stem)
    message = f"`{shown}` is new but sorts before `{newer}`, which is already in the history: {consequence}."
    if convention == "sqitch":
        change = (migration.name if migration and migration.name else shown).partition("@")[0]
        help = f"Move `{change}` in `sqitch.plan` to after `{stem.removeprefix('deploy/')}`."
    else:
        help = f"Rename it with a version after `{stem}` (`sqlguard new` picks one)."
    yield ctx.report(Span(0, 0), message, help=help)


RULE = Rule(code="SG34", name="out-of-order", severity="warning", doc=__doc__, check=check, scope="file",
            dialects=KNOWN)
