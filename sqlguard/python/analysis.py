"""SQL in Python: where application code builds SQL text and where that text reaches a database.

The file is parsed with `ast` and never imported or run. For each call to a SQL sink (DB-API
`execute`, psycopg, asyncpg, SQLAlchemy `text()` / `exec_driver_sql`, Django `raw()` / `extra()` /
`RawSQL`, pandas `read_sql`, Alembic `op.execute`, and aliases or wrappers of these), the SQL
argument is evaluated abstractly into `Part`s: constant text, and holes where a non-constant value
was put in (by f-string, `%`, `.format`, `+`, `+=` or `join`). The evaluation follows local
variables and reassignments in the function, module-level constants, and simple helper functions
of the same module. Holes that cannot carry an injection are marked safe: numbers (`int(x)`,
`len(…)`), quoted identifiers (`sql.Identifier`, `quote_ident`, `quoted_name`), lookups in constant
allow-lists, and generated placeholder lists (`", ".join(["%s"] * n)`).

What comes out is plain data for the checks: `SqlSite`s for SG40, and the constant SQL of each
site as a `Statement` (with a position map back into the Python file) for SG10 and SG11. Alembic
`op.*` schema calls become the SQL they run, so that migration rules see them too.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass, field, replace
from typing import Any

from sqlguard.diagnostic import Span
from sqlguard.python.origins import (
    CARRIED,
    FETCH,
    NUMERIC_CALLS,
    TRANSFORMS,
    configured,
    dotted,
    request_data,
    untrusted_call,
    untrusted_name,
)
from sqlguard.sql.split import Comment, Statement

SINK_METHODS = frozenset({"execute", "executemany", "executescript", "mogrify", "fetch", "fetchrow", "fetchval",
                          "copy_expert", "exec_driver_sql", "raw", "extra", "read_sql", "read_sql_query",
                          "execute_sql", "query", "sql"})
# Methods that run SQL text only in these libraries: records and dataset (`db.query`), duckdb (`con.sql`),
# peewee (`db.execute_sql`).
_QUERY_LIBRARIES = {"query": ("records", "dataset"), "sql": ("duckdb",), "execute_sql": ("peewee",)}
SINK_FUNCTIONS = frozenset({"sqlalchemy.text", "sqlalchemy.sql.text", "sqlalchemy.sql.expression.text",
                            "RawSQL", "django.db.models.expressions.RawSQL", "django.db.models.RawSQL",
                            "pandas.read_sql", "pandas.read_sql_query", "text", "literal_column",
                            "sqlalchemy.literal_column", "sqlalchemy.sql.expression.literal_column",
                            "sqlalchemy.sql.literal_column"})
SQL_KEYWORDS = ("sql", "query", "statement", "operation", "sql_query", "stmt")
# Parameters named for SQL carry SQL by design (a driver's or repository's `execute(query)`).
_SQL_PARAMETER_NAMES = frozenset({*SQL_KEYWORDS, "q", "sql_text", "raw_sql", "querystring", "query_string",
                                  "sql_statement", "command", "cmd"})
PARAM_KEYWORDS = ("params", "parameters", "args", "vars", "param", "values")
# (Django's `connection.ops.quote_name` is not among them: it wraps a name in quotes without doubling
# the quotes inside it.)
# (SQLAlchemy's `quoted_name` is not among them: it quotes where SQLAlchemy compiles it, as in
# `table(quoted_name(x, True))`, and is the raw string inside an f-string.)
_QUOTE_CALLS = re.compile(r"(^|\.)(Identifier|escape_identifier|escape_literal|Literal|quote|quote_ident|"
                          r"quote_identifier|quote_schema|quote_literal|quote_plus)$")
_VALUE_CALLS = re.compile(r"(^|\.)(fromisoformat|strptime|fromtimestamp|uuid[1345]|UUID|date|datetime|"
                          r"mogrify|today|now|utcnow)$")
# Methods that turn a safe value (a date, a uuid, a number) into text that stays safe.
_SAFE_RENDER = frozenset({"isoformat", "strftime", "hex", "date", "time"})
_UNTRUSTED = frozenset({"untrusted"})
# Attributes of a safe value that stay safe: a uuid's hex, a date's parts, an enum member's value or name.
_SAFE_ATTRIBUTES = frozenset({"hex", "int", "year", "month", "day", "value", "name"})
# Parameter types whose values cannot carry SQL text.
_SAFE_TYPES = frozenset({"int", "float", "bool", "Decimal", "UUID", "date", "datetime", "time", "timedelta",
                         "PositiveInt", "NonNegativeInt", "conint"})
# Enum classes, Django's model choices among them (`models.TextChoices`): `Plan(x)` and `Plan[x]` raise on
# anything but one of the members.
_ENUM_BASES = frozenset({"Enum", "IntEnum", "StrEnum", "IntFlag", "Flag", "TextChoices", "IntegerChoices", "Choices"})
_DATABASE = frozenset({"database"})  # read from the database: a second-order risk, never an error
_PCT = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?[hlL]?([diouxXeEfFgGcrsab%])")
_FIELD = re.compile(r"\{\{|\}\}|\{([^{}!:]*)(?:![rsa])?(?::[^{}]*)?\}")


@dataclass(frozen=True)
class Part:
    """A piece of SQL as it was built: constant text, or a hole where a value was put in."""

    text: str | None  # the constant text; None for a hole
    node: Any = None  # the AST node it came from
    expr: str = ""  # a hole's source text, as the user wrote it
    how: str = ""  # f-string | % | .format | + | += | join
    # where an unsafe value comes from: `untrusted` (request data, argv, the environment, input(), a file
    # read) and `param:NAME` (the enclosing function's parameter NAME, whose callers decide); empty: neither
    sources: frozenset[str] = frozenset()
    safe: bool = False  # numeric, quoted identifier, allow-listed, placeholder list
    why_safe: str = ""

    @property
    def unsafe_hole(self) -> bool:
        return self.text is None and not self.safe

    @property
    def tainted(self) -> bool:
        """From a function parameter or untrusted data (not merely read from the database)."""
        return bool(self.sources - {"database"})


Value = tuple[Part, ...]


@dataclass(frozen=True)
class SqlSite:
    sink: str  # as written: `cur.execute`, `text`
    call: ast.Call
    arg: ast.expr
    value: Value
    style: str  # the driver's placeholder style: %s, ?, $1, :name
    params_given: bool
    function: str  # the enclosing function ("" at module level)
    alembic: bool = False

    @property
    def holes(self) -> list[Part]:
        return [p for p in self.value if p.unsafe_hole]


@dataclass
class PythonAnalysis:
    sites: list[SqlSite] = field(default_factory=list)
    statements: list[Statement] = field(default_factory=list)  # constant SQL of the sites, mapped to the file
    comments: list[Comment] = field(default_factory=list)
    alembic: bool = False
    error: tuple[str, int] | None = None  # a syntax error: message and offset
    aliases: dict[str, str] = field(default_factory=dict)  # name the module binds -> what it imports


class _Lines:
    """Character offsets of AST positions (whose columns count UTF-8 bytes)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        for m in re.finditer("\n", text):
            self.starts.append(m.end())

    def offset(self, line: int, col_bytes: int) -> int:
        start = self.starts[min(line, len(self.starts)) - 1]
        end = self.starts[line] if line < len(self.starts) else len(self.text)
        prefix = self.text[start:end].encode("utf-8", errors="surrogateescape")[:col_bytes]
        return start + len(prefix.decode("utf-8", errors="surrogateescape"))

    def span(self, node: ast.AST) -> Span:
        start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end_line = getattr(node, "end_lineno", None) or node.lineno  # type: ignore[attr-defined]
        end_col = getattr(node, "end_col_offset", None)
        end = self.offset(end_line, end_col) if end_col is not None else start
        return Span(start, max(start, end))


