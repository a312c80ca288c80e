"""A foreign key or CHECK constraint added without `NOT VALID` checks every row while it blocks writes.

Covers `ALTER TABLE … ADD [CONSTRAINT name] FOREIGN KEY … REFERENCES …` and `ADD … CHECK (…)`
without `NOT VALID` on a table this migration did not create itself, `ADD COLUMN … REFERENCES …`
where PostgreSQL validates the new key (the statement also gives a column a DEFAULT, even
`DEFAULT NULL`, or adds a table foreign key: without either, the new column is all NULL and
PostgreSQL skips the check), and
`VALIDATE CONSTRAINT` in the same transaction that added the constraint `NOT VALID`
(PostgreSQL only; function bodies, which run later, are not checked). Autofix: `sqlguard lint
--fix` appends `NOT VALID` to the `ADD CONSTRAINT` action.

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

from sqlguard.diagnostic import Edit, Finding, Fix, Span
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.rules._pg import ACCESS_EXCLUSIVE, SHARE_ROW_EXCLUSIVE, Lock, locks_message
from sqlguard.rules._sg50_ddl import (
    Action,
    AddColumn,
    AddConstraint,
    AlterTable,
    add_column,
    add_constraint,
    alter_existing_table,
    alter_statements,
    facts,
    line_of,
    statement_lock,
    strongest,
    validate_constraint,
    written,
    written_name,
)
from sqlguard.sql.lex import Lexeme

# Words in a CHECK body that are not column names (for PostgreSQL's name of an unnamed CHECK).
_NOT_COLUMNS = {"AND", "OR", "NOT", "IS", "NULL", "IN", "ANY", "ALL", "SOME", "BETWEEN", "LIKE", "ILIKE", "SIMILAR",
                "TO", "TRUE", "FALSE", "CASE", "WHEN", "THEN", "ELSE", "END", "ARRAY", "DISTINCT", "FROM", "CAST",
                "AS", "COLLATE", "ESCAPE", "UNKNOWN", "INTERVAL", "CURRENT_DATE", "CURRENT_TIMESTAMP", "NOW",
                "VALUE"}


def check(ctx: StatementContext) -> Iterator[Finding]:
    parsed = alter_existing_table(ctx)
    if parsed is None or not parsed.actions:
        return
    fk_lock = _statement_lock(parsed)
    validated = _validates_foreign_keys(parsed)
    for k, action in enumerate(parsed.actions):
        con = add_constraint(action)
        if con is not None and con.kind in ("FOREIGN", "CHECK") and not con.not_valid:
            yield _constraint(ctx, parsed, con, fk_lock)
            continue
        col = add_column(action)
        if col is not None and col.references and validated is not None:
            yield _column_reference(ctx, parsed, col, fk_lock, validated)
            continue
        name_tok = validate_constraint(action)
        if name_tok is not None:
            yield from _validate(ctx, parsed, k, name_tok)


def _statement_lock(parsed: AlterTable) -> Lock:
    """The lock a foreign key's ALTER TABLE takes: SHARE ROW EXCLUSIVE, unless another action needs more."""
    return strongest(SHARE_ROW_EXCLUSIVE, statement_lock(parsed))


def _validates_foreign_keys(parsed: AlterTable) -> str | None:
    """Why PostgreSQL checks the rows for a new column's REFERENCES in this statement (None: it does not).

    It skips the check, the new column being all NULL, unless a new column of the statement has a
    DEFAULT (even `DEFAULT NULL`) or the statement also adds a table foreign key
    (parse_utilcmd.c, transformAlterTableStmt).
    """
    why = None
    for action in parsed.actions:
        col = add_column(action)
        if col is not None and (col.default is not None or col.serial or col.identity is not None):
            null = col.default is not None and [t.upper for t in col.default if t.value not in ("(", ")")] == ["NULL"]
            why = why or ("null default" if null else "default")
            if not null:
                return "default"
        con = add_constraint(action)
        if con is not None and con.kind == "FOREIGN":
            return "foreign key"
    return why


def _column_reference(ctx: StatementContext, parsed: AlterTable, col: AddColumn, lock: Lock, why: str) -> Finding:
    table = written_name(ctx, parsed.name)
    ref = written_name(ctx, col.references)
    column = written(ctx, col.name)
    name = f"{parsed.table.value}_{col.name.value}_fkey"
    because = {"null default": "this statement gives a column `DEFAULT NULL`",
               "default": "this statement gives a column a DEFAULT",
               "foreign key": "this statement also adds a table foreign key"}[why]
    message = locks_message(lock, table, f"`ADD COLUMN {column} … REFERENCES {ref}` checks every row of `{table}` "
                                         f"({because}) and")
    if why == "null default":
        help = ("Drop `DEFAULT NULL` (NULL is the default anyway): for a new column without a DEFAULT, PostgreSQL "
                "skips checking the rows.")
    else:
        help = (f"Add `{column}` without `REFERENCES`, then `ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES "
                f"{ref} … NOT VALID` and `VALIDATE CONSTRAINT {name}` in a separate migration.")
    return ctx.report(ctx.cover(col.action.first, col.references[-1]), message + f", and writes to `{ref}` wait as "
                      "well", help=help)


