"""A content-hash cache of lint results in `.sqlguard_cache/`, so an unchanged file costs a hash.

A result is keyed by everything it depends on: the file's bytes and path, sqlguard's version, the
settings, the catalog's bytes, and, for a file of a migration history, the bytes of every file of that
history (the history rules read them all) and which of them git calls new (`--diff-base`, SG34).
Results live in one SQLite database (`results.sqlite`): a warm run reads all of them with a few
queries instead of opening a file per linted file, and SQLite's locking keeps concurrent runs from
reading a half-written entry. A cache that cannot be read or written is simply not used.

It also keeps the replay of each migration history, one step per migration (`Timeline.steps`: what
the migration changed in the schema), under the hash of the history up to and including it, so that
the next run replays only the migrations that changed or came after, and loads only what changed,
never a schema per migration: one new migration in a history of thousands costs the replay of one.
Steps are pickled, and a pickle from a file in a repository would run whatever its author wrote: each
one is signed with an HMAC whose key lives outside the project (`$XDG_CACHE_HOME/sqlguard/cache.key`,
mode 0600), and one whose signature does not match is ignored, never unpickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import pickle
import secrets
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlguard import __version__
from sqlguard.diagnostic import Diagnostic, Edit, Fix, Span

DIRNAME = ".sqlguard_cache"
FORMAT = "3"  # 1: one JSON file per result; 2: one pickle per history replay


class Cache:
    def __init__(self, root: Path, fingerprint: str) -> None:
        self.dir = root / DIRNAME / FORMAT
        self.fingerprint = fingerprint
        self.enabled = True
        self.hits = 0
        self._conn: Any = None  # the results database, once opened
        self._digests: dict[str, tuple[str, str]] | None = None  # path -> (stat stamp, digest), once loaded
        self._new_digests: list[tuple[str, str, str]] = []

    @classmethod
    def for_run(cls, root: Path, settings: Any, catalog_path: Path | None) -> Cache:
        h = hashlib.sha256()
        h.update(f"sqlguard {__version__}\n{settings!r}\n".encode())
        # the code itself: an edited checkout (or an upgrade that kept the version) must not reuse results
        package = Path(__file__).parent.parent  # (the whole sqlguard package, not only lint/)
        for f in sorted(package.rglob("*.py")):
            st = f.stat()
            h.update(f"{f.relative_to(package)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        if catalog_path is not None:
            try:
                h.update(catalog_path.read_bytes())
            except OSError:
                h.update(b"<no catalog>")
        return cls(root, h.hexdigest())

    def key(self, shown: str, data: bytes, context: bytes = b"") -> str:
        h = hashlib.sha256(self.fingerprint.encode())
        for part in (shown.encode(), data, context):
            h.update(len(part).to_bytes(8, "little"))
            h.update(part)
        return h.hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, list[Diagnostic]]:
        """The stored results of those keys that have one."""
        db = self._db()
        if db is None or not keys:
            return {}
        found: dict[str, list[Diagnostic]] = {}
        try:
            for i in range(0, len(keys), _BATCH):
                batch = keys[i:i + _BATCH]
                rows = db.execute(f"SELECT key, value FROM results WHERE key IN ({','.join('?' * len(batch))})",
                                  batch).fetchall()
                for key, raw in rows:
                    try:
                        found[key] = [_diagnostic(d) for d in json.loads(raw)]
                    except (ValueError, KeyError, TypeError, AttributeError):
                        continue  # an entry this version cannot read: lint the file again
        except _sqlite_errors():
            self._close(disable=True)
            return {}
        self.hits += len(found)
        return found

    def put_many(self, results: list[tuple[str, list[Diagnostic]]]) -> None:
        db = self._db()
        if db is None or not results:
            return
        rows = [(key, json.dumps([asdict(d) for d in diags])) for key, diags in results]
        try:
            with db:  # one transaction: all of this run's results, or none
                db.executemany("INSERT OR REPLACE INTO results (key, value) VALUES (?, ?)", rows)
        except _sqlite_errors():
            self._close(disable=True)  # a read-only checkout, a full disk, a lock held too long

    def close(self) -> None:
        self.save()
        self._close(disable=False)

    def _db(self) -> Any:
        """The results database, opened (and created) on first use; None when there is none to use."""
        if not self.enabled:
            return None
        if self._conn is not None:
            return self._conn
        try:
            import sqlite3
        except ImportError:  # a Python built without SQLite: lint without a cache
            self.enabled = False
            return None
        path = self.dir / "results.sqlite"
        for attempt in (1, 2):
            try:
                self._ensure_dir()
                conn = sqlite3.connect(path, timeout=30)
                conn.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value TEXT NOT NULL) "
                             "WITHOUT ROWID")
                conn.execute("CREATE TABLE IF NOT EXISTS steps (key TEXT PRIMARY KEY, value BLOB NOT NULL) "
                             "WITHOUT ROWID")
                # (megabytes per row: rowid tables, whose key index a lookup reads without the rows)
                conn.execute("CREATE TABLE IF NOT EXISTS history_memos (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
                conn.execute("CREATE TABLE IF NOT EXISTS schemas (key TEXT PRIMARY KEY, owner TEXT NOT NULL, "
                             "value BLOB NOT NULL)")
                conn.execute("CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, stamp TEXT NOT NULL, "
                             "digest TEXT NOT NULL) WITHOUT ROWID")
                with contextlib.suppress(OSError):
                    os.chmod(path, 0o600)
                self._conn = conn
                return conn
            except sqlite3.OperationalError:
                break  # locked too long, unreadable, read-only: lint without the cache, never delete it
            except sqlite3.DatabaseError:
                # not a database (a truncated or foreign file): start a new one, once
                if attempt == 2:
                    break
                with contextlib.suppress(OSError):
                    path.unlink()
            except (sqlite3.Error, OSError):
                break
        self.enabled = False
        return None

    def _close(self, *, disable: bool) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        if disable:
            self.enabled = False

    def _ensure_dir(self) -> None:
        """The cache folder, ignored by git."""
        self.dir.mkdir(parents=True, exist_ok=True)
        ignore = self.dir.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n", encoding="utf-8")

    # --- file digests, keyed by stat ---

    def digest(self, path: Path) -> str:
        """The SHA-256 of a file's bytes; a file whose stat (size, times, inode) is as when it was last
        hashed is not read again. A file changed in the last two seconds is hashed every time (its
        mtime may not tell a second change in the same tick, as git's racy-clean rule says)."""
        st = os.stat(path)
        stamp = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
        name = os.fspath(path)
        if self._digests is None:
            self._digests = self._load_digests()
        known = self._digests.get(name)
        if known is not None and known[0] == stamp:
            return known[1]
        with open(path, "rb") as fh:
            found = hashlib.sha256(fh.read()).hexdigest()
        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > 2_000_000_000:
            self._digests[name] = (stamp, found)
            self._new_digests.append((name, stamp, found))
        return found

    def _load_digests(self) -> dict[str, tuple[str, str]]:
        db = self._db()
        if db is None:
            return {}
        try:
            return {p: (st, d) for p, st, d in db.execute("SELECT path, stamp, digest FROM digests")}
        except _sqlite_errors():
            self._close(disable=True)
            return {}

    def save(self) -> None:
        """Store what this run learnt that is kept outside the results (file digests)."""
        db = self._db() if self._new_digests else None
        if db is None:
            return
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO digests (path, stamp, digest) VALUES (?, ?, ?)",
                               self._new_digests)
            self._new_digests = []
        except _sqlite_errors():
            self._close(disable=True)

    # --- signed memos (a folder's migration history, keyed by its files' stats) ---

    def recall(self, key: str) -> Any:
        """What `remember` stored under `key` (None when absent, unsigned or unreadable)."""
        db = self._db()
        secret = _signing_key() if db is not None else None
        if secret is None:
            return None
        try:
            row = db.execute("SELECT value FROM history_memos WHERE key = ?", (self._step_name(key),)).fetchone()
        except _sqlite_errors():
            self._close(disable=True)
            return None
        return _unsigned(secret, row[0]) if row is not None else None

    def remember(self, key: str, value: Any) -> None:
        db = self._db()
        secret = _signing_key() if db is not None else None
        if secret is None:
            return
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            with db:
                db.execute("INSERT OR REPLACE INTO history_memos (key, value) VALUES (?, ?)",
                           (self._step_name(key), hmac.new(secret, data, "sha256").digest() + data))
        except Exception:  # (a locked or read-only database, an object pickle refuses): not remembered
            pass

    # --- signed steps (the replay of each history, one migration at a time) ---

    def get_steps(self, prefixes: list[str]) -> list[Any]:
        """The stored steps (`Timeline.steps`) of a history's first migrations, by their prefixes, up to
        the first one absent, stale or unsigned."""
        db = self._db()
        key = _signing_key() if db is not None else None
        if key is None or not prefixes:
            return []
        names = [self._step_name(p) for p in prefixes]
        found: dict[str, bytes] = {}
        try:
            for i in range(0, len(names), _BATCH):
                batch = names[i:i + _BATCH]
                found.update(db.execute(f"SELECT key, value FROM steps WHERE key IN ({','.join('?' * len(batch))})",
                                        batch).fetchall())
        except _sqlite_errors():
            self._close(disable=True)
            return []
        out = []
        for name in names:
            raw = found.get(name)
            step = _unsigned(key, raw) if raw is not None else None
            if step is None:
                break  # absent, not signed by this user's key, or of another version: replay from here
            out.append(step)
        return out

    def put_steps(self, steps: list[tuple[str, Any]]) -> None:
        db = self._db()
        key = _signing_key() if db is not None and steps else None
        if key is None:
            return
        rows = []
        try:
            for prefix, step in steps:
                data = pickle.dumps(step, protocol=pickle.HIGHEST_PROTOCOL)
                rows.append((self._step_name(prefix), hmac.new(key, data, "sha256").digest() + data))
        except Exception:  # (an object pickle refuses, a deep structure) nothing stored: the next run
            return  # replays the history again
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO steps (key, value) VALUES (?, ?)", rows)
        except _sqlite_errors():
            self._close(disable=True)

    def get_snapshot(self, prefixes: list[str]) -> tuple[int, Any, set[int]]:
        """(k, the schema before migration k, the positions stored) for the latest schema stored for a
        prefix of this history ((0, None, …) when there is none to use). A schema before migration k is
        stored under prefix k - 1."""
        db = self._db()
        key = _signing_key() if db is not None else None
        if key is None or not prefixes:
            return 0, None, set()
        names = {self._step_name(p): i + 1 for i, p in enumerate(prefixes)}
        stored: set[int] = set()
        try:
            # (a few rows per history: every key, matched here, costs less than thousands of lookups)
            stored.update(names[k] for (k,) in db.execute("SELECT key FROM schemas") if k in names)
            for k in sorted(stored, reverse=True):
                row = db.execute("SELECT value FROM schemas WHERE key = ?",
                                 (self._step_name(prefixes[k - 1]),)).fetchone()
                schema = _unsigned(key, row[0]) if row is not None else None
                if schema is not None:
                    return k, schema, stored
        except _sqlite_errors():
            self._close(disable=True)
        return 0, None, stored

    def put_snapshots(self, owner: str, prefixes: list[str], snapshots: list[tuple[str, Any]]) -> None:
        """Store schemas under their prefixes, and forget the owner's (a history's) older ones that are
        no prefix of it any more."""
        db = self._db()
        key = _signing_key() if db is not None and snapshots else None
        if key is None:
            return
        owner_key = hashlib.sha256(f"{self.fingerprint}\n{owner}".encode()).hexdigest()
        try:
            rows = []
            for prefix, schema in snapshots:
                data = pickle.dumps(schema, protocol=pickle.HIGHEST_PROTOCOL)
                rows.append((self._step_name(prefix), owner_key, hmac.new(key, data, "sha256").digest() + data))
        except Exception:  # (an object pickle refuses, a deep structure): the next run replays more
            return
        current = {self._step_name(p) for p in prefixes}
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO schemas (key, owner, value) VALUES (?, ?, ?)", rows)
                old = [k for (k,) in db.execute("SELECT key FROM schemas WHERE owner = ?", (owner_key,))
                       if k not in current]
                db.executemany("DELETE FROM schemas WHERE key = ?", [(k,) for k in old])
        except _sqlite_errors():
            self._close(disable=True)

    def _step_name(self, prefix: str) -> str:
        return hashlib.sha256(f"{self.fingerprint}\n{prefix}".encode()).hexdigest()


