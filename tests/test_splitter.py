"""Statement splitting: exact spans through every kind of quoting, and bodies found inside statements."""

from __future__ import annotations

import pytest

from sqlguard.sql.lex import lex
from sqlguard.sql.plpgsql import nested_statements
from sqlguard.sql.split import split


def texts(sql: str, dialect: str = "postgres") -> list[str]:
    return [s.text for s in split(sql, dialect).statements]


def test_spans_point_at_the_statement_text() -> None:
    sql = "-- lead\nSELECT 1;\n\n  /* c */ UPDATE users SET a = ';' WHERE id = 1 ;\nSELECT 2"
    stmts = split(sql).statements
    assert [sql[s.span.start:s.span.end] for s in stmts] == [
        "SELECT 1", "UPDATE users SET a = ';' WHERE id = 1", "SELECT 2"]
    assert [s.terminated for s in stmts] == [True, True, False]


@pytest.mark.parametrize("sql,expected", [
    ("SELECT 'a;b'; SELECT 2;", ["SELECT 'a;b'", "SELECT 2"]),
    ("SELECT 'it''s;'; SELECT 2;", ["SELECT 'it''s;'", "SELECT 2"]),
    ("SELECT E'a\\';b'; SELECT 2;", ["SELECT E'a\\';b'", "SELECT 2"]),
    ("SELECT 'C:\\'; SELECT 2;", ["SELECT 'C:\\'", "SELECT 2"]),  # standard strings: backslash is literal
    ('SELECT "a;b"; SELECT 2;', ['SELECT "a;b"', "SELECT 2"]),
    ("SELECT $$a;b$$; SELECT 2;", ["SELECT $$a;b$$", "SELECT 2"]),
    ("SELECT $x$ $$; $x$; SELECT 2;", ["SELECT $x$ $$; $x$", "SELECT 2"]),
    ("SELECT $1 + $2; SELECT 2;", ["SELECT $1 + $2", "SELECT 2"]),
    ("SELECT 1 /* a; /* nested; */ b; */; SELECT 2;", ["SELECT 1 /* a; /* nested; */ b; */", "SELECT 2"]),
    ("SELECT 1 -- a; b\n; SELECT 2;", ["SELECT 1 -- a; b", "SELECT 2"]),
])
def test_terminators_inside_quotes_and_comments(sql: str, expected: list[str]) -> None:
    assert texts(sql) == expected


def test_mysql_quoting_and_delimiter_blocks() -> None:
    sql = ("SELECT 'a\\';b', `c;d` # note; here\n;\nDELIMITER $$\nCREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW "
           "BEGIN SET NEW.a = 1; END$$\nDELIMITER ;\nSELECT 3;")
    stmts = split(sql, "mysql").statements
    assert [s.kind for s in stmts] == ["sql", "directive", "sql", "directive", "sql"]
    assert stmts[0].text == "SELECT 'a\\';b', `c;d` # note; here"
    assert stmts[2].text.endswith("END")
    assert stmts[4].text == "SELECT 3"


def test_psql_meta_commands_and_copy_data() -> None:
    sql = "\\set ON_ERROR_STOP on\nCOPY t (a, b) FROM stdin;\n1\t'x;\n2\t$$\n\\.\nSELECT 1;\n"
    stmts = split(sql).statements
    assert [(s.kind, s.text) for s in stmts] == [
        ("meta", "\\set ON_ERROR_STOP on"), ("sql", "COPY t (a, b) FROM stdin"), ("copy-data", ""),
        ("sql", "SELECT 1")]


def test_goose_statement_blocks_and_sections() -> None:
    sql = ("-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS 'SELECT 1; SELECT 2' "
           "LANGUAGE sql;\n-- +goose StatementEnd\n-- +goose Down\nDROP FUNCTION f;\n")
    stmts = split(sql).statements
    assert [s.section for s in stmts] == ["up", "down"]
    assert stmts[0].text.startswith("CREATE FUNCTION")
    assert texts("-- migrate:up\nSELECT 1\n-- migrate:down\nSELECT 2\n") == ["SELECT 1", "SELECT 2"]


