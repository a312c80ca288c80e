"""Migration sets: which migration convention a file follows, its role, and its rollback sibling.

`MigrationIndex.classify(path, text)` answers, for one file, the questions SG30 (migration-name)
and SG31 (missing-rollback) ask: does the file name follow its folder's convention, and does the
migration have a rollback that does something. Seven conventions are known:

| convention      | up                               | rollback                                 |
|-----------------|----------------------------------|------------------------------------------|
| sqlguard        | `YYYYMMDDHHMMSS_name.sql`        | `YYYYMMDDHHMMSS_name_rollback.sql`       |
| golang-migrate  | `<version>_<name>.up.sql`        | `<version>_<name>.down.sql` (pop too)    |
| diesel          | `<version>_<name>/up.sql`        | `<version>_<name>/down.sql`              |
| flyway          | `V<version>__<desc>.sql`         | `U<version>__<desc>.sql` (undo)          |
| sqitch          | `deploy/<change>.sql`            | `revert/<change>.sql` (+ `sqitch.plan`)  |
| dbmate          | one file, `-- migrate:up`        | `-- migrate:down` section                |
| goose           | one file, `-- +goose Up`         | `-- +goose Down` section                 |

A configured folder uses its configured convention; any other folder is recognised from its own
listing, and dbmate and goose files from their section markers. The markers win over the name's
shape because a dbmate folder of `<timestamp>_<name>.sql` files looks exactly like sqlguard's own
convention. Directory listings, sqitch plans and the emptiness of rollback files are cached per
index, so a run over a folder of 400 migrations lists it once.

Where the tools themselves are more lenient than the textbook pattern, the tool wins (a name the
tool runs is not flagged): dbmate runs any `^\\d+.*\\.sql$`, harness's migrator runs `0157.up.sql`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from sqlguard.diagnostic import SqlguardError
from sqlguard.migrations.dialects import in_file_name
from sqlguard.sql.split import Statement, split


def real_path(path: Path) -> Path:
    """`path` with symlinks and `..` resolved: a linted `./db/../db/x.sql` or a /tmp -> /private/tmp
    checkout is the same file. Remembered (by absolute path: the current folder may change between
    two questions): one run asks about the same few thousand paths again and again. The files of one
    folder share the folder's resolution (one lstat each to see they are no symlink)."""
    text = os.fspath(path)
    # joined, not normalised: `link/..` must go through the link, as realpath does
    return _real_path(text if os.path.isabs(text) else os.path.join(os.getcwd(), text))


@lru_cache(maxsize=65536)
def _real_path(absolute: str) -> Path:
    folder, name = os.path.split(absolute)
    if ".." in Path(absolute).parts or name in ("", ".", "..") or os.path.islink(absolute):
        return Path(os.path.realpath(absolute))
    return Path(os.path.join(_real_folder(folder), name))


@lru_cache(maxsize=4096)
def _real_folder(folder: str) -> str:
    return os.path.realpath(folder)

# `numbered` is forward-only numbered SQL (`0001-init.sql`, as node's postgres-migrations runs it):
# never guessed from a listing, because a folder of numbered files is as often a set of scripts.
CONVENTIONS = ("sqlguard", "golang-migrate", "diesel", "prisma", "flyway", "sqitch", "dbmate", "goose", "numbered")

# How a convention is named in messages.
# The pattern a file name should follow, for help texts when no better name can be derived.
PATTERNS = {
    "sqlguard": "YYYYMMDDHHMMSS_snake_case_name.sql",
    "golang-migrate": "<version>_<name>.up.sql",
    "diesel": "<version>_<name>/up.sql",
    "prisma": "<timestamp>_<name>/migration.sql",
    "flyway": "V<version>__<description>.sql",
    "sqitch": "deploy/<change>.sql",
    "dbmate": "<version>_<name>.sql",
    "goose": "<version>_<name>.sql",
    "numbered": "<number>-<name>.sql",
}

LABELS = {
    "sqlguard": "sqlguard",
    "golang-migrate": "golang-migrate",
    "diesel": "diesel",
    "flyway": "Flyway",
    "sqitch": "sqitch",
    "dbmate": "dbmate",
    "goose": "goose",
    "numbered": "numbered (forward-only)",
    "prisma": "Prisma Migrate",
}


# Runners that run a migration of one CONCURRENTLY statement outside a transaction by themselves:
# Flyway detects CONCURRENTLY and runs such a migration non-transactionally. (golang-migrate sends a
# file as one query string, which PostgreSQL runs as one implicit transaction only when it holds
# several statements; but pop and maragudk/migrate, which read the same `.up.sql` files, wrap every
# migration in a transaction, so a lone statement there is not taken on trust.)
# Prisma Migrate sends `migration.sql` as one script: PostgreSQL runs several statements as one implicit
# transaction, and a lone statement on its own.
LONE_STATEMENT_RUNNERS = frozenset({"flyway", "prisma"})


