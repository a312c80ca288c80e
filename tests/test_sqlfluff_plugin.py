"""The sqlfluff plugin: the real `sqlfluff lint` reports sqlguard's findings under sqlguard's codes.

Most tests run the sqlfluff command line in a subprocess on a temporary project, as an editor or a
CI job would; a few run sqlfluff in-process to see how often the engine runs.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import TRIBEVIBE_CATALOG

pytest.importorskip("sqlfluff")
if not any(ep.name == "sqlguard" for ep in importlib.metadata.entry_points(group="sqlfluff")):
    pytest.skip("the sqlfluff plugin is not registered: run `pip install -e '.[sqlfluff]'`",
                allow_module_level=True)

SQLFLUFF = str(Path(sys.executable).with_name("sqlfluff"))
MIGRATION = "db/migrations/20240101000000_tidy.sql"
SQL = ("DROP TABLE x;\n"
       "SELECT * FROM profiles;\n"
       "DROP TABLE legacy_sessions; -- noqa: SG20\n"
       "-- sqlguard: ignore SG10 -- the view is renamed in the next release\n"
       "SELECT * FROM profiles;\n")


def sqlfluff_config(rules: str = "SG10,SG20", extra: str = "", catalog: str | None = str(TRIBEVIBE_CATALOG)) -> str:
    text = f"[sqlfluff]\ndialect = postgres\nrules = {rules}\n{extra}"
    if catalog is not None:
        text += f"\n[sqlfluff:rules:sqlguard]\ncatalog = {catalog}\n"
    return text


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "db" / "migrations").mkdir(parents=True)
    (tmp_path / MIGRATION).write_text(SQL, encoding="utf-8")
    (tmp_path / ".sqlfluff").write_text(sqlfluff_config(), encoding="utf-8")
    return tmp_path


def sqlfluff(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SQLFLUFF, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=300)


def violations(cwd: Path, *args: str, stdin: str | None = None) -> list[tuple[str, int, int]]:
    """(code, line, column) of every violation `sqlfluff lint --format json` reports."""
    done = sqlfluff(cwd, "lint", "--format", "json", *args, stdin=stdin)
    assert done.returncode in (0, 1), done.stderr
    files: list[dict[str, Any]] = json.loads(done.stdout)
    return [(v["code"], v["start_line_no"], v["start_line_pos"]) for f in files for v in f["violations"]]


def test_text_output_has_codes_lines_and_messages(project: Path) -> None:
    done = sqlfluff(project, "lint", MIGRATION)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert lines[0] == f"== [{MIGRATION}] FAIL"
    assert lines[1].startswith("L:   1 | P:   1 | SG20 | `DROP TABLE x` fails if it does not exist. (Add")
    assert lines[3].startswith("L:   2 | P:  15 | SG10 | table `profiles` does not exist in this schema")
    assert "(Replace `profiles` with `users`.)" in " ".join(lines)
    assert "WARNING" not in done.stderr, done.stderr  # no "unexpected rule section" or import warnings


def test_json_output_anchors_each_finding_where_sqlguard_puts_it(project: Path) -> None:
    # line 3's SG20 is under `-- noqa: SG20`, line 5's SG10 under `-- sqlguard: ignore SG10`
    assert violations(project, MIGRATION) == [("SG20", 1, 1), ("SG10", 2, 15)]


def test_rules_and_exclude_rules_select_sqlguard_codes(project: Path) -> None:
    (project / ".sqlfluff").write_text(sqlfluff_config("sqlguard", "exclude_rules = SG21,SG11,SG31,SG58\n"),
                                       encoding="utf-8")
    assert violations(project, MIGRATION) == [("SG20", 1, 1), ("SG10", 2, 15)]
    (project / ".sqlfluff").write_text(sqlfluff_config("sqlguard", "exclude_rules = SG11,SG31\n"),
                                       encoding="utf-8")
    found = violations(project, MIGRATION)
    assert ("SG21", 1, 1) in found and ("SG21", 3, 1) in found  # the noqa covers SG20 only
    assert ("SG20", 3, 1) not in found


def test_names_select_too(project: Path) -> None:
    (project / ".sqlfluff").write_text(sqlfluff_config("sqlguard.forbidden_table"), encoding="utf-8")
    assert violations(project, MIGRATION) == [("SG10", 2, 15)]


def test_noqa_is_sqlfluffs_as_well(project: Path) -> None:
    (project / MIGRATION).write_text("SELECT * FROM profiles; -- noqa: SG10\nDROP TABLE x; -- noqa\n",
                                     encoding="utf-8")
    assert violations(project, MIGRATION) == []


def test_noqa_is_left_to_sqlfluff_and_sqlguard_ignore_to_sqlguard(project: Path) -> None:
    # sqlfluff sees the finding under `-- noqa: SG20`, so it counts the noqa as used ...
    done = sqlfluff(project, "lint", "--warn-unused-ignores", MIGRATION)
    assert "Unused noqa" not in done.stdout, done.stdout
    # ... and `--disable-noqa` shows it; `-- sqlguard: ignore SG10` is sqlguard's and still holds.
    assert violations(project, "--disable-noqa", MIGRATION) == [("SG20", 1, 1), ("SG10", 2, 15), ("SG20", 3, 1)]


def test_stdin_with_and_without_a_file_name(project: Path) -> None:
    expected = [("SG20", 1, 1), ("SG10", 2, 15)]
    assert violations(project, "-", "--stdin-filename", MIGRATION, stdin=SQL) == expected
    assert violations(project, "-", stdin=SQL) == expected


def test_stdin_file_name_finds_sqlguards_config(tmp_path: Path) -> None:
    # No catalog in .sqlfluff: sqlguard.yaml next to the migrations names it, found from the file name.
    (tmp_path / "app" / "db").mkdir(parents=True)
    (tmp_path / ".sqlfluff").write_text(sqlfluff_config(catalog=None), encoding="utf-8")
    (tmp_path / "app" / "sqlguard.yaml").write_text(f"catalog: {TRIBEVIBE_CATALOG}\n", encoding="utf-8")
    assert violations(tmp_path, "-", "--stdin-filename", "app/db/m.sql", stdin=SQL) == [
        ("SG20", 1, 1), ("SG10", 2, 15)]
    # Without the file name there is no way to find it: SG10 needs a catalog.
    assert violations(tmp_path, "-", stdin=SQL) == [("SG20", 1, 1)]


def test_relative_catalog_is_found_from_the_file_upwards(project: Path) -> None:
    (project / "rules").mkdir()
    (project / "rules" / "catalog.yaml").write_text(TRIBEVIBE_CATALOG.read_text(encoding="utf-8"),
                                                    encoding="utf-8")
    (project / ".sqlfluff").write_text(sqlfluff_config(catalog="rules/catalog.yaml"), encoding="utf-8")
    assert violations(project, MIGRATION) == [("SG20", 1, 1), ("SG10", 2, 15)]


def test_a_bad_catalog_is_reported_once_not_per_rule(project: Path) -> None:
    (project / ".sqlfluff").write_text(sqlfluff_config(catalog="missing.yaml"), encoding="utf-8")
    done = sqlfluff(project, "lint", "--format", "json", MIGRATION)
    found = [v for f in json.loads(done.stdout) for v in f["violations"]]
    assert len(found) == 1, found
    assert found[0]["code"] == "SG10" and found[0]["start_line_no"] == 1
    assert found[0]["description"].startswith("sqlguard could not lint this file: ")
    assert "missing.yaml: catalog file not found" in found[0]["description"]


def test_unparsable_sql_is_still_linted(project: Path) -> None:
    # sqlfluff cannot parse the first statement; sqlguard reads it, and its findings are kept.
    (project / MIGRATION).write_text("DROP TABLE x CASCADE WHATEVER;\nSELECT * FROM profiles;\n", encoding="utf-8")
    found = violations(project, MIGRATION)
    assert "PRS" in {code for code, _, _ in found}  # sqlfluff's parse error: the rest is unparsable
    assert ("SG20", 1, 1) in found and ("SG10", 2, 15) in found


def test_parallel_runs_pickle_the_generated_rules(project: Path) -> None:
    for i in range(4):
        (project / "db" / "migrations" / f"2024010200000{i}_more.sql").write_text(SQL, encoding="utf-8")
    found = violations(project, "-p", "2", "db/migrations")
    assert found.count(("SG10", 2, 15)) == 5 and found.count(("SG20", 1, 1)) == 5


def test_sqlfluffs_dialect_sets_sqlguards() -> None:
    from sqlguard.sqlfluff_plugin import _settings

    assert _settings(None, "mysql", None).dialect == "mysql"
    assert _settings(None, "sqlite", None).dialect == "sqlite"
    assert _settings(None, "bigquery", None).dialect == "postgres"  # not one of sqlguard's: its own default


# -- in-process ---------------------------------------------------------------------------------------


def lint_in_process(sql: str, rules: str, fname: str = "m.sql") -> list[tuple[str, int]]:
    from sqlfluff.core import FluffConfig, Linter

    config = FluffConfig(overrides={"dialect": "postgres", "rules": rules},
                         configs={"rules": {"sqlguard": {"catalog": str(TRIBEVIBE_CATALOG)}}})
    result = Linter(config=config).lint_string(sql, fname=fname)
    return [(v.rule_code(), v.line_no) for v in result.violations]


def test_engine_runs_once_per_file_for_all_rule_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlguard.lint.engine
    from sqlguard import sqlfluff_plugin

    calls: list[str] = []
    real = sqlguard.lint.engine.lint_source

    def counting(*args: Any, **kw: Any) -> Any:
        calls.append(args[0])
        return real(*args, **kw)

    monkeypatch.setattr(sqlguard.lint.engine, "lint_source", counting)
    monkeypatch.setattr(sqlfluff_plugin, "_CACHE", sqlfluff_plugin._Cache())
    found = lint_in_process("DROP TABLE x;\nSELECT * FROM profiles;\n", "sqlguard")
    assert ("SG20", 1) in found and ("SG10", 2) in found and ("SG21", 1) in found
    assert calls == ["m.sql"]
    # another text is another engine run
    lint_in_process("SELECT * FROM profiles;\n", "sqlguard")
    assert calls == ["m.sql", "m.sql"]


def test_every_sqlguard_rule_is_a_sqlfluff_rule() -> None:
    from sqlfluff.core.rules import get_ruleset

    from sqlguard.rules import ALL_RULES

    registered = {m.code: m for m in get_ruleset()._register.values()}
    for rule in ALL_RULES:
        manifest = registered[rule.code]
        assert len(rule.code) == 4
        assert manifest.name == "sqlguard." + rule.name.replace("-", "_")
        assert "sqlguard" in manifest.groups
        assert manifest.rule_class.get_config_ref() == "sqlguard"


def test_opt_in_rules_need_an_explicit_selection() -> None:
    from sqlguard.lint.rule import Rule
    from sqlguard.sqlfluff_plugin import _explicitly_selected, _rule_class

    rule = Rule(code="SG98", name="test-opt-in", severity="info", doc="A test rule.\n",
                check=lambda ctx: iter(()), group="hygiene", default=False)
    cls = _rule_class(rule)
    instance = cls(code="SG98", description="A test rule.", catalog=None)
    assert cls.groups == ("all", "sqlguard", "sqlguard.hygiene")
    assert not _explicitly_selected(instance, ["all"])
    assert not _explicitly_selected(instance, ["sqlguard", "SG*"])
    for ref in ("SG98", "sqlguard.test_opt_in", "sqlguard.hygiene", "SG9*"):
        assert _explicitly_selected(instance, [ref]), ref


def test_readme_sqlfluff_snippet_works(tmp_path: Path) -> None:
    import re

    from conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Editors (sqlfluff)", 1)[1].split("\n## ", 1)[0]
    [snippet] = re.findall(r"```ini\n(.*?)```", section, re.S)
    (tmp_path / ".sqlfluff").write_text(snippet, encoding="utf-8")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "tribevibe.yaml").write_text(TRIBEVIBE_CATALOG.read_text(encoding="utf-8"),
                                                      encoding="utf-8")
    (tmp_path / "db" / "migrations").mkdir(parents=True)
    (tmp_path / MIGRATION).write_text(SQL + "select  1;\n", encoding="utf-8")  # and some sloppy layout
    codes = {code for code, _, _ in violations(tmp_path, MIGRATION)}
    assert {"SG10", "SG20"} <= codes  # sqlguard's, with the catalog
    assert "SG21" not in codes  # excluded
    assert any(not c.startswith("SG") for c in codes)  # and sqlfluff's core rules
