"""The HTML extractor's name as articles report it in `extraction.extractor`. A leaf module:
the API schemas quote it in their examples, and app.parsing.html imports the schemas."""

from importlib.metadata import version

# The installed trafilatura, read without importing it (its metadata, the same version).
HTML_EXTRACTOR = f"news-archive-html/1 (trafilatura {version('trafilatura')})"
