"""Renaming a table, view or column breaks the running application, which still uses the old name.

Covers `ALTER TABLE … RENAME TO`, `ALTER TABLE … RENAME [COLUMN] a TO b`, and the same on views
and materialized views. Not reported for a relation or column created earlier in the same file
(no code knows it yet), when a later statement of the file gives the old name to a new table or
view (the swap idiom: `RENAME TO users_old` then `RENAME users_new TO users`), in rollbacks (the
down section or file that undoes a rename), or in function bodies.

## Why is this bad?
Migrations run before (or while) the new code is deployed. From the moment the rename commits until
every old instance is gone, each query that says the old name fails with `relation does not exist`
or `column does not exist`. The rename itself also takes an ACCESS EXCLUSIVE lock, so it queues
every query on the table while it waits for that lock.

## Example
    ALTER TABLE users RENAME COLUMN bio TO about;

## Use instead
    -- A column, expand and contract over several releases:
    -- 1. migration: ALTER TABLE users ADD COLUMN about text;
    -- 2. release: write both `bio` and `about` (or a trigger copies `bio` into `about`);
    -- 3. migration: backfill in batches: UPDATE users SET about = bio WHERE id BETWEEN … AND about IS NULL;
    -- 4. release: read `about`, stop using `bio`;
    -- 5. migration: ALTER TABLE users DROP COLUMN bio;
    ALTER TABLE users ADD COLUMN about text;

    -- A table: rename it and leave an updatable view with the old name in the same transaction,
    -- then drop the view once no code uses the old name:
    --   ALTER TABLE users RENAME TO members;
    --   CREATE VIEW users AS SELECT * FROM members;
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding
from sqlguard.lint.facts import facts
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.postgres.locks import ACCESS_EXCLUSIVE, message
from sqlguard.sql.ddl.model import CreateTable, CreateView, Rename, quote

_RELATIONS = ("table", "view", "materialized view")


def check(ctx: StatementContext) -> Iterator[Finding]:
    stmt = ctx.stmt
    if ctx.dialect != "postgres" or stmt.context not in ("top", "do", "python-alembic") or stmt.kind != "sql":
        return
    if ctx.in_rollback:
        return  # a rollback that undoes a rename restores the name the old code uses
    if stmt.keyword != "ALTER" or ctx.rejected:
        return
    d = ctx.ddl
    if not isinstance(d, Rename) or d.relation is None or d.object not in (*_RELATIONS, "column"):
        return
    rel = d.relation
    if ctx.file.created_here(rel.name, views=True):
        return
    shown = ctx.name(rel)
    new = quote(d.new)
    if d.object in _RELATIONS:
        if _name_reused(ctx, rel.name) or _name_vacated(ctx, d.new):
            return  # the swap idiom: one relation takes over the name another gave up in this file
        doing = f"Renaming {d.object} `{shown}` to `{new}`"
        text = (f"{doing} breaks every query of the running application that still says `{shown}`, from the "
                f"moment it commits until the new code is deployed; {message(ACCESS_EXCLUSIVE, shown, 'the rename')}.")
        if d.object == "table":
            help_text = (f"Keep the old name working: in the same transaction run "
                         f"`CREATE VIEW {shown} AS SELECT * FROM {_sibling(shown, new)};`, and drop that view "
                         "once no code uses the old name.")
        else:
            help_text = (f"Create the view under the new name as well, move the code to `{new}`, and drop "
                         f"`{shown}` in a later migration.")
        yield ctx.report(_rename_at(ctx, d), text, help=help_text)
        return
    if _column_added_here(ctx, rel.name, d.old):
        return
    col = quote(d.old)
    text = (f"Renaming `{shown}.{col}` to `{new}` breaks every query of the running application that still "
            f"uses `{col}`, from the moment it commits until the new code is deployed; "
            f"{message(ACCESS_EXCLUSIVE, shown, 'the rename')}.")
    if "view" in d.relation_kind:
        help_text = f"Add `{new}` to the view as a second column, move the code to it, then drop `{col}` later."
    else:
        help_text = (f"Add `{new}` next to `{col}`, write both, backfill, move reads to `{new}`, then drop `{col}` in "
                     "a later release (see the rule's docs).")
    yield ctx.report(_rename_at(ctx, d), text, help=help_text)


def _rename_at(ctx: StatementContext, d: Rename):  # type: ignore[no-untyped-def]
    """From the RENAME keyword to the new name."""
    start = next((t for t in ctx.lexemes if t.upper == "RENAME" and t.depth == 0), None)
    if start is None or d.new_at is None:
        return d.new_at
    return ctx.cover(start, d.new_at)


def _sibling(shown: str, new: str) -> str:
    """`new` in the schema of `shown` (`auth.users` -> `auth.members`)."""
    schema, dot, _ = shown.rpartition(".")
    return f"{schema}{dot}{new}"


def _column_added_here(ctx: StatementContext, table: str, column: str) -> bool:
    """Whether an earlier statement of the file added `column` to `table`."""
    for i, d in facts(ctx.file).alters(table):
        if i >= ctx.index:
            break
        if any(a.kind == "AT_AddColumn" and a.column_def is not None and a.column_def.name == column
               for a in d.actions):
            return True
    return False


def _renames_and_creates(ctx: StatementContext, before: bool) -> Iterator[tuple[int, object]]:
    stmts = ctx.file.statements
    rng = range(ctx.index) if before else range(ctx.index + 1, len(stmts))
    for i in rng:
        s = stmts[i]
        if s.kind == "sql" and s.context in ("top", "do") and s.keyword in ("ALTER", "CREATE"):
            yield i, ctx.file.ddl(i)


def _name_vacated(ctx: StatementContext, new: str) -> bool:
    """Whether an earlier statement of the file renamed a relation away from `new`."""
    return any(isinstance(d, Rename) and d.object in _RELATIONS and d.old == new
               for _, d in _renames_and_creates(ctx, before=True))


def _name_reused(ctx: StatementContext, old: str) -> bool:
    """Whether a later statement of the file creates or renames another relation to `old`."""
    for _, d in _renames_and_creates(ctx, before=False):
        if isinstance(d, (CreateTable, CreateView)) and d.name.name == old:
            return True
        if isinstance(d, Rename) and d.object in _RELATIONS and d.new == old:
            return True
    return False


RULE = Rule(code="SG56", name="rename-breaks-code", severity="warning", doc=__doc__, check=check,
            dialects=("postgres",))
