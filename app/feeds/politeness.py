"""A request slot on a host, from the database (app/repositories/hosts.py), so politeness
holds across all workers. A short wait is waited out; a long one hands the job back to the
queue (`RetryLater`) to run again when the host is free, instead of holding a worker."""

import random
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import datetime, timedelta
from functools import lru_cache
from urllib.parse import urlsplit

import idna
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings, parse_host_overrides
from app.db import session_scope
from app.fetching.pacing import gated
from app.jobs.engine import RetryLater
from app.jobs.runtime import JobRuntime
from app.models import utcnow
from app.repositories.hosts import HostRepository

SHORT_WAIT = 2.0  # seconds a job waits for its host before giving the worker back
SHORT_TRIES = 10  # short waits before giving the worker back all the same
LEASE_SLACK = 5.0  # seconds a lease outlives the longest fetch
# A turn older than this share of the host's delay (and at most STALE_TURN_MAX seconds) when
# its request is sent is taken again: the next turn comes `delay` after this one was taken,
# so a request sent late by x lands `delay - x` before the next.
STALE_TURN = 0.25
STALE_TURN_MAX = 0.02


def host_key(name: str) -> str:
    """A host name as `fetch_host` keys it: one key for every spelling of one host (any case,
    a trailing dot, Unicode or its IDNA form: the URL, the fetcher's connection and a
    hostile feed may each spell it differently), so no spelling gets a budget of its own."""
    name = name.lower().rstrip(".")
    if not name.isascii():  # left as it is if not a name the fetcher could connect to
        with suppress(idna.IDNAError, UnicodeError):
            name = idna.encode(name, uts46=True).decode("ascii")
    return name[:255]


def host_limits(settings: Settings, host: str) -> tuple[int, float]:
    """(concurrency, delay) for a host: FEED_HOST_OVERRIDES, else the defaults."""
    overrides = _overrides(settings.feed_host_overrides)
    for name in (host, host.removeprefix("www.")):
        if name in overrides:
            return overrides[name]
    return settings.feed_host_concurrency, settings.feed_host_delay


@lru_cache(maxsize=8)
def _overrides(value: str) -> dict[str, tuple[int, float]]:
    """FEED_HOST_OVERRIDES by host key, parsed once per value (asked at every request)."""
    return {host_key(name): limits for name, limits in parse_host_overrides(value).items()}


@contextmanager
def host_slot(work: JobRuntime, url: str) -> Iterator[None]:
    """Hold one of the host's request slots for the block; every request sent in it waits for
    its host's turn (`FEED_HOST_DELAY` apart, across all workers)."""
    host = host_key(urlsplit(url).hostname or "")
    concurrency, delay = host_limits(work.settings, host)
    hold = work.settings.fetch_total_timeout + LEASE_SLACK
    for attempt in range(1, SHORT_TRIES + 1):
        with session_scope(work.write_sessions) as session:
            now = utcnow()
            lease = HostRepository(session).acquire(host, now, concurrency, hold, SHORT_WAIT, delay)
        if lease.lease_id is not None:
            break
        assert lease.retry_at is not None
        wait = (lease.retry_at - now).total_seconds()
        if wait > SHORT_WAIT or attempt == SHORT_TRIES:
            later = lease.retry_at + timedelta(seconds=random.uniform(0, min(wait, 5.0) / 5))
            raise RetryLater(later, f"host {host} is busy")
        time.sleep(max(wait, 0.01) + random.uniform(0, 0.01))
    assert lease.lease_id is not None
    turns = _Turns(work.settings, work.write_sessions)
    if lease.turn_at is not None:
        turns.held(host, lease.turn_at)
    try:
        with gated(turns):
            yield
    finally:
        with session_scope(work.write_sessions) as session:
            HostRepository(session).release(lease.lease_id)


@contextmanager
def paced(settings: Settings, write_sessions: sessionmaker[Session]) -> Iterator[None]:
    """Every request the fetcher sends in the block (robots.txt and redirects included)
    waits for its host's turn: FEED_HOST_DELAY apart, across all workers and API processes."""
    with gated(_Turns(settings, write_sessions)):
        yield


def turns_for(work: JobRuntime) -> Callable[[str], AbstractContextManager[None]]:
    """A request slot (app/ingest/prepare.py's RequestSlot) for background fetches that wait
    for their host rather than hand their job back (an import chunk's URL items, many to a
    job): every request waits for its host's turn in the database, FEED_HOST_DELAY apart
    across all workers; how many at once per host is each process's FETCH_PER_HOST."""

    def slot(url: str) -> AbstractContextManager[None]:
        return paced(work.settings, work.write_sessions)

    return slot


class _Turns:
    """A request's turn on its host, taken in the database just before the request leaves
    (`__call__`), so that two requests reach the host `delay` apart whichever process sends
    them; and checked again as it is sent (`confirm`): a thread that lost the CPU between
    the two (a busy worker) would send late, closer to the next turn than `delay`, so a turn
    gone stale by then is given up for a new one."""

    def __init__(self, settings: Settings, write_sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.write_sessions = write_sessions
        self.taken: dict[str, datetime] = {}  # host -> when its turn was taken
        self.unused: set[str] = set()  # hosts whose turn was taken before their request

    def held(self, host: str, turn_at: datetime) -> None:
        """The host's turn was taken at `turn_at` (with a lease): the next request uses it."""
        self.taken[host] = turn_at
        self.unused.add(host)

    def __call__(self, url: str) -> None:
        host, delay = self._limits(urlsplit(url).hostname or "")
        if host in self.unused:
            self.unused.discard(host)
            return  # `confirm` still checks that the turn has not gone stale by the send
        self._take(host, delay)

    def _take(self, host: str, delay: float) -> None:
        while True:
            with session_scope(self.write_sessions) as session:
                retry_at = HostRepository(session).next_turn(host, self._clock(host), delay)
            if retry_at is None:
                return
            time.sleep(max((retry_at - utcnow()).total_seconds(), 0.001))

    def confirm(self, host: str) -> None:
        host, delay = self._limits(host)
        taken = self.taken.get(host)
        late = timedelta(seconds=min(delay * STALE_TURN, STALE_TURN_MAX))
        if taken is not None and utcnow() - taken > late:
            self._take(host, delay)

    def _limits(self, host: str) -> tuple[str, float]:
        host = host_key(host)
        return host, host_limits(self.settings, host)[1]

    def _clock(self, host: str) -> Callable[[], datetime]:
        def now() -> datetime:
            self.taken[host] = moment = utcnow()
            return moment

        return now
