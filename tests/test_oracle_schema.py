"""The schema oracle and the rollback oracle (issue #14): the PostgreSQL histories of ../shared/corpora,
applied to a real server migration by migration, against sqlguard's static replay.

Schema: after every migration the database's catalog (`sqlguard.live.introspect`) must equal the
replay's schema (`Timeline.after(i)`) under the one `diff`. Rollback: a migration whose generated
rollback (`sqlguard rollback-gen`) has no `-- MANUAL:` step, applied and then undone by that rollback,
must leave the schema it found (checked inside a transaction that is then rolled back, so the history
goes on from the migrated schema).

Each history gets one database. Its migrations run as their runner runs them: a dbmate / goose file's
up section only, inside one transaction when the runner wraps the file, statement by statement so
that a failure names its statement. A role the server lacks is created and the migration tried again.
A migration a vanilla server cannot run ends its history there (`STOPS` says where and why). Every
other difference is a bug of the replay or of the rollback generator, unless `SCHEMA_EXCEPTIONS` or
`ROLLBACK_EXCEPTIONS` name it with its reason; an exception that no longer happens fails the test too,
so that the lists stay true. `GAPS` holds small scripts for what PostgreSQL does its own way and the
corpora never show (partitions, LIKE, CREATE TABLE … AS, names it chooses, renames columns follow).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from conftest import CORPORA, create_database, drop_database, needs_shared

pytestmark = pytest.mark.live

# supabase-storage's folders are forward-only numbered SQL, which is never guessed from a listing.
NUMBERED = ("supabase-storage/migrations/tenant", "supabase-storage/migrations/multitenant",
            "supabase-storage/migrations/vector_store")

# What a history's runner does before the first migration, which the files do not say: label -> (SQL,
# why). It runs on the server and is replayed as the history's starting schema.
PRELUDES: dict[str, tuple[str, str]] = {
    "harness-golang-migrate/app/store/database/migrate/postgres": (
        "CREATE TABLE IF NOT EXISTS migrations (version text NOT NULL)",
        "harness runs these files with maragudk/migrate, which creates its `migrations` table first "
        "(createMigrationsTable); 0000_alter_table_migrations adds its primary key"),
    "redgate-flyway-undo-pg/migrations": (
        "CREATE SCHEMA customers; CREATE SCHEMA inventory; CREATE SCHEMA sales",
        "Flyway creates the schemas its configuration lists before the first migration; the baseline "
        "(a Redgate Compare script) creates tables in them"),
}

# Where a history cannot go on on a vanilla PostgreSQL 15: its label -> (the migration that fails, why,
# a piece of the error that says so). The migrations before it are compared.
STOPS: dict[str, tuple[str, str, str]] = {
    "chatbot-ui-supabase/supabase/migrations": (
        "20240108234540_setup.sql", "needs the `http` extension (pgsql-http), which Debian's PostgreSQL 15 "
        "does not ship", 'extension "http" is not available'),
    "supabase-auth/migrations": (
        "00_init_auth_schema.up.sql", "every file holds Go template placeholders (`{{ index .Options "
        "\"Namespace\" }}`) that the auth server fills in", "template placeholder"),
    "supabase-postgres-dbmate/migrations/db/init-scripts": (
        "00000000000000-initial-schema.sql", "needs the `pgjwt` extension, which Debian's PostgreSQL 15 does "
        "not ship", 'extension "pgjwt" is not available'),
    "supabase-postgres-dbmate/migrations/db/migrations": (
        "10000000000000_demote-postgres.sql", "runs on what init-scripts/ makes (the `auth` and `storage` "
        "schemas, Supabase's roles), and init-scripts/ stops at pgjwt", 'schema "auth" does not exist'),
    "supabase-storage/migrations/multitenant": (
        "0022-iceberg-catalog-sharding.sql", "reads the setting `storage.iceberg_shards`, which storage's "
        "server sets; without it, its fallback `'[]::text[]'` is no array literal", "malformed array literal"),
    "supabase-storage/migrations/tenant": (
        "0047-iceberg-table-metadata.sql", "alters `iceberg_namespaces` (made in the `storage` schema by 0038) "
        "without naming its schema: it needs a search_path that starts with `storage`, as storage's runner "
        "has it", 'relation "iceberg_namespaces" does not exist'),
    "supabase-storage/migrations/vector_store": (
        "0001-init.sql", "needs the `vector` extension (pgvector), which Debian's PostgreSQL 15 does not ship",
        'extension "vector" is not available'),
}

# Known differences between the server and the replay: (history, migration) -> {difference: reason}.
# A difference is `<added|removed|changed> <object> <name>` as `diff(replay, server)` reports it
# ("added": the server has it and the replay does not). It is accepted from that migration on, for as
# long as it stays the same.
SCHEMA_EXCEPTIONS: dict[tuple[str, str], dict[str, str]] = {}

# Known rollback failures: (history, migration) -> {difference, or `error`: reason}.
ROLLBACK_EXCEPTIONS: dict[tuple[str, str], dict[str, str]] = {
    ("supabase-storage/migrations/tenant", "0002-storage-schema.sql"): {
        "error": "the migration also creates functions in `storage` (storage.foldername, storage.search, …), "
                 "which the model does not hold: the rollback's `DROP SCHEMA storage` fails on them, and rightly "
                 "has no CASCADE (the migration creates the schema only when it is missing)"},
}


@dataclass
class Outcome:
    """What one history did on the server."""

    compared: int = 0  # migrations compared with the replay
    matched: int = 0  # of which equal, without any exception
    rollbacks: int = 0  # generated rollbacks tried
    stopped: tuple[str, str] | None = None  # (migration, error)
    problems: list[str] = field(default_factory=list)
    used: set[tuple[str, str, str]] = field(default_factory=set)  # (kind, migration, difference)


@cache
def _run() -> Any:
    from sqlguard.config import MigrationFolder, Settings
    from sqlguard.lint.engine import Run

    folders = tuple(MigrationFolder((CORPORA / f).resolve(), "numbered") for f in NUMBERED)
    return Run.create(Settings(dialect="postgres", migrations=folders), None)


def postgres_histories() -> list[tuple[str, Any]]:
    """(label, history) of every PostgreSQL history the corpora hold: their folder under the corpora."""
    if not CORPORA.is_dir():
        return []
    run = _run()
    out = []
    for corpus in sorted(p for p in CORPORA.iterdir() if p.is_dir()):
        for history in run.history_index().histories(corpus.resolve()):
            label = history.folder.relative_to(CORPORA.resolve()).as_posix()
            if re.search(r"mysql|mssql|sqlite", label):
                continue  # another dialect's history (SOURCES.md: the corpus, or its folder per dialect)
            out.append((label, history))
    return out


HISTORIES = postgres_histories()


def required_histories(history: Any) -> list[Any]:
    """The histories of the projects a sqitch plan requires (`[other:change]`), to deploy first, as the
    replay starts from their schema (`Run.timeline`)."""
    if history.convention != "sqitch":
        return []
    plan = (history.folder / "sqitch.plan").read_text(encoding="utf-8", errors="replace")
    wanted = {dep.split(":", 1)[0] for deps in re.findall(r"\[([^\]]*)\]", plan) for dep in deps.split() if ":" in dep}
    out = []
    for other in sorted(history.folder.parent.rglob("sqitch.plan")):
        if other.parent == history.folder:
            continue
        m = re.search(r"^%project=(\S+)", other.read_text(encoding="utf-8", errors="replace")[:2000], re.M)
        if m is not None and m.group(1) in wanted:
            out.extend(h for h in _run().history_index().histories(other.parent) if h.folder == other.parent)
    return out


def _timeline(label: str, history: Any) -> Any:
    """The replay of `history`: the linter's, or, after a prelude, one that starts from the prelude."""
    from sqlguard.lint.engine import _read_text
    from sqlguard.schema.replay import SchemaBuilder
    from sqlguard.schema.timeline import Timeline, statements_of

    if label not in PRELUDES:
        return _run().timeline(history)
    builder = SchemaBuilder()
    for stmt in statements_of(PRELUDES[label][0], "postgres"):
        builder.apply_text(stmt)
    return Timeline(history, "postgres", _read_text, builder.freeze())


