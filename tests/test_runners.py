"""Runner layouts beyond the flat folders (issue #15): Prisma Migrate's folder per migration."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

from conftest import FIXTURES

from sqlguard.migrations.files import MigrationIndex
from sqlguard.migrations.history import HistoryIndex
from sqlguard.migrations.scaffold import new_migration

PRISMA = FIXTURES / "runners" / "prisma" / "prisma" / "migrations"


def test_prisma_folders_are_one_forward_only_history() -> None:
    index = MigrationIndex({})
    m = index.classify((PRISMA / "20240215093000_add_matches" / "migration.sql").resolve())
    assert m is not None and (m.convention, m.role, m.version, m.name, m.rollback_state, m.name_problem) == \
        ("prisma", "up", "20240215093000", "add_matches", "n/a", None)
    [history] = HistoryIndex(index, "postgres").histories(PRISMA.resolve())
    assert history.folder == PRISMA.resolve() and history.convention == "prisma"
    assert [h.version for h in history.migrations] == ["20240101120000", "20240215093000", "20240301080000"]


def test_prisma_history_lints_clean_where_it_should(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("lint", "--no-cache", "--format", "json", str(PRISMA))
    found = {(Path(d["filename"]).parent.name, d["code"]) for d in json.loads(r.out)}
    assert not {c for _, c in found} & {"SG11", "SG12", "SG31", "SG30"}  # replayed as one history, forward-only
    # a lone CREATE INDEX CONCURRENTLY: Prisma sends it alone, outside a transaction
    assert ("20240301080000_index_email", "SG51") not in found
    # the foreign key is added to a table the same migration creates: nobody uses it yet
    assert ("20240215093000_add_matches", "SG52") not in found


def test_prisma_in_a_transaction_with_other_statements(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tree = tmp_path / "migrations"
    shutil.copytree(PRISMA, tree)
    (tree / "20240301080000_index_email" / "migration.sql").write_text(
        'CREATE INDEX CONCURRENTLY "matches_user_id_idx" ON "matches"("user_id");\nSELECT 1;\n', encoding="utf-8")
    r = run_cli("lint", "--no-cache", "--format", "json", "--exit-zero", str(tree))
    assert "SG51" in {d["code"] for d in json.loads(r.out)}  # two statements: one implicit transaction


def test_prisma_new_and_inspect(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tree = tmp_path / "migrations"
    shutil.copytree(PRISMA, tree)
    created = new_migration(tree, "auto", "add likes", datetime(2024, 3, 2, 9, 30, 0))
    assert [p.relative_to(tree.resolve()).as_posix() for p in created] == ["20240302093000_add_likes/migration.sql"]
    [h] = json.loads(run_cli("inspect", "--format", "json", str(tree)).out)
    assert (h["convention"], h["migrations"], h["rollbacks"], h["last"]) == ("prisma", 4, 0, "20240302093000")


PGPM = FIXTURES / "runners" / "pgpm" / "packages" / "users"


def test_pgpm_plan_is_a_sqitch_plan(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    index = MigrationIndex({})
    [history] = HistoryIndex(index, "postgres").histories(PGPM.resolve())
    assert history.convention == "sqitch"
    assert [m.name for m in history.migrations] == ["schema", "users", "users_email_idx"]
    assert all(m.rollback is not None for m in history.migrations)
    r = run_cli("lint", "--no-cache", "--format", "json", "--exit-zero", str(PGPM))
    codes = {(Path(d["filename"]).name, d["code"]) for d in json.loads(r.out)}
    assert not {c for _, c in codes} & {"SG11", "SG12", "SG30", "SG31"}  # the plan orders it; app.users is known
    assert ("users_email_idx.sql", "SG50") in codes
    # `sqlguard new` appends the change to pgpm.plan, as `pgpm add` does
    tree = tmp_path / "users"
    shutil.copytree(PGPM, tree)
    created = new_migration(tree, "auto", "add likes", datetime(2024, 3, 2, 9, 30, 0))
    assert sorted(p.relative_to(tree.resolve()).as_posix() for p in created) == \
        ["deploy/add_likes.sql", "revert/add_likes.sql", "verify/add_likes.sql"]
    assert (tree / "pgpm.plan").read_text(encoding="utf-8").splitlines()[-1].startswith("add_likes ")
    assert not (tree / "sqitch.plan").exists()


def _flyway_tree(root: Path) -> None:
    (root / ".git").mkdir(parents=True)  # (the config search stops at the checkout's top)
    common = root / "db" / "migration" / "common"
    vendor = root / "db" / "migration" / "pg"
    common.mkdir(parents=True)
    vendor.mkdir(parents=True)
    (common / "V1__create_users.sql").write_text("CREATE TABLE users (id bigint PRIMARY KEY);\n", encoding="utf-8")
    (vendor / "V2__add_email.sql").write_text("ALTER TABLE users ADD COLUMN email text;\n", encoding="utf-8")
    (common / "V3__create_likes.sql").write_text("CREATE TABLE likes (id bigint PRIMARY KEY, user_id bigint "
                                                 "REFERENCES users (id));\n", encoding="utf-8")


def _codes(run_cli, target: Path) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    r = run_cli("lint", "--no-cache", "--format", "json", "--exit-zero", str(target))
    assert r.code == 0, r.err
    return {(Path(d["filename"]).name, d["code"]) for d in json.loads(r.out)}


def test_flyway_locations_are_one_history(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _flyway_tree(tmp_path)
    alone = _codes(run_cli, tmp_path / "db")
    assert ("V2__add_email.sql", "SG11") in alone  # each folder replayed alone: `users` is unknown to `pg/`
    (tmp_path / "flyway.conf").write_text("flyway.url=jdbc:postgresql://localhost/app\n"
                                          "flyway.locations=filesystem:db/migration/common,filesystem:db/migration/pg\n",
                                          encoding="utf-8")
    together = _codes(run_cli, tmp_path / "db")
    assert not {c for _, c in together} & {"SG11", "SG12"}
    [history] = HistoryIndex(MigrationIndex({}), "postgres").histories((tmp_path / "db").resolve())
    assert [m.path.name for m in history.migrations] == ["V1__create_users.sql", "V2__add_email.sql",
                                                         "V3__create_likes.sql"]
    # a version twice across the locations stops Flyway: SG33 sees it now
    (tmp_path / "db" / "migration" / "pg" / "V3__other.sql").write_text("SELECT 1;\n", encoding="utf-8")
    assert ("V3__other.sql", "SG33") in _codes(run_cli, tmp_path / "db")


def test_flyway_toml_and_the_config_name_locations_too(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _flyway_tree(tmp_path)
    (tmp_path / "flyway.toml").write_text('[flyway]\nlocations = ["filesystem:db/migration/common", '
                                          '"filesystem:db/migration/pg"]\n', encoding="utf-8")
    assert not {c for _, c in _codes(run_cli, tmp_path / "db")} & {"SG11", "SG12"}
    (tmp_path / "flyway.toml").unlink()
    (tmp_path / "sqlguard.yaml").write_text("migrations:\n  - paths: [db/migration/common, db/migration/pg]\n"
                                            "    convention: flyway\n", encoding="utf-8")
    assert not {c for _, c in _codes(run_cli, tmp_path / "db")} & {"SG11", "SG12"}
    [h] = json.loads(run_cli("inspect", "--format", "json", str(tmp_path / "db")).out)
    assert (h["convention"], h["migrations"]) == ("flyway", 3)


def test_prisma_migration_lock_names_the_dialect(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tree = tmp_path / "migrations"
    shutil.copytree(PRISMA, tree)
    [h] = json.loads(run_cli("inspect", "--format", "json", str(tree)).out)
    assert (h["dialect"], h["dialect_from"]) == ("postgres", "Prisma's migration_lock.toml")
    (tree / "migration_lock.toml").write_text('provider = "mysql"\n', encoding="utf-8")
    (tree / "20240301080000_index_email" / "migration.sql").write_text(
        "CREATE INDEX `matches_user_id_idx` ON `matches`(`user_id`);\n", encoding="utf-8")
    [h] = json.loads(run_cli("inspect", "--format", "json", str(tree)).out)
    assert h["dialect"] == "mysql"
    r = run_cli("lint", "--no-cache", "--format", "json", "--exit-zero", str(tree))
    assert not {d["code"] for d in json.loads(r.out)} & {"SG00", "SG50", "SG58"}  # MySQL: no PostgreSQL rule


def test_flyway_baseline_and_rollback_gen_below_it(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A fresh database runs `B2` and skips V1 and V2; databases older than the baseline ran V1, V2, V3.
    rollback-gen serves both: below the baseline from the older stream, above it from the fresh one."""
    tree = tmp_path / "app"
    shutil.copytree(FIXTURES / "runners" / "flyway-baseline", tree)
    folder = (tree / "db" / "migration").resolve()
    histories = HistoryIndex(MigrationIndex({}), "postgres")
    [fresh] = histories.histories(folder)
    assert [m.path.name for m in fresh.migrations] == ["B2__baseline.sql", "V3__create_likes.sql"]
    older = histories.older_history_for(folder / "V2__add_email.sql")
    assert older is not None and [m.path.name for m in older.migrations] == \
        ["V1__create_users.sql", "V2__add_email.sql", "V3__create_likes.sql"]
    assert histories.older_history_for(folder / "V3__create_likes.sql") is None  # the fresh stream has it
    r = run_cli("rollback-gen", str(folder / "V2__add_email.sql"))
    assert r.code == 0, r.err
    undo = (folder / "U2__add_email.sql").read_text(encoding="utf-8")
    assert "ALTER TABLE users DROP COLUMN IF EXISTS email;" in undo
    r = run_cli("rollback-gen", "--stdout", str(folder / "V1__create_users.sql"))
    assert r.code == 0 and "DROP TABLE IF EXISTS users;" in r.out, r.err
    r = run_cli("rollback-gen", "--stdout", str(folder / "V3__create_likes.sql"))
    assert r.code == 0 and "DROP TABLE IF EXISTS likes;" in r.out, r.err
    r = run_cli("rollback-gen", str(folder / "V1__create_users.sql"))  # U1 has statements: kept
    assert r.code == 2 and "--force" in r.err
    found = json.loads(run_cli("lint", "--no-cache", "--format", "json", "--exit-zero", str(tree)).out)
    assert {d["code"] for d in found} <= {"SG58"}  # V2's undo exists now; nothing else is wrong