def analyze(text: str) -> PythonAnalysis:
    out = PythonAnalysis()
    if text.startswith("\ufeff"):  # a UTF-8 BOM, which Python itself skips; a form feed (which indentation
        text = "\f" + text[1:]  # ignores) keeps every offset where it was
    try:
        tree = ast.parse(text)
    except SyntaxError as err:
        lines = _Lines(text)
        line = err.lineno or 1
        offset = lines.starts[min(line, len(lines.starts)) - 1] + max((err.offset or 1) - 1, 0)
        out.error = (f"SyntaxError: {err.msg}", min(offset, len(text)))
        return out
    except (ValueError, RecursionError, MemoryError) as err:
        out.error = (f"{type(err).__name__}: {str(err)[:120] or 'the file is too deeply nested'}", 0)
        return out
    out.comments = _comments(text)
    try:
        _Analyzer(text, tree, out).run()
    except RecursionError:
        out.error = ("the file is too deeply nested to analyse", 0)
    return out


def _comments(text: str) -> list[Comment]:
    lines = _Lines(text)
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                start = lines.starts[tok.start[0] - 1] + tok.start[1]
                out.append(Comment(Span(start, start + len(tok.string)), tok.string))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return out


# --- the analyzer ----------------------------------------------------------------------------

@dataclass
class _Env:
    values: dict[str, Value] = field(default_factory=dict)
    tainted: dict[str, frozenset[str]] = field(default_factory=dict)  # name -> where its value comes from
    safe: set[str] = field(default_factory=set)
    sinks: dict[str, str] = field(default_factory=dict)  # local aliases of sink methods: run -> cur.execute
    params: set[str] = field(default_factory=set)
    db: set[str] = field(default_factory=set)  # names holding what a query returned (rows, their fields)
    config: set[str] = field(default_factory=set)  # names holding configuration (`settings.X`)
    # lists built only from constant strings (`where.append("city = ?")`): joined, they are constant SQL
    fragments: set[str] = field(default_factory=set)

    def copy(self) -> _Env:
        return _Env(dict(self.values), dict(self.tainted), set(self.safe), dict(self.sinks), set(self.params),
                    set(self.db), set(self.config), set(self.fragments))


