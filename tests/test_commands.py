"""`sqlguard new`, `rollback-gen`, `hash` and `schema`, end to end on temporary migration folders."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from conftest import ROOT

from sqlguard.catalog import parse_catalog


def test_new_then_rollback_gen_then_lint_clean(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "db" / "migrations"
    res = run_cli("new", "Create likes", "--dir", str(folder), "--convention", "sqlguard")
    assert res.code == 0, res.err
    up, down = (Path(p) for p in res.out.split())
    assert up.name.endswith("_create_likes.sql") and down.name == up.name.replace(".sql", "_rollback.sql")
    up.write_text(up.read_text() + "CREATE TABLE IF NOT EXISTS likes (id bigint PRIMARY KEY, user_id uuid NOT NULL);\n"
                  "CREATE INDEX IF NOT EXISTS idx_likes_user ON likes (user_id);\n")
    lint = run_cli("lint", "--format", "json", str(folder))
    assert {i["code"] for i in json.loads(lint.out)} == {"SG31"}  # the new rollback is empty on purpose
    res = run_cli("rollback-gen", str(up))
    assert res.code == 0, res.err
    assert "DROP INDEX IF EXISTS idx_likes_user;\nDROP TABLE IF EXISTS likes;" in down.read_text()
    assert run_cli("lint", str(folder)).code == 0
    # a second run does not overwrite the rollback it wrote (it has statements now)
    res = run_cli("rollback-gen", str(up))
    assert res.code == 2 and "already has statements" in res.err
    assert run_cli("rollback-gen", "--force", str(up)).code == 0


def test_rollback_gen_fills_a_dbmate_down_section(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "20240101000000_add_bio.sql"
    f.write_text("-- migrate:up\nCREATE TABLE users (id int PRIMARY KEY);\nALTER TABLE users ADD COLUMN bio text;\n"
                 "-- migrate:down\n")
    assert run_cli("rollback-gen", str(f)).code == 0
    text = f.read_text()
    assert text.index("-- migrate:down") < text.index("ALTER TABLE users DROP COLUMN IF EXISTS bio;") < \
        text.index("DROP TABLE IF EXISTS users;")
    assert run_cli("lint", "--select", "SG31,SG32", str(f)).code == 0


def test_rollback_gen_to_stdout_for_the_example(run_cli) -> None:  # type: ignore[no-untyped-def]
    path = "fixtures/tribevibe/services/api/src/db/migrations/20240116090000_add_match_last_message.sql"
    res = run_cli("rollback-gen", "--stdout", path, cwd=ROOT)
    assert res.code == 0
    assert "DROP INDEX IF EXISTS idx_matches_last_message;" in res.out
    assert "ALTER TABLE matches DROP COLUMN IF EXISTS last_message_id;" in res.out


def test_hash_then_edit_is_reported(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "m"
    folder.mkdir()
    for ts, name in (("20240101000000", "a"), ("20240102000000", "b")):
        (folder / f"{ts}_{name}.sql").write_text(f"CREATE TABLE IF NOT EXISTS {name} (id int);\n")
        (folder / f"{ts}_{name}_rollback.sql").write_text(f"DROP TABLE IF EXISTS {name};\n")
    res = run_cli("hash", str(folder))
    assert res.code == 0 and (folder / "sqlguard.sum").is_file()
    assert run_cli("lint", str(folder)).code == 0
    (folder / "20240101000000_a.sql").write_text("CREATE TABLE IF NOT EXISTS a (id bigint);\n")
    items = json.loads(run_cli("lint", "--format", "json", str(folder)).out)
    assert [(i["code"], Path(i["filename"]).name) for i in items] == [("SG36", "20240101000000_a.sql")]


def test_schema_of_the_example_history(run_cli) -> None:  # type: ignore[no-untyped-def]
    folder = "fixtures/tribevibe/services/api/src/db/migrations"
    res = run_cli("schema", folder, cwd=ROOT)
    assert res.code == 0, res.err
    catalog = parse_catalog(res.out, "generated.yaml")  # the yaml is a valid catalog
    assert {"users", "matches", "profile_images"} <= set(catalog.tables)
    assert yaml.safe_load(res.out)["tables"]["matches"]["columns"]["user_id"]["references"] == "users(id)"
    mermaid = run_cli("schema", folder, "--format", "mermaid", cwd=ROOT).out
    assert mermaid.startswith("erDiagram") and "users ||--o{ matches" in mermaid
    markdown = run_cli("schema", folder, "--format", "markdown", cwd=ROOT).out
    assert "| matches | user_id | users | id | CASCADE |" in markdown
    data = json.loads(run_cli("schema", folder, "--format", "json", cwd=ROOT).out)
    assert data["tables"]["users"]["columns"]["email"] == {"type": "text", "nullable": False}


def test_commands_without_a_history_are_usage_errors(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "notes.sql").write_text("SELECT 1;\n")
    res = run_cli("schema", str(tmp_path))
    assert res.code == 2 and "no migration history" in res.err
    res = run_cli("rollback-gen", str(tmp_path / "notes.sql"))
    assert res.code == 2 and "not a migration" in res.err
    assert run_cli("new", "x").code == 2  # no --dir and no configured folder



def test_diff_base_reports_a_migration_added_out_of_order(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True,
                       env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                            "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})

    folder = tmp_path / "db"
    folder.mkdir()
    (folder / "20240110000000_newer.sql").write_text("CREATE TABLE IF NOT EXISTS a (id int);\n")
    (folder / "20240110000000_newer_rollback.sql").write_text("DROP TABLE IF EXISTS a;\n")
    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    git("tag", "base")
    (folder / "20240105000000_older.sql").write_text("CREATE TABLE IF NOT EXISTS b (id int);\n")
    (folder / "20240105000000_older_rollback.sql").write_text("DROP TABLE IF EXISTS b;\n")
    # untracked: new relative to HEAD, as pre-commit sees it
    items = json.loads(run_cli("lint", "--format", "json", "db", cwd=tmp_path).out)
    assert [(i["code"], Path(i["filename"]).name) for i in items] == [("SG34", "20240105000000_older.sql")]
    git("add", ".")
    git("commit", "-q", "-m", "second")
    assert json.loads(run_cli("lint", "--format", "json", "db", cwd=tmp_path).out) == []  # committed: not new
    items = json.loads(run_cli("lint", "--format", "json", "--diff-base", "base", "db", cwd=tmp_path).out)
    assert [i["code"] for i in items] == ["SG34"]
    res = run_cli("lint", "--diff-base", "no-such-ref", "db", cwd=tmp_path)
    assert res.code == 2 and "unknown git ref" in res.err
