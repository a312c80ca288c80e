"""Migration-set discovery (`sqlguard.migrations.files`) and the two rules built on it, SG30 and SG31.

The engine fills `FileContext.migration` with `MigrationIndex.classify(path, text)`; here classify is
called directly and the rules run on a minimal stand-in context.
"""

from __future__ import annotations

import collections
import re
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CORPORA, needs_shared

from sqlguard.diagnostic import Finding, Span, SqlguardError
from sqlguard.migrations.files import MigrationFile, MigrationIndex, parse_sqitch_plan
from sqlguard.rules import sg30_migration_name, sg31_missing_rollback
from sqlguard.sql.split import split

ROOT = Path(__file__).resolve().parent.parent
RULE_FIXTURES = ROOT / "fixtures" / "rules"


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def classify(path: Path, index: MigrationIndex | None = None) -> MigrationFile | None:
    return (index or MigrationIndex({})).classify(path, path.read_text(encoding="utf-8"))


def ctx_for(migration: MigrationFile | None, text: str = "") -> types.SimpleNamespace:
    return types.SimpleNamespace(
        migration=migration,
        comments=split(text).comments,
        report=lambda span, msg, help=None, fix=None: Finding(span, msg, help, fix),
    )


def sg30(migration: MigrationFile | None) -> list[Finding]:
    return list(sg30_migration_name.check(ctx_for(migration)))  # type: ignore[arg-type]


def sg31(migration: MigrationFile | None, text: str = "") -> list[Finding]:
    return list(sg31_missing_rollback.check(ctx_for(migration, text)))  # type: ignore[arg-type]


# --- sqlguard's own convention ---------------------------------------------------------------

def test_sqlguard_pair(tmp_path: Path) -> None:
    tree(tmp_path, {
        "20240101120000_add_likes.sql": "CREATE TABLE likes (id int);",
        "20240101120000_add_likes_rollback.sql": "DROP TABLE likes;",
    })
    up = classify(tmp_path / "20240101120000_add_likes.sql")
    assert up is not None
    assert (up.convention, up.role, up.version, up.name) == ("sqlguard", "up", "20240101120000", "add_likes")
    assert up.name_problem is None
    assert up.rollback == tmp_path / "20240101120000_add_likes_rollback.sql"
    assert up.rollback_state == "present"
    down = classify(tmp_path / "20240101120000_add_likes_rollback.sql")
    assert down is not None and (down.role, down.orphan, down.rollback_state) == ("down", False, "n/a")
    assert sg30(up) == [] and sg31(up) == [] and sg31(down) == []


def test_sqlguard_missing_and_empty_rollback(tmp_path: Path) -> None:
    tree(tmp_path, {
        "20240101120000_add_likes.sql": "CREATE TABLE likes (id int);",
        "20240102120000_add_tags.sql": "CREATE TABLE tags (id int);",
        "20240102120000_add_tags_rollback.sql": "-- nothing to do\n/* really */\n",
    })
    missing = classify(tmp_path / "20240101120000_add_likes.sql")
    empty = classify(tmp_path / "20240102120000_add_tags.sql")
    assert missing is not None and missing.rollback_state == "missing"
    assert empty is not None and empty.rollback_state == "empty"
    [f] = sg31(missing)
    assert f.span == Span(0, 0)
    assert f.message == ("`20240101120000_add_likes.sql` has no rollback: "
                         "`20240101120000_add_likes_rollback.sql` does not exist, so it cannot be undone" ".")
    assert f.help == ("Add `20240101120000_add_likes_rollback.sql` with the statements that reverse this "
                      "migration.")
    [f] = sg31(empty)
    assert f.message.startswith("`20240102120000_add_tags.sql` has no rollback: "
                                "`20240102120000_add_tags_rollback.sql` is empty (only comments")
    assert f.message.endswith("so it cannot be undone.")


def test_no_op_rollbacks_are_empty(tmp_path: Path) -> None:
    tree(tmp_path, {
        "20240101120000_a.sql": "CREATE TABLE a (id int);",
        "20240101120000_a_rollback.sql": "SELECT 1;\n",
        "20240102120000_b.sql": "CREATE TABLE b (id int);",
        "20240102120000_b_rollback.sql": "BEGIN;\n-- XXX Add DDLs here.\nCOMMIT;\n",
        "20240103120000_c.sql": "CREATE TABLE c (id int);",
        "20240103120000_c_rollback.sql": "BEGIN;\nDROP TABLE c;\nCOMMIT;\n",
    })
    states = {p: classify(tmp_path / p) for p in ("20240101120000_a.sql", "20240102120000_b.sql",
                                                  "20240103120000_c.sql")}
    assert {p: m.rollback_state for p, m in states.items() if m} == {
        "20240101120000_a.sql": "empty", "20240102120000_b.sql": "empty", "20240103120000_c.sql": "present"}


