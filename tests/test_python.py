"""SQL in Python: what SG40 flags and what it leaves alone, SQL rules inside Python strings, Alembic."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import lint_sql


def sg40(code: str) -> list[tuple[int, str]]:
    """(line, severity) of each SG40 finding on a Python module."""
    source = textwrap.dedent(code).encode()
    from sqlguard.sql.text import SourceText

    diags = [d for d in lint_sql(source, filename="app.py", select=("SG40",))]
    text = SourceText("app.py", source.decode())
    return [(text.location(d.span.start)[0], d.severity) for d in diags]


# A parameter no caller in the project fills is a warning (its origin is unknown); what the callers pass
# decides otherwise (see test_callers_decide_a_parameters_severity).
FLAGGED = {
    "f-string of a parameter": ("""
        def f(cur, name):
            cur.execute(f"SELECT * FROM users WHERE name = '{name}'")
        """, [(3, "warning")]),
    "% formatting": ("""
        def f(cur, name):
            cur.execute("SELECT * FROM users WHERE name = '%s'" % name)
        """, [(3, "warning")]),
    ".format": ("""
        def f(cur, name):
            cur.execute("SELECT * FROM users WHERE name = '{}'".format(name))
        """, [(3, "warning")]),
    "+ concatenation": ("""
        def f(cur, name):
            cur.execute("SELECT * FROM users WHERE name = '" + name + "'")
        """, [(3, "warning")]),
    "+= in a variable": ("""
        def f(cur, user_id):
            q = "SELECT * FROM likes"
            q += f" WHERE user_id = {user_id}"
            cur.execute(q)
        """, [(5, "warning")]),
    "join of values": ("""
        def f(cur, names):
            cur.execute("SELECT * FROM users WHERE name IN (" + ",".join(names) + ")")
        """, [(3, "warning")]),
    "template held in a variable, formatted later": ("""
        TEMPLATE = "SELECT * FROM users WHERE id = {}"
        def f(cur, uid):
            sql = TEMPLATE.format(uid)
            cur.execute(sql)
        """, [(5, "warning")]),
    "multi-line query, literals split across lines": ("""
        def f(cur, city):
            cur.execute(
                "SELECT id FROM users "
                f"WHERE city = '{city}' "
                "ORDER BY id"
            )
        """, [(4, "warning")]),
    "fragment without keywords to text()": ("""
        from sqlalchemy import text
        def f(session, name):
            return session.execute(text("name = '%s'" % name))
        """, [(4, "warning")]),
    "executescript": ("""
        def f(conn, table):
            conn.executescript(f"DROP TABLE {table};")
        """, [(3, "warning")]),
    "aliased sink": ("""
        def f(cur, name):
            run = cur.execute
            run(f"DELETE FROM likes WHERE name = '{name}'")
        """, [(4, "warning")]),
    "wrapped sink": ("""
        def run_sql(sql):
            cursor.execute(sql)
        def f(name):
            run_sql(f"SELECT * FROM users WHERE name = '{name}'")
        """, [(5, "warning")]),
    "helper function": ("""
        def build(name):
            return f"SELECT * FROM users WHERE name = '{name}'"
        def f(cur, name):
            cur.execute(build(name))
        """, [(5, "warning")]),
    "request data in a Flask view": ("""
        from flask import request
        def view(cur):
            cur.execute("SELECT * FROM users WHERE id = " + request.args["id"])
        """, [(4, "error")]),
    "Django raw and extra": ("""
        def f(name):
            User.objects.raw(f"SELECT * FROM users WHERE name = '{name}'")
            User.objects.extra(where=[f"name = '{name}'"])
        """, [(3, "warning"), (4, "warning")]),
    "asyncpg fetch": ("""
        import asyncpg
        async def f(conn, name):
            return await conn.fetch(f"SELECT * FROM users WHERE name = '{name}'")
        """, [(4, "warning")]),
    "a quoting helper that does not double quotes": ("""
        def q(name):
            return f'"{name}"'
        def f(cur, table):
            cur.execute(f"SELECT count(*) FROM {q(table)}")
        """, [(5, "warning")]),
    "psycopg sql.SQL of a parameter inside a composition": ("""
        from psycopg import sql
        def f(cur, expr):
            cur.execute(sql.SQL("SELECT * FROM t ORDER BY {}").format(sql.SQL(expr)))
        """, [(4, "warning")]),
    "a fragment list that takes request data": ("""
        from flask import request
        def f(cur):
            where = []
            where.append("city = '" + request.args["city"] + "'")
            cur.execute("SELECT * FROM customers WHERE " + " AND ".join(where))
        """, [(6, "error")]),
    "re.match anchored only at the start": ("""
        import re
        def f(cur, table):
            if not re.match(r"[a-z_]+", table):
                raise ValueError(table)
            cur.execute(f"ANALYZE {table}")
        """, [(6, "warning")]),
    "a configuration file the code reads itself": ("""
        import json
        CONFIG = json.load(open("etl.json"))
        def f(cur):
            cur.execute(f"SELECT * FROM t ORDER BY {CONFIG['order']}")
        """, [(5, "warning")]),
    "values the database returned: a second-order risk": ("""
        async def f(cur, conn):
            table = cur.execute("SELECT name FROM t").fetchone()[0]
            cur.execute(f"SELECT count(*) FROM {table}")
            target = await conn.fetchval("SELECT archive_table FROM archive_config LIMIT 1")
            await conn.execute(f"INSERT INTO {target} SELECT * FROM events")
        """, [(4, "warning"), (6, "warning")]),
    "SQLAlchemy quoted_name inside an f-string (the raw string there)": ("""
        from sqlalchemy import quoted_name, text
        def f(session, year):
            name = quoted_name(f"invoices_{year}", quote=True)
            session.execute(text(f"SELECT * FROM {name}"))
        """, [(5, "warning")]),
    "peewee execute_sql, records query and duckdb sql": ("""
        import duckdb
        import peewee
        import records
        def f(db, reports, con, handle):
            db.execute_sql(f"UPDATE player SET rating = 0 WHERE handle = '{handle}'")
            reports.query("SELECT * FROM player WHERE team = '" + handle + "'")
            con.sql(f"SELECT * FROM events WHERE country = '{handle}'")
        """, [(6, "warning"), (7, "warning"), (8, "warning")]),
    "pandas read_sql": ("""
        import pandas as pd
        def f(engine, day):
            return pd.read_sql(f"SELECT * FROM likes WHERE day = '{day}'", engine)
        """, [(4, "warning")]),
}

NOT_FLAGGED = {
    "checked by the caller, then built by a helper": """
        import re
        from flask import abort, request
        ALLOWED = ("active", "pending")
        ORDER = r"[a-z_]{1,32}"
        def _build(status):
            return "SELECT id FROM users WHERE status = '" + status + "'"
        def view(cur):
            status = request.args.get("status", "active")
            if status not in ALLOWED:
                abort(400)
            cur.execute(_build(status))
            order = request.args.get("order", "id")
            if not re.fullmatch(ORDER, order):
                abort(400)
            category = request.args["c"]
            if category not in ("books", "music"):
                return "bad"
            cur.execute(f"SELECT * FROM products WHERE category = '{category}' ORDER BY {order}")
        """,
    "fragments that are each constant, joined": """
        from flask import request
        def f(cur):
            where, params = [], []
            if request.args.get("city"):
                where.append("city = %s")
                params.append(request.args["city"])
            cur.execute("SELECT * FROM customers WHERE " + " AND ".join(where), params)
        """,
    "an allow-list guard that aborts, a constant map to numbers, quoted parts joined": """
        from flask import abort, request
        SORTABLE = ("name", "price")
        CODES = {"new": 0, "paid": 1}
        def f(cur, preparer):
            sort = request.args.get("sort", "name")
            if sort not in SORTABLE:
                abort(400)
            code = CODES.get(request.args.get("status"), 0)
            cur.execute(f"SELECT * FROM products WHERE status = {code} ORDER BY {sort}")
            name = preparer.quote_identifier("snapshots") + "." + preparer.quote_identifier(request.args["n"])
            cur.execute(f"SELECT * FROM {name}")
        """,
    "framework settings, typed parameters and enums": """
        import enum
        from django.conf import settings
        class Status(str, enum.Enum):
            NEW = "new"
        def f(cur, tenant: int, status: Status, day: "date | None" = None):
            schema = settings.REPORTING_SCHEMA
            cur.execute(f"SELECT * FROM {schema}.monthly WHERE tenant = {tenant} AND status = '{status.value}'")
            ids = [int(x) for x in settings.IDS]
            cur.execute("SELECT * FROM t WHERE id IN (" + ",".join(str(i) for i in ids) + ")")
        """,
    "the project's own quoting helper, which doubles quotes": """
        def q(name):
            return '"' + name.replace('"', '""') + '"'
        def f(cur, table):
            cur.execute(f"SELECT count(*) FROM {q(table)}")
        """,
    "constants only": """
        BASE = "SELECT id FROM users"
        def f(cur):
            cur.execute(BASE + " WHERE active")
            cur.execute("SELECT 1 " "FROM users")
        """,
    "parameters passed separately": """
        def f(cur, name, conn, session):
            cur.execute("SELECT * FROM users WHERE name = %s", (name,))
            cur.execute("SELECT * FROM users WHERE name = ?", [name])
            conn.fetch("SELECT * FROM users WHERE name = $1", name)
            session.execute(text("SELECT * FROM users WHERE name = :name"), {"name": name})
        """,
    "placeholder lists": """
        def f(cur, ids):
            marks = ",".join(["%s"] * len(ids))
            cur.execute(f"SELECT * FROM users WHERE id IN ({marks})", ids)
            cur.execute("SELECT * FROM users WHERE id IN (%s)" % ", ".join("?" * len(ids)), ids)
        """,
    "identifier composition with quoting": """
        from psycopg import sql
        def f(cur, table, conn):
            cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
            cur.execute(f"SELECT * FROM {quote_ident(table, conn)}")
        """,
    "allow-list lookup and guard": """
        COLUMNS = {"new": "created_at", "name": "display_name"}
        ALLOWED = ("created_at", "display_name")
        def f(cur, key, col):
            cur.execute(f"SELECT * FROM users ORDER BY {COLUMNS[key]}")
            if col not in ALLOWED:
                raise ValueError(col)
            cur.execute(f"SELECT * FROM users ORDER BY {col}")
        """,
    "provably numeric": """
        def f(cur, limit, ids):
            cur.execute(f"SELECT * FROM users LIMIT {int(limit)}")
            cur.execute("SELECT * FROM users LIMIT %d" % limit)
            cur.execute(f"SELECT * FROM users LIMIT {len(ids)}")
        """,
    "log, exception and print text": """
        def f(table, user):
            logger.info(f"DELETE FROM {table} for {user}")
            print("SELECT * FROM %s" % table)
            raise ValueError(f"UPDATE {table} failed")
        """,
}


@pytest.mark.parametrize("name", list(FLAGGED))
def test_flagged(name: str) -> None:
    code, expected = FLAGGED[name]
    assert sg40(code) == expected


@pytest.mark.parametrize("name", list(NOT_FLAGGED))
def test_not_flagged(name: str) -> None:
    assert sg40(NOT_FLAGGED[name]) == []


def test_message_names_the_value_and_the_placeholder_style() -> None:
    code = b"import sqlite3\ndef f(conn, name):\n    conn.execute(f\"SELECT 1 FROM users WHERE name = '{name}'\")\n"
    (d,) = lint_sql(code, filename="a.py", select=("SG40",))
    assert "`name`" in d.message and "`conn.execute`" in d.message
    assert d.help and "`?` placeholders" in d.help
    code = b"from sqlalchemy import text\ndef f(s, n):\n    s.execute(text(f\"SELECT 1 WHERE a = {n}\"))\n"
    (d,) = lint_sql(code, filename="a.py", select=("SG40",))
    assert d.help and ":n" in d.help


def test_sql_rules_apply_to_sql_in_python_at_the_right_position() -> None:
    code = 'def f(cur):\n    cur.execute(\n        "SELECT id "\n        "FROM profiles WHERE id = %s", (1,))\n'
    (d,) = [d for d in lint_sql(code, filename="a.py") if d.code == "SG10"]
    line_start = code.index('        "FROM')
    assert d.span.start == code.index("profiles") and code.count("\n", 0, line_start) + 1 == 4
    escaped = 'def f(cur):\n    cur.execute("SELECT \\"id\\" FROM user_account")\n'
    (d,) = [d for d in lint_sql(escaped, filename="a.py") if d.code == "SG11"]
    assert escaped[d.span.start:d.span.end] == "user_account"


def test_alembic_migrations_are_linted_like_sql_migrations() -> None:
    code = textwrap.dedent('''
        from alembic import op
        def upgrade():
            op.create_foreign_key("fk_likes_user", "likes", "profiles", ["user_id"], ["id"])
            op.execute("DELETE FROM likes")
            op.drop_table("legacy_sessions")
        def downgrade():
            op.drop_table("likes", if_exists=True)
        ''')
    diags = lint_sql(code, filename="versions/abc_add_likes.py")
    found = {(d.code, code[d.span.start:d.span.end][:30]) for d in diags}
    assert ("SG10", "profiles") in found
    assert ("SG21", "DELETE FROM likes") in found
    assert ("SG20", 'op.drop_table("legacy_sessions') in found
    assert not [d for d in diags if d.code == "SG20" and "if_exists" in code[d.span.start:d.span.end + 30]]
    assert all(d.fix is None for d in diags)  # no SQL edits inside Python code


def test_suppression_comments_in_python() -> None:
    code = ("def f(cur, n):\n"
            "    cur.execute(f\"SELECT {n}\")  # sqlguard: ignore SG40 -- n is validated by the caller\n"
            "    cur.execute(f\"SELECT {n}\")  # noqa: SG40\n"
            "    cur.execute(f\"SELECT {n}\")  # noqa: E501\n")
    assert [(d.code, d.span.start > code.index("E501") - 40) for d in lint_sql(code, filename="a.py")] == [
        ("SG40", True)]


def test_python_is_parsed_never_run(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "ran"
    f = tmp_path / "evil.py"
    f.write_text(f"open({str(marker)!r}, 'w').write('x')\nraise SystemExit(3)\n")
    res = run_cli("lint", str(f))
    assert res.code == 0 and not marker.exists()


def test_a_python_syntax_error_is_reported_with_a_position() -> None:
    (d,) = lint_sql(b"def f(:\n    pass\n", filename="broken.py")
    assert d.code == "SG00" and "SyntaxError" in d.message and d.span.start == 6


def test_folders_with_python_files_are_walked(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "repo.py").write_text("def f(c, x):\n    c.execute(f'SELECT {x}')\n")
    items = json.loads(run_cli("lint", "--format", "json", str(tmp_path)).out)
    assert [(i["code"], i["severity"], i["location"]) for i in items] == [("SG40", "warning", {"row": 2, "column": 15})]


def test_recursive_helpers_and_driver_style_apis_are_not_noise() -> None:
    code = '''
def render(node, depth):
    if depth:
        return render(node, depth - 1) + " x"
    return f"{node}"

class Connection:
    def execute(self, query, params=None):
        cur = self.cursor()
        cur.execute(query, params)
        return cur

def run(plan_source):
    return Executor().execute(Plan(plan_source))
'''
    assert lint_sql(code, filename="driver.py") == []


def test_a_file_that_starts_with_a_byte_order_mark_is_parsed(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bom.py"
    path.write_bytes(b"\xef\xbb\xbfimport sqlite3\ndef f(c, name):\n"
                     b"    c.execute(f\"SELECT * FROM users WHERE name = {name}\")\n")
    res = run_cli("lint", "--no-cache", "--format", "json", str(path))
    found = [(d["code"], d["location"]["row"], d["location"]["column"]) for d in json.loads(res.out)]
    assert found == [("SG40", 3, 15)]


CALLEE = """
def find(cur, name):
    cur.execute(f"SELECT * FROM users WHERE name = '{name}'")
