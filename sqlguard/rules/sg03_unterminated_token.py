"""A string, quoted identifier, dollar quote or block comment is never closed.

## Why is this bad?
Everything after the opening quote becomes part of one token, so the statement and every
statement after it fail when the migration runs, often with an error far from the real cause.
Nothing after that point can be linted either.

## Example
    INSERT INTO users (email) VALUES ('ada@example.com);
    DELETE FROM likes WHERE user_id = 1;

## Use instead
    INSERT INTO users (email) VALUES ('ada@example.com');
    DELETE FROM likes WHERE user_id = 1;
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import FileContext, Rule

_WHAT = {
    "unterminated-string": ("string literal", "`'`"),
    "unterminated-identifier": ("quoted identifier", "its quote"),
    "unterminated-dollar-quote": ("dollar-quoted string", ""),
    "unterminated-comment": ("block comment", "`*/`"),
}


def check(ctx: FileContext) -> Iterator[Finding]:
    for p in ctx.problems:
        if p.kind not in _WHAT:
            continue
        what, closer = _WHAT[p.kind]
        if p.kind == "unterminated-dollar-quote":
            closer = f"`{p.detail}`"
        opened = ctx.text[p.span.start:p.span.end]
        rest = ctx.text.count("\n", p.span.start) + (0 if ctx.text.endswith("\n") else 1)
        yield ctx.report(p.span, f"unterminated {what}: `{opened}` opened here is never closed, so the rest of "
                                 f"the file ({rest} line{'s' if rest != 1 else ''}) is one token and was not linted.",
                         help=f"Close it with {closer}.")


RULE = Rule(code="SG03", name="unterminated-token", severity="error", doc=__doc__, check=check, scope="file")