def no_transaction_howto(convention: str | None, section: str | None = None) -> str:
    """How a file of `convention` says that its migration runs outside a transaction."""
    if convention == "dbmate":
        return f"`-- migrate:{'down' if section == 'down' else 'up'} transaction:false`"
    if convention == "goose":
        return "`-- +goose NO TRANSACTION`"
    return "`-- sqlguard: transaction=off` (and your runner's setting for it)"


# Tables that migration runners create for their own bookkeeping, outside the history.
RUNNER_TABLES = frozenset({"migrations", "schema_migrations", "schema_version", "flyway_schema_history",
                           "goose_db_version", "knex_migrations", "alembic_version", "django_migrations",
                           "sqlguard_migrations", "sqlguard_journal", "__diesel_schema_migrations",
                           "seaql_migrations", "_prisma_migrations"})

# Conventions whose runners wrap every migration in a transaction (plain psql and sqitch do not).
WRAPPING = frozenset({"sqlguard", "golang-migrate", "flyway", "dbmate", "goose", "diesel", "numbered", "prisma"})


def wraps(text: str, assume: bool | None, convention: str | None, section: str | None = None,
          path: Path | None = None) -> bool:
    """Whether a file of a history in `convention` (None: not a migration) runs inside one transaction
    its runner opens: the file's directive (or a pop/popx `.autocommit.` name, which runs it without
    one), else `assume-in-transaction`, else the convention's runner. `section`: of a dbmate file, the
    `up` (the default) or `down` section, which each have their flag."""
    from sqlguard.sql.directives import transaction_directive

    said = transaction_directive(text, section)
    if said is not None:
        return said.wraps
    if path is not None and convention == "golang-migrate" and autocommit(path):
        return False
    if assume is not None:
        return assume
    return convention in WRAPPING


def autocommit(path: Path) -> bool:
    """A pop/popx migration named to run outside a transaction: `<version>_<name>[.<db>].autocommit.up.sql`."""
    parts = path.name.lower().split(".")
    return "autocommit" in parts[1:-1]


@dataclass(frozen=True)
class MigrationFile:
    path: Path
    convention: str  # one of CONVENTIONS
    role: str  # "up" | "down" | "baseline" | "repeatable" | "verify"
    version: str | None
    name: str | None
    name_problem: str | None  # why the name breaks the convention, naming the expected pattern (SG30)
    rollback: Path | None  # for an up: the expected rollback (None for single-file conventions)
    rollback_state: str  # "present" | "missing" | "empty" | "n/a"
    orphan: bool  # a rollback / undo / revert with no migration next to it
    # A better file name when one can be derived: the conforming name for a name_problem, or for an
    # orphan rollback the name that pairs it with the one migration of its version (a typo'd name).
    suggested_name: str | None = None
    migration_path: Path | None = None  # for a rollback: the migration it belongs to (expected path)


# --- names ------------------------------------------------------------------------------------

_SQLGUARD_SHAPE = re.compile(r"^\d{14}_")
_SNAKE = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*")
_LEADING_VERSION = re.compile(r"^(\d+)[_\-. ]?(.*)$")

# golang-migrate wants `<version>_<name>.up.sql`; harness's migrator (maragudk/migrate) also runs
# `<version>.up.sql`, so a missing `_<name>` is accepted rather than flagging 66 files that run fine.
_GOLANG = re.compile(r"^(\d+)(?:_(.*?))?\.(up|down)\.sql$", re.IGNORECASE)
_GOLANG_SHAPE = re.compile(r"\.(up|down)\.sql$", re.IGNORECASE)
_GOLANG_UNDERSCORE = re.compile(r"^(.*)_(up|down)\.sql$", re.IGNORECASE)

_FLYWAY = re.compile(r"^([VUB])(\d+(?:[._]\d+)*)__(.+)\.sql$")
_FLYWAY_REPEATABLE = re.compile(r"^R__(.+)\.sql$")
_FLYWAY_LOOSE = re.compile(r"^([VUBRvubr])(\d+(?:[._]\d+)*)?[_\- ]+(.+)\.sql$")
# Flyway runs SQL callbacks (`beforeMigrate.sql`, `afterEachMigrate__log.sql`, …) from the same folders.
_FLYWAY_CALLBACK = re.compile(r"^(?:before|after)[A-Z]\w*(?:__.*)?\.sql$|^createSchema(?:__.*)?\.sql$")