class _Analyzer:
    def __init__(self, text: str, tree: ast.Module, out: PythonAnalysis) -> None:
        self.text = text
        self.tree = tree
        self.out = out
        self.aliases: dict[str, str] = {}  # imported name -> qualified name
        out.aliases = self.aliases  # (the same dict: checks read what the module imports)
        self.lines = _Lines(text)
        self.modules: set[str] = set()
        self.module_env = _Env()
        self.constants: dict[str, ast.expr] = {}  # module-level constant containers (allow-lists)
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.enums: set[str] = set()  # classes of this module that are enums
        self.wrappers: dict[str, tuple[int, str]] = {}  # function name -> (parameter index, sink it reaches)
        self.function = ""
        self.called: set[str] = set()  # names of the functions this module calls
        self.inlining: set[str] = set()  # helpers being inlined now (recursion guard)
        self.regexes: dict[str, str] = {}  # module-level compiled patterns: SLUG_RE = re.compile(r"…")

    # -- module facts --

    def run(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    self.modules.add(a.name.split(".")[0])
                    self.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module:
                self.modules.add(node.module.split(".")[0])
                for a in node.names:
                    self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        self.out.alembic = "alembic" in self.modules and any(
            isinstance(n, ast.FunctionDef) and n.name in ("upgrade", "downgrade") for n in self.tree.body)
        for stmt in self.tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[stmt.name] = stmt
            elif isinstance(stmt, ast.ClassDef):
                if any(dotted(b).rsplit(".", 1)[-1] in _ENUM_BASES for b in stmt.bases):
                    self.enums.add(stmt.name)
                for item in stmt.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        self.functions.setdefault(item.name, item)
            elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                value = stmt.value
                if value is None:
                    continue
                if isinstance(value, ast.Call) and dotted(value.func) == "re.compile" and value.args and \
                        isinstance(value.args[0], ast.Constant) and isinstance(value.args[0].value, str):
                    for t in targets:
                        if isinstance(t, ast.Name):
                            self.regexes[t.id] = value.args[0].value
                elif isinstance(value, ast.Constant) and isinstance(value.value, str):
                    for t in targets:  # (a pattern kept as a string: `re.fullmatch(ORDER_PATTERN, x)`)
                        if isinstance(t, ast.Name):
                            self.regexes[t.id] = value.value
                for t in targets:
                    if isinstance(t, ast.Name):
                        if isinstance(value, (ast.Dict, ast.List, ast.Tuple, ast.Set, ast.Call)) and \
                                (_constant_strings(value) or _constant_rows(value)):
                            self.constants[t.id] = value
                        v = self.eval(value, self.module_env, depth=1)
                        if v is not None and not any(p.text is None for p in v):
                            self.module_env.values[t.id] = v
        self.called = {dotted(n.func).rsplit(".", 1)[-1] for n in ast.walk(self.tree) if isinstance(n, ast.Call)}
        self._find_wrappers()
        self._scan_block(self.tree.body, self.module_env.copy(), "")
        for stmt in self.tree.body:
            if isinstance(stmt, ast.ClassDef):
                for item in stmt.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        self._scan_function(item)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._scan_function(stmt)

    def _find_wrappers(self) -> None:
        """Functions that pass one of their parameters straight to a sink become sinks themselves."""
        for _ in range(3):
            changed = False
            for name, fn in self.functions.items():
                if name in self.wrappers:
                    continue
                params = [a.arg for a in fn.args.args if a.arg not in ("self", "cls")]
                for call in ast.walk(fn):
                    if not isinstance(call, ast.Call):
                        continue
                    sink = self._sink_name(call, _Env())
                    arg = _sql_arg(call, sink) if sink else None
                    if sink and isinstance(arg, ast.Name) and arg.id in params:
                        self.wrappers[name] = (params.index(arg.id), sink)
                        changed = True
                        break
            if not changed:
                return

    # -- walking functions in statement order --

    def _scan_function(self, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        env = self.module_env.copy()
        params = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)]
        for extra in (fn.args.vararg, fn.args.kwarg):
            if extra is not None:
                params.append(extra.arg)
        typed = {a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)
                 if a.annotation is not None and self._safe_type(a.annotation)} | self._validated_by_cli(fn)
        for p in params:
            if p in ("self", "cls"):
                continue
            env.values.pop(p, None)
            env.tainted[p] = frozenset({f"param:{p}"})
            env.params.add(p)
            if p in typed:
                env.safe.add(p)  # `x_tenant_id: int`, `status: ItemStatus` (an Enum): a number or one of a set
        previous = self.function
        self.function = fn.name
        self._scan_block(fn.body, env, fn.name)
        for node in fn.body:  # nested functions
            for inner in ast.walk(node):
                if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)) and inner is not fn:
                    self._scan_function(inner)
        self.function = previous

    def _scan_block(self, body: list[ast.stmt], env: _Env, function: str) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for call in _own_calls(stmt):
                self._visit_call(call, env, function)
            self._assign(stmt, env)
            for block in _blocks(stmt):
                self._scan_block(block, env, function)

    def _assign(self, stmt: ast.stmt, env: _Env) -> None:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and \
                isinstance(stmt.value.func, ast.Attribute) and isinstance(stmt.value.func.value, ast.Name) and \
                stmt.value.func.attr in ("append", "extend", "insert", "add"):
            name, added = stmt.value.func.value.id, stmt.value.args[-1:]
            if name in env.fragments and not all(
                    _constant_strings(a) if stmt.value.func.attr == "extend" else
                    (isinstance(a, ast.Constant) and isinstance(a.value, str)) or bool(self._hole_safety(a, env))
                    for a in added):
                env.fragments.discard(name)  # a non-constant fragment
            for a in added:  # what goes into a list is in it (`where.append(request.args[…])`)
                if found := self._sources(a, env):
                    env.tainted[name] = env.tainted.get(name, frozenset()) | found
            return
        if isinstance(stmt, ast.Assign):
            for t in stmt.targets:
                self._bind(t, stmt.value, env)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            self._bind(stmt.target, stmt.value, env)
        elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name) and isinstance(stmt.op, ast.Add):
            name = stmt.target.id
            left = env.values.get(name)
            right = self.eval(stmt.value, env)
            if left is not None and right is not None:
                env.values[name] = left + tuple(replace(p, how="+=") if p.text is None and not p.how else p
                                                for p in right)
            if found := self._sources(stmt.value, env):
                env.tainted[name] = env.tainted.get(name, frozenset()) | found
        elif isinstance(stmt, ast.If):
            guarded = allow_list_guard(stmt, self.constants, self.regexes)
            if guarded:
                env.safe.add(guarded)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)) and isinstance(stmt.target, (ast.Tuple, ast.List)) and \
                _constant_rows(self.constants.get(dotted(stmt.iter), stmt.iter)):
            for t in ast.walk(stmt.target):  # `for table, column in INDEXES`: each a constant
                if isinstance(t, ast.Name):
                    env.values.pop(t.id, None)
                    env.tainted.pop(t.id, None)
                    env.safe.add(t.id)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)) and isinstance(stmt.target, ast.Tuple) and \
                len(stmt.target.elts) == 2 and isinstance(stmt.target.elts[0], ast.Name) and \
                isinstance(stmt.iter, ast.Call) and dotted(stmt.iter.func) == "enumerate" and stmt.iter.args:
            # `for i, (key, value) in enumerate(items)`: i is a number; the rest is a loop over items
            index = stmt.target.elts[0].id
            env.values.pop(index, None)
            env.tainted.pop(index, None)
            env.safe.add(index)
            self._assign(ast.For(target=stmt.target.elts[1], iter=stmt.iter.args[0], body=[], orelse=[]), env)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)) and isinstance(stmt.target, (ast.Tuple, ast.List)) and \
                _from_database(stmt.iter, env):
            for t in ast.walk(stmt.target):  # `for schema, name in cur.fetchall()`
                if isinstance(t, ast.Name):
                    env.values.pop(t.id, None)
                    env.tainted.pop(t.id, None)
                    env.db.add(t.id)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)) and isinstance(stmt.target, ast.Name):
            name = stmt.target.id
            env.values.pop(name, None)
            env.safe.discard(name)
            iterated = self.constants.get(dotted(stmt.iter)) if isinstance(stmt.iter, ast.Name) else stmt.iter
            if iterated is not None and _constant_strings(iterated):
                env.safe.add(name)  # `for table in ("likes", "matches")`: one of the constants
            elif _from_database(stmt.iter, env):
                env.db.add(name)
            elif found := self._sources(stmt.iter, env):
                env.tainted[name] = found

    def _bind(self, target: ast.expr, value: ast.expr, env: _Env) -> None:
        if isinstance(target, ast.Name):
            name = target.id
            env.safe.discard(name)
            env.tainted.pop(name, None)
            env.db.discard(name)
            env.config.discard(name)
            env.fragments.discard(name)
            env.values.pop(name, None)
            env.sinks.pop(name, None)
            if isinstance(value, ast.Attribute) and value.attr in SINK_METHODS:
                env.sinks[name] = _source(self.text, self.lines, value)  # run = cur.execute
                return
            if _is_composition(value) and not _raw_sql_args(value):
                env.safe.add(name)  # psycopg's sql.SQL(…).format(sql.Identifier(…)) quotes what it inserts
                return
            if _from_database(value, env):
                env.db.add(name)
            if _configured(value, env):
                env.config.add(name)
            if isinstance(value, (ast.ListComp, ast.SetComp, ast.BoolOp)) and (
                    self._safe_list(value, env) if not isinstance(value, ast.BoolOp) else
                    all(self._safe_list(v, env) for v in value.values)):
                env.safe.add(name)  # `ids = [int(x) for x in …]`: a list of numbers
            if isinstance(value, (ast.List, ast.Tuple)) and (not value.elts or _constant_strings(value)):
                env.fragments.add(name)
            v = self.eval(value, env)
            if v is not None:
                env.values[name] = v
            if found := self._sources(value, env):
                env.tainted[name] = found
            if self._hole_safety(value, env):
                env.safe.add(name)
        elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)) and \
                len(target.elts) == len(value.elts):
            for t, v in zip(target.elts, value.elts, strict=True):  # `where, params = [], []`
                self._bind(t, v, env)
        elif isinstance(target, (ast.Tuple, ast.List)):
            helper = self.functions.get(value.func.id) if isinstance(value, ast.Call) and \
                isinstance(value.func, ast.Name) and value.func.id not in self.wrappers else None
            for k, t in enumerate(target.elts):
                if isinstance(t, ast.Name):
                    env.values.pop(t.id, None)
                    env.tainted.pop(t.id, None)
                    env.safe.discard(t.id)
                    known = self._inline(helper, value, env, 0, element=k) \
                        if helper is not None and isinstance(value, ast.Call) else None
                    if known is not None:  # `where, params = build(…)`: what the helper returns there
                        env.values[t.id] = known
                    elif found := self._sources(value, env):
                        env.tainted[t.id] = found

    # -- sinks --

    def _sink_name(self, call: ast.Call, env: _Env) -> str | None:
        func = call.func
        if isinstance(func, ast.Attribute) and self._qualified(func) in SINK_FUNCTIONS:
            return _source(self.text, self.lines, func)  # sa.text(…), sqlalchemy.sql.text(…)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
                func.value.id in ("self", "cls") and func.attr in self.wrappers:
            return _source(self.text, self.lines, func)  # a wrapper method: self._run_text(q)
        if dotted(func).endswith("sql.SQL") or self._qualified(func) in ("psycopg.sql.SQL", "psycopg2.sql.SQL"):
            return _source(self.text, self.lines, func)  # sql.SQL(x) trusts x as SQL: it must be constant
        if isinstance(func, ast.Attribute) and func.attr in SINK_METHODS:
            if func.attr == "raw" and not _looks_like_django(func):
                return None
            if func.attr == "extra" and not (_looks_like_django(func) or any(
                    k.arg in ("where", "select", "tables") for k in call.keywords)):
                return None
            if func.attr == "fetch" and not self._db_like(func):
                return None  # requests' or a cache's fetch
            if func.attr in _QUERY_LIBRARIES and not self.modules & set(_QUERY_LIBRARIES[func.attr]):
                return None  # SQLAlchemy's session.query(Model), a GraphQL client's query: not SQL text
            return _source(self.text, self.lines, func)
        if isinstance(func, ast.Name):
            if func.id in env.sinks:
                return env.sinks[func.id]
            qualified = self.aliases.get(func.id, func.id)
            if qualified in SINK_FUNCTIONS and (func.id != "text" or "sqlalchemy" in self.modules):
                return func.id
            if qualified.endswith((".text", ".RawSQL", ".read_sql", ".read_sql_query")) and \
                    qualified.split(".")[0] in ("sqlalchemy", "django", "pandas"):
                return func.id
            if func.id in self.wrappers:
                return func.id
        return None

    def _qualified(self, node: ast.expr) -> str:
        """`sa.text` -> `sqlalchemy.text` through the module's imports."""
        head, _, rest = dotted(node).partition(".")
        base = self.aliases.get(head, head)
        return f"{base}.{rest}" if rest else base

    def _db_like(self, func: ast.Attribute) -> bool:
        """`x.fetch(…)` is asyncpg's only where the module uses asyncpg (not `requests`' or a cache's)."""
        return "asyncpg" in self.modules or "databases" in self.modules

    def _visit_call(self, call: ast.Call, env: _Env, function: str) -> None:
        if self.out.alembic and _is_op(call):
            self._alembic(call, function)
        sink = self._sink_name(call, env)
        if sink is None:
            return
        args: list[ast.expr] = []
        func = call.func
        wrapper = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if wrapper in self.wrappers and (isinstance(func, ast.Name) or (
                isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                and func.value.id in ("self", "cls"))):
            index, _ = self.wrappers[wrapper]
            if index < len(call.args):
                args = [call.args[index]]
        elif isinstance(func, ast.Attribute) and func.attr == "extra":
            for kw in call.keywords:
                if kw.arg in ("where", "select", "tables", "order_by") and isinstance(kw.value, (ast.List, ast.Tuple)):
                    args.extend(kw.value.elts)
                elif kw.arg == "select" and isinstance(kw.value, ast.Dict):
                    args.extend(v for v in kw.value.values if v is not None)
        else:
            arg = _sql_arg(call, sink)
            if arg is not None:
                args = [arg]
        params_given = len(call.args) > 1 or any(k.arg in PARAM_KEYWORDS for k in call.keywords)
        for arg in args:
            value = self.eval(arg, env)
            if value is None:
                continue
            if isinstance(arg, ast.Name) and arg.id in env.params and function in self.wrappers and \
                    function in self.called:
                continue  # a wrapper passing its own parameter on: its callers in this module are the sites
            if len(value) == 1 and value[0].text is None:
                hole = value[0]
                if not hole.tainted:
                    continue  # an opaque value (imported constant, ORM object): nothing built here
                if isinstance(hole.node, ast.Call) and not request_data(dotted(hole.node)):
                    continue  # an object made by a call (a query plan, a statement builder), not SQL text
                if isinstance(hole.node, ast.Name) and hole.node.id.lower() in _SQL_PARAMETER_NAMES:
                    continue  # `def execute(self, query)`: an API whose callers pass SQL by design
            site = SqlSite(sink, call, arg, value, self._style(sink), params_given, function,
                           alembic=self.out.alembic and sink.endswith("op.execute"))
            self.out.sites.append(site)
            self._statement(site)

    def _style(self, sink: str) -> str:
        if sink.endswith(("fetch", "fetchrow", "fetchval")) or "asyncpg" in self.modules:
            return "$1"
        if sink.split(".")[-1] in ("text",) or self.aliases.get(sink, "").endswith(".text"):
            return ":name"
        if "sqlite3" in self.modules or "aiosqlite" in self.modules:
            return "?"
        return "%s"

    # -- SQL text for SG10/SG11 --

    def _statement(self, site: SqlSite) -> None:
        if any(p.text is None for p in site.value):
            return  # built from values: SG40's business; the constant parts alone are not a statement
        text = "".join(p.text or "" for p in site.value)
        if not text.strip():
            return
        anchors: list[tuple[int, int]] = []
        pos = 0
        for p in site.value:
            for tpos, fpos in _literal_anchors(self.text, self.lines, p.node):
                anchors.append((pos + tpos, fpos))
            pos += len(p.text or "")
        span = self.lines.span(site.arg)
        section = "down" if site.function == "downgrade" else None
        stmt = Statement(span, text, 0, "sql", True, section, "python-alembic" if site.alembic else "python",
                         anchors=tuple(anchors))
        self.out.statements.append(stmt)

    def _alembic(self, call: ast.Call, function: str) -> None:
        """`op.drop_table("x")` and friends, as the SQL they run (so SG10, SG11, SG20, SG21 see them).

        Names in the SQL point back at the string arguments they came from.
        """
        assert isinstance(call.func, ast.Attribute)
        op = call.func.attr
        kw = {k.arg: k.value for k in call.keywords if k.arg}
        exists = "IF EXISTS " if _truthy(kw.get("if_exists")) else ""

        def a(i: int) -> ast.Constant | None:
            node = call.args[i] if i < len(call.args) else None
            return node if isinstance(node, ast.Constant) and isinstance(node.value, str) else None

        def names(i: int) -> str:
            return ", ".join(_str_list(call.args[i])) if len(call.args) > i else "id"

        pieces: list[Any] | None = None  # SQL text and the string arguments it names
        if op == "drop_table" and a(0):
            pieces = [f"DROP TABLE {exists}", a(0)]
        elif op == "drop_column" and a(0) and a(1):
            pieces = ["ALTER TABLE ", a(0), f" DROP COLUMN {exists}", a(1)]
        elif op == "drop_index" and a(0):
            pieces = [f"DROP INDEX {exists}", a(0)]
        elif op == "drop_constraint" and a(0) and a(1):
            pieces = ["ALTER TABLE ", a(1), f" DROP CONSTRAINT {exists}", a(0)]
        elif op == "create_foreign_key" and a(1) and a(2):
            pieces = ["ALTER TABLE ", a(1), " ADD CONSTRAINT ", a(0) or "fk",
                      f" FOREIGN KEY ({names(3)}) REFERENCES ", a(2), f" ({names(4)})"]
        elif op == "create_table" and a(0):
            pieces = ["CREATE TABLE ", a(0), " (id int)"]
        elif op == "rename_table" and a(0) and a(1):
            pieces = ["ALTER TABLE ", a(0), " RENAME TO ", a(1)]
        elif op in ("add_column", "alter_column") and a(0):
            pieces = ["ALTER TABLE ", a(0), " ADD COLUMN IF NOT EXISTS sqlguard_column int"]
        elif op == "create_index" and a(0) and a(1):
            pieces = ["CREATE INDEX ", a(0), " ON ", a(1), f" ({names(2)})"]
        if pieces is None:
            return
        span = self.lines.span(call)
        sql = ""
        anchors: list[tuple[int, int]] = []
        for piece in pieces:
            if isinstance(piece, ast.Constant):
                anchors.append((len(sql), self.lines.span(piece).start + 1))  # just inside the quote
                sql += str(piece.value)
            else:
                anchors.append((len(sql), span.start))
                sql += piece
        section = "down" if function == "downgrade" else None
        self.out.statements.append(Statement(span, sql, 0, "sql", True, section, "python-alembic",
                                             anchors=_pinned(anchors, sql)))

    # -- abstract evaluation --

    def eval(self, node: ast.expr, env: _Env, depth: int = 0) -> Value | None:
        if depth > 6:
            return None
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                return (Part(node.value, node),)
            if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
                return (Part(str(node.value), None),)
            return None
        if isinstance(node, ast.JoinedStr):
            parts: list[Part] = []
            for v in node.values:
                if isinstance(v, ast.Constant) and isinstance(v.value, str):
                    parts.append(Part(v.value, None))
                elif isinstance(v, ast.FormattedValue):
                    parts.extend(self._hole(v.value, env, "f-string", depth))
            return tuple(parts)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.eval(node.left, env, depth + 1), self.eval(node.right, env, depth + 1)
            if left is None and right is None:
                return None
            if left is None:
                left = tuple(self._hole(node.left, env, "+", depth))
            if right is None:
                right = tuple(self._hole(node.right, env, "+", depth))
            return left + tuple(replace(p, how="+") if p.text is None and not p.how else p for p in right)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            template = self.eval(node.left, env, depth + 1)
            if template is None or any(p.text is None for p in template):
                return None if template is None else template + tuple(self._hole(node.right, env, "%", depth))
            return self._percent("".join(p.text or "" for p in template), node, env, depth)
        if isinstance(node, ast.Call):
            return self._eval_call(node, env, depth)
        if isinstance(node, ast.Name):
            if node.id in env.values:
                return env.values[node.id]
            return tuple(self._hole(node, env, "", depth))
        if isinstance(node, ast.IfExp):
            a, b = self.eval(node.body, env, depth + 1), self.eval(node.orelse, env, depth + 1)
            if a is not None and b is not None and not any(p.text is None for p in a + b):
                return a  # either constant: the shape is what matters
            return tuple(self._hole(node, env, "", depth))
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            return tuple(self._hole(node, env, "", depth))
        return None

    def _eval_call(self, node: ast.Call, env: _Env, depth: int) -> Value | None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "format":
            if _is_composable(func.value):
                return None  # psycopg.sql.SQL(…).format(sql.Identifier(…)): quoted composition (a
                # `sql.SQL(expr)` among its arguments is a sink of its own)
            template = self.eval(func.value, env, depth + 1)
            if template is None or any(p.text is None for p in template):
                return None
            return self._format("".join(p.text or "" for p in template), node, env, depth)
        if isinstance(func, ast.Attribute) and func.attr == "join" and node.args:
            sep = self.eval(func.value, env, depth + 1)
            if sep is None or any(p.text is None for p in sep):
                return None
            if _placeholder_list(node.args[0]):
                return (Part("%s, %s", None, safe=True, why_safe="placeholder list"),)
            gen = node.args[0]
            if isinstance(gen, (ast.GeneratorExp, ast.ListComp)) and self._safe_elements(gen, env):
                return (Part("?", None, safe=True, why_safe="joined values that are each safe"),)
            items = node.args[0]
            if isinstance(items, ast.Name) and items.id in env.fragments:
                return (Part("?", None, safe=True, why_safe="joined constant fragments"),)
            if isinstance(items, ast.Name) and items.id in self.constants:
                items = self.constants[items.id]
            if isinstance(items, (ast.List, ast.Tuple, ast.Set)) and _constant_strings(items):
                sep_text = "".join(p.text or "" for p in sep)
                return (Part(sep_text.join(str(e.value) for e in items.elts if isinstance(e, ast.Constant)), None),)
            return tuple(self._hole(node.args[0], env, "join", depth))
        if isinstance(func, ast.Attribute) and func.attr in ("strip", "lstrip", "rstrip", "upper", "lower",
                                                             "replace", "removeprefix", "removesuffix"):
            inner = self.eval(func.value, env, depth + 1)
            return inner
        if isinstance(func, ast.Name) and func.id == "str" and node.args:
            return self.eval(node.args[0], env, depth + 1)
        if isinstance(func, ast.Name) and func.id in self.functions and _quotes(self.functions[func.id]):
            return tuple(self._hole(node, env, "", depth))  # (safe: the project's own quoting helper)
        if isinstance(func, ast.Name) and func.id in self.functions and func.id not in self.wrappers:
            return self._inline(self.functions[func.id], node, env, depth)
        if _is_composable(node) or self._is_sink_function(node):
            return None
        return tuple(self._hole(node, env, "", depth))

    def _is_sink_function(self, node: ast.Call) -> bool:
        return self._qualified(node.func) in SINK_FUNCTIONS

    def _inline(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call, env: _Env,
                depth: int, element: int | None = None) -> Value | None:
        """A simple helper of the module: evaluate what it returns, with the call's arguments bound."""
        if fn.name in self.inlining or depth > 4:
            return None  # a recursive helper (or a deep chain of them): not followed
        self.inlining.add(fn.name)
        try:
            return self._inline_body(fn, call, env, depth, element)
        finally:
            self.inlining.discard(fn.name)

    def _inline_body(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call, env: _Env,
                     depth: int, element: int | None) -> Value | None:
        inner = self.module_env.copy()
        names = [a.arg for a in fn.args.args if a.arg not in ("self", "cls")]
        for name, arg in zip(names, call.args, strict=False):
            why = self._hole_safety(arg, env)
            if why:  # (checked by the caller: `if status not in ALLOWED: abort(400)`, then the helper)
                inner.values[name] = (Part(None, arg, _source(self.text, self.lines, arg), "", safe=True,
                                           why_safe=why),)
                inner.safe.add(name)
                continue
            value = self.eval(arg, env, depth + 1)
            if value is not None:
                inner.values[name] = tuple(replace(p, node=None) if p.text is not None else p for p in value)
            else:
                inner.values[name] = tuple(self._hole(arg, env, "", depth))
            if found := self._sources(arg, env):
                inner.tainted[name] = found
        for stmt in fn.body:
            if isinstance(stmt, ast.Return) and stmt.value is not None:
                value = stmt.value
                if element is not None:  # `where, params = helper(…)`: one element of `return where, params`
                    if not (isinstance(value, ast.Tuple) and element < len(value.elts)):
                        return None
                    value = value.elts[element]
                return self.eval(value, inner, depth + 1)
            self._assign_all(stmt, inner)
        return None

    def _assign_all(self, stmt: ast.stmt, env: _Env) -> None:
        """What a statement and the blocks inside it bind (a helper's loops build its lists)."""
        self._assign(stmt, env)
        for block in _blocks(stmt):
            for inner in block:
                self._assign_all(inner, env)

    def _percent(self, template: str, node: ast.BinOp, env: _Env, depth: int) -> Value:
        right = node.right
        items: list[ast.expr] = list(right.elts) if isinstance(right, ast.Tuple) else [right]
        named = right if isinstance(right, ast.Dict) else None
        parts: list[Part] = []
        pos = 0
        i = 0
        for m in _PCT.finditer(template):
            parts.append(Part(template[pos:m.start()], None))
            pos = m.end()
            if m.group(2) == "%":
                parts.append(Part("%", None))
                continue
            if m.group(1) and named is not None:
                value = next((v for k, v in zip(named.keys, named.values, strict=False)
                              if isinstance(k, ast.Constant) and k.value == m.group(1)), None)
            else:
                value = items[i] if i < len(items) else None
                i += 1
            if value is None:
                parts.extend(self._hole(right, env, "%", depth))
            elif m.group(2) in "dioxXeEfFgGc":
                parts.append(Part(None, value, _source(self.text, self.lines, value), "%", safe=True,
                                  why_safe="formatted as a number"))
            else:
                parts.extend(self._hole(value, env, "%", depth))
        parts.append(Part(template[pos:], None))
        return tuple(p for p in parts if p.text != "")

    def _format(self, template: str, node: ast.Call, env: _Env, depth: int) -> Value:
        kwargs = {k.arg: k.value for k in node.keywords if k.arg}
        parts: list[Part] = []
        pos = 0
        auto = 0
        for m in _FIELD.finditer(template):
            parts.append(Part(template[pos:m.start()], None))
            pos = m.end()
            if m.group(0) in ("{{", "}}"):
                parts.append(Part(m.group(0)[0], None))
                continue
            key = (m.group(1) or "").split(".")[0].split("[")[0]
            value: ast.expr | None
            if key == "":
                value = node.args[auto] if auto < len(node.args) else None
                auto += 1
            elif key.isdigit():
                value = node.args[int(key)] if int(key) < len(node.args) else None
            else:
                value = kwargs.get(key)
            if value is None:
                parts.append(Part(None, node, key or "?", ".format"))
            else:
                parts.extend(self._hole(value, env, ".format", depth))
        parts.append(Part(template[pos:], None))
        return tuple(p for p in parts if p.text != "")

    def _hole(self, node: ast.expr, env: _Env, how: str, depth: int) -> list[Part]:
        """What putting `node` into SQL text puts there: its constant text, or a hole."""
        if isinstance(node, ast.Name) and node.id in env.values:
            known = env.values[node.id]
            if all(p.text is not None or p.safe for p in known):  # (text built from constants and safe holes)
                return list(known)
        if isinstance(node, ast.Constant):
            return [Part(str(node.value), None)]
        if not isinstance(node, ast.Name) and depth < 5 and not isinstance(node, (ast.Attribute, ast.Subscript)):
            value = self.eval(node, env, depth + 1)
            if value is not None and not isinstance(node, ast.Call):
                return list(value)
            if value is not None and isinstance(node, ast.Call) and not (
                    len(value) == 1 and value[0].text is None and value[0].node is node):
                return list(value)
        why = self._hole_safety(node, env)
        return [Part(None, node, _source(self.text, self.lines, node), how,
                     sources=self._sources(node, env), safe=bool(why), why_safe=why)]

    def _safe_type(self, annotation: ast.expr) -> bool:
        """A parameter type whose values cannot carry SQL: numbers, uuids, dates, and enums of this module
        (`Optional[int]` and `int | None` too). Frameworks that validate annotations (FastAPI, Typer,
        pydantic) reject anything else before the function runs; elsewhere a type checker does."""
        if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
            return all(self._safe_type(side) or (isinstance(side, ast.Constant) and side.value is None)
                       for side in (annotation.left, annotation.right))
        if isinstance(annotation, ast.Subscript) and dotted(annotation.value).rsplit(".", 1)[-1] == "Optional":
            return self._safe_type(annotation.slice)
        name = dotted(annotation).rsplit(".", 1)[-1]
        return name in _SAFE_TYPES or name in self.enums

    def _validated_by_cli(self, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
        """Parameters a command-line framework checks before the function runs: click's `@click.argument(
        "table", type=click.Choice(TABLES))` or `@click.option("--days", type=click.IntRange(1, 30))`, and
        `type=int` / `float` / `click.INT`…; a `Choice` of anything but constants is not a check."""
        out: set[str] = set()
        for deco in fn.decorator_list:
            if not (isinstance(deco, ast.Call) and dotted(deco.func).rsplit(".", 1)[-1] in ("argument", "option")):
                continue
            names = [a.value for a in deco.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            kind = next((k.value for k in deco.keywords if k.arg == "type"), None)
            if not names or kind is None or not self._checked_type(kind):
                continue
            plain = [n for n in names if not n.startswith("-")]
            name = plain[0] if plain else max(names, key=len).lstrip("-")
            out.add(name.replace("-", "_").lower())
        return out

    def _checked_type(self, kind: ast.expr) -> bool:
        name = dotted(kind).rsplit(".", 1)[-1]
        if name in ("int", "float", "bool", "INT", "FLOAT", "BOOL", "UUID", "IntRange", "FloatRange", "DateTime"):
            return True
        if isinstance(kind, ast.Call) and name == "Choice" and kind.args:
            choices = kind.args[0]
            if isinstance(choices, ast.Call) and dotted(choices.func) in ("sorted", "list", "tuple") and choices.args:
                choices = choices.args[0]
            return _constant_strings(choices) or (isinstance(choices, ast.Name) and choices.id in self.constants)
        return False

    def _safe_elements(self, comp: ast.ListComp | ast.GeneratorExp | ast.SetComp, env: _Env) -> str:
        """Why every element a comprehension makes is safe (`int(x) for x in …`, `str(i) for i in ids` over a
        list of numbers), or ""."""
        inner = env.copy()
        for gen in comp.generators:
            iterated = gen.iter
            targets = {t.id for t in ast.walk(gen.target) if isinstance(t, ast.Name)}
            if (isinstance(iterated, ast.Name) and iterated.id in env.safe) or _constant_strings(iterated):
                inner.safe.update(targets)
            for cond in gen.ifs:  # `[m for m in requested if m in ALLOWED]`: only allow-listed ones
                if isinstance(cond, ast.Compare) and len(cond.ops) == 1 and isinstance(cond.ops[0], ast.In) and \
                        isinstance(cond.left, ast.Name) and cond.left.id in targets and \
                        (dotted(cond.comparators[0]) in self.constants or _constant_strings(cond.comparators[0])):
                    inner.safe.add(cond.left.id)
        return self._hole_safety(comp.elt, inner)

    def _safe_list(self, node: ast.expr, env: _Env) -> bool:
        """A list whose every element is safe: a list of constants, or a comprehension of safe elements."""
        if _constant_strings(node):
            return True
        if isinstance(node, ast.Name):
            return node.id in env.safe
        return isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)) and bool(self._safe_elements(node, env))

    def _hole_safety(self, node: ast.expr, env: _Env) -> str:
        if isinstance(node, ast.Constant):
            return "a constant"
        if _configured(node, env):
            return "configuration"
        if isinstance(node, (ast.Call, ast.Subscript)) and isinstance(node.func if isinstance(node, ast.Call) else
                                                                 node.value, ast.Name) and \
                (node.func if isinstance(node, ast.Call) else node.value).id in self.enums:  # type: ignore[union-attr]
            return "an enum member"  # `Granularity(text)`, `Granularity[text]` raise on anything but a member
        if isinstance(node, ast.JoinedStr):
            parts = [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
            return "built from safe parts" if all(self._hole_safety(p, env) for p in parts) else ""
        if isinstance(node, ast.BoolOp):
            return "built from safe parts" if all(self._hole_safety(v, env) or self._safe_list(v, env)
                                                  for v in node.values) else ""
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self.functions and \
                _quotes(self.functions[node.func.id]):
            return "quoted by a helper that doubles the quotes inside"
        if isinstance(node, ast.Name):
            if node.id in env.safe:
                return "checked against an allow-list" if node.id not in env.values else "safe"
            known = env.values.get(node.id)
            if known is not None and all(p.text is not None and _NUMBER.fullmatch(p.text) for p in known):
                return "a number"
            return ""
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if name in NUMERIC_CALLS:
                return "a number"
            if name and _QUOTE_CALLS.search(name):
                return "a quoted identifier"
            if name and _VALUE_CALLS.search(name):
                return "a date, uuid or driver-escaped value"
            if isinstance(node.func, ast.Attribute) and node.func.attr in _SAFE_RENDER and \
                    self._hole_safety(node.func.value, env):
                return "a date, uuid or number"
            if isinstance(node.func, ast.Attribute) and node.func.attr == "decode" and \
                    isinstance(node.func.value, ast.Call) and dotted(node.func.value.func).endswith("mogrify"):
                return "escaped by the driver (mogrify)"
            if name == "str" and node.args:
                return self._hole_safety(node.args[0], env)
            if isinstance(node.func, ast.Attribute) and node.func.attr == "get" and \
                    dotted(node.func.value) in self.constants:
                default = node.args[1] if len(node.args) > 1 else None
                if default is None or self._hole_safety(default, env):
                    return "looked up in a constant allow-list"  # (a user-supplied default is not)
                return ""
            if isinstance(node.func, ast.Attribute) and node.func.attr == "join" and node.args and \
                    _placeholder_list(node.args[0]):
                return "a placeholder list"
            if isinstance(node.func, ast.Attribute) and node.func.attr == "join" and node.args and \
                    isinstance(node.args[0], ast.Name) and node.args[0].id in env.fragments:
                return "joined constant fragments"
            return ""
        if isinstance(node, ast.Subscript) and dotted(node.value) in self.constants:
            return "looked up in a constant allow-list"
        if isinstance(node, ast.Attribute) and node.attr in _SAFE_ATTRIBUTES and self._hole_safety(node.value, env):
            return "a date, uuid or number"
        if isinstance(node, ast.BinOp) and not isinstance(node.op, (ast.Add, ast.Mod)):
            left, right = self._hole_safety(node.left, env), self._hole_safety(node.right, env)
            return "a number" if left and right else ""
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and \
                _is_number(node.left, env, self) and _is_number(node.right, env, self):
            return "a number"
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self._hole_safety(node.left, env), self._hole_safety(node.right, env)
            return "built from safe parts" if left and right else ""
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return self._hole_safety(node.operand, env)
        if isinstance(node, ast.IfExp):
            a, b = self._hole_safety(node.body, env), self._hole_safety(node.orelse, env)
            return a if a and b else ""
        return ""

    def _is_tainted(self, node: ast.AST, env: _Env) -> bool:
        return bool(self._sources(node, env))

    def _sources(self, node: ast.AST, env: _Env) -> frozenset[str]:
        """Where a value comes from: `untrusted` (request data, argv, the environment, input(), a file
        read), `param:NAME` (a parameter of the function; its callers decide), or nowhere (empty).

        A method called on a parameter (`conn.execute(…).fetchone()`) returns what the method makes,
        not what the caller passed, unless it transforms a string (`name.strip()`, `", ".join(parts)`).
        """
        if isinstance(node, ast.Name):
            found = env.tainted.get(node.id, frozenset())
            return found | _DATABASE if node.id in env.db else found
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if untrusted_call(name):
                return _UNTRUSTED
            if isinstance(node.func, ast.Attribute) and node.func.attr in FETCH:
                return _DATABASE
            args = [*node.args, *(k.value for k in node.keywords)]
            if isinstance(node.func, ast.Attribute):
                if node.func.attr in TRANSFORMS:
                    return self._sources(node.func.value, env)
                if node.func.attr in CARRIED:
                    out = self._sources(node.func.value, env)
                    for a in args:
                        out |= self._sources(a, env)
                    return out
                return frozenset()
            out = frozenset()
            for a in args:
                out |= self._sources(a, env)
            return out
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            name = dotted(node)
            if untrusted_name(name):
                return _UNTRUSTED
            return self._sources(node.value, env)
        out = frozenset()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                out |= self._sources(child, env)
        return out


# --- helpers ---------------------------------------------------------------------------------

def _own_calls(stmt: ast.stmt) -> list[ast.Call]:
    """Calls in a statement's own expressions (not in the blocks it holds), in source order."""
    exprs: list[ast.AST] = []
    for name, value in ast.iter_fields(stmt):
        if name in ("body", "orelse", "finalbody", "handlers", "cases"):
            continue
        if isinstance(value, ast.AST):
            exprs.append(value)
        elif isinstance(value, list):
            exprs.extend(v for v in value if isinstance(v, ast.AST))
    calls = [n for e in exprs for n in ast.walk(e) if isinstance(n, ast.Call)]
    return sorted(calls, key=lambda c: (c.lineno, c.col_offset))


def _blocks(stmt: ast.stmt) -> list[list[ast.stmt]]:
    out = []
    for name in ("body", "orelse", "finalbody"):
        block = getattr(stmt, name, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            out.append(block)
    for handler in getattr(stmt, "handlers", []) or []:
        out.append(handler.body)
    for case in getattr(stmt, "cases", []) or []:
        out.append(case.body)
    return out


def _sql_arg(call: ast.Call, sink: str | None) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg in SQL_KEYWORDS:
            return kw.value
    return call.args[0] if call.args else None


def _source(text: str, lines: _Lines, node: ast.AST) -> str:
    span = lines.span(node)
    shown = " ".join(text[span.start:span.end].split())
    return shown if len(shown) <= 60 else shown[:57] + "…"


def _is_composable(node: ast.AST) -> bool:
    """psycopg's `sql.SQL(…)` / `sql.Composed`: composition that quotes what it inserts."""
    name = dotted(node.func if isinstance(node, ast.Call) else node)
    return bool(re.search(r"(^|\.)(SQL|Composed|Identifier|Literal|Placeholder)$", name))


def _is_op(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name) and call.func.value.id == "op"


def _looks_like_django(func: ast.Attribute) -> bool:
    text = dotted(func.value)
    return "objects" in text or text.endswith(("_set", "queryset", "qs", "manager")) or isinstance(
        func.value, ast.Call)


def _placeholder_list(node: ast.expr) -> bool:
    """`["%s"] * n`, `"?" * len(ids)`, `["%s" for _ in ids]`, `("?",) * n`: only placeholders."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        side = node.left if isinstance(node.left, (ast.List, ast.Tuple, ast.Constant)) else node.right
        if isinstance(side, ast.Constant):
            return isinstance(side.value, str) and _is_placeholder(side.value, whole=False)
        if isinstance(side, (ast.List, ast.Tuple)):
            return all(isinstance(e, ast.Constant) and isinstance(e.value, str) and _is_placeholder(e.value)
                       for e in side.elts)
    if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
        elt = node.elt
        if isinstance(elt, ast.Constant) and isinstance(elt.value, str):
            return _is_placeholder(elt.value)
        if isinstance(elt, ast.JoinedStr) and _numbered_placeholders(elt, node):
            return True
        if isinstance(elt, ast.JoinedStr):  # f"${i}" / f":p{i}"
            return all((isinstance(v, ast.Constant) and re.fullmatch(r"[$:@?]\w*", str(v.value)))
                       or isinstance(v, ast.FormattedValue) for v in elt.values)
    return False


def _numbered_placeholders(elt: ast.JoinedStr, comp: ast.ListComp | ast.GeneratorExp) -> bool:
    """`f"($1, ${i + 2})" for i in range(n)`: numbered placeholders built from loop counters."""
    counters = {n.id for g in comp.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
    for v in elt.values:
        if isinstance(v, ast.Constant):
            rest = str(v.value).replace("%s", "")
            if any(ch not in "()$?:@, \t\n0123456789" for ch in rest):
                return False
        elif isinstance(v, ast.FormattedValue):
            for n in ast.walk(v.value):
                if isinstance(n, ast.Name) and n.id not in counters:
                    return False
                if isinstance(n, (ast.Call, ast.Attribute, ast.Subscript)):
                    return False
        else:
            return False
    return True


def _from_database(node: ast.expr, env: _Env) -> bool:
    """A value a query returned: a fetch call's result, a row, a row's field, a list made of them."""
    if isinstance(node, ast.Await):
        return _from_database(node.value, env)
    if isinstance(node, ast.Name):
        return node.id in env.db
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Attribute) and node.func.attr in FETCH
    if isinstance(node, (ast.Subscript, ast.Attribute)):
        return _from_database(node.value, env)
    if isinstance(node, (ast.ListComp, ast.GeneratorExp, ast.SetComp)) and node.generators:
        inner = env.copy()
        for gen in node.generators:
            if not _from_database(gen.iter, inner):
                return False
            inner.db.update(t.id for t in ast.walk(gen.target) if isinstance(t, ast.Name))
        return _from_database(node.elt, inner)
    return False


def _configured(node: ast.expr, env: _Env) -> bool:
    """A configuration value: `settings.REPORTING_SCHEMA`, `app.config["X"]`, `config.get("x")`."""
    if isinstance(node, ast.Name):
        return node.id in env.config
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        return _configured(node.func.value, env) or configured(dotted(node.func.value))
    if isinstance(node, (ast.Attribute, ast.Subscript)):
        return configured(dotted(node)) or _configured(node.value, env)
    return False


def _quotes(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A helper that quotes by meaning: it doubles a quote character inside what it is given
    (`'"' + name.replace('"', '""') + '"'`), so nothing it returns can end the quoting early."""
    params = {a.arg for a in fn.args.args}
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "replace" and \
                len(node.args) == 2 and all(isinstance(a, ast.Constant) and isinstance(a.value, str)
                                            for a in node.args):
            old, new = node.args[0].value, node.args[1].value  # type: ignore[union-attr]
            if old in ('"', "'", "`") and new == old * 2 and any(
                    isinstance(n, ast.Name) and n.id in params for n in ast.walk(node.func.value)):
                return True
    return False


def _raw_sql_args(call: ast.expr) -> list[ast.expr]:
    """In a psycopg composition (`sql.SQL(…).format(…)`, `.join(…)`): what a `sql.SQL(x)` argument inserts as
    SQL, unquoted, when x is not a constant string."""
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr in ("format", "join")
            and _is_composable(call.func.value)):
        return []
    out = []
    for arg in [*call.args, *(k.value for k in call.keywords)]:
        if isinstance(arg, ast.Call) and dotted(arg.func).rsplit(".", 1)[-1] == "SQL" and arg.args and \
                not (isinstance(arg.args[0], ast.Constant) and isinstance(arg.args[0].value, str)):
            out.append(arg.args[0])
    return out


def _is_composition(node: ast.expr) -> bool:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join"):
        return _is_composable(node.func.value)
    return isinstance(node, ast.Call) and _is_composable(node)


_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _is_number(node: ast.expr, env: _Env, analyzer: _Analyzer) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    return bool(analyzer._hole_safety(node, env) == "a number")


def _is_placeholder(text: str, whole: bool = True) -> bool:
    pattern = r"(%s|\?|\$\d+|:\w+|%\(\w+\)s)" if whole else r"(%s|\?)+"
    return re.fullmatch(pattern, text.strip()) is not None


def _constant_rows(node: ast.expr) -> bool:
    """A list or tuple of rows of constants: `(("orders", "customer_id"), ("orders", "created_at"))`."""
    return isinstance(node, (ast.List, ast.Tuple)) and bool(node.elts) and all(
        isinstance(row, (ast.List, ast.Tuple)) and row.elts and all(
            isinstance(v, ast.Constant) and isinstance(v.value, (str, int)) for v in row.elts) for row in node.elts)


def _constant_strings(node: ast.expr) -> bool:
    if isinstance(node, ast.Call):  # frozenset({...}), set([...])
        return dotted(node.func) in ("frozenset", "set", "tuple", "dict") and all(
            _constant_strings(a) for a in node.args)
    if isinstance(node, ast.Dict):  # (values that are strings or numbers: a mapping to SQL words or codes)
        return all(isinstance(k, ast.Constant) for k in node.keys if k is not None) and all(
            isinstance(v, ast.Constant) and isinstance(v.value, (str, int, float)) and not isinstance(v.value, bool)
            for v in node.values)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return bool(node.elts) and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)
    return False