@pytest.mark.parametrize("name,problem,suggestion", [
    ("20241301120000_add_tags.sql", "`20241301120000` is not a real date and time", None),
    ("20240230120000_add_tags.sql", "`20240230120000` is not a real date and time", None),
    ("20240101126000_add_tags.sql", "`20240101126000` is not a real date and time", None),
    ("20240101120000_Add-Tags.sql", "`Add-Tags` is not lower snake_case", "20240101120000_add_tags.sql"),
    ("20240101120000_add__tags.sql", "`add__tags` is not lower snake_case", "20240101120000_add_tags.sql"),
    ("20240101120000-add-tags.sql", "with `_` after the timestamp", "20240101120000_add_tags.sql"),
    ("202401011200_add_tags.sql", "without a 14-digit timestamp", None),
])
def test_sqlguard_name_problems(tmp_path: Path, name: str, problem: str, suggestion: str | None) -> None:
    tree(tmp_path, {"20240101000000_first.sql": "SELECT 1;", name: "CREATE TABLE tags (id int);"})
    m = MigrationIndex({tmp_path: "sqlguard"}).classify(tmp_path / name)
    assert m is not None and m.convention == "sqlguard"
    assert m.name_problem is not None and problem in m.name_problem
    assert "`YYYYMMDDHHMMSS_snake_case_name.sql`" in m.name_problem
    assert m.suggested_name == suggestion
    [f] = sg30(m)
    assert f.message == f"`{name}` is not a sqlguard file name: {m.name_problem}."
    if suggestion:
        assert f.help == f"Rename it to `{suggestion}`."


def test_sqlguard_orphan_rollback(tmp_path: Path) -> None:
    tree(tmp_path, {
        "20240101120000_add_likes.sql": "CREATE TABLE likes (id int);",
        "20240101120000_add_likes_rollback.sql": "DROP TABLE likes;",
        "20240102120000_x_rollback.sql": "DROP TABLE x;",
        "20240103120000_add_tag.sql": "CREATE TABLE tag (id int);",
        "20240103120000_add_tags_rollback.sql": "DROP TABLE tag;",
    })
    orphan = classify(tmp_path / "20240102120000_x_rollback.sql")
    assert orphan is not None and orphan.orphan and orphan.role == "down"
    [f] = sg31(orphan)
    assert f.message == ("rollback `20240102120000_x_rollback.sql` has no migration `20240102120000_x.sql`, "
                         "so it never runs" ".")
    typo = classify(tmp_path / "20240103120000_add_tags_rollback.sql")
    assert typo is not None and typo.orphan
    assert typo.suggested_name == "20240103120000_add_tag_rollback.sql"
    [f] = sg31(typo)
    assert "Rename it to `20240103120000_add_tag_rollback.sql`" in (f.help or "")
    assert sg30(typo) == []  # the name itself follows the convention


def test_sqlguard_configured_folder_without_timestamps(tmp_path: Path) -> None:
    tree(tmp_path, {"add_likes.sql": "CREATE TABLE likes (id int);"})
    assert MigrationIndex({}).classify(tmp_path / "add_likes.sql") is None  # nothing to recognise
    m = MigrationIndex({tmp_path: "sqlguard"}).classify(tmp_path / "add_likes.sql")
    assert m is not None and m.name_problem and m.rollback == tmp_path / "add_likes_rollback.sql"


# --- golang-migrate / pop --------------------------------------------------------------------

def test_golang_migrate_pairs(tmp_path: Path) -> None:
    tree(tmp_path, {
        "0001_create_users.up.sql": "CREATE TABLE users (id int);",
        "0001_create_users.down.sql": "DROP TABLE users;",
        "0002_add_email.up.sql": "ALTER TABLE users ADD COLUMN email text;",
        "0003.up.sql": "ALTER TABLE users ADD COLUMN bio text;",
        "0003.down.sql": "select 1;",
        "20210710035447_alter_users.postgres.up.sql": "SELECT 1;",
    })
    up = classify(tmp_path / "0001_create_users.up.sql")
    assert up is not None and (up.convention, up.role, up.version, up.name) == (
        "golang-migrate", "up", "0001", "create_users")
    assert up.rollback == tmp_path / "0001_create_users.down.sql" and up.rollback_state == "present"
    down = classify(tmp_path / "0001_create_users.down.sql")
    assert down is not None and down.role == "down" and not down.orphan
    missing = classify(tmp_path / "0002_add_email.up.sql")
    assert missing is not None and missing.rollback_state == "missing"
    [f] = sg31(missing)
    assert f.message == ("`0002_add_email.up.sql` has no rollback: `0002_add_email.down.sql` does not exist, "
                         "so it cannot be undone" ".")
    bare = classify(tmp_path / "0003.up.sql")  # harness's migrator runs version-only names
    assert bare is not None and bare.name_problem is None and bare.rollback_state == "empty"
    pop = classify(tmp_path / "20210710035447_alter_users.postgres.up.sql")
    assert pop is not None and pop.convention == "golang-migrate" and pop.name_problem is None


