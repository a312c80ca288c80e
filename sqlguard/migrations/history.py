"""Migration histories: the ordered set of migrations one database runs, with their rollbacks attached.

`MigrationIndex` answers questions about one file; a `History` answers questions about a folder:
in which order a fresh database applies its migrations, which two share a version (SG33), which new
one sorts before migrations that already ran (SG34), and what `sqlguard.sum` hashes (SG36).

Order is the tool's order, not the file name's: versions compare as numbers (`V2` before `V10`,
`1.1` before `1.10`, golang `9` before `10`), diesel compares its folder versions without their
dashes, sqitch follows `sqitch.plan`. Files of one version keep both places (tie broken by name)
so that SG33 can report them.

What is in a history and what is left out, and why:

- Only migrations (`up`, Flyway `B` baseline and `R__` repeatable) are entries; a rollback / down /
  undo / revert file is attached to its migration, and one whose migration is gone is left out
  (SG31 reports it). Non-migrations (classify says None, sqitch `verify/` scripts, stray files in a
  diesel folder) are left out.
- A file whose name breaks its convention (SG30) stays in: its author meant it to run, and the
  replay and the hash should see what the author meant. Without a version it sorts last.
- Flyway: repeatables run after every versioned migration, by description. With baseline files,
  the highest `B<version>` is applied first and versioned migrations at or below it are skipped,
  which is what Flyway does when it migrates a fresh database.
- sqitch: plan order. A reworked change appears once per plan entry: the earlier entries run the
  tagged copy (`deploy/name@tag.sql`), the plan's last entry runs `deploy/name.sql`. Deploy scripts
  that the plan does not name never run and are left out (SG30 reports them).
- Dialects: a file name may carry a dialect as one of its dot-separated parts
  (`0001_x.postgres.up.sql`, `0001_x.up.sqlite.sql`, `V3__x.mysql.sql`). Such a file belongs only
  to its dialect's history; files without one belong to every dialect. When both
  `0001_x.up.sql` and `0001_x.postgres.up.sql` exist, the postgres history takes the latter
  (a dialect's own file overrides the generic one).
- Flyway locations and diesel folders are read one level deep: a history is one folder (diesel:
  the folder holding the migration folders; sqitch: the folder holding `sqitch.plan`).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlguard.migrations.dialects import DIALECT_TOKENS, in_file_name
from sqlguard.migrations.files import CONVENTIONS, MigrationFile, MigrationIndex, plan_of, real_path

SortKey = tuple[int, int, tuple[int, ...], str]

_SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".tox", ".nox", ".venv", "venv",
                        ".mypy_cache", ".ruff_cache", ".pytest_cache", ".sqlguard_cache", "site-packages"})
_SINGLE_FILE = ("dbmate", "goose")
_SQITCH_DIRS = ("deploy", "revert", "verify")
_GROUP = {"baseline": 0, "up": 1, "repeatable": 2}

# A dialect-suffixed golang file that MigrationIndex does not recognise (`0001_x.up.postgres.sql`),
# read from its name once the dialect part is removed.
_GOLANG_LOGICAL = re.compile(r"^(\d+)(?:_(.*?))?\.(up|down)\.sql$", re.IGNORECASE)
_DOWN_NAME = re.compile(r"([._])(down)(\.sql)$", re.IGNORECASE)
_ROLLBACK_NAME = re.compile(r"_rollback(\.sql)$", re.IGNORECASE)
_FLYWAY_UNDO = re.compile(r"^U\d")


@dataclass(frozen=True)
class Migration:
    path: Path  # the up file (for dbmate / goose the single file)
    version: str | None
    name: str | None
    sort_key: SortKey  # (group, unversioned, version, name): baseline, versioned, repeatable
    rollback: Path | None  # the rollback / down / undo / revert file when it exists
    single_file: bool  # dbmate / goose: the down is a section of `path`


@dataclass(frozen=True)
class History:
    folder: Path  # absolute; for sqitch the folder holding sqitch.plan
    convention: str
    migrations: tuple[Migration, ...]  # in apply order
    # Flyway with a baseline: the stream that databases older than the baseline ran (every versioned
    # migration in order, the baseline left out); empty without a baseline that skips any
    before_baseline: tuple[Migration, ...] = ()
    label: str = ""  # what the history is when it is not the fresh database's ("before the baseline")
    _lookup: dict[Path, int] = field(init=False, repr=False, compare=False, hash=False)
    _resolved: bool = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # by the paths as listed (the folder is resolved; its files are their own real paths unless one
        # is a symlink or was named another way: `index_of` resolves them all once when a path misses)
        lookup: dict[Path, int] = {}
        for i, m in enumerate(self.migrations):
            lookup.setdefault(m.path, i)
            if m.rollback is not None:
                lookup.setdefault(m.rollback, i)
        object.__setattr__(self, "_lookup", lookup)
        object.__setattr__(self, "_resolved", False)

    def index_of(self, path: Path) -> int | None:
        """Position of the migration `path` is (its up file or its rollback), None when not in this history."""
        wanted = real_path(path)
        found = self._lookup.get(wanted)
        if found is None and not self._resolved:
            lookup: dict[Path, int] = {}
            for i, m in enumerate(self.migrations):
                lookup.setdefault(real_path(m.path), i)
                if m.rollback is not None:
                    lookup.setdefault(real_path(m.rollback), i)
            object.__setattr__(self, "_lookup", lookup)
            object.__setattr__(self, "_resolved", True)
            found = lookup.get(wanted)
        return found

    def migration(self, path: Path) -> Migration | None:
        """The migration whose own file `path` is (None for a rollback file or a file not in the history)."""
        i = self.index_of(path)
        if i is None or real_path(self.migrations[i].path) != real_path(path):
            return None
        return self.migrations[i]

    def older(self) -> History | None:
        """The history of databases older than the baseline (None when no baseline skips a migration)."""
        if not self.before_baseline:
            return None
        return History(self.folder, self.convention, self.before_baseline, label="before the baseline")

    def relative(self, path: Path) -> str:
        """`path` relative to the history's folder, posix style (how `sqlguard.sum` names files)."""
        try:
            return path.relative_to(self.folder).as_posix()
        except ValueError:
            return Path(os.path.relpath(path, self.folder)).as_posix()


