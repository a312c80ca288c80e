"""Whether PostgreSQL accepts a statement: the one reader of that fact (SG00 reports it).

PostgreSQL's own parser decides (`sqlguard.sql.pgtree`, PostgreSQL 17's grammar). Two things it cannot
say by itself are added here:

- **Syntax newer than the project's server.** A statement PostgreSQL 17 accepts can still be a syntax
  error on the `pg-version` the project targets. The forms added in PostgreSQL 16 and 17 that
  migrations and queries use are recognised in the tree (`NEWER`), and reported with the version they
  need. The syntax oracle (tests/test_oracle_syntax.py) runs PostgreSQL's own regression suite on a
  real PostgreSQL 15 and checks these verdicts against its.
- **PL/pgSQL bodies.** `CREATE FUNCTION … LANGUAGE plpgsql` and `DO` bodies are parsed with
  PostgreSQL's PL/pgSQL grammar too: the server rejects a body's syntax error when the function is
  created (or the block runs), so the migration fails there.
- **Parse analysis.** Some statements the grammar takes are rejected right after, with SQLSTATE 42601,
  by checks that need nothing but the statement (`analysis_error`): more values than columns, a DEFAULT
  beside an identity, an option given twice. Those that need the catalog (a table's column count) or
  a literal's own grammar (jsonpath) are not made here.

What the parser cannot judge is said as such, never as an error: a statement longer than the parser's
limit, a psql variable (`:name`, which psql fills in before PostgreSQL sees the text), and, when
`pg-version` is newer than the grammar sqlguard has, a statement the older grammar rejects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from sqlguard.sql import pgtree
from sqlguard.sql.pgtree import GRAMMAR_VERSION, Node, def_elems, strings, walk


@dataclass(frozen=True)
class Verdict:
    status: Literal["accepted", "rejected", "newer", "unjudged"]
    message: str = ""  # PostgreSQL's message (rejected), the feature (newer), or why not judged
    offset: int | None = None  # character offset into the statement's text
    version: int | None = None  # newer: the PostgreSQL version that accepts it


ACCEPTED = Verdict("accepted")
_PSQL_VARIABLE = re.compile(r":(?:'[^']*'|\"[^\"]*\"|[A-Za-z_][A-Za-z0-9_]*)")
_NUMBER = re.compile(r"-?\s*[0-9.][0-9A-Za-z_.]*")
_NEW_NUMBER = re.compile(r"^-?\s*0[xXoObB]|\d_\d")
# A word or number every form `newer_syntax` recognises has in its text: a statement without one is not
# walked (a dump's thousands of small statements).
_MAYBE_NEWER = re.compile(r"JSON|XML|MERGE|FROM|JOIN|STATISTICS|STORAGE|EXPRESSION|ACCESS|GRANT|REVOKE|VACUUM"
                          r"|ANALY[SZ]E|COPY|SUBSCRIPTION|COLLATION|0[XOB]|\d_\d", re.I)


def verdict(text: str, pg_version: int) -> Verdict:
    """PostgreSQL's verdict on one statement's text, for a server of `pg_version`."""
    parsed = pgtree.parse(text)
    if parsed.skipped is not None:
        return Verdict("unjudged", f"it is {parsed.skipped}")
    if parsed.error is not None:
        at = parsed.error_at
        if at is not None and _PSQL_VARIABLE.match(text, at) and (at == 0 or text[at - 1] != ":"):
            return Verdict("unjudged", "it holds a psql variable, which psql fills in before PostgreSQL reads it",
                           at)
        if pg_version > GRAMMAR_VERSION:
            return Verdict("unjudged", f"PostgreSQL {GRAMMAR_VERSION}'s parser rejects it ({parsed.error}), and "
                                       f"sqlguard has no PostgreSQL {pg_version} grammar", at)
        return Verdict("rejected", parsed.error, at)
    maybe_newer = pg_version < GRAMMAR_VERSION and _MAYBE_NEWER.search(text) is not None
    for kind, node, start, _end in parsed.stmts:
        found = newer_syntax(text, parsed, {kind: node}) if maybe_newer else None
        if found is not None and found[0] > pg_version:
            version, what, loc = found
            return Verdict("newer", what, parsed.char(loc) if loc is not None else start, version)
        body = _plpgsql_error(text, parsed, node)
        if body is not None:
            return body
        analysed = analysis_error(text, {kind: node})
        if analysed is not None:
            message, loc = analysed
            return Verdict("rejected", message, parsed.char(loc) if loc is not None else start)
    return ACCEPTED


# --- syntax newer than PostgreSQL 15 ------------------------------------------------------------------

# Parse nodes that only newer grammars produce: (version, what the user wrote)
NEWER: dict[str, tuple[int, str]] = {
    "JsonObjectConstructor": (16, "JSON_OBJECT(…)"),
    "JsonArrayConstructor": (16, "JSON_ARRAY(…)"),
    "JsonArrayQueryConstructor": (16, "JSON_ARRAY(SELECT …)"),
    "JsonObjectAgg": (16, "JSON_OBJECTAGG(…)"),
    "JsonArrayAgg": (16, "JSON_ARRAYAGG(…)"),
    "JsonIsPredicate": (16, "IS JSON"),
    "JsonTable": (17, "JSON_TABLE(…)"),
    "JsonFuncExpr": (17, "JSON_QUERY / JSON_VALUE / JSON_EXISTS"),
    "JsonParseExpr": (17, "JSON(…)"),
    "JsonScalarExpr": (17, "JSON_SCALAR(…)"),
    "JsonSerializeExpr": (17, "JSON_SERIALIZE(…)"),
}


def newer_syntax(text: str, parsed: pgtree.PgParse, node: Node) -> tuple[int, str, int | None] | None:
    """The newest PostgreSQL version a statement's syntax needs, when it is newer than 15:
    (version, what, byte location)."""
    best: tuple[int, str, int | None] | None = None

    def found(version: int, what: str, loc: int | None) -> None:
        nonlocal best
        if best is None or version > best[0]:
            best = (version, what, loc)

    for kind, n in walk(node):
        hit = NEWER.get(kind)
        if hit is not None:
            if kind in _PLAIN_CALLS and not _special_call(text, parsed, n):
                continue  # `json_object(keys, values)` is a plain function call to PostgreSQL 15 too
            found(hit[0], hit[1], n.get("location") if "location" in n else None)
        elif kind == "XmlSerialize" and (n.get("indent") or _word_after(text, parsed, n, "INDENT")):
            found(16, "XMLSERIALIZE(… [NO] INDENT)", n.get("location"))
        elif kind == "MergeStmt":
            if n.get("returningList"):
                found(17, "MERGE … RETURNING", None)
            for clause in n.get("mergeWhenClauses") or ():
                if clause.get("MergeWhenClause", {}).get("matchKind") == "MERGE_WHEN_NOT_MATCHED_BY_SOURCE":
                    found(17, "MERGE … WHEN NOT MATCHED BY SOURCE", None)
        elif kind == "RangeSubselect" and not n.get("alias"):
            found(16, "a subquery in FROM without an alias", None)
        elif kind == "CreateStatsStmt" and not n.get("defnames"):
            found(16, "CREATE STATISTICS without a name", None)
        elif kind == "ColumnDef" and n.get("storage_name"):
            found(16, "STORAGE in a column definition", n.get("location"))
        elif kind == "AlterTableCmd":
            sub = n.get("subtype")
            if sub == "AT_SetStorage" and strings([n.get("def")]) == ["default"]:
                found(16, "SET STORAGE DEFAULT", None)
            elif sub == "AT_SetExpression":
                found(17, "ALTER COLUMN … SET EXPRESSION", None)
            elif sub == "AT_SetAccessMethod" and not n.get("name"):
                found(17, "SET ACCESS METHOD DEFAULT", None)
        elif kind == "GrantRoleStmt" and _grant_role_options(text, n):
            found(16, "GRANT/REVOKE role with INHERIT, SET or ADMIN TRUE/FALSE", None)
        elif kind == "A_Const" and ("ival" in n or "fval" in n) and isinstance(n.get("location"), int):
            at = parsed.char(n["location"])
            m = _NUMBER.match(text, at) if at is not None else None
            if m is not None and _NEW_NUMBER.search(m.group(0)):
                found(16, "a hexadecimal, octal or binary integer, or a number with underscores", n["location"])
        elif kind == "VacuumStmt":
            bad = _unknown_vacuum_options(n)
            if bad:
                found(16, f"the {'VACUUM' if n.get('is_vacuumcmd') else 'ANALYZE'} option {bad}", None)
        elif kind in _NEWER_OPTIONS and (kind != "DefineStmt" or n.get("kind") == "OBJECT_COLLATION"):
            field_, what, newer = _NEWER_OPTIONS[kind]
            for item in n.get(field_) or ():
                d = item.get("DefElem", {}) if isinstance(item, dict) else {}
                name = d.get("defname")
                if name in newer:
                    found(newer[name], f"the {what} option {str(name).upper()}", d.get("location"))
                elif what == "subscription" and name == "streaming" and \
                        str(def_elems([item]).get(name)).lower() == "parallel":
                    found(16, "the subscription option STREAMING = parallel", d.get("location"))
    return best


# Options of commands that newer servers added: node -> (field, what, {option: version}). A server of an
# older version rejects them with SQLSTATE 42601 ("option … not recognized").
_SUBSCRIPTION_16 = {"origin": 16, "password_required": 16, "run_as_owner": 16, "failover": 17}
_NEWER_OPTIONS: dict[str, tuple[str, str, dict[str, int]]] = {
    "CopyStmt": ("options", "COPY", {"default": 16, "on_error": 17, "log_verbosity": 17}),
    "CreateSubscriptionStmt": ("options", "subscription", _SUBSCRIPTION_16),
    "AlterSubscriptionStmt": ("options", "subscription", {**_SUBSCRIPTION_16, "two_phase": 17}),
    "DefineStmt": ("definition", "collation", {"rules": 16}),
}


# --- what PostgreSQL rejects after parsing --------------------------------------------------------------
#
# The grammar accepts these, and PostgreSQL's parse analysis then rejects them with SQLSTATE 42601
# (syntax_error) before anything runs, whatever the database holds. Only what the statement alone
# decides is here; what needs the catalog (a table's column count, a view's columns) is not.

def analysis_error(text: str, node: Node) -> tuple[str, int | None] | None:
    """PostgreSQL's message and byte location when its parse analysis rejects the statement `node`."""
    if _MAYBE_ANALYSED.search(text) is None:
        return None
    for kind, n in walk(node):
        found = _ANALYSIS.get(kind)
        if found is not None:
            hit = found(n)
            if hit is not None:
                return hit
    return None