# dbmate's own file pattern is `^(\d+).*\.sql$`: `00000000000000-initial-schema.sql` (supabase) runs.
_DBMATE = re.compile(r"^(\d+)[_\-. ]?(.*)\.sql$")
# goose takes the version up to the first `_` and refuses a file without one.
_NUMBERED = re.compile(r"^(\d+)[-_](.+)\.sql$", re.IGNORECASE)
_GOOSE = re.compile(r"^(\d+)_(.*)\.sql$")

_DIESEL_DIR = re.compile(r"^(\d[\d-]*)_(.+)$")
_PRISMA_DIR = re.compile(r"^(\d{14})_(.+)$")

_MARKER = re.compile(r"--[ \t]*(?:migrate:(up|down)\b|\+goose[ \t]+(up|down)\b)", re.IGNORECASE)
_MARKER_HINT = re.compile(r"^[ \t]*--[ \t]*(?:migrate:|\+goose[ \t])", re.IGNORECASE | re.MULTILINE)

_SQITCH_DIRS = ("deploy", "revert", "verify")

# Statements that leave the schema as it was: a rollback holding only these undoes nothing (harness
# writes `SELECT 1;` as a placeholder down; sqitch's template revert is `BEGIN; -- XXX; COMMIT;`).
_NO_OP = re.compile(r"^(?:BEGIN|COMMIT|END|ROLLBACK|START\s+TRANSACTION|SELECT\s+\d+)\s*;?\s*$",
                    re.IGNORECASE)


def is_down_marker(comment: str, convention: str) -> bool:
    """Is this comment (as written, `--` included) the marker that opens a dbmate / goose down section?"""
    m = _MARKER.match(comment)
    if m is None:
        return False
    group = m.group(1) if convention == "dbmate" else m.group(2)
    return (group or "").lower() == "down"


def short_name(path: Path, convention: str) -> str:
    """How messages name a migration file: diesel's folder and sqitch's script folder carry meaning."""
    if convention in ("diesel", "prisma"):
        return f"{path.parent.name}/{path.name}"
    if convention == "sqitch":
        parts = path.parts
        for i in range(len(parts) - 2, -1, -1):
            if parts[i] in _SQITCH_DIRS:
                return "/".join(parts[i:])
    return path.name


def _snake(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _timestamp_ok(digits: str) -> bool:
    try:
        datetime.strptime(digits, "%Y%m%d%H%M%S")
    except ValueError:
        return False
    return True


def _lead(core: str) -> tuple[str | None, str]:
    """(leading version digits or None, the rest after one separator) of a name without its suffix."""
    m = _LEADING_VERSION.match(core)
    if m is None:
        return None, core
    return m.group(1), m.group(2)


def _sqlguard_name(base: str, ext: str) -> tuple[str | None, str | None, str | None, str | None]:
    """(version, name, problem, suggestion) for `base + ext`, ext being `.sql` or `_rollback.sql`."""
    pattern = "`YYYYMMDDHHMMSS_snake_case_name.sql`"
    version, rest = _lead(base)
    if version is None or len(version) != 14:
        problem = (f"sqlguard migrations are named {pattern}, so without a 14-digit timestamp it "
                   f"cannot be ordered")
        return version, rest or None, problem, None
    if not _timestamp_ok(version):
        problem = f"sqlguard migrations are named {pattern} and `{version}` is not a real date and time"
        return version, rest, problem, None
    fixed = _snake(rest)
    suggestion = f"{version}_{fixed}{ext}" if fixed else None
    if base[14:15] != "_":
        problem = f"sqlguard migrations are named {pattern}, with `_` after the timestamp"
        return version, rest, problem, suggestion
    if not _SNAKE.fullmatch(rest):
        problem = f"sqlguard migrations are named {pattern} and `{rest}` is not lower snake_case"
        return version, rest, problem, suggestion
    return version, rest, None, None


def _flyway_version_key(version: str) -> tuple[int, ...]:
    """Flyway compares versions numerically part by part: `002`, `2`, `2.0` and `2_0` are one version."""
    parts = [int(p) for p in re.split(r"[._]", version)]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


# --- sqitch plans -----------------------------------------------------------------------------

@dataclass(frozen=True)
class SqitchPlan:
    changes: frozenset[str]
    tags: frozenset[str]

    def knows(self, change: str) -> bool:
        """Is `change` (a deploy script's stem: `name`, or `name@tag` of a reworked change) planned?"""
        if change in self.changes:
            return True
        name, at, tag = change.partition("@")
        return bool(at) and name in self.changes and tag in self.tags


# The plan of a sqitch project, and of a pgpm module (the same format under another name).
PLAN_FILES = ("sqitch.plan", "pgpm.plan")


def plan_of(folder: Path) -> Path:
    """The plan file of the sqitch (or pgpm) project in `folder` (`sqitch.plan` when it has none yet)."""
    return next((folder / n for n in PLAN_FILES if (folder / n).is_file()), folder / PLAN_FILES[0])


def _flyway_locations(folder: Path) -> tuple[Path, ...] | None:
    """The `locations` of the Flyway config that names `folder` (`filesystem:` paths, relative to the
    config's folder; `classpath:` ones under `src/main/resources`), when it names two or more that exist."""
    here = folder
    while True:
        for name in ("flyway.toml", "flyway.conf", "conf/flyway.conf"):
            conf = here / name
            if conf.is_file():
                found = _locations_in(conf, here)
                if found and folder in found and len(found) > 1:
                    return found
        if (here / ".git").exists() or here.parent == here:
            return None
        here = here.parent


def _locations_in(conf: Path, base: Path) -> tuple[Path, ...]:
    try:
        text = conf.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    raw: list[str] = []
    if conf.suffix == ".toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return ()
        tables = [data.get("flyway", {})] + [e for e in (data.get("environments") or {}).values()
                                              if isinstance(e, dict)]
        for table in tables:
            value = table.get("locations") if isinstance(table, dict) else None
            if isinstance(value, list):
                raw.extend(v for v in value if isinstance(v, str))
    else:
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == "flyway.locations":
                raw.extend(v.strip() for v in value.split(","))
    out: list[Path] = []
    for item in raw:
        kind, sep, rest = item.partition(":")
        if not sep:
            kind, rest = "classpath", item  # Flyway's default prefix
        where = base / rest if kind == "filesystem" else base / "src" / "main" / "resources" / rest \
            if kind == "classpath" else None
        if where is not None and where.is_dir():
            out.append(real_path(where))
    return tuple(dict.fromkeys(out))


def parse_sqitch_plan(text: str) -> SqitchPlan:
    """Change names and tags of a `sqitch.plan` (pragmas, blank lines and `#` comments skipped)."""
    changes: set[str] = set()
    tags: set[str] = set()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "%")):
            continue
        word = line.split()[0]
        if word.startswith("@"):
            tags.add(word[1:])
            continue
        if word[:1] in "+-":
            word = word[1:]  # early plan syntax marked deploy / revert operations
        if word:
            changes.add(word)
    return SqitchPlan(frozenset(changes), frozenset(tags))