# --- the index --------------------------------------------------------------------------------

class HistoryIndex:
    """Builds histories on demand, one per folder, from the files a `MigrationIndex` classifies."""

    def __init__(self, index: MigrationIndex, dialect: str, memo: Any = None) -> None:
        self._index = index
        self._dialect = dialect
        # where a folder's history is kept between runs (`recall(key)` / `remember(key, history)`), keyed
        # by the names and stats of its files: a run whose files are unchanged classifies none of them
        self._memo = memo
        self._histories: dict[tuple[Path, str], History] = {}
        self._sqitch_roots: dict[Path, Path | None] = {}
        self._groups: dict[Path, tuple[Path, ...]] = {}  # Flyway: a history's first location -> all of them

    def history_for(self, path: Path) -> History | None:
        """The history `path` (a migration or its rollback) is part of; None when it is part of none.

        None also for files that are in a migration folder but that no fresh database runs: another
        dialect's file, a Flyway migration below the baseline, a deploy script the plan does not name.
        """
        path = Path(path)
        where = self._root_of(path)
        if where is None:
            return None
        history = self._history_at(*where)
        return history if history.index_of(path) is not None else None

    def older_history_for(self, path: Path) -> History | None:
        """For a Flyway migration at or below the baseline's version (which a fresh database skips): the
        history databases older than the baseline ran it in (`History.older`); None otherwise."""
        where = self._root_of(Path(path))
        fresh = self._history_at(*where) if where is not None else None
        if fresh is None or fresh.index_of(path) is not None:
            return None
        older = fresh.older()
        return older if older is not None and older.index_of(path) is not None else None

    def folder_of(self, path: Path) -> Path | None:
        """The folder of the history `path` would be part of, without building that history (None: no
        history). A superset of `history_for`: a file the history leaves out still names its folder."""
        where = self._root_of(Path(path))
        return where[0] if where is not None else None

    def folders(self, root: Path) -> tuple[Path, ...]:
        """Every folder of the history at `root` (Flyway's locations; else the folder itself)."""
        return self._groups.get(root, (root,))

    def histories(self, folder: Path) -> list[History]:
        """Every history under `folder` (itself included) that holds at least one migration."""
        roots: set[tuple[Path, str]] = set()
        for dirpath, dirnames, filenames in os.walk(folder):
            here = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
            for name in sorted(filenames):
                if name.lower().endswith(".sql"):
                    where = self._root_of(here / name)
                    if where is not None:
                        roots.add(where)
        out = [self._history_at(root, kind) for root, kind in sorted(roots)]
        return [h for h in out if h.migrations]

    # -- where a file's history lives --

    def _root_of(self, path: Path) -> tuple[Path, str] | None:
        """(history folder, "sqitch" | "files") for a migration file, None for anything else."""
        m = self._index.classify(path)
        if m is None:
            dialect, logical = _logical(path)
            if dialect is not None and _GOLANG_LOGICAL.match(logical):
                return real_path(path.parent), "files"  # `0001_x.up.postgres.sql`: MigrationIndex misses it
            return None
        if m.role == "verify":
            return None
        if m.convention == "sqitch":
            root = self._sqitch_root(path.parent)
            return (real_path(root), "sqitch") if root is not None else None
        if m.convention in ("diesel", "prisma"):
            return real_path(path.parent.parent), "files"
        if m.convention == "flyway":
            group = self._index.locations_of(real_path(path.parent))
            if group is not None:
                self._groups[group[0]] = group
                return group[0], "files"
        return real_path(path.parent), "files"

    def _sqitch_root(self, folder: Path) -> Path | None:
        if folder not in self._sqitch_roots:
            found = None
            for candidate in (folder, *folder.parents):
                # The nearest plan wins, as in MigrationIndex: chef-server's `schema/baseline/` is its own.
                if candidate.name in _SQITCH_DIRS and plan_of(candidate.parent).is_file():
                    found = candidate.parent
                    break
            self._sqitch_roots[folder] = found
        return self._sqitch_roots[folder]

    def _history_at(self, root: Path, kind: str) -> History:
        history = self._histories.get((root, kind))
        if history is None:
            history = self._sqitch(root) if kind == "sqitch" else self._files(root)
            self._histories[(root, kind)] = history
        return history

    # -- flat folders (and diesel's one level of migration folders) --

    def _files(self, root: Path) -> History:
        listing = self._listing(root)
        if listing is None:
            return self._history_of(root, [self._file(p) for p in self._candidates(root)])
        key = f"history files\n{self._dialect}\n{root}\n{self._groups.get(root, (root,))}"
        names = hashlib.sha256("\n".join(path for path, _ in listing).encode()).hexdigest()
        known = self._memo.recall(key) if self._memo is not None else None
        if not (isinstance(known, tuple) and len(known) == 2 and known[0] == names):
            known = (names, {})
        stored: dict[str, tuple[str, _File | None]] = known[1]
        found: dict[str, tuple[str, _File | None]] = {}
        for path, stamp in listing:
            hit = stored.get(path)
            found[path] = hit if hit is not None and hit[0] == stamp else (stamp, self._file(Path(path)))
        if self._memo is not None and found != stored:
            self._memo.remember(key, (names, found))
        return self._history_of(root, [f for _, f in found.values()])

    def _listing(self, root: Path) -> list[tuple[str, str]] | None:
        """The candidate files of a flat history (`_candidates`), each with a stamp of its stat, in order;
        None without a memo to compare with, or when a folder cannot be listed.

        The files a history is made of, and each one's classification, follow from their names, the
        folder's listing (the same names: compared as a whole) and, for dbmate and goose markers, their
        content: a file whose stamp is unchanged is not classified again. A file changed within two
        seconds stamps its content too: a second change in the same mtime tick leaves its stat as it was."""
        if self._memo is None:
            return None
        now = time.time_ns()
        out = []
        try:
            for path in self._candidates(root):
                st = os.stat(path)
                stamp = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
                if now - max(st.st_mtime_ns, st.st_ctime_ns) < 2_000_000_000:
                    with open(path, "rb") as fh:
                        stamp += ":" + hashlib.sha256(fh.read()).hexdigest()
                out.append((str(path), stamp))
        except OSError:
            return None
        return out

    def _candidates(self, root: Path) -> list[Path]:
        """The .sql files of a flat history's folders, and the up/down/migration files of their
        subfolders (diesel, prisma), in order."""
        candidates: list[Path] = []
        for folder in self._groups.get(root, (root,)):  # (Flyway's locations: one history over several)
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                try:
                    if entry.name.lower().endswith(".sql") and entry.is_file():
                        candidates.append(folder / entry.name)
                    elif entry.name not in _SKIP_DIRS and entry.is_dir():
                        sub = folder / entry.name
                        candidates.extend(sub / n for n in ("up.sql", "down.sql", "migration.sql")
                                          if (sub / n).is_file())
                except OSError:
                    continue
        return candidates

    def _history_of(self, root: Path, classified: list[_File | None]) -> History:
        files = self._dialect_files(f for f in classified if f is not None)
        ups = [f for f in files if f.role in _GROUP]
        downs = [f for f in files if f.role == "down"]
        convention = _majority(f.convention for f in ups)
        fresh = _apply_baseline(ups)
        rollbacks: dict[tuple[object, ...], Path] = {}
        for d in sorted(downs, key=lambda f: f.path.name):
            rollbacks.setdefault(d.pair_key, d.path)

        def entries(files: list[_File]) -> tuple[Migration, ...]:
            out = []
            for f in files:
                single = f.convention in _SINGLE_FILE
                rollback = None if single or f.role != "up" else rollbacks.get(f.pair_key)
                out.append(Migration(f.path, f.version, f.name, f.sort_key, rollback, single))
            return tuple(sorted(out, key=lambda m: m.sort_key))

        older = () if len(fresh) == len(ups) else entries([f for f in ups if f.role != "baseline"])
        return History(root, convention, entries(fresh), older)

    def _file(self, path: Path) -> _File | None:
        """What the history needs to know about one candidate file; None when it is no migration."""
        dialect, logical = _logical(path)
        m = self._index.classify(path)
        if m is None:
            g = _GOLANG_LOGICAL.match(logical) if dialect is not None else None
            if g is None:
                return None
            m = MigrationFile(path, "golang-migrate", g.group(3).lower(), g.group(1), g.group(2), None, None,
                              "n/a", orphan=False)
        if m.role == "verify":
            return None
        if m.convention == "diesel" and path.name not in ("up.sql", "down.sql"):
            return None  # diesel runs only these two; anything else in its folders is not a migration
        if m.convention == "prisma" and path.name != "migration.sql":
            return None
        role = m.role
        name = m.name
        if dialect is not None:
            # The dialect part can hide the direction from MigrationIndex (`x.down.postgres.sql`).
            if _DOWN_NAME.search(logical) or _ROLLBACK_NAME.search(logical) or (
                    m.convention == "flyway" and _FLYWAY_UNDO.match(logical)):
                role = "down"
            elif role == "down":
                role = "up"
            if name is not None:
                name = re.sub(r"\.(?:" + "|".join(DIALECT_TOKENS) + r")(?=\.|$)", "", name, flags=re.I)
                name = re.sub(r"\.(?:up|down)$", "", name, flags=re.I)
        version_key = _version_key(m.convention, m.version)
        if m.convention == "flyway" and role in ("up", "down"):
            pair_key: tuple[object, ...] = ("flyway", version_key)  # Flyway pairs an undo by version alone
        elif m.convention in ("diesel", "prisma"):
            pair_key = (m.convention, path.parent.name)
        else:
            pair_key = ("name", _up_name(logical) if role == "down" else logical)
        group = _GROUP.get(role, 1)
        sort_key: SortKey = (group, 0 if version_key else 1, version_key if group != 2 else (), logical)
        return _File(path, dialect, logical, m.convention, role, m.version, name, version_key, sort_key, pair_key)

    def _dialect_files(self, files: Iterable[_File]) -> list[_File]:
        """This dialect's files and the generic ones, a dialect's own file overriding its generic twin."""
        mine = [f for f in files if f.dialect in (None, self._dialect)]
        own = {(f.path.parent, f.logical) for f in mine if f.dialect is not None}
        return [f for f in mine if f.dialect is not None or (f.path.parent, f.logical) not in own]

    # -- sqitch --

    def _sqitch(self, root: Path) -> History:
        try:
            text = plan_of(root).read_bytes().decode("utf-8", errors="replace")
        except OSError:
            text = ""
        migrations = []
        for i, script in enumerate(sqitch_scripts(text)):
            deploy = root / "deploy" / f"{script}.sql"
            if not deploy.is_file():
                continue  # planned but never written: sqitch fails on it, there is nothing to order
            revert = root / "revert" / f"{script}.sql"
            migrations.append(Migration(deploy, None, script, (1, 0, (i,), script),
                                        revert if revert.is_file() else None, False))
        return History(root, "sqitch", tuple(migrations))


