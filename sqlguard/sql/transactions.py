"""Whether a migration's statements run inside a transaction.

Runners differ: golang-migrate, Flyway, dbmate, goose, Alembic, Django and sqlguard's own runner
wrap each migration in one transaction; plain psql and sqitch run statement by statement unless the
file says BEGIN. `assume-in-transaction` in the config names the runner (or says true/false), and a
file can override it with a directive: `-- sqlguard: transaction=off`, dbmate's
`-- migrate:up transaction:false`, goose's `-- +goose NO TRANSACTION`, postgres-migrations'
`-- postgres-migrations disable-transaction`.
"""

from __future__ import annotations

import re

from sqlguard.migrations.files import MigrationFile

_ON = re.compile(r"--\s*sqlguard:\s*transaction\s*=\s*(on|off|true|false)\b", re.I)
_OFF = re.compile(r"--\s*(?:\+goose\s+NO\s+TRANSACTION|postgres-migrations\s+disable-transaction)", re.I)
# dbmate's flag belongs to one section: `-- migrate:up transaction:false` says nothing of the down one.
_OFF_SECTION = {"up": re.compile(r"--\s*migrate:up\b[^\n]*\btransaction:\s*false", re.I),
                "down": re.compile(r"--\s*migrate:down\b[^\n]*\btransaction:\s*false", re.I)}
# Conventions whose runners wrap every migration in a transaction.
_WRAPPING = {"sqlguard", "golang-migrate", "flyway", "dbmate", "goose", "diesel", "numbered"}


def runner_wraps(text: str, assume: bool | None, migration: MigrationFile | None, section: str | None = None) -> bool:
    """Whether the file (a dbmate file's `section`) runs inside one transaction that the runner opens."""
    return wraps(text, assume, migration.convention if migration is not None else None, section)


def wraps(text: str, assume: bool | None, convention: str | None, section: str | None = None) -> bool:
    """Whether a file of a history in `convention` (None: not a migration) runs inside one transaction
    its runner opens: the file's directive, else `assume-in-transaction`, else the convention's runner.
    `section`: of a dbmate file, the `up` (the default) or `down` section, which each have their flag."""
    head = text[:20000]
    m = _ON.search(head)
    if m is not None:
        return m.group(1).lower() in ("on", "true")
    if _OFF.search(head) or _OFF_SECTION["down" if section == "down" else "up"].search(text):
        return False
    if assume is not None:
        return assume
    return convention in _WRAPPING


def explicit_transaction(keyword: str, second: str, open_now: bool) -> bool:
    """The explicit transaction state after a top-level statement starting with `keyword second`."""
    if keyword == "BEGIN" and second in ("", "TRANSACTION", "WORK", "ISOLATION", "READ", "DEFERRABLE", "NOT"):
        return True
    if keyword == "START" and second == "TRANSACTION":
        return True
    if keyword in ("COMMIT", "END", "ABORT") or (keyword == "ROLLBACK" and second != "TO"):
        return False
    return open_now
