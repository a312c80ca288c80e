"""Migration histories (`sqlguard.migrations.history`): apply order per convention, rollbacks, dialects,
duplicate versions, out-of-order additions, and the real corpora."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from conftest import CORPORA, needs_shared

from sqlguard.diagnostic import Finding
from sqlguard.migrations.files import MigrationIndex, short_name
from sqlguard.migrations.history import (
    History,
    HistoryIndex,
    Migration,
    duplicate_versions,
    out_of_order,
    sqitch_scripts,
)
from sqlguard.rules import sg33_duplicate_version, sg34_out_of_order

ROOT = Path(__file__).resolve().parent.parent
RULE_FIXTURES = ROOT / "fixtures" / "rules"


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def history(folder: Path, dialect: str = "postgres", configured: dict[Path, str] | None = None) -> History:
    found = HistoryIndex(MigrationIndex(configured or {}, dialect=dialect), dialect).histories(folder)
    assert len(found) == 1, [h.folder for h in found]
    return found[0]


def names(h: History) -> list[str]:
    return [h.relative(m.path) for m in h.migrations]


# --- order per convention --------------------------------------------------------------------

def test_flyway_versions_compare_as_numbers(tmp_path: Path) -> None:
    tree(tmp_path, {n: "SELECT 1;" for n in (
        "V10__ten.sql", "V2__two.sql", "V1__one.sql", "V1.10__one_ten.sql", "V1.1__one_one.sql",
        "V1.2__one_two.sql", "R__views.sql", "R__a_function.sql", "U2__two.sql", "beforeMigrate.sql")})
    h = history(tmp_path)
    assert h.convention == "flyway"
    assert names(h) == ["V1__one.sql", "V1.1__one_one.sql", "V1.2__one_two.sql", "V1.10__one_ten.sql",
                        "V2__two.sql", "V10__ten.sql", "R__a_function.sql", "R__views.sql"]
    two = h.migrations[4]
    assert two.rollback == h.folder / "U2__two.sql" and not two.single_file
    assert h.migrations[0].rollback is None  # no U1: Flyway pairs undo files by version
    assert (two.version, two.name) == ("2", "two")


def test_flyway_baseline_skips_what_it_covers(tmp_path: Path) -> None:
    tree(tmp_path, {n: "SELECT 1;" for n in (
        "B1__old_baseline.sql", "B3__baseline.sql", "V1__init.sql", "V2__more.sql", "V3__covered.sql",
        "V4__after.sql", "U4__after.sql", "R__view.sql")})
    h = history(tmp_path)
    assert names(h) == ["B3__baseline.sql", "V4__after.sql", "R__view.sql"]
    assert h.migrations[1].rollback is not None
    index = HistoryIndex(MigrationIndex({}), "postgres")
    assert index.history_for(tmp_path / "V2__more.sql") is None  # a fresh database never runs it
    assert index.history_for(tmp_path / "V4__after.sql") == h


def test_golang_migrate_numeric_order_and_rollbacks(tmp_path: Path) -> None:
    tree(tmp_path, {
        "0010_ten.up.sql": "SELECT 1;", "0010_ten.down.sql": "SELECT 1;",
        "0009_nine.up.sql": "SELECT 1;",
        "10_unpadded.up.sql": "SELECT 1;",  # numerically 10: a duplicate of 0010
        "9_unpadded.up.sql": "SELECT 1;",
        "0100.up.sql": "SELECT 1;", "0100.down.sql": "SELECT 1;",
        "0011_x_up.sql": "SELECT 1;", "0011_x_down.sql": "SELECT 1;",  # misnamed (SG30), kept
        "0012_gone.down.sql": "SELECT 1;",  # an orphan rollback: no entry
    })
    h = history(tmp_path)
    assert h.convention == "golang-migrate"
    assert names(h) == ["0009_nine.up.sql", "9_unpadded.up.sql", "0010_ten.up.sql", "10_unpadded.up.sql",
                        "0011_x_up.sql", "0100.up.sql"]
    by_name = {m.path.name: m for m in h.migrations}
    assert by_name["0010_ten.up.sql"].rollback == h.folder / "0010_ten.down.sql"
    assert by_name["0011_x_up.sql"].rollback == h.folder / "0011_x_down.sql"
    assert by_name["0100.up.sql"].rollback == h.folder / "0100.down.sql"
    assert by_name["0009_nine.up.sql"].rollback is None
    assert h.index_of(tmp_path / "0010_ten.down.sql") == h.index_of(tmp_path / "0010_ten.up.sql") == 2
    assert h.index_of(tmp_path / "0012_gone.down.sql") is None


def test_sqlguard_timestamps(tmp_path: Path) -> None:
    tree(tmp_path, {
        "20240110090000_b.sql": "SELECT 1;", "20240105120000_a.sql": "SELECT 1;",
        "20240105120000_a_rollback.sql": "SELECT 1;", "20240201000000_c.sql": "SELECT 1;",
    })
    h = history(tmp_path)
    assert h.convention == "sqlguard"
    assert names(h) == ["20240105120000_a.sql", "20240110090000_b.sql", "20240201000000_c.sql"]
    assert h.migrations[0].rollback == h.folder / "20240105120000_a_rollback.sql"
    assert [m.version for m in h.migrations] == ["20240105120000", "20240110090000", "20240201000000"]


def test_diesel_folder_versions(tmp_path: Path) -> None:
    tree(tmp_path, {
        "2024-01-10-090000_add_b/up.sql": "SELECT 1;", "2024-01-10-090000_add_b/down.sql": "SELECT 1;",
        "00000000000000_diesel_initial_setup/up.sql": "SELECT 1;",
        "2023-12-31-235959_add_a/up.sql": "SELECT 1;",
        "2023-12-31-235959_add_a/notes.sql": "SELECT 1;",  # diesel never runs it
    })
    h = history(tmp_path)
    assert h.convention == "diesel" and h.folder == tmp_path.resolve()
    assert names(h) == ["00000000000000_diesel_initial_setup/up.sql", "2023-12-31-235959_add_a/up.sql",
                        "2024-01-10-090000_add_b/up.sql"]
    assert h.migrations[2].rollback == h.folder / "2024-01-10-090000_add_b/down.sql"
    index = HistoryIndex(MigrationIndex({}), "postgres")
    assert index.history_for(tmp_path / "2024-01-10-090000_add_b/down.sql") == h


def test_dbmate_and_goose_are_single_files(tmp_path: Path) -> None:
    tree(tmp_path / "dbmate", {
        "20240110090000_b.sql": "-- migrate:up\nSELECT 1;\n-- migrate:down\n",
        "20240105120000_a.sql": "-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;\n",
    })
    tree(tmp_path / "goose", {
        "10_ten.sql": "-- +goose Up\nSELECT 1;\n", "9_nine.sql": "-- +goose Up\nSELECT 1;\n",
        "00011_eleven.sql": "-- +goose Up\nSELECT 1;\n",
    })
    dbmate = history(tmp_path / "dbmate")
    goose = history(tmp_path / "goose")
    assert (dbmate.convention, names(dbmate)) == ("dbmate", ["20240105120000_a.sql", "20240110090000_b.sql"])
    assert (goose.convention, names(goose)) == ("goose", ["9_nine.sql", "10_ten.sql", "00011_eleven.sql"])
    assert all(m.single_file and m.rollback is None for m in (*dbmate.migrations, *goose.migrations))


# --- sqitch ------------------------------------------------------------------------------------

PLAN = """%syntax-version=1.0.0
%project=shop

