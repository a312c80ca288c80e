"""SG50–SG54 (PostgreSQL lock and rewrite hazards): autofix round trips, transactions and runners,
PostgreSQL versions, and shapes the per-rule fixtures cannot show (they lint as one plain file)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from conftest import assert_clean, assert_flags, lint_sql

from sqlguard.config import Settings
from sqlguard.diagnostic import Diagnostic, apply_edits
from sqlguard.lint.engine import lint_paths

CODES = ("SG50", "SG51", "SG52", "SG53", "SG54")


def only(sql: str, code: str, **kw: object) -> list[Diagnostic]:
    return [d for d in lint_sql(sql, **kw) if d.code == code]  # type: ignore[arg-type]


def fixed(sql: str, code: str) -> str:
    """Apply every fix the rule offers and return the new text."""
    edits = [e for d in only(sql, code) if d.fix is not None for e in d.fix.edits]
    assert edits, f"{code} offered no fix for {sql!r}"
    text, applied = apply_edits(sql, edits)
    assert applied == len(edits)
    return text


def round_trip(sql: str, code: str) -> str:
    """Fix, re-parse (no new SG00), and check that the rule and SG51 no longer fire."""
    before = {d.message for d in lint_sql(sql) if d.code == "SG00"}
    after_text = fixed(sql, code)
    after = lint_sql(after_text)
    assert {d.message for d in after if d.code == "SG00"} <= before, after_text
    assert not [d for d in after if d.code in (code, "SG51")], (after_text, [d.message for d in after])
    return after_text


def lint_tree(root: Path, files: dict[str, str], **settings: object) -> list[Diagnostic]:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    s = replace(Settings(), **{"select": CODES, **settings})  # type: ignore[arg-type]
    return lint_paths([str(root)], s, None).diagnostics


# --- autofix round trips ------------------------------------------------------------------------

@pytest.mark.parametrize("sql,expected", [
    ("CREATE INDEX idx_users_email ON users (email);",
     "CREATE INDEX CONCURRENTLY idx_users_email ON users (email);"),
    ('CREATE UNIQUE INDEX IF NOT EXISTS "idx_Users" ON public."users" USING btree (lower(email));',
     'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "idx_Users" ON public."users" USING btree (lower(email));'),
    ("create index on likes (created_at);", "create index CONCURRENTLY on likes (created_at);"),
    ("DROP INDEX IF EXISTS idx_likes_user;", "DROP INDEX CONCURRENTLY IF EXISTS idx_likes_user;"),
    ("DROP INDEX public.idx_likes_user RESTRICT;", "DROP INDEX CONCURRENTLY public.idx_likes_user RESTRICT;"),
])
def test_sg50_fix_round_trip(sql: str, expected: str) -> None:
    assert round_trip(sql, "SG50") == expected


@pytest.mark.parametrize("sql,expected", [
    ("ALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id);",
     "ALTER TABLE orders ADD CONSTRAINT orders_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;"),
    ("ALTER TABLE ONLY public.orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES public.users(id) "
     "ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;",
     "ALTER TABLE ONLY public.orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES public.users(id) "
     "ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED NOT VALID;"),
    ("ALTER TABLE orders ADD CHECK (total >= 0), ADD CONSTRAINT c2 CHECK (qty > 0) NO INHERIT;",
     "ALTER TABLE orders ADD CHECK (total >= 0) NOT VALID, ADD CONSTRAINT c2 CHECK (qty > 0) NO INHERIT NOT VALID;"),
    ("ALTER TABLE orders\n  ADD CONSTRAINT c3 CHECK (\n    total >= 0\n  ) -- non-negative\n;",
     "ALTER TABLE orders\n  ADD CONSTRAINT c3 CHECK (\n    total >= 0\n  ) NOT VALID -- non-negative\n;"),
])
def test_sg52_fix_round_trip(sql: str, expected: str) -> None:
    assert round_trip(sql, "SG52") == expected


def test_fix_through_the_cli_engine() -> None:
    """`lint --fix` on stdin applies both fixes and the result lints clean for both rules."""
    from sqlguard.lint.engine import lint_stdin

    sql = ("CREATE INDEX idx_a ON users (email);\n"
           "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id);\n")
    res = lint_stdin(sql.encode(), "migration.sql", replace(Settings(), select=CODES), None, fix=True)
    assert res.fixed_text == (
        "CREATE INDEX CONCURRENTLY idx_a ON users (email);\n"
        "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\n")
    assert not res.diagnostics


# --- SG50: when there is no fix -------------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "BEGIN;\nCREATE INDEX idx_a ON users (email);",  # no COMMIT to move it after
    "DO $$ BEGIN CREATE INDEX idx_a ON users (email); END $$;",
    "DROP INDEX idx_a, idx_b;",
    "DROP INDEX idx_a CASCADE;",
])
def test_sg50_no_fix_where_concurrently_cannot_go(sql: str) -> None:
    found = only(sql, "SG50")
    assert found and all(d.fix is None for d in found)


def test_sg50_wrapped_file_gets_the_recipe_not_the_fix() -> None:
    found = only("-- sqlguard: transaction=on\nCREATE INDEX idx_a ON users (email);\n", "SG50")
    assert found and found[0].fix is None
    assert found[0].help is not None and "transaction=off" in found[0].help


def test_sg50_lock_modes_and_names_in_messages() -> None:
    (create,) = only("CREATE INDEX idx_a ON users (email);", "SG50")
    assert "SHARE lock on `users`" in create.message and "INSERT, UPDATE and DELETE" in create.message
    (drop,) = only("CREATE INDEX CONCURRENTLY idx_b ON users (email);\nDROP INDEX idx_b;", "SG50")
    assert "ACCESS EXCLUSIVE lock on `users`" in drop.message  # the index's table, known from this file


def test_sg50_template_placeholders_are_shown_as_written() -> None:
    sql = 'CREATE INDEX idx_a ON {{ index .Options "Namespace" }}.users (email);\n'
    (d,) = only(sql, "SG50")
    assert '`{{ index .Options "Namespace" }}.users`' in d.message


def test_only_postgres() -> None:
    for code, sql in [("SG50", "CREATE INDEX idx_a ON users (email);"),
                      ("SG52", "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id);"),
                      ("SG53", "ALTER TABLE users ALTER COLUMN email SET NOT NULL;"),
                      ("SG54", "ALTER TABLE users ADD COLUMN a int NOT NULL;")]:
        assert_flags(sql, code)
        assert_clean(sql, code, dialect="mysql")
        assert_clean(sql, code, dialect="sqlite")


# --- SG51 and how runners run a migration -----------------------------------------------------------

def test_sg51_dbmate_migration_and_its_directive(tmp_path: Path) -> None:
    body = "CREATE INDEX CONCURRENTLY idx_a ON users (email);\n"
    found = lint_tree(tmp_path / "a", {"db/migrations/20240101000000_idx.sql": f"-- migrate:up\n{body}"})
    (d,) = [d for d in found if d.code == "SG51"]
    assert "dbmate runs this migration inside one" in d.message
    assert d.help is not None and "Mark this migration `-- migrate:up transaction:false`" in d.help
    found = lint_tree(tmp_path / "b", {"db/migrations/20240101000000_idx.sql":
                                       f"-- migrate:up transaction:false\n{body}"})
    assert not [d for d in found if d.code == "SG51"]


def test_sg51_each_dbmate_section_runs_as_its_own_flag_says(tmp_path: Path) -> None:
    up_off = ("-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY idx_a ON users (email);\n\n"
              "-- migrate:down\nDROP INDEX CONCURRENTLY IF EXISTS idx_a;\n")
    found = [d for d in lint_tree(tmp_path / "a", {"db/migrations/20240101000000_idx.sql": up_off}) if d.code == "SG51"]
    assert [d.message.split("`")[1] for d in found] == ["DROP INDEX CONCURRENTLY"]  # the down section is wrapped
    assert found[0].help is not None and "migrate:down transaction:false" in found[0].help
    both_off = up_off.replace("-- migrate:down\n", "-- migrate:down transaction:false\n")
    found = lint_tree(tmp_path / "b", {"db/migrations/20240101000000_idx.sql": both_off})
    assert not [d for d in found if d.code == "SG51"]


def test_sg51_goose_no_transaction(tmp_path: Path) -> None:
    body = "-- +goose Up\nCREATE INDEX CONCURRENTLY idx_a ON users (email);\n"
    found = lint_tree(tmp_path / "a", {"migrations/00001_idx.sql": body})
    (d,) = [d for d in found if d.code == "SG51"]
    assert d.help is not None and "+goose NO TRANSACTION" in d.help
    found = lint_tree(tmp_path / "b", {"migrations/00001_idx.sql": "-- +goose NO TRANSACTION\n" + body})
    assert not [d for d in found if d.code == "SG51"]


def test_sg51_flyway_runs_a_lone_concurrent_statement_outside_a_transaction(tmp_path: Path) -> None:
    found = lint_tree(tmp_path, {
        "sql/V1__init.sql": "CREATE TABLE users (id int, email text);\n",
        "sql/V2__idx.sql": "CREATE INDEX CONCURRENTLY idx_a ON users (email);\n",
        "sql/V3__two.sql": "CREATE INDEX CONCURRENTLY idx_b ON users (id);\nALTER TABLE users ADD COLUMN bio text;\n",
        "sql/V4__plain.sql": "CREATE INDEX idx_c ON users (email);\n",
    })
    sg51 = {Path(d.path).name for d in found if d.code == "SG51"}
    assert sg51 == {"V3__two.sql"}
    (plain,) = [d for d in found if d.code == "SG50"]
    assert plain.fix is not None  # alone in its migration: Flyway runs it outside a transaction


def test_sg51_commit_then_begin_runs_a_concurrent_build_outside_the_runners_transaction(tmp_path: Path) -> None:
    """`COMMIT; CREATE INDEX CONCURRENTLY …; BEGIN;` in a migration a runner wraps: the COMMIT ends the runner's
    transaction, the BEGIN opens the one it commits at the end. sqlguard's own runner leaves a wrapped
    migration's BEGIN and COMMIT out, so there the statement still stands in its transaction."""
    idiom = "COMMIT;\nCREATE INDEX CONCURRENTLY idx_a ON users (email);\nBEGIN;\n"
    found = lint_tree(tmp_path, {"sql/V1__init.sql": "CREATE TABLE users (id int, email text);\n",
                                 "sql/V2__idx.sql": idiom}, select=("SG35", "SG51"))
    assert [d.code for d in found] == []
    ours = lint_tree(tmp_path / "own", {"db/20240101000000_init.sql": "CREATE TABLE users (id int, email text);\n",
                                        "db/20240101000000_init_rollback.sql": "DROP TABLE users;\n",
                                        "db/20240102000000_idx.sql": idiom,
                                        "db/20240102000000_idx_rollback.sql": "DROP INDEX idx_a;\n"},
                     select=("SG35", "SG51"))
    assert [d.code for d in ours] == ["SG51"]


