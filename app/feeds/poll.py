"""Polling one feed: conditional GET through the fetcher, parse, then one transaction that
records the new entries, defers their article fetches and sets the next poll.

    feed row ─▶ host slot ─▶ fetcher (If-None-Match / If-Modified-Since) ─▶ parse_feed
       ─▶ one transaction: new entries (known URLs linked, not fetched), fetch jobs,
          child sitemaps of an index (feeds of their own), schedule, counters, errors

A poll that fails (HTTP error, unreachable, not a feed) is recorded on the feed with an
exponential backoff; the poll job itself succeeds. Anything else (the database) raises, and
the job is retried.
"""

import hashlib
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from app.db import session_scope
from app.errors import AppError, UpstreamError
from app.feeds.politeness import host_key, host_slot
from app.feeds.schedule import Limits, backoff, freshness_floor, next_interval
from app.fetching import FetchedPage
from app.jobs.defer import Deferrer
from app.jobs.fairness import fair_priorities
from app.jobs.runtime import JobRuntime
from app.models import Feed, utcnow
from app.parsing.feed_models import FeedEntry, ParsedFeed
from app.parsing.feeds import parse_feed
from app.parsing.urls import normalize_url
from app.repositories import ArticleRepository, ChangeRepository
from app.repositories.feeds import FeedEntryRepository, FeedRepository, chunks

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)
POLL_TASK = "feeds:poll"
FETCH_TASK = "feeds:fetch"
# A queued poll holds its feed this long (next_poll_at moves by it): if the job is lost
# (failed for good), the scheduler queues the feed again after that; no feed is dropped.
POLL_LEASE = timedelta(minutes=15)
KEEP_ERRORS = 20  # recent errors kept per feed
MAX_KEY = 2048


@dataclass(frozen=True)
class PollResult:
    status: int | None  # HTTP status (304: not modified); None when nothing answered
    new_entries: int = 0
    fetches: int = 0
    error: str | None = None


def job_key(kind: str, value: str) -> str:
    """A short lock / queueing-lock key for a URL or a feed."""
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:24]}"


def poll_lock(feed_id: int) -> str:
    return f"poll:{feed_id}"


def defer_poll(deferrer: Deferrer, session: Session, feed_id: int) -> int | None:
    """Queue a poll of the feed in the session's transaction (None: one is queued already).
    Polls of one feed never run side by side (the lock), nor wait twice (queueing lock)."""
    return deferrer.defer(
        session,
        POLL_TASK,
        {"feed_id": feed_id},
        lock=f"feed:{feed_id}",
        queueing_lock=poll_lock(feed_id),
    )


def limits(work: JobRuntime) -> Limits:
    return Limits(work.settings.feed_min_interval, work.settings.feed_max_interval)


def poll(work: JobRuntime, feed_id: int) -> PollResult | None:
    """Poll the feed once (None if it is gone or paused)."""
    with work.sessions() as session:
        feed = FeedRepository(session).get(feed_id)
        if feed is None or feed.state != "active":
            return None
        url, etag, modified = feed.url, feed.etag, feed.last_modified
    started = time.monotonic()
    try:
        with host_slot(work, url):
            page = work.fetch.fetcher.fetch(
                url, etag=etag, last_modified=modified, accept=FEED_ACCEPT, media_types=None
            )
        parsed = None if page.not_modified else parse_feed(page.body, url, page.content_type)
    except AppError as error:
        return _failed(work, feed_id, error, time.monotonic() - started)
    with session_scope(work.write_sessions) as session:
        return _succeeded(work, session, feed_id, page, parsed, time.monotonic() - started)


def _failed(work: JobRuntime, feed_id: int, error: AppError, seconds: float) -> PollResult:
    status = error.http_status if isinstance(error, UpstreamError) else None
    freshness = (error.freshness if isinstance(error, UpstreamError) else None) or {}
    with session_scope(work.write_sessions) as session:
        feeds = FeedRepository(session)
        feed = feeds.current(feed_id)
        if feed is not None:
            now = utcnow()
            feed.error_count += 1
            feed.last_error = error.detail[:2000]
            feed.last_status = status
            feed.last_polled_at, feed.last_poll_seconds = now, seconds
            floor = freshness_floor(freshness, now, None)
            wait = backoff(limits(work), feed.error_count, floor, random.random())
            feed.next_poll_at = now + timedelta(seconds=wait)
            feeds.add_error(feed_id, now, status, feed.last_error, KEEP_ERRORS)
    return PollResult(status, error=error.detail)


