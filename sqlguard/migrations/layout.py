"""How sqlguard understood a repository (`sqlguard inspect`): each migration history it found, with its
folder, runner convention, dialect (and what decided it), transaction mode, migrations and versions,
and the config line that would change what it guessed.

Nothing here decides anything: the convention is `MigrationIndex`'s and `HistoryIndex`'s, the dialect
`sqlguard.migrations.dialects`', the transaction mode `files.wraps`'.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlguard.config import Settings
from sqlguard.migrations.dialects import why
from sqlguard.migrations.files import LABELS, MigrationIndex, real_path, wraps
from sqlguard.migrations.history import HistoryIndex
from sqlguard.sql.reading import FULL, KNOWN


@dataclass
class HistoryLayout:
    folder: str  # relative to the project's root when under it
    convention: str
    runner: str  # the convention's runner, as people call it
    dialect: str
    dialect_from: str  # what decided the dialect
    read: bool  # a dialect with a full reader (else only the dialect-neutral rules judge its files)
    migrations: int
    rollbacks: int
    first: str | None
    last: str | None
    transaction: str  # how the runner runs its files
    outside: list[str] = field(default_factory=list)  # migrations that opt out of the runner's transaction
    config: str = ""  # the `migrations` entry that pins what was guessed
    locations: list[str] = field(default_factory=list)  # Flyway: every folder of the one history

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def inspect(settings: Settings, targets: list[Path]) -> list[HistoryLayout]:
    """Every migration history under `targets` (a file: the history it belongs to), once each."""
    index = MigrationIndex({f.path: f.convention for f in settings.migrations}, settings.convention,
                               locations={f.path: f.locations for f in settings.migrations if f.locations},
                           dialect=settings.dialect)
    seen: set[tuple[Path, str]] = set()
    out: list[HistoryLayout] = []
    for dialect in KNOWN:  # a folder holds one history per dialect its files name
        histories = HistoryIndex(index, dialect)
        for target in targets:
            found = histories.histories(target.resolve()) if target.is_dir() else \
                [h for h in [histories.history_for(real_path(target))] if h is not None]
            for h in found:
                first_file = h.migrations[0].path
                decided, because = why(first_file, settings)
                if decided != dialect or (h.folder, decided) in seen:
                    continue  # (listed under the dialect its files are)
                seen.add((h.folder, decided))
                out.append(_layout(h, decided, because, settings, histories.folders(h.folder)))
    return sorted(out, key=lambda x: (x.folder, x.dialect))


def _layout(h, dialect: str, because: str, settings: Settings,  # type: ignore[no-untyped-def]
            folders: tuple[Path, ...]) -> HistoryLayout:
    root = settings.root.resolve()

    def rel(folder: Path) -> str:
        folder = folder.resolve()
        return os.path.relpath(folder, root) if folder == root or root in folder.parents else str(folder)

    shown = rel(h.folder)
    locations = [rel(f) for f in folders] if len(folders) > 1 else []
    versions = [m.version for m in h.migrations if m.version]
    outside = []
    for m in h.migrations:
        try:
            text = m.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if not wraps(text, settings.assume_in_transaction, h.convention, path=m.path):
            outside.append(h.relative(m.path))
    default_wraps = wraps("", settings.assume_in_transaction, h.convention)
    how = ("each migration in one transaction" if default_wraps else "no transaction around a migration")
    how += (" (assume-in-transaction)" if settings.assume_in_transaction is not None
            else f" ({LABELS.get(h.convention, h.convention)})")
    if default_wraps and outside:
        how += f"; {len(outside)} run outside one (a directive or the file name says so)"
    elif not default_wraps:
        outside = []
    # (a dialect its file names say is each file's own: a folder's `dialect` would override them all)
    where = f"paths: [{', '.join(locations)}]" if locations else f"path: {shown}"
    pinned = f"{{{where}, convention: {h.convention}" + \
        (f", dialect: {dialect}}}" if because != "the file name" else "}")
    return HistoryLayout(shown, h.convention, LABELS.get(h.convention, h.convention), dialect, because,
                         dialect in FULL, len(h.migrations), sum(1 for m in h.migrations if m.rollback is not None),
                         versions[0] if versions else None, versions[-1] if versions else None, how,
                         outside[:20], f"migrations: [{pinned}]", locations)