@dataclass(frozen=True)
class _File:
    path: Path
    dialect: str | None
    logical: str  # the file name without its dialect part
    convention: str
    role: str
    version: str | None
    name: str | None
    version_key: tuple[int, ...]
    sort_key: SortKey
    pair_key: tuple[object, ...]  # a migration and its rollback share this


def _logical(path: Path) -> tuple[str | None, str]:
    """(the dialect the file name names or None, the name without that part)."""
    return in_file_name(path.name)


def _version_key(convention: str, version: str | None) -> tuple[int, ...]:
    if not version:
        return ()
    digits = re.findall(r"\d+", version)
    if not digits:
        return ()
    if convention == "diesel":
        return (int("".join(digits)),)  # diesel compares `2024-01-01-120000` as `20240101120000`
    parts = [int(d) for d in digits]
    if convention == "flyway":
        # Flyway compares part by part and ignores trailing zeros: `1`, `1.0` and `001` are one version.
        while len(parts) > 1 and parts[-1] == 0:
            parts.pop()
    return tuple(parts)


def _up_name(down: str) -> str:
    """The file name of the migration a rollback file name belongs to."""
    m = _DOWN_NAME.search(down)
    if m is not None:
        up = "UP" if m.group(2).isupper() else "up"
        return down[: m.start()] + m.group(1) + up + m.group(3)
    return _ROLLBACK_NAME.sub(r"\1", down)


