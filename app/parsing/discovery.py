"""Where a site's feeds are: <link rel="alternate"> in its pages, Sitemap: lines in its
robots.txt, and what a fetched document is (feed, sitemap or HTML). Pure: no fetching."""

import re
from dataclasses import dataclass

from app.errors import Unprocessable
from app.parsing.feed_document import DocumentKind, decode, kind_of
from app.parsing.feed_fields import plain_text, resolve_link
from app.parsing.html.page import load_page

# Media types of <link rel="alternate"> that announce a feed, and the kind each announces.
FEED_TYPES = {
    "application/rss+xml": "rss",
    "application/atom+xml": "atom",
    "application/feed+json": "jsonfeed",
    "application/json": "jsonfeed",
}
MAX_FEED_LINKS = 100  # per page: real pages list a handful; a hostile one could list millions
MAX_SITEMAPS = 1000  # per robots.txt: the Telegraph's lists 30
_SNIFF_BYTES = 65536  # the root element of a feed, sitemap or page comes well before this
# A Sitemap: line. Hand-written rather than urllib.robotparser's site_maps(): that one
# percent-decodes the value, which changes a query string holding %26 or %3D.
_SITEMAP_LINE = re.compile(r"^[ \t]*sitemap[ \t]*:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_FEED_CONTENT_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json")


@dataclass(frozen=True, slots=True)
class FeedLink:
    """A feed a page declares."""

    url: str
    kind: str  # rss, atom or jsonfeed: what the declared type announces
    title: str | None = None


def feed_links(html: bytes | str, url: str, charset: str | None = None) -> list[FeedLink]:
    """The feeds a page declares in <link rel="alternate" type=...>, as absolute URLs, in order.

    Relative hrefs resolve against <base href> when the page has one, else against `url`.
    WordPress's `/wp-json/` links share the application/json type but are its REST API,
    never a feed, so they are left out.
    """
    try:
        tree = load_page(html, url, charset).tree
    except Unprocessable:  # nothing that parses as HTML: no links
        return []
    base = tree.find(".//base[@href]")
    base_url = resolve_link(url, base.get("href")) if base is not None else None
    found: list[FeedLink] = []
    for link in tree.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        media_type = (link.get("type") or "").split(";")[0].strip().lower()
        if "alternate" not in rel or media_type not in FEED_TYPES:
            continue
        href = resolve_link(base_url or url, link.get("href"))
        if href is None or "/wp-json/" in href or any(f.url == href for f in found):
            continue
        found.append(FeedLink(href, FEED_TYPES[media_type], plain_text(link.get("title"), 200)))
        if len(found) == MAX_FEED_LINKS:
            break
    return found


def robots_sitemaps(text: str, url: str) -> list[str]:
    """The Sitemap: lines of a robots.txt (any case, inside or outside groups), absolute.

    `url` is the robots.txt's own address, against which a relative line is resolved.
    Sitemap lines belong to no group (RFC 9309 section 2.2.4), so their place does not
    matter; duplicates and non-http(s) values are dropped.
    """
    found: list[str] = []
    for match in _SITEMAP_LINE.finditer(text.lstrip("\ufeff")):
        sitemap = resolve_link(url, match[1])
        if sitemap and sitemap not in found:
            found.append(sitemap)
            if len(found) == MAX_SITEMAPS:
                break
    return found


def sniff(data: bytes, content_type: str | None = None) -> DocumentKind | None:
    """feed, sitemap or html, from the first bytes; the Content-Type decides only a tie."""
    text = decode(data[:_SNIFF_BYTES], content_type)
    kind = kind_of(text)
    if kind is not None:
        return kind
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type in _HTML_TYPES or text.lstrip()[:5].lower() in ("<head", "<body", "<meta"):
        return "html"
    if media_type in _FEED_CONTENT_TYPES:
        return "feed"
    return None