def test_golang_underscore_up_down(tmp_path: Path) -> None:
    tree(tmp_path, {
        "0020_create_webhooks.up.sql": "CREATE TABLE webhooks (id int);",
        "0020_create_webhooks.down.sql": "DROP TABLE webhooks;",
        "0021_alter_webhook_up.sql": "ALTER TABLE webhooks ADD COLUMN internal bool;",
        "0021_alter_webhook_down.sql": "ALTER TABLE webhooks DROP COLUMN internal;",
        "0022_alter_webhook_up.sql": "ALTER TABLE webhooks ADD COLUMN x int;",
        "0023_drop_x_down.sql": "ALTER TABLE webhooks ADD COLUMN x int;",
    })
    up = classify(tmp_path / "0021_alter_webhook_up.sql")
    assert up is not None and (up.convention, up.role, up.version, up.name) == (
        "golang-migrate", "up", "0021", "alter_webhook")
    assert up.rollback == tmp_path / "0021_alter_webhook_down.sql" and up.rollback_state == "present"
    [f] = sg30(up)
    assert f.message == ("`0021_alter_webhook_up.sql` is not a golang-migrate file name: golang-migrate only "
                         "runs `<version>_<name>.up.sql`, so it will never run" ".")
    assert f.help == "Rename it to `0021_alter_webhook.up.sql`."
    assert sg31(up) == []
    down = classify(tmp_path / "0021_alter_webhook_down.sql")
    assert down is not None and down.role == "down" and not down.orphan
    assert down.suggested_name == "0021_alter_webhook.down.sql"
    lonely = classify(tmp_path / "0022_alter_webhook_up.sql")
    assert lonely is not None and lonely.rollback_state == "missing"
    orphan = classify(tmp_path / "0023_drop_x_down.sql")
    assert orphan is not None and orphan.orphan
    assert sg31(orphan)[0].message == ("rollback `0023_drop_x_down.sql` has no migration "
                                       "`0023_drop_x_up.sql`, so it never runs" ".")


def test_golang_orphan_down_with_typo(tmp_path: Path) -> None:
    # harness 0026: `..._job_id.up.sql` next to `..._join_id.down.sql`
    tree(tmp_path, {
        "0026_alter_repo_drop_job_id.up.sql": "ALTER TABLE repos DROP COLUMN job_id;",
        "0026_alter_repo_drop_join_id.down.sql": "ALTER TABLE repos ADD COLUMN job_id int;",
    })
    up = classify(tmp_path / "0026_alter_repo_drop_job_id.up.sql")
    assert up is not None and up.rollback_state == "missing"
    down = classify(tmp_path / "0026_alter_repo_drop_join_id.down.sql")
    assert down is not None and down.orphan
    assert down.suggested_name == "0026_alter_repo_drop_job_id.down.sql"
    [f] = sg31(down)
    assert f.help == ("Rename it to `0026_alter_repo_drop_job_id.down.sql`, the name that pairs it with its "
                      "migration.")


def test_golang_misnamed_files(tmp_path: Path) -> None:
    tree(tmp_path, {
        "0001_init.up.sql": "SELECT 1;",
        "0001_init.down.sql": "SELECT 1;",
        "0002_add_x.sql": "SELECT 1;",
        "seed.up.sql": "SELECT 1;",
    })
    plain = classify(tmp_path / "0002_add_x.sql")
    assert plain is not None and plain.convention == "golang-migrate"
    assert plain.suggested_name == "0002_add_x.up.sql" and plain.rollback_state == "n/a"
    assert sg31(plain) == []
    seed = classify(tmp_path / "seed.up.sql")
    assert seed is not None and seed.name_problem and "leading version number" in seed.name_problem


# --- diesel -----------------------------------------------------------------------------------

def test_diesel(tmp_path: Path) -> None:
    tree(tmp_path, {
        "migrations/2024-01-01-120000_create_users/up.sql": "CREATE TABLE users (id int);",
        "migrations/2024-01-01-120000_create_users/down.sql": "DROP TABLE users;",
        "migrations/2024-01-02-120000_add_email/up.sql": "ALTER TABLE users ADD COLUMN email text;",
        "migrations/2024-01-03-120000_add_bio/down.sql": "ALTER TABLE users DROP COLUMN bio;",
        "migrations/create_posts/up.sql": "CREATE TABLE posts (id int);",
        "migrations/create_posts/down.sql": "DROP TABLE posts;",
        "migrations/2024-01-04-120000_x/up.sql": "CREATE TABLE x (id int);",
        "migrations/2024-01-04-120000_x/down.sql": "DROP TABLE x;",
        "migrations/2024-01-04-120000_x/seed.sql": "INSERT INTO x VALUES (1);",
    })
    m = tmp_path / "migrations"
    up = classify(m / "2024-01-01-120000_create_users/up.sql")
    assert up is not None and (up.convention, up.role, up.version, up.name, up.rollback_state) == (
        "diesel", "up", "2024-01-01-120000", "create_users", "present")
    missing = classify(m / "2024-01-02-120000_add_email/up.sql")
    assert missing is not None and missing.rollback_state == "missing"
    [f] = sg31(missing)
    assert f.message == ("`2024-01-02-120000_add_email/up.sql` has no rollback: "
                         "`2024-01-02-120000_add_email/down.sql` does not exist, so it cannot be undone" ".")
    orphan = classify(m / "2024-01-03-120000_add_bio/down.sql")
    assert orphan is not None and orphan.orphan
    unversioned = classify(m / "create_posts/up.sql")
    assert unversioned is not None and unversioned.name_problem
    assert "2024-01-01-120000_create_posts" in unversioned.name_problem
    stray = classify(m / "2024-01-04-120000_x/seed.sql")
    assert stray is not None and stray.convention == "diesel" and stray.name_problem
    assert "only runs `up.sql` and `down.sql`" in stray.name_problem