def test_sg51_golang_migrate_files_are_taken_as_wrapped(tmp_path: Path) -> None:
    """pop and maragudk/migrate run `.up.sql` files in a transaction; golang-migrate needs the directive."""
    found = lint_tree(tmp_path / "a", {"m/0001_idx.up.sql": "CREATE INDEX CONCURRENTLY idx_a ON users (email);\n",
                                       "m/0001_idx.down.sql": "DROP INDEX CONCURRENTLY IF EXISTS idx_a;\n"})
    assert {Path(d.path).name for d in found if d.code == "SG51"} == {"0001_idx.up.sql", "0001_idx.down.sql"}
    found = lint_tree(tmp_path / "b", {
        "m/0001_idx.up.sql": "-- sqlguard: transaction=off\nCREATE INDEX CONCURRENTLY idx_a ON users (email);\n",
        "m/0001_idx.down.sql": "-- sqlguard: transaction=off\nDROP INDEX CONCURRENTLY IF EXISTS idx_a;\n"})
    assert not [d for d in found if d.code == "SG51"]


def test_sg51_assume_in_transaction_setting() -> None:
    from sqlguard.lint.engine import lint_stdin

    sql = b"CREATE INDEX CONCURRENTLY idx_a ON users (email);\n"
    wrapped = replace(Settings(), select=("SG51",), assume_in_transaction=True)
    (d,) = lint_stdin(sql, "m.sql", wrapped, None).diagnostics
    assert "assume-in-transaction" in d.message
    assert not lint_stdin(sql, "m.sql", replace(wrapped, assume_in_transaction=False), None).diagnostics


