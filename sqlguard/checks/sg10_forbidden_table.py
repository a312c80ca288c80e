"""A statement names a table that the catalog forbids (the classic: `profiles` where the table is `users`).

The rule catalog lists names that must not be used, each with the table to use instead. Every
reference counts, schema-qualified or quoted: FROM, JOIN, INTO, UPDATE, REFERENCES, ALTER TABLE,
DROP, CREATE INDEX … ON, TRUNCATE, COMMENT ON, GRANT, views, and statements inside DO blocks and
function bodies. Names defined by a WITH clause are not table references. The rule is active only
when a catalog is configured.

## Why is this bad?
The query fails at run time with `relation "profiles" does not exist`, or worse, a stray table of
that name exists and the code reads and writes data that nothing else uses.

## Example
    SELECT p.display_name FROM profiles p WHERE p.id = $1;

## Use instead
    SELECT u.display_name FROM users u WHERE u.id = $1;
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.catalog import ForbiddenName
from sqlguard.diagnostic import Finding
from sqlguard.rule import Rule, StatementContext
from sqlguard.sources.sql import Lexeme

_TABLE_KINDS = {"TABLE", "VIEW", "MATERIALIZED VIEW", "FOREIGN TABLE"}


def check(ctx: StatementContext) -> Iterator[Finding]:
    catalog = ctx.catalog
    if catalog is None or not catalog.forbidden:
        return
    low = ctx.stmt.text.lower()
    if not any(name.rsplit(".", 1)[-1] in low for name in catalog.forbidden):
        return  # cheap pre-filter: no forbidden name appears anywhere in the text
    tree = ctx.tree
    refs = _tree_refs(ctx, tree) if tree is not None else _token_refs(ctx)
    for where, schema, name, creates in refs:
        hit = catalog.lookup_forbidden(name, schema)
        if hit is not None:
            yield _report(ctx, where, name, hit, creates)


def _report(ctx: StatementContext, where: object, name: str, hit: ForbiddenName, creates: bool) -> Finding:
    if creates:
        message = f"creates table `{name}`, which this schema forbids"
    else:
        message = f"table `{name}` does not exist in this schema"
    if hit.use:
        message += f": use `{hit.use}`"
    if hit.reason:
        message += f" ({hit.reason.rstrip('.')})"
    help = f"Replace `{name}` with `{hit.use}`." if hit.use else f"Remove the reference to `{name}`."
    return ctx.report(where, message + ".", help=help)  # type: ignore[arg-type]


def _tree_refs(ctx: StatementContext, tree: object) -> Iterator[tuple[object, str | None, str, bool]]:
    from sqlglot import exp

    assert isinstance(tree, exp.Expression)
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    in_body = ctx.stmt.context in ("do", "function")
    for table in tree.find_all(exp.Table):
        ident = table.this
        if not isinstance(ident, exp.Identifier):
            continue  # a table function such as generate_series(…)
        parent = table.parent
        kind = str(parent.args.get("kind") or "").upper() if parent is not None else ""
        if isinstance(parent, (exp.Create, exp.Drop)) and kind not in _TABLE_KINDS:
            continue  # an index, sequence, type, schema or constraint that happens to share the name
        if isinstance(parent, exp.UserDefinedFunction):
            continue
        if in_body and isinstance(parent, exp.Into):
            continue  # PL/pgSQL `SELECT … INTO variable`
        name = ident.name
        schema = table.db or None
        if schema is None and name.lower() in ctes:
            continue
        creates = isinstance(parent, (exp.Create, exp.AlterRename))
        yield table, schema, name, creates
    if isinstance(tree, exp.Comment) and isinstance(tree.this, exp.Column) and tree.this.table:
        col = tree.this
        tbl = col.args.get("table")
        yield (tbl if isinstance(tbl, exp.Expression) else col), col.db or None, col.table, False


# Words after which a table name follows, in a statement the parser could not read.
_AFTER = {"FROM", "JOIN", "INTO", "UPDATE", "TABLE", "TRUNCATE", "REFERENCES", "VIEW"}
_ON_STATEMENTS = {"INDEX", "TRIGGER", "POLICY", "GRANT", "REVOKE", "RULE"}
_SKIP = {"ONLY", "IF", "NOT", "EXISTS", "LATERAL", "CONCURRENTLY", "UNLOGGED", "TEMP", "TEMPORARY", "TABLE"}
_NOT_NAMES = {"SELECT", "WITH", "VALUES", "SET", "ALL", "COLUMN", "CONSTRAINT", "TO", "AS", "IN", "ON", "WHERE"}


def _token_refs(ctx: StatementContext) -> Iterator[tuple[object, str | None, str, bool]]:
    toks = ctx.lexemes
    words = {t.upper for t in toks[:6]}
    on_is_table = bool(words & _ON_STATEMENTS)
    ctes = _cte_names(toks)
    first_after_paren: dict[int, str] = {}
    n = len(toks)
    for i, t in enumerate(toks):
        if t.value == "(" and i + 1 < n:
            first_after_paren[t.depth + 1] = toks[i + 1].upper
        w = t.upper
        if not (w in _AFTER or (w == "ON" and on_is_table)):
            continue
        if w == "FROM" and t.depth > 0 and first_after_paren.get(t.depth) not in ("SELECT", "DELETE", None):
            continue  # EXTRACT(year FROM x), substring(a FROM b): not a table
        if w == "TABLE" and i > 0 and toks[i - 1].upper in ("RETURNS", "LIKE"):
            continue
        j = i + 1
        while j < n and toks[j].upper in _SKIP:
            j += 1
        name = _qualified(toks, j)
        if name is None:
            continue
        schema, table, last = name
        if last + 1 < n and toks[last + 1].value == "(" and w in ("FROM", "JOIN"):
            continue  # a table function
        if schema is None and table.lower() in ctes:
            continue
        creates = w in ("TABLE", "VIEW") and any(x.upper == "CREATE" for x in toks[:i])
        yield toks[last], schema, table, creates


def _qualified(toks: list[Lexeme], j: int) -> tuple[str | None, str, int] | None:
    if j >= len(toks) or toks[j].kind not in ("word", "quoted") or toks[j].upper in _NOT_NAMES:
        return None
    parts = [toks[j]]
    k = j
    while k + 2 < len(toks) and toks[k + 1].value == "." and toks[k + 2].kind in ("word", "quoted"):
        parts.append(toks[k + 2])
        k += 2
    names = [p.name for p in parts]
    return (names[-2] if len(names) > 1 else None), names[-1], k


def _cte_names(toks: list[Lexeme]) -> set[str]:
    out = set()
    for i, t in enumerate(toks):
        if t.upper == "AS" and i + 1 < len(toks) and toks[i + 1].value == "(" and i > 0:
            prev = toks[i - 1]
            if prev.kind in ("word", "quoted") and prev.upper not in ("MATERIALIZED", "NOT"):
                out.add(prev.name)
            elif prev.upper in ("MATERIALIZED", "NOT") and i > 2:
                out.add(toks[i - 2].name if toks[i - 2].upper != "NOT" else toks[i - 3].name)
    return out


RULE = Rule(code="SG10", name="forbidden-table", severity="error", doc=__doc__, check=check)


