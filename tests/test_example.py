"""The TribeVibe example: `sqlguard lint --format json` reports each planted mistake at its line,
and nothing on the good migrations."""

from __future__ import annotations

import json

from conftest import FIXTURES, ROOT

MIGRATIONS = "fixtures/tribevibe/services/api/src/db/migrations/"

EXPECTED = {
    ("20240110090000_add_profile_bio.sql", "SG10", 2),
    ("20240110090000_add_profile_bio_rollback.sql", "SG10", 1),
    ("20240110090000_add_profile_bio_rollback.sql", "SG20", 1),
    ("20240111090000_create_likes.sql", "SG10", 13),
    ("20240111090000_create_likes.sql", "SG31", 1),
    ("20240112090000_drop_legacy_sessions.sql", "SG20", 2),
    ("20240112090000_drop_legacy_sessions.sql", "SG21", 2),
    ("20240113090000_backfill_read_at.sql", "SG21", 2),
    ("20240113090000_backfill_read_at.sql", "SG31", 1),
    ("2024011409_AddImagesTable.sql", "SG30", 1),
    ("2024011409_AddImagesTable.sql", "SG10", 2),
    ("2024011409_AddImagesTable_rollback.sql", "SG30", 1),
    ("20240115090000_remove_avatars_rollback.sql", "SG31", 1),
    ("20240112090000_drop_legacy_sessions.sql", "SG11", 2),
    ("20240116090000_add_match_last_message.sql", "SG12", 3),
    ("20240116090000_add_match_last_message.sql", "SG32", 3),
    # PostgreSQL locking: each statement locks a table the application is using
    ("20240110090000_add_profile_bio.sql", "SG58", 2),
    ("20240112090000_drop_legacy_sessions.sql", "SG58", 2),
    ("2024011409_AddImagesTable.sql", "SG50", 2),
    ("2024011409_AddImagesTable.sql", "SG58", 2),
    ("2024011409_AddImagesTable_rollback.sql", "SG50", 1),
    ("20240116090000_add_match_last_message.sql", "SG58", 3),
    ("20240116090000_add_match_last_message.sql", "SG50", 4),
    ("20240116090000_add_match_last_message_rollback.sql", "SG50", 2),
}


def test_each_mistake_is_reported_with_the_right_code_at_the_right_line(run_cli) -> None:  # type: ignore[no-untyped-def]
    res = run_cli("lint", "--format", "json", "fixtures/tribevibe", cwd=ROOT)
    assert res.code == 1, res.err
    found = {(i["filename"].removeprefix(MIGRATIONS), i["code"], i["location"]["row"]) for i in json.loads(res.out)}
    assert found == EXPECTED


def test_good_migrations_are_clean(run_cli) -> None:  # type: ignore[no-untyped-def]
    good = [p for p in (FIXTURES / "tribevibe" / "services/api/src/db/migrations").glob("2024010*.sql")]
    assert len(good) == 6
    res = run_cli("lint", *map(str, good), cwd=ROOT)
    assert res.code == 0, res.out


def test_the_message_names_the_table_to_use_instead(run_cli) -> None:  # type: ignore[no-untyped-def]
    res = run_cli("lint", "--format", "json", "--select", "SG10", MIGRATIONS + "20240110090000_add_profile_bio.sql",
                  cwd=ROOT)
    (item,) = json.loads(res.out)
    assert item["message"].startswith("table `profiles` does not exist in this schema: use `users`")
