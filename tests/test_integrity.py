"""`sqlguard.sum` (`sqlguard.migrations.integrity`) and SG36 (modified-migration)."""

from __future__ import annotations

import base64
import hashlib
import types
from pathlib import Path

import pytest
from conftest import CORPORA, needs_shared

from sqlguard.diagnostic import Finding
from sqlguard.migrations.files import MigrationIndex
from sqlguard.migrations.history import History, HistoryIndex
from sqlguard.migrations.integrity import (
    SUM_FILE,
    IntegrityIndex,
    check_sum,
    compute_sum,
    integrity_problem,
    read_sum,
    write_sum,
)
from sqlguard.rules import sg36_modified_migration

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "rules" / "SG36"

FILES = {
    "20240101000000_a.sql": "CREATE TABLE a (id int);\n",
    "20240101000000_a_rollback.sql": "DROP TABLE a;\n",
    "20240102000000_b.sql": "CREATE TABLE b (id int);\n",
    "20240103000000_c.sql": "CREATE TABLE c (id int);\n",
    "20240104000000_d.sql": "CREATE TABLE d (id int);\n",
}


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def load(folder: Path) -> History:
    found = HistoryIndex(MigrationIndex({}), "postgres").histories(folder)
    assert len(found) == 1
    return found[0]


@pytest.fixture
def hashed(tmp_path: Path) -> Path:
    write(tmp_path, FILES)
    write_sum(load(tmp_path))
    return tmp_path


def mismatch_at(folder: Path) -> tuple[str, str] | None:
    history = load(folder)
    text = read_sum(history)
    assert text is not None
    found = check_sum(history, text)
    if found is None:
        return None
    assert found.migration is not None
    return found.reason, found.migration.path.name


def test_format_and_round_trip(hashed: Path) -> None:
    history = load(hashed)
    text = (hashed / SUM_FILE).read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) == 1 + 4 and text.endswith("\n")
    assert [line.split(" h1:")[0] for line in lines[1:]] == [
        "20240101000000_a.sql", "20240102000000_b.sql", "20240103000000_c.sql", "20240104000000_d.sql"]
    body = "".join(line + "\n" for line in lines[1:])
    assert lines[0] == "h1:" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    # The chain: the first line covers the migration's path and bytes, then its rollback's.
    running = hashlib.sha256()
    for rel in ("20240101000000_a.sql", "20240101000000_a_rollback.sql"):
        running.update(rel.encode())
        running.update(FILES[rel].encode())
    assert lines[1].endswith(" h1:" + base64.b64encode(running.digest()).decode())
    assert compute_sum(history) == text
    assert check_sum(history, text) is None
    assert mismatch_at(hashed) is None


def test_edit_is_found_at_the_edited_file(hashed: Path) -> None:
    (hashed / "20240102000000_b.sql").write_text("CREATE TABLE b (id bigint);\n", encoding="utf-8")
    assert mismatch_at(hashed) == ("edited", "20240102000000_b.sql")


def test_rollback_edit_is_found_at_its_migration(hashed: Path) -> None:
    (hashed / "20240101000000_a_rollback.sql").write_text("DROP TABLE IF EXISTS a;\n", encoding="utf-8")
    assert mismatch_at(hashed) == ("edited", "20240101000000_a.sql")
    message = integrity_problem(load(hashed), hashed / "20240101000000_a.sql")
    assert message is not None and "`20240101000000_a_rollback.sql`" in message
    assert integrity_problem(load(hashed), hashed / "20240101000000_a_rollback.sql") is None  # said once


def test_line_endings_do_not_count(hashed: Path) -> None:
    path = hashed / "20240103000000_c.sql"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert mismatch_at(hashed) is None


def test_insertion_before_hashed_migrations(hashed: Path) -> None:
    write(hashed, {"20240102120000_b2.sql": "SELECT 1;\n"})
    assert mismatch_at(hashed) == ("inserted", "20240102120000_b2.sql")


