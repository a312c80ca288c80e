"""GitLab Code Quality: a JSON array of issues, a job's `artifacts:reports:codequality`.

    [{"description": "SG20: `DROP TABLE x` fails if it does not exist. Add `IF EXISTS`.",
      "check_name": "SG20", "fingerprint": "…", "severity": "minor",
      "location": {"path": "db/m.sql", "lines": {"begin": 3, "end": 3}}}]

GitLab compares the fingerprints of a merge request's report with those of its target branch to
show which findings are new and which are fixed, so a fingerprint must survive edits elsewhere in
the file: it hashes the path, the code, the message and the text of the finding's line, never the
line number. Identical findings on identical lines are told apart by their order.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlguard.report import fingerprints, region, scrub, source_for

if TYPE_CHECKING:
    from sqlguard.diagnostic import Diagnostic
    from sqlguard.sql.text import SourceText

SEVERITIES = {"info": "info", "warning": "minor", "error": "major"}


def render(diagnostics: list[Diagnostic], sources: dict[str, SourceText]) -> str:
    issues = []
    for d, print_ in zip(diagnostics, fingerprints(diagnostics, sources), strict=True):
        line, _, end_line, end_col = region(source_for(sources, d.path), d.span)
        if end_line > line and end_col == 1:
            end_line -= 1  # a span that ends at a line break ends on the line before
        issues.append(_issue(d, line, end_line, print_))
    # Non-ASCII stays readable; scrub() has already removed what a UTF-8 writer would refuse.
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"


def _issue(d: Diagnostic, line: int, end_line: int, print_: str) -> dict[str, Any]:
    description = f"{d.code}: {d.message}" + (f" {d.help}" if d.help else "")
    return {
        "description": scrub(description),
        "check_name": d.code,
        "fingerprint": print_,
        "severity": SEVERITIES.get(d.severity, "minor"),
        "location": {"path": scrub(d.path), "lines": {"begin": line, "end": max(line, end_line)}},
    }
