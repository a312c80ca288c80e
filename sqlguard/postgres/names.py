"""The names PostgreSQL gives what a statement does not name: `users_pkey`, `likes_user_id_fkey`,
`users_email_key`, `likes_user_id_idx`, `users_id_seq`.

`makeObjectName`, `ChooseRelationName` and `ChooseConstraintName` of the server (indexcmds.c,
pg_constraint.c), with its 63-byte limit (NAMEDATALEN - 1): the longer of the two name parts is
shortened first, and a name that is taken gets a number after its label (`users_email_key1`).
The schema oracle (tests/test_oracle_schema.py) compares the names with a real server's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

NAMEDATALEN = 64


def _clip(name: str, limit: int) -> str:
    """The longest prefix of `name` of at most `limit` bytes that does not cut a character."""
    out = name.encode("utf-8")[:limit]
    return out.decode("utf-8", errors="ignore")


def make_object_name(name1: str, name2: str | None, label: str | None) -> str:
    n1 = len(name1.encode("utf-8"))
    n2 = len(name2.encode("utf-8")) if name2 is not None else 0
    overhead = (1 if name2 is not None else 0) + (len(label) + 1 if label else 0)
    avail = NAMEDATALEN - 1 - overhead
    while n1 + n2 > avail:
        if n1 > n2:
            n1 -= 1
        else:
            n2 -= 1
    out = _clip(name1, n1)
    if name2 is not None:
        out += "_" + _clip(name2, n2)
    if label:
        out += "_" + label
    return out


def choose_name(name1: str, name2: str | None, label: str, taken: Callable[[str], bool]) -> str:
    """`name1_name2_label`, or with `label1`, `label2`, … when the name is taken."""
    modlabel = label
    n = 0
    while True:
        name = make_object_name(name1, name2, modlabel)
        if not taken(name):
            return name
        n += 1
        modlabel = f"{label}{n}"


def column_names_addition(columns: Iterable[str]) -> str:
    """ChooseIndexNameAddition / ChooseForeignKeyConstraintNameAddition: the names joined by `_`, cut
    once past NAMEDATALEN."""
    buf = ""
    for name in columns:
        if buf:
            buf += "_"
        buf += _clip(name, NAMEDATALEN - 1)
        if len(buf.encode("utf-8")) >= NAMEDATALEN:
            break
    return buf


def index_column_names(columns: Iterable[str]) -> list[str]:
    """ChooseIndexColumnNames: each key column's name (an expression's is its function's name, or
    `expr`), made unique by a number."""
    out: list[str] = []
    for col in columns:
        base = _figure_name(col)
        name = base
        n = 0
        while name in out:
            n += 1
            name = f"{base}{n}"
        out.append(name)
    return out


def _figure_name(col: str) -> str:
    """A plain column's name, or what FigureIndexColname makes of an expression as written."""
    text = col.strip()
    if "(" not in text:
        # a column (an index's expressions are parenthesised or function calls), kept without its quotes
        return text[1:-1].replace('""', '"') if len(text) > 1 and text[0] == text[-1] == '"' else text
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    head = text.split("(", 1)
    if len(head) == 2 and head[0].strip() and all(ch.isalnum() or ch in "_.$\"" for ch in head[0].strip()):
        fn = head[0].strip().rsplit(".", 1)[-1].strip('"')
        return fn if head[0].strip().startswith('"') else fn.lower()
    if text.replace("_", "").replace("$", "").isalnum() or (text.startswith('"') and text.endswith('"')):
        return text.strip('"')
    return "expr"


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0
