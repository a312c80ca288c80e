"""Precision and recall of SG40 (interpolated-sql) against bandit B608 and ruff S608, side by side.

The labeled set is `fixtures/python/eval/`: Python modules whose functions say what they are by name.
`vuln_*` functions hand the database SQL built from non-constant data; `safe_*` functions do not (or
are decoys that never reach a database). Module helpers named `_build_*` / `_q_*` (build SQL) and
`_run_*` (wrap a sink) carry no label: a finding inside one counts for every labeled function that
calls it by name (through other helpers too).

A labeled function is flagged by a tool when at least one of the tool's findings falls in its lines
(the innermost labeled function or helper that contains the finding wins). Findings anywhere else,
such as a module-level constant, are ignored.

    .venv/bin/python benchmarks/python_eval.py            # table
    .venv/bin/python benchmarks/python_eval.py --details  # plus each tool's misses and false alarms
    .venv/bin/python benchmarks/python_eval.py --json     # machine-readable
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVAL_DIR = ROOT / "fixtures" / "python" / "eval"

LABELS = {"vuln_": "vuln", "safe_": "safe"}
BUILDER_PREFIXES = ("_build_", "_q_")
WRAPPER_PREFIX = "_run_"
# Calls that hand SQL text to a database (or to an API that later does), by method or function name.
SINKS = frozenset({"execute", "executemany", "executescript", "exec_driver_sql", "fetch", "fetchrow", "fetchval",
                   "raw", "extra", "read_sql", "read_sql_query"})
# Calls that turn SQL text into an object a sink accepts: `sink(text(...))` is one flow, not two.
CONSTRUCTORS = frozenset({"text", "RawSQL"})
TOOLS = ("sqlguard", "bandit", "ruff")
TIMEOUT = 300

Finding = tuple[str, int]  # (path relative to the fixture folder, 1-based line)


@dataclass(frozen=True)
class Function:
    """A labeled function or method: `key` is `path::Qualified.name`."""

    path: str
    qualname: str
    label: str
    start: int
    end: int

    @property
    def key(self) -> str:
        return f"{self.path}::{self.qualname}"


@dataclass(frozen=True)
class Helper:
    """A `_build_*`, `_q_*` or `_run_*` function and the keys of the labeled functions that call it."""

    path: str
    qualname: str
    start: int
    end: int
    callers: frozenset[str]


@dataclass(frozen=True)
class Labels:
    functions: tuple[Function, ...]
    helpers: tuple[Helper, ...]

    def keys(self, label: str) -> set[str]:
        return {f.key for f in self.functions if f.label == label}


@dataclass(frozen=True)
class Score:
    tool: str
    tp: int
    fp: int
    fn: int
    tn: int
    false_positives: tuple[str, ...] = ()
    false_negatives: tuple[str, ...] = ()

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def confusion(self) -> str:
        lines = [f"{self.tool}: TP={self.tp} FP={self.fp} FN={self.fn} TN={self.tn} "
                 f"precision={self.precision:.3f} recall={self.recall:.3f} F1={self.f1:.3f}"]
        lines += [f"  false positive: {k}" for k in self.false_positives]
        lines += [f"  false negative: {k}" for k in self.false_negatives]
        return "\n".join(lines)


@dataclass(frozen=True)
class ToolRun:
    tool: str
    findings: tuple[Finding, ...] = ()
    error: str | None = None  # set when the tool could not run: "not available: ..."


# ---------------------------------------------------------------------------------------------- labels


@dataclass
class _Def:
    path: str
    qualname: str
    node: ast.FunctionDef | ast.AsyncFunctionDef
    parents: tuple[str, ...]  # qualnames of the enclosing functions, outermost first
    calls: set[str] = field(default_factory=set)  # names this function calls (`f(...)`, `x.f(...)`)

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def label(self) -> str | None:
        return next((lab for prefix, lab in LABELS.items() if self.name.startswith(prefix)), None)

    @property
    def is_helper(self) -> bool:
        return self.name.startswith((*BUILDER_PREFIXES, WRAPPER_PREFIX))

    @property
    def start(self) -> int:
        return min([self.node.lineno, *(d.lineno for d in self.node.decorator_list)])

    @property
    def end(self) -> int:
        return self.node.end_lineno or self.node.lineno


def _fixture_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if p.is_file())


def _defs(tree: ast.Module, path: str) -> list[_Def]:
    found: list[_Def] = []

    def visit(node: ast.AST, scope: tuple[str, ...], parents: tuple[str, ...]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                qualname = ".".join((*scope, child.name))
                d = _Def(path, qualname, child, parents)
                d.calls = {n for n in (_call_name(c) for c in ast.walk(child) if isinstance(c, ast.Call)) if n}
                found.append(d)
                visit(child, (*scope, child.name), (*parents, qualname))
            elif isinstance(child, ast.ClassDef):
                visit(child, (*scope, child.name), parents)
            else:
                visit(child, scope, parents)

    visit(tree, (), ())
    return found


def _call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def collect_labels(root: Path = EVAL_DIR) -> Labels:
    """Every labeled function of the fixtures, and every helper with the labeled functions that call it."""
    functions: list[Function] = []
    helpers: list[Helper] = []
    for file in _fixture_files(root):
        rel = file.relative_to(root).as_posix()
        defs = _defs(_parse(file), rel)
        labeled = [d for d in defs if d.label]
        functions += [Function(rel, d.qualname, d.label, d.start, d.end) for d in labeled if d.label]
        helper_defs = [d for d in defs if d.is_helper]
        callers = _helper_callers(labeled, helper_defs)
        helpers += [Helper(rel, h.qualname, h.start, h.end, frozenset(callers[h.name])) for h in helper_defs]
    return Labels(tuple(functions), tuple(helpers))


def _helper_callers(labeled: list[_Def], helpers: list[_Def]) -> dict[str, set[str]]:
    """Helper name -> keys of the labeled functions that reach it, directly or through other helpers."""
    callers: dict[str, set[str]] = {h.name: set() for h in helpers}
    for d in labeled:
        for name in d.calls & callers.keys():
            callers[name].add(f"{d.path}::{d.qualname}")
    changed = True
    while changed:  # a helper called by a helper inherits its callers
        changed = False
        for h in helpers:
            for name in h.calls & callers.keys():
                if name != h.name and not callers[h.name] <= callers[name]:
                    callers[name] |= callers[h.name]
                    changed = True
    return callers


# --------------------------------------------------------------------------------------- sanity checks


def _sink_aliases(tree: ast.Module) -> dict[str, str]:
    """Names imported as a sink or constructor (`from sqlalchemy import text as sql_text`) -> their kind."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                kind = "sink" if alias.name in SINKS else "constructor" if alias.name in CONSTRUCTORS else None
                if kind:
                    aliases[alias.asname or alias.name] = kind
    return aliases


