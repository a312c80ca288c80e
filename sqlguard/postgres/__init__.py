"""Facts about PostgreSQL: the lock table and the type model."""
