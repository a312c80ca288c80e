"""The content-hash cache (.sqlguard_cache/) and parallel workers give the same results as a plain run."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import CORPORA, needs_shared


def _tree(tmp_path: Path) -> Path:
    folder = tmp_path / "db" / "migrations"
    folder.mkdir(parents=True)
    (tmp_path / "sqlguard.yaml").write_text("migrations: [{path: db/migrations, convention: sqlguard}]\n")
    (folder / "20240101000000_create_users.sql").write_text("CREATE TABLE IF NOT EXISTS users (id int);\n")
    (folder / "20240101000000_create_users_rollback.sql").write_text("DROP TABLE IF EXISTS users;\n")
    (folder / "20240102000000_likes.sql").write_text("INSERT INTO likes (id) VALUES (1);\n")
    (folder / "20240102000000_likes_rollback.sql").write_text("DELETE FROM likes WHERE id = 1;\n")
    return folder


def _codes(run_cli, tmp_path: Path, *extra: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    res = run_cli("lint", "--format", "json", *extra, "db", cwd=tmp_path)
    assert res.code in (0, 1), res.err
    return [(Path(i["filename"]).name, i["code"]) for i in json.loads(res.out)]


def test_warm_run_reuses_results_and_history_changes_invalidate_them(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sqlguard.config import load_settings
    from sqlguard.lint.engine import lint_paths

    folder = _tree(tmp_path)
    cold = _codes(run_cli, tmp_path)
    assert ("20240102000000_likes.sql", "SG11") in cold  # `likes` does not exist yet
    assert (tmp_path / ".sqlguard_cache").is_dir()
    settings = load_settings(None, [tmp_path])
    warm = lint_paths([str(folder)], settings, None, cache=True)
    assert warm.cache_hits == 4
    assert _codes(run_cli, tmp_path) == cold
    # an earlier migration now creates `likes`: the later file's cached SG11 must not survive
    (folder / "20240101000000_create_users.sql").write_text(
        "CREATE TABLE IF NOT EXISTS users (id int);\nCREATE TABLE IF NOT EXISTS likes (id int);\n")
    assert ("20240102000000_likes.sql", "SG11") not in _codes(run_cli, tmp_path)


def test_no_cache_writes_nothing(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _tree(tmp_path)
    _codes(run_cli, tmp_path, "--no-cache")
    assert not (tmp_path / ".sqlguard_cache").exists()


@needs_shared
def test_parallel_workers_give_the_same_report(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # several histories (a sqitch project among them), so both workers get folders
    corpora = [str(CORPORA / "harness-golang-migrate" / "app" / "store" / "database" / "migrate" / "postgres"),
               str(CORPORA / "chef-server-sqitch"), str(CORPORA / "supabase-auth")]
    one = run_cli("lint", "--no-cache", "--jobs", "1", "--format", "json", *corpora)
    two = run_cli("lint", "--no-cache", "--jobs", "2", "--format", "json", *corpora)
    assert one.code == two.code == 1
    assert json.loads(one.out) == json.loads(two.out) and len(json.loads(one.out)) > 100
    assert run_cli("lint", "--jobs", "0", corpora[0]).code == 2


def test_workers_get_whole_histories_largest_first() -> None:
    from sqlguard.lint.engine import _history_groups

    todo = [(0, Path("p/deploy/a.sql"), "", b"", None), (1, Path("q/1.sql"), "", b"", None),
            (2, Path("p/revert/a.sql"), "", b"", None), (3, Path("p/verify/a.sql"), "", b"", None),
            (4, Path("q/2.sql"), "", b"", None), (5, Path("r/x.sql"), "", b"", None)]
    groups = [[item[0] for item in g] for g in _history_groups(todo, 2)]
    assert groups == [[0, 2, 3], [1, 4], [5]]
    # a history larger than a worker's share is cut into small pieces, queued after the whole ones
    one = [(i, Path(f"h/{i:04d}.sql"), "", b"", None) for i in range(40)] + [(40, Path("x/a.sql"), "", b"", None)]
    tasks = [[item[0] for item in g] for g in _history_groups(one, 2)]
    assert tasks == [[40], *([2 * k, 2 * k + 1] for k in range(20))]


def test_a_history_is_replayed_again_only_from_the_first_changed_migration(
        run_cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sqlguard.schema import timeline

    folder = _tree(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
    seen: list[tuple[int, int]] = []
    real = timeline.Timeline.__post_init__

    def spy(self) -> None:  # type: ignore[no-untyped-def]
        real(self)
        seen.append((len(self.history.migrations), self.reused))

    monkeypatch.setattr(timeline.Timeline, "__post_init__", spy)
    cold = _codes(run_cli, tmp_path)
    assert seen == [(2, 0)]
    key = tmp_path / "home-cache" / "sqlguard" / "cache.key"
    assert key.stat().st_mode & 0o777 == 0o600  # the signing key stays private

    # a third migration: the two before it come from the stored replay
    (folder / "20240103000000_likes.sql").write_text("CREATE TABLE likes (id int);\n")
    (folder / "20240103000000_likes_rollback.sql").write_text("DROP TABLE IF EXISTS likes;\n")
    seen.clear()
    with_third = _codes(run_cli, tmp_path)
    assert seen == [(3, 2)]
    # the first migration edited: nothing of the stored replay applies, and the findings follow the edit
    (folder / "20240101000000_create_users.sql").write_text("CREATE TABLE IF NOT EXISTS users (id int);\n"
                                                             "CREATE TABLE likes (id int);\n")
    seen.clear()
    edited = _codes(run_cli, tmp_path)
    assert seen == [(3, 0)]
    assert ("20240102000000_likes.sql", "SG11") in cold and ("20240102000000_likes.sql", "SG11") in with_third
    assert ("20240102000000_likes.sql", "SG11") not in edited
    assert edited == _codes(run_cli, tmp_path, "--no-cache")


def test_a_stored_replay_that_this_user_did_not_sign_is_never_unpickled(
        run_cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pickle

    _tree(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
    cold = _codes(run_cli, tmp_path)
    import sqlite3

    db = next((tmp_path / ".sqlguard_cache").rglob("results.sqlite"))
    with sqlite3.connect(db) as conn:
        keys = [k for (k,) in conn.execute("SELECT key FROM steps")]
    assert len(keys) == 2  # one step per migration
    marker = tmp_path / "pwned"

    class Payload:  # what a hostile repository could commit as a stored step in .sqlguard_cache/
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (marker.write_text, ("ran",))

    data = pickle.dumps(Payload())
    with sqlite3.connect(db) as conn:  # a signature made without the user's key
        conn.executemany("UPDATE steps SET value = ? WHERE key = ?", [(b"\0" * 32 + data, k) for k in keys])
    conn.close()
    (tmp_path / "db" / "migrations" / "20240102000000_likes.sql").write_text("INSERT INTO likes VALUES (2);\n")
    after = _codes(run_cli, tmp_path)
    assert not marker.exists()
    assert after == cold  # replayed from the files instead


def test_results_live_in_one_private_database_that_a_broken_file_does_not_disable(
        run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sqlguard.config import load_settings
    from sqlguard.lint.engine import lint_paths

    folder = _tree(tmp_path)
    cold = _codes(run_cli, tmp_path)
    db = next((tmp_path / ".sqlguard_cache").rglob("results.sqlite"))
    assert db.stat().st_mode & 0o777 == 0o600
    import sqlite3

    with sqlite3.connect(db) as conn:  # entries this version cannot read are linted again
        conn.execute("UPDATE results SET value = '[1]'")
    conn.close()
    assert _codes(run_cli, tmp_path) == cold
    # locked by another run for longer than the wait: this run lints without the cache, and deletes nothing
    from sqlguard.lint import cache as cache_module

    locker = sqlite3.connect(db, timeout=0)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        store = cache_module.Cache(tmp_path, "fingerprint")
        store.dir = db.parent
        store_timeout = 0.1
        real_connect = sqlite3.connect
        sqlite3.connect = lambda *a, **k: real_connect(*a, **{**k, "timeout": store_timeout})  # type: ignore[assignment]
        try:
            assert store.get_many(["x"]) == {} and not store.enabled
        finally:
            sqlite3.connect = real_connect  # type: ignore[assignment]
        assert db.exists()
    finally:
        locker.rollback()
        locker.close()
    db.write_bytes(b"not a database, just junk left by a crash " * 100)
    assert _codes(run_cli, tmp_path) == cold  # linted again, and a new database written
    settings = load_settings(None, [tmp_path])
    assert lint_paths([str(folder)], settings, None, cache=True).cache_hits == 4


def test_concurrent_runs_share_the_cache_safely(tmp_path: Path) -> None:
    import subprocess
    import sys

    _tree(tmp_path)
    for n in range(30):  # enough files that the runs overlap
        (tmp_path / "db" / "migrations" / f"2024020100{n:04d}_t{n}.sql").write_text(
            f"CREATE TABLE IF NOT EXISTS t{n} (id int);\n")
        (tmp_path / "db" / "migrations" / f"2024020100{n:04d}_t{n}_rollback.sql").write_text(
            f"DROP TABLE IF EXISTS t{n};\n")
    cmd = [sys.executable, "-m", "sqlguard", "lint", "--format", "json", "--jobs", "1", "db"]
    runs = [subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in runs]
    assert [p.returncode for p in runs] == [1] * 4, [e.decode()[-300:] for _, e in outs]
    assert len({o for o, _ in outs}) == 1 and all(not e for _, e in outs)
    warm = subprocess.run(cmd, cwd=tmp_path, capture_output=True, timeout=120)
    assert warm.stdout == outs[0][0]


def test_the_default_jobs_follow_the_cores_this_process_may_use() -> None:
    import os
    import subprocess
    import sys

    import pytest

    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity on this platform")
    one = min(os.sched_getaffinity(0))
    # pinned to one core (as a container's CPU set or `taskset` does), whatever the machine has
    done = subprocess.run([sys.executable, "-c", "from sqlguard.cli import _usable_cpus; print(_usable_cpus())"],
                          capture_output=True, text=True, check=True,
                          preexec_fn=lambda: os.sched_setaffinity(0, {one}))
    assert done.stdout.strip() == "1"


def _history(folder: Path, n: int) -> list[Path]:
    """n migrations (sqlguard convention) that create, alter, index and drop tables of each other."""
    folder.mkdir(parents=True)
    out = []
    for i in range(n):
        up = folder / f"2024{i // 28 + 1:02d}{i % 28 + 1:02d}000000_step_{i}.sql"
        body = [f"CREATE TABLE t{i} (id bigint PRIMARY KEY, ref bigint REFERENCES t{i - 1} (id), note text);"
                if i else "CREATE TABLE t0 (id bigint PRIMARY KEY, note text);"]
        if i >= 3:
            body.append(f"ALTER TABLE t{i - 3} ADD COLUMN extra_{i} int NOT NULL DEFAULT 0;")
            body.append(f"CREATE INDEX ix_{i} ON t{i - 2} (note);")
        if i % 7 == 6:
            body.append(f"ALTER TABLE t{i - 5} RENAME COLUMN note TO note_{i};")
        up.write_text("\n".join(body) + "\n")
        up.with_name(up.name[:-4] + "_rollback.sql").write_text(f"DROP TABLE IF EXISTS t{i};\n")
        out.append(up)
    return out


def test_cached_runs_are_byte_identical_to_no_cache_through_edits_anywhere_in_a_history(
        run_cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os
    import time

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
    (tmp_path / "sqlguard.yaml").write_text("migrations: [{path: db/migrations, convention: sqlguard}]\n")
    ups = _history(tmp_path / "db" / "migrations", 40)
    past = time.time() - 3600  # (checked out an hour ago: stats old enough to be trusted)
    for f in (tmp_path / "db" / "migrations").iterdir():
        os.utime(f, (past, past))

    def same() -> str:
        cached = run_cli("lint", "--format", "json", "db", cwd=tmp_path)
        plain = run_cli("lint", "--format", "json", "--no-cache", "db", cwd=tmp_path)
        assert cached.code in (0, 1) and cached.out == plain.out
        return cached.out

    cold = same()
    assert same() == cold  # warm
    # the last migration edited twice within the same second, the same size each time (its stat may not
    # change between the two: its content must count)
    last = ups[-1]
    last.write_text(last.read_text() + "DROP TABLE t1;\n")
    first_edit = same()
    last.write_text(last.read_text().replace("DROP TABLE t1;", "DROP TABLE t2;"))
    second_edit = same()
    assert second_edit != first_edit
    # a migration in the middle edited: everything after it sees the change (t19 is gone for t20…)
    ups[20].write_text(ups[20].read_text() + "DROP TABLE t19;\n")
    assert same() != second_edit
    # a new migration at the end, then the first one edited
    new = ups[-1].with_name("20241231000000_new.sql")
    new.write_text("CREATE INDEX ix_new ON t5 (id);\n")
    same()
    ups[0].write_text("CREATE TABLE t0 (id bigint PRIMARY KEY);\n")
    same()
    # a rollback removed (its migration's SG31 follows)
    ups[10].with_name(ups[10].name[:-4] + "_rollback.sql").unlink()
    assert "SG31" in same()
