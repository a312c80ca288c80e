"""SG55–SG65 (PostgreSQL rewrites, renames, unique indexes, lock_timeout, maintenance, and the opt-in
hygiene group): the SG58 autofix round trip, types replayed from a migration history, runners and
transactions, PostgreSQL versions, and shapes the per-rule fixtures cannot show (they lint as one
plain file)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from conftest import assert_clean, assert_flags, lint_sql

from sqlguard.config import Settings
from sqlguard.diagnostic import Diagnostic, apply_edits
from sqlguard.lint.engine import lint_paths, lint_stdin

HYGIENE = ("SG60", "SG61", "SG62", "SG63", "SG64", "SG65")


def only(sql: str, code: str, **kw: object) -> list[Diagnostic]:
    return [d for d in lint_sql(sql, **kw) if d.code == code]  # type: ignore[arg-type]


def lint_tree(root: Path, files: dict[str, str], select: tuple[str, ...], **settings: object) -> list[Diagnostic]:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    s = replace(Settings(), select=select, **settings)  # type: ignore[arg-type]
    return lint_paths([str(root)], s, None).diagnostics


# --- SG58: the autofix round trip -------------------------------------------------------------------

@pytest.mark.parametrize("sql,expected", [
    ("ALTER TABLE users ADD COLUMN x int;\n",
     "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN x int;\n"),
    # indented, after a new table (exempt): the SET keeps the indentation, on a line of its own
    ("CREATE TABLE t (a int);\n    DROP TABLE likes;\n",
     "CREATE TABLE t (a int);\n    SET lock_timeout = '5s';\n    DROP TABLE likes;\n"),
    # after another statement on the same line
    ("BEGIN;   TRUNCATE notifications;\nCOMMIT;\n",
     "BEGIN;\nSET lock_timeout = '5s';\nTRUNCATE notifications;\nCOMMIT;\n"),
    # inside a DO block: the SET goes before the block, not into the PL/pgSQL
    ("DO $$\nBEGIN\n  ALTER TABLE users ADD x int;\nEND $$;\n",
     "SET lock_timeout = '5s';\nDO $$\nBEGIN\n  ALTER TABLE users ADD x int;\nEND $$;\n"),
])
def test_sg58_fix_round_trip(sql: str, expected: str) -> None:
    before = {d.message for d in lint_sql(sql) if d.code == "SG00"}
    edits = [e for d in only(sql, "SG58") if d.fix is not None for e in d.fix.edits]
    assert len(edits) == 1
    text, applied = apply_edits(sql, edits)
    assert applied == 1 and text == expected
    after = lint_sql(text)
    assert not [d for d in after if d.code == "SG58"], text
    assert {d.message for d in after if d.code == "SG00"} <= before


def test_sg58_fix_through_the_engine() -> None:
    res = lint_stdin(b"ALTER TABLE users ADD COLUMN x int;\nALTER TABLE users ADD COLUMN y int;\n", "m.sql",
                     replace(Settings(), select=("SG58",)), None, fix=True)
    assert res.fixed_text == ("SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN x int;\n"
                              "ALTER TABLE users ADD COLUMN y int;\n")
    assert not res.diagnostics


def test_sg58_reports_once_and_names_the_lock_and_what_queues() -> None:
    (d,) = only("ALTER TABLE users ADD x int;\nDROP TABLE likes;\n", "SG58")
    assert "ACCESS EXCLUSIVE lock on `users`" in d.message and "every query on `users` queues" in d.message
    (d,) = only("CREATE INDEX idx ON likes (user_id);\n", "SG58")
    assert "a SHARE lock on `likes`" in d.message and "every write to `likes` queues" in d.message


@pytest.mark.parametrize("setting", [
    "SET lock_timeout = '5s';", "SET SESSION lock_timeout TO 5000;", "set lock_timeout='1min';",
    "SELECT set_config('lock_timeout', '3s', false);", "SELECT pg_catalog.set_config('lock_timeout', '3s', false);",
])
def test_sg58_settings_that_count(setting: str) -> None:
    assert_clean(f"{setting}\nALTER TABLE users ADD x int;\n", "SG58")


@pytest.mark.parametrize("setting", [
    "SET lock_timeout = 0;", "SET lock_timeout = '0';", "SET lock_timeout TO DEFAULT;",
    "SET lock_timeout = '5s'; RESET lock_timeout;", "SET lock_timeout = '5s'; RESET ALL;",
    "SET statement_timeout = '5s';", "ALTER ROLE migrator SET lock_timeout = '5s';",
])
def test_sg58_settings_that_do_not(setting: str) -> None:
    assert_flags(f"{setting}\nALTER TABLE users ADD x int;\n", "SG58")


def test_sg58_set_local_lasts_for_its_transaction() -> None:
    # the runner wraps a golang-migrate file in one transaction: SET LOCAL covers the whole file
    wrapped = "-- sqlguard: transaction=on\nSET LOCAL lock_timeout = '2s';\nALTER TABLE users ADD x int;\n"
    assert_clean(wrapped, "SG58")
    (d,) = only("BEGIN;\nSET LOCAL lock_timeout = '2s';\nCOMMIT;\nALTER TABLE users ADD x int;\n", "SG58")
    assert d.help is not None and "SET LOCAL" in d.help


def test_sg58_runner_files_and_rollbacks(tmp_path: Path) -> None:
    found = lint_tree(tmp_path, {
        "migrations/000001_users.up.sql": "ALTER TABLE users ADD COLUMN x int;\n",
        "migrations/000001_users.down.sql": "ALTER TABLE users DROP COLUMN x;\n",
    }, ("SG58",))
    assert [Path(d.path).name for d in found] == ["000001_users.up.sql"]


def test_sg58_drop_index_names_the_table_from_the_history(tmp_path: Path) -> None:
    found = lint_tree(tmp_path, {
        "db/migrations/20240101000000_likes.sql": "-- migrate:up\nCREATE TABLE likes (id bigint, user_id bigint);\n"
                                                  "CREATE INDEX likes_user_idx ON likes (user_id);\n",
        "db/migrations/20240102000000_drop_idx.sql": "-- migrate:up\nDROP INDEX likes_user_idx;\n",
    }, ("SG58",))
    (d,) = found
    assert d.path.endswith("20240102000000_drop_idx.sql") and "ACCESS EXCLUSIVE lock on `likes`" in d.message


# --- SG55: the current type from the history ----------------------------------------------------------

def test_sg55_reads_the_current_type_from_the_history(tmp_path: Path) -> None:
    found = lint_tree(tmp_path, {
        "db/migrations/20240101000000_orders.sql":
            "-- migrate:up\nCREATE TABLE orders (id integer PRIMARY KEY, sku varchar(20), total numeric(10, 2),"
            " placed_at timestamp(3), note varchar(200));\n",
        "db/migrations/20240102000000_widen.sql":
            "-- migrate:up\nALTER TABLE orders ALTER COLUMN sku TYPE varchar(40),"
            " ALTER COLUMN total TYPE numeric(12, 2), ALTER COLUMN placed_at TYPE timestamp(6),"
            " ALTER COLUMN note TYPE text;\n",
        "db/migrations/20240103000000_narrow.sql":
            "-- migrate:up\nALTER TABLE orders ALTER COLUMN id TYPE bigint, ALTER COLUMN sku TYPE varchar(10),"
            " ALTER COLUMN total TYPE numeric(12, 3), ALTER COLUMN placed_at TYPE timestamptz;\n",
    }, ("SG55",))
    assert {Path(d.path).name for d in found} == {"20240103000000_narrow.sql"}
    messages = sorted(d.message for d in found)
    assert len(messages) == 4
    assert any("from `integer` to `bigint` rewrites the whole table" in m for m in messages)
    assert any("from `varchar(40)` to `varchar(10)`" in m for m in messages)  # the type after the widening
    assert any("TimeZone is UTC" in m for m in messages)


def test_sg55_timestamp_to_timestamptz_by_version() -> None:
    sql = "CREATE TABLE t (at timestamp);\n-- migrate:up\nALTER TABLE t ALTER COLUMN at TYPE timestamptz;\n"
    assert not only(sql, "SG55")  # created in this file
    (d,) = only("ALTER TABLE users ALTER COLUMN created_at TYPE timestamp;", "SG55")  # catalog: timestamptz
    assert "TimeZone is UTC" in d.message and d.help is not None and "SET TimeZone = 'UTC'" in d.help
    (d,) = only("ALTER TABLE users ALTER COLUMN created_at TYPE timestamp;", "SG55", pg_version=11)
    assert "rewrites the whole table" in d.message and d.help is not None and "TimeZone" not in d.help


@pytest.mark.parametrize("sql", [
    "ALTER TABLE users ALTER COLUMN email TYPE varchar(320);",  # users.email is text in the catalog
    "ALTER TABLE users ALTER COLUMN id TYPE text;",  # uuid -> text is a real cast
    "ALTER TABLE messages ALTER COLUMN body TYPE varchar USING upper(body);",  # USING computes new values
    "ALTER TABLE messages ALTER COLUMN body TYPE citext;",  # no rewrite, but the indexes are rebuilt
])
def test_sg55_flags(sql: str) -> None:
    assert_flags(sql, "SG55")


@pytest.mark.parametrize("sql", [
    "ALTER TABLE messages ALTER COLUMN body TYPE text USING body;",
    "ALTER TABLE messages ALTER COLUMN body TYPE varchar USING CAST(body AS varchar);",
    "ALTER TABLE ghosts ALTER COLUMN note TYPE varchar;",  # unknown current type, unlimited target
])
def test_sg55_passes(sql: str) -> None:
    assert_clean(sql, "SG55")


def test_sg55_is_postgres_only() -> None:
    assert_clean("ALTER TABLE messages MODIFY COLUMN body varchar(20);", "SG55", dialect="mysql")
    assert_clean("ALTER TABLE messages ALTER COLUMN body TYPE varchar(20);", "SG55", dialect="sqlite")


# --- SG56, SG57 ------------------------------------------------------------------------------------------

def test_sg56_help_offers_a_view_with_the_old_name() -> None:
    (d,) = only("ALTER TABLE auth.accounts RENAME TO members;", "SG56")
    assert d.help is not None and "CREATE VIEW auth.accounts AS SELECT * FROM auth.members;" in d.help


def test_sg56_rollback_files_are_exempt(tmp_path: Path) -> None:
    found = lint_tree(tmp_path, {
        "migrations/000001_rename.up.sql": "ALTER TABLE users RENAME COLUMN bio TO about;\n",
        "migrations/000001_rename.down.sql": "ALTER TABLE users RENAME COLUMN about TO bio;\n",
    }, ("SG56",))
    assert [Path(d.path).name for d in found] == ["000001_rename.up.sql"]


def test_sg57_help_uses_the_users_names() -> None:
    (d,) = only('ALTER TABLE shop."Orders" ADD CONSTRAINT "Orders_ref_key" UNIQUE NULLS NOT DISTINCT (ref);', "SG57")
    assert d.help == ('Run `CREATE UNIQUE INDEX CONCURRENTLY "Orders_ref_key" ON shop."Orders" (ref) NULLS NOT '
                      'DISTINCT;` first, then `ALTER TABLE shop."Orders" ADD CONSTRAINT "Orders_ref_key" UNIQUE '
                      'USING INDEX "Orders_ref_key";`.')


# --- SG59: versions and transactions -------------------------------------------------------------------

def test_sg59_add_value_in_a_transaction_before_pg12_fails() -> None:
    sql = "BEGIN;\nALTER TYPE mood ADD VALUE 'meh';\nCOMMIT;\n"
    (d,) = only(sql, "SG59", pg_version=11)
    assert d.severity == "error" and "before PostgreSQL 12" in d.message
    assert_clean(sql, "SG59", pg_version=12)  # allowed since 12, as long as nothing uses the value
    assert_clean("ALTER TYPE mood ADD VALUE 'meh';\n", "SG59", pg_version=11)  # no transaction


def test_sg59_new_enum_value_used_in_the_same_transaction() -> None:
    sql = ("-- sqlguard: transaction=on\nALTER TYPE mood ADD VALUE 'meh';\n"
           "ALTER TYPE mood ADD VALUE 'ok' AFTER 'meh';\nINSERT INTO feelings (mood) VALUES ('meh');\n")
    (d,) = only(sql, "SG59")
    assert d.severity == "error" and "line 4" in d.message
    # a function body that mentions it runs later, in another transaction
    assert_clean("BEGIN;\nALTER TYPE mood ADD VALUE 'meh';\nCREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ "
                 "SELECT 'meh' $$;\nCOMMIT;\n", "SG59")


def test_sg59_reindex_help_depends_on_the_version() -> None:
    (new,) = only("REINDEX INDEX users_pkey;", "SG59")
    (old,) = only("REINDEX INDEX users_pkey;", "SG59", pg_version=11)
    assert new.help is not None and "REINDEX INDEX CONCURRENTLY users_pkey" in new.help
    assert old.help is not None and "CREATE INDEX CONCURRENTLY" in old.help


def test_sg51_a_wrapping_runner_makes_vacuum_fail(tmp_path: Path) -> None:
    found = lint_tree(tmp_path, {"migrations/000001_vacuum.up.sql": "VACUUM ANALYZE users;\n",
                                 "migrations/000001_vacuum.down.sql": "SELECT 1;\n"}, ("SG51", "SG59"))
    (d,) = found
    assert d.code == "SG51" and d.severity == "error" and "cannot run inside a transaction block" in d.message
    no_tx = lint_tree(tmp_path / "nt", {"migrations/000001_vacuum.up.sql":
                                        "-- sqlguard: transaction=off\nVACUUM ANALYZE users;\n",
                                        "migrations/000001_vacuum.down.sql": "SELECT 1;\n"}, ("SG51", "SG59"))
    assert not no_tx


# --- the hygiene group ---------------------------------------------------------------------------------

def test_hygiene_rules_run_only_when_selected() -> None:
    sql = "CREATE TABLE t (id serial PRIMARY KEY, at timestamp, name varchar(10), doc json, u uuid REFERENCES users);"
    assert not [d for d in lint_sql(sql) if d.code in HYGIENE]
    assert {d.code for d in lint_sql(sql, select=("HYGIENE",))} == set(HYGIENE)  # as config and CLI spell it
    assert {d.code for d in lint_sql(sql, select=("SG62",))} == {"SG62"}


def test_sg61_needs_identity_columns() -> None:
    assert_clean("CREATE TABLE t (id serial PRIMARY KEY);", "SG61", select=("SG61",), pg_version=9)
    assert_flags("CREATE TABLE t (id serial PRIMARY KEY);", "SG61", select=("SG61",), pg_version=10)


def test_sg65_sees_indexes_from_the_history_and_later_in_the_file(tmp_path: Path) -> None:
    found = lint_tree(tmp_path, {
        "db/migrations/20240101000000_base.sql":
            "-- migrate:up\nCREATE TABLE users (id bigint PRIMARY KEY);\n"
            "CREATE TABLE posts (id bigint PRIMARY KEY, author_id bigint);\n"
            "CREATE INDEX posts_author_idx ON posts (author_id);\n",
        "db/migrations/20240102000000_fks.sql":
            "-- migrate:up\nALTER TABLE posts ADD CONSTRAINT posts_author_fkey FOREIGN KEY (author_id) "
            "REFERENCES users (id);\n"
            "ALTER TABLE posts ADD COLUMN editor_id bigint REFERENCES users (id);\n",
    }, ("SG65",))
    (d,) = found
    assert d.path.endswith("_fks.sql") and "`posts(editor_id)` → `users`" in d.message
    assert d.help == "Add `CREATE INDEX CONCURRENTLY posts_editor_id_idx ON posts (editor_id);` in a migration " \
                     "without a transaction."


def test_sg65_a_dropped_foreign_key_is_not_reported() -> None:
    sql = ("CREATE TABLE a (id bigint PRIMARY KEY, b_id bigint, CONSTRAINT a_b_fkey FOREIGN KEY (b_id) REFERENCES b);\n"
           "ALTER TABLE a DROP CONSTRAINT a_b_fkey;\n")
    assert_clean(sql, "SG65", select=("SG65",))