# --- the index --------------------------------------------------------------------------------

_FlywaySets = tuple[dict[tuple[int, ...], str], dict[tuple[int, ...], str]]


class MigrationIndex:
    """Classifies migration files; caches directory listings, plans and rollback emptiness."""

    def __init__(self, folders: dict[Path, str], default_convention: str = "auto", *,
                 dialect: str = "postgres", locations: dict[Path, tuple[Path, ...]] | None = None) -> None:
        for folder, convention in folders.items():
            if convention != "auto" and convention not in CONVENTIONS:
                raise SqlguardError(f"unknown migration convention `{convention}` for `{folder}` "
                                    f"(known: auto, {', '.join(CONVENTIONS)})")
        if default_convention != "auto" and default_convention not in CONVENTIONS:
            raise SqlguardError(f"unknown migration convention `{default_convention}` "
                                f"(known: auto, {', '.join(CONVENTIONS)})")
        self._folders = {Path(k): v for k, v in folders.items()}
        self._default = default_convention
        self._dialect = dialect  # for splitting rollback files when judging their emptiness
        self._listings: dict[Path, frozenset[str]] = {}
        self._detected: dict[Path, str | None] = {}
        self._plans: dict[Path, SqitchPlan | None] = {}
        self._sqitch_roots: dict[Path, tuple[Path, str] | None] = {}
        self._empty: dict[Path, bool] = {}
        self._flyway_sets: dict[Path, _FlywaySets] = {}
        self._locations = {Path(k): tuple(v) for k, v in (locations or {}).items() if len(v) > 1}
        self._found_locations: dict[Path, tuple[Path, ...] | None] = {}

    def locations_of(self, folder: Path) -> tuple[Path, ...] | None:
        """Every location of the Flyway version stream `folder` is part of, when it has several: from the
        config (`migrations: [{paths: [...]}]`), else from a `flyway.conf` or `flyway.toml` in the folder
        or above it (up to the top of the git checkout). None: the folder is a history of its own."""
        for where, group in self._locations.items():
            if folder == where:
                return group
        if folder not in self._found_locations:
            self._found_locations[folder] = _flyway_locations(folder)
        return self._found_locations[folder]

    def classify(self, path: Path, text: str | None = None) -> MigrationFile | None:
        """The migration `path` is, or None when it is not part of a recognisable migration set.

        `text` is the file's content when the caller has it; without it the file is read (dbmate and
        goose are recognised by their markers).
        """
        path = Path(path)
        if path.suffix.lower() != ".sql":
            return None
        try:
            return self._classify(path, text)
        except (OSError, ValueError, RecursionError):
            return None  # a tree we cannot read is not a migration set we can judge, never a crash

    # -- file system, cached --

    def _listing(self, folder: Path) -> frozenset[str]:
        names = self._listings.get(folder)
        if names is None:
            try:
                names = frozenset(p.name for p in folder.iterdir())
            except OSError:
                names = frozenset()
            self._listings[folder] = names
        return names

    def _exists(self, path: Path) -> bool:
        return path.name in self._listing(path.parent)

    def _one_name(self, folder: Path, wanted: Callable[[str], bool]) -> str | None:
        """The only file name in `folder` that `wanted` accepts (None when there are none or several)."""
        found = [n for n in self._listing(folder) if wanted(n)]
        return found[0] if len(found) == 1 else None

    def _is_empty(self, path: Path) -> bool:
        """Does this rollback do nothing (only comments, white space and no-op statements)?"""
        cached = self._empty.get(path)
        if cached is None:
            cached = not any(does_work(s) for s in split(_read(path), self._dialect).statements)
            self._empty[path] = cached
        return cached

    def _state(self, rollback: Path) -> str:
        if not self._exists(rollback):
            return "missing"
        return "empty" if self._is_empty(rollback) else "present"

    def _plan(self, root: Path) -> SqitchPlan | None:
        if root not in self._plans:
            plan_file = plan_of(root)
            self._plans[root] = parse_sqitch_plan(_read(plan_file)) if self._exists(plan_file) else None
        return self._plans[root]

    def _sqitch_root(self, folder: Path) -> tuple[Path, str] | None:
        """(plan folder, "deploy" | "revert" | "verify") when `folder` is in a sqitch script folder."""
        if folder not in self._sqitch_roots:
            found: tuple[Path, str] | None = None
            for candidate in (folder, *folder.parents):
                # Only folders named like sqitch's script folders cost a listing of their parent; the
                # nearest wins, so chef-server's nested `schema/baseline/sqitch.plan` is its own project.
                if candidate.name in _SQITCH_DIRS and any(p in self._listing(candidate.parent) for p in PLAN_FILES):
                    found = (candidate.parent, candidate.name)
                    break
            self._sqitch_roots[folder] = found
        return self._sqitch_roots[folder]

    # -- dispatch --

    def _configured(self, path: Path) -> str | None:
        """The convention configured for `path`'s folder: the nearest configured folder that reaches it."""
        if not self._folders:
            return None
        try:
            resolved = real_path(path)
        except (OSError, RuntimeError, ValueError):
            resolved = path.absolute()
        for depth, folder in enumerate(resolved.parents):
            convention = self._folders.get(folder)
            if convention is None:
                continue
            # Flyway scans its locations recursively; diesel keeps each migration in a subfolder;
            # sqitch scripts sit under deploy/ revert/ verify/; the other tools read one flat folder.
            reaches = (depth == 0 or convention in ("flyway", "sqitch", "auto")
                       or (convention in ("diesel", "prisma") and depth == 1))
            return convention if reaches else None
        return None

    def _classify(self, path: Path, text: str | None) -> MigrationFile | None:
        convention = self._configured(path) or self._default
        if convention in ("auto", "dbmate", "goose"):
            marked = self._single_file(path, _read(path) if text is None else text, convention)
            if marked is not None:
                return marked
        if convention == "sqitch" or (convention == "auto" and self._sqitch_root(path.parent)):
            return self._sqitch(path)
        if convention == "auto":
            convention = self._detect(path.parent) or ""
        handler = {
            "sqlguard": self._sqlguard,
            "golang-migrate": self._golang,
            "diesel": self._diesel,
            "prisma": self._prisma,
            "flyway": self._flyway,
            "numbered": self._numbered,
        }.get(convention)
        return handler(path) if handler else None

    def _detect(self, folder: Path) -> str | None:
        """The convention a folder's own listing shows: the one most of its files follow."""
        if folder in self._detected:
            return self._detected[folder]
        names = [n for n in self._listing(folder) if n.lower().endswith(".sql")]
        found: str | None = None
        if "up.sql" in names or "down.sql" in names:
            found = "diesel"
        elif "migration.sql" in names and _PRISMA_DIR.match(folder.name):
            found = "prisma"
        else:
            counts = {
                "golang-migrate": sum(1 for n in names if _GOLANG_SHAPE.search(n)),
                "flyway": sum(1 for n in names if _FLYWAY.match(n) or _FLYWAY_REPEATABLE.match(n)),
                # pop's `<timestamp>_<name>.up.sql` (supabase-auth) starts with 14 digits too.
                "sqlguard": sum(1 for n in names if _SQLGUARD_SHAPE.match(n) and not _GOLANG_SHAPE.search(n)),
            }
            best = max(counts.values())
            if best:
                # A majority, not any one file, decides: a stray `V1__x.sql` in a sqlguard folder is
                # a misnamed sqlguard migration, not a Flyway folder. Ties go to the stricter shape.
                found = next(c for c, n in counts.items() if n == best)
        self._detected[folder] = found
        return found

    # -- conventions --

    def _single_file(self, path: Path, text: str, configured: str) -> MigrationFile | None:
        """dbmate / goose: recognised by section markers (real `--` comments, not text in strings)."""
        if configured == "auto" and not _MARKER_HINT.search(text):
            return None  # the cheap test spares splitting every plain migration
        parsed = split(text, self._dialect)
        convention = None if configured == "auto" else configured
        has_down = False
        for comment in parsed.comments:
            m = _MARKER.match(comment.text)
            if m is None:
                continue
            kind = "dbmate" if m.group(1) else "goose"
            if convention is None:
                convention = kind  # the first marker names the tool
            if kind == convention and (m.group(1) or m.group(2)).lower() == "down":
                has_down = True
        if convention is None:
            return None
        down_empty = not any(does_work(s) for s in parsed.statements if s.section == "down")
        return _single_file_result(path, convention, has_down, down_empty)

    def _numbered(self, path: Path) -> MigrationFile:
        """Forward-only numbered files: no rollback is expected, so SG31 stays silent."""
        m = _NUMBERED.match(path.name)
        if m is None:
            problem = ("numbered migrations are named `<number>-<name>.sql` (or `<number>_<name>.sql`), so this "
                       "file has no place in the order")
            return MigrationFile(path, "numbered", "up", None, path.stem, problem, None, "n/a", orphan=False)
        return MigrationFile(path, "numbered", "up", m.group(1), m.group(2), None, None, "n/a", orphan=False)

    def _sqlguard(self, path: Path) -> MigrationFile:
        name = path.name
        is_rollback = name.lower().endswith("_rollback.sql")
        base = name[: -len("_rollback.sql")] if is_rollback else name[: -len(".sql")]
        version, mname, problem, suggestion = _sqlguard_name(base, "_rollback.sql" if is_rollback else ".sql")
        if not is_rollback:
            rollback = path.with_name(base + "_rollback.sql")
            return MigrationFile(path, "sqlguard", "up", version, mname, problem, rollback,
                                 self._state(rollback), orphan=False, suggested_name=suggestion)
        up = path.with_name(base + ".sql")
        orphan = not self._exists(up)
        if orphan and suggestion is None and version is not None:
            twin = self._one_name(path.parent, lambda n: n.startswith(version + "_") and n.endswith(".sql")
                                  and not n.endswith("_rollback.sql"))
            suggestion = twin[: -len(".sql")] + "_rollback.sql" if twin else None
        return MigrationFile(path, "sqlguard", "down", version, mname, problem, None, "n/a", orphan=orphan,
                             suggested_name=suggestion, migration_path=up)

    def _golang(self, path: Path) -> MigrationFile:
        name = path.name
        m = _GOLANG.match(name)
        if m is not None:
            return self._golang_proper(path, m)
        u = _GOLANG_UNDERSCORE.match(name)
        if u is not None:
            return self._golang_underscored(path, u)
        shaped = _GOLANG_SHAPE.search(name)
        direction = shaped.group(1).lower() if shaped else "up"
        core = name[: shaped.start()] if shaped else name[: -len(".sql")]
        version, rest = _lead(core)
        suggestion = None
        if version is not None:
            tail = f"_{_snake(rest)}" if _snake(rest) else ""
            suggestion = f"{version}{tail}.{direction}.sql"
        problem = (f"golang-migrate only runs `<version>_<name>.{direction}.sql` (a leading version number), "
                   f"so it will never run")
        role = "down" if direction == "down" else "up"
        return MigrationFile(path, "golang-migrate", role, version, rest or None, problem, None, "n/a",
                             orphan=False, suggested_name=suggestion)

    def _golang_proper(self, path: Path, m: re.Match[str]) -> MigrationFile:
        version, mname, direction = m.group(1), m.group(2), m.group(3).lower()
        stem = path.name[: -len(f".{m.group(3)}.sql")]
        if direction == "up":
            rollback = path.with_name(stem + ".down.sql")
            dialect, generic = in_file_name(rollback.name)
            if dialect is not None and not self._exists(rollback) and self._exists(path.with_name(generic)):
                rollback = path.with_name(generic)  # (a dialect's own up, undone by the files of every dialect)
            return MigrationFile(path, "golang-migrate", "up", version, mname, None, rollback,
                                 self._state(rollback), orphan=False)
        up = path.with_name(stem + ".up.sql")
        orphan = not self._exists(up)
        suggestion = None
        if orphan:
            def same_version_up(n: str) -> bool:
                g = _GOLANG.match(n)
                return g is not None and g.group(1) == version and g.group(3).lower() == "up"

            twin = self._one_name(path.parent, same_version_up)
            suggestion = twin[: -len(".up.sql")] + ".down.sql" if twin else None
        return MigrationFile(path, "golang-migrate", "down", version, mname, None, None, "n/a",
                             orphan=orphan, suggested_name=suggestion, migration_path=up)

    def _golang_underscored(self, path: Path, u: re.Match[str]) -> MigrationFile:
        # `0021_x_up.sql`: golang-migrate never runs it, but it still pairs with `0021_x_down.sql`, and
        # SG31 judges that pair as its author meant it.
        stem, word = u.group(1), u.group(2)
        direction = word.lower()
        version, rest = _lead(stem)
        suggestion = f"{stem}.{direction}.sql"
        other = {"up": "down", "down": "up"}[direction]
        sibling = path.with_name(f"{stem}_{other.upper() if word.isupper() else other}.sql")
        if direction == "up":
            problem = "golang-migrate only runs `<version>_<name>.up.sql`, so it will never run"
            return MigrationFile(path, "golang-migrate", "up", version, rest or None, problem, sibling,
                                 self._state(sibling), orphan=False, suggested_name=suggestion)
        problem = "golang-migrate only runs `<version>_<name>.down.sql` as a rollback, so it will never run"
        return MigrationFile(path, "golang-migrate", "down", version, rest or None, problem, None, "n/a",
                             orphan=not self._exists(sibling), suggested_name=suggestion,
                             migration_path=sibling)

    def _diesel(self, path: Path) -> MigrationFile:
        folder = path.parent.name
        m = _DIESEL_DIR.match(folder)
        version, mname = (m.group(1), m.group(2)) if m else (None, None)
        problem = None
        if m is None:
            example = f"2024-01-01-120000_{_snake(folder) or 'name'}"
            problem = (f"diesel reads the version from the folder name `<version>_<name>` (e.g. "
                       f"`{example}`), and `{folder}` has none, so it cannot order this migration")
        if path.name == "up.sql":
            rollback = path.with_name("down.sql")
            return MigrationFile(path, "diesel", "up", version, mname, problem, rollback,
                                 self._state(rollback), orphan=False)
        if path.name == "down.sql":
            up = path.with_name("up.sql")
            return MigrationFile(path, "diesel", "down", version, mname, problem, None, "n/a",
                                 orphan=not self._exists(up), migration_path=up)
        problem = "diesel only runs `up.sql` and `down.sql` in a migration folder, so it will never run"
        suggestion = None if self._exists(path.with_name("up.sql")) else "up.sql"
        return MigrationFile(path, "diesel", "up", version, mname, problem, None, "n/a", orphan=False,
                             suggested_name=suggestion)

    def _prisma(self, path: Path) -> MigrationFile:
        """Prisma Migrate: `<timestamp>_<name>/migration.sql`, forward-only (it has no down migrations), next
        to `migration_lock.toml`."""
        folder = path.parent.name
        m = _PRISMA_DIR.match(folder)
        version, mname = (m.group(1), m.group(2)) if m else (None, None)
        problem = None
        if m is None:
            problem = (f"Prisma reads the migration's order from its folder name `<timestamp>_<name>` (e.g. "
                       f"`20240101120000_{_snake(folder) or 'name'}`), and `{folder}` has none")
        elif path.name != "migration.sql":
            problem = "Prisma only runs `migration.sql` in a migration folder, so it will never run"
        return MigrationFile(path, "prisma", "up", version, mname, problem, None, "n/a", orphan=False,
                             suggested_name="migration.sql" if problem and m is not None else None)

    def _flyway_versions(self, folder: Path) -> _FlywaySets:
        """Versioned and undo migrations of a folder by version (Flyway pairs an undo by version alone)."""
        sets = self._flyway_sets.get(folder)
        if sets is None:
            versioned: dict[tuple[int, ...], str] = {}
            undo: dict[tuple[int, ...], str] = {}
            for n in sorted(self._listing(folder)):
                m = _FLYWAY.match(n)
                if m is not None and m.group(1) != "B":
                    (versioned if m.group(1) == "V" else undo).setdefault(_flyway_version_key(m.group(2)), n)
            sets = (versioned, undo)
            self._flyway_sets[folder] = sets
        return sets

    def _flyway(self, path: Path) -> MigrationFile | None:
        name = path.name
        if _FLYWAY_CALLBACK.match(name):
            return None  # a callback script, not a migration
        r = _FLYWAY_REPEATABLE.match(name)
        if r is not None:
            return MigrationFile(path, "flyway", "repeatable", None, r.group(1), None, None, "n/a",
                                 orphan=False)
        m = _FLYWAY.match(name)
        if m is None:
            return _flyway_misnamed(path)
        prefix, version, desc = m.groups()
        if prefix == "B":
            return MigrationFile(path, "flyway", "baseline", version, desc, None, None, "n/a", orphan=False)
        key = _flyway_version_key(version)
        versioned, undo = self._flyway_versions(path.parent)
        if prefix == "U":
            up_name = versioned.get(key)
            up = path.with_name(up_name or f"V{version}__{desc}.sql")
            return MigrationFile(path, "flyway", "down", version, desc, None, None, "n/a",
                                 orphan=up_name is None, migration_path=up)
        undo_name = undo.get(key)
        rollback = path.with_name(undo_name or f"U{version}__{desc}.sql")
        if undo_name is not None:
            state = "empty" if self._is_empty(rollback) else "present"
        elif undo:
            state = "missing"
        else:
            # Undo migrations are a paid Flyway feature; a folder without a single one is forward-only
            # by design, and asking each of its (fineract: 410) migrations for an undo is noise.
            state = "n/a"
        return MigrationFile(path, "flyway", "up", version, desc, None, rollback, state, orphan=False)

    def _sqitch(self, path: Path) -> MigrationFile | None:
        found = self._sqitch_root(path.parent)
        if found is None:
            return None
        root, kind = found
        relative = path.relative_to(root / kind)
        change = relative.with_suffix("").as_posix()
        if kind == "verify":
            return MigrationFile(path, "sqitch", "verify", None, change, None, None, "n/a", orphan=False)
        if kind == "revert":
            deploy = root / "deploy" / relative
            return MigrationFile(path, "sqitch", "down", None, change, None, None, "n/a",
                                 orphan=not self._exists(deploy), migration_path=deploy)
        plan = self._plan(root)
        problem = None
        if plan is not None and not plan.knows(change):
            problem = f"`sqitch.plan` has no change `{change}`, so `sqitch deploy` will never run it"
        revert = root / "revert" / relative
        return MigrationFile(path, "sqitch", "up", None, change, problem, revert, self._state(revert),
                             orphan=False)


