"""Every file of every real-world corpus in ../shared/corpora lints without a crash.

A traceback or exit code 2 on any of them is a bug. The corpora are read in place, never copied.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import CORPORA, ROOT

CORPUS_DIRS = sorted(p for p in CORPORA.iterdir() if p.is_dir()) if CORPORA.is_dir() else []
pytestmark = pytest.mark.skipif(not CORPUS_DIRS, reason="../shared/corpora is not present")


def dialect_of(path: Path) -> str:
    parts = set(path.parts)
    if "mysql" in parts or "fineract-flyway-mysql" in parts:
        return "mysql"
    if "sqlite" in parts:
        return "sqlite"
    return "postgres"


def test_every_corpus_file_lints_in_process() -> None:
    from dataclasses import replace

    from conftest import tribevibe

    from sqlguard.config import Settings
    from sqlguard.engine import Run, lint_source

    files = [f for d in CORPUS_DIRS for f in sorted(d.rglob("*")) if f.is_file() and f.suffix == ".sql"]
    assert len(files) > 1900
    counts: Counter[str] = Counter()
    runs: dict[str, Run] = {}
    for f in files:
        dialect = dialect_of(f)
        if dialect not in runs:
            runs[dialect] = Run.create(replace(Settings(), dialect=dialect), tribevibe())
        diags, _ = lint_source(str(f), f, f.read_bytes(), runs[dialect])
        counts.update(d.code for d in diags)
    # The corpora hold real unconditional drops and data-destroying statements; they must be seen.
    assert counts["SG20"] > 100 and counts["SG21"] > 50
    # supabase-auth's Go templates are noted once per file (70 files).
    assert counts["SG04"] >= 70


@pytest.mark.parametrize("corpus", CORPUS_DIRS, ids=[d.name for d in CORPUS_DIRS])
def test_cli_on_each_corpus_exits_0_or_1(corpus: Path) -> None:
    """The real command, in a subprocess, per corpus, in the corpus's dialect."""
    groups: dict[str, list[str]] = {}
    for f in sorted(corpus.rglob("*.sql")):
        groups.setdefault(dialect_of(f), []).append(str(f))
    for dialect, files in groups.items():
        proc = subprocess.run([sys.executable, "-m", "sqlguard", "lint", "--format", "json", "--dialect", dialect,
                               *files], capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert proc.returncode in (0, 1), f"{corpus.name} ({dialect}): exit {proc.returncode}\n{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr
        items = json.loads(proc.stdout)
        assert all(i["location"]["row"] >= 1 and i["location"]["column"] >= 1 for i in items)
        if corpus.name != "redgate-flyway-undo-mssql":  # T-SQL is out of scope; the others are well-formed
            assert not [i for i in items if i["code"] == "SG03"], f"{corpus.name}: a well-formed file reported " \
                                                                 "as unterminated"
