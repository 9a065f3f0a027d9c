"""The feeds' background tasks: the scheduler, polls, and article fetches of new entries."""

import time
from datetime import datetime, timedelta

from procrastinate import JobContext
from sqlalchemy.orm import Session

from app.db import session_scope
from app.feeds.fetch import fetch_entry
from app.feeds.poll import FETCH_TASK, POLL_LEASE, POLL_TASK, defer_poll, job_key, poll
from app.jobs.registry import job_task, periodic_task, runtime
from app.jobs.runtime import JobRuntime
from app.models import utcnow
from app.observability.feeds import record_fetch, record_poll
from app.parsing.urls import normalize_url
from app.repositories.feeds import FeedEntryRepository, FeedRepository

DUE_BATCH = 500  # feeds queued per scheduler run at most; the next run takes the rest
SWEEP_EVERY = 300  # seconds between two looks for entries left without a fetch job
STRANDED_AFTER = timedelta(minutes=10)
STRANDED_WINDOW = timedelta(days=1)  # older ones failed for good: left as they are


@periodic_task("feeds:schedule", every=lambda settings: settings.job_tick_seconds)
def schedule_polls(context: JobContext, timestamp: int) -> int:
    """Queue a poll of every active feed whose time has come, and a fetch for entries left
    waiting without one; returns how many polls."""
    work = runtime(context)
    with session_scope(work.write_sessions) as session:
        feeds = FeedRepository(session)
        now = utcnow()
        due = feeds.due(now, DUE_BATCH)
        queued = sum(defer_poll(work.deferrer, session, feed_id) is not None for feed_id in due)
        feeds.postpone(due, now + POLL_LEASE)
        if timestamp % SWEEP_EVERY < work.settings.job_tick_seconds:
            _requeue_stranded(work, session, now)
    return queued


def _requeue_stranded(work: JobRuntime, session: Session, now: datetime) -> None:
    """Entries whose URL another feed listed in the same moment can miss that feed's fetch
    job (it ran before their transaction committed): queue one again. The queueing lock
    refuses it where a fetch still waits (scheduled retries included)."""
    urls = FeedEntryRepository(session).stranded(
        now - STRANDED_WINDOW, now - STRANDED_AFTER, DUE_BATCH
    )
    wanted = [({"url": url}, job_key("url", normalize_url(url) or url)) for url in urls]
    work.deferrer.defer_many(session, FETCH_TASK, wanted)


@job_task(POLL_TASK, queue="feeds")
def poll_feed(context: JobContext, feed_id: int) -> str | None:
    """Poll one feed: new entries become fetch jobs; the next poll is scheduled."""
    started = time.monotonic()
    result = poll(runtime(context), feed_id)
    if result is not None:
        record_poll(result.status, result.error is None, time.monotonic() - started)
    return None if result is None else str(result.status)


@job_task(FETCH_TASK, queue="articles")
def fetch_article(context: JobContext, url: str) -> str | None:
    """Fetch, extract and store the article of a feed entry."""
    work = runtime(context)
    last = context.job.attempts >= work.settings.job_retry_attempts
    outcome = fetch_entry(work, url, last_attempt=last)
    if outcome is not None:
        record_fetch(outcome.status)
    return None if outcome is None else outcome.status
