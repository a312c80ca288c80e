"""`--format gitlab`: GitLab Code Quality issues whose fingerprints survive edits elsewhere in the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import TRIBEVIBE_CATALOG

from sqlguard.diagnostic import Diagnostic, Span
from sqlguard.report import render
from sqlguard.sql.text import SourceText

PATH = "db/migrations/0001_init.sql"


def drop(text: str, needle: str = "DROP TABLE x;", severity: str = "warning", nth: int = 0,
         code: str = "SG20", path: str = PATH) -> Diagnostic:
    start = -1
    for _ in range(nth + 1):
        start = text.index(needle, start + 1)
    return Diagnostic(code, "unconditional-drop", severity, path, Span(start, start + len(needle)),  # type: ignore[arg-type]
                      "`DROP TABLE x` fails if it does not exist.", "Add `IF EXISTS`.")


def issues(diagnostics: list[Diagnostic], text: str, path: str = PATH) -> list[dict[str, Any]]:
    out = render("gitlab", diagnostics, {path: SourceText(path, text)}, {})
    assert out.endswith("\n")
    return json.loads(out)  # type: ignore[no-any-return]


def test_issue_shape() -> None:
    text = "-- first\nDROP TABLE x;\n"
    [issue] = issues([drop(text)], text)
    assert set(issue) == {"description", "check_name", "fingerprint", "severity", "location"}
    assert issue["description"] == "SG20: `DROP TABLE x` fails if it does not exist. Add `IF EXISTS`."
    assert issue["check_name"] == "SG20"
    assert issue["severity"] == "minor"
    assert issue["location"] == {"path": PATH, "lines": {"begin": 2, "end": 2}}
    assert len(issue["fingerprint"]) == 64 and int(issue["fingerprint"], 16) >= 0


def test_severities() -> None:
    text = "DROP TABLE x;\n"
    got = [i["severity"] for i in issues([drop(text, severity=s) for s in ("info", "warning", "error")], text)]
    assert got == ["info", "minor", "major"]


def test_fingerprint_ignores_the_line_number_but_not_the_finding() -> None:
    before = "DROP TABLE x;\n"
    after = "-- a comment added above\n\nDROP TABLE x;\n"
    [a] = issues([drop(before)], before)
    [b] = issues([drop(after)], after)
    assert a["location"]["lines"]["begin"] == 1 and b["location"]["lines"]["begin"] == 3
    assert a["fingerprint"] == b["fingerprint"]
    [other_code] = issues([drop(before, code="SG21")], before)
    [other_path] = issues([drop(before, path="db/other.sql")], before, path="db/other.sql")
    changed = "DROP TABLE x;   -- now with a comment\n"
    [other_line] = issues([drop(changed)], changed)
    assert len({a["fingerprint"], other_code["fingerprint"], other_path["fingerprint"],
                other_line["fingerprint"]}) == 4


def test_identical_findings_on_identical_lines_get_distinct_fingerprints() -> None:
    text = "DROP TABLE x;\nDROP TABLE x;\n"
    found = issues([drop(text), drop(text, nth=1)], text)
    assert [i["location"]["lines"]["begin"] for i in found] == [1, 2]
    assert found[0]["fingerprint"] != found[1]["fingerprint"]


def test_span_ending_at_a_line_break_ends_on_its_own_line() -> None:
    text = "DROP TABLE x;\nSELECT 1;\n"
    d = drop(text, needle="DROP TABLE x;\n")
    [issue] = issues([d], text)
    assert issue["location"]["lines"] == {"begin": 1, "end": 1}


def test_empty_report_is_an_empty_array() -> None:
    assert render("gitlab", [], {}, {}) == "[]\n"


def test_cli_format_gitlab(run_cli: Any, tmp_path: Path) -> None:
    (tmp_path / "m.sql").write_text("DROP TABLE x;\nSELECT * FROM profiles;\n", encoding="utf-8")
    result = run_cli("lint", "--format", "gitlab", "--catalog", str(TRIBEVIBE_CATALOG), "--select", "SG10,SG20",
                     "m.sql", cwd=tmp_path)
    assert result.code == 1
    found = json.loads(result.out)
    assert [(i["check_name"], i["severity"], i["location"]["path"], i["location"]["lines"]["begin"])
            for i in found] == [("SG20", "minor", "m.sql", 1), ("SG10", "major", "m.sql", 2)]
