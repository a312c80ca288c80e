"""A foreign key or CHECK constraint added without `NOT VALID` checks every row while it blocks writes.

Covers `ALTER TABLE … ADD [CONSTRAINT name] FOREIGN KEY … REFERENCES …` and `ADD … CHECK (…)`
without `NOT VALID` on a table this migration did not create itself, `ADD COLUMN … REFERENCES …`
where PostgreSQL validates the new key (the statement also gives a column a DEFAULT, even
`DEFAULT NULL`, or adds a table foreign key: without either, the new column is all NULL and
PostgreSQL skips the check), and
`VALIDATE CONSTRAINT` in the same transaction that added the constraint `NOT VALID`
(PostgreSQL only; function bodies, which run later, are not checked). Autofix: `sqlguard lint
--fix` appends `NOT VALID` to the `ADD CONSTRAINT` action.

A constraint added `NOT VALID` that no later statement of the migration, nor a later migration of
its history, validates is reported too: the rows that were there were never checked (at info level
in the newest migration, whose next one may be about to). In a migration that runs statement by
statement (no transaction around it), `--fix` writes the `VALIDATE CONSTRAINT` after it; in one
transaction the step belongs in the next migration, and the help gives the statement.

## Why is this bad?
To add a foreign key PostgreSQL takes a SHARE ROW EXCLUSIVE lock on both tables and reads every
row of the referencing one: no row of either table can be inserted, updated or deleted until it
has. A CHECK constraint takes an ACCESS EXCLUSIVE lock for its scan: even reads wait. `NOT VALID`
adds the constraint at once (new and changed rows are checked from then on) and leaves the old rows
to `VALIDATE CONSTRAINT`, which takes only a SHARE UPDATE EXCLUSIVE lock: reads and writes go on
while it scans. Validating in the transaction that added the constraint gains nothing, since the
strong lock of `ADD CONSTRAINT` is held until that transaction commits.

The recipe:

1. `ALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;`
2. In a separate migration (or at least after a `COMMIT`):
   `ALTER TABLE orders VALIDATE CONSTRAINT orders_user_id_fkey;`
3. A new column is different: `ALTER TABLE orders ADD COLUMN user_id bigint REFERENCES users (id);`
   is safe as it stands, with no DEFAULT at all (not even `DEFAULT NULL`), since PostgreSQL then
   skips the check of an all-NULL column. With a DEFAULT, add the column without `REFERENCES`,
   then follow steps 1 and 2.

PostgreSQL before 18 does not accept `NOT VALID` foreign keys on a partitioned table; add them to
each partition that way instead.

## Example
    ALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id);

## Use instead
    ALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
    -- in the next migration:
    ALTER TABLE orders VALIDATE CONSTRAINT orders_user_id_fkey;
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from sqlguard.diagnostic import Edit, Finding, Fix, Span
from sqlguard.lint.facts import facts
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.postgres.locks import ACCESS_EXCLUSIVE, SHARE_ROW_EXCLUSIVE, Lock, message, strongest
from sqlguard.postgres.names import column_names_addition, make_object_name
from sqlguard.sql.ddl.model import Action, AlterTable, At, ConstraintDef


def check(ctx: StatementContext) -> Iterator[Finding]:
    d = ctx.altered_table()
    if d is None or not d.actions:
        return
    fk_lock = _statement_lock(d)
    validated = _validates_foreign_keys(d)
    for k, action in enumerate(d.actions):
        con = action.constraint
        if con is not None and action.kind == "AT_AddConstraint" and con.kind in ("foreign key", "check") \
                and not con.not_valid:
            yield _constraint(ctx, d, action, con, fk_lock)
            continue
        if con is not None and action.kind == "AT_AddConstraint" and con.kind in ("foreign key", "check"):
            yield from _never_validated(ctx, d, action, con)
            continue
        col = action.column_def
        if col is not None and col.has("foreign key") is not None and validated is not None:
            yield _column_reference(ctx, d, action, fk_lock, validated)
            continue
        if action.kind == "AT_ValidateConstraint" and action.name:
            yield from _validate(ctx, d, k, action)


def _statement_lock(d: AlterTable) -> Lock:
    """The lock a foreign key's ALTER TABLE takes: SHARE ROW EXCLUSIVE, unless another action needs more."""
    return strongest(SHARE_ROW_EXCLUSIVE, *(a.lock for a in d.actions)) or SHARE_ROW_EXCLUSIVE


