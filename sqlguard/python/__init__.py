"""SQL in Python sources."""
