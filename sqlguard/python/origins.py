"""Where a value in Python code comes from, by the names the code uses: one vocabulary for SG40.

Both readers of origins use it: the per-file taint analysis (`sqlguard.python.analysis`) and the
whole-project summary of what callers pass (`sqlguard.python.project`). Each classifies an expression by
its dotted name (`request.args.get`, `cursor.fetchone`, `settings.SCHEMA`) against these tables:

- untrusted: request data of the common web frameworks, `sys.argv`, `input()`, the environment, a
  parsed command line, what a file read returns;
- database: what a query returned (driver fetches and ORM results);
- configuration: the frameworks' settings objects (a `config` the code loads itself from a file is a
  file's contents, not configuration);
- numeric: calls whose result is a number and cannot carry SQL text;
- carried: methods whose result carries the origin of the object they are called on (`name.strip()`,
  `row.get("x")`, `payload.values()`, `fh.read()`).
"""

from __future__ import annotations

import ast
import re

# Request data of the common frameworks: Flask/Werkzeug, Django, Starlette/FastAPI, aiohttp, Bottle, Pyramid,
# Falcon, Tornado; and the command line.
_REQUEST = re.compile(r"^(self\.)?(request|flask\.request)\.(args|form|forms|values|json|data|cookies|headers|GET|"
                      r"POST|query_params|path_params|get_json|files|query|match_info|matchdict|params|body|"
                      r"query_string|rel_url|content|media|path|full_path|url|view_args|get_argument|"
                      r"get_query_argument|get_body_argument|get_param|get_header|get_cookie|post)|"
                      r"^sys\.argv|^input$|^raw_input$")
_ENVIRONMENT = re.compile(r"^(os\.)?environ(\.|$)")
# Calls whose result is untrusted: the environment, a parsed command line, a file's contents, `input()`.
_UNTRUSTED_CALL = re.compile(r"(^|\.)(getenv|environ\.get|parse_args|parse_known_args|read_text|read_bytes|"
                             r"reader|DictReader|load|safe_load)$|^(open|input|raw_input)$")
# What a query returned: DB-API and async drivers, SQLAlchemy results, Django and SQLAlchemy ORM results.
FETCH = frozenset({"fetchone", "fetchall", "fetchmany", "fetchval", "fetchrow", "fetch", "scalar", "scalars",
                   "scalar_one", "scalar_one_or_none", "one_or_none", "one", "first", "all", "mappings",
                   "values_list"})
# Configuration objects of the frameworks: what the deployment sets, not what a user sends.
_CONFIG = re.compile(r"^(settings|django\.conf\.settings|SETTINGS|current_app\.config|app\.config)(\.|$)")
NUMERIC_CALLS = frozenset({"int", "float", "len", "round", "abs", "bool", "Decimal", "decimal.Decimal", "ord",
                           "hash", "sum", "min", "max", "math.floor", "math.ceil", "range"})
# String methods: the result is the text of the object they are called on, transformed.
TRANSFORMS = frozenset({"strip", "lstrip", "rstrip", "lower", "upper", "title", "capitalize", "casefold", "replace",
                        "encode", "decode", "split", "rsplit", "removeprefix", "removesuffix", "zfill", "ljust",
                        "rjust", "center", "expandtabs", "translate", "swapcase"})
# Methods whose result carries the origin of the object and of the arguments: lookups, container views,
# reads from a file handle, formatting and joining, decoding (`json.loads(body)`).
CARRIED = frozenset({"join", "format", "get", "pop", "getlist", "get_json", "read", "readline", "readlines",
                     "values", "keys", "items", "copy", "loads"})


def dotted(node: ast.AST) -> str:
    """The dotted name an expression reads (`request.args.get` for `request.args.get("x")`), or ""."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = dotted(node.value)
        return f"{inner}.{node.attr}" if inner else node.attr
    if isinstance(node, ast.Call):
        return dotted(node.func)
    if isinstance(node, ast.Subscript):
        return dotted(node.value)
    return ""


def untrusted_name(name: str) -> bool:
    """`request.args`, `sys.argv[1]`, `os.environ["X"]`: a name that reads untrusted data."""
    return bool(name) and bool(_REQUEST.search(name) or _ENVIRONMENT.search(name))


def untrusted_call(name: str) -> bool:
    """`request.args.get`, `os.getenv`, `parser.parse_args`, `open`, `input`: a call that returns untrusted data."""
    return bool(name) and bool(_REQUEST.search(name) or _UNTRUSTED_CALL.search(name))


def request_data(name: str) -> bool:
    """A web request's data or the command line, by name (not the environment or a file)."""
    return bool(name) and bool(_REQUEST.search(name))


def configured(name: str) -> bool:
    """`settings.X`, `app.config["X"]`: a framework's configuration, by name."""
    return bool(name) and bool(_CONFIG.search(name))