def allow_list_guard(stmt: ast.If, constants: dict[str, ast.expr], regexes: dict[str, str]) -> str | None:
    """`if col not in ALLOWED: raise …` (or return): afterwards `col` is one of ALLOWED's strings."""
    test = stmt.test
    raises = bool(stmt.body) and _ends(stmt.body[-1])
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and isinstance(test.operand, ast.Call) and raises:
        # `if not re.fullmatch(r"[a-z_]+", name): raise …` / `if not name.isidentifier(): raise …`
        call = test.operand
        func = dotted(call.func)
        pattern = call.args[0].value if call.args and isinstance(call.args[0], ast.Constant) else \
            regexes.get(call.args[0].id) if call.args and isinstance(call.args[0], ast.Name) else None
        if func.endswith(("re.fullmatch", "re.match")) and len(call.args) > 1 and isinstance(call.args[1], ast.Name) \
                and isinstance(pattern, str) and _restrictive(pattern, whole=func.endswith("fullmatch")):
            return call.args[1].id  # (the pattern written there, or a module constant holding it)
        if isinstance(call.func, ast.Attribute) and call.func.attr in ("fullmatch", "match") and call.args and \
                isinstance(call.args[0], ast.Name) and \
                _restrictive(regexes.get(dotted(call.func.value), "."), whole=call.func.attr == "fullmatch"):
            return call.args[0].id  # SLUG_RE.fullmatch(slug), SLUG_RE a module-level re.compile(…)
        if isinstance(call.func, ast.Attribute) and call.func.attr in ("isidentifier", "isalnum", "isdigit",
                                                                        "isdecimal", "isalpha") \
                and isinstance(call.func.value, ast.Name):
            return call.func.value.id
        return None
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.NotIn)
            and isinstance(test.left, ast.Name)):
        return None
    if dotted(test.comparators[0]) not in constants and not _constant_strings(test.comparators[0]):
        return None  # (`not in ALLOWED`, a module constant, or `not in ("books", "music")`)
    if stmt.body and _ends(stmt.body[-1]):
        return test.left.id
    return None


