"""Migration files: conventions, histories, integrity, new files, what a file runs."""
