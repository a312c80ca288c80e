"""`sqlguard new` (`sqlguard.migrations.scaffold`): the next migration in each convention."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sqlguard.diagnostic import SqlguardError
from sqlguard.migrations.files import MigrationIndex
from sqlguard.migrations.history import History, HistoryIndex
from sqlguard.migrations.scaffold import new_migration, snake_name

NOW = datetime(2024, 3, 1, 9, 30, 0)


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def history(folder: Path) -> History:
    found = HistoryIndex(MigrationIndex({}), "postgres").histories(folder)
    assert len(found) == 1
    return found[0]


def rel(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


@pytest.mark.parametrize("raw,snake", [
    ("add users", "add_users"), ("AddUsersEmail", "add_users_email"), ("add-users.email!", "add_users_email"),
    ("  Drop HTTPCache ", "drop_http_cache"), ("v2 backfill", "v2_backfill"), ("__x__", "x"),
])
def test_snake_name(raw: str, snake: str) -> None:
    assert snake_name(raw) == snake


@pytest.mark.parametrize("raw", ["", "   ", "!!!", "---"])
def test_empty_names_are_user_errors(raw: str, tmp_path: Path) -> None:
    with pytest.raises(SqlguardError, match="has no letters or digits"):
        new_migration(tmp_path, "sqlguard", raw, NOW)
    assert list(tmp_path.iterdir()) == []


def test_sqlguard_in_an_empty_folder(tmp_path: Path) -> None:
    created = new_migration(tmp_path / "migrations", "auto", "Add users", NOW)
    root = tmp_path / "migrations"
    assert rel(created, root) == ["20240301093000_add_users.sql", "20240301093000_add_users_rollback.sql"]
    up, down = (p.read_text(encoding="utf-8") for p in created)
    assert up.startswith("-- add_users: created by `sqlguard new`") and "20240301093000_add_users.sql" in down
    h = history(root)
    assert h.convention == "sqlguard" and h.migrations[0].rollback == created[1].resolve()


def test_timestamp_after_the_newest_when_the_clock_is_behind(tmp_path: Path) -> None:
    write(tmp_path, {"20240301093000_a.sql": "SELECT 1;", "20250101000000_future.sql": "SELECT 1;"})
    created = new_migration(history(tmp_path), "sqlguard", "next", NOW)
    assert created[0].name == "20250101000001_next.sql"
    later = new_migration(history(tmp_path), "sqlguard", "again", NOW)
    assert later[0].name == "20250101000002_again.sql"


def test_golang_keeps_the_folder_padding(tmp_path: Path) -> None:
    write(tmp_path, {"0009_a.up.sql": "SELECT 1;", "0009_a.down.sql": "SELECT 1;", "0189.up.sql": "SELECT 1;",
                     "0010_b.up.sql": "SELECT 1;"})
    created = new_migration(history(tmp_path), "golang-migrate", "add index", NOW)
    assert rel(created, tmp_path.resolve()) == ["0190_add_index.up.sql", "0190_add_index.down.sql"]
    unpadded = tmp_path / "unpadded"
    write(unpadded, {"9_a.up.sql": "SELECT 1;"})
    assert new_migration(history(unpadded), "golang-migrate", "b", NOW)[0].name == "10_b.up.sql"
    stamped = tmp_path / "stamped"
    write(stamped, {"20240101000000_a.up.sql": "SELECT 1;"})
    assert new_migration(stamped, "auto", "b", NOW)[0].name == "20240301093000_b.up.sql"


def test_flyway_undo_only_when_the_folder_uses_them(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    write(plain, {"V1__init.sql": "SELECT 1;", "V2__more.sql": "SELECT 1;", "V2_1__patch.sql": "SELECT 1;",
                  "R__views.sql": "SELECT 1;"})
    assert [p.name for p in new_migration(plain, "auto", "add users", NOW)] == ["V3__add_users.sql"]
    undo = tmp_path / "undo"
    write(undo, {"B001__baseline.sql": "SELECT 1;", "V002__welcome.sql": "SELECT 1;", "U002__welcome.sql": "SELECT 1;"})
    assert [p.name for p in new_migration(undo, "flyway", "next", NOW)] == ["V003__next.sql", "U003__next.sql"]
    empty = tmp_path / "empty"
    assert [p.name for p in new_migration(empty, "flyway", "init", NOW)] == ["V1__init.sql"]


def test_diesel(tmp_path: Path) -> None:
    write(tmp_path, {"00000000000000_diesel_initial_setup/up.sql": "SELECT 1;",
                     "2024-03-01-093000_same_second/up.sql": "SELECT 1;"})
    created = new_migration(tmp_path, "diesel", "create posts", NOW)
    assert rel(created, tmp_path.resolve()) == ["2024-03-01-093001_create_posts/up.sql",
                                                "2024-03-01-093001_create_posts/down.sql"]
    assert history(tmp_path).migrations[-1].rollback == created[1].resolve()


def test_diesel_2_names(tmp_path: Path) -> None:
    # diesel 2.x: `YYYY-MM-DD-HHMMSS-0000_name`; the new folder takes the same form
    write(tmp_path, {"00000000000000_diesel_initial_setup/up.sql": "SELECT 1;",
                     "2023-01-05-120000-0000_create_users/up.sql": "SELECT 1;",
                     "2024-03-01-093000-0000_same_second/up.sql": "SELECT 1;"})
    created = new_migration(tmp_path, "auto", "create posts", NOW)
    assert rel(created, tmp_path.resolve()) == ["2024-03-01-093001-0000_create_posts/up.sql",
                                                "2024-03-01-093001-0000_create_posts/down.sql"]
    assert history(tmp_path).migrations[-1].rollback == created[1].resolve()


def test_dbmate_and_goose_sections(tmp_path: Path) -> None:
    dbmate = new_migration(tmp_path / "dbmate", "dbmate", "create posts", NOW)
    assert [p.name for p in dbmate] == ["20240301093000_create_posts.sql"]
    text = dbmate[0].read_text(encoding="utf-8")
    assert text.startswith("-- migrate:up\n") and "\n-- migrate:down\n" in text
    m = MigrationIndex({}).classify(dbmate[0])
    assert m is not None and (m.convention, m.rollback_state) == ("dbmate", "empty")  # SG31 says: fill it in

    write(tmp_path / "goose", {"001_init.sql": "-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 1;\n"})
    goose = new_migration(tmp_path / "goose", "auto", "add posts", NOW)
    assert [p.name for p in goose] == ["002_add_posts.sql"]
    text = goose[0].read_text(encoding="utf-8")
    assert text.startswith("-- +goose Up\n") and "\n-- +goose Down\n" in text
    assert history(tmp_path / "goose").migrations[-1].path == goose[0].resolve()


def test_sqitch_appends_to_the_plan(tmp_path: Path) -> None:
    write(tmp_path, {"sqitch.plan": "%syntax-version=1.0.0\n%project=shop\n\n"
                                    "users 2024-01-01T00:00:00Z A <a@example.com> # users",  # no final newline
                     "deploy/users.sql": "SELECT 1;", "revert/users.sql": "SELECT 1;", "verify/users.sql": "SELECT 1;"})
    h = HistoryIndex(MigrationIndex({}), "postgres").history_for(tmp_path / "deploy" / "users.sql")
    assert h is not None
    aware = datetime(2024, 3, 1, 10, 30, tzinfo=UTC)
    created = new_migration(h, "auto", "Add orders", aware, planner="Ann <ann@example.com>")
    assert rel(created, tmp_path.resolve()) == ["deploy/add_orders.sql", "revert/add_orders.sql",
                                                "verify/add_orders.sql"]
    plan = (tmp_path / "sqitch.plan").read_text(encoding="utf-8").splitlines()
    assert plan[-2].startswith("users ")
    assert plan[-1] == "add_orders 2024-03-01T10:30:00Z Ann <ann@example.com> # add orders"
    again = HistoryIndex(MigrationIndex({}), "postgres").history_for(tmp_path / "deploy" / "add_orders.sql")
    assert again is not None and [m.name for m in again.migrations] == ["users", "add_orders"]
    with pytest.raises(SqlguardError, match="already has a change `add_orders`"):
        new_migration(tmp_path, "sqitch", "add orders", aware)
    with pytest.raises(SqlguardError, match="must look like `Name <email>`"):
        new_migration(tmp_path, "sqitch", "other", aware, planner="nobody")


def test_sqitch_without_a_plan(tmp_path: Path) -> None:
    with pytest.raises(SqlguardError, match="sqitch init"):
        new_migration(tmp_path, "sqitch", "x", NOW)


def test_never_overwrites(tmp_path: Path) -> None:
    write(tmp_path, {"20240301093000_add_users_rollback.sql": "DROP TABLE users;"})
    with pytest.raises(SqlguardError, match="already exists"):
        new_migration(tmp_path, "sqlguard", "add users", datetime(2024, 3, 1, 9, 30))
    # Nothing half-written: the migration was not created either.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20240301093000_add_users_rollback.sql"]
    assert (tmp_path / "20240301093000_add_users_rollback.sql").read_text(encoding="utf-8") == "DROP TABLE users;"


def test_unknown_convention(tmp_path: Path) -> None:
    with pytest.raises(SqlguardError, match="unknown migration convention `rails`"):
        new_migration(tmp_path, "rails", "x", NOW)


def test_versions_of_every_dialect_count(tmp_path: Path) -> None:
    write(tmp_path, {"0001_init.up.sql": "SELECT 1;", "0002_fts.sqlite.up.sql": "SELECT 1;"})
    pg = HistoryIndex(MigrationIndex({}), "postgres").histories(tmp_path)[0]
    assert [m.version for m in pg.migrations] == ["0001"]
    assert new_migration(pg, "auto", "next", NOW)[0].name == "0003_next.up.sql"
