"""Whole-project summaries for SQL in Python: where the values a function's parameters receive come from.

SG40 follows a value inside one file (`sqlguard.python.analysis`). A parameter that reaches SQL text is
decided by the function's callers, which may live in any file of the project: this module reads every
Python file of the run (parsed, never imported or run), finds each call of each function by name, and
classifies each argument the call passes:

- `constant`: literals, containers of literals, numbers (`int(x)`, `len(…)`), module constants;
- `database`: what a query returned (`fetchone()`, `fetchall()`, rows and their fields, `scalar()`…);
- `config`: the frameworks' settings (`settings.X`, `app.config[…]`; a configuration file the code reads
  itself is a file's contents);
- `untrusted`: web request data, `sys.argv` and parsed command lines, the environment, `input()`,
  what a file read returns;
- `unknown`: anything else, and a function that no call in the project reaches (a public API, a
  framework callback) gets `unknown` for every parameter.

A caller's own parameter is followed to that function's callers (a few levels deep). The result is
per (file, function name, parameter): the set of origins every call in the project passes.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlguard.python.analysis import allow_list_guard
from sqlguard.python.origins import (
    CARRIED,
    FETCH,
    NUMERIC_CALLS,
    TRANSFORMS,
    configured,
    dotted,
    untrusted_call,
    untrusted_name,
)

_DEPTH = 4


@dataclass
class _Function:
    file: str
    name: str
    params: list[str]  # without self / cls
    node: ast.FunctionDef | ast.AsyncFunctionDef
    assigned: dict[str, list[ast.expr]] = field(default_factory=dict)  # local name -> values bound to it
    guarded: set[str] = field(default_factory=set)  # names an allow-list check lets through only when safe
    loops: dict[str, ast.expr] = field(default_factory=dict)  # loop variable -> what it iterates
    calls: list[ast.Call] = field(default_factory=list)


@dataclass
class ProjectIndex:
    """Every function of the scanned Python files, and the origins of what their callers pass."""

    functions: dict[str, list[_Function]] = field(default_factory=dict)  # bare name -> definitions
    callers: dict[str, list[tuple[_Function | None, ast.Call, str]]] = field(default_factory=dict)
    module_constants: dict[str, set[str]] = field(default_factory=dict)  # file -> names of module constants
    _constant_nodes: dict[str, dict[str, ast.expr]] = field(default_factory=dict)  # file -> constant -> value
    _regexes: dict[str, dict[str, str]] = field(default_factory=dict)  # file -> compiled pattern's name -> text
    _memo: dict[tuple[str, str, str], frozenset[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, files: Iterable[tuple[str, bytes]]) -> ProjectIndex:
        """Read (shown path, bytes) of every Python file of the project."""
        out = cls()
        for shown, data in sorted(files):
            try:
                tree = ast.parse(data.decode("utf-8", "replace"))
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
            out._read(shown, tree)
        return out

    def _read(self, shown: str, tree: ast.Module) -> None:
        constants = self.module_constants.setdefault(shown, set())
        nodes = self._constant_nodes.setdefault(shown, {})
        regexes = self._regexes.setdefault(shown, {})
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and _constant(stmt.value, constants):
                constants.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
                nodes.update((t.id, stmt.value) for t in stmt.targets if isinstance(t, ast.Name))
            if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant) and \
                    isinstance(stmt.value.value, str):
                regexes.update((t.id, stmt.value.value) for t in stmt.targets if isinstance(t, ast.Name))
            elif isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call) and \
                    dotted(stmt.value.func) == "re.compile" and stmt.value.args and \
                    isinstance(stmt.value.args[0], ast.Constant) and isinstance(stmt.value.args[0].value, str):
                regexes.update((t.id, stmt.value.args[0].value) for t in stmt.targets if isinstance(t, ast.Name))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                params = [a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)
                          if a.arg not in ("self", "cls")]
                fn = _Function(shown, node.name, params, node)
                for inner in ast.walk(node):
                    if isinstance(inner, ast.If):  # `if x not in ALLOWED: abort(400)`: the one check SG40 reads
                        checked = allow_list_guard(inner, self._constant_nodes.get(shown, {}),
                                                   self._regexes.get(shown, {}))
                        if checked:
                            fn.guarded.add(checked)
                    if isinstance(inner, ast.Assign):
                        for t in inner.targets:
                            if isinstance(t, ast.Name):
                                fn.assigned.setdefault(t.id, []).append(inner.value)
                    elif isinstance(inner, (ast.AnnAssign, ast.AugAssign)) and isinstance(inner.target, ast.Name) \
                            and inner.value is not None:
                        fn.assigned.setdefault(inner.target.id, []).append(inner.value)
                    elif isinstance(inner, (ast.For, ast.AsyncFor, ast.comprehension)):
                        for target in ast.walk(inner.target):  # (`for (a, b) in rows`: each name)
                            if isinstance(target, ast.Name):
                                fn.loops[target.id] = inner.iter
                    elif isinstance(inner, ast.withitem) and isinstance(inner.optional_vars, ast.Name):
                        fn.assigned.setdefault(inner.optional_vars.id, []).append(inner.context_expr)
                    elif isinstance(inner, ast.Call):
                        fn.calls.append(inner)
                self.functions.setdefault(node.name, []).append(fn)
                for call in fn.calls:
                    callee = _callee(call)
                    if callee:
                        self.callers.setdefault(callee, []).append((fn, call, shown))
        for stmt in tree.body:  # calls at module level (scripts: `main(sys.argv[1])`)
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for call in (n for n in ast.walk(stmt) if isinstance(n, ast.Call)):
                callee = _callee(call)
                if callee:
                    self.callers.setdefault(callee, []).append((None, call, shown))

    # -- what a parameter receives --

    def parameter_origins(self, file: str, function: str, param: str) -> frozenset[str]:
        """The origins of what every call in the project passes for `param` of `function` (defined in `file`)."""
        return self._param(file, function, param, 0, frozenset())

    def _param(self, file: str, function: str, param: str, depth: int,
               seen: frozenset[tuple[str, str, str]]) -> frozenset[str]:
        key = (file, function, param)
        if key in self._memo:
            return self._memo[key]
        if depth > _DEPTH or key in seen:
            return frozenset({"unknown"})
        defs = [f for f in self.functions.get(function, []) if f.file == file] or self.functions.get(function, [])
        fn = defs[0] if defs else None
        if fn is None or param not in fn.params:
            return frozenset({"unknown"})
        index = fn.params.index(param)
        is_method = bool(fn.node.args.args) and fn.node.args.args[0].arg in ("self", "cls")
        sites = self.callers.get(function, [])
        out: frozenset[str] = frozenset()
        for caller, call, _ in sites:
            arg = _argument(call, param, index, is_method)
            if arg is None:
                if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
                    out |= {"unknown"}
                continue  # (the parameter's default: a constant)
            out |= self._origin(arg, caller, depth, seen | {key})
        if not sites:
            out = frozenset({"unknown"})
        if depth == 0:
            self._memo[key] = out
        return out or frozenset({"constant"})

    def _origin(self, node: ast.expr, fn: _Function | None, depth: int,
                seen: frozenset[tuple[str, str, str]], hops: int = 0) -> frozenset[str]:
        if hops > 6:
            return frozenset({"unknown"})
        if isinstance(node, ast.Constant):
            return frozenset({"constant"})
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return _union(self._origin(e, fn, depth, seen, hops + 1) for e in node.elts) or frozenset({"constant"})
        if isinstance(node, ast.Dict):
            return _union(self._origin(v, fn, depth, seen, hops + 1) for v in node.values if v is not None) \
                or frozenset({"constant"})
        if isinstance(node, ast.JoinedStr):
            return _union(self._origin(v.value, fn, depth, seen, hops + 1) for v in node.values
                          if isinstance(v, ast.FormattedValue)) or frozenset({"constant"})
        if isinstance(node, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
            return self._origin(node.elt, fn, depth, seen, hops + 1)
        if isinstance(node, ast.DictComp):
            return self._origin(node.value, fn, depth, seen, hops + 1)
        if isinstance(node, ast.BinOp):
            return self._origin(node.left, fn, depth, seen, hops + 1) | self._origin(node.right, fn, depth, seen,
                                                                                     hops + 1)
        if isinstance(node, ast.IfExp):
            return self._origin(node.body, fn, depth, seen, hops + 1) | self._origin(node.orelse, fn, depth, seen,
                                                                                     hops + 1)
        name = dotted(node)
        if untrusted_name(name):
            return frozenset({"untrusted"})
        if configured(name):
            return frozenset({"config"})
        if isinstance(node, ast.Name):
            return self._name(node.id, fn, depth, seen, hops)
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            return self._origin(node.value, fn, depth, seen, hops + 1)
        if isinstance(node, ast.Call):
            short = name.rsplit(".", 1)[-1]
            if name in NUMERIC_CALLS:
                return frozenset({"constant"})
            if untrusted_call(name):
                return frozenset({"untrusted"})
            if isinstance(node.func, ast.Attribute):
                if short in FETCH:
                    return frozenset({"database"})
                if short == "get" and configured(dotted(node.func.value)):
                    return frozenset({"config"})
                if short == "get" and fn is not None and isinstance(node.func.value, ast.Name) and \
                        node.func.value.id in self.module_constants.get(fn.file, set()) and \
                        (len(node.args) < 2 or self._origin(node.args[1], fn, depth, seen, hops + 1) <= {"constant"}):
                    return frozenset({"constant"})  # a lookup in a constant map, with a constant default
                if short in TRANSFORMS or short in CARRIED:
                    parts = [node.func.value, *node.args]
                    return _union(self._origin(p, fn, depth, seen, hops + 1) for p in parts)
            if name == "str" and node.args:
                return self._origin(node.args[0], fn, depth, seen, hops + 1)
            return frozenset({"unknown"})
        return frozenset({"unknown"})

    def _name(self, name: str, fn: _Function | None, depth: int, seen: frozenset[tuple[str, str, str]],
              hops: int) -> frozenset[str]:
        if fn is not None:
            if name in fn.guarded:
                return frozenset({"constant"})  # checked against an allow-list before the call
            if name in fn.params and name not in fn.assigned:
                return self._param(fn.file, fn.name, name, depth + 1, seen)
            if name in fn.loops:
                return self._origin(fn.loops[name], fn, depth, seen, hops + 1)
            if name in fn.assigned:
                return _union(self._origin(v, fn, depth, seen, hops + 1) for v in fn.assigned[name])
        file = fn.file if fn is not None else ""
        if name in self.module_constants.get(file, set()) or name.isupper():
            return frozenset({"constant"})
        return frozenset({"unknown"})


def _union(sets: Iterable[frozenset[str]]) -> frozenset[str]:
    out: frozenset[str] = frozenset()
    for s in sets:
        out |= s
    return out


def _argument(call: ast.Call, param: str, index: int, is_method: bool) -> ast.expr | None:
    """The argument a call passes for a parameter (by keyword, else by position)."""
    for k in call.keywords:
        if k.arg == param:
            return k.value
    positional = [a for a in call.args if not isinstance(a, ast.Starred)]
    # `obj.method(a)` passes a for the first parameter after self; `Class.method(obj, a)` is rare
    return positional[index] if index < len(positional) else None


def _callee(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _constant(node: ast.expr, constants: set[str]) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_constant(e, constants) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(v is not None and _constant(v, constants) for v in node.values)
    return isinstance(node, ast.Name) and node.id in constants


def read_project(paths: Iterable[Path]) -> ProjectIndex:
    """The index of the Python files at `paths` (unreadable ones are left out)."""
    from sqlguard.lint.engine import display_path

    files = []
    for p in paths:
        try:
            files.append((display_path(p), p.read_bytes()))
        except OSError:
            continue
    return ProjectIndex.build(files)