def _column_def(n: Node) -> tuple[str, int | None] | None:
    """transformColumnDefinition: NULL against NOT NULL, and one DEFAULT, identity or generation
    expression at most (a serial column brings a DEFAULT and a NOT NULL of its own)."""
    names = strings((n.get("typeName") or {}).get("names"))
    typ = n.get("typeName") or {}
    serial = (len(names) == 1 or (len(names) == 2 and names[0] == "pg_catalog")) and names[-1] in _SERIAL and \
        not typ.get("pct_type") and not typ.get("arrayBounds")
    constraints = [c.get("Constraint", {}) for c in n.get("constraints") or ()]
    if serial:
        constraints += [{"contype": "CONSTR_DEFAULT"}, {"contype": "CONSTR_NOTNULL"}]
    column = n.get("colname", "")
    nullable: bool | None = None  # None: not said; True: NULL; False: NOT NULL
    seen: set[str] = set()
    for c in constraints:
        kind, at = c.get("contype"), c.get("location", n.get("location"))
        if kind in ("CONSTR_NULL", "CONSTR_NOTNULL", "CONSTR_IDENTITY"):
            wants = kind == "CONSTR_NULL"
            if nullable is not None and nullable != wants:
                return f'conflicting NULL/NOT NULL declarations for column "{column}"', at
            nullable = wants
        twice = {"CONSTR_DEFAULT": "multiple default values specified for column",
                 "CONSTR_IDENTITY": "multiple identity specifications for column",
                 "CONSTR_GENERATED": "multiple generation clauses specified for column"}.get(kind)
        if twice is not None:
            if kind in seen:
                return f'{twice} "{column}"', at
            seen.add(kind)
    for a, b, what in (("CONSTR_DEFAULT", "CONSTR_IDENTITY", "default and identity"),
                       ("CONSTR_DEFAULT", "CONSTR_GENERATED", "default and generation expression"),
                       ("CONSTR_IDENTITY", "CONSTR_GENERATED", "identity and generation expression")):
        if a in seen and b in seen:
            return f'both {what} specified for column "{column}"', n.get("location")
    return None


