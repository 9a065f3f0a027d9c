"""The pure parts of feed following: the schedule, the feed's metadata filling a page's gaps,
OPML in and out, per-host limits from the settings."""

from datetime import UTC, datetime, timedelta

import pytest

from app.config import Settings, parse_host_overrides
from app.errors import Unprocessable
from app.feeds.metadata import EntryMeta, fill_from_feed
from app.feeds.politeness import host_limits
from app.feeds.schedule import (
    Limits,
    backoff,
    freshness_floor,
    next_interval,
    retry_after,
    rhythm,
)
from app.parsing.opml import Outline, parse_opml, render_opml
from app.schemas import Extraction, NormalizedArticle

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
LIMITS = Limits(least=300, most=86400)


def _every(minutes: int, count: int) -> list[datetime]:
    return [NOW - timedelta(minutes=minutes * n) for n in range(count)]


def _interval(**given: object) -> float:
    values: dict[str, object] = {
        "previous": None, "fixed": None, "new_entries": 0, "dates": [], "now": NOW,
        "floor": 0.0, "jitter": 0.0,
    }  # fmt: skip
    return next_interval(LIMITS, **{**values, **given})  # type: ignore[arg-type]


def test_the_interval_follows_the_feeds_rhythm_within_the_limits() -> None:
    assert _interval(dates=_every(20, 10)) == 20 * 60
    assert _interval(dates=_every(1, 10)) == 300  # a busy feed: not more often than 5 min
    assert _interval(dates=_every(60 * 24 * 7, 5)) == 86400  # a weekly one: daily at least
    # a future date (a wrong clock) does not shorten it
    assert _interval(dates=[*_every(20, 5), NOW + timedelta(days=3)]) == 20 * 60


def test_without_dates_new_entries_halve_the_interval_and_none_lengthen_it() -> None:
    assert _interval(previous=3600, new_entries=3) == 1800
    assert _interval(previous=3600, new_entries=0) == 5400
    assert _interval(previous=None, new_entries=0) == 5400  # from the first guess, 1 h


def test_never_sooner_than_the_feed_asks_and_jitter_only_adds() -> None:
    assert _interval(dates=_every(20, 10), floor=7200) == 7200
    assert _interval(fixed=600) == 600
    assert _interval(fixed=10) == 300
    assert 1200 <= _interval(dates=_every(20, 10), jitter=0.99) <= 1200 * 1.1


def test_freshness_headers() -> None:
    headers = {"cache-control": "public, max-age=900"}
    assert freshness_floor(headers, NOW, None) == 900
    assert freshness_floor({}, NOW, 3600) == 3600
    expires = {"expires": "Mon, 07 Dec 2026 13:00:00 GMT", "date": "Mon, 07 Dec 2026 12:30:00 GMT"}
    assert freshness_floor(expires, NOW, None) == 1800
    assert freshness_floor({"expires": "0", "cache-control": "no-cache"}, NOW, None) == 0
    assert retry_after("120", NOW) == 120
    assert retry_after("Mon, 07 Dec 2026 12:05:00 GMT", NOW) == 300
    assert retry_after("soon", NOW) is None
    assert rhythm([NOW], NOW) is None


def test_failures_back_off_exponentially_up_to_the_cap() -> None:
    waits = [backoff(LIMITS, n, 0.0, 0.0) for n in range(1, 12)]
    assert waits[:4] == [300, 600, 1200, 2400]
    assert waits[-1] == 86400
    assert backoff(LIMITS, 1, floor=3600, jitter=0.0) == 3600  # Retry-After: 3600
    assert backoff(LIMITS, 10**6, 0.0, 0.0) == 86400  # no overflow, ever


def test_feed_metadata_fills_only_what_the_page_lacks() -> None:
    published = datetime(2026, 11, 1, tzinfo=UTC)
    meta = EntryMeta("Feed title", ("Ann Writer",), published, "A summary.")
    page = NormalizedArticle(
        headline="Page headline",
        body="Body.",
        extraction=Extraction(extractor="x", fields={"headline": "html"}),
    )
    filled = fill_from_feed(page, meta)
    assert filled.headline == "Page headline"
    assert filled.authors == ["Ann Writer"]
    assert filled.published_at == published
    assert filled.description == "A summary."
    assert filled.extraction is not None
    assert filled.extraction.fields == {
        "headline": "html", "authors": "feed", "published_at": "feed", "description": "feed"
    }  # fmt: skip
    complete = page.model_copy(update={"authors": ["B"], "published_at": NOW, "description": "d"})
    assert fill_from_feed(complete, meta) == complete


def test_opml_reads_nested_outlines_once_and_refuses_entities() -> None:
    document = (
        b'<?xml version="1.0"?><opml version="1.0"><body><outline text="folder">'
        b'<outline text="A" xmlUrl="https://a.example/feed"/></outline>'
        b'<outline title="A again" xmlUrl="https://a.example/feed"/>'
        b'<outline text="no feed here"/></body></opml>'
    )
    assert parse_opml(document) == [Outline("https://a.example/feed", "A", None, None)]
    bomb = b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaa">]><opml><body/></opml>'
    with pytest.raises(Unprocessable):
        parse_opml(bomb)
    with pytest.raises(Unprocessable):
        parse_opml(b"<rss><channel/></rss>")
    written = render_opml([Outline("https://a.example/f?x=1&y=2", "A & B")], "t", NOW)
    assert parse_opml(written) == [Outline("https://a.example/f?x=1&y=2", "A & B", None, "rss")]


def test_per_host_limits() -> None:
    assert parse_host_overrides(" a.example=4/0.5, b.example=1 ") == {
        "a.example": (4, 0.5),
        "b.example": (1, 0.0),
    }
    for junk in ("a.example", "a.example=x/1", "=1/1", "a.example=0/1"):
        with pytest.raises(ValueError, match="host=concurrency/delay"):
            parse_host_overrides(junk)
    settings = Settings(feed_host_overrides="news.example=3/2", feed_host_concurrency=1)
    assert host_limits(settings, "www.news.example") == (3, 2.0)
    assert host_limits(settings, "other.example") == (1, settings.feed_host_delay)
