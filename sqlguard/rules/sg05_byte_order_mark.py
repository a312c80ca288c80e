"""The file starts with a UTF-8 byte-order mark.

## Why is this bad?
psql and most migration runners send the BOM to the server as part of the first statement, which
then fails with `syntax error at or near "CREATE"` although the SQL looks right. Some editors on
Windows add it silently.

## Example
    \ufeffCREATE TABLE likes (id bigint PRIMARY KEY);

## Use instead
    CREATE TABLE likes (id bigint PRIMARY KEY);
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Edit, Finding, Fix
from sqlguard.lint.rule import FileContext, Rule


def check(ctx: FileContext) -> Iterator[Finding]:
    for p in ctx.problems:
        if p.kind == "bom":
            yield ctx.report(p.span, "the file starts with a UTF-8 byte-order mark: psql sends it to the server as "
                                     "part of the first statement, which then fails.",
                             help="Remove the byte-order mark (save as UTF-8 without BOM).",
                             fix=Fix("Remove the byte-order mark", (Edit(p.span, ""),)))


RULE = Rule(code="SG05", name="byte-order-mark", severity="warning", doc=__doc__, check=check, scope="file",
            fixable=True)
