"""`ADD COLUMN` that rewrites the whole table, or fails on one with rows.

Covers `ALTER TABLE … ADD [COLUMN]` on a table this migration did not create itself (PostgreSQL
only; function bodies, which run later, are not checked):

- `NOT NULL` (or `PRIMARY KEY`) without a `DEFAULT`: fails as soon as the table has a row (an
  error, not a warning);
- a volatile default: `random()`, `gen_random_uuid()`, `uuid_generate_v4()`, `clock_timestamp()`,
  `timeofday()`, `nextval(…)`, … (`now()` and `CURRENT_TIMESTAMP` are stable: no rewrite); a
  function this file creates without `STABLE` or `IMMUTABLE` is volatile too, and one sqlguard
  does not know is reported as information;
- a `serial` / `bigserial` / `smallserial` column, or an identity column (`GENERATED … AS
  IDENTITY`): each row draws its own value;
- a stored generated column (`GENERATED ALWAYS AS (…) STORED`);
- any non-NULL default when `pg-version` is below 11.

## Why is this bad?
Adding a column is instant when PostgreSQL can record one value for every existing row: no
default, or (since PostgreSQL 11) a constant or stable default. Otherwise it rewrites the whole
table, and every index, under an ACCESS EXCLUSIVE lock: reads and writes wait for minutes on a
large table, and the rewrite needs disk for a second copy. `NOT NULL` without a default cannot
hold for the existing rows, so the statement fails halfway through a deploy.

The recipe:

1. `ALTER TABLE users ADD COLUMN referral_code uuid;` (no default: instant).
2. `ALTER TABLE users ALTER COLUMN referral_code SET DEFAULT gen_random_uuid();` (new rows only).
3. Backfill existing rows in batches, each its own transaction:
   `UPDATE users SET referral_code = gen_random_uuid()
    WHERE id IN (SELECT id FROM users WHERE referral_code IS NULL LIMIT 10000);`
4. If the column must be NOT NULL, follow SG53's recipe (a `CHECK … NOT VALID`, validated, then
   `SET NOT NULL`).

For a constant value, `ADD COLUMN … NOT NULL DEFAULT 'x'` is instant from PostgreSQL 11 on.

## Example
    ALTER TABLE users ADD COLUMN referral_code uuid NOT NULL DEFAULT gen_random_uuid();

## Use instead
    ALTER TABLE users ADD COLUMN referral_code uuid;
    ALTER TABLE users ALTER COLUMN referral_code SET DEFAULT gen_random_uuid();
    -- then backfill in batches, and set NOT NULL as SG53 describes
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from sqlguard.diagnostic import Finding
from sqlguard.lint.rule import Rule, StatementContext
from sqlguard.rules._pg import ACCESS_EXCLUSIVE, locks_message, pg_version
from sqlguard.rules._sg50_ddl import AddColumn, add_column, alter_existing_table, facts, written, written_name
from sqlguard.sql.lex import Lexeme

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


def check(ctx: StatementContext) -> Iterator[Finding]:
    parsed = alter_existing_table(ctx)
    if parsed is None:
        return  # not an ALTER TABLE, or a table created in this file (empty)
    for action in parsed.actions:
        col = add_column(action)
        if col is None:
            continue
        table = written_name(ctx, parsed.name)
        finding = _rewrite(ctx, table, col) or _fails(ctx, table, col)
        if finding is not None:
            yield finding


def _shown(ctx: StatementContext, col: AddColumn) -> str:
    typ = f" {written(ctx, col.type[0], col.type[-1])}" if col.type else ""
    return f"ADD COLUMN {written(ctx, col.name)}{typ}"


def _rewrite(ctx: StatementContext, table: str, col: AddColumn) -> Finding | None:
    name = written(ctx, col.name)
    version = pg_version(ctx)
    default = _sql(ctx, col.default) if col.default else None
    where = ctx.cover(col.action.first, col.action.last)
    severity = None
    if col.serial:
        why = f"a `{col.serial}` column takes a value for each row from its sequence"
        help = (f"Add `{name}` as a plain integer column, `SET DEFAULT nextval(…)` for new rows, then backfill "
                "existing rows in batches.")
    elif col.identity is not None:
        why = "an identity column takes a value for each row from its sequence"
        help = (f"Add `{name}` as a plain column, backfill it in batches, then `ALTER COLUMN {name} ADD GENERATED BY "
                "DEFAULT AS IDENTITY` and restart its sequence above the backfilled values.")
    elif col.generated_stored is not None:
        why = "a stored generated column is computed for each row"
        virtual = ", or (PostgreSQL 18) make it a VIRTUAL generated column" if version >= 18 else ""
        help = f"Add `{name}` as a plain column kept current by a trigger and backfill it in batches{virtual}."
    elif col.default is not None and not _is_null(col.default):
        volatile, unknown = _volatility(ctx, col.default)
        if volatile is not None:
            why = f"`{volatile}` is volatile: each row gets its own value"
        elif version < 11:
            why = f"PostgreSQL {version} writes any default into every row (PostgreSQL 11 and later do not)"
        elif unknown is not None:
            why = (f"if `{unknown}` is VOLATILE, which every function is unless declared STABLE or IMMUTABLE, each "
                   "row gets its own value")
            severity = "info"
        else:
            return None
        help = (f"Add `{name}` without a default, `ALTER COLUMN {name} SET DEFAULT {default}` for new rows, then "
                "backfill existing rows in batches.")
    else:
        return None
    message = locks_message(ACCESS_EXCLUSIVE, table,
                            f"`{_shown(ctx, col)}` rewrites every row of `{table}` ({why}) and")
    finding = ctx.report(where, message, help=help)
    return replace(finding, severity="info") if severity == "info" else finding


def _fails(ctx: StatementContext, table: str, col: AddColumn) -> Finding | None:
    if not (col.not_null or col.primary_key) or (col.default is not None and not _is_null(col.default)):
        return None
    if col.serial or col.identity is not None or col.generated_stored is not None:
        return None  # values are generated (and the rewrite was reported)
    name = written(ctx, col.name)
    what = "NOT NULL" if col.not_null else "PRIMARY KEY"
    message = (f"`{_shown(ctx, col)} {what}` has no DEFAULT: it fails if `{table}` has any row, since each would hold "
               "NULL")
    if col.primary_key and not col.not_null:
        help = (f"Add `{name}` nullable, backfill unique values in batches, `CREATE UNIQUE INDEX CONCURRENTLY` on it, "
                "then `ADD PRIMARY KEY USING INDEX`.")
    elif pg_version(ctx) >= 11:
        help = (f"Give `{name}` a constant default (`… {what} DEFAULT <value>`, instant since PostgreSQL 11), or "
                "add it nullable, backfill it, and set NOT NULL as SG53 describes.")
    else:
        help = f"Add `{name}` nullable, backfill it in batches, then `SET NOT NULL`."
    return replace(ctx.report(ctx.cover(col.action.first, col.action.last), message, help=help), severity="error")


def _sql(ctx: StatementContext, toks: tuple[Lexeme, ...]) -> str:
    """An expression as the user wrote it (white space folded)."""
    return " ".join(ctx.source(ctx.cover(toks[0], toks[-1])).split())


def _is_null(toks: tuple[Lexeme, ...]) -> bool:
    inner = [t for t in toks if t.value not in ("(", ")")]
    return len(inner) == 1 and inner[0].upper == "NULL"


def _volatility(ctx: StatementContext, toks: tuple[Lexeme, ...]) -> tuple[str | None, str | None]:
    """(a volatile function the default calls, a function of unknown volatility it calls)."""
    unknown = None
    for i, t in enumerate(toks):
        if t.kind not in ("word", "quoted") or i + 1 >= len(toks) or toks[i + 1].value != "(":
            continue
        if i > 0 and (toks[i - 1].value == "::" or toks[i - 1].upper == "AS"):
            continue  # a type: `'x'::varchar(20)`, `CAST(x AS numeric(10, 2))`
        fn = t.name
        shown = f"{t.value}()"
        if fn in VOLATILE:
            return shown, None
        if fn in NOT_VOLATILE:
            continue
        declared = facts(ctx.file).volatility(fn, ctx.stmt)
        if declared == "VOLATILE":
            return shown, None
        if declared is None and unknown is None:
            unknown = shown
    return None, unknown


RULE = Rule(code="SG54", name="add-column-rewrite", severity="warning", doc=__doc__, check=check)