def test_diesel_configured_parent(tmp_path: Path) -> None:
    tree(tmp_path, {"migrations/00000000000000_diesel_initial_setup/up.sql": "SELECT 1;"})
    index = MigrationIndex({(tmp_path / "migrations").resolve(): "diesel"})
    m = index.classify(tmp_path / "migrations/00000000000000_diesel_initial_setup/up.sql")
    assert m is not None and m.convention == "diesel" and m.name_problem is None


# --- Flyway -----------------------------------------------------------------------------------

def test_flyway_versions_undo_baseline_repeatable(tmp_path: Path) -> None:
    tree(tmp_path, {
        "B001__baseline.sql": "CREATE TABLE a (id int);",
        "V002__Welcome.sql": "CREATE TABLE b (id int);",
        "U002__UNDO-Welcome.sql": "DROP TABLE b;",
        "V1.1__add thing - Copy.sql": "SELECT 1;",
        "V1_2__other.sql": "SELECT 1;",
        "U1.2__other.sql": "-- nothing yet",
        "U9__gone.sql": "DROP TABLE gone;",
        "R__views.sql": "CREATE VIEW v AS SELECT 1;",
        "V3_init.sql": "SELECT 1;",
        "afterMigrate.sql": "SELECT 1;",
    })
    def get(name: str) -> MigrationFile | None:
        return classify(tmp_path / name)

    base = get("B001__baseline.sql")
    assert base is not None
    assert (base.convention, base.role, base.rollback_state) == ("flyway", "baseline", "n/a")
    v2 = get("V002__Welcome.sql")
    assert v2 is not None and (v2.role, v2.version, v2.name) == ("up", "002", "Welcome")
    assert v2.rollback == tmp_path / "U002__UNDO-Welcome.sql" and v2.rollback_state == "present"
    spaced = get("V1.1__add thing - Copy.sql")
    assert spaced is not None and spaced.name_problem is None and spaced.name == "add thing - Copy"
    assert spaced.rollback_state == "missing"  # this folder uses undo migrations
    [f] = sg31(spaced)
    assert f.message == ("`V1.1__add thing - Copy.sql` has no undo migration: `U1.1__add thing - Copy.sql` "
                         "does not exist, so it cannot be undone" ".")
    v12 = get("V1_2__other.sql")  # `1_2` and `1.2` are one version
    assert v12 is not None and v12.rollback == tmp_path / "U1.2__other.sql" and v12.rollback_state == "empty"
    undo = get("U9__gone.sql")
    assert undo is not None and undo.role == "down" and undo.orphan
    assert sg31(undo)[0].message == ("undo migration `U9__gone.sql` has no versioned migration "
                                     "`V9__gone.sql`, so it never runs" ".")
    rep = get("R__views.sql")
    assert rep is not None and rep.role == "repeatable" and rep.version is None
    bad = get("V3_init.sql")
    assert bad is not None and bad.suggested_name == "V3__init.sql"
    [f] = sg30(bad)
    assert f.message == ("`V3_init.sql` is not a Flyway file name: Flyway only runs "
                         "`V<version>__<description>.sql` (two underscores), so it silently skips this file" ".")
    assert f.help == "Rename it to `V3__init.sql`."
    assert get("afterMigrate.sql") is None  # a callback, not a migration


def test_flyway_without_any_undo_is_forward_only(tmp_path: Path) -> None:
    tree(tmp_path, {"V1__init.sql": "SELECT 1;", "V2__more.sql": "SELECT 1;"})
    m = classify(tmp_path / "V1__init.sql")
    assert m is not None and m.rollback_state == "n/a" and sg31(m) == []


def test_flyway_configured_is_recursive(tmp_path: Path) -> None:
    tree(tmp_path, {"sql/core/V1__init.sql": "SELECT 1;", "sql/core/notes.sql": "SELECT 1;"})
    index = MigrationIndex({(tmp_path / "sql").resolve(): "flyway"})
    assert index.classify(tmp_path / "sql/core/V1__init.sql") is not None
    notes = index.classify(tmp_path / "sql/core/notes.sql")
    assert notes is not None and notes.convention == "flyway" and notes.name_problem


# --- sqitch -----------------------------------------------------------------------------------