"""


@pytest.mark.parametrize(("caller", "expected"), [
    ("", [(3, "warning")]),  # no caller in the project: where `name` comes from is unknown
    ("from flask import request\ndef view(cur):\n    find(cur, request.args['n'])\n", [(3, "error")]),
    ("import sys\ndef main(cur):\n    find(cur, sys.argv[1])\n", [(3, "error")]),
    ("import os\ndef job(cur):\n    find(cur, os.getenv('TARGET'))\n", [(3, "error")]),
    ("def job(cur):\n    with open('names.txt') as f:\n        for line in f.readlines():\n"
     "            find(cur, line.strip())\n", [(3, "error")]),
    ("import argparse\ndef main(cur):\n    args = argparse.ArgumentParser().parse_args()\n"
     "    find(cur, args.name)\n", [(3, "error")]),
    ("def job(cur):\n    find(cur, 'admin')\n    find(cur, name='root')\n", []),  # constants only
    ("def job(cur):\n    for (owner,) in cur.fetchall():\n        find(cur, owner)\n",
     [(3, "warning")]),  # query results: a second-order risk
    ("from django.conf import settings\ndef job(cur):\n    find(cur, settings.ADMIN_NAME)\n", []),
    ("def job(cur):\n    find(cur, 'admin')\ndef other(cur, who):\n    find(cur, who)\n",
     [(3, "warning")]),  # a caller's own parameter with no caller of its own: unknown again
    ("from flask import request\ndef outer(cur, who):\n    find(cur, who)\ndef view(cur):\n"
     "    outer(cur, request.form['who'])\n", [(3, "error")]),  # two calls deep
])
def test_callers_decide_a_parameters_severity(caller: str, expected: list[tuple[int, str]]) -> None:
    assert sg40(CALLEE + caller) == expected


def test_callers_in_other_files_of_the_run_count(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The project is every Python file of the run: a caller in another module decides, and a change to
    that module changes the finding (the cache keys on it too)."""
    (tmp_path / "repo.py").write_text(CALLEE, encoding="utf-8")
    views = tmp_path / "views.py"
    views.write_text("from repo import find\ndef job(cur):\n    find(cur, 'admin')\n", encoding="utf-8")
    run = lambda: [(i["filename"].rsplit("/", 1)[-1], i["severity"])  # noqa: E731
                   for i in json.loads(run_cli("lint", "--format", "json", "--exit-zero", str(tmp_path)).out)]
    assert run() == []
    views.write_text("from flask import request\nfrom repo import find\ndef view(cur):\n"
                     "    find(cur, request.args['name'])\n", encoding="utf-8")
    assert run() == [("repo.py", "error")]


