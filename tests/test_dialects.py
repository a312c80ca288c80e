"""MySQL and SQLite work as well as PostgreSQL: splitting, parsing, and dialect-aware rules."""

from __future__ import annotations

from conftest import assert_clean, assert_flags, lint_sql


def test_mysql_backslash_strings_backticks_and_hash_comments() -> None:
    sql = "INSERT INTO `likes` (note) VALUES ('it\\'s; fine'); # comment; here\nDROP TABLE `images`;\n"
    diags = lint_sql(sql, dialect="mysql")
    assert {d.code for d in diags} == {"SG10", "SG20", "SG21"}
    assert not any(d.code in ("SG00", "SG03") for d in diags)


def test_mysql_delimiter_blocks_are_linted_as_one_statement() -> None:
    sql = ("DELIMITER $$\nCREATE PROCEDURE p()\nBEGIN\n  DELETE FROM likes WHERE id = 1;\nEND$$\nDELIMITER ;\n"
           "DROP TABLE IF EXISTS t;\n")
    diags = lint_sql(sql, dialect="mysql")
    assert "SG03" not in {d.code for d in diags}
    assert [d.code for d in diags if d.code == "SG21"] == ["SG21"]  # the DROP TABLE only


def test_sg20_knows_which_dialects_have_if_exists() -> None:
    # MySQL has no IF EXISTS for DROP INDEX or DROP COLUMN: the fix would be invalid SQL.
    assert_clean("DROP INDEX idx_a ON likes;\n", "SG20", dialect="mysql")
    assert_clean("ALTER TABLE likes DROP COLUMN note;\n", "SG20", dialect="mysql")
    assert_flags("DROP TABLE likes;\n", "SG20", dialect="mysql")
    # SQLite has DROP INDEX IF EXISTS but no DROP COLUMN IF EXISTS.
    assert_flags("DROP INDEX idx_a;\n", "SG20", dialect="sqlite")
    assert_clean("ALTER TABLE likes DROP COLUMN note;\n", "SG20", dialect="sqlite")
    assert_flags("ALTER TABLE likes DROP COLUMN note;\n", "SG20", dialect="postgres")


def test_sqlite_statements_parse() -> None:
    sql = ("CREATE TABLE IF NOT EXISTS likes (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER "
           "REFERENCES profiles(id));\nPRAGMA foreign_keys = ON;\n")
    diags = lint_sql(sql, dialect="sqlite")
    assert [d.code for d in diags] == ["SG10"]


def test_destructive_statement_backup_command_follows_the_dialect() -> None:
    (my,) = assert_flags("TRUNCATE likes;\n", "SG21", dialect="mysql")
    assert my.help and "mysqldump" in my.help
    (lite,) = assert_flags("DELETE FROM likes;\n", "SG21", dialect="sqlite")
    assert lite.help and ".backup" in lite.help
    (pg,) = assert_flags("DELETE FROM likes;\n", "SG21")
    assert pg.help and "pg_dump --format=custom --table=likes" in pg.help
