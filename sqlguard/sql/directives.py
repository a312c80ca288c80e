"""What a migration file says about how it runs, in comments its runner reads.

One reader for every runner's spelling of "run me outside a transaction":

| runner              | directive                                                    | scope        |
|---------------------|--------------------------------------------------------------|--------------|
| sqlguard            | `-- sqlguard: transaction=off` (or `on`, `true`, `false`)    | the file     |
| goose               | `-- +goose NO TRANSACTION`                                   | the file     |
| postgres-migrations | `-- postgres-migrations disable-transaction`                 | the file     |
| dbmate              | `-- migrate:up transaction:false`, `-- migrate:down …`       | its section  |

Runners read them near the top of the file (dbmate on its section's marker line); sqlguard reads the
first 20,000 characters for the file-wide ones, as it always has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEAD = 20_000
_SQLGUARD = re.compile(r"--\s*sqlguard:\s*transaction\s*=\s*(on|off|true|false)\b", re.I)
_OFF = re.compile(r"--\s*(?:(\+goose)\s+NO\s+TRANSACTION|(postgres-migrations)\s+disable-transaction)", re.I)
# dbmate's flag belongs to one section: `-- migrate:up transaction:false` says nothing of the down one.
_DBMATE = {"up": re.compile(r"--\s*migrate:up\b[^\n]*\btransaction:\s*false", re.I),
           "down": re.compile(r"--\s*migrate:down\b[^\n]*\btransaction:\s*false", re.I)}


@dataclass(frozen=True)
class TransactionDirective:
    wraps: bool  # the file (section) runs inside one transaction
    runner: str  # sqlguard | goose | postgres-migrations | dbmate
    text: str  # the comment as written


def transaction_directive(text: str, section: str | None = None) -> TransactionDirective | None:
    """What the file (a dbmate file's `section`: `up`, the default, or `down`) says about its transaction;
    None when it says nothing."""
    head = text[:_HEAD]
    m = _SQLGUARD.search(head)
    if m is not None:
        return TransactionDirective(m.group(1).lower() in ("on", "true"), "sqlguard", m.group(0))
    m = _OFF.search(head)
    if m is not None:
        return TransactionDirective(False, "goose" if m.group(1) else "postgres-migrations", m.group(0))
    m = _DBMATE["down" if section == "down" else "up"].search(text)
    if m is not None:
        return TransactionDirective(False, "dbmate", m.group(0))
    return None
