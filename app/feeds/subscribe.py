"""Subscribing: what a URL is (a feed, a sitemap, or a page to discover them on), then the
feed rows and their first polls, deferred in the caller's transaction.

    URL ─▶ fetcher ─▶ sniff: feed | sitemap ─▶ parse_feed (it must parse) ─▶ that URL
                            html ─▶ <link rel="alternate"> feeds + robots.txt Sitemap: lines

The fetch happens before the caller's transaction begins (nothing is locked meanwhile).
"""

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.orm import Session

from app.errors import AppError, FetchError, Unprocessable
from app.feeds.poll import FEED_ACCEPT, MAX_KEY, POLL_LEASE, defer_poll
from app.fetching import Fetcher, check_url
from app.jobs.defer import Deferrer
from app.models import Feed, utcnow
from app.parsing.discovery import feed_links, robots_sitemaps, sniff
from app.parsing.feeds import parse_feed
from app.parsing.urls import normalize_url
from app.repositories.feeds import FeedRepository

FoundIn = Literal["document", "link", "robots.txt"]


@dataclass(frozen=True)
class Found:
    url: str
    kind: str
    title: str | None
    found_in: FoundIn


def discover(fetcher: Fetcher, url: str) -> list[Found]:
    """What `url` offers: itself if it is a feed or sitemap, else the feeds its page
    declares and the sitemaps its site's robots.txt lists. Raises FetchError, Unprocessable."""
    page = fetcher.fetch(url, accept=FEED_ACCEPT, media_types=None)
    kind = sniff(page.body, page.content_type)
    if kind in ("feed", "sitemap"):
        parsed = parse_feed(page.body, page.final_url, page.content_type)
        return [Found(url, parsed.kind, parsed.title, "document")]
    if kind != "html":
        raise Unprocessable("the URL is neither a feed, a sitemap nor an HTML page")
    found = [
        Found(link.url, link.kind, link.title, "link")
        for link in feed_links(page.body, page.final_url, page.charset)
    ]
    found += [Found(s, "sitemap", None, "robots.txt") for s in _robots_sitemaps(fetcher, url)]
    return found


def _robots_sitemaps(fetcher: Fetcher, url: str) -> list[str]:
    parts = urlsplit(url)
    robots_url = urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))
    try:
        page = fetcher.fetch(robots_url, accept="text/plain", media_types=None)
    except FetchError:
        return []  # no robots.txt, or none we may read: no sitemaps from it
    return robots_sitemaps(page.body.decode("utf-8", "replace"), page.final_url)


def chosen(found: list[Found], kind: Literal["feed", "sitemap"] | None) -> list[Found]:
    """Which of the found documents to follow (see FeedCreate.kind)."""
    if found and found[0].found_in == "document":
        return found[:1]
    feeds = [f for f in found if f.found_in == "link"]
    sitemaps = [f for f in found if f.found_in == "robots.txt"]
    if kind == "feed":
        return feeds
    if kind == "sitemap":
        return sitemaps
    return feeds or sitemaps


def subscribe(
    session: Session, deferrer: Deferrer, urls: list[tuple[str, str | None]]
) -> list[tuple[Feed, bool]]:
    """Follow these (url, title) feeds: each new one gets a row and a first poll, in the
    session's transaction. Returns (feed, created) in order; known feeds are returned as is."""
    feeds = FeedRepository(session)
    result: list[tuple[Feed, bool]] = []
    for url, title in urls:
        key = feed_key(url)
        held = utcnow() + POLL_LEASE  # by the first poll, deferred below
        values = {"url": url, "url_key": key, "title": title, "next_poll_at": held}
        feed, created = feeds.add_or_get_existing(values)
        if created:
            defer_poll(deferrer, session, feed.id)
        result.append((feed, created))
    return result


def feed_key(url: str) -> str:
    """The identity of a feed URL (normalized; a different spelling is the same feed)."""
    key = normalize_url(url) or url
    if len(key) > MAX_KEY:
        raise Unprocessable(f"the feed URL is longer than {MAX_KEY} characters once normalized")
    return key


def checked(url: str, fetcher: Fetcher) -> str | AppError:
    """The URL if the fetcher would fetch it (scheme, address, length), else why not."""
    try:
        return check_url(url, fetcher.limits)
    except AppError as error:
        return error
