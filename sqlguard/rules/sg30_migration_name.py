"""A migration file name its tool does not recognise: the migration silently never runs.

## Why is this bad?
Migration tools find migrations by file name alone. golang-migrate runs `<version>_<name>.up.sql`
and ignores `0021_add_index_up.sql`; Flyway runs `V3__add_index.sql` and skips `V3_add_index.sql`
(one underscore) without a word; goose refuses a name without `<version>_`; sqitch deploys only
the changes listed in `sqitch.plan`. The file is reviewed, merged and never applied, and the first
migration that relies on it fails, often only in production. sqlguard's own convention,
`YYYYMMDDHHMMSS_snake_case_name.sql`, needs a real timestamp so that migrations sort in the order
they were written.

## Example
    migrations/0021_add_webhook_index_up.sql     (golang-migrate)
    sql/V3_add_index.sql                          (Flyway)

## Use instead
    migrations/0021_add_webhook_index.up.sql
    sql/V3__add_index.sql
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding, Span
from sqlguard.lint.rule import FileContext, Rule
from sqlguard.migrations.files import LABELS, PATTERNS, short_name
from sqlguard.sql.reading import KNOWN


def check(ctx: FileContext) -> Iterator[Finding]:
    migration = ctx.migration
    if migration is None or migration.name_problem is None:
        return
    shown = short_name(migration.path, migration.convention)
    if migration.convention == "sqitch":
        change = (migration.name or "").partition("@")[0]
        message = f"`{shown}` is not a planned sqitch change: {migration.name_problem}"
        yield ctx.report(Span(0, 0), _sentence(message),
                         help=f"Add `{change}` to `sqitch.plan` (`sqitch add {change}`), or delete the "
                              f"script.")
        return
    label = LABELS.get(migration.convention, migration.convention)
    if migration.suggested_name:
        help = f"Rename it to `{migration.suggested_name}`."
    else:
        help = f"Rename it to the `{PATTERNS.get(migration.convention, '')}` pattern."
    message = f"`{shown}` is not a {label} file name: {migration.name_problem}"
    yield ctx.report(Span(0, 0), _sentence(message), help=help)


def _sentence(message: str) -> str:
    return message if message.endswith((".", "?", "!")) else message + "."


RULE = Rule(code="SG30", name="migration-name", severity="warning", doc=__doc__, check=check, scope="file",
            dialects=KNOWN)