# --- running migrations as their runner does -------------------------------------------------------

class CannotRun(Exception):
    """The server refused a statement (or sqlguard cannot send the file)."""


def run_script(conn: Any, script: Any, roles: list[str]) -> None:
    """Run a `Script`'s statements: in one transaction when it is wrapped, else one by one with its own
    BEGIN / COMMIT. A missing role is created (its name appended to `roles`) and the transaction the
    failure ended is run again."""
    import psycopg
    from psycopg import sql

    statements = script.to_run()
    i = 0
    begin: int | None = None  # the open BEGIN of an unwrapped file
    if script.wrapped:
        conn.execute("BEGIN")
    while i < len(statements):
        s = statements[i]
        try:
            conn.execute(s.text.encode("utf-8", errors="surrogateescape"))
        except psycopg.Error as err:
            if script.wrapped or begin is not None:
                conn.execute("ROLLBACK")
            m = re.fullmatch(r'role "(.+)" does not exist', (err.diag.message_primary or "").strip())
            if getattr(err, "sqlstate", None) != "42704" or m is None or len(roles) > 50:
                raise CannotRun(f"line {s.line}: {err.sqlstate}: {(err.diag.message_primary or str(err)).strip()}"
                                ) from None
            conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(m.group(1))))
            roles.append(m.group(1))
            if script.wrapped:
                conn.execute("BEGIN")
                i = 0
            elif begin is not None:
                i, begin = begin, None
            continue
        if not script.wrapped:
            if s.control == "begin" and begin is None:
                begin = i
            elif s.control in ("commit", "rollback"):
                begin = None
        i += 1
    if script.wrapped:
        conn.execute("COMMIT")