def test_sg51_explicit_transaction_closes() -> None:
    sql = "BEGIN;\nSELECT 1;\nROLLBACK;\nCREATE INDEX CONCURRENTLY idx_a ON users (email);\n"
    assert_clean(sql, "SG51")
    sql = "BEGIN;\nSELECT 1;\nCREATE INDEX CONCURRENTLY idx_a ON users (email);\nCOMMIT;\n"
    (d,) = only(sql, "SG51")
    assert "`BEGIN` on line 1" in d.message


# --- SG52: VALIDATE CONSTRAINT and the transaction ---------------------------------------------------

def test_sg52_validate_in_the_runners_transaction() -> None:
    sql = ("-- sqlguard: transaction=on\n"
           "ALTER TABLE orders ADD COLUMN user_id bigint;\n"
           "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\n"
           "ALTER TABLE orders VALIDATE CONSTRAINT fk;\n")
    (d,) = only(sql, "SG52")
    # the ADD COLUMN before it holds an ACCESS EXCLUSIVE lock until the transaction commits
    assert "line 3" in d.message and "an ACCESS EXCLUSIVE lock" in d.message
    assert_clean(sql.replace("transaction=on", "transaction=off"), "SG52")


def test_sg52_validate_of_another_table_or_constraint_is_fine() -> None:
    sql = ("BEGIN;\n"
           "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;\n"
           "ALTER TABLE orders VALIDATE CONSTRAINT other_fk;\n"
           "ALTER TABLE invoices VALIDATE CONSTRAINT fk;\n"
           "COMMIT;\n")
    assert_clean(sql, "SG52")


