"""SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.

One run; the driver lists every rule it was given (so code scanning knows each rule, including the
ones that found nothing this time), sorted by code, and each result points at its rule by index.
"""

from __future__ import annotations

import inspect
import json
from pathlib import PurePath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlguard.report import region, scrub, source_for

if TYPE_CHECKING:
    from sqlguard.diagnostic import Diagnostic, Fix, Span
    from sqlguard.lint.rule import Rule
    from sqlguard.sql.text import SourceText

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
SRCROOT = "%SRCROOT%"


def render(diagnostics: list[Diagnostic], sources: dict[str, SourceText], rules: dict[str, Rule],
           tool_version: str = "") -> str:
    return json.dumps(sarif_log(diagnostics, sources, rules, tool_version), indent=2,
                      ensure_ascii=False) + "\n"


def sarif_log(diagnostics: list[Diagnostic], sources: dict[str, SourceText], rules: dict[str, Rule],
              tool_version: str = "") -> dict[str, Any]:
    ordered = sorted(rules.values(), key=lambda r: r.code)
    index = {rule.code: i for i, rule in enumerate(ordered)}
    driver: dict[str, Any] = {"name": "sqlguard"}
    if tool_version:
        driver["version"] = tool_version
        driver["semanticVersion"] = tool_version
    driver["rules"] = [_descriptor(rule) for rule in ordered]
    run = {
        "tool": {"driver": driver},
        # Columns count characters (code points), not UTF-16 units as SARIF assumes by default.
        "columnKind": "unicodeCodePoints",
        "results": [_result(d, source_for(sources, d.path), index) for d in diagnostics],
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def _descriptor(rule: Rule) -> dict[str, Any]:
    doc = inspect.cleandoc(rule.doc)
    why = rule.section("Why is this bad?")
    full = f"{rule.summary}\n\n{why}" if why else rule.summary
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": full},
        "help": {"text": doc, "markdown": doc},
        "defaultConfiguration": {"level": LEVELS.get(rule.severity, "warning")},
    }


def _result(d: Diagnostic, source: SourceText, index: dict[str, int]) -> dict[str, Any]:
    text = d.message if not d.help else f"{d.message}\nhelp: {d.help}"
    result: dict[str, Any] = {"ruleId": d.code}
    if d.code in index:
        # A code the caller gave no rule for (an engine diagnostic) still carries its id.
        result["ruleIndex"] = index[d.code]
    result["level"] = LEVELS.get(d.severity, "warning")
    result["message"] = {"text": scrub(text)}
    result["locations"] = [{"physicalLocation": {
        "artifactLocation": artifact_location(d.path),
        "region": _region(source, d.span),
    }}]
    if d.fix is not None and d.fix.edits:
        result["fixes"] = [_fix(d.fix, d.path, source)]
    return result


def _fix(fix: Fix, path: str, source: SourceText) -> dict[str, Any]:
    replacements = [{"deletedRegion": _region(source, edit.span),
                     "insertedContent": {"text": scrub(edit.replacement)}} for edit in fix.edits]
    out: dict[str, Any] = {}
    if fix.message:
        out["description"] = {"text": scrub(fix.message)}
    out["artifactChanges"] = [{"artifactLocation": artifact_location(path), "replacements": replacements}]
    return out


def _region(source: SourceText, span: Span) -> dict[str, int]:
    # endColumn is the column after the last character, so an empty span is an insertion point.
    line, col, end_line, end_col = region(source, span)
    return {"startLine": line, "startColumn": col, "endLine": end_line, "endColumn": end_col}


def artifact_location(path: str) -> dict[str, str]:
    """A path as a URI: relative paths stay relative to the checkout (`%SRCROOT%`), as code scanning wants."""
    # PurePath is this platform's flavour: a backslash separates on Windows, is a name's character here.
    pure = PurePath(path)
    if pure.is_absolute():
        return {"uri": pure.as_uri()}
    return {"uri": quote(scrub(pure.as_posix()), safe="/"), "uriBaseId": SRCROOT}