def migrate(conn: Any, history: Any, i: int, roles: list[str]) -> None:
    """Run migration `i` of `history` (CannotRun when the server or sqlguard cannot)."""
    from sqlguard.diagnostic import SqlguardError
    from sqlguard.migrations.script import read_script

    m = history.migrations[i]
    try:
        script = read_script(m.path, "up" if m.single_file else None, convention=history.convention)
    except SqlguardError as err:
        raise CannotRun(str(err)) from None
    try:
        run_script(conn, script, roles)
    finally:
        conn.execute("DISCARD ALL")  # the next migration starts a session of its own, as with its runner


def rollback_statements(text: str) -> Iterator[str]:
    """The statements of a generated rollback (its comments and MANUAL lines left out)."""
    from sqlguard.sql.split import split

    for stmt in split(text, "postgres").statements:
        body = stmt.text.strip().rstrip(";").strip()
        if stmt.kind == "sql" and body and not all(line.lstrip().startswith("--") for line in body.splitlines()):
            yield body


# --- the oracle -------------------------------------------------------------------------------------

def _described(changes: list[Any]) -> dict[str, str]:
    return {f"{c.kind} {c.object} {c.name}": c.describe() for c in changes}


def oracle(server_dsn: str, label: str, history: Any) -> Outcome:
    """Apply `history` to a new database of the server, comparing after each migration with the replay,
    and trying each generated rollback that has no MANUAL step."""
    import psycopg
    from psycopg import sql

    from sqlguard.live.introspect import introspect
    from sqlguard.schema.model import diff
    from sqlguard.schema.rollback import generate

    out = Outcome()
    timeline = _timeline(label, history)
    url = create_database(server_dsn)
    roles: list[str] = []
    try:
        with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
            if label in PRELUDES:
                conn.execute(PRELUDES[label][0])
            for base in required_histories(history):
                for k in range(len(base.migrations)):
                    migrate(conn, base, k, roles)
            live_before = introspect(conn)
            # the differences after the previous migration: one that stays the same is reported (or
            # accepted) once, where it appears
            standing: dict[str, str] = {}
            for i, m in enumerate(history.migrations):
                name = m.path.name if history.convention != "sqitch" else m.name
                try:
                    migrate(conn, history, i, roles)
                except CannotRun as err:
                    out.stopped = (name, str(err))
                    break
                live = introspect(conn)
                out.compared += 1
                found = _described(diff(timeline.after(i), live))
                known = SCHEMA_EXCEPTIONS.get((label, name), {})
                new = []
                for what, text in found.items():
                    if what in known:
                        out.used.add(("schema", name, what))
                    elif standing.get(what) != text:
                        new.append(text)
                standing = found
                if not found:
                    out.matched += 1
                if new:
                    out.problems.append(f"{label}: after {name} (#{i}) the server and the replay differ: "
                                        + "; ".join(new))
                text = generate(timeline.effects(i), m.path.name)
                if "-- MANUAL" not in text:
                    out.rollbacks += 1
                    _check_rollback(conn, label, name, text, live_before, out)
                live_before = live
    finally:
        drop_database(server_dsn, url)
        if roles:
            with psycopg.connect(server_dsn, autocommit=True) as admin:
                for role in roles:
                    with contextlib.suppress(psycopg.Error):  # (still used elsewhere: left to the server's end)
                        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    return out


