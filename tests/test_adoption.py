"""Adopting sqlguard on an existing history (issue #15): a baseline, `--diff-base`, per-rule levels,
`--statistics`, and honest answers to a wrong rule code or path."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import CORPORA, FIXTURES, needs_shared

from sqlguard.config import rule_codes
from sqlguard.rules import ALL_RULES

TRIBEVIBE = FIXTURES / "tribevibe"
MIGRATIONS = "services/api/src/db/migrations"


def _git(repo: Path, *args: str) -> None:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(repo), "GIT_CONFIG_NOSYSTEM": "1",
           "PATH": "/usr/bin:/bin:/usr/local/bin"}
    subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, check=True)


def _committed(repo: Path) -> None:
    """A git repository of everything in `repo`, committed on `main`."""
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")


def _copy(tmp_path: Path) -> Path:
    """TribeVibe's tree, its config pointing at the catalog it ships with."""
    root = tmp_path / "tribevibe"
    shutil.copytree(TRIBEVIBE, root)
    config = root / "sqlguard.yaml"
    catalog = (TRIBEVIBE / "../../rules/tribevibe.yaml").resolve()
    config.write_text(config.read_text(encoding="utf-8").replace("../../rules/tribevibe.yaml", str(catalog)),
                      encoding="utf-8")
    return root


def _json(run_cli, *args: str) -> tuple[list[dict], str, int]:  # type: ignore[no-untyped-def]
    r = run_cli("lint", "--no-cache", "--format", "json", *args)
    assert r.code in (0, 1), r.err
    return json.loads(r.out), r.err, r.code


def test_rule_codes_come_from_the_module_names() -> None:
    assert rule_codes() == tuple(sorted(r.code for r in ALL_RULES))
    for r in ALL_RULES:
        assert r.check.__module__.rsplit(".", 1)[-1].startswith(r.code.lower() + "_")


