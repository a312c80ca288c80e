"""A `-- sqlguard: ignore` comment suppresses nothing.

## Why is this bad?
A stale ignore hides the next real finding at that place, and tells readers that a problem exists
where there is none. It usually outlives the statement it was written for.

## Example
    -- sqlguard: ignore SG20 -- the table is always there
    DROP TABLE IF EXISTS legacy_sessions;

## Use instead
    DROP TABLE IF EXISTS legacy_sessions;
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Edit, Finding, Fix
from sqlguard.lint.rule import Rule
from sqlguard.lint.suppress import Ignore
from sqlguard.sql.reading import KNOWN


def check(ignores: list[Ignore]) -> Iterator[Finding]:
    for ig in ignores:
        unused = [c for c in ig.codes if c not in ig.used] if ig.codes else ([] if ig.used else ["(all)"])
        if not unused:
            continue
        kind = "ignore-file" if ig.file_wide else "ignore"
        what = ", ".join(unused) if ig.codes else "any code"
        fix = None
        if len(unused) == len(ig.codes) or not ig.codes:
            fix = Fix("Remove the comment", (Edit(ig.removal, ""),))
        yield Finding(ig.span, f"`sqlguard: {kind}` for {what} suppresses nothing here.",
                      "Remove it, or move it to the statement it was meant for.", fix)


RULE = Rule(code="SG01", name="unused-ignore", severity="warning", doc=__doc__, check=check,
            scope="suppression", fixable=True,
            dialects=KNOWN)
