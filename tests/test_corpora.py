"""Every file of every real-world corpus in ../shared/corpora lints without a crash.

A traceback or exit code 2 on any of them is a bug. The corpora are read in place, never copied.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import CORPORA, ROOT, needs_shared

CORPUS_DIRS = sorted(p for p in CORPORA.iterdir() if p.is_dir()) if CORPORA.is_dir() else []
pytestmark = needs_shared


def test_the_shared_folder_is_there() -> None:
    # (the tests below find nothing to run without it: this one fails when a run requires it)
    assert CORPUS_DIRS, f"{CORPORA} is missing"


def test_every_corpus_file_lints_in_process() -> None:
    from dataclasses import replace

    from conftest import tribevibe

    from sqlguard.config import Settings
    from sqlguard.lint.engine import Run, lint_source

    files = [f for d in CORPUS_DIRS for f in sorted(d.rglob("*")) if f.is_file() and f.suffix == ".sql"]
    assert len(files) > 1900
    counts: Counter[str] = Counter()
    run = Run.create(replace(Settings(), root=CORPORA), tribevibe())  # each file in the dialect its names say
    for f in files:
        diags, _ = lint_source(str(f), f, f.read_bytes(), run)
        counts.update(d.code for d in diags)
    # The corpora hold real unconditional drops and data-destroying statements; they must be seen.
    assert counts["SG20"] > 100 and counts["SG21"] > 50
    # supabase-auth's Go templates are noted once per file (70 files).
    assert counts["SG04"] >= 70


@pytest.mark.parametrize("corpus", CORPUS_DIRS, ids=[d.name for d in CORPUS_DIRS])
def test_cli_on_each_corpus_exits_0_or_1(corpus: Path) -> None:
    """The real command, in a subprocess, per corpus (each file in the dialect its names say)."""
    files = [str(f) for f in sorted(corpus.rglob("*.sql"))]
    proc = subprocess.run([sys.executable, "-m", "sqlguard", "lint", "--format", "json", *files],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode in (0, 1), f"{corpus.name}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr
    items = json.loads(proc.stdout)
    assert all(i["location"]["row"] >= 1 and i["location"]["column"] >= 1 for i in items)
    if corpus.name != "redgate-flyway-undo-mssql":  # T-SQL is out of scope; the others are well-formed
        assert not [i for i in items if i["code"] == "SG03"], f"{corpus.name}: a well-formed file reported " \
                                                             "as unterminated"


# Findings of SG11/SG12 on the corpora that are real mistakes in those projects, checked by hand.
REAL_UNKNOWN = {
    # the down migration drops `usergroups_reviewers`; the table is `usergroup_reviewers`
    ("0069_create_table_usergroup_reviewers.down.sql", "SG11"),
}


def _history_findings(paths: list[Path], config: Path | None = None) -> list[dict[str, object]]:
    argv = [sys.executable, "-m", "sqlguard", "lint", "--format", "json", "--select", "SG11,SG12,SG32"]
    if config is not None:
        argv += ["--config", str(config)]
    proc = subprocess.run([*argv, *map(str, paths)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("folder", [
    "harness-golang-migrate/app/store/database/migrate/postgres",
    "chef-server-sqitch",
])
def test_replaying_real_histories_reports_no_unknown_tables_of_their_own(folder: str) -> None:
    items = _history_findings([CORPORA / folder])
    unknown = {(Path(str(i["filename"])).name, i["code"]) for i in items if i["code"] in ("SG11", "SG12")}
    assert unknown <= REAL_UNKNOWN, unknown
    assert any(i["code"] == "SG32" for i in items) or folder == "chef-server-sqitch"


def test_supabase_storage_replays_as_a_numbered_history(tmp_path: Path) -> None:
    base = CORPORA / "supabase-storage" / "migrations"
    config = tmp_path / "sqlguard.yaml"
    config.write_text("migrations:\n" + "".join(f"  - {{path: '{base / d}', convention: numbered}}\n"
                                                 for d in ("tenant", "multitenant", "vector_store")))
    items = _history_findings([base], config)
    assert [i for i in items if i["code"] in ("SG11", "SG12")] == []


def test_sqitch_cross_project_requirements_start_from_the_other_project() -> None:
    """oc_erchef's plan requires `oss_chef:` changes from its baseline/ project: their tables are known."""
    items = _history_findings([CORPORA / "chef-server-sqitch" / "src" / "oc_erchef" / "schema" / "deploy"])
    assert not [i for i in items if i["code"] == "SG11"]


@pytest.mark.parametrize("folder,dialect", [
    ("harness-golang-migrate/app/store/database/migrate/postgres", "postgres"),
    ("harness-golang-migrate/app/store/database/migrate/sqlite", "sqlite"),
    ("chef-server-sqitch", "postgres"),
    ("openfga-goose/assets/migrations/postgres", "postgres"),
])
def test_generated_rollbacks_round_trip_on_real_histories(folder: str, dialect: str) -> None:
    """rollback-gen on every migration of a real history: replaying up then the generated rollback gives
    back the schema from before, unless the rollback says a step is MANUAL; and it lints clean."""
    from sqlguard.config import Settings
    from sqlguard.lint.engine import Run
    from sqlguard.schema.model import diff
    from sqlguard.schema.replay import SchemaBuilder
    from sqlguard.schema.rollback import generate
    from sqlguard.schema.timeline import statements_of

    run = Run.create(Settings(dialect=dialect), None)
    histories = run.history_index().histories((CORPORA / folder).resolve())
    assert histories
    checked = exact = 0
    for history in histories:
        timeline = run.timeline(history)
        for i, m in enumerate(history.migrations):
            text = generate(timeline.effects(i), m.path.name)
            builder = SchemaBuilder.from_schema(timeline.after(i), dialect)
            for stmt in statements_of(text, dialect):
                builder.apply_text(stmt)
            changes = diff(timeline.before(i), builder.freeze())
            checked += 1
            exact += not changes
            if "-- MANUAL" not in text:
                assert changes == [], (m.path.name, text, changes)
            from conftest import lint_sql

            found = [d for d in lint_sql(text, select=("SG00", "SG03", "SG20"), dialect=dialect, catalog=False)]
            assert found == [], (m.path.name, text, [d.message for d in found])
    assert checked > 0 and exact / checked > 0.85
