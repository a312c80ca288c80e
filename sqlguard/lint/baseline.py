"""A baseline: the findings a project accepts today, so that a run reports only new ones.

`sqlguard lint --write-baseline FILE` records every finding of the run; `--baseline FILE` (or
`baseline =` in the config) then leaves out each finding the file records. A finding is recorded by
its fingerprint (`sqlguard.report.fingerprints`, the one GitLab's report uses): its path relative to
the baseline's folder, its code, its message and the text of its line, never the line number, so
that it survives lines moving above it. A recorded finding that no longer occurs is stale: the run
says how many there are, and `--write-baseline` again drops them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlguard.diagnostic import SqlguardError

if TYPE_CHECKING:
    from sqlguard.diagnostic import Diagnostic
    from sqlguard.sql.text import SourceText

FORMAT = "sqlguard-baseline"
VERSION = 1


@dataclass
class Outcome:
    kept: list[Diagnostic]  # the findings the baseline does not record: new ones
    baselined: int  # findings left out because the baseline records them
    stale: int  # entries of the baseline that no finding of this run matched


def relative_to(folder: Path):  # type: ignore[no-untyped-def]
    """A displayed path as the baseline records it: relative to the baseline's folder, with `/`."""
    def relative(path: str) -> str:
        return Path(os.path.relpath(os.path.abspath(path), folder)).as_posix() if path != "-" else path
    return relative


def write(path: Path, diagnostics: list[Diagnostic], sources: dict[str, SourceText]) -> int:
    """Record every finding in `path` (replacing it); the number recorded."""
    from sqlguard.report import fingerprints

    relative = relative_to(path.resolve().parent)
    prints = fingerprints(diagnostics, sources, relative)
    entries = sorted(({"code": d.code, "path": relative(d.path), "fingerprint": p, "message": d.message}
                      for d, p in zip(diagnostics, prints, strict=True)),
                     key=lambda e: (e["path"], e["code"], e["fingerprint"]))
    body = json.dumps({"format": FORMAT, "version": VERSION, "findings": entries}, indent=2, ensure_ascii=False)
    try:
        path.write_text(body + "\n", encoding="utf-8")
    except OSError as err:
        raise SqlguardError(f"cannot write the baseline {path}: {err.strerror or err}") from None
    return len(entries)


def read(path: Path) -> list[tuple[str, str]]:
    """The (path, fingerprint) of each finding a baseline records."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise SqlguardError(f"cannot read the baseline {path}: {err.strerror or err} "
                            "(write one with `sqlguard lint --write-baseline FILE`)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SqlguardError(f"{path} is not a sqlguard baseline: {err}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("findings"), list):
        raise SqlguardError(f"{path} is not a sqlguard baseline (write one with `sqlguard lint --write-baseline`)")
    if data.get("version") != VERSION:
        raise SqlguardError(f"{path} is a baseline of format version {data.get('version')}; this sqlguard reads "
                            f"version {VERSION}: write it again with `--write-baseline`")
    return [(str(e.get("path")), e["fingerprint"]) for e in data["findings"]
            if isinstance(e, dict) and isinstance(e.get("fingerprint"), str)]


def apply(path: Path, diagnostics: list[Diagnostic], sources: dict[str, SourceText], linted: list[str]) -> Outcome:
    """Leave out the findings `path` records. `linted`: the displayed paths this run linted; an entry
    of a file the run did not lint (a pre-commit run lints a few) is not stale."""
    from sqlguard.report import fingerprints

    relative = relative_to(path.resolve().parent)
    recorded = read(path)
    left: dict[str, int] = {}
    for _, fp in recorded:
        left[fp] = left.get(fp, 0) + 1
    kept: list[Diagnostic] = []
    for d, p in zip(diagnostics, fingerprints(diagnostics, sources, relative), strict=True):
        if left.get(p, 0) > 0:
            left[p] -= 1
        else:
            kept.append(d)
    seen = {relative(p) for p in linted}
    stale = 0
    for file, fp in recorded:
        if file in seen and left.get(fp, 0) > 0:
            left[fp] -= 1
            stale += 1
    return Outcome(kept, len(diagnostics) - len(kept), stale)
