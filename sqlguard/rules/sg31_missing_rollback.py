"""A migration without a working rollback cannot be undone when a release goes wrong.

## Why is this bad?
Rolling a release back runs the rollback of each of its migrations, newest first. A migration with
no rollback (no `.down.sql`, no `_rollback.sql`, no `revert/` script, no `-- migrate:down`
section) or with one that does nothing (only comments, `SELECT 1;`, `BEGIN; COMMIT;`) either
stops the rollback halfway or reports success while the schema stays changed under the old code.
A rollback whose migration was renamed or deleted is the same mistake seen from the other side:
nothing ever runs it.

Flyway folders without a single undo migration (`U<version>__…`) are taken as forward-only on
purpose and are not reported.

## Example
    -- migrate:up
    CREATE TABLE likes (id bigint PRIMARY KEY, post_id bigint NOT NULL);
    -- migrate:down

## Use instead
    -- migrate:up
    CREATE TABLE likes (id bigint PRIMARY KEY, post_id bigint NOT NULL);
    -- migrate:down
    DROP TABLE likes;
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding, Span
from sqlguard.lint.rule import FileContext, Rule
from sqlguard.migrations.files import MigrationFile, is_down_marker, short_name
from sqlguard.sql.reading import KNOWN

# What each convention calls the two halves, in messages.
_ROLLBACK_WORD = {"flyway": "undo migration", "sqitch": "revert script"}
_MIGRATION_WORD = {"flyway": "versioned migration", "sqitch": "deploy script"}
_DOWN_MARKER = {"dbmate": "-- migrate:down", "goose": "-- +goose Down"}
_UP_MARKER = {"dbmate": "-- migrate:up", "goose": "-- +goose Up"}


def check(ctx: FileContext) -> Iterator[Finding]:
    migration = ctx.migration
    if migration is None:
        return
    if migration.orphan:
        yield _orphan(ctx, migration)
        return
    if migration.role != "up" or migration.rollback_state not in ("missing", "empty"):
        return
    if migration.convention in _DOWN_MARKER:
        yield _missing_section(ctx, migration)
        return
    if migration.rollback is None:
        return  # a name its tool never runs (SG30 says so); there is no rollback to expect
    conv = migration.convention
    shown = short_name(migration.path, conv)
    rollback = short_name(migration.rollback, conv)
    word = _ROLLBACK_WORD.get(conv, "rollback")
    if migration.rollback_state == "missing":
        message = f"`{shown}` has no {word}: `{rollback}` does not exist, so it cannot be undone"
        help = f"Add `{rollback}` with the statements that reverse this migration."
    else:
        message = (f"`{shown}` has no {word}: `{rollback}` is empty (only comments or no-op statements), "
                   f"so it cannot be undone")
        help = f"Write the statements that reverse this migration in `{rollback}`."
    yield ctx.report(Span(0, 0), _sentence(message), help=help)


def _missing_section(ctx: FileContext, migration: MigrationFile) -> Finding:
    conv = migration.convention
    shown = short_name(migration.path, conv)
    down, up = _DOWN_MARKER[conv], _UP_MARKER[conv]
    if migration.rollback_state == "missing":
        message = f"`{shown}` has no rollback: it has no `{down}` section, so it cannot be undone"
        return ctx.report(Span(0, 0), _sentence(message),
                          help=f"Add a `{down}` section with the statements that reverse the `{up}` section.")
    # Point at the marker that opens the empty section: that is where the statements belong.
    marker = next((c for c in ctx.comments if is_down_marker(c.text, conv)), None)
    span = marker.span if marker is not None else Span(0, 0)
    message = (f"`{shown}` has no rollback: its `{down}` section is empty (only comments or no-op "
               f"statements), so it cannot be undone")
    return ctx.report(span, _sentence(message),
                      help=f"Write the statements that reverse the `{up}` section under `{down}`.")


def _orphan(ctx: FileContext, migration: MigrationFile) -> Finding:
    conv = migration.convention
    shown = short_name(migration.path, conv)
    word = _ROLLBACK_WORD.get(conv, "rollback")
    other = _MIGRATION_WORD.get(conv, "migration")
    if migration.migration_path is not None:
        other += f" `{short_name(migration.migration_path, conv)}`"
    message = f"{word} `{shown}` has no {other}, so it never runs"
    if migration.suggested_name and migration.name_problem is None:
        # The one migration of the same version: the rollback's name has a typo (harness 0026, 0097).
        help = f"Rename it to `{migration.suggested_name}`, the name that pairs it with its migration."
    else:
        help = "Delete it, or restore the migration it reverses."
    return ctx.report(Span(0, 0), _sentence(message), help=help)


def _sentence(message: str) -> str:
    return message if message.endswith((".", "?", "!")) else message + "."


RULE = Rule(code="SG31", name="missing-rollback", severity="warning", doc=__doc__, check=check, scope="file",
            dialects=KNOWN)