def test_sg52_column_references_checked_only_with_a_default() -> None:
    assert_clean("ALTER TABLE orders ADD COLUMN user_id bigint REFERENCES users (id);", "SG52")
    (d,) = only("ALTER TABLE orders ADD COLUMN user_id bigint REFERENCES users (id) DEFAULT NULL;", "SG52")
    assert d.help is not None and "Drop `DEFAULT NULL`" in d.help and d.fix is None
    (d,) = only("ALTER TABLE orders ADD COLUMN user_id bigint DEFAULT 1 REFERENCES users (id);", "SG52")
    assert d.help is not None and "NOT VALID" in d.help


# --- SG53 and PostgreSQL versions --------------------------------------------------------------------

RECIPE = ("ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;\n"
          "ALTER TABLE users VALIDATE CONSTRAINT users_email_nn;\n"
          "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n")


def test_sg53_recipe_needs_postgres_12() -> None:
    assert_clean(RECIPE, "SG53", pg_version=12)
    (d,) = only(RECIPE, "SG53", pg_version=11)
    assert d.help is not None and "PostgreSQL 11 always scans" in d.help


def test_sg53_unvalidated_or_other_column_check_does_not_count() -> None:
    assert_flags(RECIPE.replace("ALTER TABLE users VALIDATE CONSTRAINT users_email_nn;\n", ""), "SG53")
    assert_flags(RECIPE.replace("(email IS NOT NULL)", "(name IS NOT NULL)"), "SG53")
    assert_flags(RECIPE.replace("ALTER TABLE users ADD", "ALTER TABLE accounts ADD")
                 .replace("ALTER TABLE users VALIDATE", "ALTER TABLE accounts VALIDATE"), "SG53")


def test_sg53_check_from_an_earlier_migration(tmp_path: Path) -> None:
    found = lint_tree(tmp_path, {
        "migrations/20240101000000_users.sql": "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n",
        "migrations/20240102000000_check.sql":
            "ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;\n",
        "migrations/20240103000000_validate.sql": "ALTER TABLE users VALIDATE CONSTRAINT users_email_nn;\n",
        "migrations/20240104000000_not_null.sql": "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n",
        "migrations/20240105000000_id_not_null.sql": "ALTER TABLE users ALTER COLUMN id SET NOT NULL;\n",
    })
    assert {Path(d.path).name for d in found if d.code == "SG53"} == {"20240105000000_id_not_null.sql"}


# --- SG54 and PostgreSQL versions --------------------------------------------------------------------

def test_sg54_constant_default_rewrites_before_postgres_11() -> None:
    sql = "ALTER TABLE users ADD COLUMN is_admin boolean NOT NULL DEFAULT false;"
    assert_clean(sql, "SG54", pg_version=11)
    (d,) = only(sql, "SG54", pg_version=10)
    assert "PostgreSQL 10 writes any default into every row" in d.message
    assert_clean("ALTER TABLE users ADD COLUMN note text DEFAULT NULL;", "SG54", pg_version=10)


def test_sg54_not_null_is_an_error_and_volatile_a_warning() -> None:
    (d,) = only("ALTER TABLE users ADD COLUMN code text NOT NULL;", "SG54")
    assert d.severity == "error"
    (d,) = only("ALTER TABLE users ADD COLUMN code uuid NOT NULL DEFAULT gen_random_uuid();", "SG54")
    assert d.severity == "warning" and "`gen_random_uuid()` is volatile" in d.message
    (d,) = only("ALTER TABLE users ADD COLUMN code text DEFAULT my_code();", "SG54")
    assert d.severity == "info"