def _constraint(ctx: StatementContext, parsed: AlterTable, con: AddConstraint, fk_lock: Lock) -> Finding:
    table = written_name(ctx, parsed.name)
    action = con.action
    at = ctx.span(action.last).end
    fix = Fix("Append `NOT VALID`", (Edit(Span(at, at), " NOT VALID"),))
    if con.kind == "FOREIGN":
        ref = written_name(ctx, con.references) if con.references else "?"
        cols = ", ".join(written(ctx, c) for c in con.columns)
        shown = (f"ADD CONSTRAINT {written(ctx, con.name)} FOREIGN KEY … REFERENCES {ref}" if con.name is not None
                 else f"ADD FOREIGN KEY ({cols}) REFERENCES {ref}")
        name = written(ctx, con.name) if con.name is not None else (
            f"{parsed.table.value}_{'_'.join(c.value for c in con.columns)}_fkey")
        message = locks_message(fk_lock, table, f"`{shown}` checks every row of `{table}` and")
        message += f", and writes to `{ref}` wait as well"
        last = con.references[-1] if con.references else action.last
    else:
        shown = f"ADD CONSTRAINT {written(ctx, con.name)} CHECK (…)" if con.name is not None else "ADD CHECK (…)"
        name = written(ctx, con.name) if con.name is not None else _check_name(parsed.table.value, con.body)
        message = locks_message(ACCESS_EXCLUSIVE, table, f"`{shown}` checks every row of `{table}` and")
        last = action.last
    called = "" if con.name is not None else " (PostgreSQL's name for it)"
    return ctx.report(ctx.cover(action.first, last), message,
                      help=f"Add `NOT VALID`, then run `ALTER TABLE {table} VALIDATE CONSTRAINT {name};`{called} in "
                           "a separate migration.", fix=fix)


def _check_name(table: str, body: tuple[Lexeme, ...]) -> str:
    """The name PostgreSQL gives an unnamed CHECK: `<table>_<column>_check` for one column, else `<table>_check`."""
    columns = set()
    for i, t in enumerate(body):
        follows_call = i + 1 < len(body) and body[i + 1].value == "("
        after_cast = i > 0 and body[i - 1].value == "::"
        if t.kind in ("word", "quoted") and t.upper not in _NOT_COLUMNS and not follows_call and not after_cast:
            columns.add(t.name)
    return f"{table}_{columns.pop()}_check" if len(columns) == 1 else f"{table}_check"


def _validate(ctx: StatementContext, parsed: AlterTable, k: int, name_tok: Lexeme) -> Iterator[Finding]:
    """`VALIDATE CONSTRAINT` in the transaction that added the constraint NOT VALID."""
    name = name_tok.name
    table = parsed.table.value.lower()
    added_at: int | None = None  # where the constraint was added NOT VALID in this transaction
    lock: Lock = SHARE_ROW_EXCLUSIVE  # the strongest lock this transaction holds on the table by now
    for action in parsed.actions[:k]:  # added earlier in this very statement
        if _added_not_valid(action, name) is not None:
            added_at = ctx.stmt.span.start
            lock = strongest(lock, _lock_of(parsed, action))
    txs = facts(ctx.file).transactions(ctx.file)
    mine = txs.get(id(ctx.stmt))
    if mine is not None and mine.kind != "none":
        for stmt, other in alter_statements(ctx, ctx.stmt, table):
            tx = txs.get(id(stmt))
            if tx is None or tx.block != mine.block:
                continue
            lock = strongest(lock, _statement_lock(other))
            if any(_added_not_valid(action, name) is not None for action in other.actions):
                added_at = stmt.span.start
    if added_at is None:
        return
    line = line_of(ctx.file, added_at)
    shown = written_name(ctx, parsed.name)
    constraint = written(ctx, name_tok)
    article = "an" if lock.mode.startswith("A") else "a"
    message = (f"`VALIDATE CONSTRAINT {constraint}` checks every row of `{shown}` in the transaction that added it NOT "
               f"VALID (line {line}), which still holds {article} {lock.mode} lock on the table: {lock.blocks}")
    yield ctx.report(ctx.cover(ctx.lexemes[0], name_tok), message,
                     help=f"Commit first: run `ALTER TABLE {shown} VALIDATE CONSTRAINT {constraint};` in a separate "
                          "migration, where it takes only a SHARE UPDATE EXCLUSIVE lock.")


def _lock_of(parsed: AlterTable, action: Action) -> Lock:
    con = add_constraint(action)
    return _statement_lock(parsed) if con is not None and con.kind == "FOREIGN" else ACCESS_EXCLUSIVE


def _added_not_valid(action: Action, name: str) -> AddConstraint | None:
    con = add_constraint(action)
    if con is None or not con.not_valid or con.name is None or con.name.name != name:
        return None
    return con


RULE = Rule(code="SG52", name="constraint-without-not-valid", severity="warning", doc=__doc__, check=check,
            fixable=True)
