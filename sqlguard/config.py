"""Settings: from `[tool.sqlguard]` in pyproject.toml or from sqlguard.yaml, then CLI flags.

The config file is found by walking up from the first linted path, then from the current
directory; `--config` names one directly. A CLI flag replaces its config key. Every mistake in a
config file is a `SqlguardError` naming the file, the line and the key.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlguard.diagnostic import SEVERITY_RANK, SqlguardError
from sqlguard.sql.reading import KNOWN

CONVENTIONS = ("auto", "sqlguard", "golang-migrate", "diesel", "prisma", "flyway", "sqitch", "dbmate", "goose",
               "numbered")
FAIL_ON = ("error", "warning", "info", "never")
KEYS = ("catalog", "dialect", "dialects", "migrations", "convention", "select", "ignore", "rules", "exclude",
        "fail-on", "baseline", "pg-version", "assume-in-transaction", "environments", "apply")
RULE_LEVELS = ("off", "info", "warning", "error")
ENVIRONMENT_KEYS = ("dsn-env", "service", "host", "port", "dbname", "user", "connect-timeout", "stage")
# The order changes travel in: `sqlguard apply` migrates a test database before any other.
STAGES = ("test", "dev", "staging", "prod")
_STAGE_NAMES = {"test": "test", "testing": "test", "ci": "test", "dev": "dev", "development": "dev", "local": "dev",
                "staging": "staging", "stage": "staging", "preprod": "staging", "prod": "prod", "production": "prod"}
APPLY_KEYS = ("environments", "lock-timeout", "statement-timeout", "backup-dir", "lock-wait", "history")
# What the history table records, by sqlguard's name for it (the column names are configurable).
HISTORY_FIELDS = ("version", "name", "filename", "checksum", "applied_at", "applied_by", "duration_ms", "environment",
                  "backup_path")
DEFAULT_HISTORY_COLUMNS = tuple((f, f) for f in HISTORY_FIELDS if f != "filename")
_TIMEOUT = re.compile(r"^\s*[0-9]+\s*(?:ms|s|min|h)?\s*$")
_UNIT_MS = {"": 1, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000}  # PostgreSQL reads a bare number as ms
# How each migration runner runs a file: True when it wraps the file in one transaction.
TRANSACTION_PRESETS = {"sqlguard": True, "golang-migrate": True, "flyway": True, "alembic": True, "django": True,
                       "dbmate": True, "goose": True, "prisma": True, "psql": False, "sqitch": False}
GROUPS = ("hygiene",)
CONFIG_NAMES = ("sqlguard.yaml", ".sqlguard.yaml", "pyproject.toml")
_CODE = re.compile(r"^SG[0-9]{0,2}$|^hygiene$", re.I)


@dataclass(frozen=True)
class MigrationFolder:
    path: Path  # absolute
    convention: str = "auto"
    # Flyway: every location of the one version stream this folder is part of (empty: the folder alone)
    locations: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Environment:
    """A database to check or migrate. Credentials never live here: a DSN comes from the environment
    variable `dsn_env`, or from a libpq service (pg_service.conf, ~/.pgpass for the password)."""

    name: str
    dsn_env: str | None = None
    service: str | None = None
    host: str | None = None
    port: int | None = None
    dbname: str | None = None
    user: str | None = None
    connect_timeout: int = 10
    stage: str | None = None  # test, dev, staging or prod; None when neither configured nor told by the name


@dataclass(frozen=True)
class HistoryTable:
    """Where applied migrations are recorded: sqlguard's own `sqlguard_migrations`, or the table another
    runner already writes (`columns` maps sqlguard's fields to its columns; a field not mapped is not kept)."""

    table: str = "sqlguard_migrations"  # may be schema-qualified: `ops.migrations`
    columns: tuple[tuple[str, str], ...] = DEFAULT_HISTORY_COLUMNS

    def column(self, field_name: str) -> str | None:
        return dict(self.columns).get(field_name)

    @property
    def keyed_by_filename(self) -> bool:
        """A migration is found by its file name (else by version and name)."""
        return self.column("filename") is not None


@dataclass(frozen=True)
class ApplySettings:
    environments: tuple[str, ...] = ()  # the order `sqlguard apply` migrates in; empty: by stage
    lock_timeout: str = "5s"
    statement_timeout: str = "15min"
    backup_dir: Path | None = None  # None: <root>/backups
    lock_wait: int = 300  # seconds to wait for another sqlguard run holding the database's apply lock
    history: HistoryTable = field(default_factory=HistoryTable)


@dataclass(frozen=True)
class Settings:
    dialect: str = "postgres"
    # (folder or file, dialect) from the config's `dialects` and its folders of `migrations`; see
    # sqlguard.migrations.dialects for how a file's dialect is decided
    dialects: tuple[tuple[Path, str], ...] = ()
    dialect_forced: bool = False  # `--dialect` given: it is every file's
    catalog: Path | None = None
    migrations: tuple[MigrationFolder, ...] = ()
    convention: str = "auto"
    select: tuple[str, ...] = ()  # codes, prefixes or groups; empty means every default rule
    ignore: tuple[str, ...] = ()
    levels: tuple[tuple[str, str], ...] = ()  # (rule code, off | info | warning | error) from the config's `rules`
    baseline: Path | None = None  # findings recorded there are not reported (`--baseline`)
    exclude: tuple[str, ...] = ()
    fail_on: str = "warning"
    pg_version: int = 15
    # None: decided per file from its migration convention; True/False: the runner wraps (or not)
    assume_in_transaction: bool | None = None
    environments: tuple[Environment, ...] = ()
    apply: ApplySettings = field(default_factory=ApplySettings)
    config_path: Path | None = None
    root: Path = field(default_factory=Path.cwd)

    def enabled(self, code: str, group: str | None = None, default: bool = True) -> bool:
        """Whether a rule runs: `off` in the config's `rules` turns it off; else the most specific of
        select/ignore wins; opt-in groups need a select (or a level in `rules`)."""
        level = dict(self.levels).get(code)
        if level == "off":
            return False
        if level is not None and not default and not self.select:
            return code not in self.ignore
        def hit(patterns: tuple[str, ...]) -> int:
            best = max((len(p) for p in patterns if code.startswith(p)), default=-1)
            if group is not None and group.upper() in patterns:
                best = max(best, 4)
            return best
        explicit = hit(self.select)
        if not default and explicit < 3:
            return False  # an opt-in rule runs only when its code or group is selected
        selected = explicit if self.select else 0
        return selected >= 0 and selected >= hit(self.ignore)

    def fails(self, severity: str) -> bool:
        return self.fail_on != "never" and SEVERITY_RANK[severity] >= SEVERITY_RANK[self.fail_on]


def find_config(starts: list[Path]) -> Path | None:
    seen: set[Path] = set()
    folders: dict[str, None] = {}  # the folders to start from, in order, each once (a run names many files)
    for start in starts:
        folders.setdefault(str(start) if os.path.isdir(start) else os.path.dirname(os.path.abspath(start)))
    for folder in folders:
        here = Path(folder).resolve()
        for d in (here, *here.parents):
            if d in seen:
                break
            seen.add(d)
            for name in CONFIG_NAMES:
                f = d / name
                if os.path.isfile(f) and (name != "pyproject.toml" or _has_tool_table(f)):
                    return f
    return None


def _has_tool_table(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return re.search(r"^\s*\[\s*tool\.sqlguard\s*[\].]", text, re.M) is not None


class _Located:
    """Where each key of a config stands, for error messages."""

    def __init__(self, path: Path, text: str, yaml_lines: dict[str, tuple[int, int]] | None) -> None:
        self.path = path
        self.text = text
        self.yaml_lines = yaml_lines

    def line(self, key: str) -> int | None:
        if self.yaml_lines is not None:
            return self.yaml_lines.get(key, (None, None))[0]
        section = re.search(r"^\s*\[\s*tool\.sqlguard\s*\]", self.text, re.M)
        offset = section.end() if section else 0
        m = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", re.M).search(self.text, offset)
        if m is None:
            m = re.search(rf"^\s*\[+\s*tool\.sqlguard\.{re.escape(key)}\s*\]", self.text, re.M)
        return self.text.count("\n", 0, m.start() + len(m.group(0)) - len(m.group(0).lstrip())) + 1 if m else None

    def error(self, key: str, message: str) -> SqlguardError:
        return SqlguardError(f"`{key}`: {message}", str(self.path), self.line(key))


def read_config(path: Path) -> tuple[dict[str, Any], _Located]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SqlguardError(f"cannot read config: {err.strerror}", str(path)) from None
    except UnicodeDecodeError:
        raise SqlguardError("config is not valid UTF-8", str(path)) from None
    if path.suffix == ".toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            m = re.search(r"\(at line (\d+), column (\d+)\)", str(err))
            msg = re.sub(r"\s*\(at line.*\)", "", str(err))
            raise SqlguardError(f"invalid TOML: {msg}", str(path), int(m.group(1)) if m else None,
                                int(m.group(2)) if m else None) from None
        tool = data.get("tool", {})
        table = tool.get("sqlguard", {}) if isinstance(tool, dict) else {}
        if not isinstance(table, dict):
            raise SqlguardError("`tool.sqlguard` must be a table", str(path))
        return table, _Located(path, text, None)
    from sqlguard.yamlpos import load_yaml_with_lines

    data, lines = load_yaml_with_lines(text, str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SqlguardError("the config must be a mapping of keys to values", str(path), 1)
    return data, _Located(path, text, lines)


def load_settings(config: Path | None, starts: list[Path], overrides: dict[str, Any] | None = None) -> Settings:
    """Settings from the config file (found or given) with CLI `overrides` (config key -> value)."""
    path = config if config is not None else find_config([*starts, Path.cwd()])
    raw: dict[str, Any] = {}
    loc: _Located | None = None
    if path is not None:
        if not path.is_file():
            raise SqlguardError("config file not found", str(path))
        raw, loc = read_config(path)
    root = path.resolve().parent if path is not None else Path.cwd()
    settings = _from_mapping(raw, loc, root)
    settings = replace(settings, config_path=path, root=root)
    if overrides:
        settings = _apply_overrides(settings, overrides)
    return settings


def _from_mapping(raw: dict[str, Any], loc: _Located | None, root: Path) -> Settings:
    def fail(key: str, message: str) -> SqlguardError:
        if loc is None:
            return SqlguardError(f"`{key}`: {message}")
        return loc.error(key, message)

    for key in raw:
        if key not in KEYS:
            close = _close_matches(str(key).replace("_", "-"), KEYS)
            hint = f": did you mean `{close[0]}`?" if close else f" (known keys: {', '.join(KEYS)})"
            raise fail(str(key), f"unknown key{hint}")

    def string(key: str, choices: tuple[str, ...] | None = None) -> str | None:
        if key not in raw:
            return None
        value = raw[key]
        if not isinstance(value, str):
            raise fail(key, f"must be a string, not {type(value).__name__}")
        if choices is not None and value not in choices:
            raise fail(key, f"unknown value `{value}` (choose from: {', '.join(choices)})")
        return value

    def strings(key: str) -> tuple[str, ...]:
        value = raw.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(key, "must be a list of strings")
        return tuple(value)

    def codes(key: str) -> tuple[str, ...]:
        out = tuple(c.strip().upper() for c in strings(key))
        for c in out:
            problem = unknown_code(c)
            if problem:
                raise fail(key, problem)
        return out

    levels: list[tuple[str, str]] = []
    raw_levels = raw.get("rules", {})
    if not isinstance(raw_levels, dict):
        raise fail("rules", "must be a table of rule codes and levels, e.g. `SG58 = \"off\"`")
    for code, level in raw_levels.items():
        code = str(code).strip().upper()
        problem = unknown_code(code, prefixes=False)
        if problem:
            raise fail("rules", problem)
        if level is False:
            level = "off"  # (YAML reads an unquoted `off` as false)
        if level not in RULE_LEVELS:
            raise fail("rules", f"{code}: unknown level `{level}` (choose from: {', '.join(RULE_LEVELS)})")
        levels.append((code, str(level)))

    pg_version = raw.get("pg-version", 15)
    if isinstance(pg_version, str) and re.fullmatch(r"[0-9]{1,3}", pg_version.strip()):
        pg_version = int(pg_version)
    if not isinstance(pg_version, int) or isinstance(pg_version, bool) or not 9 <= pg_version <= 30:
        raise fail("pg-version", "must be a PostgreSQL major version such as 15")
    assume = raw.get("assume-in-transaction")
    if isinstance(assume, str):
        if assume not in TRANSACTION_PRESETS:
            raise fail("assume-in-transaction", f"unknown runner `{assume}` (choose from: true, false, "
                                                f"{', '.join(TRANSACTION_PRESETS)})")
        assume = TRANSACTION_PRESETS[assume]
    elif assume is not None and not isinstance(assume, bool):
        raise fail("assume-in-transaction", "must be true, false or a runner name")

    s = Settings(root=root)
    dialect = string("dialect", KNOWN)
    convention = string("convention", CONVENTIONS)
    fail_on = string("fail-on", FAIL_ON)
    catalog = string("catalog")
    baseline = string("baseline")
    folders: list[MigrationFolder] = []
    value = raw.get("migrations", [])
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, list):
        raise fail("migrations", "must be a list of folders (strings, or tables with `path` and `convention`)")
    paths_dialects: list[tuple[Path, str]] = []

    def dialect_value(key: str, where: str, value: object) -> str:
        from sqlguard.migrations.dialects import DIALECT_TOKENS

        found = DIALECT_TOKENS.get(value.lower()) if isinstance(value, str) else None
        if found is None:
            raise fail(key, f"{where}: unknown dialect `{value}` (choose from: {', '.join(KNOWN)})")
        return found

    for item in value:
        # a folder: `path` (a string is one), or `paths`, several folders of one history (Flyway's `locations`)
        item = {"path": item} if isinstance(item, str) else item
        several = isinstance(item, dict) and isinstance(item.get("paths"), list) and bool(item["paths"])
        paths = item["paths"] if several else [item.get("path")] if isinstance(item, dict) else [None]
        if not all(isinstance(p, str) for p in paths):
            raise fail("migrations", "each folder is a string, or a table with `path` and `convention`")
        conv = item.get("convention", convention or ("flyway" if several else "auto"))
        if conv not in CONVENTIONS:
            raise fail("migrations", f"unknown convention `{conv}` (choose from: {', '.join(CONVENTIONS)})")
        if several and conv not in ("flyway", "auto"):
            raise fail("migrations", "`paths` (several folders of one history) is Flyway's `locations`: use it "
                                     "with `convention: flyway`")
        key = "paths" if several else "path"
        extra = set(item) - {key, "convention", "dialect"}
        if extra:
            raise fail("migrations", f"unknown key `{sorted(extra)[0]}` in a folder (use `{key}`, `convention`, "
                                     "`dialect`)")
        group = tuple((root / p).resolve() for p in paths)
        for p, where in zip(paths, group, strict=True):
            if not where.is_dir():
                raise fail("migrations", f"folder `{p}` does not exist (relative to {root})")
            folders.append(MigrationFolder(where, "flyway" if several else conv, group if several else ()))
            if "dialect" in item:
                paths_dialects.append((where, dialect_value("migrations", p, item["dialect"])))
    raw_dialects = raw.get("dialects", {})
    if not isinstance(raw_dialects, dict):
        raise fail("dialects", "must be a table of paths and their dialects, e.g. `db/mysql = \"mysql\"`")
    for where, value in raw_dialects.items():
        paths_dialects.append(((root / str(where)).resolve(), dialect_value("dialects", str(where), value)))
        if not paths_dialects[-1][0].exists():
            raise fail("dialects", f"`{where}` does not exist (relative to {root})")
    envs: list[Environment] = []
    raw_envs = raw.get("environments", {})
    if not isinstance(raw_envs, dict):
        raise fail("environments", "must be a table of environments, e.g. [tool.sqlguard.environments.dev]")
    for env_name, spec in raw_envs.items():
        if not isinstance(spec, dict):
            raise fail("environments", f"`{env_name}` must be a table with `dsn-env` or `service`")
        unknown = [k for k in spec if k not in ENVIRONMENT_KEYS]
        if unknown:
            hint = " (credentials never go in the config: use `dsn-env` or a libpq service)" \
                if unknown[0] in ("dsn", "password", "url") else f" (known: {', '.join(ENVIRONMENT_KEYS)})"
            raise fail("environments", f"`{env_name}`: unknown key `{unknown[0]}`{hint}")
        if not spec.get("dsn-env") and not spec.get("service") and not spec.get("host") and not spec.get("dbname"):
            raise fail("environments", f"`{env_name}` needs `dsn-env` (an environment variable holding the DSN) "
                                       "or `service` (a libpq service name)")
        port = spec.get("port")
        if port is not None and not isinstance(port, int):
            raise fail("environments", f"`{env_name}.port` must be a number")
        timeout = spec.get("connect-timeout", 10)
        if not isinstance(timeout, int) or timeout <= 0:
            raise fail("environments", f"`{env_name}.connect-timeout` must be a positive number of seconds")
        stage = spec.get("stage", _STAGE_NAMES.get(str(env_name).lower()))
        if stage is not None and stage not in STAGES:
            raise fail("environments", f"`{env_name}.stage` must be one of: {', '.join(STAGES)}")
        envs.append(Environment(str(env_name), spec.get("dsn-env"), spec.get("service"), spec.get("host"), port,
                                spec.get("dbname"), spec.get("user"), timeout, stage))
    return replace(
        s,
        environments=tuple(envs),
        apply=_apply_settings(raw.get("apply", {}), envs, fail, root),
        dialect=dialect or s.dialect,
        dialects=tuple(paths_dialects),
        convention=convention or s.convention,
        fail_on=fail_on or s.fail_on,
        catalog=(root / catalog).resolve() if catalog else None,
        migrations=tuple(folders),
        select=codes("select"),
        ignore=codes("ignore"),
        levels=tuple(levels),
        baseline=(root / baseline).resolve() if baseline else None,
        exclude=strings("exclude"),
        pg_version=pg_version,
        assume_in_transaction=assume,
    )


def _apply_settings(raw: Any, envs: list[Environment], fail: Any, root: Path) -> ApplySettings:
    """The `apply` table: the environments' order (test first), timeouts, backups and the history table."""
    if not isinstance(raw, dict):
        raise fail("apply", "must be a table, e.g. [tool.sqlguard.apply]")
    for k in raw:
        if k not in APPLY_KEYS:
            close = _close_matches(str(k), APPLY_KEYS)
            raise fail("apply", f"unknown key `{k}`" + (f": did you mean `{close[0]}`?" if close else
                                                         f" (known: {', '.join(APPLY_KEYS)})"))
    out = ApplySettings()
    names = [e.name for e in envs]
    order = raw.get("environments")
    if order is not None:
        if not isinstance(order, list) or not all(isinstance(n, str) for n in order) or not order:
            raise fail("apply", "`environments` must be a list of environment names, test first")
        for n in order:
            if n not in names:
                raise fail("apply", f"`environments`: unknown environment `{n}` (configured: "
                                    f"{', '.join(names) or 'none'})")
        if len(set(order)) != len(order):
            raise fail("apply", "`environments` names an environment twice")
        stages = {e.name: e.stage for e in envs}
        problem = stage_order_problem([(n, stages[n]) for n in order])
        if problem:
            raise fail("apply", f"`environments`: {problem}")
        out = replace(out, environments=tuple(order))
    def duration(key: str, default: str) -> str:
        value = raw.get(key, default)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            value = f"{value}ms"
        if not isinstance(value, str) or not _TIMEOUT.match(value):
            raise fail("apply", f"`{key}` must be a duration such as `5s`, `500ms`, `15min` or `0` (no limit)")
        number, unit = re.fullmatch(r"\s*([0-9]+)\s*([a-z]*)\s*", value).groups()  # type: ignore[union-attr]
        if int(number) * _UNIT_MS[unit] > 2_147_483_647:
            raise fail("apply", f"`{key}` is longer than PostgreSQL allows (about 24 days; `0` means no limit)")
        return value.replace(" ", "")

    out = replace(out, lock_timeout=duration("lock-timeout", out.lock_timeout),
                  statement_timeout=duration("statement-timeout", out.statement_timeout))
    if "backup-dir" in raw:
        if not isinstance(raw["backup-dir"], str) or not raw["backup-dir"].strip():
            raise fail("apply", "`backup-dir` must be a folder")
        out = replace(out, backup_dir=(root / raw["backup-dir"]).resolve())
    if "lock-wait" in raw:
        wait = raw["lock-wait"]
        if not isinstance(wait, int) or isinstance(wait, bool) or wait < 0:
            raise fail("apply", "`lock-wait` must be a number of seconds (0: do not wait)")
        out = replace(out, lock_wait=wait)
    if "history" in raw:
        out = replace(out, history=_history_table(raw["history"], fail))
    return out


def _history_table(raw: Any, fail: Any) -> HistoryTable:
    if isinstance(raw, str):
        raw = {"table": raw}
    if not isinstance(raw, dict) or set(raw) - {"table", "columns"}:
        raise fail("apply", "`history` is a table name, or a table with `table` and `columns`")
    table = raw.get("table", HistoryTable.table)
    if not isinstance(table, str) or not re.fullmatch(r"[^.\s]+(?:\.[^.\s]+)?", table):
        raise fail("apply", "`history.table` must be a table name, optionally schema-qualified (`ops.migrations`)")
    if "columns" not in raw:
        return HistoryTable(table)
    cols = raw["columns"]
    if not isinstance(cols, dict) or not cols:
        raise fail("apply", "`history.columns` maps sqlguard's fields to the table's columns, e.g. "
                            "{filename: filename, applied_at: executed_at}")
    pairs: list[tuple[str, str]] = []
    for f, c in cols.items():
        if f not in HISTORY_FIELDS:
            raise fail("apply", f"`history.columns`: unknown field `{f}` (fields: {', '.join(HISTORY_FIELDS)})")
        if not isinstance(c, str) or not c:
            raise fail("apply", f"`history.columns.{f}` must be a column name")
        pairs.append((str(f), c))
    mapped = dict(pairs)
    if "filename" not in mapped and "version" not in mapped:
        raise fail("apply", "`history.columns` must map `filename` or `version`: how else find a migration's row?")
    return HistoryTable(table, tuple(pairs))


def stage_order_problem(order: list[tuple[str, str | None]]) -> str | None:
    """Why environments in this order would change something before it was tried on test (None: fine)."""
    rank = {s: i for i, s in enumerate(STAGES)}
    if not order:
        return None
    first, first_stage = order[0]
    if first_stage != "test":
        return (f"`{first}` comes first but is not a test environment: sqlguard applies to test first "
                "(name it `test`, or give it `stage: test`)")
    for (a, sa), (b, sb) in itertools.pairwise(order):
        if sa is None or sb is None:
            unknown = a if sa is None else b
            return f"`{unknown}` has no stage: give it `stage:` (one of {', '.join(STAGES)})"
        if rank[sb] < rank[sa]:
            return f"`{b}` ({sb}) comes after `{a}` ({sa}): a {sa} database would be changed before {sb}"
    return None


def _apply_overrides(settings: Settings, overrides: dict[str, Any]) -> Settings:
    cwd = Path.cwd()
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "catalog":
            changes["catalog"] = (cwd / value).resolve()
        elif key in ("select", "ignore"):
            out = tuple(c.strip().upper() for c in value if c.strip())
            for c in out:
                problem = unknown_code(c)
                if problem:
                    raise SqlguardError(f"--{key}: {problem}")
            changes[key] = out
        elif key == "baseline":
            changes["baseline"] = (cwd / value).resolve()
        elif key == "exclude":
            changes["exclude"] = tuple(value)
        elif key == "fail-on":
            changes["fail_on"] = value
        elif key == "pg-version":
            changes["pg_version"] = value
        elif key == "assume-in-transaction":
            changes["assume_in_transaction"] = TRANSACTION_PRESETS.get(value, value)
        elif key == "migrations":
            conv = overrides.get("convention") or settings.convention
            changes["migrations"] = tuple(MigrationFolder((cwd / v).resolve(), conv) for v in value)
        elif key == "dialect":  # --dialect: every file of this run, whatever its folder or name says
            changes["dialect"], changes["dialect_forced"] = value, True
        else:
            changes[key] = value
    return replace(settings, **changes)


def rule_codes() -> tuple[str, ...]:
    """Every rule's code, from the rule modules' names (`sg20_unconditional_drop.py`): without importing
    the rules, which a run answered from the cache never needs. tests/test_rules.py checks that each
    module's name carries its rule's code."""
    import importlib.util

    spec = importlib.util.find_spec("sqlguard.rules")
    folders = spec.submodule_search_locations if spec is not None else None
    names = (n for f in folders or () for n in os.listdir(f))
    return tuple(sorted({f"SG{m.group(1)}" for n in names if (m := re.match(r"sg(\d\d)_\w+\.py$", n))}))


def unknown_code(code: str, prefixes: bool = True) -> str | None:
    """Why `code` names no rule (None when it names one: a code, a prefix such as `SG5`, or a group)."""
    if code.lower() in GROUPS and prefixes:
        return None
    codes = rule_codes()
    if code in codes or (prefixes and _CODE.match(code) and any(c.startswith(code) for c in codes)):
        return None
    close = _close_matches(code, codes + (GROUPS if prefixes else ()))
    hint = f": did you mean `{close[0]}`?" if close else " (`sqlguard rules` lists them)"
    return f"`{code}` is not a rule code{', prefix or group' if prefixes else ''}{hint}"


def _close_matches(word: str, choices: Any) -> list[str]:
    import difflib

    return difflib.get_close_matches(word, choices, n=1)
