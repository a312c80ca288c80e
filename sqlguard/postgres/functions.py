"""PostgreSQL's built-in functions: which are volatile (pg_proc.provolatile = 'v').

Adding a column whose default calls a volatile function rewrites the table (each row gets its own
value); a stable or immutable default is evaluated once (PostgreSQL 11 and later).
"""

from __future__ import annotations

# Built-in functions a default may call that are VOLATILE (pg_proc.provolatile = 'v').
VOLATILE = frozenset({
    "random", "random_normal", "setseed", "gen_random_uuid", "uuidv4", "uuidv7", "uuid_generate_v1",
    "uuid_generate_v1mc", "uuid_generate_v4", "uuid_generate_v7", "gen_random_bytes", "clock_timestamp",
    "timeofday", "nextval", "currval", "lastval", "setval", "pg_current_xact_id",
})
# Functions (and function-like keywords) that are STABLE or IMMUTABLE: evaluated once for the table.
NOT_VOLATILE = frozenset({
    "now", "current_timestamp", "current_date", "current_time", "localtime", "localtimestamp", "statement_timestamp",
    "transaction_timestamp", "current_user", "session_user", "current_role", "current_schema", "current_setting",
    "current_database", "txid_current", "to_char", "to_date", "to_timestamp", "to_json", "to_jsonb", "to_tsvector",
    "json_build_object", "json_build_array", "jsonb_build_object", "jsonb_build_array", "array", "row", "cast",
    "extract", "date_part", "date_trunc", "timezone", "coalesce", "nullif", "greatest", "least", "lower", "upper",
    "concat", "concat_ws", "format", "length", "substring", "substr", "replace", "trim", "btrim", "ltrim", "rtrim",
    "left", "right", "md5", "encode", "decode", "abs", "round", "floor", "ceil", "ceiling", "make_date",
    "make_time", "make_timestamp", "make_timestamptz", "make_interval", "int4range", "int8range", "numrange",
    "tsrange", "tstzrange", "daterange", "array_fill", "uuid_nil", "point", "interval", "timestamp",
    "timestamptz", "date", "time", "numeric", "decimal", "varchar", "char", "character", "bit", "float",
})


def volatility(name: str) -> str | None:
    """`volatile`, `stable` (or immutable: evaluated once either way), or None for a function sqlguard
    does not know."""
    low = name.lower()
    if low in VOLATILE:
        return "volatile"
    if low in NOT_VOLATILE:
        return "stable"
    return None