def _check_rollback(conn: Any, label: str, name: str, text: str, before: Any, out: Outcome) -> None:
    import psycopg

    from sqlguard.live.introspect import introspect
    from sqlguard.schema.model import diff

    known = ROLLBACK_EXCEPTIONS.get((label, name), {})
    conn.execute("BEGIN")
    try:
        for stmt in rollback_statements(text):
            try:
                conn.execute(stmt.encode("utf-8", errors="surrogateescape"))
            except psycopg.Error as err:
                if "error" in known:
                    out.used.add(("rollback", name, "error"))
                else:
                    out.problems.append(f"{label}: the generated rollback of {name} fails at `{stmt}`: "
                                        f"{(err.diag.message_primary or str(err)).strip()}\n{text}")
                return
        found = _described(diff(before, introspect(conn)))
    finally:
        conn.execute("ROLLBACK")
    unexplained = []
    for what, desc in found.items():
        if what in known:
            out.used.add(("rollback", name, what))
        else:
            unexplained.append(desc)
    if unexplained:
        out.problems.append(f"{label}: the generated rollback of {name} does not give back the schema from "
                            "before it (before -> after the rollback): " + "; ".join(unexplained) + f"\n{text}")


@needs_shared
@pytest.mark.parametrize("label,history", HISTORIES, ids=[label for label, _ in HISTORIES])
def test_history_on_a_real_server_matches_its_replay_and_rollbacks(pg_server: Any, label: str,
                                                                    history: Any) -> None:
    out = oracle(pg_server.dsn, label, history)
    print(f"\nschema oracle: {label}: {out.compared} migrations compared, {out.matched} equal without an exception, "
          f"{out.rollbacks} generated rollbacks applied; stopped at {out.stopped[0] if out.stopped else 'the end'}")
    problems = list(out.problems)
    stop = STOPS.get(label)
    if stop is None and out.stopped is not None:
        problems.append(f"{label}: stopped at {out.stopped[0]}: {out.stopped[1]}")
    elif stop is not None and (out.stopped is None or out.stopped[0] != stop[0] or stop[2] not in out.stopped[1]):
        problems.append(f"{label}: expected to stop at {stop[0]} ({stop[2]}), stopped at {out.stopped}")
    for (where, name), known in [*((("schema", k[1]), v) for k, v in SCHEMA_EXCEPTIONS.items() if k[0] == label),
                                 *((("rollback", k[1]), v) for k, v in ROLLBACK_EXCEPTIONS.items() if k[0] == label)]:
        for what in known:
            if (where, name, what) not in out.used:
                problems.append(f"{label}: the {where} exception `{what}` of {name} no longer happens: remove it")
    assert not problems, "\n".join(problems)
    assert out.compared > 0 or stop is not None