users 2024-01-01T00:00:00Z A <a@example.com> # users
orders [users] 2024-01-02T00:00:00Z A <a@example.com> # orders
@v1.0 2024-01-03T00:00:00Z A <a@example.com> # release
order_totals [orders] 2024-01-04T00:00:00Z A <a@example.com> # function
@v1.1 2024-01-05T00:00:00Z A <a@example.com> # release
audit 2024-01-06T00:00:00Z A <a@example.com> # planned, never written
order_totals [order_totals@v1.1] 2024-01-07T00:00:00Z A <a@example.com> # reworked
"""


def test_sqitch_plan_order_and_rework(tmp_path: Path) -> None:
    files = {"sqitch.plan": PLAN}
    for script in ("users", "orders", "order_totals@v1.1", "order_totals", "unplanned"):
        files[f"deploy/{script}.sql"] = "SELECT 1;"
        files[f"verify/{script}.sql"] = "SELECT 1;"
    for script in ("users", "order_totals@v1.1", "order_totals"):
        files[f"revert/{script}.sql"] = "SELECT 1;"
    tree(tmp_path, files)
    h = history(tmp_path)
    assert h.convention == "sqitch" and h.folder == tmp_path.resolve()
    # Plan order, not name order; the reworked change runs its tagged copy first, `deploy/order_totals.sql`
    # at the plan's later entry; a planned change without a script and an unplanned script are left out.
    assert names(h) == ["deploy/users.sql", "deploy/orders.sql", "deploy/order_totals@v1.1.sql",
                        "deploy/order_totals.sql"]
    assert [m.rollback is not None for m in h.migrations] == [True, False, True, True]
    index = HistoryIndex(MigrationIndex({}), "postgres")
    assert index.history_for(tmp_path / "revert/users.sql") == h
    assert index.history_for(tmp_path / "verify/users.sql") is None
    assert index.history_for(tmp_path / "deploy/unplanned.sql") is None
    assert duplicate_versions(h) == {}


def test_sqitch_rework_without_requirement_uses_the_last_tag() -> None:
    plan = "a 2024-01-01T00:00:00Z A <a@b> # x\n@t1 2024-01-01T00:00:00Z A <a@b>\n" \
           "@t2 2024-01-01T00:00:00Z A <a@b>\nb 2024-01-01T00:00:00Z A <a@b>\n" \
           "+a 2024-01-01T00:00:00Z A <a@b> # early plan syntax\n"
    assert sqitch_scripts(plan) == ["a@t2", "b", "a"]


# --- dialects ----------------------------------------------------------------------------------

def test_dialect_suffixes(tmp_path: Path) -> None:
    tree(tmp_path, {
        "0001_init.up.sql": "SELECT 1;", "0001_init.down.sql": "SELECT 1;",
        "0002_json.postgres.up.sql": "SELECT 1;", "0002_json.postgres.down.sql": "SELECT 1;",
        "0002_json.sqlite.up.sql": "SELECT 1;",
        "0003_fts.up.sqlite.sql": "SELECT 1;", "0003_fts.down.sqlite.sql": "SELECT 1;",
        "0004_tune.up.sql": "SELECT 1;", "0004_tune.postgres.up.sql": "SELECT 1;",
        "0005_mssql_only.mssql.up.sql": "SELECT 1;",
    })
    pg = history(tmp_path, "postgres")
    lite = history(tmp_path, "sqlite")
    mysql = history(tmp_path, "mysql")
    assert names(pg) == ["0001_init.up.sql", "0002_json.postgres.up.sql", "0004_tune.postgres.up.sql"]
    assert names(lite) == ["0001_init.up.sql", "0002_json.sqlite.up.sql", "0003_fts.up.sqlite.sql",
                           "0004_tune.up.sql"]
    assert names(mysql) == ["0001_init.up.sql", "0004_tune.up.sql"]
    assert pg.migrations[1].rollback == pg.folder / "0002_json.postgres.down.sql"
    assert lite.migrations[1].rollback is None
    assert lite.migrations[2].rollback == lite.folder / "0003_fts.down.sqlite.sql"
    assert [m.name for m in lite.migrations] == ["init", "json", "fts", "tune"]
    # A dialect's own file overrides its generic twin; that is not a duplicate version.
    assert duplicate_versions(pg) == {} and duplicate_versions(lite) == {}
    index = HistoryIndex(MigrationIndex({}, dialect="postgres"), "postgres")
    assert index.history_for(tmp_path / "0002_json.sqlite.up.sql") is None
    assert index.history_for(tmp_path / "0003_fts.up.sqlite.sql") is None


def test_dialect_suffixed_flyway_and_sqlguard(tmp_path: Path) -> None:
    tree(tmp_path / "fly", {"V1__init.sql": "SELECT 1;", "V2__json.postgres.sql": "SELECT 1;",
                            "V2__json.mysql.sql": "SELECT 1;"})
    tree(tmp_path / "sg", {"20240101000000_init.sql": "SELECT 1;",
                           "20240102000000_json.postgres.sql": "SELECT 1;",
                           "20240102000000_json_rollback.postgres.sql": "SELECT 1;",
                           "20240102000000_json.sqlite.sql": "SELECT 1;"})
    assert names(history(tmp_path / "fly", "mysql")) == ["V1__init.sql", "V2__json.mysql.sql"]
    sg = history(tmp_path / "sg", "postgres")
    assert names(sg) == ["20240101000000_init.sql", "20240102000000_json.postgres.sql"]
    assert sg.migrations[1].rollback == sg.folder / "20240102000000_json_rollback.postgres.sql"


# --- duplicates and out-of-order -----------------------------------------------------------------

def test_duplicate_versions_keep_both(tmp_path: Path) -> None:
    tree(tmp_path / "fly", {"V1__a.sql": "SELECT 1;", "V1.0__b.sql": "SELECT 1;", "V2__c.sql": "SELECT 1;",
                            "R__x.sql": "SELECT 1;", "R__y.sql": "SELECT 1;"})
    tree(tmp_path / "sg", {"20240101000000_a.sql": "SELECT 1;", "20240101000000_b.sql": "SELECT 1;",
                           "20240101000000_b_rollback.sql": "SELECT 1;", "20240102000000_c.sql": "SELECT 1;"})
    fly = history(tmp_path / "fly")
    assert names(fly)[:2] == ["V1.0__b.sql", "V1__a.sql"]  # one version (Flyway drops trailing zeros)
    a, b = fly.folder / "V1__a.sql", fly.folder / "V1.0__b.sql"
    assert duplicate_versions(fly) == {a: [b], b: [a]}
    sg = history(tmp_path / "sg")
    assert len(sg.migrations) == 4 - 1  # both duplicates stay; the rollback is attached, not an entry
    assert sorted(p.name for p in duplicate_versions(sg)) == ["20240101000000_a.sql", "20240101000000_b.sql"]


def test_out_of_order(tmp_path: Path) -> None:
    tree(tmp_path, {"20240101000000_a.sql": "SELECT 1;", "20240110000000_c.sql": "SELECT 1;",
                    "20240105000000_b.sql": "SELECT 1;", "20240120000000_d.sql": "SELECT 1;",
                    "20240120000000_d_rollback.sql": "SELECT 1;"})
    h = history(tmp_path)
    b, c, d = (tmp_path / n for n in ("20240105000000_b.sql", "20240110000000_c.sql", "20240120000000_d.sql"))
    newest = h.migrations[h.index_of(c) or 0]
    assert out_of_order(h, frozenset({b.resolve(), d.resolve()})) == {h.folder / b.name: newest}
    assert out_of_order(h, frozenset({d})) == {}  # new and newest: in order
    assert out_of_order(h, frozenset()) == {}
    everything = frozenset(m.path for m in h.migrations)
    assert out_of_order(h, everything) == {}  # a new repository: nothing ran anywhere yet


def test_out_of_order_ignores_repeatables(tmp_path: Path) -> None:
    tree(tmp_path, {"V1__a.sql": "SELECT 1;", "V2__b.sql": "SELECT 1;", "R__view.sql": "SELECT 1;"})
    h = history(tmp_path)
    assert out_of_order(h, frozenset({tmp_path / "R__view.sql"})) == {}
    late = out_of_order(h, frozenset({tmp_path / "V1__a.sql"}))
    assert [(p.name, m.path.name) for p, m in late.items()] == [("V1__a.sql", "V2__b.sql")]


def test_not_migrations_and_missing_folders(tmp_path: Path) -> None:
    tree(tmp_path, {"schema.sql": "SELECT 1;", "queries/report.sql": "SELECT 1;"})
    index = HistoryIndex(MigrationIndex({}), "postgres")
    assert index.histories(tmp_path) == []
    assert index.history_for(tmp_path / "schema.sql") is None
    assert index.history_for(tmp_path / "nowhere" / "0001_x.up.sql") is None
    assert index.histories(tmp_path / "nowhere") == []


def test_histories_are_cached(tmp_path: Path) -> None:
    tree(tmp_path, {"0001_a.up.sql": "SELECT 1;", "0002_b.up.sql": "SELECT 1;"})
    index = HistoryIndex(MigrationIndex({}), "postgres")
    first = index.history_for(tmp_path / "0001_a.up.sql")
    assert first is not None and index.history_for(tmp_path / "0002_b.up.sql") is first


def test_relative_paths_reach_the_same_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree(tmp_path / "db", {"0001_a.up.sql": "SELECT 1;", "0001_a.down.sql": "SELECT 1;"})
    monkeypatch.chdir(tmp_path)
    index = HistoryIndex(MigrationIndex({}), "postgres")
    relative = index.history_for(Path("db/0001_a.up.sql"))
    assert relative is not None and relative is index.history_for(tmp_path / "db" / "0001_a.down.sql")
    assert relative.folder.is_absolute() and relative.index_of(Path("db/../db/0001_a.down.sql")) == 0


# --- the real corpora ----------------------------------------------------------------------------

def corpus_histories(dialect: str) -> dict[str, History]:
    index = HistoryIndex(MigrationIndex({}, dialect=dialect), dialect)
    return {h.folder.relative_to(CORPORA.resolve()).as_posix(): h for h in index.histories(CORPORA)}


@needs_shared
def test_corpus_histories() -> None:
    pg = corpus_histories("postgres")
    counts = {k: (h.convention, len(h.migrations), sum(m.rollback is not None for m in h.migrations))
              for k, h in pg.items()}
    harness = "harness-golang-migrate/app/store/database/migrate"
    fineract = "fineract-flyway-mysql/fineract-provider/src/main/resources/sql/migrations"
    chef = "chef-server-sqitch/src"
    assert counts == {
        "chatbot-ui-supabase/supabase/migrations": ("sqlguard", 25, 0),
        f"{chef}/bookshelf/schema": ("sqitch", 2, 2),
        f"{chef}/oc_bifrost/schema": ("sqitch", 13, 13),
        f"{chef}/oc_erchef/schema": ("sqitch", 45, 45),
        f"{chef}/oc_erchef/schema/baseline": ("sqitch", 19, 19),
        f"{fineract}/core_db": ("flyway", 404, 0),
        f"{fineract}/list_db": ("flyway", 6, 0),
        f"{harness}/postgres": ("golang-migrate", 209, 179),
        f"{harness}/sqlite": ("golang-migrate", 206, 179),
        "openfga-goose/assets/migrations/mysql": ("goose", 8, 0),
        "openfga-goose/assets/migrations/postgres": ("goose", 6, 0),
        "openfga-goose/assets/migrations/sqlite": ("goose", 2, 0),
        "redgate-flyway-undo-mssql/migrations": ("flyway", 2, 1),
        "redgate-flyway-undo-pg/migrations": ("flyway", 2, 1),
        "supabase-auth/migrations": ("golang-migrate", 70, 0),
        "supabase-postgres-dbmate/migrations/db/init-scripts": ("dbmate", 4, 0),
        "supabase-postgres-dbmate/migrations/db/migrations": ("dbmate", 30, 0),
    }
    # supabase-auth has one `.postgres.up.sql` file (pop's dialect suffix): not in the sqlite history.
    auth_lite = corpus_histories("sqlite")["supabase-auth/migrations"]
    assert len(auth_lite.migrations) == 69
    assert not any(".postgres." in m.path.name for m in auth_lite.migrations)

    def order(key: str) -> list[str]:
        return [m.path.name for m in pg[key].migrations]

    h = order(f"{harness}/postgres")
    assert h.index("0009_create_table_webhook_executions.up.sql") < h.index(
        "0010_create_index_webhook_executions_webhook_id.up.sql")
    assert h[0] == "0000_alter_table_migrations.up.sql" and h[-1] == "0189.up.sql"
    f = order(f"{fineract}/core_db")
    assert f[8:10] == ["V9__add_min_max_constraint_column_to_loan_loanproduct.sql",
                       "V10__interest-posting-fields-for-savings.sql"]  # file-name order puts V10 after V1
    assert f[f.index("V91__apply_annual_fees_permission.sql") + 1] == \
        "V91_1__configuration_settings_for_holiday_and_non_workingday.sql"
    assert f[f.index("V118_8__track_overpayments_seperately_in_loan_transactions.sql") + 1] == \
        "V119__add_template_table.sql"
    assert f[-1] == "V392__interest_recovery_conf_for_rescedule.sql"
    assert order("redgate-flyway-undo-pg/migrations") == ["B001__baseline.sql", "V002__Welcome.sql"]
    assert order(f"{chef}/oc_bifrost/schema")[-6:] == [
        "update_acl@1.2.0.sql", "debug_schema.sql", "debug_object_acl_view.sql",
        "actor_has_bulk_permission_on.sql", "update_acl@1.3.0.sql", "update_acl.sql"]
    assert order("supabase-postgres-dbmate/migrations/db/migrations")[0] == "10000000000000_demote-postgres.sql"
    assert order("openfga-goose/assets/migrations/postgres") == [
        "001_initialize_schema.sql", "002_add_authorization_model_version.sql", "003_add_reverse_lookup_index.sql",
        "004_add_authorization_model_serialized_protobuf.sql", "005_add_conditions_to_tuples.sql",
        "006_add_collate_index.sql"]
    # harness shares leading numbers on purpose (its migrator keys by whole file name).
    assert len(duplicate_versions(pg[f"{harness}/postgres"])) == 28
    assert all(not duplicate_versions(pg[k]) for k in pg if not k.startswith("harness"))
    for hist in pg.values():
        keys = [m.sort_key for m in hist.migrations]
        assert keys == sorted(keys)


@needs_shared
def test_every_corpus_file_finds_its_history_without_raising() -> None:
    for dialect in ("postgres", "mysql", "sqlite"):
        index = HistoryIndex(MigrationIndex({}, dialect=dialect), dialect)
        for path in CORPORA.rglob("*.sql"):
            found = index.history_for(path)
            if found is not None:
                assert found.index_of(path) is not None


# --- SG33 ----------------------------------------------------------------------------------------

def sg33(path: Path, index: HistoryIndex) -> list[Finding]:
    """SG33 on one file, with `ctx.duplicates` filled as the engine fills it."""
    found = index.history_for(path)
    m = found.migration(path) if found is not None else None
    duplicates: tuple[str, ...] = ()
    if found is not None and m is not None:
        duplicates = tuple(short_name(p, found.convention) for p in duplicate_versions(found).get(m.path, []))
    ctx = types.SimpleNamespace(duplicates=duplicates, migration=MigrationIndex({}).classify(path), path=str(path),
                                report=lambda span, msg, help=None, fix=None: Finding(span, msg, help, fix))
    return list(sg33_duplicate_version.check(ctx))  # type: ignore[arg-type]


def test_sg33_fixture_trees() -> None:
    index = HistoryIndex(MigrationIndex({}), "postgres")
    files = sorted((RULE_FIXTURES / "SG33").rglob("*.sql"))
    assert files
    for path in files:
        fail = path.read_text(encoding="utf-8").startswith("-- fail:")
        assert bool(sg33(path, index)) == fail, path


def test_sg33_message(tmp_path: Path) -> None:
    tree(tmp_path, {"0002_a.up.sql": "SELECT 1;", "0002_b.up.sql": "SELECT 1;", "0002_b.down.sql": "SELECT 1;"})
    index = HistoryIndex(MigrationIndex({}), "postgres")
    found = sg33(tmp_path / "0002_a.up.sql", index)
    assert [f.message for f in found] == [
        "`0002_a.up.sql` has version `0002`, like `0002_b.up.sql`: golang-migrate refuses to run a folder with "
        "two migrations of one version."]
    assert sg33(tmp_path / "0002_b.down.sql", index) == []  # reported on the migration, not its rollback


def test_sg33_docs_example_is_flagged_and_use_instead_is_clean(tmp_path: Path) -> None:
    rule = sg33_duplicate_version.RULE

    def flagged(section: str, root: Path) -> list[bool]:
        rels = [line.split()[0] for line in rule.section(section).splitlines()]
        tree(root, {r: "SELECT 1;" for r in rels})
        index = HistoryIndex(MigrationIndex({}), "postgres")
        return [bool(sg33(root / r, index)) for r in rels]

    assert all(flagged("Example", tmp_path / "example"))
    assert not any(flagged("Use instead", tmp_path / "fixed"))


def test_sg34_docs_example_is_flagged_and_use_instead_is_clean(tmp_path: Path) -> None:
    """The docs' last line is the new migration; the others are already in the history."""
    rule = sg34_out_of_order.RULE

    def newer(section: str, root: Path) -> Migration | None:
        rels = [line.split()[0] for line in rule.section(section).splitlines()]
        tree(root, {r: "SELECT 1;" for r in rels})
        h = history(root)
        return out_of_order(h, frozenset({root / rels[-1]})).get(h.folder / rels[-1])

    assert newer("Example", tmp_path / "example") is not None
    assert newer("Use instead", tmp_path / "fixed") is None
