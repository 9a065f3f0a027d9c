"""Fetching the article of a feed entry: the existing fetch -> extract -> store path, with
the feed's metadata filling what the page lacks, and every entry listing the URL linked to
the stored article in the same transaction (so a job killed midway left nothing half-done,
and its retry finds the work done or does all of it)."""

from dataclasses import replace
from functools import partial

from sqlalchemy.orm import Session

from app.db import session_scope
from app.errors import AppError, UpstreamError, UrlRefused
from app.feeds.metadata import EntryMeta, fill_from_feed
from app.feeds.politeness import host_slot
from app.ingest import Outcome, Prepared, prepare, store
from app.jobs.runtime import JobRuntime
from app.observability import record_outcomes
from app.parsing.urls import normalize_url
from app.repositories import ArticleRepository
from app.repositories.feeds import FeedEntryRepository, FeedRepository
from app.schemas import ArticleIn


def retryable(error: AppError) -> bool:
    """A failure another attempt may not meet: the site timed out, was unreachable or
    answered 5xx / 429. Refused URLs, robots.txt, 4xx and unusable pages are final."""
    if isinstance(error, UrlRefused) or not isinstance(error, UpstreamError):
        return False
    status = error.http_status
    return status is None or status >= 500 or status == 429


def fetch_entry(work: JobRuntime, url: str, last_attempt: bool) -> Outcome | None:
    """Store the article at `url` for the entries waiting for it; None if none waits.
    Raises the fetch error when another attempt may succeed and this is not the last."""
    key = normalize_url(url) or url
    with work.sessions() as session:
        waiting = FeedEntryRepository(session).first_waiting(key)
        if waiting is None:
            return None  # another job stored it (or the feed was deleted)
        known = ArticleRepository(session).find_existing((), [key])[1].get(key)
    title, authors, published_at, summary = waiting
    meta = EntryMeta(title, tuple(authors or ()), published_at, summary)
    if known is not None:
        return _settle(work, key, Outcome("duplicate", known), "known")
    # Not stored under this URL (just looked up), so no validators to ask the database for;
    # the host's request slot (in the database, for every worker) is held for the fetch only.
    context = replace(work.fetch, last_fetch=_never_fetched, request_slot=partial(host_slot, work))
    item = prepare(ArticleIn(url=url), context)
    if isinstance(item, AppError):
        if retryable(item) and not last_attempt:
            raise item
        return _settle(work, key, Outcome("error", error=item.detail), "failed")
    if isinstance(item, Prepared):
        item = replace(item, article=fill_from_feed(item.article, meta))
    with session_scope(work.write_sessions) as session:
        outcome = store(session, [item])[0]
        _link(session, key, outcome)
    record_outcomes([outcome])
    return outcome


def _never_fetched(url_key: str, url: str) -> None:
    return None


def _settle(work: JobRuntime, key: str, outcome: Outcome, status: str) -> Outcome:
    with session_scope(work.write_sessions) as session:
        FeedEntryRepository(session).settle_waiting(key, status, outcome.article_id, outcome.error)
    return outcome


def _link(session: Session, key: str, outcome: Outcome) -> None:
    entries = FeedEntryRepository(session)
    if outcome.status == "error" or outcome.article_id is None:
        entries.settle_waiting(key, "failed", None, outcome.error)
        return
    if outcome.status == "deleted":  # a takedown: the article is gone, its id with it
        entries.settle_waiting(key, "deleted", None, None)
        return
    feed_ids = entries.settle_waiting(key, "stored", outcome.article_id, None)
    if outcome.status == "created":
        FeedRepository(session).credit(feed_ids)
