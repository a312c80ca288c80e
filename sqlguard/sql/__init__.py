"""SQL text: decoding, splitting, lexing, parsing, and the typed reader of statements."""