def test_baseline_round_trip_survives_lines_moving(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = _copy(tmp_path)
    before, _, _ = _json(run_cli, str(root))
    assert len(before) > 5
    base = root / "sqlguard-baseline.json"
    r = run_cli("lint", "--no-cache", "--write-baseline", str(base), str(root))
    assert r.code == 0 and f"recorded {len(before)} findings" in r.err
    found, err, code = _json(run_cli, "--baseline", str(base), str(root))
    assert found == [] and code == 0 and f"{len(before)} findings left out" in err and "no longer" not in err
    # Lines move above every finding of one file, and one new problem is added: only it is reported.
    victim = Path(before[0]["filename"])
    victim.write_text("-- a comment that moves every line down\n\n" + victim.read_text(encoding="utf-8")
                      + "\nDROP TABLE matches;\n", encoding="utf-8")
    found, err, _ = _json(run_cli, "--baseline", str(base), str(root))
    assert [(d["code"], d["filename"]) for d in found if d["code"] == "SG20"] == [("SG20", str(victim))]
    assert all(d["location"]["row"] > 2 for d in found)
    # A finding fixed since: its entry is stale, and the run says so.
    victim.write_text("SELECT 1;\n", encoding="utf-8")
    _, err, _ = _json(run_cli, "--baseline", str(base), str(root))
    assert "no longer occur" in err
    # The config's `baseline` does the same as the flag, relative to the config file.
    (root / "sqlguard.yaml").write_text((root / "sqlguard.yaml").read_text(encoding="utf-8")
                                        + "baseline: sqlguard-baseline.json\n", encoding="utf-8")
    _, err, _ = _json(run_cli, str(root))
    assert "left out: recorded in the baseline sqlguard-baseline.json" in err


def test_a_broken_baseline_is_exit_2(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "b.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    r = run_cli("lint", "--no-cache", "--baseline", str(bad), str(TRIBEVIBE))
    assert r.code == 2 and "is not a sqlguard baseline" in r.err
    r = run_cli("lint", "--no-cache", "--baseline", str(tmp_path / "none.json"), str(TRIBEVIBE))
    assert r.code == 2 and "cannot read the baseline" in r.err


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_diff_base_reports_only_changed_files(run_cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    root = _copy(tmp_path)
    _committed(root)
    monkeypatch.chdir(root)
    everything, _, _ = _json(run_cli, ".")
    assert len({d["filename"] for d in everything}) > 3
    new = Path(MIGRATIONS) / "20250101090000_drop_matches.sql"
    new.write_text("DROP TABLE matches;\n", encoding="utf-8")
    (Path(MIGRATIONS) / "20250101090000_drop_matches_rollback.sql").write_text(
        (Path(MIGRATIONS) / "20240102090000_create_matches.sql").read_text(encoding="utf-8"), encoding="utf-8")
    found, _, _ = _json(run_cli, "--diff-base", "main", ".")
    assert {d["filename"] for d in found} == {str(new)}
    # the replay still covers the whole history: `matches` is known, so no SG11 on the new file
    assert "SG11" not in {d["code"] for d in found} and "SG21" in {d["code"] for d in found}
    r = run_cli("lint", "--no-cache", "--diff-base", "no-such-ref", ".")
    assert r.code == 2 and "unknown git ref `no-such-ref`" in r.err


def test_levels_in_the_config(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = _copy(tmp_path)
    before, _, _ = _json(run_cli, str(root))
    codes = {d["code"] for d in before}
    assert {"SG20", "SG21"} <= codes
    config = root / "sqlguard.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "rules:\n  SG20: off\n  SG21: info\n  SG65: error\n",
                      encoding="utf-8")
    after, _, _ = _json(run_cli, str(root))
    assert "SG20" not in {d["code"] for d in after}
    assert {d["severity"] for d in after if d["code"] == "SG21"} == {"info"}
    assert {d["severity"] for d in after if d["code"] == "SG65"} == {"error"}  # an opt-in rule, turned on


def test_statistics(run_cli) -> None:  # type: ignore[no-untyped-def]
    found, _, _ = _json(run_cli, str(TRIBEVIBE))
    r = run_cli("lint", "--no-cache", "--statistics", str(TRIBEVIBE))
    assert r.code == 1
    lines = r.out.splitlines()
    assert lines[-1] == f"Found {len(found)} problems."
    counts = {line.split()[1]: int(line.split()[0]) for line in lines[:-1]}
    assert counts == {c: sum(1 for d in found if d["code"] == c) for c in {d["code"] for d in found}}
    r = run_cli("lint", "--no-cache", "--statistics", "--format", "json", str(TRIBEVIBE))
    assert sum(item["count"] for item in json.loads(r.out)) == len(found)


def test_unknown_rule_codes_are_exit_2_with_a_suggestion(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("lint", "--no-cache", "--select", "SG99", str(TRIBEVIBE))
    assert r.code == 2 and "did you mean" in r.err and "All checks passed" not in r.out
    r = run_cli("lint", "--no-cache", "--select", "SG5,hygiene", str(TRIBEVIBE))
    assert r.code in (0, 1)


@needs_shared
def test_baseline_round_trip_on_a_real_history(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    history = tmp_path / "postgres"
    shutil.copytree(CORPORA / "harness-golang-migrate" / "app" / "store" / "database" / "migrate" / "postgres",
                    history)
    base = tmp_path / "baseline.json"
    before, _, _ = _json(run_cli, str(history))
    assert len(before) > 100
    assert run_cli("lint", "--no-cache", "--write-baseline", str(base), str(history)).code == 0
    found, err, code = _json(run_cli, "--baseline", str(base), str(history))
    assert (found, code) == ([], 0) and "no longer" not in err
    newest = sorted(history.glob("*.up.sql"))[-1]
    newest.write_text("\n\n" + newest.read_text(encoding="utf-8") + "\nDROP TABLE principals;\n", encoding="utf-8")
    found, _, _ = _json(run_cli, "--baseline", str(base), str(history))
    assert [d["code"] for d in found if d["code"] in ("SG20", "SG21")] == ["SG20", "SG21"]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_fix_leaves_applied_migrations_alone(run_cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "repo"
    db = repo / "db"
    db.mkdir(parents=True)
    drop = "DROP TABLE legacy_sessions;\n"  # SG20's fix: IF EXISTS
    (db / "V1__create.sql").write_text("CREATE TABLE legacy_sessions (id int);\n", encoding="utf-8")
    (db / "V2__drop.sql").write_text(drop, encoding="utf-8")
    _committed(repo)
    _git(repo, "checkout", "-q", "-b", "feature")
    (db / "V3__drop_again.sql").write_text(drop, encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "feature")
    (db / "V4__drop_new.sql").write_text(drop, encoding="utf-8")  # not committed yet
    monkeypatch.chdir(repo)
    r = run_cli("lint", "--no-cache", "--fix", "--exit-zero", "db")
    assert (db / "V2__drop.sql").read_text(encoding="utf-8") == drop  # committed: a database ran it
    assert (db / "V3__drop_again.sql").read_text(encoding="utf-8") == drop
    assert "IF EXISTS" in (db / "V4__drop_new.sql").read_text(encoding="utf-8")
    assert "2 migrations not edited" in r.err and "--fix-applied" in r.err
    # Against the branch's base, the branch's own committed migration is not applied yet.
    r = run_cli("lint", "--no-cache", "--fix", "--exit-zero", "--diff-base", "main", "db")
    assert "IF EXISTS" in (db / "V3__drop_again.sql").read_text(encoding="utf-8")
    assert (db / "V2__drop.sql").read_text(encoding="utf-8") == drop
    r = run_cli("lint", "--no-cache", "--fix", "--fix-applied", "--exit-zero", "db")
    assert "IF EXISTS" in (db / "V2__drop.sql").read_text(encoding="utf-8") and "not edited" not in r.err


def test_fix_leaves_migrations_in_sqlguard_sum_alone(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "db"
    db.mkdir()
    drop = "DROP TABLE legacy_sessions;\n"
    (db / "20240101000000_drop.sql").write_text(drop, encoding="utf-8")
    assert run_cli("hash", str(db)).code == 0  # writes sqlguard.sum
    (db / "20240102000000_drop_more.sql").write_text(drop, encoding="utf-8")
    r = run_cli("lint", "--no-cache", "--fix", "--exit-zero", str(db))
    assert (db / "20240101000000_drop.sql").read_text(encoding="utf-8") == drop
    assert "IF EXISTS" in (db / "20240102000000_drop_more.sql").read_text(encoding="utf-8")
    assert "1 migration not edited" in r.err


@needs_shared
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_diff_base_on_a_real_history(run_cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "repo"
    history = repo / "migrate" / "postgres"
    shutil.copytree(CORPORA / "harness-golang-migrate" / "app" / "store" / "database" / "migrate" / "postgres",
                    history)
    _committed(repo)
    monkeypatch.chdir(repo)
    everything, _, _ = _json(run_cli, ".")
    assert len({d["filename"] for d in everything}) > 50
    newest = sorted(history.glob("*.up.sql"))[-1]
    version = int(newest.name.split(".", 1)[0].split("_", 1)[0]) + 1
    new = history / f"{version:04d}.up.sql"
    new.write_text("DROP TABLE principals;\n", encoding="utf-8")
    (history / f"{version:04d}.down.sql").write_text("SELECT 1;\n", encoding="utf-8")
    found, _, _ = _json(run_cli, "--diff-base", "main", ".")
    assert {Path(d["filename"]).name for d in found} <= {new.name, f"{version:04d}.down.sql"}
    assert {"SG20", "SG21"} <= {d["code"] for d in found}
    assert "SG11" not in {d["code"] for d in found}  # `principals` is known from the whole replayed history


def _history(tmp_path: Path, *migrations: str) -> Path:
    db = tmp_path / "db"
    db.mkdir()
    texts = ("CREATE TABLE users (id bigint PRIMARY KEY);\n"
             "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint);\n", *migrations)
    for n, text in enumerate(texts):
        (db / f"2024010{n + 1}000000_m{n}.sql").write_text(text, encoding="utf-8")
        (db / f"2024010{n + 1}000000_m{n}_rollback.sql").write_text("SELECT 1;\n", encoding="utf-8")
    return db


FK = "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id)"


def _sg52(run_cli, db: Path, *extra: str) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    r = run_cli("lint", "--no-cache", "--format", "json", "--exit-zero", "--select", "SG52", *extra, str(db))
    return [(Path(d["filename"]).name, d["severity"], d["message"]) for d in json.loads(r.out)]


def test_a_not_valid_constraint_that_nothing_validates(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = _history(tmp_path, FK + " NOT VALID;\n", "SELECT 1;\n")
    [(name, severity, message)] = _sg52(run_cli, db)
    assert (name, severity) == ("20240102000000_m1.sql", "warning") and "no later migration validates it" in message
    (db / "20240103000000_m2.sql").write_text("ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;\n",
                                              encoding="utf-8")
    assert _sg52(run_cli, db) == []
    # the newest migration: the next one may be about to validate it, so it is said at info level
    (db / "20240103000000_m2.sql").unlink()
    (db / "20240103000000_m2_rollback.sql").unlink()
    [(_, severity, message)] = _sg52(run_cli, db)
    assert severity == "info" and "nothing validates it yet" in message


def test_fix_writes_the_validate_step_where_it_can(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A migration that runs statement by statement: NOT VALID, then VALIDATE after it commits.
    db = _history(tmp_path, "-- sqlguard: transaction=off\n" + FK + ";\n")
    run_cli("lint", "--no-cache", "--fix", "--exit-zero", "--select", "SG52", str(db))
    assert (db / "20240102000000_m1.sql").read_text(encoding="utf-8").splitlines()[1:] == \
        [FK + " NOT VALID;", "ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;"]
    assert _sg52(run_cli, db) == []
    # In one transaction the VALIDATE belongs in the next migration: the finding stays, with the statement.
    (tmp_path / "db").rename(tmp_path / "old")
    db = _history(tmp_path, FK + ";\n")
    r = run_cli("lint", "--no-cache", "--fix", "--select", "SG52", str(db))
    assert (db / "20240102000000_m1.sql").read_text(encoding="utf-8") == FK + " NOT VALID;\n"
    assert "All checks passed" not in r.out and "VALIDATE CONSTRAINT orders_user_fk" in r.out