PLAN = """%syntax-version=1.0.0
%project=app
%uri=https://example.com/app

# the first changes
users 2024-01-01T12:00:00Z Ada <ada@example.com> # users
orders [users] 2024-01-02T12:00:00Z Ada <ada@example.com># orders
@v1.0 2024-01-03T12:00:00Z Ada <ada@example.com> # release

orders [orders@v1.0] 2024-01-04T12:00:00Z Ada <ada@example.com> # reworked
"""


def test_sqitch_plan_parsing() -> None:
    plan = parse_sqitch_plan(PLAN)
    assert plan.changes == {"users", "orders"} and plan.tags == {"v1.0"}
    assert plan.knows("orders@v1.0") and not plan.knows("orders@v2") and not plan.knows("items")


def test_sqitch(tmp_path: Path) -> None:
    tree(tmp_path, {
        "db/sqitch.plan": PLAN,
        "db/deploy/users.sql": "BEGIN; CREATE TABLE users (id int); COMMIT;",
        "db/revert/users.sql": "BEGIN; DROP TABLE users; COMMIT;",
        "db/verify/users.sql": "SELECT id FROM users WHERE false;",
        "db/deploy/orders.sql": "CREATE TABLE orders (id int);",
        "db/revert/orders.sql": "BEGIN;\n-- XXX Add DDLs here.\nCOMMIT;\n",
        "db/deploy/orders@v1.0.sql": "CREATE TABLE orders (id int);",
        "db/deploy/items.sql": "CREATE TABLE items (id int);",
        "db/revert/gone.sql": "DROP TABLE gone;",
    })
    db = tmp_path / "db"
    users = classify(db / "deploy/users.sql")
    assert users is not None and (users.convention, users.role, users.name, users.rollback_state) == (
        "sqitch", "up", "users", "present")
    assert users.rollback == db / "revert/users.sql" and users.name_problem is None
    verify = classify(db / "verify/users.sql")
    assert verify is not None and verify.role == "verify" and sg31(verify) == []
    orders = classify(db / "deploy/orders.sql")
    assert orders is not None and orders.rollback_state == "empty"
    assert sg31(orders)[0].message.startswith(
        "`deploy/orders.sql` has no revert script: `revert/orders.sql` is empty")
    reworked = classify(db / "deploy/orders@v1.0.sql")
    assert reworked is not None and reworked.name_problem is None and reworked.rollback_state == "missing"
    items = classify(db / "deploy/items.sql")
    assert items is not None and items.name_problem
    [f] = sg30(items)
    assert f.message == ("`deploy/items.sql` is not a planned sqitch change: `sqitch.plan` has no change "
                         "`items`, so `sqitch deploy` will never run it" ".")
    gone = classify(db / "revert/gone.sql")
    assert gone is not None and gone.orphan
    assert sg31(gone)[0].message == ("revert script `revert/gone.sql` has no deploy script "
                                     "`deploy/gone.sql`, so it never runs" ".")


def test_sqitch_nested_plans(tmp_path: Path) -> None:
    tree(tmp_path, {
        "schema/sqitch.plan": "main 2024-01-01T12:00:00Z A <a@b.c> # m\n",
        "schema/deploy/main.sql": "SELECT 1;",
        "schema/baseline/sqitch.plan": "base 2024-01-01T12:00:00Z A <a@b.c> # b\n",
        "schema/baseline/deploy/base.sql": "SELECT 1;",
        "schema/baseline/revert/base.sql": "DROP TABLE base;",
    })
    base = classify(tmp_path / "schema/baseline/deploy/base.sql")
    assert base is not None and base.name_problem is None and base.rollback_state == "present"
    main = classify(tmp_path / "schema/deploy/main.sql")
    assert main is not None and main.name_problem is None and main.rollback_state == "missing"


# --- dbmate and goose -------------------------------------------------------------------------

DBMATE_EMPTY_DOWN = "-- migrate:up\nCREATE TABLE likes (id int);\n\n-- migrate:down\n-- nothing\n"
SCHEMA_UP_DOWN = "-- migrate:up\nCREATE SCHEMA app;\n-- migrate:down\nDROP SCHEMA app;"


