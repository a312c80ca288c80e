"""Application code queries a table or column that the migrations dropped or renamed.

For the SQL in a Python file's string literals (the same SQL SG40 follows to a database call),
sqlguard replays the project's migration history (the configured `migrations` folders, else the
histories of the SQL files of the run) and reports a table, or a column of a table, that a migration
dropped or renamed and no later migration created again, naming that migration and the new name.
Columns count when the statement says whose they are: qualified (`u.bio`), the target columns of
INSERT and UPDATE, or any column of a statement that reads one table and has no subquery.

## Why is this bad?
The migration ran, and the code was never changed: the first request that reaches this query fails
with `relation "profiles" does not exist` or `column "nickname" does not exist`, in production,
after a deploy that tests passed (tests often run against a schema built some other way).

## Example
    -- migrations/20240301090000_rename_profiles.sql
    ALTER TABLE profiles RENAME TO users;

    # app/repo.py
    cur.execute("SELECT id FROM profiles WHERE email = %s", (email,))

## Use instead
    cur.execute("SELECT id FROM users WHERE email = %s", (email,))
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sqlguard.diagnostic import Finding, Span
from sqlguard.lint.rule import Rule, StatementContext


def check(ctx: StatementContext) -> Iterator[Finding]:
    if ctx.stmt.context != "python" or ctx.file.removals is None or ctx.stmt.kind != "sql":
        return
    gone = ctx.file.removals()
    if not gone:
        return
    for ref in ctx.ddl.references:
        r = gone.get(("table", ref.name.name.lower()))
        if r is not None:
            yield ctx.report(ref.name.at, f"table `{ref.name.name}` is queried here, but migration `{r.migration}` "
                                          f"{_what(r)}.", help=_help(r, "table"))
    from sqlguard.sql.ddl.columns import column_references
    from sqlguard.sql.pgtree import parse

    pg = parse(_as_parameters(ctx.stmt.text))  # (the driver's placeholders are no SQL of PostgreSQL's)
    if not pg.ok:
        return
    for use in column_references(pg):
        r = gone.get(("column", use.table.lower(), use.column.lower()))
        if r is None:
            continue
        at = ctx.stmt.offset(use.location)
        yield ctx.report(Span(at, at + len(use.column)), f"column `{use.table}.{use.column}` is used here, but "
                                                          f"migration `{r.migration}` {_what(r)}.",
                         help=_help(r, "column"))


# A driver's placeholder: `%s`, `%(name)s`, `:name`, `?` (outside strings: the text is a constant query).
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s|(?<![:\w]):[A-Za-z_]\w*|\?")


def _as_parameters(text: str) -> str:
    """`text` with each driver placeholder written as a PostgreSQL parameter of the same length (`$1`, or
    `0` for `?`), so that positions in it stay those of the query."""
    def one(m: re.Match[str]) -> str:
        found = m.group(0)
        return "0" if found == "?" else "$1".ljust(len(found))

    return _PLACEHOLDER.sub(one, text)


def _what(r: object) -> str:
    new = getattr(r, "new", None)
    return f"renamed it to `{new}`" if new else "dropped it"


def _help(r: object, what: str) -> str:
    new = getattr(r, "new", None)
    if new:
        return f"Use the new name `{new}`."
    return f"Remove the {what} from this query, or restore it in a new migration if the code still needs it."


RULE = Rule(code="SG41", name="removed-in-migrations", severity="error", doc=__doc__, check=check,
            dialects=("postgres",))