# What the corpora do not show, and PostgreSQL does its own way: each script on an empty database, then
# the same comparison; and the script's generated rollback, unless MANUAL, must give the empty one back.
GAPS = {
    "serial, identity, generated, defaults spelled back": """
        CREATE TABLE a (id serial PRIMARY KEY, n bigserial, name text UNIQUE, v int DEFAULT -1, s text DEFAULT 'x',
                        CHECK (v > 0));
        CREATE TABLE b (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, x int GENERATED BY DEFAULT AS IDENTITY,
                        g int GENERATED ALWAYS AS (id * 2) STORED);
        CREATE TABLE c (a int DEFAULT 1 + 2 * 3, b timestamptz DEFAULT now() - interval '1 hour', c text[] DEFAULT '{}',
                        d jsonb DEFAULT '{}'::jsonb, e numeric DEFAULT -0.5, f boolean DEFAULT 't', g date DEFAULT
                        CURRENT_DATE, i varchar(3) DEFAULT 'ab', j interval DEFAULT '90 minutes',
                        k text DEFAULT ('a' || 'b'), l timestamptz(3) DEFAULT CURRENT_TIMESTAMP(3))""",
    "partitions: cloned keys and indexes, ATTACH": """
        CREATE TABLE r (id int PRIMARY KEY);
        CREATE TABLE p (id int, created date NOT NULL, v int CHECK (v > 0), rid int REFERENCES r,
                        PRIMARY KEY (id, created)) PARTITION BY RANGE (created);
        CREATE INDEX ON p (v);
        CREATE UNIQUE INDEX p_uq ON p (rid, created);
        CREATE TABLE p2024 PARTITION OF p FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        CREATE TABLE p2025 (id int NOT NULL, created date NOT NULL, v int CONSTRAINT p_v_check CHECK (v > 0), rid int);
        ALTER TABLE p ATTACH PARTITION p2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')""",
    "LIKE … INCLUDING, CREATE TABLE … AS": """
        CREATE TABLE src (id serial PRIMARY KEY, name text NOT NULL DEFAULT 'n', v int CHECK (v > 0), UNIQUE (name));
        CREATE INDEX src_lower ON src (lower(name));
        CREATE TABLE cp (LIKE src INCLUDING ALL);
        CREATE TABLE cp2 (LIKE src INCLUDING DEFAULTS INCLUDING CONSTRAINTS, extra int);
        CREATE TABLE c1 AS SELECT * FROM src;
        CREATE TABLE c2 (a, b) AS SELECT id, name FROM src;
        CREATE TABLE c3 AS SELECT id + 1 AS x, upper(name), name::varchar, v::text || '' FROM src""",
    "names PostgreSQL chooses, CHECK columns in written order": """
        CREATE TABLE t (a int CHECK (a > 0), b int CHECK (a < b), c int, CHECK (c > 0), CHECK (c IS NULL OR a < c));
        ALTER TABLE t ADD UNIQUE (a, b), ADD UNIQUE (a, b), ADD CHECK (a > 1), ADD COLUMN d int CHECK (d > 0) UNIQUE;
        CREATE INDEX t_a_idx ON t (a);
        CREATE TABLE t_a_idx1 (x int);
        CREATE INDEX ON t (a);
        CREATE INDEX ON t ((a + b));
        CREATE INDEX ON t (lower(c::text), b);
        CREATE TABLE t_pkey (x int);
        ALTER TABLE t ADD PRIMARY KEY (a);
        CREATE TABLE averyveryveryveryveryveryveryveryverylongtablenameforthistest (
            averyveryveryveryveryveryveryverylongcolumnname int UNIQUE, other int);
        CREATE INDEX ON averyveryveryveryveryveryveryveryverylongtablenameforthistest (
            averyveryveryveryveryveryveryverylongcolumnname, other);
        CREATE TABLE q (id int, "Mixed" text, "has space" int);
        CREATE INDEX ON q ("Mixed");
        CREATE UNIQUE INDEX ON q ("has space", id);
        CREATE INDEX ON q (coalesce("Mixed", 'N/A')) WHERE "has space" > 0 AND "Mixed" IN ('A', 'B');
        CREATE TABLE s (id int PRIMARY KEY, parent int REFERENCES s ON DELETE CASCADE, x int, EXCLUDE (x WITH =))""",
    "renames that columns follow (sequences, types, schemas), and their rollback": """
        CREATE TABLE t (id serial, v text);
        ALTER SEQUENCE t_id_seq RENAME TO zz;
        CREATE TYPE mood AS ENUM ('a', 'c');
        CREATE TABLE m (m mood DEFAULT 'a', ms mood[] DEFAULT '{}');
        ALTER TYPE mood RENAME TO feeling;
        CREATE SCHEMA a;
        CREATE TABLE a.t (id serial PRIMARY KEY, m int);
        CREATE TYPE a.mood AS ENUM ('x');
        ALTER TABLE a.t ADD COLUMN k a.mood;
        CREATE INDEX ON a.t (m);
        ALTER SCHEMA a RENAME TO b;
        CREATE TABLE b.u (id serial);
        CREATE TABLE moved (id serial PRIMARY KEY);
        ALTER TABLE moved SET SCHEMA b;
        ALTER TABLE b.moved RENAME TO moved2;
        CREATE MATERIALIZED VIEW mv AS SELECT id FROM t;
        CREATE INDEX ON mv (id)""",
}


@pytest.mark.parametrize("script", GAPS.values(), ids=list(GAPS))
def test_server_and_replay_agree_where_the_corpora_do_not_look(fresh_db: str, script: str) -> None:
    import psycopg

    from sqlguard.live.introspect import introspect
    from sqlguard.schema.model import diff
    from sqlguard.schema.replay import SchemaBuilder
    from sqlguard.schema.rollback import generate
    from sqlguard.schema.timeline import statements_of

    builder = SchemaBuilder()
    for stmt in statements_of(script, "postgres"):
        builder.apply_text(stmt)
    rollback = generate(builder.effects, "gap.sql")
    with psycopg.connect(fresh_db, autocommit=True, prepare_threshold=None) as conn:
        before = introspect(conn)
        conn.execute(script.encode())
        changes = diff(builder.freeze(), introspect(conn))
        assert not changes, "the server and the replay differ: " + "; ".join(c.describe() for c in changes)
        if "-- MANUAL" not in rollback:
            for stmt in rollback_statements(rollback):
                conn.execute(stmt.encode())
            left = diff(before, introspect(conn))
            assert not left, "the generated rollback leaves: " + "; ".join(c.describe() for c in left) + "\n" + rollback
