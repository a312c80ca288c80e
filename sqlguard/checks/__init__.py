"""Every rule, one module each. The order here is the order of `sqlguard rules`."""

from __future__ import annotations

from sqlguard.checks import (
    sg00_unparsable_statement,
    sg01_unused_ignore,
    sg02_source_encoding,
    sg03_unterminated_token,
    sg04_template_placeholders,
    sg05_byte_order_mark,
    sg06_crlf_line_endings,
    sg07_empty_file,
    sg10_forbidden_table,
    sg11_unknown_table,
    sg12_unknown_reference,
    sg20_unconditional_drop,
    sg21_destructive_statement,
    sg30_migration_name,
    sg31_missing_rollback,
    sg32_incomplete_rollback,
    sg33_duplicate_version,
    sg34_out_of_order,
    sg35_unclosed_transaction,
    sg36_modified_migration,
    sg40_interpolated_sql,
)
from sqlguard.rule import Rule

ALL_RULES: tuple[Rule, ...] = (
    sg00_unparsable_statement.RULE,
    sg01_unused_ignore.RULE,
    sg02_source_encoding.RULE,
    sg03_unterminated_token.RULE,
    sg04_template_placeholders.RULE,
    sg05_byte_order_mark.RULE,
    sg06_crlf_line_endings.RULE,
    sg07_empty_file.RULE,
    sg10_forbidden_table.RULE,
    sg11_unknown_table.RULE,
    sg12_unknown_reference.RULE,
    sg20_unconditional_drop.RULE,
    sg21_destructive_statement.RULE,
    sg30_migration_name.RULE,
    sg31_missing_rollback.RULE,
    sg32_incomplete_rollback.RULE,
    sg33_duplicate_version.RULE,
    sg34_out_of_order.RULE,
    sg35_unclosed_transaction.RULE,
    sg36_modified_migration.RULE,
    sg40_interpolated_sql.RULE,
)
RULES_BY_CODE: dict[str, Rule] = {r.code: r for r in ALL_RULES}
