"""SQL text built from a non-constant value reaches a database call: a SQL injection risk.

Python files are parsed (never imported or run). sqlguard follows the SQL argument of every sink
(DB-API `execute`/`executemany`/`executescript`/`mogrify`, psycopg and asyncpg `fetch*` and
`copy_expert`, SQLAlchemy `text()` and `exec_driver_sql`, Django `raw()`/`extra()`/`RawSQL`, pandas
`read_sql`, Alembic `op.execute`, and aliases or wrappers of these) back through local variables,
`+=`, module-level constants and simple helper functions, and reports values put into the text by
f-string, `%`, `.format`, `+`, `+=` or `join`. Not reported: constant SQL, parameters passed separately,
generated placeholder lists, quoted identifiers (`sql.Identifier`, `quote_ident`; not SQLAlchemy's
`quoted_name`, which is the raw string inside an f-string),
allow-list lookups, numbers (`int(x)`, `len(…)`), and SQL-looking text that never reaches a sink.

A function parameter is judged by what the project's callers pass it (every Python file of the run is
read for that, `sqlguard.python.project`): an error when some caller passes untrusted data (request
data, the command line, the environment, a file's contents), a warning when no caller in the project
shows the origin (a public API, a framework callback) or a caller passes a value read from the database
(a second-order risk), and nothing when every caller passes constants or configuration. Untrusted data
put into SQL in the function itself is an error.

## Why is this bad?
Whoever controls the value controls the query: `name = "x' OR '1'='1"` reads every row, and
`"'; DROP TABLE users; --"` does worse. Quoting by hand misses cases; the driver's parameters do not.

## Example
    def find_user(cur, name):
        cur.execute(f"SELECT id FROM users WHERE name = '{name}'")

## Use instead
    def find_user(cur, name):
        cur.execute("SELECT id FROM users WHERE name = %s", (name,))
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlguard.diagnostic import Edit, Finding, Fix, Span
from sqlguard.lint.rule import FileContext, Rule

if TYPE_CHECKING:  # (a lint of SQL files never loads the Python analysis)
    from sqlguard.python.analysis import Part, SqlSite

_HOW = {"f-string": "an f-string", "%": "`%` formatting", ".format": "`.format()`", "+": "`+` concatenation",
        "+=": "`+=`", "join": "`join()`", "": "string building"}


def check(ctx: FileContext) -> Iterator[Finding]:
    analysis = ctx.python
    if analysis is None:
        return
    for site in analysis.sites:
        judged = _judge(ctx, site)
        if judged is None:
            continue
        severity, origin, holes = judged
        first = holes[0]
        names = ", ".join(f"`{h.expr}`" for h in holes[:3]) + (f" and {len(holes) - 3} more" if len(holes) > 3 else "")
        how = _HOW.get(first.how, "string building")
        if len(site.value) == 1 and not first.how:
            message = f"`{site.sink}` runs {names}{origin} as SQL text: a SQL injection risk."
        else:
            message = f"{how} puts {names}{origin} into the SQL that `{site.sink}` runs: a SQL injection risk."
        yield ctx.report(ctx_span(ctx, site), message, help=_help(site), severity=severity, fix=_fix(ctx, site))


def _judge(ctx: FileContext, site: SqlSite) -> tuple[str, str, list[Part]] | None:
    """(severity, where the values come from, the holes to name) of a site, or None when nothing unsafe
    reaches it. Error only when untrusted data does (request data, the command line, the environment, a
    file), directly or through a parameter some caller in the project fills with it; a warning when a
    parameter's callers are unknown (no caller in the project), when a value was read from the database (a
    second-order risk), or when its origin is unknown; nothing when every caller passes constants or
    configuration."""
    holes = site.holes
    if not holes:
        return None
    direct = [h for h in holes if "untrusted" in h.sources]
    if direct:
        return "error", " (from request data, the command line, the environment or a file)", direct
    params = sorted({s[len("param:"):] for h in holes for s in h.sources if s.startswith("param:")})
    if params and ctx.project is not None and site.function:
        project = ctx.project()
        origins: frozenset[str] = frozenset()
        for p in params:
            origins |= project.parameter_origins(ctx.path, site.function, p)
        from_params = [h for h in holes if h.sources]
        shown = ", ".join(f"`{p}`" for p in params[:2])
        if "untrusted" in origins:
            return "error", f" (from {shown}, which a caller fills with request data, the command line, the " \
                            "environment or a file)", from_params
        if "unknown" in origins:
            return "warning", f" (from {shown}, whose callers do not show where it comes from)", from_params
        if "database" in origins:
            return "warning", f" (from {shown}, which a caller fills with a value read from the database)", \
                from_params
        # every caller passes constants or configuration: what is left is what the function builds itself
        holes = [h for h in holes if not any(s.startswith("param:") for s in h.sources)]
    elif params:
        return "warning", " (from a function parameter)", [h for h in holes if h.sources]
    if not holes:
        return None
    if all(h.sources == {"database"} for h in holes):
        return "warning", " (read from the database)", holes
    return "warning", "", holes


def ctx_span(ctx: FileContext, site: SqlSite):  # type: ignore[no-untyped-def]
    from sqlguard.python.analysis import _Lines

    return _Lines(ctx.text).span(site.arg)


def _help(site: SqlSite) -> str:
    holes = site.holes
    values = ", ".join(h.expr for h in holes[:3])
    style = site.style
    if style == "$1":
        marks = ", ".join(f"${i + 1}" for i in range(min(len(holes), 3)))
        return f"Use placeholders ({marks}) and pass the values as arguments: `{site.sink}(sql, {values})`."
    if style == ":name":
        return (f"Use named parameters (`:{_param(holes[0].expr)}`) and pass them separately: "
                f"`{site.sink}(\"… = :{_param(holes[0].expr)}\")` with `{{\"{_param(holes[0].expr)}\": "
                f"{holes[0].expr}}}`; for a table or column name, check it against an allow-list.")
    trailing = "," if len(holes[:3]) == 1 else ""
    return (f"Use `{style}` placeholders and pass the values separately: `{site.sink}(sql, ({values}{trailing}))`; "
            "for a table or column name, use `psycopg.sql.Identifier` or an allow-list.")


# What stands before a value in SQL (`= {v}`, `IN ({v}`, `LIKE {v}`, `LIMIT {v}`), and before a name
# (`FROM {t}`, `ORDER BY {c}`). Anything else is not rewritten.
_BEFORE_VALUE = re.compile(r"(?:[=<>(,]|\b(?:LIKE|ILIKE|IN|LIMIT|OFFSET|VALUES|THEN|ELSE|AND|OR|NOT|IS|BETWEEN))\s*$",
                           re.I)
_BEFORE_NAME = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE|BY)\s+$", re.I)


def _fix(ctx: FileContext, site: SqlSite) -> Fix | None:
    """The rewrite when it is certain: a literal f-string given to the sink, no parameters yet, each value
    put in where SQL takes a value (or between quotes), written back as the driver's placeholders with a
    parameter tuple; a table or column name, with psycopg's `sql` module imported, as
    `sql.SQL(…).format(sql.Identifier(…))`. Anything else is left to the help text."""
    arg = site.arg
    if not isinstance(arg, ast.JoinedStr) or site.params_given or site.style == ":name" or site.alembic:
        return None
    pieces: list[tuple[str, str | None]] = []  # (constant text, the value's source after it or None)
    text = ""
    for v in arg.values:
        if isinstance(v, ast.Constant) and isinstance(v.value, str):
            text += v.value
        elif isinstance(v, ast.FormattedValue) and v.conversion == -1 and v.format_spec is None:
            source = ast.get_source_segment(ctx.text, v.value)
            if source is None or "\n" in source:
                return None
            pieces.append((text, source))
            text = ""
        else:
            return None
    pieces.append((text, None))
    kinds: list[str] = []
    for i, (before, _) in enumerate(pieces[:-1]):
        after = pieces[i + 1][0]
        if before.endswith("'") and after.startswith("'"):
            kinds.append("quoted")
        elif _BEFORE_VALUE.search(before):
            kinds.append("value")
        elif _BEFORE_NAME.search(before):
            kinds.append("name")
        else:
            return None
    composed = "name" in kinds
    aliases = ctx.python.aliases if ctx.python is not None else {}
    if composed and aliases.get("sql") not in ("psycopg.sql", "psycopg2.sql"):
        return None  # (a name can be quoted only by the driver's composition module, bound as `sql`)
    out, values, n = "", [], 0
    for i, (before, value) in enumerate(pieces):
        chunk = before
        if i > 0 and kinds[i - 1] == "quoted":
            chunk = chunk[1:]  # the closing quote around a value that is now a parameter
        if value is not None and kinds[i] == "quoted":
            chunk = chunk[:-1]
        if composed:
            chunk = chunk.replace("{", "{{").replace("}", "}}")
        elif site.style == "%s":
            chunk = chunk.replace("%", "%%")
        out += chunk
        if value is None:
            continue
        n += 1
        if composed:
            out += "{}"
            values.append(f"sql.Identifier({value})" if kinds[i] == "name" else f"sql.Literal({value})")
        else:
            out += f"${n}" if site.style == "$1" else site.style
            values.append(value)
    if "\n" in out:
        return None
    literal = repr(out) if '"' in out else '"' + out.replace("\\", "\\\\") + '"'
    span = ctx_span(ctx, site)
    if composed:
        new = f"sql.SQL({literal}).format({', '.join(values)})"
    elif site.style == "$1":
        new = f"{literal}, {', '.join(values)}"
    else:
        new = f"{literal}, ({', '.join(values)}{',' if len(values) == 1 else ''})"
    what = "psycopg composition (sql.Identifier for names)" if composed else f"`{site.style}` placeholders"
    return Fix(f"Rewrite with {what} and pass the values separately", (Edit(Span(span.start, span.end), new),))


def _param(expr: str) -> str:
    name = "".join(ch if ch.isalnum() else "_" for ch in expr.split(".")[-1].split("[")[0]).strip("_")
    return name or "value"


RULE = Rule(code="SG40", name="interpolated-sql", severity="warning", doc=__doc__, check=check, scope="file",
            fixable=True)