def sink_calls(func: ast.FunctionDef | ast.AsyncFunctionDef, imported: dict[str, str]) -> tuple[int, int]:
    """(sink calls, constructor calls) in a function, aliases such as `run = cur.execute` included."""
    local = dict(imported)
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Attribute) and node.value.attr in SINKS:
            local.update({t.id: "sink" for t in node.targets if isinstance(t, ast.Name)})
    sinks = constructors = 0
    for node in ast.walk(func):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        if name is None:
            continue
        if isinstance(node.func, ast.Name):
            kind = local.get(name) or ("sink" if name.startswith(WRAPPER_PREFIX) else None)
        else:
            kind = ("sink" if name in SINKS or name.startswith(WRAPPER_PREFIX)
                    else "constructor" if name in CONSTRUCTORS else None)
        sinks += kind == "sink"
        constructors += kind == "constructor"
    return sinks, constructors


def check_labels(root: Path = EVAL_DIR) -> list[str]:
    """What breaks the labeling convention; empty when the fixtures follow it."""
    problems: list[str] = []
    labels = collect_labels(root)
    for file in _fixture_files(root):
        rel = file.relative_to(root).as_posix()
        tree = _parse(file)
        imported = _sink_aliases(tree)
        defs = _defs(tree, rel)
        labeled_names = {d.qualname for d in defs if d.label}
        for d in defs:
            where = f"{rel}:{d.node.lineno} {d.qualname}"
            sinks, constructors = sink_calls(d.node, imported)
            if d.label and any(p in labeled_names for p in d.parents):
                problems.append(f"{where}: labeled function inside a labeled function")
            if d.label:
                if sinks > 1 or constructors > 1:
                    problems.append(f"{where}: {sinks} sink and {constructors} constructor calls (at most one each)")
                if d.label == "vuln" and sinks + constructors == 0:
                    problems.append(f"{where}: vuln function without a sink call")
            elif d.name.startswith(WRAPPER_PREFIX):
                if sinks == 0:
                    problems.append(f"{where}: {WRAPPER_PREFIX}* wrapper without a sink call")
            elif sinks or constructors:
                problems.append(f"{where}: calls a sink but is neither labeled nor a {WRAPPER_PREFIX}* wrapper")
    seen: set[str] = set()
    for f in labels.functions:
        if f.key in seen:
            problems.append(f"{f.key}: defined twice")
        seen.add(f.key)
    problems += [f"{h.path}::{h.qualname}: helper without a labeled caller" for h in labels.helpers if not h.callers]
    return problems


