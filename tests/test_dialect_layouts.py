"""A dialect per folder or file: detected from names, overridden by the config, and enforced. A rule
or fix declared for PostgreSQL never runs on a MySQL, SQLite or H2 file (issue #15)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import CORPORA, FIXTURES, lint_sql, needs_shared

from sqlguard.config import Settings
from sqlguard.migrations.dialects import dialect_of, guess, in_file_name, in_folder_name
from sqlguard.rules import ALL_RULES

MULTI = FIXTURES / "multidialect"
PG_ONLY = {r.code for r in ALL_RULES if r.dialects == ("postgres",)}


def _findings(run_cli, *args: str) -> tuple[list[dict], str]:  # type: ignore[no-untyped-def]
    r = run_cli("lint", "--no-cache", "--format", "json", "--exit-zero", *args)
    assert r.code == 0, r.err
    return json.loads(r.out), r.err


def _by_folder(found: list[dict]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for d in found:
        p = Path(d["filename"])
        key = in_file_name(p.name)[0] or p.parent.name
        out.setdefault(key, set()).add(d["code"])
    return out


def test_names_that_say_a_dialect() -> None:
    assert in_file_name("V3__x.mysql.sql") == ("mysql", "V3__x.sql")
    assert in_file_name("0001_x.up.sqlite3.sql") == ("sqlite", "0001_x.up.sql")
    assert in_file_name("0001_x.postgres.up.sql") == ("postgres", "0001_x.up.sql")
    assert in_file_name("mysql.sql") == (None, "mysql.sql")  # the stem's first part is a name, not a dialect
    assert in_file_name("V1__create_h2_table.sql") == (None, "V1__create_h2_table.sql")
    assert [in_folder_name(n) for n in ("MYSQL", "mariadb", "postgresql", "h2", "sqlite_migrations",
                                        "migrations-mysql", "pg", "migrations", "pg_stuff")] == \
        ["mysql", "mysql", "postgres", "h2", "sqlite", "mysql", "postgres", None, None]


def test_the_folder_walk_stops_at_the_checkout(tmp_path: Path) -> None:
    repo = tmp_path / "postgres" / "app"  # a clone under a folder that happens to be named like a dialect
    (repo / ".git").mkdir(parents=True)
    (repo / "db").mkdir()
    assert guess(repo / "db" / "V1__x.sql") is None
    (repo / "db" / "mysql").mkdir()
    assert guess(repo / "db" / "mysql" / "V1__x.sql") == "mysql"
    assert guess(repo / "db" / "mysql" / "V1__x.sqlite.sql") == "sqlite"  # the file's own name wins


def test_config_paths_and_the_command_line_override_the_names(tmp_path: Path) -> None:
    root = tmp_path
    s = Settings(root=root, dialects=((root / "db", "mysql"), (root / "db" / "h2", "sqlite")))
    assert dialect_of(root / "db" / "postgres" / "V1__x.sql", s) == "mysql"  # the config beats the folder name
    assert dialect_of(root / "db" / "h2" / "V1__x.sql", s) == "sqlite"  # the longest configured path wins
    assert dialect_of(root / "other" / "V1__x.sql", s) == "postgres"
    assert dialect_of(root / "other" / "V1__x.sql", Settings(root=root, dialect="sqlite")) == "sqlite"
    forced = Settings(root=root, dialect="postgres", dialect_forced=True, dialects=((root / "db", "mysql"),))
    assert dialect_of(root / "db" / "mysql" / "V1__x.mysql.sql", forced) == "postgres"


def test_a_multi_dialect_flyway_tree_gets_each_folder_its_own_rules(run_cli) -> None:  # type: ignore[no-untyped-def]
    found, err = _findings(run_cli, str(MULTI / "flyway"))
    by = _by_folder(found)
    assert {"SG50", "SG52", "SG58"} <= by["postgres"]  # the same statements, on PostgreSQL, lock tables
    assert "MYSQL" not in by  # on MySQL: no PostgreSQL rule, and no SG00 for MySQL syntax
    assert "h2" not in by  # H2 and T-SQL: the dialect-neutral rules only
    assert "2 H2 files (" in err and "2 T-SQL files (" in err and "only the dialect-neutral rules ran" in err
    tsql = sorted((d["code"], d["location"]["row"]) for d in found if "/mssql/" in d["filename"])
    # the GO batches and the procedure's body read whole: the DELETE inside it runs when it is called,
    # the DROP inside `IF OBJECT_ID(…) IS NOT NULL BEGIN … END` is conditional
    assert tsql == [("SG20", 8), ("SG21", 8), ("SG21", 9)]


def test_fix_never_touches_another_dialects_files(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tree = tmp_path / "flyway"
    shutil.copytree(MULTI / "flyway", tree)
    before = {p: p.read_bytes() for p in tree.rglob("*.sql")}
    r = run_cli("lint", "--no-cache", "--fix", "--exit-zero", str(tree))
    assert r.code == 0, r.err
    changed = {p.relative_to(tree).parts[2] for p in before if p.read_bytes() != before[p]}
    assert changed == {"postgres", "mssql"}  # SET lock_timeout, NOT VALID … only where they are PostgreSQL
    tsql = tree / "db" / "migration" / "mssql" / "V2__index_and_fk.sql"
    assert tsql.read_text(encoding="utf-8").replace("DROP TABLE IF EXISTS", "DROP TABLE", 1).encode() == before[tsql]


def test_infixes_put_each_file_in_its_dialects_history(run_cli) -> None:  # type: ignore[no-untyped-def]
    found, err = _findings(run_cli, str(MULTI / "infix"))
    by = _by_folder(found)
    assert {"SG50", "SG55", "SG58"} <= by["postgres"]
    assert not (by.get("mysql", set()) | by.get("sqlite", set())) & PG_ONLY
    assert "SG11" not in {d["code"] for d in found}  # each dialect's history creates `users` for its files
    assert "2 CockroachDB files (" in err


def test_the_config_maps_a_folder_to_a_dialect(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tree = tmp_path / "flyway"
    shutil.copytree(MULTI / "flyway", tree)
    (tree / "sqlguard.yaml").write_text("dialects:\n  db/migration/h2: mysql\n", encoding="utf-8")
    found, err = _findings(run_cli, str(tree))
    assert "H2 file" not in err  # H2 read as MySQL now
    assert not _by_folder(found).get("h2", set()) & PG_ONLY
    (tree / "sqlguard.yaml").write_text("dialects:\n  db/migration/h2: h3\n", encoding="utf-8")
    r = run_cli("lint", "--no-cache", str(tree))
    assert r.code == 2 and "unknown dialect `h3`" in r.err


def test_a_migrations_folder_may_name_its_dialect(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tree = tmp_path / "app"
    (tree / "db").mkdir(parents=True)
    shutil.copy(MULTI / "flyway" / "db" / "migration" / "MYSQL" / "V2__index_and_fk.sql", tree / "db")
    found, _ = _findings(run_cli, str(tree))
    assert PG_ONLY & {d["code"] for d in found}  # read as PostgreSQL by default: lock rules fire
    (tree / "sqlguard.yaml").write_text("migrations:\n  - path: db\n    dialect: mysql\n", encoding="utf-8")
    found, _ = _findings(run_cli, str(tree))
    assert not PG_ONLY & {d["code"] for d in found}


def test_mysql_rename_table_with_several_pairs_renames_each() -> None:
    sql = ("CREATE TABLE a_tmp (id int);\nCREATE TABLE b_tmp (id int);\n"
           "RENAME TABLE a_tmp TO a, b_tmp TO b;\nSELECT id FROM a;\nSELECT id FROM b;\n")
    assert not [d for d in lint_sql(sql, dialect="mysql") if d.code == "SG11"]


def test_every_dialect_name_means_a_known_dialect() -> None:
    from sqlguard.migrations.dialects import DIALECT_TOKENS
    from sqlguard.sql.reading import KNOWN, LABELS, SQLGLOT

    assert set(DIALECT_TOKENS.values()) == set(KNOWN) == set(SQLGLOT) == set(LABELS)


def test_tsql_is_split_as_sqlcmd_splits_it() -> None:
    """At `GO` lines (`GO 2` too), never inside a routine (its body is the rest of the batch), a `BEGIN … END`
    block, brackets, strings or comments; `BEGIN TRAN` opens no block."""
    from sqlguard.sql.lex import lex
    from sqlguard.sql.split import split

    sql = ("IF OBJECT_ID(N'x') IS NULL\nBEGIN\n  CREATE TABLE x (id int);\n  CREATE INDEX i ON x (id);\nEND;\n"
           "BEGIN TRANSACTION;\nDELETE FROM [a;b] WHERE n = ';';\nCOMMIT;\n/* GO\n*/\ngo\n"
           "CREATE OR ALTER PROCEDURE p AS\nBEGIN\n  DELETE FROM x;\nEND;\nSELECT 1;\n  GO 2\nDROP TABLE [x]]y];")
    got = [s.text for s in split(sql, "mssql").statements]
    assert got == ["IF OBJECT_ID(N'x') IS NULL\nBEGIN\n  CREATE TABLE x (id int);\n  CREATE INDEX i ON x (id);\nEND",
                   "BEGIN TRANSACTION", "DELETE FROM [a;b] WHERE n = ';'", "COMMIT",
                   "CREATE OR ALTER PROCEDURE p AS\nBEGIN\n  DELETE FROM x;\nEND;\nSELECT 1;", "DROP TABLE [x]]y]"]
    assert [t.value for t in lex("DROP TABLE [x]]y].[z]", "mssql")] == ["DROP", "TABLE", "x]y", ".", "z"]


def test_oracle_is_split_as_sqlplus_splits_it() -> None:
    """A PL/SQL unit or anonymous block runs to its `/` line; other statements end at `;`."""
    from sqlguard.sql.split import split

    sql = ("CREATE TABLE a (id NUMBER);\nCREATE OR REPLACE PROCEDURE p IS\nBEGIN\n  DELETE FROM a;\nEND;\n/\n"
           "BEGIN\n  EXECUTE IMMEDIATE 'DROP TABLE b';\nEXCEPTION WHEN OTHERS THEN NULL;\nEND;\n/\n"
           "ALTER PROCEDURE p COMPILE;\nDROP TABLE a;\n")
    got = [s.text for s in split(sql, "oracle").statements]
    assert got == ["CREATE TABLE a (id NUMBER)", "CREATE OR REPLACE PROCEDURE p IS\nBEGIN\n  DELETE FROM a;\nEND;",
                   "BEGIN\n  EXECUTE IMMEDIATE 'DROP TABLE b';\nEXCEPTION WHEN OTHERS THEN NULL;\nEND;",
                   "ALTER PROCEDURE p COMPILE", "DROP TABLE a"]
    found = {(d.code, sql[d.span.start:d.span.end]) for d in lint_sql(sql, dialect="oracle")}
    # Oracle has no DROP … IF EXISTS (before 23ai): no SG20; the procedure's body runs later
    assert found == {("SG21", "DROP TABLE a")}


def test_nothing_to_lint_is_said(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("lint", "--no-cache", str(tmp_path))
    assert r.code == 0
    assert "nothing to lint" in r.err


@needs_shared
@pytest.mark.parametrize("history", ["openfga-goose/assets/migrations", "memos-multidialect/store/migration",
                                     "harness-golang-migrate/app/store/database/migrate"])
def test_real_multi_dialect_histories_get_no_postgres_rule_off_postgres(run_cli, history: str) -> None:  # type: ignore[no-untyped-def]
    found, _ = _findings(run_cli, str(CORPORA / history))
    off = [d for d in found if "/postgres/" not in d["filename"] and d["code"] in PG_ONLY]
    assert off == []
    assert any(d["code"] in PG_ONLY for d in found if "/postgres/" in d["filename"])


def test_inspect_shows_how_each_history_is_read(run_cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(MULTI)
    r = run_cli("inspect", "--format", "json")
    assert r.code == 0, r.err
    found = {(h["folder"], h["dialect"]): h for h in json.loads(r.out)}
    assert set(found) == {("flyway/db/migration/MYSQL", "mysql"), ("flyway/db/migration/h2", "h2"),
                          ("flyway/db/migration/mssql", "mssql"),
                          ("flyway/db/migration/postgres", "postgres"), ("infix/migrations", "cockroachdb"),
                          ("infix/migrations", "mysql"), ("infix/migrations", "postgres"),
                          ("infix/migrations", "sqlite")}
    mysql = found[("flyway/db/migration/MYSQL", "mysql")]
    assert (mysql["convention"], mysql["dialect_from"], mysql["read"], mysql["migrations"], mysql["first"],
            mysql["last"]) == ("flyway", "the folder name `MYSQL`", True, 2, "1", "2")
    assert mysql["config"] == "migrations: [{path: flyway/db/migration/MYSQL, convention: flyway, dialect: mysql}]"
    assert not found[("flyway/db/migration/h2", "h2")]["read"]
    # a dialect the file names say is each file's: pinning the folder to one would override the others
    assert found[("infix/migrations", "sqlite")]["config"] == \
        "migrations: [{path: infix/migrations, convention: golang-migrate}]"
    text = run_cli("inspect", "flyway")
    assert text.code == 0 and "dialect      h2 (from the folder name `h2`): only the dialect-neutral rules" in text.out
    assert run_cli("inspect", "nowhere").code == 2


def test_inspect_names_the_migrations_that_run_outside_a_transaction(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    m = tmp_path / "m"
    m.mkdir()
    (m / "20190611004000_create.up.sql").write_text("CREATE TABLE t (id int);\n", encoding="utf-8")
    (m / "20250912000000_idx.autocommit.up.sql").write_text("CREATE INDEX CONCURRENTLY i ON t (id);\n",
                                                            encoding="utf-8")
    (m / "20250913000000_idx2.up.sql").write_text("-- sqlguard: transaction=off\nCREATE INDEX CONCURRENTLY j "
                                                  "ON t (id);\n", encoding="utf-8")
    [h] = json.loads(run_cli("inspect", "--format", "json", str(m)).out)
    assert h["outside"] == ["20250912000000_idx.autocommit.up.sql", "20250913000000_idx2.up.sql"]
    assert "2 run outside one" in h["transaction"]
