"""The report formats: exact text for people, positions and escaping for machines, SARIF by its schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema.validators import validator_for

from sqlguard.diagnostic import Diagnostic, Edit, Fix, Span, SqlguardError
from sqlguard.lint.rule import Rule
from sqlguard.report import FORMATS, render
from sqlguard.sql.text import SourceText

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"

DOC = """`DROP` without `IF EXISTS` fails when the object is already gone.

## Why is this bad?
A rerun, a partially applied migration or a rollback that already removed the object makes the
migration fail halfway.

## Example
    DROP TABLE legacy_sessions;

## Use instead
    DROP TABLE IF EXISTS legacy_sessions;
"""

SG20 = Rule(code="SG20", name="unconditional-drop", severity="warning", doc=DOC, check=lambda ctx: iter(()))
SG55 = Rule(code="SG55", name="blocking-index", severity="error", doc="Plain `CREATE INDEX` blocks writes.\n",
            check=lambda ctx: iter(()))
RULES = {"SG55": SG55, "SG20": SG20}

# A tab and a two-byte `é` before the span, CRLF line ends: each one moves a naive caret.
PATH = "migrations/0001_init.sql"
TEXT = "-- café\r\n\tSELECT 'é'; DROP TABLE users;\r\nCREATE INDEX i ON t (c);\r\n"


def at(needle: str, text: str = TEXT) -> int:
    return text.index(needle)


def drop_diagnostic() -> Diagnostic:
    start = at("DROP")
    insert = start + len("DROP TABLE")
    return Diagnostic(
        code="SG20", name="unconditional-drop", severity="warning", path=PATH,
        span=Span(start, at(";\r\nCREATE")),
        message="`DROP TABLE users` fails if it does not exist.", help="Add `IF EXISTS`.",
        fix=Fix("Insert `IF EXISTS`", (Edit(Span(insert, insert), " IF EXISTS"),)),
    )


def index_diagnostic() -> Diagnostic:
    start = at("CREATE")
    return Diagnostic(
        code="SG55", name="blocking-index", severity="error", path=PATH,
        span=Span(start, start + len("CREATE INDEX")),
        message="`CREATE INDEX i` blocks writes to `t` until it finishes.",
        help="Use `CREATE INDEX CONCURRENTLY`.",
    )


def report(fmt: str, diagnostics: list[Diagnostic], text: str = TEXT, path: str = PATH,
           **kwargs: Any) -> str:
    return render(fmt, diagnostics, {path: SourceText(path, text)}, RULES, **kwargs)


# -- text ---------------------------------------------------------------------------------------------


def test_text_exact_output() -> None:
    out = report("text", [drop_diagnostic(), index_diagnostic()])
    # Column 14 counts characters: the tab and `SELECT 'é'; ` are 13 of them, `é` one of them though
    # it is two bytes. The tab shows as four spaces, so the carets start 16 columns into the snippet.
    assert out == (
        "migrations/0001_init.sql:2:14: SG20 [warning] `DROP TABLE users` fails if it does not exist.\n"
        "  2 |     SELECT 'é'; DROP TABLE users;\n"
        "    |                 ^^^^^^^^^^^^^^^^\n"
        "    = help: Add `IF EXISTS`.\n"
        "    = fix: Insert `IF EXISTS` (fixable with --fix)\n"
        "\n"
        "migrations/0001_init.sql:3:1: SG55 [error] `CREATE INDEX i` blocks writes to `t` until it finishes.\n"
        "  3 | CREATE INDEX i ON t (c);\n"
        "    | ^^^^^^^^^^^^\n"
        "    = help: Use `CREATE INDEX CONCURRENTLY`.\n"
        "\n"
        "Found 2 problems (1 error, 1 warning); 1 fixable with --fix.\n"
    )
    assert "\r" not in out


def test_text_no_diagnostics() -> None:
    assert render("text", [], {}, RULES) == "All checks passed.\n"


def test_text_summary_counts_info_and_plurals() -> None:
    info = Diagnostic("SG20", "unconditional-drop", "info", PATH, Span(0, 2), "note this")
    out = report("text", [info, info, drop_diagnostic()])
    assert out.endswith("Found 3 problems (1 warning, 2 info); 1 fixable with --fix.\n")


def test_text_caret_after_wide_characters() -> None:
    text = "SELECT '日本'; DROP TABLE t;\n"
    d = Diagnostic("SG20", "unconditional-drop", "warning", "a.sql", Span(at("DROP", text), at(";\n", text)),
                   "m")
    lines = report("text", [d], text=text, path="a.sql").splitlines()
    # Each CJK character takes two terminal columns, so the carets move right by two.
    assert lines[1] == "  1 | SELECT '日本'; DROP TABLE t;"
    assert lines[2] == "    |                ^^^^^^^^^^^^"


def test_text_multiline_span_marks_the_first_line() -> None:
    text = "DROP\n  TABLE t;\n"
    d = Diagnostic("SG20", "unconditional-drop", "warning", "a.sql", Span(0, len(text) - 1), "m")
    lines = report("text", [d], text=text, path="a.sql").splitlines()
    assert lines[1:3] == ["  1 | DROP", "    | ^^^^"]


def test_text_empty_span_gets_one_caret() -> None:
    text = "SELECT 1\n"
    d = Diagnostic("SG20", "unconditional-drop", "warning", "a.sql", Span(8, 8), "missing `;`")
    lines = report("text", [d], text=text, path="a.sql").splitlines()
    assert lines[0].startswith("a.sql:1:9: ")
    assert lines[2] == "    |         ^"


def test_text_long_line_is_windowed() -> None:
    text = "x" * 10_000 + "DROP TABLE y;" + "z" * 9_000 + "\n"
    start = at("DROP", text)
    d = Diagnostic("SG20", "unconditional-drop", "warning", "dump.sql", Span(start, start + 12), "m")
    lines = report("text", [d], text=text, path="dump.sql").splitlines()
    shown = lines[1][len("  1 | "):]
    assert len(shown) < 130
    assert shown.startswith("…") and shown.endswith("…")
    carets = lines[2][len("    | "):]
    assert shown[carets.index("^"):][:12] == "DROP TABLE y"
    assert carets.strip() == "^" * 12


def test_text_neutralises_controls_and_undecodable_bytes() -> None:
    # An ESC, a bidi override and a byte kept by surrogateescape must not reach the terminal raw.
    text = "SELECT '\x1b[2J\u202e\udcff'; DROP TABLE t;\n"
    d = Diagnostic("SG20", "unconditional-drop", "warning", "a.sql", Span(at("DROP", text), at(";\n", text)),
                   "m")
    out = report("text", [d], text=text, path="a.sql")
    out.encode("utf-8")  # must not raise
    assert "\x1b" not in out and "\u202e" not in out
    lines = out.splitlines()
    assert lines[1] == "  1 | SELECT '\u241b[2J<U+202E>\ufffd'; DROP TABLE t;"
    assert lines[1].index("DROP") == lines[2].index("^")


def test_text_color_only_when_asked() -> None:
    plain = report("text", [drop_diagnostic(), index_diagnostic()])
    colored = report("text", [drop_diagnostic(), index_diagnostic()], color=True)
    assert "\x1b[" not in plain
    assert "\x1b[1;31mSG55\x1b[0m" in colored  # error: bold red
    assert "\x1b[1;33mSG20\x1b[0m" in colored  # warning: yellow
    info = Diagnostic("SG20", "unconditional-drop", "info", PATH, Span(0, 2), "m")
    assert "\x1b[1;36mSG20\x1b[0m" in report("text", [info], color=True)


def test_text_without_source_reports_at_file_start() -> None:
    d = Diagnostic("SG01", "unreadable-file", "error", "gone.sql", Span(0, 0), "cannot be read")
    out = render("text", [d], {}, RULES)
    assert out.splitlines()[0] == "gone.sql:1:1: SG01 [error] cannot be read"


# -- json ---------------------------------------------------------------------------------------------


def test_json_keys_and_positions() -> None:
    items = json.loads(report("json", [drop_diagnostic(), index_diagnostic()]))
    first, second = items
    assert list(first) == ["code", "name", "severity", "filename", "location", "end_location", "message",
                           "help", "fix"]
    assert first["code"] == "SG20" and first["severity"] == "warning" and first["filename"] == PATH
    assert first["location"] == {"row": 2, "column": 14}
    assert first["end_location"] == {"row": 2, "column": 30}  # the exclusive end, at the `;`
    assert first["help"] == "Add `IF EXISTS`."
    assert first["fix"] == {"message": "Insert `IF EXISTS`", "edits": [
        {"content": " IF EXISTS", "location": {"row": 2, "column": 24}, "end_location": {"row": 2, "column": 24}},
    ]}
    assert second["location"] == {"row": 3, "column": 1}
    assert second["end_location"] == {"row": 3, "column": 13}
    assert second["fix"] is None


def test_json_empty_and_non_ascii() -> None:
    assert json.loads(render("json", [], {}, RULES)) == []
    d = Diagnostic("SG20", "unconditional-drop", "warning", "a.sql", Span(0, 1), "`café` \udcff")
    out = report("json", [d], text="x", path="a.sql")
    out.encode("utf-8")
    assert json.loads(out)[0]["message"] == "`café` \ufffd"


# -- github -------------------------------------------------------------------------------------------


def test_github_commands() -> None:
    lines = report("github", [drop_diagnostic(), index_diagnostic()]).splitlines()
    assert lines == [
        ("::warning file=migrations/0001_init.sql,line=2,col=14,endLine=2,endColumn=30,"
         "title=SG20 unconditional-drop::`DROP TABLE users` fails if it does not exist.%0Ahelp: Add `IF EXISTS`."),
        ("::error file=migrations/0001_init.sql,line=3,col=1,endLine=3,endColumn=13,"
         "title=SG55 blocking-index::`CREATE INDEX i` blocks writes to `t` until it finishes."
         "%0Ahelp: Use `CREATE INDEX CONCURRENTLY`."),
    ]


def test_github_escaping_and_levels() -> None:
    path = "db/a,b:c%.sql"
    d = Diagnostic("SG20", "unconditional-drop", "info", path, Span(0, 4), "100% sure,\r\nreally: yes")
    out = report("github", [d], text="DROP TABLE t;\n", path=path)
    assert out == ("::notice file=db/a%2Cb%3Ac%25.sql,line=1,col=1,endLine=1,endColumn=5,"
                   "title=SG20 unconditional-drop::100%25 sure,%0D%0Areally: yes\n")


def test_github_multiline_span_has_no_columns() -> None:
    text = "DROP\nTABLE t;\n"
    d = Diagnostic("SG20", "unconditional-drop", "warning", "a.sql", Span(0, 12), "m")
    out = report("github", [d], text=text, path="a.sql")
    assert out == "::warning file=a.sql,line=1,endLine=2,title=SG20 unconditional-drop::m\n"


def test_github_empty() -> None:
    assert render("github", [], {}, RULES) == ""


# -- sarif --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sarif_validator() -> Any:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = validator_for(schema)  # the official schema declares draft-04
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def assert_valid(validator: Any, log: dict[str, Any]) -> None:
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_sarif_validates_against_official_schema(sarif_validator: Any) -> None:
    log = json.loads(report("sarif", [drop_diagnostic(), index_diagnostic()], tool_version="0.1.0"))
    assert_valid(sarif_validator, log)
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"


def test_sarif_empty_run_validates(sarif_validator: Any) -> None:
    log = json.loads(render("sarif", [], {}, {}))
    assert_valid(sarif_validator, log)
    assert log["runs"][0]["results"] == []


def test_sarif_schema_rejects_a_broken_log(sarif_validator: Any) -> None:
    # Guards the guard: a validator that accepted anything would make the tests above meaningless.
    log = json.loads(report("sarif", [drop_diagnostic()]))
    log["runs"][0]["results"][0]["level"] = "fatal"
    del log["runs"][0]["tool"]
    assert list(sarif_validator.iter_errors(log))


def test_sarif_rules_and_results() -> None:
    log = json.loads(report("sarif", [drop_diagnostic(), index_diagnostic()], tool_version="0.1.0"))
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "sqlguard" and driver["version"] == "0.1.0"
    assert [r["id"] for r in driver["rules"]] == ["SG20", "SG55"]  # sorted by code
    sg20 = driver["rules"][0]
    assert sg20["name"] == "unconditional-drop"
    assert sg20["shortDescription"]["text"] == SG20.summary
    assert "rollback" in sg20["fullDescription"]["text"]
    assert "## Use instead" in sg20["help"]["markdown"] and sg20["help"]["text"]
    assert sg20["defaultConfiguration"] == {"level": "warning"}
    assert driver["rules"][1]["defaultConfiguration"] == {"level": "error"}

    drop, index = run["results"]
    assert drop["ruleId"] == "SG20" and drop["ruleIndex"] == 0 and drop["level"] == "warning"
    assert index["ruleId"] == "SG55" and index["ruleIndex"] == 1 and index["level"] == "error"
    assert drop["message"]["text"] == "`DROP TABLE users` fails if it does not exist.\nhelp: Add `IF EXISTS`."
    where = drop["locations"][0]["physicalLocation"]
    assert where["artifactLocation"] == {"uri": PATH, "uriBaseId": "%SRCROOT%"}
    assert where["region"] == {"startLine": 2, "startColumn": 14, "endLine": 2, "endColumn": 30}
    change = drop["fixes"][0]["artifactChanges"][0]
    assert change["replacements"] == [{
        "deletedRegion": {"startLine": 2, "startColumn": 24, "endLine": 2, "endColumn": 24},
        "insertedContent": {"text": " IF EXISTS"},
    }]
    assert "fixes" not in index


def test_sarif_info_level_unknown_rule_and_odd_paths(sarif_validator: Any) -> None:
    diagnostics = [
        Diagnostic("SG00", "parse-error", "info", "dir with space/ü%.sql", Span(0, 1), "m"),
        Diagnostic("SG20", "unconditional-drop", "warning", "/abs/x.sql", Span(0, 1), "m"),
    ]
    sources = {d.path: SourceText(d.path, "DROP TABLE t;\n") for d in diagnostics}
    log = json.loads(render("sarif", diagnostics, sources, RULES))
    assert_valid(sarif_validator, log)
    first, second = log["runs"][0]["results"]
    assert first["level"] == "note" and "ruleIndex" not in first  # no rule given for SG00
    assert first["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "dir%20with%20space/%C3%BC%25.sql", "uriBaseId": "%SRCROOT%"}
    assert second["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "file:///abs/x.sql"}


# -- dispatch -----------------------------------------------------------------------------------------


def test_every_format_renders() -> None:
    for fmt in FORMATS:
        assert report(fmt, [drop_diagnostic()]).endswith("\n")


def test_unknown_format_is_a_user_error() -> None:
    with pytest.raises(SqlguardError, match="unknown output format `xml`"):
        render("xml", [], {}, RULES)


def test_formats_are_imported_lazily() -> None:
    code = ("import sys, sqlguard.report; "
            "print(sorted(m for m in sys.modules if m.startswith('sqlguard.report.')))")
    root = Path(__file__).parents[1]  # `-c` puts the working directory on sys.path
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=root).stdout
    assert out.strip() == "[]"