def _validates_foreign_keys(d: AlterTable) -> str | None:
    """Why PostgreSQL checks the rows for a new column's REFERENCES in this statement (None: it does not).

    It skips the check, the new column being all NULL, unless a new column of the statement has a
    DEFAULT (even `DEFAULT NULL`) or the statement also adds a table foreign key
    (parse_utilcmd.c, transformAlterTableStmt).
    """
    why = None
    for a in d.actions:
        col = a.column_def
        if col is not None and (col.default is not None or (col.type is not None and col.type.serial)
                                or col.identity is not None):
            null = col.default is not None and col.default.null
            why = why or ("null default" if null else "default")
            if not null:
                return "default"
        if a.kind == "AT_AddConstraint" and a.constraint is not None and a.constraint.kind == "foreign key":
            return "foreign key"
    return why


def _column_reference(ctx: StatementContext, d: AlterTable, action: Action, lock: Lock, why: str) -> Finding:
    col = action.column_def
    assert col is not None
    fk = col.has("foreign key")
    assert fk is not None
    table = ctx.name(d.name)
    ref = ctx.name(fk.ref)
    column = ctx.written(col.name_at) or col.name
    name = make_object_name(d.name.name, col.name, "fkey")
    because = {"null default": "this statement gives a column `DEFAULT NULL`",
               "default": "this statement gives a column a DEFAULT",
               "foreign key": "this statement also adds a table foreign key"}[why]
    text = message(lock, table,
                   f"`ADD COLUMN {column} … REFERENCES {ref}` checks every row of `{table}` ({because}) and")
    if why == "null default":
        help = ("Drop `DEFAULT NULL` (NULL is the default anyway): for a new column without a DEFAULT, PostgreSQL "
                "skips checking the rows.")
    else:
        help = (f"Add `{column}` without `REFERENCES`, then `ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES "
                f"{ref} … NOT VALID` and `VALIDATE CONSTRAINT {name}` in a separate migration.")
    last = fk.ref.at if fk.ref is not None and fk.ref.at is not None else action.at
    return ctx.report(_up_to(action.at, last), text + f", and writes to `{ref}` wait as well", help=help)


def _up_to(start: At | None, last: At | None) -> At | None:
    """From the start of `start` to the end of `last` (the action up to its referenced table)."""
    if start is None or last is None:
        return start
    return At(start.start, max(last.end, start.start))


def _constraint(ctx: StatementContext, d: AlterTable, action: Action, con: ConstraintDef, fk_lock: Lock) -> Finding:
    table = ctx.name(d.name)
    fix = None
    if action.at is not None:
        at = ctx.span(action.at).end
        fix = Fix("Append `NOT VALID`", (Edit(Span(at, at), " NOT VALID"),))
    if con.kind == "foreign key":
        ref = ctx.name(con.ref) if con.ref is not None else "?"
        cols = ", ".join(con.columns)
        shown = (f"ADD CONSTRAINT {con.name} FOREIGN KEY … REFERENCES {ref}" if con.name is not None
                 else f"ADD FOREIGN KEY ({cols}) REFERENCES {ref}")
        name = con.name or make_object_name(d.name.name, column_names_addition(con.columns), "fkey")
        text = message(fk_lock, table, f"`{shown}` checks every row of `{table}` and")
        text += f", and writes to `{ref}` wait as well"
        last = con.ref.at if con.ref is not None and con.ref.at is not None else action.at
    else:
        shown = f"ADD CONSTRAINT {con.name} CHECK (…)" if con.name is not None else "ADD CHECK (…)"
        cols = tuple(dict.fromkeys(con.columns))
        name = con.name or make_object_name(d.name.name, cols[0] if len(cols) == 1 else None, "check")
        text = message(ACCESS_EXCLUSIVE, table, f"`{shown}` checks every row of `{table}` and")
        last = action.at
    called = "" if con.name is not None else " (PostgreSQL's name for it)"
    return ctx.report(_up_to(action.at, last), text, fix=fix,
                      help=f"Add `NOT VALID`, then run `ALTER TABLE {table} VALIDATE CONSTRAINT {name};`{called} "
                           "in a separate migration.")


def _name_of(d: AlterTable, con: ConstraintDef) -> str:
    """The constraint's name: its own, else the one PostgreSQL chooses."""
    if con.name is not None:
        return con.name
    if con.kind == "foreign key":
        return make_object_name(d.name.name, column_names_addition(con.columns), "fkey")
    cols = tuple(dict.fromkeys(con.columns))
    return make_object_name(d.name.name, cols[0] if len(cols) == 1 else None, "check")


