"""Which SQL dialect a file is written in: the one reader of that fact.

A repository may hold one history per database (`migrations/postgres/`, `migrations/mysql/`), or name
the dialect in each file (`0001_x.mysql.up.sql`), or keep a Flyway `locations` folder per vendor
(`db/MYSQL/`, `db/h2/`). In order:

0. `--dialect` on the command line, for every file of the run;
1. the config's `dialects` table (a folder or file, relative to the config's folder, and its dialect;
   the longest matching path wins), and a `dialect` given with a folder of `migrations`;
2. a dialect named as one dot-separated part of the file name (`V3__x.mysql.sql`, `0001_x.up.sqlite3.sql`;
   never the stem's first part nor the extension);
3. the nearest folder whose name is a dialect (`mysql`, `MYSQL`, `mariadb`, `sqlite`, `h2`, `postgres`,
   `postgresql`, …), also as one `-`/`_`-separated word of it (`mysql_migrations`), or that is a Prisma
   migrations folder whose `migration_lock.toml` names its `provider`;
4. the config's `dialect` (default `postgres`).

How each dialect is then read, and which rules judge it, is `sqlguard.sql.reading`'s table: files of
T-SQL, Oracle, H2, CockroachDB, ClickHouse and DuckDB get the dialect-neutral rules only, and the run
says so.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlguard.config import Settings


# Dialect names as they appear in file and folder names, and the dialect each one means.
DIALECT_TOKENS = {
    "postgres": "postgres", "postgresql": "postgres", "pg": "postgres", "pgsql": "postgres",
    "mysql": "mysql", "mariadb": "mysql",
    "sqlite": "sqlite", "sqlite3": "sqlite",
    "mssql": "mssql", "sqlserver": "mssql", "tsql": "mssql",
    "oracle": "oracle", "cockroach": "cockroachdb", "cockroachdb": "cockroachdb",
    "clickhouse": "clickhouse", "duckdb": "duckdb", "h2": "h2",
}
# In a folder name, a dialect may be one word of several (`mysql_migrations`, `migrations-sqlite`); the
# short `pg` only as the whole name.
_WORDS = re.compile(r"[-_.\s]+")


def in_file_name(name: str) -> tuple[str | None, str]:
    """(the dialect a file name names as one of its dot-separated parts, or None; the name without that
    part). Never the stem's first part nor the extension: `mysql.sql` is not a MySQL file by name."""
    parts = name.split(".")
    for i in range(1, len(parts) - 1):
        dialect = DIALECT_TOKENS.get(parts[i].lower())
        if dialect is not None:
            return dialect, ".".join(parts[:i] + parts[i + 1:])
    return None, name


def in_folder_name(name: str) -> str | None:
    """The dialect a folder's name says (`MYSQL`, `postgresql`, `sqlite_migrations`), or None."""
    low = name.lower()
    if low in DIALECT_TOKENS:
        return DIALECT_TOKENS[low]
    found = {DIALECT_TOKENS[w] for w in _WORDS.split(low) if w in DIALECT_TOKENS and w != "pg"}
    return found.pop() if len(found) == 1 else None


def guess(path: Path, root: Path | None = None) -> str | None:
    """The dialect a path's names say (its file name first, then the nearest folder), or None. The walk
    up stops at the project's `root` and at the top of a git checkout: a clone under `~/src/postgres/`
    is not a PostgreSQL project for that."""
    found = _guess(path, root)
    return found[0] if found is not None else None


def _guess(path: Path, root: Path | None) -> tuple[str, str] | None:
    found, _ = in_file_name(path.name)
    if found is not None:
        return found, "the file name"
    return _folder_says(path.parent, root)


def _folder_says(folder: Path, root: Path | None) -> tuple[str, str] | None:
    """What the folders from `folder` up say."""
    parent = folder
    while parent != parent.parent and parent != root:
        found = in_folder_name(parent.name)
        if found is not None:
            return found, f"the folder name `{parent.name}`"
        found = _prisma_provider(parent)
        if found is not None:
            return found, "Prisma's migration_lock.toml"
        if os.path.exists(os.path.join(parent, ".git")):
            break
        parent = parent.parent
    return None


_PROVIDER = re.compile(r'^\s*provider\s*=\s*"([a-z]+)"', re.M)


def _prisma_provider(folder: Path) -> str | None:
    """The database a Prisma migrations folder is for (`provider = "mysql"` in its migration_lock.toml)."""
    lock = folder / "migration_lock.toml"
    try:
        text = lock.read_text(encoding="utf-8", errors="replace")[:2000] if lock.is_file() else ""
    except OSError:
        return None
    m = _PROVIDER.search(text)
    return {"postgresql": "postgres", "mysql": "mysql", "sqlite": "sqlite", "sqlserver": "mssql",
            "cockroachdb": "cockroachdb"}.get(m.group(1)) if m else None


def dialect_of(path: Path, settings: Settings, memo: dict[str, tuple[str, str] | None] | None = None) -> str:
    """The dialect of the SQL file `path` (see the module's docs for the order). `memo`: what each folder
    says, kept by the caller for one run (a run asks for every file of a folder)."""
    return why(path, settings, memo)[0]


def why(path: Path, settings: Settings, memo: dict[str, tuple[str, str] | None] | None = None
        ) -> tuple[str, str]:
    """(the dialect of the SQL file `path`, what decided it: `--dialect`, the config, a name, the default)."""
    if settings.dialect_forced:
        return settings.dialect, "--dialect"
    if settings.dialects:
        absolute = Path(os.path.abspath(path))
        best: tuple[int, str] | None = None
        for where, dialect in settings.dialects:
            if absolute == where or _under(absolute, where):
                depth = len(where.parts)
                if best is None or depth > best[0]:
                    best = (depth, dialect)
        if best is not None:
            return best[1], "the config"
    found, _ = in_file_name(Path(path).name)
    if found is not None:
        return found, "the file name"
    folder = os.path.dirname(path)  # (the key as given: asked for every file of a folder)
    if memo is None or folder not in memo:
        says = _folder_says(Path(os.path.abspath(folder or ".")), settings.root)
        if memo is None:
            return says or (settings.dialect, _DEFAULT)
        memo[folder] = says
    return memo[folder] or (settings.dialect, _DEFAULT)


_DEFAULT = "the config's `dialect`: no name says one"


def _under(path: Path, folder: Path) -> bool:
    return path.parts[:len(folder.parts)] == folder.parts and len(path.parts) > len(folder.parts)