def test_dbmate(tmp_path: Path) -> None:
    tree(tmp_path, {
        "20240101120000_create_likes.sql": DBMATE_EMPTY_DOWN,
        "20240102120000_create_tags.sql": ("-- migrate:up\nCREATE TABLE tags (id int);\n"
                                           "-- migrate:down\nDROP TABLE tags;\n"),
        "20240103120000_create_notes.sql": "-- migrate:up\nCREATE TABLE notes (id int);\n",
        "00000000000000-initial-schema.sql": SCHEMA_UP_DOWN,
        "init-schema.sql": SCHEMA_UP_DOWN,
    })
    # The markers win over the 14-digit names, which alone would read as sqlguard's convention.
    empty = classify(tmp_path / "20240101120000_create_likes.sql")
    assert empty is not None and (empty.convention, empty.role, empty.rollback, empty.rollback_state) == (
        "dbmate", "up", None, "empty")
    [f] = sg31(empty, DBMATE_EMPTY_DOWN)
    start = DBMATE_EMPTY_DOWN.index("-- migrate:down")
    assert f.span == Span(start, start + len("-- migrate:down"))
    assert f.message == ("`20240101120000_create_likes.sql` has no rollback: its `-- migrate:down` section "
                         "is empty (only comments or no-op statements), so it cannot be undone" ".")
    present = classify(tmp_path / "20240102120000_create_tags.sql")
    assert present is not None and present.rollback_state == "present" and sg31(present) == []
    missing = classify(tmp_path / "20240103120000_create_notes.sql")
    assert missing is not None and missing.rollback_state == "missing"
    [f] = sg31(missing)
    assert f.span == Span(0, 0)
    assert f.message == ("`20240103120000_create_notes.sql` has no rollback: it has no `-- migrate:down` "
                         "section, so it cannot be undone" ".")
    dashed = classify(tmp_path / "00000000000000-initial-schema.sql")  # dbmate runs `^\d+.*\.sql$`
    assert dashed is not None and dashed.name_problem is None and dashed.version == "00000000000000"
    unversioned = classify(tmp_path / "init-schema.sql")
    assert unversioned is not None and unversioned.convention == "dbmate" and unversioned.name_problem


def test_markers_in_strings_do_not_count(tmp_path: Path) -> None:
    tree(tmp_path, {"x.sql": "SELECT '\n-- migrate:up\n';\n"})
    assert classify(tmp_path / "x.sql") is None


def test_goose(tmp_path: Path) -> None:
    text = ("-- +goose NO TRANSACTION\n-- +goose Up\n-- +goose StatementBegin\nCREATE TABLE s (id int);\n"
            "-- +goose StatementEnd\n\n-- +goose Down\nDROP TABLE s;\n")
    tree(tmp_path, {
        "001_initialize_schema.sql": text,
        "002_add_index.sql": "-- +goose Up\nCREATE INDEX i ON s (id);\n-- +goose Down\n",
        "003-add-col.sql": "-- +goose up\nALTER TABLE s ADD c int;\n",
        "0_zero.sql": "-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 2;\n",
    })
    ok = classify(tmp_path / "001_initialize_schema.sql")
    assert ok is not None and (ok.convention, ok.version, ok.name, ok.rollback_state) == (
        "goose", "001", "initialize_schema", "present")
    assert sg30(ok) == [] and sg31(ok) == []
    empty = classify(tmp_path / "002_add_index.sql")
    assert empty is not None and empty.rollback_state == "empty"
    dashed = classify(tmp_path / "003-add-col.sql")
    assert dashed is not None and dashed.rollback_state == "missing"
    assert dashed.suggested_name == "003_add-col.sql"
    [f] = sg30(dashed)
    assert f.message.startswith("`003-add-col.sql` is not a goose file name: goose reads the version up to")
    assert "-- +goose Down" in sg31(dashed)[0].message
    zero = classify(tmp_path / "0_zero.sql")
    assert zero is not None and zero.name_problem and "above zero" in zero.name_problem


def test_configured_dbmate_without_markers(tmp_path: Path) -> None:
    tree(tmp_path, {"20240101120000_x.sql": "CREATE TABLE x (id int);"})
    m = MigrationIndex({tmp_path.resolve(): "dbmate"}).classify(tmp_path / "20240101120000_x.sql")
    assert m is not None and m.convention == "dbmate" and m.rollback_state == "missing"


# --- detection and the index itself -----------------------------------------------------------

def test_not_migrations(tmp_path: Path) -> None:
    tree(tmp_path, {
        "storage/0001-initialmigration.sql": "CREATE TABLE a (id int);",
        "memos/0.26/01__drop_memo_organizer.sql": "SELECT 1;",
        "memos/LATEST.sql": "CREATE TABLE memo (id int);",
        "fixtures/alter_table.sql": "ALTER TABLE a ADD b int;",
        "notes.txt": "",
    })
    for rel in ("storage/0001-initialmigration.sql", "memos/0.26/01__drop_memo_organizer.sql",
                "memos/LATEST.sql", "fixtures/alter_table.sql", "notes.txt"):
        assert MigrationIndex({}).classify(tmp_path / rel) is None, rel


def test_majority_decides_the_folder(tmp_path: Path) -> None:
    tree(tmp_path, {
        "20240101120000_a.sql": "SELECT 1;",
        "20240102120000_b.sql": "SELECT 1;",
        "V1__stray.sql": "SELECT 1;",
    })
    stray = classify(tmp_path / "V1__stray.sql")
    assert stray is not None and stray.convention == "sqlguard" and stray.name_problem


def test_missing_paths_never_raise(tmp_path: Path) -> None:
    index = MigrationIndex({})
    assert index.classify(tmp_path / "nowhere" / "20240101120000_x.sql") is None
    assert index.classify(Path("-")) is None
    assert index.classify(Path("migration.sql"), "SELECT 1;") is None


