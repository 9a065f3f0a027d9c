"""The feed API's request and response models (the ORM rows are app.models.Feed, ...)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas import Url

FeedState = Literal["active", "paused"]
FeedKindName = Literal["rss", "atom", "jsonfeed", "sitemap", "sitemapindex", "news-sitemap"]
MIN_FIXED_INTERVAL = 60  # seconds
MAX_FIXED_INTERVAL = 7 * 86400


class FeedCreate(BaseModel):
    """A feed or sitemap to follow, or a site's page to find them on."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"url": "https://example.com/feed.xml"},
                {"url": "https://example.com/", "kind": "sitemap"},
            ]
        },
    )

    url: Url = Field(
        description="A feed (RSS, Atom, JSON Feed), a sitemap, a sitemap index or a news "
        "sitemap; or an HTML page, whose declared feeds (<link rel=alternate>) and whose "
        "site's sitemaps (robots.txt) are found and subscribed to."
    )
    kind: Literal["feed", "sitemap"] | None = Field(
        None,
        description="For a page: subscribe to its feeds (`feed`) or its site's sitemaps "
        "(`sitemap`). Default: the feeds, or the sitemaps if it declares no feed.",
    )


class FeedUpdate(BaseModel):
    """Pause or resume a feed, or fix its polling interval."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"state": "paused"}, {"interval": 900}]},
    )

    state: FeedState | None = Field(None, description="`paused` stops polling; `active` resumes.")
    interval: int | None = Field(
        None,
        ge=MIN_FIXED_INTERVAL,
        le=MAX_FIXED_INTERVAL,
        description="Poll every this many seconds instead of the adaptive schedule (still "
        "never sooner than the feed's own ttl, Cache-Control, Expires or Retry-After). "
        "`null` returns to the adaptive schedule.",
    )


class FeedErrorRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    status: int | None = Field(description="HTTP status of the failed poll, if one came back.")
    error: str


class FeedRead(BaseModel):
    """A subscription and its state."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    kind: FeedKindName | None = Field(description="Known after the first successful poll.")
    title: str | None
    site_url: str | None
    parent_id: int | None = Field(description="The sitemap index that listed this sitemap.")
    state: FeedState
    fixed_interval: int | None = Field(description="Seconds, when an operator fixed it.")
    interval: int | None = Field(description="Seconds between polls, as last scheduled.")
    ttl: int | None = Field(description="Seconds the feed asks between polls (<ttl>).")
    etag: str | None
    last_modified: str | None
    last_status: int | None = Field(description="HTTP status of the last poll (304: unchanged).")
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_poll_seconds: float | None
    next_poll_at: datetime | None
    error_count: int = Field(description="Failed polls in a row (the backoff grows with it).")
    last_error: str | None
    entries_seen: int
    articles_created: int
    created_at: datetime


class FeedDetail(FeedRead):
    recent_errors: list[FeedErrorRead] = Field(description="The newest failed polls first.")


class FeedPage(BaseModel):
    items: list[FeedRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: done.")


class FoundFeed(BaseModel):
    url: str
    kind: str = Field(description="rss, atom, jsonfeed (declared) or sitemap (robots.txt), ...")
    title: str | None = None
    found_in: Literal["document", "link", "robots.txt"] = Field(
        description="`document`: the URL itself; `link`: <link rel=alternate> of the page; "
        "`robots.txt`: a Sitemap: line of the site's robots.txt."
    )


class Subscribed(BaseModel):
    """What the URL turned out to be, what was found, and the feeds now followed."""

    feeds: list[FeedRead]
    created: int = Field(description="How many of `feeds` are new subscriptions.")
    found: list[FoundFeed]


class OpmlImported(BaseModel):
    created: int
    existing: int
    refused: list[str] = Field(description="Outline URLs that cannot be fetched, with why.")


class PollQueued(BaseModel):
    queued: bool = Field(description="False when a poll of this feed was already waiting.")