_SERIAL = frozenset({"smallserial", "serial2", "serial", "serial4", "bigserial", "serial8"})


def _star(val: Any) -> bool:
    """A target that expands to several columns: `*`, `t.*`, `(f()).*`."""
    if not isinstance(val, dict):
        return False
    ref = val.get("ColumnRef") or {}
    ind = val.get("A_Indirection") or {}
    last = (ref.get("fields") or ind.get("indirection") or [{}])[-1]
    return isinstance(last, dict) and "A_Star" in last


def _insert(n: Node) -> tuple[str, int | None] | None:
    """transformInsertStmt: VALUES rows of one length, and as many values as the columns it names."""
    select = (n.get("selectStmt") or {}).get("SelectStmt") or {}
    if select.get("op", "SETOP_NONE") != "SETOP_NONE":
        return None
    rows = [r.get("List", {}).get("items") or [] for r in select.get("valuesLists") or ()]
    if any(_star(e) for r in rows for e in r):
        return None  # (`new.*` in a rule's VALUES stands for every column of the row)
    if rows and any(len(r) != len(rows[0]) for r in rows):
        return "VALUES lists must all be the same length", None
    cols = n.get("cols") or []
    if not cols:
        return None  # the table's columns: only the catalog knows them
    if rows:
        width, exprs = len(rows[0]), rows[0]
    elif select.get("targetList") and not any(_star(t.get("ResTarget", {}).get("val"))
                                              for t in select["targetList"]):
        width, exprs = len(select["targetList"]), select["targetList"]
    else:
        return None
    if width > len(cols):
        extra = next(iter(exprs[len(cols)].values()), {})
        return "INSERT has more expressions than target columns", extra.get("location")
    if width < len(cols):
        return "INSERT has more target columns than expressions", cols[width].get("ResTarget", {}).get("location")
    return None


