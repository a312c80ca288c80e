"""Every rule: metadata, docs, fixture, snapshot; each fixture case flags or stays clean as it says.

Regenerate snapshots after a deliberate change with:

    SQLGUARD_UPDATE_SNAPSHOTS=1 pytest tests/test_rules.py

and review the diff like code.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT, lint_sql

from sqlguard.lint.rule import SECTIONS, Rule
from sqlguard.rules import ALL_RULES
from sqlguard.sql.split import split

RULE_FIXTURES = FIXTURES / "rules"
SNAPSHOTS = ROOT / "tests" / "snapshots"
CODES = [r.code for r in ALL_RULES]

# Examples that only bytes can show: how to turn the docs' Example text into the file it describes
# (the `Use instead` is always plain UTF-8).
_EXAMPLE_BYTES = {
    "SG02": lambda s: s.encode("latin-1"),
    "SG06": lambda s: s.replace("\\r", "\r").encode(),
}


def fixture_path(code: str) -> Path:
    single = RULE_FIXTURES / f"{code}.sql"
    return single if single.exists() else RULE_FIXTURES / code


def test_codes_are_unique_and_well_formed() -> None:
    assert len(set(CODES)) == len(CODES)
    names = [r.name for r in ALL_RULES]
    assert len(set(names)) == len(names)
    for r in ALL_RULES:
        assert re.fullmatch(r"SG\d\d", r.code), r.code
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", r.name), r.name
        assert r.severity in ("error", "warning", "info")


@pytest.mark.parametrize("rule", ALL_RULES, ids=CODES)
def test_rule_has_docs_fixture_and_snapshot(rule: Rule) -> None:
    assert rule.summary and rule.summary.endswith("."), f"{rule.code}: summary must be one sentence"
    for title in SECTIONS:
        assert rule.section(title), f"{rule.code}: docstring lacks `## {title}`"
    assert fixture_path(rule.code).exists(), f"{rule.code}: no fixture in fixtures/rules/"
    assert (SNAPSHOTS / f"{rule.code}.txt").exists() or os.environ.get("SQLGUARD_UPDATE_SNAPSHOTS"), \
        f"{rule.code}: no snapshot"


# Rules about file names, sums and git history: their docs examples are tested in test_migrations.py,
# test_history.py and test_integrity.py, where the files and repositories they need are built.
_NOT_TEXT = ("SG13", "SG30", "SG33", "SG34", "SG36", "SG41")  # (SG41: a migration and the code, in test_python.py)
# Live-only rules: their fixture is a database state, applied and snapshotted by a live test
# (SG13: tests/test_live_schema.py::test_db_check_reports_catalog_mistakes).
_LIVE = ("SG13",)
# Rules whose examples are one dbmate migration: linted as a file in a folder of its own.
_AS_MIGRATION = ("SG31", "SG32")
_PYTHON = ("SG40",)


@pytest.mark.parametrize("rule", [r for r in ALL_RULES if r.code not in _NOT_TEXT],
                         ids=[c for c in CODES if c not in _NOT_TEXT])
def test_docs_example_is_flagged_and_use_instead_is_clean(rule: Rule, tmp_path: Path) -> None:
    to_bytes = _EXAMPLE_BYTES.get(rule.code, lambda s: s.encode())
    example = to_bytes(rule.section("Example") + "\n")
    fixed = (rule.section("Use instead") + "\n").encode()

    def codes(data: bytes, folder: str) -> set[str]:
        # each rule selected explicitly: opt-in groups (hygiene) do not run by default
        if rule.code in _PYTHON:
            return {d.code for d in lint_sql(data, filename="example.py", select=(rule.code,))}
        if rule.code not in _AS_MIGRATION:
            return {d.code for d in lint_sql(data, select=(rule.code,))}
        from sqlguard.config import Settings
        from sqlguard.lint.engine import lint_paths

        f = tmp_path / folder / "20240101000000_example.sql"
        f.parent.mkdir()
        f.write_bytes(data)
        return {d.code for d in lint_paths([str(f)], Settings(), None).diagnostics}

    assert rule.code in codes(example, "example"), f"{rule.code}: its Example is not flagged"
    assert rule.code not in codes(fixed, "fixed"), f"{rule.code}: its Use instead is flagged"


def _cases(text: str) -> list[tuple[str, str, int, int]]:
    """(verdict, why, start, end) for each `-- fail:` / `-- pass:` block of a single-file fixture."""
    marks = list(re.finditer(r"^-- (fail|pass): (.*)$", text, re.M))
    out = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        out.append((m.group(1), m.group(2), m.end(), end))
    return out


def _single_file_cases() -> list[tuple[str, str, str, int, int]]:
    out = []
    for rule in ALL_RULES:
        path = RULE_FIXTURES / f"{rule.code}.sql"
        if path.exists():
            for verdict, why, start, end in _cases(path.read_text(encoding="utf-8")):
                out.append((rule.code, verdict, why, start, end))
    return out


@pytest.mark.parametrize("code,verdict,why,start,end", _single_file_cases(),
                         ids=[f"{c[0]}-{c[1]}-{c[2][:40]}" for c in _single_file_cases()])
def test_fixture_case(code: str, verdict: str, why: str, start: int, end: int) -> None:
    text = (RULE_FIXTURES / f"{code}.sql").read_text(encoding="utf-8")
    select = () if code == "SG01" else (code,)  # an ignore is used only when the rules it silences run
    found = [d for d in lint_sql(text, select=select) if d.code == code and start <= d.span.start < end]
    if verdict == "pass":
        assert not found, f"{code} fired on a pass case ({why}): {[d.message for d in found]}"
        return
    # Every statement of a fail case is flagged (a finding lands between the previous statement and its end).
    prev = start
    for stmt in split(text[start:end], base=start).statements:
        hits = [d for d in found if prev <= d.span.start <= stmt.span.end]
        assert hits, f"{code} did not flag `{stmt.text[:60]}` ({why})"
        prev = stmt.span.end


def _verdict(path: Path) -> str | None:
    head = path.read_bytes()[:200].decode("utf-8", errors="replace").lstrip("\ufeff")
    m = re.match(r"(?:--|#)\s*(fail|pass)\b", head)
    if m:
        return m.group(1)
    m = re.match(r"(fail|pass)[_-]", path.name)
    return m.group(1) if m else None


def _dir_cases() -> list[tuple[str, Path]]:
    """Each case file of a folder fixture (supporting files such as rollback siblings are not cases).

    SG34's cases need a git repository: tests/test_gitinfo.py::test_sg34_fixture_tree builds one.
    """
    out = []
    for rule in ALL_RULES:
        folder = RULE_FIXTURES / rule.code
        if folder.is_dir() and rule.code not in ("SG34", *_LIVE):
            for f in sorted([*folder.rglob("*.sql"), *folder.rglob("*.py")]):
                if _verdict(f) is not None:
                    out.append((rule.code, f))
    return out


@pytest.mark.parametrize("code,path", _dir_cases(),
                         ids=[f"{c}-{p.relative_to(RULE_FIXTURES / c)}" for c, p in _dir_cases()])
def test_fixture_file(code: str, path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    verdict = _verdict(path)
    import json

    res = run_cli("lint", "--format", "json", "--select", code, str(path), cwd=ROOT)
    assert res.code in (0, 1), res.err
    found = [d for d in json.loads(res.out) if d["code"] == code]
    if verdict == "fail":
        assert found, f"{code} did not fire on {path.name}"
    else:
        assert not found, f"{code} fired on {path.name}: {[d['message'] for d in found]}"


@pytest.mark.parametrize("rule", [r for r in ALL_RULES if r.code not in _LIVE],
                         ids=[c for c in CODES if c not in _LIVE])
def test_snapshot(rule: Rule, run_cli) -> None:  # type: ignore[no-untyped-def]
    """The exact text users see for the rule's fixture."""
    path = fixture_path(rule.code)
    res = run_cli("lint", "--no-color", "--select", rule.code, str(path.relative_to(ROOT)), cwd=ROOT)
    assert res.code in (0, 1), res.err
    snap = SNAPSHOTS / f"{rule.code}.txt"
    if os.environ.get("SQLGUARD_UPDATE_SNAPSHOTS"):
        snap.parent.mkdir(exist_ok=True)
        snap.write_text(res.out, encoding="utf-8")
    assert res.out == snap.read_text(encoding="utf-8")
