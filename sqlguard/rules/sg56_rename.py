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
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.rules._pg import ACCESS_EXCLUSIVE, locks_message
from sqlguard.rules._sg55_ddl import (
    Relation,
    added_column,
    alter_relation,
    create_table,
    quote,
    relation_at,
    rollback,
    skip_words,
    starts,
    written,
)
from sqlguard.sql.lex import Lexeme, lex


def check(ctx: StatementContext) -> Iterator[Finding]:
    stmt = ctx.stmt
    if ctx.dialect != "postgres" or stmt.context not in ("top", "do", "python-alembic"):
        return
    if rollback(ctx.file.migration, stmt.section):
        return  # a rollback that undoes a rename restores the name the old code uses
    if ctx.words(1) != ["ALTER"]:
        return
    alter = alter_relation(ctx.lexemes)
    if alter is None or alter.kind == "FOREIGN TABLE" or len(alter.actions) != 1:
        return  # RENAME is always the only action of its ALTER
    action = alter.actions[0]
    if not action or action[0].upper != "RENAME":
        return
    rel = alter.rel
    if _created_here(ctx, rel):
        return
    kind = "view" if "VIEW" in alter.kind else "table"
    shown = written(ctx.file.text, ctx.stmt, rel)
    what = alter.kind.lower()
    if len(action) >= 3 and action[1].upper == "TO":
        new = quote(action[2].name)
        if _name_reused(ctx, rel.name) or _name_vacated(ctx, action[2].name):
            return  # the swap idiom: one relation takes over the name another gave up in this file
        doing = f"Renaming {what} `{shown}` to `{new}`"
        message = (f"{doing} breaks every query of the running application that still says `{shown}`, from the "
                   f"moment it commits until the new code is deployed; "
                   f"{locks_message(ACCESS_EXCLUSIVE, shown, 'the rename')}.")
        if kind == "table":
            help_text = (f"Keep the old name working: in the same transaction run "
                         f"`CREATE VIEW {shown} AS SELECT * FROM {_sibling(shown, new)};`, and drop that view "
                         "once no code uses the old name.")
        else:
            help_text = (f"Create the view under the new name as well, move the code to `{new}`, and drop "
                         f"`{shown}` in a later migration.")
        yield ctx.report(ctx.cover(action[0], action[2]), message, help=help_text)
        return
    i = 2 if len(action) > 1 and action[1].upper == "COLUMN" else 1
    if i + 2 >= len(action) or action[i + 1].upper != "TO" or action[i].upper == "CONSTRAINT":
        return  # RENAME CONSTRAINT: code rarely names constraints
    old, new_tok = action[i], action[i + 2]
    if _column_added_here(ctx, rel, old.name):
        return
    col, new = quote(old.name), quote(new_tok.name)
    message = (f"Renaming `{shown}.{col}` to `{new}` breaks every query of the running application that still "
               f"uses `{col}`, from the moment it commits until the new code is deployed; "
               f"{locks_message(ACCESS_EXCLUSIVE, shown, 'the rename')}.")
    if kind == "table":
        help_text = (f"Add `{new}` next to `{col}`, write both, backfill, move reads to `{new}`, then drop `{col}` in "
                     "a later release (see the rule's docs).")
    else:
        help_text = f"Add `{new}` to the view as a second column, move the code to it, then drop `{col}` later."
    yield ctx.report(ctx.cover(action[0], new_tok), message, help=help_text)


def _sibling(shown: str, new: str) -> str:
    """`new` in the schema of `shown` (`auth.users` -> `auth.members`)."""
    schema, dot, _ = shown.rpartition(".")
    return f"{schema}{dot}{new}"


def _created_here(ctx: StatementContext, rel: Relation) -> bool:
    if ctx.file.created_here(rel.name):
        return True
    state = ctx.file.state
    low = rel.name.lower()
    return state is not None and any(e.kind == "create view" and e.target.rsplit(".", 1)[-1].lower() == low
                                     for e in state.effects)


def _column_added_here(ctx: StatementContext, rel: Relation, column: str) -> bool:
    """Whether an earlier statement of the file added `column` to `rel` (read from lexemes: the
    replay only follows tables it knows)."""
    for toks in _earlier(ctx, column):
        alter = alter_relation(toks)
        if alter is None or alter.rel.name != rel.name:
            continue
        for act in alter.actions:
            col = added_column(act)
            if col is not None and col.name.name == column:
                return True
    return False


def _name_vacated(ctx: StatementContext, new: str) -> bool:
    """Whether an earlier statement of the file renamed a relation away from `new`."""
    for toks in _earlier(ctx, new):
        alter = alter_relation(toks)
        if alter is not None and alter.rel.name == new and len(alter.actions) == 1 \
                and starts(alter.actions[0], "RENAME", "TO"):
            return True
    return False


def _earlier(ctx: StatementContext, mentioning: str) -> Iterator[list[Lexeme]]:
    me = ctx.stmt.span.start
    low = mentioning.lower()
    for stmt in ctx.file.statements:
        if stmt.span.start >= me:
            break
        if stmt.context in ("top", "do") and low in stmt.text.lower():
            yield lex(stmt.text)


def _name_reused(ctx: StatementContext, old: str) -> bool:
    """Whether a later statement of the file creates or renames another relation to `old`."""
    me = ctx.stmt.span.start
    low = old.lower()
    for stmt in ctx.file.statements:
        if stmt.span.start <= me or stmt.context not in ("top", "do") or low not in stmt.text.lower():
            continue
        toks = lex(stmt.text)
        if not toks:
            continue
        table = create_table(toks)
        if table is not None and table.rel.name == old:
            return True
        if toks[0].upper == "CREATE":
            i = skip_words(toks, 1, "OR", "REPLACE", "TEMP", "TEMPORARY", "MATERIALIZED", "UNLOGGED", "RECURSIVE")
            if i < len(toks) and toks[i].upper in ("VIEW", "TABLE"):
                found = relation_at(toks, skip_words(toks, i + 1, "IF", "NOT", "EXISTS"))
                if found is not None and found[0].name == old:
                    return True
        other = alter_relation(toks)
        if other is not None and other.actions:
            act = other.actions[0]
            if len(act) >= 3 and act[0].upper == "RENAME" and act[1].upper == "TO" and act[2].name == old:
                return True
    return False


RULE = Rule(code="SG56", name="rename-breaks-code", severity="warning", doc=__doc__, check=check)
