"""The file holds template placeholders (`{{ … }}`, `{% … %}`) that a tool fills in before it runs.

sqlguard lints such a file with each placeholder read as an identifier of the same length, so
positions stay exact and `{{ .Namespace }}.users` still reads as a table in some schema. Checks
that depend on the placeholder's value cannot see it; this note says so once per file.

## Why is this bad?
What runs is not what is in the file: a placeholder can hold a schema, a table name or a whole
clause, and a mistake in the rendered SQL is invisible here.

## Example
    ALTER TABLE {{ index .Options "Namespace" }}.users ADD COLUMN banned_until timestamptz;

## Use instead
    ALTER TABLE auth.users ADD COLUMN banned_until timestamptz;
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import FileContext, Rule
from sqlguard.sql.reading import KNOWN


def check(ctx: FileContext) -> Iterator[Finding]:
    for p in ctx.problems:
        if p.kind == "template":
            shown = p.detail if len(p.detail) <= 40 else p.detail[:37] + "…"
            n = f"{p.count} template placeholders" if p.count > 1 else "a template placeholder"
            yield ctx.report(p.span, f"the file holds {n} (first: `{shown}`): each was linted as an identifier, "
                                     "so checks cannot see its value.",
                             help="Lint the rendered SQL too if placeholders hold table names or clauses.")


RULE = Rule(code="SG04", name="template-placeholders", severity="info", doc=__doc__, check=check, scope="file",
            dialects=KNOWN)
