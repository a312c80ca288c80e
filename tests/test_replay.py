"""Static replay into the Schema model, the one diff, and rollback generation round trips."""

from __future__ import annotations

import pytest

from sqlguard.schema.model import Change, Schema, diff
from sqlguard.schema.replay import SchemaBuilder
from sqlguard.schema.rollback import generate
from sqlguard.sql.plpgsql import nested_statements
from sqlguard.sql.split import split


def replay(sql: str, base: Schema | None = None, dialect: str = "postgres") -> SchemaBuilder:
    b = SchemaBuilder.from_schema(base, dialect)
    for st in split(sql, dialect).statements:
        b.apply_text(st)
        for inner in nested_statements(st, sql) if dialect == "postgres" else []:
            b.apply_text(inner)
    return b


BASE = """
CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL UNIQUE, bio text DEFAULT 'hi');
CREATE TABLE likes (id bigserial PRIMARY KEY, user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                    n int CONSTRAINT n_pos CHECK (n >= 0));
CREATE INDEX idx_likes_user ON likes (user_id);
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE VIEW active_users AS SELECT * FROM users;
CREATE SEQUENCE ticket_seq;
"""


def test_create_table_columns_constraints_and_defaults() -> None:
    s = replay(BASE).freeze()
    users, likes = s.tables["users"], s.tables["likes"]
    assert [(c.name, c.type, c.nullable, c.default) for c in users.columns] == [
        ("id", "uuid", False, None), ("email", "text", False, None), ("bio", "text", True, "'hi'")]
    assert users.primary_key == ("id",)
    (fk,) = likes.foreign_keys
    assert (fk.name, fk.columns, fk.ref_table, fk.ref_columns, fk.on_delete) == (
        "likes_user_id_fkey", ("user_id",), "users", ("id",), "CASCADE")
    assert {c.name for c in likes.constraints} == {"likes_pkey", "likes_user_id_fkey", "n_pos"}
    assert s.indexes["idx_likes_user"].columns == ("user_id",)
    assert s.enums == {"mood": ("happy", "sad")}
    assert s.views == {"active_users"} and s.sequences == {"ticket_seq"}


def test_alter_table_actions() -> None:
    b = replay(BASE + """
ALTER TABLE likes ADD COLUMN note text NOT NULL DEFAULT '', DROP COLUMN n, ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE likes ALTER COLUMN note TYPE varchar(200);
ALTER TABLE likes RENAME COLUMN note TO comment;
ALTER TABLE users RENAME TO members;
ALTER TABLE likes RENAME CONSTRAINT likes_user_id_fkey TO likes_member_fkey;
ALTER TYPE mood ADD VALUE 'meh';
DROP INDEX idx_likes_user, idx_not_there;
""")
    s = b.freeze()
    likes = s.tables["likes"]
    assert [c.name for c in likes.columns] == ["id", "user_id", "comment"]
    assert likes.column("comment").type == "varchar(200)"  # type: ignore[union-attr]
    assert likes.column("user_id").nullable  # type: ignore[union-attr]
    assert "n_pos" not in {c.name for c in likes.constraints}  # dropped with its column
    assert likes.foreign_keys[0].name == "likes_member_fkey" and likes.foreign_keys[0].ref_table == "members"
    assert "users" not in s.tables and "members" in s.tables
    assert s.enums["mood"] == ("happy", "sad", "meh")
    assert s.indexes == {}
    assert b.unreadable == []


def test_statements_inside_do_blocks_are_replayed() -> None:
    s = replay(BASE + """
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'likes_user_fk2') THEN
    ALTER TABLE likes ADD CONSTRAINT likes_user_fk2 FOREIGN KEY (user_id) REFERENCES users (id);
  END IF;
END $$;
""").freeze()
    assert "likes_user_fk2" in {c.name for c in s.tables["likes"].constraints}


