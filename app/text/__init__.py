"""Text leaves: pure functions on `str` shared by the schemas and every parser. Nothing here
imports from the rest of `app`, so anything may import it."""
