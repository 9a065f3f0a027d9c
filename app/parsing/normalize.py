"""Text hygiene shared by every parser: one definition of "normalized text"."""

import hashlib
import re
import unicodedata

# Invisible characters removed outright: zero-width space, word joiner, BOM / zero-width
# no-break space, soft hyphen, and the bidi embedding controls. ZWJ and ZWNJ (U+200C/D) stay:
# they change how Persian, Arabic, Indic scripts and emoji render, so removing them alters text.
_INVISIBLE = dict.fromkeys(
    map(ord, "\u200b\u2060\ufeff\u00ad\u200e\u200f\u202a\u202b\u202c\u202d\u202e")
)
# Every other C0/C1 control except tab and newline (NUL would also break Postgres text).
_CONTROLS = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)])
_LINE_BREAKS = re.compile(r"\r\n|[\r\u0085\u2028\u2029\v\f]")
_WS = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n[^\S\n]*(?:\n[^\S\n]*)+")


def clean_text(text: str) -> str:
    """Unify line endings, drop invisible and control characters, compose to NFC."""
    text = _LINE_BREAKS.sub("\n", text)
    text = text.translate(_INVISIBLE).translate(_CONTROLS)
    return unicodedata.normalize("NFC", text)


def collapse(text: str) -> str:
    """One line of text: every whitespace run becomes one space, ends trimmed."""
    return _WS.sub(" ", text).strip()


def clean_line(text: str) -> str:
    return collapse(clean_text(text))


def split_blocks(text: str) -> list[list[str]]:
    """Blocks separated by blank lines, each a list of its non-empty, collapsed lines."""
    blocks = []
    for raw in _BLANK_LINES.split(text):
        lines = [collapse(line) for line in raw.split("\n")]
        lines = [line for line in lines if line]
        if lines:
            blocks.append(lines)
    return blocks


def paragraphs(text: str) -> list[str]:
    """Paragraphs of (already cleaned) text; hard-wrapped lines are joined with spaces."""
    return [" ".join(lines) for lines in split_blocks(text)]


def normalize_body(text: str) -> str:
    """The canonical body: clean paragraphs joined by one blank line."""
    return "\n\n".join(paragraphs(clean_text(text)))


def content_hash(headline: str, body: str) -> str:
    """sha256 over the normalized headline and body: the identity of an article's content."""
    return hashlib.sha256(f"{headline}\n{body}".encode()).hexdigest()