def test_listings_are_cached_per_index(tmp_path: Path) -> None:
    tree(tmp_path, {"0001_a.up.sql": "SELECT 1;"})
    index = MigrationIndex({})
    first = index.classify(tmp_path / "0001_a.up.sql")
    (tmp_path / "0001_a.down.sql").write_text("DROP TABLE a;")
    assert first is not None and first.rollback_state == "missing"
    assert index.classify(tmp_path / "0001_a.up.sql") == first  # the same run sees one listing
    again = MigrationIndex({}).classify(tmp_path / "0001_a.up.sql")
    assert again is not None and again.rollback_state == "present"  # a new index lists again


def test_unknown_convention_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(SqlguardError):
        MigrationIndex({tmp_path: "liquibase"})


# --- the rule fixtures ------------------------------------------------------------------------

def _fixture_files(code: str) -> list[Path]:
    return sorted((RULE_FIXTURES / code).rglob("*.sql"))


@pytest.mark.parametrize("code,check", [("SG30", sg30_migration_name.check),
                                        ("SG31", sg31_missing_rollback.check)])
def test_rule_fixture_trees(code: str, check: object) -> None:
    """Each fixture file says `-- fail:` or `-- pass:` in its first line; the rule agrees."""
    files = _fixture_files(code)
    assert 0 < len(files) <= 20
    index = MigrationIndex({})
    conventions = set()
    for path in files:
        text = path.read_text(encoding="utf-8")
        m = re.match(r"-- (fail|pass): \S", text)
        assert m, f"{path} lacks a leading `-- fail:` / `-- pass:` line"
        migration = index.classify(path, text)
        assert migration is not None, path
        conventions.add(migration.convention)
        found = list(check(ctx_for(migration, text)))  # type: ignore[operator]
        assert bool(found) == (m.group(1) == "fail"), (path, [f.message for f in found])
    assert len(conventions) >= 4


# --- the real corpora -------------------------------------------------------------------------

def _classify_corpus(name: str) -> Iterator[tuple[Path, MigrationFile | None]]:
    index = MigrationIndex({})
    for path in sorted((CORPORA / name).rglob("*.sql")):
        yield path, index.classify(path, path.read_bytes().decode("utf-8", errors="replace"))


@needs_shared
def test_every_corpus_file_classifies_and_the_rules_run() -> None:
    for corpus in sorted(p.name for p in CORPORA.iterdir() if p.is_dir()):
        for path, migration in _classify_corpus(corpus):
            text = path.read_bytes().decode("utf-8", errors="replace")
            for f in [*sg30(migration), *sg31(migration, text)]:
                assert f.message and "None" not in f.message, (path, f.message)


@needs_shared
def test_corpus_facts() -> None:
    def census(name: str) -> collections.Counter[tuple[str | None, str | None, str | None]]:
        return collections.Counter((m.convention, m.role, m.rollback_state) if m else (None, None, None)
                                   for _, m in _classify_corpus(name))

    harness = dict(_classify_corpus("harness-golang-migrate"))
    ups = [m for m in harness.values() if m and m.role == "up"]
    assert all(m and m.convention == "golang-migrate" for m in harness.values())
    assert sum(m.rollback_state == "missing" for m in ups) == 57
    underscored = [p.name for p, m in harness.items() if m and m.name_problem]
    assert len(underscored) == 16 and all(re.search(r"_(up|down)\.sql$", n) for n in underscored)
    orphans = sorted(p.name for p, m in harness.items() if m and m.orphan)
    # Typos: `..._join_id.down.sql` next to `..._job_id.up.sql`, `artiface` next to `artifact`.
    assert orphans == ["0026_alter_repo_drop_join_id.down.sql",
                       "0097_update_ar_generic_artifact_tables.down.sql"]

    assert census("supabase-auth") == {("golang-migrate", "up", "missing"): 70}
    assert census("supabase-postgres-dbmate") == {("dbmate", "up", "empty"): 34}
    assert census("openfga-goose") == {("goose", "up", "present"): 16}
    assert census("chatbot-ui-supabase") == {("sqlguard", "up", "missing"): 25}
    assert census("redgate-flyway-undo-pg") == {
        ("flyway", "baseline", "n/a"): 1, ("flyway", "down", "n/a"): 1, ("flyway", "up", "empty"): 1}
    assert census("redgate-flyway-undo-mssql")[("flyway", "up", "present")] == 1
    assert census("fineract-flyway-mysql") == {("flyway", "up", "n/a"): 410}
    fineract = [p.name for p, m in _classify_corpus("fineract-flyway-mysql") if m and m.name_problem]
    assert fineract == ["V366_remove_leading_or_trailing_spaces_in_reportnames.sql"]

    chef = dict(_classify_corpus("chef-server-sqitch"))
    assert all(m and m.convention == "sqitch" for m in chef.values())
    roles = collections.Counter(m.role for m in chef.values() if m)
    assert roles == {"up": 80, "down": 80, "verify": 76}
    assert [p.name for p, m in chef.items() if m and m.orphan] == ["delete_migrated_couch_data.sql"]
    assert [p.name for p, m in chef.items() if m and m.name_problem] == ["purge_sequel.sql"]

    for name in ("supabase-storage", "sqlfluff-postgres-fixtures", "memos-multidialect"):
        assert set(census(name)) == {(None, None, None)}, name