def _assignments(targets: Any) -> tuple[str, int | None] | None:
    """One assignment per column in UPDATE … SET and ON CONFLICT DO UPDATE SET (several to parts of one
    array or composite column are merged)."""
    plain: dict[str, bool] = {}
    for t in targets or ():
        r = t.get("ResTarget", {})
        name, whole = r.get("name"), not r.get("indirection")
        if name in plain and (whole or plain[name]):
            return f'multiple assignments to same column "{name}"', r.get("location")
        plain[name] = plain.get(name, False) or whole
    return None


def _select(n: Node) -> tuple[str, int | None] | None:
    """`SELECT *` needs a FROM to take the columns from."""
    if n.get("fromClause"):
        return None
    for t in n.get("targetList") or ():
        val = t.get("ResTarget", {}).get("val") or {}
        fields = (val.get("ColumnRef") or {}).get("fields") or []
        if len(fields) == 1 and "A_Star" in fields[0]:
            return "SELECT * with no tables specified is not valid", val["ColumnRef"].get("location")
    return None


def _reset(items: Any) -> tuple[str, int | None] | None:
    for item in items or ():
        d = item.get("DefElem", {}) if isinstance(item, dict) else {}
        if d.get("arg") is not None:
            return "RESET must not include values for parameters", d.get("location")
    return None


def _alter_table_cmd(n: Node) -> tuple[str, int | None] | None:
    if n.get("subtype") in ("AT_ResetRelOptions", "AT_ResetOptions"):
        return _reset((n.get("def") or {}).get("List", {}).get("items"))
    return None


def _twice(items: Any, allowed: frozenset[str] = frozenset()) -> tuple[str, int | None] | None:
    """An option given twice: PostgreSQL's errorConflictingDefElem."""
    seen: set[str] = set()
    for item in items or ():
        d = item.get("DefElem", {}) if isinstance(item, dict) else {}
        name = d.get("defname")
        if name in seen and name not in allowed:
            return "conflicting or redundant options", d.get("location")
        seen.add(name)
    return None