# --- helpers without state --------------------------------------------------------------------

def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return ""


def does_work(stmt: Statement) -> bool:
    """Whether a statement changes anything (`BEGIN;`, `COMMIT;`, `SELECT 1;` do not)."""
    return stmt.kind == "sql" and not _NO_OP.match(stmt.text.strip())


def _single_file_result(path: Path, convention: str, has_down: bool, down_empty: bool) -> MigrationFile:
    core = path.name[: -len(".sql")]
    version, rest = _lead(core)
    problem = suggestion = None
    if convention == "dbmate":
        if not _DBMATE.match(path.name):
            problem = ("dbmate only runs files whose name starts with a version number "
                       "(`<version>_<name>.sql`), so it will never run")
    elif not _GOOSE.match(path.name):
        problem = ("goose reads the version up to the first `_` (`<version>_<name>.sql`), so it refuses "
                   "this file")
        if version is not None and rest:
            suggestion = f"{version}_{rest}.sql"
    elif int(version or "0") < 1:
        problem = "goose needs a version above zero (`<version>_<name>.sql`), so it refuses this file"
    state = "missing" if not has_down else ("empty" if down_empty else "present")
    return MigrationFile(path, convention, "up", version, rest or None, problem, None, state, orphan=False,
                         suggested_name=suggestion)


def _flyway_misnamed(path: Path) -> MigrationFile:
    """A file in a Flyway folder that Flyway silently skips: say why and suggest the name it meant."""
    loose = _FLYWAY_LOOSE.match(path.name)
    role, version, desc, suggestion = "up", None, None, None
    if loose is not None:
        prefix = loose.group(1).upper()
        if (loose.group(2) is not None) != (prefix == "R"):  # versioned prefixes need a version, R none
            version, desc = loose.group(2), loose.group(3).lstrip("_- ")
            role = {"V": "up", "U": "down", "B": "baseline", "R": "repeatable"}[prefix]
            suggestion = f"{prefix}{version or ''}__{desc}.sql" if desc else None
    pattern = {
        "up": "`V<version>__<description>.sql`",
        "down": "`U<version>__<description>.sql`",
        "baseline": "`B<version>__<description>.sql`",
        "repeatable": "`R__<description>.sql`",
    }[role]
    problem = f"Flyway only runs {pattern} (two underscores), so it silently skips this file"
    return MigrationFile(path, "flyway", role, version, desc, problem, None, "n/a", orphan=False,
                         suggested_name=suggestion)