# ----------------------------------------------------------------------------------------- attribution


def attribute(labels: Labels, findings: Iterable[Finding]) -> set[str]:
    """Keys of the labeled functions that the findings flag."""
    flagged: set[str] = set()
    for path, line in findings:
        spans: list[tuple[int, set[str]]] = [
            (f.end - f.start, {f.key}) for f in labels.functions if f.path == path and f.start <= line <= f.end]
        spans += [(h.end - h.start, set(h.callers)) for h in labels.helpers
                  if h.path == path and h.start <= line <= h.end]
        if spans:
            flagged |= min(spans, key=lambda s: s[0])[1]
    return flagged


def score(labels: Labels, flagged: set[str], tool: str) -> Score:
    vuln, safe = labels.keys("vuln"), labels.keys("safe")
    return Score(tool, tp=len(vuln & flagged), fp=len(safe & flagged), fn=len(vuln - flagged), tn=len(safe - flagged),
                 false_positives=tuple(sorted(safe & flagged)), false_negatives=tuple(sorted(vuln - flagged)))


# --------------------------------------------------------------------------------------------- tools


def _relative(filename: str, root: Path, cwd: Path) -> str | None:
    path = Path(filename)
    path = (path if path.is_absolute() else cwd / path).resolve()
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def parse_findings(tool: str, output: str, root: Path, cwd: Path) -> list[Finding]:
    """(path, line) of each finding in a tool's JSON output; ValueError when it is not that JSON."""
    data = json.loads(output or "null")
    if tool == "bandit":
        if not isinstance(data, dict) or "results" not in data:
            raise ValueError("no `results` in bandit's JSON")
        rows = [(r["filename"], r["line_number"]) for r in data["results"] if r.get("test_id") == "B608"]
    elif tool in ("ruff", "sqlguard"):
        if not isinstance(data, list):
            raise ValueError(f"{tool}'s JSON is not a list")
        code = "S608" if tool == "ruff" else "SG40"
        rows = [(r["filename"], r["location"]["row"]) for r in data if r.get("code") == code]
    else:
        raise ValueError(f"unknown tool {tool!r}")
    found = [(_relative(name, root, cwd), int(line)) for name, line in rows]
    return [(path, line) for path, line in found if path is not None]


def command(tool: str, root: Path) -> list[str]:
    """The command line that lints `root` with one rule (each tool from this interpreter's environment)."""
    if tool == "bandit":
        return [sys.executable, "-m", "bandit", "-q", "-f", "json", "-t", "B608", "-r", str(root)]
    if tool == "ruff":
        return [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "S608", "--output-format", "json",
                "--no-cache", "--exit-zero", str(root)]
    if tool == "sqlguard":
        return [sys.executable, "-m", "sqlguard", "lint", "--select", "SG40", "--format", "json", "--no-color",
                "--exit-zero", str(root)]
    raise ValueError(f"unknown tool {tool!r}")


def _unavailable(why: str, proc: subprocess.CompletedProcess[str] | None = None) -> str:
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] if proc is not None else []
    return "not available: " + why + (f" ({tail[0]})" if tail else "")