def _collation(n: Node) -> tuple[str, int | None] | None:
    if n.get("kind") != "OBJECT_COLLATION":
        return None
    items = n.get("definition") or []
    names = [i.get("DefElem", {}).get("defname") for i in items]
    if ("locale" in names and ("lc_collate" in names or "lc_ctype" in names)) or ("from" in names and len(names) > 1):
        return "conflicting or redundant options", None
    return _twice(items)


# A word every statement `_ANALYSIS` can reject has (a column definition: its type's name or a constraint)
_MAYBE_ANALYSED = re.compile(r"\*|INSERT|UPDATE|DEFAULT|NULL|IDENTITY|GENERATED|SERIAL|RESET|CONCURRENTLY|FUNCTION"
                             r"|PROCEDURE|ROUTINE|SEQUENCE|COPY|PUBLICATION|COLLATION", re.I)

_ANALYSIS: dict[str, Any] = {
    "ColumnDef": _column_def,
    "InsertStmt": lambda n: _insert(n) or _assignments((n.get("onConflictClause") or {}).get("targetList")),
    "UpdateStmt": lambda n: _assignments(n.get("targetList")),
    "SelectStmt": _select,
    "AlterTableCmd": _alter_table_cmd,
    "AlterTableSpaceOptionsStmt": lambda n: _reset(n.get("options")) if n.get("isReset") else None,
    "RefreshMatViewStmt": lambda n: ("CONCURRENTLY and WITH NO DATA options cannot be used together", None)
    if n.get("concurrent") and n.get("skipData") else None,
    # (SET may repeat in a function's options: each sets one configuration parameter)
    "CreateFunctionStmt": lambda n: _twice(n.get("options"), frozenset({"set"})),
    "AlterFunctionStmt": lambda n: _twice(n.get("actions"), frozenset({"set"})),
    "CreateSeqStmt": lambda n: _twice(n.get("options")),
    "AlterSeqStmt": lambda n: _twice(n.get("options")),
    "CopyStmt": lambda n: _twice(n.get("options")),
    "CreatePublicationStmt": lambda n: _twice(n.get("options")),
    "DefineStmt": _collation,
}


# SQL/JSON constructors that PostgreSQL 15 parses as plain function calls unless they use the standard's
# own syntax (KEY … VALUE, `k : v`, RETURNING, FORMAT JSON, ABSENT ON NULL, WITH UNIQUE KEYS)
_PLAIN_CALLS = frozenset({"JsonObjectConstructor", "JsonArrayConstructor", "JsonObjectAgg", "JsonArrayAgg",
                          "JsonFuncExpr", "JsonParseExpr", "JsonScalarExpr", "JsonSerializeExpr"})
_SQLJSON_WORDS = re.compile(r"\b(?:RETURNING|FORMAT|ABSENT|UNIQUE|KEY|VALUE|PASSING|ERROR|EMPTY|WRAPPER|QUOTES|"
                            r"ENCODING)\b|:(?!:)|\bNULL\s+ON\s+NULL\b", re.I)


def _call_text(text: str, parsed: pgtree.PgParse, n: Node) -> str:
    """The text from a call's name to its closing parenthesis (strings blanked), or ''."""
    location = n.get("location")
    if location is None and isinstance(n.get("constructor"), dict):  # JSON_ARRAYAGG / JSON_OBJECTAGG
        c = n["constructor"]
        location = c.get("location", c.get("JsonAggConstructor", {}).get("location"))
    start = parsed.char(location)
    if start is None:
        return ""
    open_ = text.find("(", start)
    if open_ < 0:
        return ""
    depth = 0
    out = []
    i = open_
    quote = ""
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            out.append(" ")
        elif ch in "'\"":
            quote = ch
            out.append(" ")
        else:
            out.append(ch)
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0:
                break
        i += 1
    return "".join(out)


def _special_call(text: str, parsed: pgtree.PgParse, n: Node) -> bool:
    inner = _call_text(text, parsed, n)
    return bool(_SQLJSON_WORDS.search(inner.replace("::", "  ")))