def _ends(stmt: ast.stmt) -> bool:
    """A statement after which the code below does not run: raise, return, continue, or a framework's
    `abort(…)` / `sys.exit(…)` / Streamlit's `st.stop()`, which raise."""
    if isinstance(stmt, (ast.Raise, ast.Return, ast.Continue)):
        return True
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and \
        (dotted(stmt.value.func).rsplit(".", 1)[-1] in ("abort", "exit", "_exit", "abort_with")
         or dotted(stmt.value.func) in ("st.stop", "streamlit.stop"))


def _pinned(anchors: list[tuple[int, int]], sql: str) -> tuple[tuple[int, int], ...]:
    """Anchors for synthesized SQL: text written by sqlguard stays on the call's start, names taken
    from string arguments advance through them."""
    out: list[tuple[int, int]] = []
    for i, (tpos, fpos) in enumerate(anchors):
        end = anchors[i + 1][0] if i + 1 < len(anchors) else len(sql)
        if i > 0 and fpos == anchors[0][1]:
            out.extend((p, fpos) for p in range(tpos, end + 1))  # every position pinned to the call
        else:
            out.append((tpos, fpos))
    return tuple(out)


def _restrictive(pattern: str, whole: bool = True) -> bool:
    """A regex that lets through only letters, digits and underscores, and single separators (`-`, `.`,
    `:`, `/`) between them: no quote, space, `;`, and no `--` comment. `whole`: it must match the
    whole string (`fullmatch`); `match` anchors only the start, so the pattern must end with `$` or `\\Z`
    (else `users; DROP …` passes on its first word)."""
    if not whole and not pattern.endswith(("$", "\\Z")):
        return False
    word = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
    i, n, separated = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "[":  # a class of word characters and ranges of them (`[a-f0-9_]`, `[\\w]`)
            end = pattern.find("]", i + 1)
            body = pattern[i + 1:end] if end > i else "^"
            body = re.sub(r"\\[wd]|[a-zA-Z0-9]-[a-zA-Z0-9]", "", body)
            if end < 0 or not set(body) <= word:
                return False
            i = end + 1
        elif pattern.startswith(("\\w", "\\d", "\\A", "\\Z"), i):
            i += 2
        elif c in word or c in "^$":
            i += 1
        elif c in "*+?" or c == "{":
            if separated:
                return False  # a repeated separator (`-+`) lets `--` through
            close = pattern.find("}", i) if c == "{" else i
            if close < 0 or not set(pattern[i + 1:close]) <= set("0123456789,"):
                return False
            i = close + 1
            continue
        elif c in "-:/" or pattern.startswith(("\\.", "\\-"), i):
            i += 2 if c == "\\" else 1
            if i < n and (pattern[i] in "-:/" or pattern.startswith(("\\.", "\\-"), i)):
                return False  # two separators in a row
            separated = True
            continue
        else:
            return False  # a group, an alternation, `.`, an escape of anything else
        separated = False
    return True