def test_appended_migration_is_not_yet_hashed(hashed: Path) -> None:
    write(hashed, {"20240105000000_e.sql": "SELECT 1;\n"})
    assert mismatch_at(hashed) == ("not yet hashed", "20240105000000_e.sql")
    message = integrity_problem(load(hashed), hashed / "20240105000000_e.sql")
    assert message is not None and "`sqlguard hash`" in message


def test_removal_is_reported_where_the_gap_is(hashed: Path) -> None:
    (hashed / "20240102000000_b.sql").unlink()
    history = load(hashed)
    found = check_sum(history, read_sum(history) or "")
    assert found is not None and found.reason == "removed" and found.recorded == "20240102000000_b.sql"
    assert found.migration is not None and found.migration.path.name == "20240103000000_c.sql"
    assert found.line == 3


def test_removal_of_the_last_migration(hashed: Path) -> None:
    (hashed / "20240104000000_d.sql").unlink()
    assert mismatch_at(hashed) == ("removed", "20240103000000_c.sql")


def test_reordering_by_renaming(hashed: Path) -> None:
    # b and c swap versions: both files still exist, under names the sum knows in the other order.
    (hashed / "20240102000000_b.sql").rename(hashed / "tmp.sql")
    (hashed / "20240103000000_c.sql").rename(hashed / "20240102000000_b.sql")
    (hashed / "tmp.sql").rename(hashed / "20240103000000_c.sql")
    assert mismatch_at(hashed) == ("edited", "20240102000000_b.sql")  # same names, swapped bytes
    write(hashed, FILES)
    write_sum(load(hashed))
    text = (hashed / SUM_FILE).read_text(encoding="utf-8").splitlines()
    # Swap two lines by hand and fix up the checksum line as `sqlguard hash` would: the order is wrong.
    body = [text[1], text[3], text[2], text[4]]
    joined = "".join(line + "\n" for line in body)
    header = "h1:" + base64.b64encode(hashlib.sha256(joined.encode()).digest()).decode()
    (hashed / SUM_FILE).write_text(header + "\n" + joined, encoding="utf-8")
    assert mismatch_at(hashed) == ("reordered", "20240102000000_b.sql")


def test_hand_edited_sum_is_detected(hashed: Path) -> None:
    path = hashed / SUM_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([lines[0], lines[1], lines[2], lines[4]]) + "\n", encoding="utf-8")
    found = mismatch_at(hashed)
    assert found == ("sum file edited", "20240103000000_c.sql")
    # Only the checksum line touched: reported on the first migration.
    path.write_text("h1:AAAA\n" + "\n".join(lines[1:]) + "\n", encoding="utf-8")
    assert mismatch_at(hashed) == ("sum file edited", "20240101000000_a.sql")
    # Not a sum file at all.
    path.write_text("garbage\n", encoding="utf-8")
    assert mismatch_at(hashed) == ("sum file edited", "20240101000000_a.sql")


def test_blank_lines_and_crlf_in_the_sum_are_tolerated(hashed: Path) -> None:
    path = hashed / SUM_FILE
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n") + b"\r\n\r\n")
    assert mismatch_at(hashed) is None


def test_paths_with_spaces_and_subfolders(tmp_path: Path) -> None:
    write(tmp_path, {"V1__first one.sql": "SELECT 1;\n", "V2__second.sql": "SELECT 2;\n",
                     "U2__second.sql": "SELECT 3;\n"})
    write_sum(load(tmp_path))
    assert mismatch_at(tmp_path) is None
    (tmp_path / "U2__second.sql").write_text("SELECT 4;\n", encoding="utf-8")
    assert mismatch_at(tmp_path) == ("edited", "V2__second.sql")
    write(tmp_path / "sq", {"sqitch.plan": "%project=x\nusers 2024-01-01T00:00:00Z A <a@b>\n",
                            "deploy/users.sql": "SELECT 1;\n", "revert/users.sql": "SELECT 1;\n"})
    sq = HistoryIndex(MigrationIndex({}), "postgres").history_for(tmp_path / "sq" / "deploy" / "users.sql")
    assert sq is not None
    assert compute_sum(sq).splitlines()[1].startswith("deploy/users.sql h1:")


