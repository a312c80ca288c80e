"""The migration report of `sqlguard apply`: its JSON schema, the markdown report, the terminal summary and
the exact commands that undo a run. The results are built by hand: this tests the renderer, not the runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sqlguard.config import ApplySettings, HistoryTable, Settings
from sqlguard.diagnostic import SqlguardError
from sqlguard.live.apply import ApplyResult, EnvResult, MigrationResult, StatementResult
from sqlguard.live.backup import Backup
from sqlguard.report.apply import OUT_OF_ORDER, render, undo_commands
from sqlguard.schema.model import Change

TOP_KEYS = {"mode", "ok", "stopped", "folder", "check_rollback", "validation", "environments", "locks", "commands",
            "dry_run"}
ENV_KEYS = {"name", "stage", "target", "status", "ms", "error", "note", "backup", "migrations"}
MIGRATION_KEYS = {"version", "name", "file", "checksum", "status", "ms", "transactional", "locks", "changes",
                  "rollback_check", "rollback_diff", "invalid_indexes_dropped", "error", "error_line", "statements"}
STATEMENT_KEYS = {"line", "summary", "ms", "rows", "locks", "outside_transaction", "note"}


def settings(root: Path, config: Path | None = None) -> Settings:
    return Settings(config_path=config, root=root,
                    apply=ApplySettings(history=HistoryTable(table="ops.schema_history")))


def not_run(m: MigrationResult) -> MigrationResult:
    """What the runner keeps of a migration it did not run: its name and checksum."""
    return MigrationResult(m.version, m.name, m.file, m.checksum) if m.status == "not run" else m


def likes(status: str, ms: float = 12.345) -> MigrationResult:
    """0003: creates `likes` (a statement whose summary holds `|` and a backtick) and takes a strong lock."""
    return not_run(MigrationResult(
        "0003", "add_likes", "0003_add_likes.sql", "sha256:aa", status=status, ms=ms,
        statements=[
            StatementResult(1, "CREATE TABLE likes (…)", 4.04, None, ["AccessExclusiveLock on likes"]),
            StatementResult(5, "UPDATE users SET tag = a || `b`", 6.66, 42, ["RowExclusiveLock on users"]),
        ],
        changes=[Change("added", "table", "likes"), Change("added", "column", "users.tag", "text")],
        locks=["AccessExclusiveLock on likes", "RowExclusiveLock on users"]))


def index(status: str) -> MigrationResult:
    return not_run(MigrationResult(
        "0004", "index_likes", "0004_index_likes.sql", "sha256:bb", status=status, ms=2.0,
        statements=[StatementResult(2, "CREATE INDEX likes_user_idx ON likes (…)", 1.5, None,
                                    ["ShareLock on likes"])],
        changes=[Change("added", "index", "likes_user_idx")], locks=["ShareLock on likes"]))


def backup(root: Path, env: str) -> Backup:
    return Backup(env, "app", root / "backups" / "2024 06 01" / f"{env}_app_120000.dump", 2048, 17, 0.81234)


def dry_run(root: Path) -> ApplyResult:
    return ApplyResult("dry-run", root / "migrations", [
        EnvResult("test", "test", "db.test:5432/app", "tried", [likes("tried"), index("tried")], ms=30.0),
        EnvResult("dev", "dev", "db.dev:5432/app", "pending", [likes("not run"), index("not run")],
                  note="runs after test succeeds"),
    ])


def executed(root: Path) -> ApplyResult:
    return ApplyResult("execute", root / "migrations", [
        EnvResult("test", "test", "db.test:5432/app", "applied", [likes("applied"), index("applied")],
                  backup(root, "test"), ms=40.04),
        EnvResult("dev", "dev", "db.dev:5432/app", "applied", [likes("applied"), index("applied")],
                  backup(root, "dev"), ms=50.0),
    ], dry_run=dry_run(root))


# --- a successful --execute --------------------------------------------------------------------------

def test_execute_commands_roll_back_to_the_version_before_the_run_last_environment_first(tmp_path: Path) -> None:
    cmds = undo_commands(executed(tmp_path), settings(tmp_path, tmp_path / "sqlguard.yaml"),
                         before={"test": "0002", "dev": None}, cwd=tmp_path)
    assert cmds["rollback"] == [
        "sqlguard rollback --config sqlguard.yaml --env dev --to 0",  # nothing recorded before: everything
        "sqlguard rollback --config sqlguard.yaml --env test --to 0002",
    ]
    assert cmds["restore"] == [
        "sqlguard restore --config sqlguard.yaml --env dev 'backups/2024 06 01/dev_app_120000.dump'",
        "sqlguard restore --config sqlguard.yaml --env test 'backups/2024 06 01/test_app_120000.dump'",
    ]


def test_execute_commands_count_steps_without_before_and_keep_paths_outside_cwd_absolute(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    config = tmp_path / "my config" / "pyproject.toml"
    cmds = undo_commands(executed(tmp_path), settings(tmp_path, config), cwd=elsewhere)
    assert cmds["rollback"] == [
        f"sqlguard rollback --config '{config}' --env dev --steps 2",
        f"sqlguard rollback --config '{config}' --env test --steps 2",
    ]
    assert cmds["restore"][0] == (f"sqlguard restore --config '{config}' --env dev "
                                  f"'{tmp_path}/backups/2024 06 01/dev_app_120000.dump'")
    # no config file: no --config; an environment missing from `before` counts steps
    plain = undo_commands(executed(tmp_path), settings(tmp_path), before={"dev": "0002"}, cwd=tmp_path)
    assert plain["rollback"] == ["sqlguard rollback --env dev --to 0002", "sqlguard rollback --env test --steps 2"]
    # out of order on test: no rollback undoes exactly this run there, its backup does
    unordered = undo_commands(executed(tmp_path), settings(tmp_path), before={"dev": "0002", "test": OUT_OF_ORDER},
                              cwd=tmp_path)
    assert unordered["rollback"] == ["sqlguard rollback --env dev --to 0002"]
    assert len(unordered["restore"]) == len(plain["restore"])


def test_execute_json_has_the_documented_schema(tmp_path: Path) -> None:
    text = render(executed(tmp_path), "json", settings(tmp_path, tmp_path / "sqlguard.yaml"),
                  before={"test": "0002", "dev": "0002"}, cwd=tmp_path)
    data = json.loads(text)
    assert set(data) == TOP_KEYS
    assert (data["mode"], data["ok"], data["stopped"], data["check_rollback"]) == ("execute", True, None, False)
    assert data["folder"] == str(tmp_path / "migrations")
    test_env = data["environments"][0]
    assert set(test_env) == ENV_KEYS
    assert (test_env["name"], test_env["stage"], test_env["target"], test_env["status"], test_env["ms"]) == (
        "test", "test", "db.test:5432/app", "applied", 40.0)
    assert test_env["backup"] == {"path": str(tmp_path / "backups/2024 06 01/test_app_120000.dump"),
                                  "size": 2048, "entries": 17, "seconds": 0.8123}
    m = test_env["migrations"][0]
    assert set(m) == MIGRATION_KEYS
    assert (m["version"], m["status"], m["ms"], m["transactional"], m["error"]) == ("0003", "applied", 12.3, True,
                                                                                  None)
    assert m["changes"] == [{"kind": "added", "object": "table", "name": "likes", "detail": ""},
                            {"kind": "added", "object": "column", "name": "users.tag", "detail": "text"}]
    assert m["locks"] == ["AccessExclusiveLock on likes", "RowExclusiveLock on users"]
    s = m["statements"][1]
    assert set(s) == STATEMENT_KEYS
    assert (s["line"], s["summary"], s["ms"], s["rows"], s["locks"]) == (
        5, "UPDATE users SET tag = a || `b`", 6.7, 42, ["RowExclusiveLock on users"])
    assert data["locks"][:3] == [
        {"environment": "test", "file": "0003_add_likes.sql", "line": 1, "lock": "AccessExclusiveLock on likes"},
        {"environment": "test", "file": "0003_add_likes.sql", "line": 5, "lock": "RowExclusiveLock on users"},
        {"environment": "test", "file": "0004_index_likes.sql", "line": 2, "lock": "ShareLock on likes"},
    ]
    assert len(data["locks"]) == 6  # the same three on dev
    assert data["commands"]["rollback"] == ["sqlguard rollback --config sqlguard.yaml --env dev --to 0002",
                                            "sqlguard rollback --config sqlguard.yaml --env test --to 0002"]
    assert len(data["commands"]["restore"]) == 2
    dry = data["dry_run"]
    assert set(dry) == TOP_KEYS - {"dry_run"}
    assert dry["mode"] == "dry-run"
    assert dry["commands"] == {"rollback": [], "restore": []}
    assert [e["status"] for e in dry["environments"]] == ["tried", "pending"]
    assert json.loads(json.dumps(data)) == data  # plain JSON values only
    assert text.endswith("}\n")


def test_execute_markdown_has_every_section_and_escapes_pipes(tmp_path: Path) -> None:
    md = render(executed(tmp_path), "markdown", settings(tmp_path, tmp_path / "sqlguard.yaml"),
                before={"test": "0002", "dev": None}, cwd=tmp_path)
    assert md.startswith("# Migration report: execute applied\n")
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings == ["## Validation", "## Dry run", "## Environment `test`", "## Environment `dev`",
                        "## Locks seen", "## How to undo"]
    assert "No findings." in md
    assert "- Target: `db.test:5432/app` (stage: test)" in md
    assert "- Status: **applied** in 40.0 ms" in md
    assert "- Backup: `backups/2024 06 01/test_app_120000.dump`, 2.0 KiB (2048 bytes), 17 entries verified" in md
    assert "| `0003_add_likes.sql` | applied | 12.3 | table `likes` added<br>column `users.tag` added (text) | " \
           "AccessExclusiveLock on likes, RowExclusiveLock on users |" in md
    # the statement's `|` is escaped and its backtick does not end the code span
    assert "| 5 | `` UPDATE users SET tag = a \\|\\| `b` `` | 6.7 | 42 | RowExclusiveLock on users |  |" in md
    assert "| test | `0003_add_likes.sql` | 1 | AccessExclusiveLock on likes |" in md
    assert "| test | tried | 30.0 | 2 |\n| dev | pending |  | 2 |" in md  # the dry run's summary
    undo = md.split("## How to undo", 1)[1]
    assert ("```sh\nsqlguard rollback --config sqlguard.yaml --env dev --to 0\n"
            "sqlguard rollback --config sqlguard.yaml --env test --to 0002\n```") in undo
    assert "sqlguard restore --config sqlguard.yaml --env dev 'backups/2024 06 01/dev_app_120000.dump'" in undo
    assert "`--to 0` rolls back every migration" in undo
    # every table row has as many unescaped `|` as its header
    for block in md.split("\n\n"):
        rows = [r for r in block.splitlines() if r.startswith("|")]
        if rows:
            widths = {r.replace("\\|", "").count("|") for r in rows}
            assert len(widths) == 1, block


def test_execute_text_is_one_line_per_environment_and_migration(tmp_path: Path) -> None:
    text = render(executed(tmp_path), "text", settings(tmp_path), before={"test": "0002", "dev": "0002"},
                  cwd=tmp_path)
    lines = text.splitlines()
    assert lines[0] == "sqlguard apply: execute applied"
    assert lines[1] == "Dry run passed: test (2 migration(s), 30.0 ms)"
    assert lines[2] == ("test [test] db.test:5432/app: applied in 40.0 ms; backup "
                        "backups/2024 06 01/test_app_120000.dump (2.0 KiB, 17 entries verified)")
    assert lines[3] == ("  applied 0003_add_likes.sql 12.3 ms: table `likes` added; column `users.tag` added (text) "
                        "[AccessExclusiveLock on likes, RowExclusiveLock on users]")
    assert lines[4] == "  applied 0004_index_likes.sql 2.0 ms: index `likes_user_idx` added [ShareLock on likes]"
    tail = text.split("To undo, roll back:\n", 1)[1]
    assert tail == ("  sqlguard rollback --env dev --to 0002\n"
                    "  sqlguard rollback --env test --to 0002\n"
                    "or restore the backups taken before the run (writes made since are lost):\n"
                    "  sqlguard restore --env dev 'backups/2024 06 01/dev_app_120000.dump'\n"
                    "  sqlguard restore --env test 'backups/2024 06 01/test_app_120000.dump'\n")
    assert "\x1b[" not in text


def test_execute_markdown_tables_parse_back_to_the_original_text(tmp_path: Path) -> None:
    markdown_it = pytest.importorskip("markdown_it")  # a CommonMark parser with GFM tables, when installed
    md = render(executed(tmp_path), "markdown", settings(tmp_path), cwd=tmp_path)
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(md)
    assert "<td><code>UPDATE users SET tag = a || `b`</code></td>" in html
    assert "<td>table <code>likes</code> added<br>column <code>users.tag</code> added (text)</td>" in html
    assert html.count("<table>") == 1 + 2 * 3 + 1  # dry run; per environment: migrations, 2 statements; locks


# --- a failed migration ------------------------------------------------------------------------------

def failed(root: Path) -> ApplyResult:
    broken = index("failed")
    broken.statements = []
    broken.changes, broken.locks = [], []
    broken.error, broken.error_line = 'line 3: relation "nope" does not exist', 3
    return ApplyResult("execute", root / "migrations", [
        EnvResult("test", "test", "db.test:5432/app", "failed", [likes("applied"), broken], backup(root, "test"),
                  ms=20.0, error=f"0004_index_likes.sql: {broken.error}"),
        EnvResult("dev", "dev", "db.dev:5432/app", "not run", [], backup(root, "dev")),
    ], stopped="`test` failed; the environments after it were not touched", dry_run=dry_run(root))


def test_failed_migration_shows_error_line_and_reason_and_undoes_only_what_ran(tmp_path: Path) -> None:
    s = settings(tmp_path)
    result = failed(tmp_path)
    cmds = undo_commands(result, s, before={"test": "0002", "dev": "0002"}, cwd=tmp_path)
    # dev was backed up but never touched: nothing to roll back or restore there
    assert cmds == {"rollback": ["sqlguard rollback --env test --to 0002"],
                    "restore": ["sqlguard restore --env test 'backups/2024 06 01/test_app_120000.dump'"]}

    text = render(result, "text", s, before={"test": "0002"}, cwd=tmp_path)
    assert text.startswith("sqlguard apply: execute failed\n")
    assert '  failed 0004_index_likes.sql 2.0 ms: error at line 3: relation "nope" does not exist\n' in text
    assert "Stopped: `test` failed; the environments after it were not touched\n" in text
    assert "dev [dev] db.dev:5432/app: not run" in text
    assert "--env dev" not in text

    md = render(result, "markdown", s, before={"test": "0002"}, cwd=tmp_path)
    assert md.startswith("# Migration report: execute failed\n\n"
                         "> **Stopped:** `test` failed; the environments after it were not touched\n")
    assert '> **Failed at line 3:** relation "nope" does not exist' in md
    assert "| `0004_index_likes.sql` | **failed** | 2.0 |  |  |" in md
    assert "sqlguard rollback --env dev" not in md and "sqlguard restore --env dev" not in md
    assert "17 entries verified, taken in 0.8 s; this run did not change the database" in md
    assert "No migration ran here." in md
    assert "`--to 0`" not in md  # explained only when a command uses it

    data = json.loads(render(result, "json", s, cwd=tmp_path))
    assert data["ok"] is False
    assert data["stopped"] == "`test` failed; the environments after it were not touched"
    m = data["environments"][0]["migrations"][1]
    assert (m["status"], m["error"], m["error_line"]) == ("failed", 'line 3: relation "nope" does not exist', 3)
    assert data["commands"]["rollback"] == ["sqlguard rollback --env test --steps 1"]


def test_failed_migration_outside_a_transaction_is_restored_not_rolled_back(tmp_path: Path) -> None:
    concurrent = index("failed")
    concurrent.transactional = False
    concurrent.error, concurrent.error_line = "line 2: deadlock detected", 2
    concurrent.invalid_indexes_dropped = ["likes_user_idx"]
    result = ApplyResult("execute", tmp_path / "migrations", [
        EnvResult("test", "test", "db.test:5432/app", "failed", [concurrent], backup(tmp_path, "test"),
                  error="0004_index_likes.sql: line 2: deadlock detected"),
    ], stopped="`test` failed; the environments after it were not touched")
    s = settings(tmp_path)
    cmds = undo_commands(result, s, cwd=tmp_path)
    assert cmds == {"rollback": [],
                    "restore": ["sqlguard restore --env test 'backups/2024 06 01/test_app_120000.dump'"]}
    md = render(result, "markdown", s, cwd=tmp_path)
    assert "Runs outside a transaction, statement by statement." in md
    assert "Invalid indexes left by the failed build, dropped: `likes_user_idx`." in md
    assert "not recorded in `ops.schema_history`, so rolling back does not undo them" in md
    text = render(result, "text", s, cwd=tmp_path)
    assert "(dropped invalid indexes: likes_user_idx)" in text


# --- a dry run -----------------------------------------------------------------------------------------

def test_dry_run_says_nothing_was_changed_and_gives_no_commands(tmp_path: Path) -> None:
    s = settings(tmp_path, tmp_path / "sqlguard.yaml")
    result = dry_run(tmp_path)
    md = render(result, "markdown", s, cwd=tmp_path)
    assert md.startswith("# Migration report: dry run passed\n")
    assert md.split("## How to undo\n\n", 1)[1] == (
        "Nothing was changed: the dry run ran in a transaction that was rolled back.\n")
    assert "```sh" not in md
    assert "- Note: runs after test succeeds" in md
    assert "| `0003_add_likes.sql` | not run |  |  |  |" in md  # dev: listed, not run
    assert md.count("### `0003_add_likes.sql`") == 1  # statements only where it ran

    text = render(result, "text", s, cwd=tmp_path)
    assert text.splitlines()[-1] == "Nothing was changed: the dry run's transaction was rolled back."
    assert "dev [dev] db.dev:5432/app: pending (runs after test succeeds)" in text
    assert "  not run 0003_add_likes.sql\n" in text
    assert "sqlguard rollback" not in text and "sqlguard restore" not in text

    data = json.loads(render(result, "json", s, cwd=tmp_path))
    assert data["commands"] == {"rollback": [], "restore": []}
    assert data["dry_run"] is None
    assert data["environments"][1]["note"] == "runs after test succeeds"


# --- validation ----------------------------------------------------------------------------------------

def test_validation_findings_are_listed_in_every_format(tmp_path: Path) -> None:
    findings = [
        {"code": "SG55", "severity": "error", "file": str(tmp_path / "migrations" / "0003_add_likes.sql"), "line": 4,
         "message": "`CREATE INDEX likes_idx` blocks writes | on `likes`."},
        {"code": "SG20", "severity": "warning", "file": "migrations/0004_index_likes.sql", "line": 1,
         "message": "`DROP TABLE x` fails if it does not exist."},
    ]
    result = ApplyResult("execute", tmp_path / "migrations",
                         [EnvResult("test", "test", "db.test:5432/app", "not run")], findings,
                         stopped="1 error-level finding(s) in the pending migrations")
    s = settings(tmp_path)
    text = render(result, "text", s, cwd=tmp_path)
    assert text.splitlines()[:4] == [
        "sqlguard apply: execute stopped",
        "Findings in the pending migrations (2):",
        "  migrations/0003_add_likes.sql:4: SG55 [error] `CREATE INDEX likes_idx` blocks writes | on `likes`.",
        "  migrations/0004_index_likes.sql:1: SG20 [warning] `DROP TABLE x` fails if it does not exist.",
    ]
    assert text.endswith("Stopped: 1 error-level finding(s) in the pending migrations\nNothing was changed.\n")

    md = render(result, "markdown", s, cwd=tmp_path)
    assert ("| error | SG55 | `migrations/0003_add_likes.sql` | 4 | "
            "`CREATE INDEX likes_idx` blocks writes \\| on `likes`. |") in md
    assert "No findings." not in md
    assert md.split("## How to undo\n\n", 1)[1] == "Nothing was changed.\n"

    data = json.loads(render(result, "json", s, cwd=tmp_path))
    assert data["validation"] == findings
    assert data["ok"] is False


def test_unknown_format_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(SqlguardError, match="unknown report format `sarif`"):
        render(dry_run(tmp_path), "sarif", settings(tmp_path))
