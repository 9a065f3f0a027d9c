"""Feeds and sitemaps: fetched bytes in, one normalized `ParsedFeed` out. No network, ever.

RSS 0.9x/1.0/2.0, Atom and JSON Feed go through fastfeedparser, chosen over feedparser on
the measurements in docs/feeds.md (about 60 times faster on real feeds, JSON Feed included,
linear on hostile ones). Sitemaps go through `sitemaps` (lxml). Around the library:
- the size cap, the charset decision and the refusal of DOCTYPE internal subsets (entity
  declarations) happen first, in `feed_document`;
- the library is always given bytes: given a str that starts with http(s)://, it fetches it;
- RSS 0.90's namespace is renamed to RSS 1.0's, whose items it reads and 0.90's it does not;
- its last-resort date parsers are switched off (see `_no_slow_dates`);
- links are resolved against the feed's URL, titles and summaries reduced to plain text,
  dates to aware UTC, and at most `max_entries` entries kept.
"""

import re
from typing import Any

import fastfeedparser
from fastfeedparser import main as _fastfeedparser_main

from app.errors import Unprocessable
from app.parsing import feed_document
from app.parsing.feed_document import MAX_DOCUMENT_BYTES
from app.parsing.feed_fields import (
    MAX_SUMMARY,
    MAX_TITLE,
    author_names,
    identifier,
    plain_text,
    resolve_link,
    utc,
)
from app.parsing.feed_models import FeedEntry, FeedKind, ParsedFeed
from app.parsing.sitemaps import MAX_SITEMAP_ENTRIES, parse_sitemap

MAX_ENTRIES = MAX_SITEMAP_ENTRIES  # one cap for feeds and sitemaps alike
_RSS090 = "http://my.netscape.com/rdf/simple/0.9/"
_RSS10 = "http://purl.org/rss/1.0/"
_DECLARATION = re.compile(r"""(<\?xml[^>]{0,200}?encoding\s*=\s*["'])[^"']{0,40}(["'])""")
# Channel-level refresh hints, read with a regex from the head of the document (before the
# first item) because the library does not report them; cheap and bounded.
_TTL = re.compile(r"<ttl>\s*(\d{1,6})\s*</ttl>")
_PERIOD = re.compile(r"<(?:[\w-]+:)?updatePeriod>\s*(\w{1,10})\s*</")
_FREQUENCY = re.compile(r"<(?:[\w-]+:)?updateFrequency>\s*(\d{1,6})\s*</")
_PERIOD_MINUTES = {
    "hourly": 60,
    "daily": 24 * 60,
    "weekly": 7 * 24 * 60,
    "monthly": 30 * 24 * 60,
    "yearly": 365 * 24 * 60,
}
_HEAD_CHARS = 65536
_KINDS: dict[str | None, FeedKind] = {"feed": "atom", "rss": "rss", "rdf": "rss", "channel": "rss"}


def _no_slow_dates(value: str) -> None:
    return None


# fastfeedparser tries dateutil and then dateparser (installed here through htmldate) on a
# date its own RFC 822 and ISO 8601 readers refuse: 0.5 and 9 ms per string, so a feed of
# junk dates costs minutes. Neither reads any date of the real feeds in tests/data/feeds.
# tests/test_feed_parsing.py fails if a new version renames these functions.
_fastfeedparser_main._slow_dateutil_parse = _no_slow_dates
_fastfeedparser_main._slow_dateparser = _no_slow_dates


def parse_feed(
    data: bytes,
    url: str,
    content_type: str | None = None,
    *,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    max_entries: int = MAX_ENTRIES,
) -> ParsedFeed:
    """Parse a fetched feed or sitemap (gzipped or not); Unprocessable if it is neither,
    PayloadTooLarge if it (or its gzip content) is over `max_bytes`."""
    if not isinstance(data, bytes):  # a str could be mistaken for a URL to fetch
        raise TypeError("parse_feed takes the fetched bytes")
    feed_document.check_size(data, max_bytes)
    data = feed_document.ungzip(data, max_bytes)
    text = feed_document.decode(data, content_type)
    feed_document.refuse_internal_subset(text)
    document_kind = feed_document.kind_of(text)
    if document_kind == "sitemap":
        return parse_sitemap(text, url, max_entries=max_entries)
    if document_kind == "html":
        raise Unprocessable("not a feed: the document is an HTML page")
    is_json = text.lstrip()[:1] == "{"
    root = feed_document.root_element(text)
    if root == "rdf" and _RSS090 in text[:_HEAD_CHARS]:
        text = text.replace(_RSS090, _RSS10)
    parsed = _library_parse(_utf8_document(text))
    feed, entries = parsed.get("feed") or {}, parsed.get("entries") or []
    kind: FeedKind = "jsonfeed" if is_json else _KINDS.get(root, "rss")
    # Atom (RFC 4287 4.2.1) and JSON Feed: the feed's authors apply to entries without any.
    inherited = _authors(feed) if kind != "rss" else ()
    return ParsedFeed(
        kind=kind,
        url=url,
        title=plain_text(feed.get("title"), MAX_TITLE),
        link=resolve_link(url, feed.get("link")),
        ttl_minutes=None if is_json else _ttl_minutes(text),
        entries=tuple(_entry(entry, url, inherited) for entry in entries[:max_entries]),
        truncated=len(entries) > max_entries,
    )


def _library_parse(document: bytes) -> Any:
    try:
        return fastfeedparser.parse(
            document, include_tags=False, include_media=False, include_enclosures=False
        )
    except Exception as error:  # any failure of the library on hostile bytes is a bad feed
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise Unprocessable(f"not a readable feed: {reason}") from error


def _utf8_document(text: str) -> bytes:
    # The text is already decoded: its bytes are UTF-8 now, whatever the declaration said.
    head = _DECLARATION.sub(r"\1utf-8\2", text[:512], count=1)
    return (head + text[512:]).encode("utf-8", errors="replace")


def _entry(entry: Any, base: str, inherited: tuple[str, ...]) -> FeedEntry:
    link = resolve_link(base, entry.get("link"))
    guid = identifier(entry.get("id"))
    if link is None and guid and guid.startswith(("http://", "https://")):
        link = resolve_link(base, guid)  # an RSS guid is a permalink unless it says otherwise
    updated = utc(entry.get("updated"))
    return FeedEntry(
        link=link,
        title=plain_text(entry.get("title"), MAX_TITLE),
        authors=_authors(entry) or inherited,
        published_at=utc(entry.get("published")) or updated,
        updated_at=updated,
        summary=plain_text(entry.get("description"), MAX_SUMMARY),
        id=guid,
    )


def _authors(item: Any) -> tuple[str, ...]:
    names = [a.get("name") or "" for a in item.get("authors") or [] if isinstance(a, dict)]
    return author_names(names or [item.get("author") or ""])


def _ttl_minutes(text: str) -> int | None:
    """RSS <ttl>, else sy:updatePeriod divided by sy:updateFrequency, in minutes."""
    head = text[:_HEAD_CHARS]
    first_item = re.search(r"<(?:\w+:)?(?:item|entry)[\s>]", head)
    head = head[: first_item.start()] if first_item else head
    if ttl := _TTL.search(head):
        return int(ttl[1]) or None
    period = _PERIOD.search(head)
    minutes = _PERIOD_MINUTES.get(period[1].lower()) if period else None
    if minutes is None:
        return None
    frequency = _FREQUENCY.search(head)
    return max(1, minutes // max(1, int(frequency[1]) if frequency else 1))
