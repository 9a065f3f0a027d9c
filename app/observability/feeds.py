"""Metrics of feed work, counted where it runs: the server's in-process worker (SQLite), or
each `python -m app worker` process (served with `--metrics-port`). The queue's and the
feeds' state come from the database at scrape time: see app/jobs/stats.py."""

from prometheus_client import Counter, Histogram

FEED_POLLS = Counter("feed_polls_total", "Feed polls, by outcome.", ["outcome"])
FEED_POLL_SECONDS = Histogram(
    "feed_poll_duration_seconds",
    "Time to poll a feed: host slot, fetch, parse, store.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
FEED_FETCHES = Counter(
    "feed_article_fetches_total", "Article fetches for feed entries, by outcome.", ["outcome"]
)


def record_poll(status: int | None, ok: bool, seconds: float) -> None:
    outcome = "error" if not ok else "not-modified" if status == 304 else "ok"
    FEED_POLLS.labels(outcome=outcome).inc()
    FEED_POLL_SECONDS.observe(seconds)


def record_fetch(status: str) -> None:
    FEED_FETCHES.labels(outcome=status).inc()
