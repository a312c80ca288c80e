"""How sqlguard reads each SQL dialect it knows: the one table of that fact.

PostgreSQL, MySQL (MariaDB) and SQLite have full readers: a splitter and lexer that know their quoting,
a typed reader (PostgreSQL's own parser; sqlglot for the other two), and every rule written for them.

The other dialects a repository may hold (T-SQL, Oracle, H2, CockroachDB, ClickHouse, DuckDB) are read
through sqlglot's dialect of the same name (H2, which sqlglot has none for, through its ANSI base) and
split as their own clients split them: T-SQL at `GO` lines, with a routine or a `BEGIN … END` block kept
whole; Oracle at a `/` line after a PL/SQL unit. Only the dialect-neutral rules, which need nothing but
that reading, judge them (each rule's `dialects` says whether it is one).
"""

from __future__ import annotations

# The dialects with a full reader: every rule may be written for them.
FULL = ("postgres", "mysql", "sqlite")
# Every dialect sqlguard knows, the full ones first.
KNOWN = (*FULL, "mssql", "oracle", "h2", "cockroachdb", "clickhouse", "duckdb")
# sqlglot's name for each (h2: sqlglot's ANSI base dialect).
SQLGLOT = {"postgres": "postgres", "mysql": "mysql", "sqlite": "sqlite", "mssql": "tsql", "oracle": "oracle",
           "h2": "", "cockroachdb": "postgres", "clickhouse": "clickhouse", "duckdb": "duckdb"}
# Lexically (quotes, comments, escapes), each reads as this: CockroachDB and DuckDB have PostgreSQL's
# dollar quotes; ClickHouse has MySQL's backslash escapes and backticks; H2 is standard SQL. T-SQL's
# brackets and Oracle's `/` lines are their own.
LEXICAL = {"cockroachdb": "postgres", "duckdb": "postgres", "clickhouse": "mysql", "h2": "sqlite"}
# How names are shown to users.
LABELS = {"postgres": "PostgreSQL", "mysql": "MySQL", "sqlite": "SQLite", "mssql": "T-SQL", "oracle": "Oracle",
          "h2": "H2", "cockroachdb": "CockroachDB", "clickhouse": "ClickHouse", "duckdb": "DuckDB"}
# sqlguard's name for a dialect given by sqlglot's or sqlfluff's name (`tsql`).
FROM_TOOLS = {"tsql": "mssql", **{d: d for d in KNOWN}}


def lexical(dialect: str) -> str:
    """The dialect whose quoting and comments `dialect` shares (itself when it has its own)."""
    return LEXICAL.get(dialect, dialect)
