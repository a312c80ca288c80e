"""A content-hash cache of lint results in `.sqlguard_cache/`, so an unchanged file costs a hash.

A result is keyed by everything it depends on: the file's bytes and path, sqlguard's version, the
settings, the catalog's bytes, the set of migrations added since `--diff-base`, and, for a file of a
migration history, the bytes of every file of that history (the history rules read them all).
Entries are written to a temporary file and renamed into place, so concurrent runs never read a
half-written entry; a cache that cannot be written is simply not used.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlguard import __version__
from sqlguard.diagnostic import Diagnostic, Edit, Fix, Span

DIRNAME = ".sqlguard_cache"
FORMAT = "1"


class Cache:
    def __init__(self, root: Path, fingerprint: str) -> None:
        self.dir = root / DIRNAME / FORMAT
        self.fingerprint = fingerprint
        self.enabled = True
        self.hits = 0

    @classmethod
    def for_run(cls, root: Path, settings: Any, catalog_path: Path | None,
                added: frozenset[Path] | None) -> Cache:
        h = hashlib.sha256()
        h.update(f"sqlguard {__version__}\n{settings!r}\n".encode())
        # the code itself: an edited checkout (or an upgrade that kept the version) must not reuse results
        package = Path(__file__).parent
        for f in sorted(package.rglob("*.py")):
            st = f.stat()
            h.update(f"{f.relative_to(package)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        if catalog_path is not None:
            try:
                h.update(catalog_path.read_bytes())
            except OSError:
                h.update(b"<no catalog>")
        for p in sorted(added or ()):
            h.update(str(p).encode())
        return cls(root, h.hexdigest())

    def key(self, shown: str, data: bytes, context: bytes = b"") -> str:
        h = hashlib.sha256(self.fingerprint.encode())
        for part in (shown.encode(), data, context):
            h.update(len(part).to_bytes(8, "little"))
            h.update(part)
        return h.hexdigest()

    def get(self, key: str) -> list[Diagnostic] | None:
        if not self.enabled:
            return None
        try:
            raw = (self.dir / key[:2] / f"{key}.json").read_text(encoding="utf-8")
            found = [_diagnostic(d) for d in json.loads(raw)]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self.hits += 1
        return found

    def put(self, key: str, diagnostics: list[Diagnostic]) -> None:
        if not self.enabled:
            return
        folder = self.dir / key[:2]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            ignore = self.dir.parent / ".gitignore"
            if not ignore.exists():
                ignore.write_text("*\n", encoding="utf-8")
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump([asdict(d) for d in diagnostics], out)
            os.replace(tmp, folder / f"{key}.json")
        except OSError:
            self.enabled = False  # a read-only checkout: lint without a cache


def _diagnostic(d: dict[str, Any]) -> Diagnostic:
    fix = d.get("fix")
    return Diagnostic(d["code"], d["name"], d["severity"], d["path"], Span(**d["span"]), d["message"], d.get("help"),
                      Fix(fix["message"], tuple(Edit(Span(**e["span"]), e["replacement"]) for e in fix["edits"]))
                      if fix else None)
