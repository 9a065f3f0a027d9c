"""Character sets a body may declare: the labels of the WHATWG Encoding Standard, no others.

Python's codec registry also answers to names that are no text encoding a page can declare:
`punycode` (whose decoder takes quadratic time: a megabyte of it held a core for half a
minute), `idna`, `utf-7`, `rot13`, `unicode_escape`... Browsers read only the standard's
labels, and so does this service. webencodings maps those labels to Python codecs, each of
which decodes in linear time.
"""

import codecs
import re

import webencodings

# WHATWG's prescan looks for a declaration in the first 1,024 bytes; so does this (a bounded
# input, and a pattern that cannot backtrack far on it).
_PRESCAN_BYTES = 1024
_MAX_LABEL = 40
_META_CHARSET = re.compile(rb"""<meta\b[^>]{0,1024}?charset\s*=\s*["']?\s*([\w.:-]{1,40})""", re.I)


def lookup(label: str) -> webencodings.Encoding | None:
    """The encoding a charset label names, or None for a label that names none (and for the
    standard's `replacement` encoding, which turns any input into one U+FFFD)."""
    encoding = webencodings.lookup(label) or _python_spelling(label)
    return None if encoding is None or encoding.name == "replacement" else encoding


def _python_spelling(label: str) -> webencodings.Encoding | None:
    """Python's spelling of a standard encoding ("latin-1", "utf_8"): its codec's canonical
    name ("iso8859-1", "utf-8") is one of the standard's labels. Only looked up, never run."""
    if len(label) > _MAX_LABEL:
        return None
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return None
    return webencodings.lookup(name)


def decode(body: bytes, encoding: webencodings.Encoding, errors: str = "strict") -> str:
    """`body` in `encoding`, unless a byte order mark names another (as browsers do).
    Raises UnicodeDecodeError when `errors` is strict and a byte does not decode."""
    text, _ = webencodings.decode(body, encoding, errors)
    return str(text)


def declared_in_page(page: bytes) -> webencodings.Encoding | None:
    """The encoding a `<meta charset>` (or its http-equiv form) near the top of the page names."""
    match = _META_CHARSET.search(page[:_PRESCAN_BYTES])
    if match is None:
        return None
    encoding = lookup(match[1].decode("ascii", "replace"))
    # The prescan's rule: a page that could be read to find the tag is not UTF-16.
    if encoding is not None and encoding.name in ("utf-16be", "utf-16le"):
        return webencodings.UTF8
    return encoding
