"""What imports need beside the database, built from the settings: the fetch context (fetcher,
fetch threads, per-host slots) and the pool of parsing processes. The app builds them once at
start-up, the CLI once per command, so a URL item is fetched the same way by both."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.fetching import Fetcher, FetchLimits, parse_networks
from app.ingest.prepare import (
    FetchContext,
    OnFetchFailure,
    ignore_fetch_failure,
    make_fetch_context,
)
from app.ingest.processes import PreparePool


def fetch_limits(settings: Settings) -> FetchLimits:
    return FetchLimits(
        connect_timeout=settings.fetch_connect_timeout,
        read_timeout=settings.fetch_read_timeout,
        total_timeout=settings.fetch_total_timeout,
        max_redirects=settings.fetch_max_redirects,
        max_bytes=settings.fetch_max_bytes,
        user_agent=settings.fetch_user_agent,
        respect_robots=settings.fetch_respect_robots,
        allowed_networks=parse_networks(settings.fetch_allowed_networks),
    )


@contextmanager
def open_fetch_context(
    settings: Settings,
    sessions: sessionmaker[Session],
    on_fetch_failure: OnFetchFailure = ignore_fetch_failure,
) -> Iterator[FetchContext]:
    """A fetch context for the block; its fetcher and threads are closed at the end (threads
    still fetching are not waited for: their callers have gone). `on_fetch_failure` is told
    the reason of each failed fetch (the app counts them)."""
    fetcher = Fetcher(fetch_limits(settings))
    pool = ThreadPoolExecutor(settings.fetch_concurrency, thread_name_prefix="fetch")
    try:
        yield make_fetch_context(fetcher, pool, sessions, settings.fetch_per_host, on_fetch_failure)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        fetcher.close()


@contextmanager
def open_prepare_pool(settings: Settings) -> Iterator[PreparePool | None]:
    """IMPORT_PROCESSES worker processes for parsing import chunks (None: parse in-process)."""
    pool = PreparePool(settings.import_processes) if settings.import_processes else None
    try:
        yield pool
    finally:
        if pool is not None:
            pool.close()