def _unsigned(key: bytes, raw: bytes) -> Any:
    """The object a signed pickle holds; None when its signature is not this user's (never unpickled)
    or it does not unpickle (written by another version of the classes)."""
    mac, data = raw[:32], raw[32:]
    if len(raw) < 32 or not hmac.compare_digest(mac, hmac.new(key, data, "sha256").digest()):
        return None
    try:
        return pickle.loads(data)
    except Exception:
        return None


_BATCH = 500  # keys per query (SQLite allows at least 999 parameters)


def _sqlite_errors() -> type[Exception]:
    import sqlite3

    return sqlite3.Error


def _signing_key() -> bytes | None:
    """This user's key for signing cached replays, created on first use (None when it cannot be)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "sqlguard" / "cache.key"
    try:
        key = path.read_bytes()
        if len(key) >= 32 and (path.stat().st_mode & 0o077) == 0:
            return key
    except OSError:
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace_with(path, secrets.token_bytes(32))  # mkstemp creates it 0600
        return path.read_bytes()
    except OSError:
        return None


def _replace_with(path: Path, data: bytes) -> None:
    """Put `data` at `path` through a temporary file of the same folder (mode 0600) renamed into place:
    a concurrent reader sees the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _diagnostic(d: dict[str, Any]) -> Diagnostic:
    fix = d.get("fix")
    return Diagnostic(d["code"], d["name"], d["severity"], d["path"], Span(**d["span"]), d["message"], d.get("help"),
                      Fix(fix["message"], tuple(Edit(Span(**e["span"]), e["replacement"]) for e in fix["edits"]))
                      if fix else None)
