"""Sources: turn files into units to lint (decoded text, SQL statements with exact spans, migration sets)."""
