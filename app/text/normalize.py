"""Text hygiene shared by every parser: one definition of "normalized text"."""

import hashlib
import re
import unicodedata
from functools import cache

# One translation table, applied once: line breaks of every kind become "\n"; invisible
# characters (zero-width space, word joiner, BOM, soft hyphen, bidi marks) and C0/C1 controls
# other than tab and newline disappear (NUL would also break Postgres text). ZWJ and ZWNJ
# (U+200C/D) stay: they change how Persian, Arabic, Indic scripts and emoji render.
_TABLE: dict[int, str | None] = {
    **dict.fromkeys(map(ord, "\r\x85\u2028\u2029\x0b\x0c"), "\n"),
    **dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u00ad\u200e\u200f\u202a\u202b\u202c\u202d\u202e")),
    **dict.fromkeys([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F, *range(0x80, 0x85)]),
    **dict.fromkeys(range(0x86, 0xA0)),
    # Every other Unicode space becomes a plain space, so lines need only "  " checks later.
    **dict.fromkeys(map(ord, "\t\xa0\u1680\u202f\u205f\u3000"), " "),
    **dict.fromkeys(range(0x2000, 0x200B), " "),
    # Lone surrogates are not text (only broken decoding or JSON escapes make them) and cannot
    # be encoded: they become U+FFFD, as undecodable bytes do.
    **dict.fromkeys(range(0xD800, 0xE000), "\ufffd"),
}


# Most text has none of the table's characters: finding that out (in C) is several times
# cheaper than translate(), which looks every character up in the dict.
_NEEDS_TABLE = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(_TABLE)) + "]")


# CPython puts each run of combining marks in canonical order (a step of NFC and NFKC) by
# insertion sort: 40,000 alternating marks took 6 s, a megabyte of them would take minutes.
# Unicode's Stream-Safe Text Format (UAX #15) caps such runs at 30 marks with U+034F
# COMBINING GRAPHEME JOINER, which no real text needs more than; so does `stream_safe`.
_MAX_NON_STARTERS = 30
_CGJ = "\u034f"
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def clean_text(text: str) -> str:
    """Unify line endings, drop invisible and control characters, compose to NFC."""
    if _NEEDS_TABLE.search(text):
        text = text.replace("\r\n", "\n").translate(_TABLE)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", stream_safe(text))
    return text


def stream_safe(text: str) -> str:
    """`text` with U+034F after every 30th mark of a longer run of combining marks, so that
    normalizing it (NFC, NFKC) takes linear time."""
    if text.isascii():
        return text
    bmp_only, any_plane = _long_mark_runs()
    return (any_plane if _ASTRAL.search(text) else bmp_only).sub(_break_run, text)


def _break_run(match: re.Match[str]) -> str:
    run = match.group()
    return _CGJ.join(run[i : i + _MAX_NON_STARTERS] for i in range(0, len(run), _MAX_NON_STARTERS))


@cache
def _long_mark_runs() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Runs of over 30 characters whose compatibility decomposition starts with a mark that
    normalization reorders (a non-starter: combining class other than 0): one pattern for
    text without characters beyond the BMP, one for text with. All such characters are in
    planes 0 and 1 (tests/test_cost_bounds.py checks the rest); finding them takes ~0.1 s,
    so on first use rather than at import. Two patterns because a class that mixes planes
    is a list of ranges tried one by one (40 times slower than the BMP's bitmap); in the
    second, astral characters are tested against it only after a one-range check."""
    combining, decomposition = unicodedata.combining, unicodedata.decomposition
    marks = [
        chr(code)
        for code in range(0x20000)
        if combining(chr(code))
        or (decomposition(chr(code)) and combining(unicodedata.normalize("NFKD", chr(code))[0]))
    ]
    bmp = re.escape("".join(m for m in marks if m <= "\uffff"))
    astral = re.escape("".join(m for m in marks if m > "\uffff"))
    run = f"{{{_MAX_NON_STARTERS + 1},}}"
    return (
        re.compile(f"[{bmp}]{run}"),
        re.compile(f"(?:[{bmp}]|(?=[\U00010000-\U0010ffff])[{astral}]){run}"),
    )


def collapse(text: str) -> str:
    """One line of text: every whitespace run becomes one space, ends trimmed."""
    return " ".join(text.split())


def clean_line(text: str) -> str:
    return collapse(clean_text(text))


def split_blocks(text: str) -> list[list[str]]:
    """Blocks separated by blank lines, each a list of its non-empty, collapsed lines.

    `text` must have been through clean_text (newlines and plain spaces only).
    """
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in text.split("\n"):
        if line := line.strip(" "):
            if "  " in line:  # clean_text left only plain spaces, so this finds every run
                line = collapse(line)
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
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
