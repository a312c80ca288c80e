"""Live mode: the only code that opens a database connection or runs pg_dump and pg_restore.

`connect` opens a psycopg 3 connection to a configured environment or a DSN and turns every failure a
user can cause (server down, wrong password, missing database, no privilege, timeout, a DSN libpq
cannot parse) into a one-line `SqlguardError` naming the target as `host:port/dbname`. Passwords never
reach a message: `redact` scrubs them from anything that might quote a DSN.

Checks never see a connection: what live mode learns reaches them as plain data (a `Schema`).
psycopg is an optional dependency (`pip install 'sqlguard[live]'`), imported only when a connection
is made.
"""
