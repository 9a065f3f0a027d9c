"""The queue's and the feeds' state, read from the database into gauges when `/metrics` is
scraped: the same figures whichever API process answers, however many workers run."""

import logging
from datetime import UTC, datetime, timedelta

from prometheus_client import Gauge
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.repositories.feeds import FeedEntryRepository, FeedRepository
from app.repositories.jobs import JobRepository

log = logging.getLogger(__name__)

JOBS = Gauge(
    "jobs", "Jobs in the queue table, by status.", ["status"], multiprocess_mode="mostrecent"
)
QUEUE_DEPTH = Gauge(
    "job_queue_depth",
    "Jobs waiting (queued, not started; some scheduled later), by queue.",
    ["queue"],
    multiprocess_mode="mostrecent",
)
FEEDS = Gauge("feeds", "Feeds, by state.", ["state"], multiprocess_mode="mostrecent")
POLL_LAG = Gauge(
    "feed_poll_lag_seconds",
    "How long the most overdue active feed has been waiting for its poll.",
    multiprocess_mode="mostrecent",
)
FEED_ENTRIES_DAY = Gauge(
    "feed_entries_last_day",
    "Feed entries first seen in the last 24 hours, by status: pending (its fetch waits), "
    "stored (fetched and stored), known (already archived), failed, deleted (taken down). "
    "From the database: every worker's fetches, whichever API process answers.",
    ["status"],
    multiprocess_mode="mostrecent",
)
FEED_POLL_SECONDS_HOUR = Gauge(
    "feed_poll_seconds_last_hour",
    "Time the last poll of each feed polled in the last hour took (host slot, fetch, parse, "
    "store), from the database: mean and max.",
    ["stat"],
    multiprocess_mode="mostrecent",
)
ENTRY_STATUSES = ("pending", "stored", "known", "failed", "deleted")
_JOB_STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborting", "aborted")


def refresh_queue_gauges(engine: Engine) -> None:
    """Read the queue's and the feeds' state into the gauges; never raises."""
    try:
        with Session(engine) as session:
            counts = JobRepository(session).count_by_status()
            for status in _JOB_STATUSES:
                JOBS.labels(status=status).set(counts.get(status, 0))
            for queue, count in JobRepository(session).waiting_by_queue().items():
                QUEUE_DEPTH.labels(queue=queue).set(count)
            feeds = FeedRepository(session)
            states = feeds.count_by_state()
            for state in ("active", "paused"):
                FEEDS.labels(state=state).set(states.get(state, 0))
            now = datetime.now(UTC)
            overdue = feeds.most_overdue(now)
            POLL_LAG.set((now - overdue).total_seconds() if overdue else 0)
            seen = FeedEntryRepository(session).count_seen_since(
                now - timedelta(days=1), ENTRY_STATUSES
            )
            for status, count in seen.items():
                FEED_ENTRIES_DAY.labels(status=status).set(count)
            polls = feeds.poll_seconds_since(now - timedelta(hours=1))
            FEED_POLL_SECONDS_HOUR.labels(stat="mean").set(polls[0] if polls else 0)
            FEED_POLL_SECONDS_HOUR.labels(stat="max").set(polls[1] if polls else 0)
    except Exception:  # a scrape must never fail for this
        log.warning("queue metrics not refreshed", exc_info=True)