def _has_sg40() -> str | None:
    """None when this sqlguard build knows SG40; else why not."""
    cmd = [sys.executable, "-m", "sqlguard", "rules", "--format", "json"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as err:
        return _unavailable(str(err))
    try:
        codes = {rule["code"] for rule in json.loads(proc.stdout)}
    except (ValueError, TypeError, KeyError):
        return _unavailable("`sqlguard rules` failed", proc)
    return None if "SG40" in codes else _unavailable("this sqlguard has no rule SG40")


def run_tool(tool: str, root: Path = EVAL_DIR) -> ToolRun:
    """Run one tool on the fixtures in a subprocess; a tool that cannot run yields an error, never an exception."""
    if tool == "sqlguard" and (why := _has_sg40()) is not None:
        return ToolRun(tool, error=why)
    try:
        proc = subprocess.run(command(tool, root), capture_output=True, text=True, cwd=ROOT, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as err:
        return ToolRun(tool, error=_unavailable(str(err)))
    # bandit exits 1 when it finds something; the others were told --exit-zero.
    if proc.returncode not in (0, 1):
        return ToolRun(tool, error=_unavailable(f"exit code {proc.returncode}", proc))
    try:
        findings = parse_findings(tool, proc.stdout, root, ROOT)
    except (ValueError, KeyError, TypeError) as err:
        return ToolRun(tool, error=_unavailable(f"unreadable output: {err}", proc))
    return ToolRun(tool, tuple(findings))


# ---------------------------------------------------------------------------------------------- report


def _table(labels: Labels, runs: Sequence[ToolRun], scores: dict[str, Score], root: Path) -> Iterator[str]:
    vuln, safe = len(labels.keys("vuln")), len(labels.keys("safe"))
    shown = root.relative_to(ROOT) if root.is_relative_to(ROOT) else root
    yield f"SG40 interpolated-sql on {shown}: {vuln + safe} labeled functions ({vuln} vuln, {safe} safe)"
    yield ""
    yield f"{'tool':<10}{'findings':>9}{'TP':>5}{'FP':>5}{'FN':>5}{'TN':>5}{'precision':>11}{'recall':>8}{'F1':>7}"
    for run in runs:
        if run.error is not None:
            yield f"{run.tool:<10}{run.error}"
            continue
        s = scores[run.tool]
        yield (f"{run.tool:<10}{len(run.findings):>9}{s.tp:>5}{s.fp:>5}{s.fn:>5}{s.tn:>5}"
               f"{s.precision:>11.3f}{s.recall:>8.3f}{s.f1:>7.3f}")


def _json(labels: Labels, runs: Sequence[ToolRun], scores: dict[str, Score], root: Path) -> str:
    tools = {}
    for run in runs:
        entry: dict[str, object] = {"available": run.error is None, "error": run.error}
        if run.error is None:
            s = scores[run.tool]
            entry |= {"findings": len(run.findings), **asdict(s), "precision": s.precision, "recall": s.recall,
                      "f1": s.f1}
            entry.pop("tool")
        tools[run.tool] = entry
    return json.dumps({
        "rule": "SG40",
        "fixtures": str(root),
        "labels": {"vuln": len(labels.keys("vuln")), "safe": len(labels.keys("safe")),
                   "functions": [asdict(f) for f in labels.functions]},
        "tools": tools,
    }, indent=2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=EVAL_DIR, help="the labeled fixture folder")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated subset of {', '.join(TOOLS)}")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--details", action="store_true", help="list each tool's false positives and negatives")
    args = parser.parse_args(argv)
    root = args.dir.resolve()
    tools = [t for t in args.tools.split(",") if t]
    if unknown := set(tools) - set(TOOLS):
        parser.error(f"unknown tools: {', '.join(sorted(unknown))}")
    labels = collect_labels(root)
    problems = check_labels(root)
    for problem in problems:
        print(f"label problem: {problem}", file=sys.stderr)
    runs = [run_tool(t, root) for t in tools]
    scores = {r.tool: score(labels, attribute(labels, r.findings), r.tool) for r in runs if r.error is None}
    if args.json:
        print(_json(labels, runs, scores, root))
    else:
        print("\n".join(_table(labels, runs, scores, root)))
        if args.details:
            for s in scores.values():
                print()
                print(s.confusion())
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