def test_code_that_queries_what_the_migrations_removed(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """SG41 on an app folder next to its migrations (the docs' example): found with the histories of the
    run's SQL files, and with the configured `migrations` folder when only the code is linted."""
    from sqlguard.rules.sg41_removed_in_migrations import RULE

    (tmp_path / "migrations").mkdir()
    (tmp_path / "app").mkdir()
    (tmp_path / "migrations" / "20240101090000_create_profiles.sql").write_text(
        "CREATE TABLE profiles (id bigint PRIMARY KEY, email text);\n", encoding="utf-8")
    migration, code = RULE.section("Example").split("# app/repo.py")
    (tmp_path / "migrations" / "20240301090000_rename_profiles.sql").write_text(
        migration.split("\n", 1)[1], encoding="utf-8")
    (tmp_path / "app" / "repo.py").write_text(code.strip() and "def f(cur, email):\n    " + code.strip() + "\n",
                                              encoding="utf-8")

    def found(*args: str) -> list[str]:
        out = json.loads(run_cli("lint", "--format", "json", "--select", "SG41", "--exit-zero", *args).out)
        return [d["message"] for d in out]

    expected = ["table `profiles` is queried here, but migration `20240301090000_rename_profiles.sql` renamed it to "
                "`users`."]
    assert found(str(tmp_path)) == expected
    assert found(str(tmp_path / "app")) == []  # no history in the run, none configured
    (tmp_path / "sqlguard.yaml").write_text("migrations: [{path: migrations, convention: sqlguard}]\n",
                                            encoding="utf-8")
    assert found(str(tmp_path / "app")) == expected
    fixed = RULE.section("Use instead").strip()
    (tmp_path / "app" / "repo.py").write_text("def f(cur, email):\n    " + fixed + "\n", encoding="utf-8")
    assert found(str(tmp_path)) == []


@pytest.mark.parametrize(("before", "after"), [
    # a value, quoted or not: the driver's placeholders and a parameter tuple (`%` doubled for `%s`)
    ("import psycopg\ndef f(cur, name, n):\n"
     "    cur.execute(f\"SELECT * FROM users WHERE name = '{name}' AND code LIKE 'x%' AND n > {n}\")\n",
     "import psycopg\ndef f(cur, name, n):\n"
     "    cur.execute(\"SELECT * FROM users WHERE name = %s AND code LIKE 'x%%' AND n > %s\", (name, n))\n"),
    ("import sqlite3\ndef f(db, uid):\n    db.execute(f\"DELETE FROM likes WHERE user_id = {uid}\")\n",
     "import sqlite3\ndef f(db, uid):\n    db.execute(\"DELETE FROM likes WHERE user_id = ?\", (uid,))\n"),
    # a name, with psycopg's sql module at hand: sql.Identifier inside sql.SQL
    ("from psycopg import sql\ndef f(cur, table, uid):\n"
     "    cur.execute(f\"SELECT * FROM {table} WHERE id = {uid}\")\n",
     "from psycopg import sql\ndef f(cur, table, uid):\n"
     "    cur.execute(sql.SQL(\"SELECT * FROM {} WHERE id = {}\").format(sql.Identifier(table), sql.Literal(uid)))\n"),
])
def test_fix_rewrites_what_is_certain(run_cli, tmp_path: Path, before: str, after: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "repo.py"
    path.write_text(before, encoding="utf-8")
    res = run_cli("lint", "--select", "SG40", "--fix", "--no-cache", "--exit-zero", str(path))
    assert res.code == 0, res.err
    assert path.read_text(encoding="utf-8") == after
    assert json.loads(run_cli("lint", "--select", "SG40", "--no-cache", "--format", "json", "--exit-zero",
                              str(path)).out) == []


@pytest.mark.parametrize("code", [
    "def f(cur, q):\n    cur.execute(f\"SELECT * FROM users WHERE email LIKE '%{q}%'\")\n",  # inside a pattern
    "def f(cur, t):\n    cur.execute(f\"SELECT * FROM {t}\")\n",  # a name, and no psycopg.sql to quote it
    "def f(cur, c, v):\n    cur.execute(f\"SELECT {c} FROM t WHERE a = {v}\")\n",  # a select list
    "def f(cur, v):\n    cur.execute(f\"SELECT * FROM t WHERE a = {v!r}\")\n",  # a conversion
])
def test_fix_leaves_what_is_not_certain_to_the_help(run_cli, tmp_path: Path, code: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "repo.py"
    path.write_text(code, encoding="utf-8")
    found = json.loads(run_cli("lint", "--select", "SG40", "--no-cache", "--format", "json", "--exit-zero",
                               str(path)).out)
    assert found and all(d["fix"] is None and d["help"] for d in found)


def test_a_caller_that_checks_before_calling_decides_too(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The check is in one file, the SQL in another: the project summary reads the caller's allow-list."""
    (tmp_path / "repo.py").write_text(CALLEE, encoding="utf-8")
    (tmp_path / "views.py").write_text(
        "from flask import abort, request\nfrom repo import find\nNAMES = ('admin', 'root')\n"
        "def view(cur):\n    who = request.args['who']\n    if who not in NAMES:\n        abort(403)\n"
        "    find(cur, who)\n", encoding="utf-8")
    found = json.loads(run_cli("lint", "--format", "json", "--exit-zero", "--no-cache", str(tmp_path)).out)
    assert found == []
