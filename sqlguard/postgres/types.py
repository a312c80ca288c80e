"""PostgreSQL column types: one spelling per type, and whether changing one into another rewrites the table.

`ALTER COLUMN … TYPE` rewrites the table unless the old type is binary-coercible to the new one
(pg_cast method `b`) or the change only relaxes a length/precision limit that a type's support
function recognises as a no-op (varchar, numeric, varbit, timestamp, time, interval). Since
PostgreSQL 12, timestamp <-> timestamptz skips the rewrite when the session TimeZone is UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_ALIASES = {
    "int": "int", "integer": "int", "int4": "int", "bigint": "bigint", "int8": "bigint",
    "smallint": "smallint", "int2": "smallint",
    "serial": "serial", "serial4": "serial", "bigserial": "bigserial", "serial8": "bigserial",
    "smallserial": "smallserial", "serial2": "smallserial",
    "varchar": "varchar", "character varying": "varchar", "char varying": "varchar",
    "char": "char", "character": "char", "bpchar": "char", "text": "text",
    "numeric": "numeric", "decimal": "numeric", "dec": "numeric",
    "varbit": "varbit", "bit varying": "varbit", "bit": "bit",
    "timestamp": "timestamp", "timestamp without time zone": "timestamp",
    "timestamptz": "timestamptz", "timestamp with time zone": "timestamptz",
    "time": "time", "time without time zone": "time", "timetz": "timetz", "time with time zone": "timetz",
    "interval": "interval", "double precision": "float8", "float8": "float8", "float": "float8",
    "real": "float4", "float4": "float4", "boolean": "bool", "bool": "bool",
    "json": "json", "jsonb": "jsonb", "uuid": "uuid", "date": "date", "bytea": "bytea", "inet": "inet",
    "cidr": "cidr", "macaddr": "macaddr", "macaddr8": "macaddr8", "citext": "citext", "money": "money",
    "xml": "xml", "tsvector": "tsvector", "oid": "oid",
}
_SHOWN = {"int": "integer", "float8": "double precision", "float4": "real", "bool": "boolean"}
# Types whose length or precision limit a support function drops as a no-op when it grows.
_WIDENS = {"varchar", "varbit", "numeric", "timestamp", "timestamptz", "time", "timetz", "interval"}
# Binary-coercible pairs (pg_cast castmethod 'b') between different base types.
_BINARY = {("varchar", "text"), ("text", "varchar"), ("cidr", "inet")}
# Binary-coercible too, but the indexes on the column are rebuilt (another operator class).
_BINARY_REINDEX = {("text", "citext"), ("citext", "text"), ("varchar", "citext"), ("citext", "varchar")}


@dataclass(frozen=True)
class PgType:
    base: str  # canonical name (`varchar`, `timestamptz`), or the name as written for other types
    mods: tuple[int, ...] = ()  # varchar(n) -> (n,); numeric(p, s) -> (p, s)
    array: bool = False
    known: bool = True  # a built-in type sqlguard knows
    text: str = ""  # as written

    def __str__(self) -> str:
        if not self.known:
            return self.text or self.base
        mods = f"({', '.join(str(m) for m in self.mods)})" if self.mods else ""
        return _SHOWN.get(self.base, self.base) + mods + ("[]" if self.array else "")


def parse_type(text: str) -> PgType | None:
    """`character varying(255)`, `TIMESTAMP(3) WITH TIME ZONE`, `numeric(10, 2)[]`, `"char"`, `public.mood`."""
    shown = " ".join(text.split())
    t = shown.lower()
    if not t:
        return None
    array = False
    m = re.search(r"(\s*(\[\s*\d*\s*\])+|\s+array(\s*\[\s*\d*\s*\])?)$", t)
    if m:
        array = True
        t = t[:m.start()]
    mods: tuple[int, ...] = ()
    m = re.search(r"\(([^)]*)\)", t)
    if m:
        try:
            mods = tuple(int(x) for x in m.group(1).split(",") if x.strip())
        except ValueError:
            mods = ()
        t = (t[:m.start()] + " " + t[m.end():]).strip()
    t = " ".join(t.split())
    if t.startswith("pg_catalog."):
        t = t[len("pg_catalog."):]
    if t.startswith("interval"):
        t = "interval"  # interval day to second
    base = _ALIASES.get(t)
    if base is None:
        return PgType(t, mods, array, known=False, text=shown)
    if t == "float" and mods and mods[0] <= 24:
        base, mods = "float4", ()
    if base in ("char",) and not mods:
        mods = (1,)  # char means char(1)
    if base == "numeric" and len(mods) == 1:
        mods = (mods[0], 0)
    return PgType(base, mods, array, text=shown)


Change = Literal["none", "reindex", "timezone", "rewrite", "unsure"]


def type_change(old: PgType, new: PgType) -> Change:
    """What `ALTER COLUMN … TYPE new` does to a column of type `old` (without a USING that changes values).

    none: catalog only; reindex: no rewrite, but the column's indexes are rebuilt; timezone: a rewrite
    unless the session TimeZone is UTC (PostgreSQL 12+); rewrite; unsure: a type sqlguard does not know.
    """
    if old.array != new.array:
        return "rewrite"
    if old.base == new.base:
        if old.mods == new.mods:
            return "none"
        if old.base in _WIDENS and _wider(old, new):
            return "none"
        return "rewrite" if old.known else "unsure"
    if not (old.known and new.known):
        return "unsure"
    pair = (old.base, new.base)
    if pair in _BINARY:
        # text -> varchar(n) checks every value against the new limit: a rewrite
        return "none" if not (new.base == "varchar" and new.mods) else "rewrite"
    if pair in _BINARY_REINDEX:
        return "reindex" if not new.mods else "rewrite"
    if {old.base, new.base} == {"timestamp", "timestamptz"}:
        return "timezone"
    return "rewrite"


def _wider(old: PgType, new: PgType) -> bool:
    if not new.mods:
        return True  # no limit at all
    if not old.mods:
        # an unlimited varchar/numeric gains a limit; timestamp without precision is timestamp(6)
        return old.base in ("timestamp", "timestamptz", "time", "timetz", "interval") and new.mods[0] >= 6
    if old.base == "numeric":
        return len(old.mods) == 2 and len(new.mods) == 2 and new.mods[1] == old.mods[1] and new.mods[0] >= old.mods[0]
    return new.mods[0] >= old.mods[0]


def unbounded_text(t: PgType) -> bool:
    """`text` or `varchar` without a limit: nothing a value could fail, no length check."""
    return not t.array and (t.base == "text" or (t.base == "varchar" and not t.mods))