def test_no_sum_file_means_no_opinion(tmp_path: Path) -> None:
    write(tmp_path, FILES)
    history = load(tmp_path)
    assert read_sum(history) is None
    assert integrity_problem(history, tmp_path / "20240101000000_a.sql") is None
    assert IntegrityIndex().problem(history, tmp_path / "20240101000000_a.sql") is None


def test_integrity_index_reads_once(hashed: Path) -> None:
    index = IntegrityIndex()
    history = load(hashed)
    (hashed / "20240102000000_b.sql").write_text("-- a comment\nCREATE TABLE b (id int);\n", encoding="utf-8")
    assert index.problem(history, hashed / "20240101000000_a.sql") is None
    message = index.problem(history, hashed / "20240102000000_b.sql")
    assert message == (
        "`20240102000000_b.sql` changed after it was hashed into `sqlguard.sum`: databases that already ran it "
        "will not get the change; write a new migration instead (or run `sqlguard hash` if this edit is "
        "intended, e.g. a comment)")
    assert index.problem(history, hashed / "20240103000000_c.sql") is None  # only the first mismatch
    write_sum(history)
    assert index.problem(history, hashed / "20240102000000_b.sql") == message  # cached for the run
    assert IntegrityIndex().problem(history, hashed / "20240102000000_b.sql") is None


# --- SG36 ----------------------------------------------------------------------------------------

def sg36(integrity: str | None) -> list[Finding]:
    ctx = types.SimpleNamespace(integrity=integrity, report=lambda span, msg, help=None, fix=None:
                                Finding(span, msg, help, fix))
    return list(sg36_modified_migration.check(ctx))  # type: ignore[arg-type]


def test_sg36_reports_the_message(hashed: Path) -> None:
    assert sg36(None) == []
    (hashed / "20240102000000_b.sql").write_text("CREATE TABLE b (id bigint);\n", encoding="utf-8")
    found = sg36(integrity_problem(load(hashed), hashed / "20240102000000_b.sql"))
    assert len(found) == 1 and found[0].message.startswith("`20240102000000_b.sql` changed after it was hashed")
    assert found[0].message.endswith(".")


def test_sg36_fixture_tree_flags_its_fail_files() -> None:
    """What the engine will do once wired: each fixture file's `-- fail:` / `-- pass:` line is right."""
    index = HistoryIndex(MigrationIndex({}), "postgres")
    integrity = IntegrityIndex()
    files = sorted(FIXTURE.rglob("*.sql"))
    assert files
    verdicts = []
    for path in files:
        head = path.read_text(encoding="utf-8").splitlines()[0]
        history = index.history_for(path)
        problem = integrity.problem(history, path) if history is not None else None
        verdicts.append(head.startswith("-- fail:"))
        assert bool(sg36(problem)) == head.startswith("-- fail:"), (path, problem)
    assert any(verdicts) and not all(verdicts)


def test_sg36_docs_example(tmp_path: Path) -> None:
    rule = sg36_modified_migration.RULE
    hashed, edited = rule.section("Use instead").splitlines(), rule.section("Example").splitlines()
    name = "20240101120000_create_users.sql"
    write(tmp_path, {name: hashed[1] + "\n"})
    write_sum(load(tmp_path))
    write(tmp_path, {name: edited[1] + "\n"})
    assert sg36(integrity_problem(load(tmp_path), tmp_path / name))


@needs_shared
def test_corpus_histories_hash_and_match(tmp_path: Path) -> None:
    for dialect in ("postgres", "sqlite"):
        for history in HistoryIndex(MigrationIndex({}, dialect=dialect), dialect).histories(CORPORA):
            text = compute_sum(history)
            assert len(text.splitlines()) == len(history.migrations) + 1
            assert check_sum(history, text) is None