def _never_validated(ctx: StatementContext, d: AlterTable, action: Action, con: ConstraintDef) -> Iterator[Finding]:
    """A constraint added `NOT VALID` that nothing validates: not a later statement of this migration, nor a
    later migration of its history (only judged for a migration of a history)."""
    later = ctx.file.validated_later
    if later is None or ctx.stmt.section == "down" or ctx.file.is_rollback(ctx.stmt.section):
        return
    name = _name_of(d, con)
    for i, other in facts(ctx.file).alters(d.name.name):
        if i > ctx.index and any(a.kind == "AT_ValidateConstraint" and a.name == name for a in other.actions):
            return
    if name in later():
        return
    table = ctx.name(d.name)
    step = f"ALTER TABLE {table} VALIDATE CONSTRAINT {name};"
    what = "foreign key" if con.kind == "foreign key" else "CHECK constraint"
    if ctx.file.last:
        text = (f"`{name}` is added NOT VALID and nothing validates it yet: until `VALIDATE CONSTRAINT`, the rows "
                f"already in `{table}` are not checked against the {what}.")
    else:
        text = (f"`{name}` is added NOT VALID and no later migration validates it: the rows that were in `{table}` "
                f"then were never checked against the {what}, and PostgreSQL still marks it not valid.")
    fix = None
    if not ctx.in_transaction and ctx.stmt.context == "top":  # each statement commits: VALIDATE can follow it
        end = ctx.stmt.span.end
        text_after = ctx.file.text[end:end + 1]
        at = end + (1 if text_after == ";" else 0)
        fix = Fix("Validate it after the statement", (Edit(Span(at, at), f"\n{step}"),))
        help = f"Validate it once the constraint is in: `{step}` (it takes a SHARE UPDATE EXCLUSIVE lock)."
    else:
        help = (f"Add a migration after this one with `{step}`: outside this migration's transaction it takes "
                "only a SHARE UPDATE EXCLUSIVE lock, and reads and writes go on while it checks the rows.")
    f = ctx.report(action.at, text, help=help, fix=fix)
    yield replace(f, severity="info") if ctx.file.last and fix is None else f


def _validate(ctx: StatementContext, d: AlterTable, k: int, action: Action) -> Iterator[Finding]:
    """`VALIDATE CONSTRAINT` in the transaction that added the constraint NOT VALID."""
    name = action.name
    added_at: int | None = None  # where the constraint was added NOT VALID in this transaction
    lock: Lock = SHARE_ROW_EXCLUSIVE  # the strongest lock this transaction holds on the table by now
    for other in d.actions[:k]:  # added earlier in this very statement
        if _added_not_valid(other, name):
            added_at = ctx.stmt.span.start
            lock = strongest(lock, other.lock) or lock
    txs = ctx.file.transactions
    if txs is not None and txs.of(ctx.index).open:
        for i, other_d in facts(ctx.file).alters(d.name.name):
            if i >= ctx.index:
                break
            if not txs.same_block(ctx.index, i):
                continue
            lock = strongest(lock, *(a.lock for a in other_d.actions)) or lock
            if any(_added_not_valid(a, name) for a in other_d.actions):
                added_at = ctx.file.statements[i].span.start
    if added_at is None:
        return
    line = ctx.file.text.count("\n", 0, added_at) + 1
    shown = ctx.name(d.name)
    constraint = ctx.written(action.name_at) if action.name_at is not None else name
    text = (f"`VALIDATE CONSTRAINT {constraint}` checks every row of `{shown}` in the transaction that added it NOT "
            f"VALID (line {line}), which still holds {lock.article} {lock.mode} lock on the table: {lock.blocks}")
    yield ctx.report(ctx.cover(ctx.lexemes[0], action.name_at) if action.name_at is not None else None, text,
                     help=f"Commit first: run `ALTER TABLE {shown} VALIDATE CONSTRAINT {constraint};` in a separate "
                          "migration, where it takes only a SHARE UPDATE EXCLUSIVE lock.")


def _added_not_valid(a: Action, name: str | None) -> bool:
    con = a.constraint
    return a.kind == "AT_AddConstraint" and con is not None and con.not_valid and con.name is not None \
        and con.name == name


RULE = Rule(code="SG52", name="constraint-without-not-valid", severity="warning", doc=__doc__, check=check,
            fixable=True, dialects=("postgres",))
