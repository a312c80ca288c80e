"""A foreign key has no index on its columns, so every delete of a referenced row scans the whole table.

Opt-in (group `hygiene`). For each foreign key this file adds (in CREATE TABLE, ADD COLUMN …
REFERENCES or ADD CONSTRAINT … FOREIGN KEY), looks at the schema as the file leaves it: an
index, primary key or unique constraint whose leading columns are the key's columns (in any order)
covers it. Indexes created by a later migration are not seen; an index whose columns sqlguard
could not read counts as covering.

## Why is this bad?
PostgreSQL indexes the referenced side of a foreign key (its primary key or unique constraint),
never the referencing side. Each DELETE of a referenced row, or UPDATE of its key, looks for
referencing rows with a scan of the whole referencing table, row after row, while holding its
locks; an `ON DELETE CASCADE` does the same to find what to delete. Joins from parent to children
scan too. Small tables hide it until they are not small.

1. In the migration that adds the foreign key to a new table, add
   `CREATE INDEX likes_user_id_idx ON likes (user_id);` right after it.
2. For an existing table, use `CREATE INDEX CONCURRENTLY` in a migration that runs without a
   transaction.
3. A composite primary key or unique constraint whose leading columns are the foreign key's
   columns already covers it; no extra index is needed.

## Example
    CREATE TABLE likes (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id));

## Use instead
    CREATE TABLE likes (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id));
    CREATE INDEX likes_user_id_idx ON likes (user_id);
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding, Span
from sqlguard.lint.rule import FileContext, Rule
from sqlguard.schema.model import Constraint, Table
from sqlguard.schema.replay import Effect, SchemaBuilder
from sqlguard.sql.ddl.model import AlterTable, At, ColumnDef, CreateTable, Description, quote


def check(ctx: FileContext) -> Iterator[Finding]:
    state = ctx.state
    if ctx.dialect != "postgres" or state is None:
        return
    effects = state.effects
    for n, e in enumerate(effects):
        if e.kind == "create table" and isinstance(e.after, Table):
            added = e.after.foreign_keys
        elif e.kind == "add constraint" and isinstance(e.after, Constraint) and e.after.kind == "foreign key":
            added = (e.after,)
        else:
            continue
        final = _final_table(state, effects, n, e.target)
        if final is None:
            continue  # dropped later in the file
        for fk in added:
            now = final.constraint(fk.name)
            if now is None or now.kind != "foreign key" or not now.columns:
                continue  # dropped (or renamed past recognition) later in the file
            if _covered(state, final, now.columns) or _indexed_later(ctx, final.name, now.columns):
                continue
            yield _report(ctx, e, final, now, created=e.kind == "create table" or _created(effects, final.name))


def _final_table(state: SchemaBuilder, effects: list[Effect], n: int, target: str) -> Table | None:
    """The table `target` as the file leaves it, following later renames."""
    name = target
    for later in effects[n + 1:]:
        if later.kind == "rename table" and later.before == name:
            name = str(later.after)
    return state.tables.get(name)


def _created(effects: list[Effect], table: str) -> bool:
    return any(e.kind == "create table" and e.target == table for e in effects)


def _norm(col: str) -> str:
    return col.replace('"', "").lower()


def _covered(state: SchemaBuilder, table: Table, cols: tuple[str, ...]) -> bool:
    want = {_norm(c) for c in cols}
    width = len(want)
    for c in table.constraints:
        if c.kind in ("primary key", "unique") and {_norm(x) for x in c.columns[:width]} == want:
            return True
    for idx in state.indexes.values():
        if idx.table != table.name:
            continue
        if not idx.columns:
            return True  # an index sqlguard could not read: give it the benefit of the doubt
        if {_norm(x) for x in idx.columns[:width]} == want:
            return True
    return False


def _indexed_later(ctx: FileContext, table: str, cols: tuple[str, ...]) -> bool:
    """A later migration of the history indexes the column (harness adds it one migration later)."""
    if ctx.final is None:
        return False
    want = {_norm(c) for c in cols}
    return any(idx.table == table and {_norm(x) for x in idx.columns[:len(want)]} == want
               for idx in ctx.final.indexes.values())


def _report(ctx: FileContext, e: Effect, table: Table, fk: Constraint, created: bool) -> Finding:
    cols = ", ".join(quote(c) for c in fk.columns)
    bare = table.name.rsplit(".", 1)[-1]
    shown = ".".join(quote(p) for p in table.name.split(".", 1)) if "." in table.name else quote(table.name)
    index = quote(f"{bare}_{'_'.join(_norm(c) for c in fk.columns)}_idx")
    ref = f" → `{fk.ref_table}`" if fk.ref_table and fk.ref_table != "?" else ""
    target = f"`{fk.ref_table}`" if ref else "the referenced table"
    message = (f"The foreign key `{shown}({cols})`{ref} has no index starting with its columns: every DELETE on "
               f"{target} (and every change of its key) scans all of `{shown}` for referencing rows.")
    concurrently = "" if created else "CONCURRENTLY "
    return ctx.report(_where(ctx, e, fk), message,
                      help=f"Add `CREATE INDEX {concurrently}{index} ON {shown} ({cols});`"
                           + ("" if created else " in a migration without a transaction") + ".")


def _where(ctx: FileContext, e: Effect, fk: Constraint) -> Span:
    """The foreign key as the statement that added it writes it (the statement's first line if not found)."""
    i = next((k for k, s in enumerate(ctx.statements) if s.span == e.span), None)
    if i is None:
        return Span(e.span.start, e.span.start) if e.span is not None else Span(0, 0)
    stmt = ctx.statements[i]
    at = _fk_at(ctx.ddl(i), [_norm(c) for c in fk.columns])
    if at is None:
        return Span(stmt.span.start, stmt.span.start + len(stmt.text.split("\n", 1)[0]))
    a, b = stmt.offset(at.start), stmt.offset(max(at.end - 1, at.start)) + 1
    return Span(min(a, b), max(a, b))


def _fk_at(d: Description, cols: list[str]) -> At | None:
    """Where `d` declares the foreign key on `cols`: a FOREIGN KEY constraint, or a column's own REFERENCES
    (from the column's name on)."""
    columns: tuple[ColumnDef, ...] = ()
    if isinstance(d, CreateTable):
        constraints, columns = d.constraints, d.columns
    elif isinstance(d, AlterTable):
        constraints = tuple(a.constraint for a in d.actions if a.constraint is not None)
        columns = tuple(a.column_def for a in d.actions if a.column_def is not None)
    else:
        return None
    for c in constraints:
        if c.kind == "foreign key" and [_norm(x) for x in c.columns] == cols:
            return c.at
    for col in columns:
        inline = col.has("foreign key")
        if inline is not None and [_norm(col.name)] == cols:
            if col.name_at is None or inline.at is None:
                return inline.at or col.name_at
            return At(col.name_at.start, inline.at.end)
    return None


RULE = Rule(code="SG65", name="fk-without-index", severity="warning", doc=__doc__, check=check, scope="file",
            group="hygiene", default=False, dialects=("postgres",))