@pytest.mark.parametrize("sql,kind,at", [
    ("SELECT 'abc", "unterminated-string", 7),
    ('SELECT "abc', "unterminated-identifier", 7),
    ("SELECT $tag$ abc $$", "unterminated-dollar-quote", 7),
    ("SELECT 1; /* abc /* def */", "unterminated-comment", 10),
])
def test_unterminated_tokens_are_problems_with_positions(sql: str, kind: str, at: int) -> None:
    problems = split(sql).problems
    assert [(p.kind, p.span.start) for p in problems] == [(kind, at)]


def test_parenthesis_depth_is_measured() -> None:
    assert split("SELECT ((1), (2));").statements[0].depth == 2


def test_lexer_reads_names_and_depth() -> None:
    toks = lex('ALTER TABLE "My""T" ADD CHECK (a > (1))')
    assert [t.value for t in toks][:3] == ["ALTER", "TABLE", 'My"T']
    assert toks[2].kind == "quoted"
    assert max(t.depth for t in toks) == 2


def test_do_block_statements_are_found_at_their_file_positions() -> None:
    sql = ("SELECT 0;\nDO $$\nDECLARE n int := 0;\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_constraint) THEN\n"
           "    ALTER TABLE likes ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id);\n  END IF;\n"
           "  PERFORM 1 FROM users;\n  SELECT count(*) INTO n FROM likes;\nEND $$;\n")
    do = split(sql).statements[1]
    inner = nested_statements(do, sql)
    assert [s.context for s in inner] == ["condition", "do", "do", "do"]
    alter = inner[1]
    assert sql[alter.span.start:alter.span.end] == \
        "ALTER TABLE likes ADD CONSTRAINT fk FOREIGN KEY (u) REFERENCES users (id)"
    perform = inner[2]
    assert perform.text.startswith("SELECT ") and len(perform.text) == perform.span.end - perform.span.start
    assert "INTO" not in inner[3].text  # PL/pgSQL's INTO variable is not SQL


def test_function_bodies_in_sql_and_plpgsql_but_not_other_languages() -> None:
    sql_fn = "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ DELETE FROM likes; DELETE FROM users $$"
    assert [s.text for s in nested_statements(split(sql_fn).statements[0], sql_fn)] == [
        "DELETE FROM likes", "DELETE FROM users"]
    py_fn = "CREATE FUNCTION f() RETURNS void LANGUAGE plpython3u AS $$ DELETE FROM likes $$"
    assert nested_statements(split(py_fn).statements[0], py_fn) == []


def test_a_sql_standard_function_body_is_one_statement() -> None:
    text = ("CREATE OR REPLACE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n"
            "  SELECT CASE WHEN a > 0 THEN a + b ELSE b END;\n  SELECT 'end;'; -- END;\nEND;\n"
            "SELECT 1;\nCREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (1); END;\n"
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN 1;\nSELECT 2;\n")
    texts = [s.text for s in split(text).statements]
    assert len(texts) == 5
    assert texts[0].startswith("CREATE OR REPLACE FUNCTION add") and texts[0].endswith("-- END;\nEND")
    assert texts[1:] == ["SELECT 1", "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (1); END",
                         "CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN 1", "SELECT 2"]


def test_a_routine_header_with_comments_and_a_body_without_end() -> None:
    commented = ("CREATE /* c */ OR REPLACE -- c\nFUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; "
                 "SELECT 2; END;\nSELECT 3;\n")
    assert [s.text.split()[0] for s in split(commented).statements] == ["CREATE", "SELECT"]
    # a body whose END never comes runs to the end of the file, as psql reads it (one statement)
    body = "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC\n" + "INSERT INTO t VALUES (1);\n" * 4000
    (only,) = split(body).statements
    assert only.text.count("INSERT") == 4000 and not only.terminated
    # names and strings that say ATOMIC or BEGIN are not bodies
    assert len(split("CREATE TABLE atomic (id int); CREATE FUNCTION atomic() RETURNS int AS $$ BEGIN; $$ "
                     "LANGUAGE sql; SELECT 1;").statements) == 3