def test_sg54_pg18_virtual_generated_column_help() -> None:
    sql = "ALTER TABLE users ADD COLUMN n int GENERATED ALWAYS AS (length(name)) STORED;"
    (d,) = only(sql, "SG54", pg_version=18)
    assert d.help is not None and "VIRTUAL" in d.help
    (d,) = only(sql, "SG54", pg_version=15)
    assert d.help is not None and "VIRTUAL" not in d.help


@pytest.mark.parametrize("sql", [
    "ALTER TABLE users ADD COLUMN settings jsonb NOT NULL DEFAULT '{}'::jsonb;",
    "ALTER TABLE users ADD COLUMN price numeric(10, 2) NOT NULL DEFAULT CAST(0 AS numeric(10, 2));",
    "ALTER TABLE users ADD COLUMN created timestamptz NOT NULL DEFAULT (now() AT TIME ZONE 'utc');",
    "ALTER TABLE users ADD COLUMN tags text[] NOT NULL DEFAULT ARRAY[]::text[];",
    "ALTER TABLE users ADD COLUMN owner text NOT NULL DEFAULT current_user;",
])
def test_sg54_stable_defaults(sql: str) -> None:
    assert_clean(sql, "SG54")


# --- robustness ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "ALTER TABLE", "ALTER TABLE users", "ALTER TABLE users ADD", "ALTER TABLE users ADD CONSTRAINT",
    "ALTER TABLE users ADD CONSTRAINT c", "ALTER TABLE users ADD COLUMN", "ALTER TABLE users ADD COLUMN x int DEFAULT",
    "ALTER TABLE users VALIDATE CONSTRAINT", "ALTER TABLE users ALTER COLUMN", "ALTER TABLE users ALTER x SET NOT",
    "CREATE INDEX", "CREATE INDEX ON", "CREATE UNIQUE INDEX CONCURRENTLY", "DROP INDEX", "DROP INDEX IF EXISTS",
    "REINDEX", "REINDEX (CONCURRENTLY", "ALTER TABLE users ADD FOREIGN KEY (a) REFERENCES",
    "ALTER TABLE users ADD CHECK (", "ALTER TABLE users ADD COLUMN x int GENERATED",
    "ALTER TABLE users, ADD COLUMN x int", "ALTER TABLE users ADD COLUMN x int DEFAULT f(",
    "CREATE INDEX idx ON users (a) ; ; ALTER TABLE users ADD ;",
])
def test_truncated_statements_do_not_crash(sql: str) -> None:
    found = lint_sql(sql + ";", select=(*CODES, "SG00"))
    assert not [d for d in found if "internal error" in d.message]
    found = lint_sql("BEGIN;\n" + sql, select=(*CODES, "SG00"))
    assert not [d for d in found if "internal error" in d.message]


def test_sg50_drop_index_in_a_transaction_that_locks_the_table_anyway() -> None:
    base = "CREATE INDEX CONCURRENTLY idx_a ON users (email);\n"
    assert_clean(base + "BEGIN;\nDROP INDEX idx_a;\nALTER TABLE users DROP COLUMN email;\nCOMMIT;\n", "SG50")
    # a foreign key takes only SHARE ROW EXCLUSIVE: the DROP INDEX still adds the ACCESS EXCLUSIVE lock
    assert_flags(base + "BEGIN;\nDROP INDEX idx_a;\n"
                 "ALTER TABLE users ADD CONSTRAINT fk FOREIGN KEY (org_id) REFERENCES orgs (id) NOT VALID;\nCOMMIT;\n",
                 "SG50")
    # outside a transaction each statement takes its own lock
    assert_flags(base + "DROP INDEX idx_a;\nALTER TABLE users DROP COLUMN email;\n", "SG50")


def test_sg50_fix_moves_the_index_out_of_an_explicit_transaction(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlguard.config import Settings
    from sqlguard.lint.engine import lint_paths

    f = tmp_path / "m.sql"
    f.write_text("BEGIN;\nALTER TABLE users ADD COLUMN bio text;\n"
                 "CREATE INDEX idx_users_bio ON users (bio);\nCOMMIT;\n")
    result = lint_paths([str(f)], Settings(select=("SG50",)), None, fix=True)
    assert result.fixes_applied == 1 and result.diagnostics == []
    assert f.read_text() == ("BEGIN;\nALTER TABLE users ADD COLUMN bio text;\nCOMMIT;\n"
                             "CREATE INDEX CONCURRENTLY idx_users_bio ON users (bio);\n")
    again = lint_paths([str(f)], Settings(select=("SG00", "SG50", "SG51")), None)
    assert again.diagnostics == []
