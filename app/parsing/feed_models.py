"""What the feed and sitemap parsers return: one shape for every kind of document.

Frozen dataclasses rather than Pydantic models: a 50,000-URL sitemap would spend longer
validating than parsing, and nothing here comes from a caller that needs validating.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

FeedKind = Literal["rss", "atom", "jsonfeed", "sitemap", "sitemapindex", "news-sitemap"]


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One item, entry or sitemap URL; dates are timezone-aware UTC."""

    link: str | None  # absolute http(s), resolved against the feed URL; None if it had none
    title: str | None = None  # plain text (markup and entities resolved)
    authors: tuple[str, ...] = ()
    published_at: datetime | None = None  # falls back to the updated date when only that exists
    updated_at: datetime | None = None  # Atom <updated>, JSON date_modified, sitemap <lastmod>
    summary: str | None = None  # plain text, clipped
    id: str | None = None  # guid / Atom id / JSON id, as published
    publication: str | None = None  # Google News sitemaps: <news:publication><news:name>


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A feed, a sitemap or a sitemap index, normalized."""

    kind: FeedKind
    url: str  # the address the document was fetched from; relative links resolve against it
    title: str | None = None
    link: str | None = None  # the site the feed belongs to
    ttl_minutes: int | None = None  # RSS <ttl>, or sy:updatePeriod / sy:updateFrequency
    entries: tuple[FeedEntry, ...] = ()
    sitemaps: tuple[str, ...] = field(default=())  # a sitemap index's child sitemap URLs
    truncated: bool = False  # entries or sitemaps beyond the cap were dropped
