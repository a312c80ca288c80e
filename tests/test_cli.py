"""The CLI, called in-process through main([...]), plus one real subprocess smoke test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import CORPORA, FIXTURES, ROOT, TRIBEVIBE_CATALOG, needs_shared

EXAMPLE = FIXTURES / "tribevibe"


def test_version_does_not_import_sqlglot() -> None:
    code = ("import sys; from sqlguard.cli import main; rc = main(['--version']); "
            "print('sqlglot' in sys.modules, rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip().splitlines()[-1] == "False 0"
    assert proc.stdout.startswith("sqlguard ")


def test_subprocess_smoke_on_the_example() -> None:
    proc = subprocess.run([sys.executable, "-m", "sqlguard", "lint", str(EXAMPLE)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "SG10 [error] table `profiles` does not exist in this schema: use `users`" in proc.stdout
    assert "\x1b[" not in proc.stdout  # no colour when stdout is not a terminal
    proc = subprocess.run([sys.executable, "-m", "sqlguard", "lint", "--exit-zero", str(EXAMPLE)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0


def test_exit_codes(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clean = tmp_path / "clean.sql"
    clean.write_text("DROP TABLE IF EXISTS likes_old_view_cache;\n")
    assert run_cli("lint", "--ignore", "SG21,SG58", str(clean)).code == 0
    assert run_cli("lint", str(clean)).code == 1  # SG21 and SG58 warnings
    assert run_cli("lint", "--fail-on", "error", str(clean)).code == 0
    assert run_cli("lint", str(tmp_path / "missing.sql")).code == 2
    res = run_cli("lint", "--format", "yaml", str(clean))
    assert res.code == 2 and "invalid choice" in res.err


def test_stdin_with_filename(run_cli) -> None:  # type: ignore[no-untyped-def]
    res = run_cli("lint", "--format", "json", "--stdin-filename", "db/m.sql", "-",
                  stdin=b"SELECT 1;\nDROP TABLE likes;\n")
    items = json.loads(res.out)
    assert res.code == 1
    assert items[0]["filename"] == "db/m.sql" and items[0]["location"] == {"row": 2, "column": 1}


def test_fix_round_trip(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "m.sql"
    f.write_text("\ufeffDROP TABLE likes;\nDROP INDEX CONCURRENTLY idx_a;\nALTER TABLE users DROP COLUMN a, "
                 "DROP b;\n", encoding="utf-8")
    res = run_cli("lint", "--fix", "--select", "SG20,SG05", str(f))
    assert res.code == 0, res.out
    assert "applied 5 fixes" in res.err
    assert f.read_text(encoding="utf-8") == ("DROP TABLE IF EXISTS likes;\nDROP INDEX CONCURRENTLY IF EXISTS idx_a;\n"
                                             "ALTER TABLE users DROP COLUMN IF EXISTS a, DROP IF EXISTS b;\n")
    assert run_cli("lint", "--select", "SG20,SG05", str(f)).code == 0


def test_fix_keeps_invalid_bytes_elsewhere_untouched(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "m.sql"
    f.write_bytes(b"-- caf\xe9\nDROP TABLE likes;\n")
    run_cli("lint", "--fix", str(f))
    assert f.read_bytes() == b"-- caf\xe9\nDROP TABLE likes;\n"  # SG02 present: nothing is rewritten


def test_fix_on_stdin_prints_the_fixed_sql(run_cli) -> None:  # type: ignore[no-untyped-def]
    res = run_cli("lint", "--fix", "--select", "SG20", "-", stdin=b"DROP VIEW v;\n")
    assert res.out == "DROP VIEW IF EXISTS v;\n"


def test_unused_ignore_fix_removes_the_comment(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "m.sql"
    f.write_text("-- sqlguard: ignore SG20\nSELECT 1;\n")
    run_cli("lint", "--fix", str(f))
    assert f.read_text() == "SELECT 1;\n"


def test_ignore_comments(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "m.sql"
    f.write_text("-- sqlguard: ignore SG20 -- dropped in a maintenance window\nDROP TABLE a;\n"
                 "DROP TABLE b; -- sqlguard: ignore SG20\nDROP TABLE c;\n-- sqlguard: ignore-file SG21\n")
    items = json.loads(run_cli("lint", "--format", "json", "--select", "SG01,SG2", str(f)).out)
    assert [(i["code"], i["location"]["row"]) for i in items] == [("SG20", 4)]


def test_rules_and_explain(run_cli) -> None:  # type: ignore[no-untyped-def]
    res = run_cli("rules")
    assert res.code == 0 and "SG20  unconditional-drop" in res.out
    listed = json.loads(run_cli("rules", "--format", "json").out)
    assert {r["code"] for r in listed} >= {"SG00", "SG10", "SG20", "SG21", "SG30", "SG31", "SG35"}
    res = run_cli("explain", "SG20")
    assert res.code == 0 and "## Use instead" in res.out and "DROP TABLE IF EXISTS legacy_sessions;" in res.out
    assert run_cli("explain", "unconditional-drop").code == 0
    res = run_cli("explain", "SG99")
    assert res.code == 2 and "unknown rule" in res.err


def test_excludes_and_skipped_directories(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "x.sql").write_text("DROP TABLE a;\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "y.sql").write_text("DROP TABLE a;\n")
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    (tmp_path / "env" / "z.sql").write_text("DROP TABLE a;\n")
    (tmp_path / "gen").mkdir()
    (tmp_path / "gen" / "g.sql").write_text("DROP TABLE a;\n")
    (tmp_path / "ok.sql").write_text("SELECT 1;\n")
    (tmp_path / "sqlguard.yaml").write_text("exclude: ['gen/*']\n")
    res = run_cli("lint", str(tmp_path))
    assert res.code == 0, res.out
    res = run_cli("lint", "--format", "json", str(tmp_path / "gen" / "g.sql"))
    assert json.loads(res.out) == []  # excluded even when named (pre-commit passes names)


def test_every_output_format(run_cli) -> None:  # type: ignore[no-untyped-def]
    for fmt in ("text", "json", "sarif", "github"):
        res = run_cli("lint", "--format", fmt, str(EXAMPLE))
        assert res.code == 1 and res.out
    gh = run_cli("lint", "--format", "github", str(EXAMPLE)).out
    assert gh.startswith("::") and "title=SG" in gh


def test_output_file(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "report.sarif"
    res = run_cli("lint", "--format", "sarif", "-o", str(out), str(EXAMPLE))
    assert res.code == 1 and res.out == ""
    assert json.loads(out.read_text())["version"] == "2.1.0"


def test_catalog_flag_replaces_config(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "q.sql"
    f.write_text("SELECT * FROM profiles;\n")
    assert run_cli("lint", str(f)).code == 0  # no catalog: SG10 is inactive
    res = run_cli("lint", "--catalog", str(TRIBEVIBE_CATALOG), str(f))
    assert res.code == 1 and "SG10" in res.out


def test_no_command_is_a_usage_error(run_cli) -> None:  # type: ignore[no-untyped-def]
    assert run_cli().code == 2


def test_diff_shows_fixes_without_writing(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "m.sql"
    f.write_text("DROP TABLE likes;\n")
    res = run_cli("lint", "--diff", "--select", "SG20", str(f))
    assert res.code == 1
    assert "-DROP TABLE likes;\n+DROP TABLE IF EXISTS likes;\n" in res.out
    assert f.read_text() == "DROP TABLE likes;\n"
    f.write_text("DROP TABLE IF EXISTS likes;\n")
    res = run_cli("lint", "--diff", "--select", "SG20", str(f))
    assert res.code == 0 and res.out == ""


@needs_shared
def test_a_postgres_lint_never_loads_sqlglot_even_with_workers() -> None:
    # PostgreSQL files are read by PostgreSQL's own parser: no statement of theirs is parsed by sqlglot,
    # and with parallel workers sqlglot is not imported ahead for them either
    folder = CORPORA / "harness-golang-migrate" / "app" / "store" / "database" / "migrate" / "postgres"
    code = ("import sys; from sqlguard.cli import main; rc = main(['lint', '--no-cache', '--jobs', '2', "
            f"'--exit-zero', '--format', 'json', {str(folder)!r}, {str(EXAMPLE)!r}]); "
            "print('sqlglot' in sys.modules, rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.stdout.strip().splitlines()[-1] == "False 0", proc.stderr
