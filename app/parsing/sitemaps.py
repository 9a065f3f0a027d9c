"""Sitemaps (urlset, Google News) and sitemap indexes, parsed with lxml.

Not ultimate-sitemap-parser: it parses only a str we hand it (fine) but cannot resolve
relative URLs against the real address, drops `<sitemap>` elements that lack `<loc>`, and is
GPL-3.0 with a python-dateutil<3 pin; see docs/feeds.md for the measurements.
Elements are matched by local name, so a sitemap without the sitemaps.org namespace parses.
"""

from datetime import datetime

from lxml import etree

from app.errors import Unprocessable
from app.parsing.feed_fields import MAX_TITLE, plain_text, resolve_link, utc
from app.parsing.feed_models import FeedEntry, FeedKind, ParsedFeed

MAX_SITEMAP_ENTRIES = 50_000  # the sitemap protocol's own limit per file


def _parser() -> etree.XMLParser:
    # recover: a sitemap cut off mid-transfer still yields the URLs before the cut.
    # No entity expansion, no DTD, no network; huge_tree stays off, so libxml2 keeps its
    # depth and text-size limits.
    return etree.XMLParser(
        encoding="utf-8",
        recover=True,
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_sitemap(text: str, url: str, *, max_entries: int = MAX_SITEMAP_ENTRIES) -> ParsedFeed:
    """A urlset (plain or Google News) or a sitemapindex; `text` is the decoded document."""
    try:
        root = etree.fromstring(text.encode("utf-8"), _parser())
    except etree.XMLSyntaxError as error:  # even recover mode gives up on some documents
        raise Unprocessable(f"not a readable sitemap: {error}") from error
    if root is None or not isinstance(root.tag, str):
        raise Unprocessable("not a sitemap: no root element could be read")
    name = _local(root)
    if name == "sitemapindex":
        return _index(root, url, max_entries)
    if name != "urlset":
        raise Unprocessable(f"not a sitemap: the root element is <{name}>")
    entries: list[FeedEntry] = []
    news = truncated = False
    for element in _children(root, "url"):
        if len(entries) == max_entries:
            truncated = True
            break
        news = news or _child(element, "news") is not None
        entry = _url_entry(element, url)
        if entry.link:  # a <url> without a usable <loc> names nothing to fetch
            entries.append(entry)
    kind: FeedKind = "news-sitemap" if news else "sitemap"
    return ParsedFeed(kind, url, entries=tuple(entries), truncated=truncated)


def _index(root: etree._Element, url: str, max_entries: int) -> ParsedFeed:
    sitemaps: list[str] = []
    for element in _children(root, "sitemap"):
        if len(sitemaps) == max_entries:
            return ParsedFeed("sitemapindex", url, sitemaps=tuple(sitemaps), truncated=True)
        loc = _child(element, "loc")
        # Some indexes hold the URL as the <sitemap> element's own text, without <loc>.
        href = loc.text if loc is not None else element.text
        if (link := resolve_link(url, href)) and link not in sitemaps:
            sitemaps.append(link)
    return ParsedFeed("sitemapindex", url, sitemaps=tuple(sitemaps))


def _url_entry(element: etree._Element, base: str) -> FeedEntry:
    fields = _fields(element)
    news = fields.get("news")
    title = published = publication = None
    if news is not None:
        news_fields = _fields(news)
        title, published = news_fields.get("title"), news_fields.get("publication_date")
        source = news_fields.get("publication")
        publication = _fields(source).get("name") if source is not None else None
    updated_at = _utc(fields.get("lastmod"))
    return FeedEntry(
        link=resolve_link(base, _text(fields.get("loc"))),
        title=plain_text(_text(title), MAX_TITLE),
        published_at=_utc(published) or updated_at,
        updated_at=updated_at,
        publication=plain_text(_text(publication), MAX_TITLE),
    )


def _children(parent: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in parent if _local(child) == name]


def _child(parent: etree._Element, name: str) -> etree._Element | None:
    return _fields(parent).get(name)


def _fields(parent: etree._Element) -> dict[str, etree._Element]:
    """The element's children by local name, the first of each name."""
    fields: dict[str, etree._Element] = {}
    for child in parent:
        fields.setdefault(_local(child), child)
    return fields


def _text(element: etree._Element | None) -> str | None:
    return element.text if element is not None else None


def _utc(element: etree._Element | None) -> datetime | None:
    return utc(element.text) if element is not None else None


def _local(element: etree._Element) -> str:
    # "{namespace}name" or "name"; comments and PIs (removed by the parser anyway) have no str tag
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""