def _truthy(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and bool(node.value)


def _str_list(node: ast.expr) -> list[str]:
    if isinstance(node, (ast.List, ast.Tuple)):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    return []


def _literal_anchors(text: str, lines: _Lines, node: ast.AST | None) -> list[tuple[int, int]]:
    """(position in the string's value, file offset) anchors for a str literal (escapes and implicit
    concatenation shift positions; between anchors the two advance together)."""
    if node is None or not hasattr(node, "lineno"):
        return []
    span = lines.span(node)
    segment = text[span.start:span.end]
    anchors: list[tuple[int, int]] = []
    pos = 0
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(segment).readline) if t.type == tokenize.STRING]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return [(0, span.start)]
    seg_lines = _Lines(segment)
    for tok in tokens:
        start = seg_lines.starts[tok.start[0] - 1] + tok.start[1]
        m = re.match(r"([rRbBuU]{0,2})('''|\"\"\"|'|\")", tok.string)
        if m is None:
            continue
        raw = "r" in m.group(1).lower()
        body_start = start + len(m.group(0))
        body = tok.string[len(m.group(0)):len(tok.string) - len(m.group(2))]
        anchors.append((pos, span.start + body_start))
        i = 0
        while i < len(body):
            if body[i] == "\\" and not raw and i + 1 < len(body):
                esc = re.match(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|N\{[^}]*\}|[0-7]{1,3}|\n|.)",
                               body[i:], re.S)
                width = len(esc.group(0)) if esc else 2
                produced = 0 if body[i + 1] == "\n" else 1
                pos += produced
                i += width
                anchors.append((pos, span.start + body_start + i))
                continue
            pos += 1
            i += 1
    return anchors
