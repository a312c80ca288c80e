"""Shared test helpers: lint a string in-process, assert a rule fires or not, run the CLI."""

from __future__ import annotations

import io
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from sqlguard.catalog import Catalog, load_catalog
from sqlguard.config import Settings
from sqlguard.diagnostic import Diagnostic
from sqlguard.engine import lint_stdin

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
CORPORA = ROOT.parent / "shared" / "corpora"
TRIBEVIBE_CATALOG = ROOT / "rules" / "tribevibe.yaml"

_catalog: Catalog | None = None


def tribevibe() -> Catalog:
    global _catalog
    if _catalog is None:
        _catalog = load_catalog(TRIBEVIBE_CATALOG)
    return _catalog


def lint_sql(sql: str | bytes, *, select: tuple[str, ...] = (), dialect: str = "postgres",
             catalog: Catalog | bool | None = True, filename: str = "migration.sql",
             pg_version: int = 15) -> list[Diagnostic]:
    """Lint SQL text in-process, as `sqlguard lint -` would, with the TribeVibe catalog by default."""
    settings = replace(Settings(), dialect=dialect, select=select, pg_version=pg_version)
    cat = tribevibe() if catalog is True else (catalog or None)
    data = sql.encode("utf-8") if isinstance(sql, str) else sql
    return lint_stdin(data, filename, settings, cat).diagnostics  # type: ignore[arg-type]


def assert_flags(sql: str | bytes, code: str, **kw: object) -> list[Diagnostic]:
    found = [d for d in lint_sql(sql, **kw) if d.code == code]  # type: ignore[arg-type]
    assert found, f"{code} did not fire on:\n{sql!r}"
    return found


def assert_clean(sql: str | bytes, code: str, **kw: object) -> None:
    found = [d for d in lint_sql(sql, **kw) if d.code == code]  # type: ignore[arg-type]
    assert not found, f"{code} fired on:\n{sql!r}\n" + "\n".join(d.message for d in found)


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Call `sqlguard.cli.main(argv)` in-process; optional `stdin` bytes."""
    from sqlguard.cli import main

    def run(*argv: str, stdin: bytes | None = None, cwd: Path | None = None) -> CliResult:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = main(list(argv))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
