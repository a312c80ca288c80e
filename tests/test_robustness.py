"""Hostile input: each case gives a clear diagnostic with a position, and the run goes on."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import lint_sql


def codes(diags) -> set[str]:  # type: ignore[no-untyped-def]
    return {d.code for d in diags}


def test_invalid_utf8_is_reported_at_the_bad_byte_and_linting_goes_on() -> None:
    data = "SELECT 'é';\n".encode("latin-1") + b"DROP TABLE likes;\n"
    diags = lint_sql(data)
    bad = [d for d in diags if d.code == "SG02"]
    assert len(bad) == 1 and bad[0].span.start == 8
    assert "SG20" in codes(diags)  # the next statement was still linted


def test_nul_bytes_are_reported_and_do_not_break_splitting() -> None:
    diags = lint_sql(b"SELECT 1;\x00\nDROP TABLE likes;\n")
    assert [d.span.start for d in diags if d.code == "SG02"] == [9]
    assert "SG20" in codes(diags)


def test_bom_keeps_positions_exact_and_is_fixable() -> None:
    diags = lint_sql("\ufeffDROP TABLE likes;\n")
    bom = next(d for d in diags if d.code == "SG05")
    drop = next(d for d in diags if d.code == "SG20")
    assert (bom.span.start, bom.span.end) == (0, 1)
    assert drop.span.start == 1


def test_crlf_positions_stay_on_the_right_line(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "m.sql"
    f.write_bytes(b"SELECT 1;\r\n\r\nDROP TABLE likes;\r\n")
    res = run_cli("lint", "--format", "json", str(f))
    items = json.loads(res.out)
    drop = next(d for d in items if d["code"] == "SG20")
    assert drop["location"] == {"row": 3, "column": 1}
    assert drop["end_location"] == {"row": 3, "column": 17}
    assert any(d["code"] == "SG06" for d in items)


def test_empty_file_and_comment_only_file() -> None:
    assert codes(lint_sql(b"")) == {"SG07"}
    assert codes(lint_sql(b"-- nothing yet\n")) == {"SG07"}


def test_template_placeholders_are_read_as_identifiers() -> None:
    diags = lint_sql('DROP TABLE {{ index .Options "Namespace" }}.profiles;\n')
    assert {"SG04", "SG20", "SG10"} <= codes(diags)
    assert "SG00" not in codes(diags)


def test_unterminated_string_reports_the_opening_quote() -> None:
    diags = lint_sql("DROP TABLE likes;\nSELECT 'oops;\nDROP TABLE users;\n")
    sg03 = [d for d in diags if d.code == "SG03"]
    assert len(sg03) == 1 and sg03[0].span.start == 25
    assert len([d for d in diags if d.code == "SG20"]) == 1  # the statement before it was linted


def test_fifty_thousand_nested_parentheses_are_reported_not_crashed() -> None:
    sql = "SELECT " + "(" * 50_000 + "1" + ")" * 50_000 + ";\nDROP TABLE likes;\n"
    diags = lint_sql(sql)
    deep = [d for d in diags if d.code == "SG00"]
    # (PostgreSQL itself rejects it: `ERROR: memory exhausted at or near "("`, SQLSTATE 42601)
    assert len(deep) == 1 and "PostgreSQL rejects" in deep[0].message and "memory exhausted" in deep[0].message
    assert "SG20" in codes(diags)


def test_fifty_thousand_nested_parentheses_in_a_subprocess_do_not_segfault(tmp_path: Path) -> None:
    import subprocess
    import sys

    f = tmp_path / "deep.sql"
    f.write_text("SELECT " + "(" * 50_000 + "1" + ")" * 50_000 + ";\n" + "SELECT " + "(" * 190 + "1" + ")" * 190)
    proc = subprocess.run([sys.executable, "-m", "sqlguard", "lint", "--format", "json", str(f)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr  # findings, not a crash (a segfault is -11)
    assert [d["code"] for d in json.loads(proc.stdout)] == ["SG00"]


def test_a_twenty_megabyte_file_is_linted(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    """A 20 MB data dump in one statement: linted (head of the statement) without a crash."""
    f = tmp_path / "dump.sql"
    rows = ", ".join(f"({i}, 'row {i}; ok')" for i in range(800_000))
    f.write_text(f"INSERT INTO profiles (id, note) VALUES {rows};\nDROP TABLE likes;\n")
    assert f.stat().st_size > 20_000_000
    catalog = Path(__file__).parent.parent / "rules" / "tribevibe.yaml"
    res = run_cli("lint", "--format", "json", "--catalog", str(catalog), str(f))
    items = json.loads(res.out)
    assert {"SG10", "SG20"} <= {d["code"] for d in items}
    assert any(d["code"] == "SG00" and "MB long" in d["message"] for d in items)


def test_never_a_lenient_parse_that_drops_statements() -> None:
    """A statement the parser rejects is reported, not silently dropped."""
    diags = lint_sql("SELECT 1 FROM users WHERE (;\n")
    assert "SG00" in codes(diags)


def test_unknown_dialect_syntax_does_not_crash() -> None:
    tsql = (b"\xef\xbb\xbfIF NOT EXISTS (SELECT 1 FROM sys.tables WHERE name = 'x')\n"
            b"BEGIN\n CREATE TABLE [dbo].[x] ([id] INT)\nEND\nGO\n")
    diags = lint_sql(tsql)
    assert "SG05" in codes(diags)


def test_statements_of_one_word_are_linted_and_replayed_without_an_internal_error(
        run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for word in ("DROP;\n", "ALTER;\n", "DROP INDEX;\n", "CREATE;\n"):
        assert "internal error" not in json.dumps([d.message for d in lint_sql(word)])
    # inside a history, the replay meets it before any file of the folder is linted
    folder = tmp_path / "db"
    folder.mkdir()
    (folder / "0001_a.up.sql").write_text("CREATE TABLE a (id int);\n")
    (folder / "0002_b.up.sql").write_text("ALTER;\n")
    (folder / "0003_c.up.sql").write_text("SELECT * FROM a;\n")
    res = run_cli("lint", "--no-cache", "--format", "json", str(folder))
    assert res.code == 1 and "internal error" not in res.out


def test_what_cannot_be_read_or_written_is_one_line_and_exit_2(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.sql").write_text("SELECT 1;\n")
    os.mkfifo(tmp_path / "d" / "f.sql")  # a pipe in a folder is skipped, never opened (it would block)
    os.symlink("l2.sql", tmp_path / "d" / "l1.sql")  # a symlink loop is reported, not a crash
    os.symlink("l1.sql", tmp_path / "d" / "l2.sql")

    def sg(*args: str, stdout: object = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "sqlguard", "lint", "--no-cache", *args], cwd=tmp_path,
                              stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60)

    walked = sg("--exclude", "x", "--format", "json", "d")
    assert walked.returncode == 1 and "Traceback" not in walked.stderr
    assert sorted(Path(d["filename"]).name for d in json.loads(walked.stdout) if d["code"] == "SG02") == [
        "l1.sql", "l2.sql"]
    cases = [(sg("d/f.sql"), "not a file or a folder: d/f.sql"),
             (sg("-o", str(tmp_path / "missing" / "x.json"), "d/a.sql"), "cannot write the report to"),
             (sg("-o", "d", "d/a.sql"), "cannot write the report to d")]
    if os.path.exists("/dev/full"):
        with open("/dev/full", "w") as full:
            cases.append((sg("d/a.sql", stdout=full), "No space left on device (writing the output)"))
    # standard error closed: the lint still runs and reports on standard output
    quiet = subprocess.run([sys.executable, "-c", "import os, sys; os.close(2); "
                            "from sqlguard.cli import main; sys.exit(main(['lint', '--no-cache', 'd/a.sql']))"],
                           cwd=tmp_path, capture_output=False, stdout=subprocess.PIPE, text=True, timeout=60)
    assert quiet.returncode == 0 and "All checks passed" in quiet.stdout
    for done, message in cases:
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sqlguard: error: ") and message in lines[0], done.stderr


def test_configuration_that_used_to_crash_is_a_configuration_error(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a.sql").write_text("SELECT 1;\n")
    for text, message in (("pg-version: '\u00b9\u2075'\n", "`pg-version`: must be a PostgreSQL major version"),
                          ("select: " + "[" * 500 + "]" * 500 + "\n", "nested too deeply"),
                          ("select: [SG\uff12\uff10]\n", "is not a rule code")):
        (tmp_path / "sqlguard.yaml").write_text(text, encoding="utf-8")
        res = run_cli("lint", "a.sql", cwd=tmp_path)
        assert res.code == 2 and message in res.err, res.err
    (tmp_path / "sqlguard.yaml").unlink()
    (tmp_path / "pyproject.toml").write_text("tool = 5\n")
    assert run_cli("lint", "--config", "pyproject.toml", "a.sql", cwd=tmp_path).code == 0