def _majority(conventions: Iterable[str]) -> str:
    counts = Counter(conventions)
    if not counts:
        return "unknown"
    best = max(counts.values())
    return next(c for c in CONVENTIONS if counts.get(c) == best)


def _apply_baseline(ups: list[_File]) -> list[_File]:
    """Flyway on a fresh database: the highest baseline first, versioned migrations at or below it skipped."""
    baselines = [f for f in ups if f.role == "baseline" and f.version_key]
    top = max(baselines, key=lambda f: f.sort_key) if baselines else None

    def kept(f: _File) -> bool:
        if f.role == "baseline":
            return f is top  # a lower baseline is superseded; one without a version Flyway never reads
        if top is not None and f.role == "up" and f.version_key:
            return f.version_key > top.version_key
        return True

    return [f for f in ups if kept(f)]


# --- sqitch plans, in order ----------------------------------------------------------------------

_PLAN_CHANGE = re.compile(r"^[+-]?([^\s\[@#%][^\s\[]*)(?:\s*\[([^\]]*)\])?")


def sqitch_scripts(plan: str) -> list[str]:
    """The deploy scripts (without `.sql`) a fresh `sqitch deploy` runs, in plan order.

    A change reworked after tag `T` is planned again; its earlier entry runs the copy that
    `sqitch rework` saved as `name@T.sql` (T from the rework's `[name@T]` requirement, else the
    last tag before the rework), and its last entry runs `name.sql`.
    """
    changes: list[tuple[str, list[str], str | None]] = []  # (name, requires, last tag before it)
    last_tag: str | None = None
    for raw in plan.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "%")):
            continue
        if line.startswith("@"):
            last_tag = line.split()[0][1:]
            continue
        m = _PLAN_CHANGE.match(line)
        if m is None:
            continue
        requires = (m.group(2) or "").split()
        changes.append((m.group(1), requires, last_tag))
    scripts = []
    for i, (name, _, _) in enumerate(changes):
        rework = next((c for c in changes[i + 1:] if c[0] == name), None)
        if rework is None:
            scripts.append(name)
            continue
        tag = next((r.split("@", 1)[1] for r in rework[1] if r.startswith(f"{name}@")), None) or rework[2]
        scripts.append(f"{name}@{tag}" if tag else name)
    return scripts


