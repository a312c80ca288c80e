"""Which files git calls new (`sqlguard.migrations.gitinfo`), and SG34 (out-of-order) built on it.

Real temporary repositories: the answers depend on git's own view of the index and the work tree.
"""

from __future__ import annotations

import shutil
import subprocess
import types
from pathlib import Path

import pytest

from sqlguard.diagnostic import Finding, SqlguardError
from sqlguard.migrations.files import MigrationIndex, short_name
from sqlguard.migrations.gitinfo import added_paths
from sqlguard.migrations.history import History, HistoryIndex, out_of_order
from sqlguard.rules import sg34_out_of_order

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "rules" / "SG34"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(repo), "GIT_CONFIG_NOSYSTEM": "1",
           "PATH": "/usr/bin:/bin:/usr/local/bin"}
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, {"db/20240101000000_a.sql": "SELECT 1;\n", "db/20240110000000_c.sql": "SELECT 1;\n",
                 ".gitignore": "*.log\n"})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return root


def resolved(*paths: Path) -> frozenset[Path]:
    return frozenset(p.resolve() for p in paths)


def test_not_a_repository(tmp_path: Path) -> None:
    assert added_paths(tmp_path, None) is None


def test_pre_commit_case_untracked_and_staged(repo: Path) -> None:
    assert added_paths(repo, None) == frozenset()
    write(repo, {"db/20240105000000_b.sql": "SELECT 1;\n", "db/20240120000000_d.sql": "SELECT 1;\n",
                 "db/notes.log": "ignored\n", "db/name with space.sql": "SELECT 1;\n"})
    git(repo, "add", "db/20240120000000_d.sql")
    (repo / "db/20240101000000_a.sql").write_text("SELECT 2;\n", encoding="utf-8")  # modified, not new
    db = repo / "db"
    expected = resolved(db / "20240105000000_b.sql", db / "20240120000000_d.sql", db / "name with space.sql")
    assert added_paths(repo, None) == expected
    assert added_paths(db, None) == expected  # from a subfolder: still absolute, whole work tree