def _succeeded(
    work: JobRuntime,
    session: Session,
    feed_id: int,
    page: FetchedPage,
    parsed: ParsedFeed | None,
    seconds: float,
) -> PollResult | None:
    feeds = FeedRepository(session)
    feed = feeds.current(feed_id)
    if feed is None:  # deleted while we fetched
        return None
    now = utcnow()
    new, fetches, dates = 0, 0, []
    if parsed is not None:
        feed.kind = parsed.kind
        feed.title = (parsed.title or feed.title or "")[:1000] or None
        feed.site_url = parsed.link if parsed.link and len(parsed.link) <= MAX_KEY else None
        feed.ttl = parsed.ttl_minutes * 60 if parsed.ttl_minutes else None
        if parsed.kind == "sitemapindex":
            new = _add_children(work, session, feed, parsed.sitemaps, now)
        else:
            new, fetches = _add_entries(work, session, feed, parsed.entries, now)
        dates = [e.published_at for e in parsed.entries if e.published_at is not None]
    feed.etag = _fit(page.etag, 1024) or (feed.etag if page.not_modified else None)
    feed.last_modified = _fit(page.last_modified, 255) or (
        feed.last_modified if page.not_modified else None
    )
    feed.last_status, feed.last_error, feed.error_count = page.status, None, 0
    feed.last_polled_at = feed.last_success_at = now
    feed.last_poll_seconds = seconds
    feed.entries_seen += new
    interval = next_interval(
        limits(work),
        previous=feed.interval,
        fixed=feed.fixed_interval,
        new_entries=new,
        dates=dates,
        now=now,
        floor=freshness_floor(page.freshness, now, feed.ttl),
        jitter=random.random(),
    )
    feed.interval = round(interval)
    feed.next_poll_at = now + timedelta(seconds=interval)
    return PollResult(page.status, new, fetches)


def _add_entries(
    work: JobRuntime, session: Session, feed: Feed, entries: tuple[FeedEntry, ...], now: datetime
) -> tuple[int, int]:
    """Record the entries the feed had not listed before; returns (new, fetch jobs)."""
    fresh: dict[str, FeedEntry] = {}
    for entry in entries:
        key = normalize_url(entry.link) if entry.link and len(entry.link) <= MAX_KEY else None
        if key and len(key) <= MAX_KEY:
            fresh.setdefault(key, entry)
    keys = list(fresh)
    for key in FeedEntryRepository(session).known_keys(feed.id, keys):
        del fresh[key]
    if not fresh:
        return 0, 0
    stored, buried = _archived(session, list(fresh))
    rows: list[dict[str, Any]] = []
    wanted: list[tuple[dict[str, Any], str | None]] = []
    hosts: list[str] = []
    for key, entry in fresh.items():
        article_id = stored.get(key)
        status = "known" if article_id else "deleted" if key in buried else "pending"
        rows.append(_entry_row(feed.id, key, entry, now, status, article_id))
        if status == "pending":
            wanted.append(({"url": entry.link}, job_key("url", key)))
            hosts.append(host_key(urlsplit(key).hostname or ""))
    FeedEntryRepository(session).insert(rows)
    # queued fairly by host: one publisher's many feeds must not hold every worker thread
    # on its politeness while other hosts' entries wait
    priorities = fair_priorities(session, FETCH_TASK, hosts) if hosts else None
    return len(rows), work.deferrer.defer_many(session, FETCH_TASK, wanted, priorities=priorities)


def _archived(session: Session, keys: list[str]) -> tuple[dict[str, int], set[str]]:
    """URLs the archive knows (aliases, canonical URLs) and URLs of deleted articles."""
    stored: dict[str, int] = {}
    buried: set[str] = set()
    articles, changes = ArticleRepository(session), ChangeRepository(session)
    for part in chunks(keys):
        stored |= articles.find_existing((), part)[1]
        buried |= {k.removeprefix("url:") for k in changes.tombstoned({f"url:{k}" for k in part})}
    return stored, buried


def _entry_row(
    feed_id: int, key: str, entry: FeedEntry, now: datetime, status: str, article_id: int | None
) -> dict[str, Any]:
    return {
        "feed_id": feed_id,
        "url": entry.link,
        "url_key": key,
        "title": entry.title,
        "authors": list(entry.authors),
        "published_at": entry.published_at,
        "summary": entry.summary,
        "first_seen_at": now,
        "status": status,
        "article_id": article_id,
    }


def _add_children(
    work: JobRuntime, session: Session, feed: Feed, sitemaps: tuple[str, ...], now: datetime
) -> int:
    """A sitemap index's child sitemaps become feeds of their own, polled now."""
    feeds = FeedRepository(session)
    known = feeds.child_url_keys(feed.id)
    added = 0
    for url in sitemaps[: work.settings.feed_max_child_sitemaps]:
        key = normalize_url(url) if len(url) <= MAX_KEY else None
        if not key or len(key) > MAX_KEY or key in known:
            continue
        known.add(key)
        held = now + POLL_LEASE  # by the poll deferred below
        values = {"url": url, "url_key": key, "parent_id": feed.id, "next_poll_at": held}
        child, created = feeds.add_or_get_existing(values)
        if created:
            defer_poll(work.deferrer, session, child.id)
            added += 1
    return added


def _fit(value: str | None, limit: int) -> str | None:
    return value if value is None or len(value) <= limit else None
