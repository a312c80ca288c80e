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
from sqlguard.rules._sg55_ddl import column_list, create_table, quote, split_top, starts
from sqlguard.schema.model import Constraint, Table
from sqlguard.schema.replay import Effect, SchemaBuilder
from sqlguard.sql.lex import Lexeme, lex
from sqlguard.sql.split import Statement


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
    """The foreign key's text in the statement that added it (the statement's start if not found)."""
    stmt = next((s for s in ctx.statements if s.span == e.span), None)
    if stmt is None:
        return Span(e.span.start, e.span.start) if e.span is not None else Span(0, 0)
    toks = lex(stmt.text)
    cols = [_norm(c) for c in fk.columns]
    found = _table_level(toks, cols) or _inline(toks, cols[0])
    if found is None:
        return Span(stmt.span.start, stmt.span.start + len(stmt.text.split("\n", 1)[0]))
    return _span(stmt, found[0], found[1])


def _span(stmt: Statement, first: Lexeme, last: Lexeme) -> Span:
    a, b = stmt.offset(first.start), stmt.offset(last.end - 1) + 1
    return Span(min(a, b), max(a, b))


def _table_level(toks: list[Lexeme], cols: list[str]) -> tuple[Lexeme, Lexeme] | None:
    for k, t in enumerate(toks):
        if t.upper == "FOREIGN" and starts(toks[k:], "FOREIGN", "KEY"):
            names, end = column_list(toks, k + 2)
            if [_norm(n.value) for n in names] == cols:
                return t, toks[min(end, len(toks)) - 1]
    return None


def _inline(toks: list[Lexeme], col: str) -> tuple[Lexeme, Lexeme] | None:
    table = create_table(toks)
    if table is not None:
        for c in table.columns:
            if _norm(c.name.value) == col and c.has("REFERENCES"):
                return c.name, _references_end(c.rest)
        return None
    for piece in split_top(toks):
        for k, t in enumerate(piece):
            if t.kind in ("word", "quoted") and _norm(t.value) == col and any(x.upper == "REFERENCES"
                                                                              for x in piece[k:]):
                return t, _references_end(piece[k:])
    return None


def _references_end(toks: tuple[Lexeme, ...] | list[Lexeme]) -> Lexeme:
    """The last lexeme of `REFERENCES table [(cols)]`."""
    k = next(n for n, t in enumerate(toks) if t.upper == "REFERENCES")
    j = k + 1
    while j + 1 < len(toks) and toks[j + 1].value == ".":
        j += 2
    if j + 1 < len(toks) and toks[j + 1].value == "(":
        _, end = column_list(toks, j + 1)
        return toks[min(end, len(toks)) - 1]
    return toks[min(j, len(toks) - 1)]


RULE = Rule(code="SG65", name="fk-without-index", severity="warning", doc=__doc__, check=check, scope="file",
            group="hygiene", default=False)