def test_diff_base_counts_committed_additions(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, {"db/20240105000000_b.sql": "SELECT 1;\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "b")
    write(repo, {"db/20240121000000_e.sql": "SELECT 1;\n"})  # untracked on top
    db = repo / "db"
    assert added_paths(repo, "main") == resolved(db / "20240105000000_b.sql", db / "20240121000000_e.sql")
    assert added_paths(repo, None) == resolved(db / "20240121000000_e.sql")  # b is committed: not new to HEAD


def test_renames_are_not_additions(repo: Path) -> None:
    git(repo, "mv", "db/20240101000000_a.sql", "db/20240101000000_a_renamed.sql")
    assert added_paths(repo, None) == frozenset()


def test_unknown_ref_is_a_user_error(repo: Path) -> None:
    with pytest.raises(SqlguardError, match="unknown git ref `origin/mian`"):
        added_paths(repo, "origin/mian")


def test_repository_without_commits(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    write(tmp_path, {"a.sql": "SELECT 1;\n", "b.sql": "SELECT 1;\n"})
    git(tmp_path, "add", "a.sql")
    assert added_paths(tmp_path, None) == resolved(tmp_path / "a.sql", tmp_path / "b.sql")


def test_git_missing(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    assert added_paths(repo, None) is None


# --- SG34 ----------------------------------------------------------------------------------------

def sg34(newer: str | None, path: Path) -> list[Finding]:
    ctx = types.SimpleNamespace(newer_existing=newer, migration=MigrationIndex({}).classify(path), path=str(path),
                                report=lambda span, msg, help=None, fix=None: Finding(span, msg, help, fix))
    return list(sg34_out_of_order.check(ctx))  # type: ignore[arg-type]


def newer_for(history: History, added: frozenset[Path], path: Path) -> str | None:
    """What the engine puts in `ctx.newer_existing` for `path`."""
    m = history.migration(path)
    newest = out_of_order(history, added).get(m.path) if m is not None else None
    return short_name(newest.path, history.convention) if newest is not None else None


def test_sg34_on_a_branch_merged_late(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, {"db/20240105000000_b.sql": "SELECT 1;\n", "db/20240115000000_d.sql": "SELECT 1;\n"})
    added = added_paths(repo, "main")
    assert added is not None
    history = HistoryIndex(MigrationIndex({}), "postgres").history_for(repo / "db" / "20240105000000_b.sql")
    assert history is not None
    late = repo / "db" / "20240105000000_b.sql"
    assert newer_for(history, added, late) == "20240110000000_c.sql"
    assert newer_for(history, added, repo / "db" / "20240115000000_d.sql") is None
    found = sg34(newer_for(history, added, late), late)
    assert len(found) == 1
    assert found[0].message == (
        "`20240105000000_b.sql` is new but sorts before `20240110000000_c.sql`, which is already in the history: "
        "databases that ran `20240110000000_c` will either skip it or apply it out of order.")
    assert found[0].help == "Rename it with a version after `20240110000000_c` (`sqlguard new` picks one)."
    assert sg34(None, late) == []


def test_sg34_tool_specific_consequences(tmp_path: Path) -> None:
    write(tmp_path, {"fly/V3__late.sql": "SELECT 1;\n", "go/0003_late.up.sql": "SELECT 1;\n",
                     "dbmate/20240105000000_late.sql": "-- migrate:up\nSELECT 1;\n-- migrate:down\n"})
    flyway = sg34("V4__newer.sql", tmp_path / "fly/V3__late.sql")
    assert "Flyway refuses to migrate databases that ran `V4__newer` (a resolved migration not applied)" \
        in flyway[0].message
    golang = sg34("0004_newer.up.sql", tmp_path / "go/0003_late.up.sql")
    assert "so databases that ran `0004_newer` never run it" in golang[0].message
    dbmate = sg34("20240110000000_newer.sql", tmp_path / "dbmate/20240105000000_late.sql")
    assert "dbmate runs it after `20240110000000_newer`" in dbmate[0].message


def test_sg34_fixture_tree(tmp_path: Path) -> None:
    """The fixture as its README describes it: existing files committed, the two new ones untracked."""
    root = tmp_path / "repo"
    shutil.copytree(FIXTURE, root)
    git(root, "init", "-q", "-b", "main")
    new = ["20240105120000_add_users_locale", "20240115100000_index_orders"]
    git(root, "add", "-A")
    git(root, "rm", "-q", "--cached", *(f"sqlguard/{n}{tail}" for n in new for tail in (".sql", "_rollback.sql")))
    git(root, "commit", "-q", "-m", "existing history")
    added = added_paths(root, None)
    assert added is not None and len(added) == 4
    index = HistoryIndex(MigrationIndex({}), "postgres")
    verdicts = []
    for path in sorted((root / "sqlguard").glob("*.sql")):
        history = index.history_for(path)
        assert history is not None
        newer = newer_for(history, added, path)
        fail = path.read_text(encoding="utf-8").startswith("-- fail:")
        verdicts.append(fail)
        assert bool(sg34(newer, path)) == fail, (path.name, newer)
    assert any(verdicts) and not all(verdicts)


def test_sg34_sqitch_help(tmp_path: Path) -> None:
    write(tmp_path, {"sqitch.plan": "%project=x\nb 2024-01-01T00:00:00Z A <a@b>\na 2024-01-02T00:00:00Z A <a@b>\n",
                     "deploy/a.sql": "SELECT 1;\n", "deploy/b.sql": "SELECT 1;\n"})
    found = sg34("deploy/a.sql", tmp_path / "deploy" / "b.sql")
    assert found[0].help == "Move `b` in `sqitch.plan` to after `a`."
    diesel = sg34("2024-01-10-000000_newer/up.sql", tmp_path / "2024-01-05-000000_late" / "up.sql")
    assert "databases that ran `2024-01-10-000000_newer` will" in diesel[0].message


def test_cached_results_follow_what_git_calls_new_and_nothing_else(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from sqlguard.cli import main

    monkeypatch.chdir(repo)
    monkeypatch.setenv("XDG_CACHE_HOME", str(repo.parent / "home-cache"))

    def sg34() -> list[str]:
        assert main(["lint", "--format", "json", "--exit-zero", "db"]) == 0
        return [Path(d["filename"]).name for d in json.loads(capsys.readouterr().out) if d["code"] == "SG34"]

    write(repo, {".gitignore": "*.log\n.sqlguard_cache/\n"})
    assert sg34() == []
    write(repo, {"db/20240105000000_b.sql": "SELECT 1;\n"})  # untracked and older than c: out of order
    assert sg34() == ["20240105000000_b.sql"]
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "b")  # committed: no longer new, so no longer reported (same bytes)
    assert sg34() == []
    # a new file outside the history changes nothing the cached results depend on
    from sqlguard.config import load_settings
    from sqlguard.lint.engine import lint_paths

    write(repo, {"notes/todo.txt": "later\n"})
    result = lint_paths(["db"], load_settings(None, [repo / "db"]), None, cache=True,
                        added=added_paths(repo, None))
    assert result.cache_hits == result.files == 3
