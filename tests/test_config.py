"""Config discovery and validation: every mistake names the file, the line and the key (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlguard.config import Settings, find_config, load_settings
from sqlguard.diagnostic import SqlguardError


def test_pyproject_tool_table_is_found_walking_up(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.sqlguard]\ndialect = "mysql"\n'
                                             'select = ["SG2"]\nfail-on = "error"\n')
    deep = tmp_path / "db" / "migrations"
    deep.mkdir(parents=True)
    s = load_settings(None, [deep])
    assert (s.dialect, s.select, s.fail_on) == ("mysql", ("SG2",), "error")
    assert s.config_path == tmp_path / "pyproject.toml"


def test_pyproject_without_tool_table_is_passed_over(tmp_path: Path) -> None:
    (tmp_path / "sqlguard.yaml").write_text("dialect: sqlite\n")
    inner = tmp_path / "pkg"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_config([inner]) == tmp_path / "sqlguard.yaml"


def test_cli_flags_replace_config_keys(tmp_path: Path) -> None:
    (tmp_path / "sqlguard.yaml").write_text("dialect: sqlite\nignore: [SG21]\n")
    s = load_settings(None, [tmp_path], {"dialect": "postgres", "ignore": ["SG20"]})
    assert s.dialect == "postgres" and s.ignore == ("SG20",)


def test_migration_folders_resolve_against_the_config(tmp_path: Path) -> None:
    (tmp_path / "db" / "migrations").mkdir(parents=True)
    (tmp_path / "legacy").mkdir()
    (tmp_path / "sqlguard.yaml").write_text("catalog: rules/c.yaml\nmigrations:\n  - db/migrations\n"
                                            "  - {path: legacy, convention: flyway}\n")
    s = load_settings(None, [tmp_path])
    assert s.catalog == (tmp_path / "rules" / "c.yaml").resolve()
    assert [(f.path.name, f.convention) for f in s.migrations] == [("migrations", "auto"), ("legacy", "flyway")]


@pytest.mark.parametrize("name,text,line,needle", [
    ("sqlguard.yaml", "dialect: postgres\nfail_on: error\n", 2, "did you mean `fail-on`"),
    ("sqlguard.yaml", "dialect: oracle7\n", 1, "unknown value `oracle7`"),
    ("sqlguard.yaml", "select: [SG20, DROP]\n", 1, "`DROP` is not a rule code"),
    ("sqlguard.yaml", "select: [SG99]\n", 1, "`SG99` is not a rule code, prefix or group: did you mean `SG59`?"),
    ("sqlguard.yaml", "ignore: [SG9]\n", 1, "`SG9` is not a rule code"),
    ("sqlguard.yaml", "rules:\n  SG58: loud\n", 1, "unknown level `loud`"),
    ("sqlguard.yaml", "rules:\n  SG5: off\n", 1, "`SG5` is not a rule code: did you mean"),
    ("sqlguard.yaml", "migrations:\n  - nowhere\n", 1, "folder `nowhere` does not exist"),
    ("sqlguard.yaml", "dialects:\n  db/h2: mysql\n", 1, "`db/h2` does not exist"),
    ("sqlguard.yaml", "dialect: [postgres\n", 2, "invalid YAML"),
    ("sqlguard.yaml", "migrations: 5\n", 1, "must be a list of folders"),
    ("pyproject.toml", '[tool.sqlguard]\ndialect = "postgres"\nexclude = 3\n', 3, "must be a list of strings"),
    ("pyproject.toml", '[tool.sqlguard]\n\ncatalgo = "x.yaml"\n', 3, "did you mean `catalog`"),
    ("pyproject.toml", '[tool.sqlguard]\ndialect = \n', 2, "invalid TOML"),
])
def test_malformed_config_names_file_line_and_key(tmp_path: Path, name: str, text: str, line: int,
                                                  needle: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(SqlguardError) as err:
        load_settings(None, [tmp_path])
    assert err.value.path == str(tmp_path / name)
    assert err.value.line == line
    assert needle in str(err.value)


def test_config_error_is_exit_2_with_one_line(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "sqlguard.yaml").write_text("fail-on: sometimes\n")
    (tmp_path / "m.sql").write_text("SELECT 1;\n")
    res = run_cli("lint", str(tmp_path / "m.sql"))
    assert res.code == 2
    assert res.err.count("\n") == 1 and "sqlguard.yaml:1: `fail-on`: unknown value `sometimes`" in res.err


def test_select_and_ignore_prefixes() -> None:
    s = Settings(select=("SG2",), ignore=("SG21",))
    assert s.enabled("SG20") and not s.enabled("SG21") and not s.enabled("SG10")
    assert Settings(ignore=("SG2",), select=("SG21",)).enabled("SG21")  # the more specific wins


_ENVS = "environments:\n  test:\n    dsn-env: T_URL\n  dev:\n    dsn-env: D_URL\n  qa:\n    dsn-env: Q_URL\n"


@pytest.mark.parametrize("apply, message", [
    ("apply:\n  environments: [dev, test]\n", "`dev` comes first but is not a test environment"),
    ("apply:\n  environments: [test, qa]\n", "`qa` has no stage"),
    ("apply:\n  environments: [test, prod]\n", "unknown environment `prod`"),
    ("apply:\n  lock-timeout: soon\n", "`lock-timeout` must be a duration"),
    ("apply:\n  statement-timeout: 9999999h\n", "`statement-timeout` is longer than PostgreSQL allows"),
    ("apply:\n  lock-timeout: 2147483648\n", "`lock-timeout` is longer than PostgreSQL allows"),
    ("apply:\n  lock-wait: -1\n", "`lock-wait` must be a number of seconds"),
    ("apply:\n  histroy: x\n", "unknown key `histroy`: did you mean `history`?"),
    ("apply:\n  history:\n    table: m\n    columns: {applied_at: at}\n", "must map `filename` or `version`"),
    ("apply:\n  history:\n    columns: {file: f}\n", "unknown field `file`"),
    ("apply:\n  history: 'a.b.c'\n", "optionally schema-qualified"),
])
def test_apply_section_mistakes_name_the_key(tmp_path: Path, apply: str, message: str) -> None:
    (tmp_path / "sqlguard.yaml").write_text(_ENVS + apply, encoding="utf-8")
    with pytest.raises(SqlguardError) as info:
        load_settings(None, [tmp_path])
    assert message in str(info.value) and "`apply`" in str(info.value)
    assert info.value.line is not None


def test_apply_section_defaults_and_stages(tmp_path: Path) -> None:
    envs = _ENVS.replace("    dsn-env: Q_URL\n", "    dsn-env: Q_URL\n    stage: staging\n")
    (tmp_path / "sqlguard.yaml").write_text(envs + "apply:\n  lock-timeout: 250\n  backup-dir: var/dumps\n",
                                            encoding="utf-8")
    settings = load_settings(None, [tmp_path])
    assert [(e.name, e.stage) for e in settings.environments] == [("test", "test"), ("dev", "dev"), ("qa", "staging")]
    a = settings.apply
    assert (a.environments, a.lock_timeout, a.statement_timeout, a.lock_wait) == ((), "250ms", "15min", 300)
    assert a.backup_dir == (tmp_path / "var" / "dumps").resolve()
    assert a.history.table == "sqlguard_migrations" and not a.history.keyed_by_filename


@pytest.mark.parametrize("order", ["", "apply:\n  environments: [test, dev, prod]\n"])
def test_prod_is_migrated_only_when_named(tmp_path: Path, order: str) -> None:
    """No implicit prod: the default set of `apply` leaves a prod-stage environment out, listed or not."""
    from sqlguard.config import load_settings
    from sqlguard.live.apply import targets

    (tmp_path / "sqlguard.yaml").write_text(
        "environments:\n  test: {dsn-env: T}\n  dev: {dsn-env: D}\n  prod: {dsn-env: P}\n" + order, encoding="utf-8")
    settings = load_settings(None, [tmp_path])
    assert [e.name for e in settings.environments if e.stage == "prod"] == ["prod"]
    assert [e.name for e in targets(settings, None)] == ["test", "dev"]
    assert [e.name for e in targets(settings, ["test", "prod"])] == ["test", "prod"]