# --- the rules' docs --------------------------------------------------------------------------

def test_sg31_docs_example_is_flagged_and_use_instead_is_clean(tmp_path: Path) -> None:
    rule = sg31_missing_rollback.RULE
    example, fixed = rule.section("Example") + "\n", rule.section("Use instead") + "\n"
    index = MigrationIndex({})
    flagged = index.classify(tmp_path / "20240101120000_create_likes.sql", example)
    clean = index.classify(tmp_path / "20240101120000_create_likes.sql", fixed)
    assert flagged is not None and sg31(flagged, example)
    assert clean is not None and not sg31(clean, fixed)


def test_sg30_docs_example_is_flagged_and_use_instead_is_clean(tmp_path: Path) -> None:
    """The docs show file names: build those trees (each next to a well-named sibling) and classify."""
    rule = sg30_migration_name.RULE
    siblings = {"migrations": "0020_create_webhooks.up.sql", "sql": "V2__init.sql"}

    def findings(section: str, root: Path) -> list[list[Finding]]:
        out = []
        for line in rule.section(section).splitlines():
            rel = Path(line.split()[0])
            tree(root, {str(rel): "SELECT 1;", str(rel.parent / siblings[str(rel.parent)]): "SELECT 1;"})
            out.append(sg30(MigrationIndex({}).classify(root / rel)))
        return out

    assert all(findings("Example", tmp_path / "example"))
    assert not any(findings("Use instead", tmp_path / "fixed"))


def test_real_path_follows_links_and_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from sqlguard.migrations.files import real_path

    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "c").mkdir()
    (tmp_path / "a" / "b" / "x.sql").write_text("")
    (tmp_path / "lnk").symlink_to(tmp_path / "a" / "b")
    (tmp_path / "f.sql").symlink_to(tmp_path / "a" / "b" / "x.sql")
    (tmp_path / "c" / "l2").symlink_to(tmp_path / "a" / "b")
    for q in ("lnk/x.sql", "f.sql", "a/b/../b/x.sql", "lnk/../b/x.sql", "c/l2/../b/x.sql", "./a/b/x.sql"):
        assert real_path(tmp_path / q) == Path(os.path.realpath(tmp_path / q)), q
    # remembered answers never outlive a change of folder (a long-lived editor process moves around)
    monkeypatch.chdir(tmp_path / "a")
    first = real_path(Path("b/x.sql"))
    monkeypatch.chdir(tmp_path)
    assert real_path(Path("b/x.sql")) == Path(os.path.realpath(tmp_path)) / "b" / "x.sql" != first


def test_popx_autocommit_files_run_outside_a_transaction(tmp_path: Path) -> None:
    from sqlguard.config import Settings
    from sqlguard.lint.engine import lint_paths
    from sqlguard.migrations.files import autocommit, wraps

    m = tmp_path / "m"
    m.mkdir()
    (m / "20190611004000_create.up.sql").write_text("CREATE TABLE identities (id uuid PRIMARY KEY, nid uuid);\n")
    (m / "20190611004000_create.down.sql").write_text("DROP TABLE IF EXISTS identities;\n")
    cic = "CREATE INDEX CONCURRENTLY IF NOT EXISTS identities_nid_idx ON identities (nid);\n"
    (m / "20250912000000000000_nid_idx.cockroach.autocommit.up.sql").write_text(cic)
    (m / "20250912000000000000_nid_idx.autocommit.up.sql").write_text(cic)
    (m / "20250912000000000000_nid_idx.autocommit.down.sql").write_text("DROP INDEX CONCURRENTLY IF EXISTS "
                                                                        "identities_nid_idx;\n")
    (m / "20250913000000000000_in_tx.up.sql").write_text(cic.replace("nid_idx", "nid2_idx"))
    (m / "20250913000000000000_in_tx.down.sql").write_text("DROP INDEX IF EXISTS identities_nid2_idx;\n")
    assert autocommit(m / "20250912000000000000_nid_idx.mysql.autocommit.down.sql")
    assert not autocommit(m / "20190611004000_autocommit_stuff.up.sql")
    assert not wraps(cic, None, "golang-migrate", path=m / "20250912000000000000_nid_idx.autocommit.up.sql")
    result = lint_paths([str(m)], Settings(root=tmp_path), None)
    sg51 = [(Path(d.path).name, d.code) for d in result.diagnostics if d.code == "SG51"]
    assert sg51 == [("20250913000000000000_in_tx.up.sql", "SG51")]  # only the file the runner wraps
    assert not [d for d in result.diagnostics if d.code == "SG31"]
