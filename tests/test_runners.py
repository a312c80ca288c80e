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