# --- questions about a history -----------------------------------------------------------------

def duplicate_versions(history: History) -> dict[Path, list[Path]]:
    """Each migration that shares its version with others -> those others (SG33).

    Versions compare as their tool compares them (Flyway's `1` and `1.0` are one). Repeatables and
    sqitch changes have no version.
    """
    by_version: dict[tuple[int, tuple[int, ...]], list[Path]] = {}
    for m in history.migrations:
        group, unversioned, version, _ = m.sort_key
        if history.convention == "sqitch" or group == 2 or unversioned:
            continue
        by_version.setdefault((group, version), []).append(m.path)
    out: dict[Path, list[Path]] = {}
    for paths in by_version.values():
        if len(paths) > 1:
            for p in paths:
                out[p] = [q for q in paths if q != p]
    return out


def out_of_order(history: History, added: frozenset[Path]) -> dict[Path, Migration]:
    """Each added migration that sorts before the newest existing one -> that newest one (SG34).

    "Existing" is every migration whose file is not in `added`. Repeatables run after all versioned
    migrations whatever their name, and a baseline only seeds fresh databases, so neither is judged.
    """
    new = {history.index_of(p) for p in added if history.migration(p) is not None}  # (by the migrations' own files)
    existing = [m for i, m in enumerate(history.migrations) if i not in new and m.sort_key[0] == 1]
    if not existing:
        return {}
    newest = existing[-1]
    return {m.path: newest for i, m in enumerate(history.migrations)
            if i in new and m.sort_key[0] == 1 and m.sort_key < newest.sort_key}