def test_unreadable_ddl_is_recorded_and_marks_the_table_inexact() -> None:
    b = replay(BASE + "ALTER TABLE likes SET (fillfactor = 70), SOMETHING ODD;\n")
    assert len(b.unreadable) == 1
    assert not b.tables["likes"].exact


def test_schema_qualified_names_and_foreign_schemas() -> None:
    s = replay("CREATE SCHEMA storage;\nCREATE TABLE storage.objects (id uuid);\nCREATE TABLE public.t (a int);\n"
               ).freeze()
    assert set(s.tables) == {"storage.objects", "t"}
    assert s.table("objects") is not None and s.table("objects", "storage") is not None
    assert "storage" in s.schemas


def test_diff_reports_every_kind_of_change() -> None:
    before = replay(BASE).freeze()
    after = replay(BASE + """
ALTER TABLE users ADD COLUMN age int, ALTER COLUMN bio SET NOT NULL;
DROP TABLE likes;
CREATE INDEX idx_users_email ON users (email);
ALTER TYPE mood ADD VALUE 'meh';
""").freeze()
    assert diff(before, after) == [
        Change("removed", "table", "likes"),
        Change("changed", "column", "users.bio", "NOT NULL added"),
        Change("added", "column", "users.age"),
        Change("removed", "index", "idx_likes_user"),
        Change("added", "index", "idx_users_email"),
        Change("added", "enum value", "mood.meh"),
    ]
    assert diff(before, before) == []


ROUND_TRIPS = [
    "CREATE TABLE tags (id int PRIMARY KEY, label text NOT NULL);",
    "ALTER TABLE users ADD COLUMN age int NOT NULL DEFAULT 0;",
    "ALTER TABLE users RENAME TO members;",
    "ALTER TABLE users RENAME COLUMN bio TO about;",
    "ALTER TABLE users ALTER COLUMN bio SET NOT NULL, ALTER COLUMN bio SET DEFAULT 'x';",
    "CREATE UNIQUE INDEX idx_users_email ON users (email);",
    "DROP INDEX idx_likes_user;",
    "ALTER TABLE likes DROP CONSTRAINT likes_user_id_fkey;",
    "ALTER TABLE likes ADD CONSTRAINT likes_n_uniq UNIQUE (n);",
    "CREATE TYPE color AS ENUM ('red', 'blue');",
    "DROP TYPE mood;",
    "CREATE SEQUENCE s2;",
    "ALTER TABLE users ALTER COLUMN email TYPE varchar(320);",
]


@pytest.mark.parametrize("up", ROUND_TRIPS)
def test_generated_rollback_round_trips(up: str) -> None:
    before = replay(BASE).freeze()
    migrated = replay(up, before)
    rollback = generate(migrated.effects, "m.sql")
    assert "-- MANUAL" not in rollback, rollback
    after_down = replay(rollback, migrated.freeze()).freeze()
    assert diff(before, after_down) == [], rollback


def test_what_cannot_be_undone_is_marked_manual() -> None:
    before = replay(BASE).freeze()
    migrated = replay("ALTER TABLE likes ALTER COLUMN n TYPE bigint;\nALTER TABLE users DROP COLUMN bio;\n"
                      "DROP TABLE likes;\nALTER TYPE mood ADD VALUE 'meh';\n"
                      "ALTER TABLE users ALTER COLUMN email TYPE varchar(20);\n", before)
    rollback = generate(migrated.effects, "m.sql")
    assert "ALTER TABLE users ADD COLUMN IF NOT EXISTS bio text DEFAULT 'hi';" in rollback
    assert "CREATE TABLE IF NOT EXISTS likes (" in rollback
    # bio's values, likes' rows, the enum value, bigint back to int; varchar(20) back to text loses nothing
    assert rollback.count("-- MANUAL:") == 4, rollback
    assert "ALTER TABLE users ALTER COLUMN email TYPE text USING email::text;" in rollback
    after_down = replay(rollback, migrated.freeze()).freeze()
    assert [c for c in diff(before, after_down) if c.object != "enum value"] == []
