"""The plain seed-text format: headline line, paragraphs, `Source:` and `Also read:` lines."""

import re

from app.errors import Unprocessable
from app.schemas import MAX_HEADLINE, Extraction, NormalizedArticle, RelatedLink
from app.text.labels import ends_sentence, is_navigation_label
from app.text.normalize import clean_text, split_blocks

EXTRACTOR = "news-archive-seed/1"
_SOURCE = re.compile(r"^sources?\s*:\s*(?P<value>.+)$", re.IGNORECASE)
_RELATED = re.compile(
    r"^(?:also read|read more|related|see also)\s*:\s*(?P<value>.*)$", re.IGNORECASE
)
_URL = re.compile(r"""(?:https?://|www\.)[^\s<>"'\]\)]{1,2000}""", re.IGNORECASE)
_SEPARATORS = " \t-–—|:·•»«>()[]<>\"'"
_MAX_SOURCE = 120
_MARKER_WIDTH = 16  # every marker's colon comes within this many characters


def parse_seed_text(text: str) -> NormalizedArticle:
    """Parse one article in the seed-text format; raises Unprocessable when there is no body."""
    blocks = split_blocks(clean_text(text))
    if not blocks:
        raise Unprocessable("the text is empty: expected a headline line followed by paragraphs")
    headline, *first_rest = blocks[0]
    source: str | None = None
    links: list[RelatedLink] = []
    paragraphs: list[list[str]] = []
    for block in [first_rest, *blocks[1:]]:
        current: list[str] = []
        for line in block:
            if ":" not in line[:_MARKER_WIDTH]:
                current.append(line)
                continue
            if (match := _SOURCE.match(line)) and len(match["value"]) <= _MAX_SOURCE:
                source = source or match["value"].rstrip(" .")
            elif match := _RELATED.match(line):
                if link := _related_link(match["value"]):
                    links.append(link)
            else:
                current.append(line)
                continue
            _close(paragraphs, current)
            current = []
        _close(paragraphs, current)
    _drop_trailing_navigation(paragraphs)
    if not paragraphs:
        raise Unprocessable(
            "no body paragraph: after the headline line the text needs at least one paragraph"
        )
    body = "\n\n".join(" ".join(lines) for lines in paragraphs)
    fields = {"headline": "seed-line", "body": "seed-text"}
    fields |= ({"source": "seed-line"} if source else {}) | (
        {"related_links": "seed-line"} if links else {}
    )
    return NormalizedArticle.model_construct(
        headline=headline,
        body=body,
        source=source,
        related_links=links,
        extraction=Extraction.model_construct(extractor=EXTRACTOR, fields=fields),
    )


def _close(paragraphs: list[list[str]], lines: list[str]) -> None:
    if lines:
        paragraphs.append(lines)


def _related_link(value: str) -> RelatedLink | None:
    url_match = _URL.search(value)
    url = url_match.group(0).rstrip(".,;") if url_match else None
    rest = value.replace(url_match.group(0), " ") if url_match else value
    # Clipped like a headline: the link is built without validation, and served with it.
    title = " ".join(rest.split()).strip(_SEPARATORS)[:MAX_HEADLINE] or None
    if url is None and title is None:
        return None
    # Already clean and never both empty: skip re-validation on this hot path.
    return RelatedLink.model_construct(title=title, url=url)


def _drop_trailing_navigation(paragraphs: list[list[str]]) -> None:
    """Drop navigation labels after the body: whole blocks of them, or lines after a sentence."""
    while paragraphs:
        lines = paragraphs[-1]
        keep = len(lines)
        while keep and is_navigation_label(lines[keep - 1]):
            keep -= 1
        if keep == 0 and not _wrapped_sentence(lines):
            paragraphs.pop()
            continue
        # Lines after a finished sentence are labels; otherwise they are a hard-wrapped tail.
        if 0 < keep < len(lines) and ends_sentence(lines[keep - 1]):
            del lines[keep:]
        return


def _wrapped_sentence(lines: list[str]) -> bool:
    """Short lines that continue in lower case and join into more than a label's length."""
    continued = any(line[0].islower() for line in lines[1:])
    return continued and not is_navigation_label(" ".join(lines))
