"""Field normalizers shared by the feed and sitemap parsers: links, text, dates, authors."""

import re
from datetime import UTC, datetime
from html import unescape
from urllib.parse import urljoin, urlsplit

from app.text.normalize import clean_line

MAX_URL = 2048  # as the article parsers: longer addresses are not stored
MAX_TITLE = 1000
MAX_SUMMARY = 2000
MAX_ID = 2048
# Markup per character of text kept: a field is clipped to this many times its limit first,
# so a megabyte of content costs no more than a short summary.
_MARKUP_RATIO = 20
_URL_BREAKS = re.compile(r"[\t\r\n]")
# The common case, checked without urlsplit's cost (a third of a 50,000-URL sitemap's parse).
_PLAIN_ABSOLUTE = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:[/?#][^\s]*)?")
# A tag: "<" then a letter or "/" (so "a < b" in plain text survives), up to the next ">".
# A failed attempt stops at the next "<" or ">", so the scan stays linear.
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
# Tags that end a line or block become a space; others (<b>, <a>) vanish without splitting words.
_BLOCK_TAG = re.compile(r"</?(?:br|p|div|li|h[1-6]|tr|td|blockquote)\b[^<>]*>", re.IGNORECASE)
# "jane@example.com (Jane Doe)": RSS 2.0's <author> form
_EMAIL_NAME = re.compile(r"^\S+@\S+\s*\((.+)\)$")
_EMAIL = re.compile(r"^\S+@\S+\.\S+$")


def resolve_link(base: str, href: str | None) -> str | None:
    """`href` made absolute against `base`; None unless that gives an http(s) URL."""
    # As browsers do (WHATWG URL): ends trimmed, tabs and line breaks inside dropped.
    href = _URL_BREAKS.sub("", (href or "").strip())
    if not href or len(href) > MAX_URL:
        return None
    if _PLAIN_ABSOLUTE.fullmatch(href):
        return href
    try:
        absolute = urljoin(base, href)
        parts = urlsplit(absolute)
    except ValueError:  # malformed IPv6 brackets
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or len(absolute) > MAX_URL:
        return None
    return absolute


def plain_text(value: str | None, limit: int) -> str | None:
    """One line of text from a field that may hold HTML or entities, clipped to `limit`.

    Entities are resolved once: an RSS title of "&amp;amp;" is the publisher escaping twice,
    and readers show "&". Hand-written (not lxml.html) because titles are mostly plain text,
    where a parser would eat a bare "<" or "&"; the regexes are bounded per match.
    """
    if not value:
        return None
    value = value[: limit * _MARKUP_RATIO]
    if "<" in value:
        value = _TAG.sub("", _BLOCK_TAG.sub(" ", _without_comments(value)))
    if "&" in value:
        value = unescape(value)
    text = clean_line(value)
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or None


def _without_comments(value: str) -> str:
    # str.find, not a lazy regex: a regex retries from every "<!--" to the end when one is
    # never closed (quadratic); here the first unclosed one ends the loop.
    parts, position = [], 0
    while (start := value.find("<!--", position)) != -1:
        end = value.find("-->", start + 4)
        if end == -1:
            break
        parts.append(value[position:start])
        position = end + 3
    parts.append(value[position:])
    return " ".join(parts)


def identifier(value: str | None) -> str | None:
    text = clean_line(value or "")
    return text[:MAX_ID] if text else None


def utc(value: str | None) -> datetime | None:
    """An ISO 8601 / W3C datetime as aware UTC; a date alone is midnight UTC; else None."""
    text = (value or "").strip()
    if not text or len(text) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:  # sitemaps.org: a date without a zone is read as UTC
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def author_names(values: list[str]) -> tuple[str, ...]:
    """Display names: "mail (Name)" gives Name, a bare address is dropped, duplicates too."""
    names: list[str] = []
    for value in values:
        name = plain_text(value, 200) or ""
        if match := _EMAIL_NAME.match(name):
            name = match[1].strip()
        if name and not _EMAIL.match(name) and name not in names:
            names.append(name)
    return tuple(names)