def _word_after(text: str, parsed: pgtree.PgParse, n: Node, word: str) -> bool:
    return re.search(rf"\b{word}\b", _call_text(text, parsed, n), re.I) is not None


def _grant_role_options(text: str, n: Node) -> bool:
    """GRANT role … WITH INHERIT / SET / ADMIN TRUE (PostgreSQL 16); 15 knows only WITH ADMIN OPTION
    and REVOKE ADMIN OPTION FOR."""
    opts = [o.get("DefElem", {}) for o in n.get("opt") or ()]
    if any(o.get("defname") != "admin" for o in opts):
        return True
    if not opts or not n.get("is_grant"):
        return False
    return re.search(r"\bWITH\s+ADMIN\s+OPTION\b", text, re.I) is None


# VACUUM and ANALYZE options PostgreSQL 15 knows (vacuum.c, ExecVacuum); newer servers add more.
_VACUUM_15 = frozenset({"verbose", "analyze", "freeze", "full", "disable_page_skipping", "skip_locked",
                        "index_cleanup", "truncate", "parallel", "process_toast"})
_ANALYZE_15 = frozenset({"verbose", "skip_locked"})


def _unknown_vacuum_options(n: Node) -> str | None:
    known = _VACUUM_15 if n.get("is_vacuumcmd") else _ANALYZE_15
    for name in def_elems(n.get("options")):
        if name not in known and name in ("buffer_usage_limit", "process_main", "skip_database_stats",
                                          "only_database_stats"):
            return name.upper()
    return None


# --- PL/pgSQL bodies ----------------------------------------------------------------------------------

def _plpgsql_error(text: str, parsed: pgtree.PgParse, node: Node) -> Verdict | None:
    """A syntax error in the PL/pgSQL body of a CREATE FUNCTION / PROCEDURE or a DO block."""
    kind = parsed.kind
    body: str | None = None
    if kind == "CreateFunctionStmt":
        opts = def_elems(node.get("options"))
        language = str(opts.get("language") or "").lower()  # (none at all is an error of its own, not syntax)
        if language == "sql":
            return _sql_body_error(text, node)
        if language != "plpgsql":
            return None
        source = text
    elif kind == "DoStmt":
        opts = def_elems(node.get("args"))
        if str(opts.get("language") or "plpgsql").lower() != "plpgsql" or not isinstance(opts.get("as"), str):
            return None
        body = opts["as"]
        tag = "$sqlguard_do$"
        while tag in body:
            tag = tag[:-1] + "_$"
        source = f"CREATE FUNCTION sqlguard_do() RETURNS void LANGUAGE plpgsql AS {tag}{body}{tag}"
    else:
        return None
    try:
        import pgparse

        pgparse.parse_pgsql(source)
    except pgparse.PGQueryError as err:
        message = pgtree._message(str(err.args[0]) if err.args else str(err))
        if not _SYNTAX_MESSAGE.match(message):
            # (the PL/pgSQL compiler's other complaints need the types of the function's variables, which
            # only the server knows: `new_state.total` is a field of a composite variable it can see)
            return None
        return Verdict("rejected", f"in the PL/pgSQL body: {message}", _body_start(text))
    except Exception:  # a body the PL/pgSQL parser cannot take at all is left to the server
        return None
    return None


def _sql_body_error(text: str, node: Node) -> Verdict | None:
    """A syntax error in the string body of a LANGUAGE sql function (PostgreSQL parses it at CREATE)."""
    for item in node.get("options") or ():
        d = item.get("DefElem", {})
        if d.get("defname") != "as":
            continue
        parts = strings((d.get("arg") or {}).get("List", {}).get("items"))
        if not parts:
            return None
        body = parts[0]
        if not body.strip():
            return None
        found = pgtree.parse(body)
        if found.error is not None:
            return Verdict("rejected", f"in the SQL body: {found.error}", _body_start(text))
    return None


_SYNTAX_MESSAGE = re.compile(r"syntax error|unterminated|mismatched|missing ", re.I)


def _body_start(text: str) -> int | None:
    m = re.search(r"\$[A-Za-z_]*\$", text)
    return m.start() if m else None
