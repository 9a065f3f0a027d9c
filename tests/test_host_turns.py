"""Per-host request turns (app/feeds/politeness.py): requests reach a host FEED_HOST_DELAY
apart even when a sender loses the CPU between taking its turn and sending its request."""

import time

from sqlalchemy import Engine

from app.config import Settings
from app.db import make_sessionmaker, writer
from app.feeds.politeness import host_key, paced
from app.fetching.pacing import before_request, before_send

HOST = "127.0.0.2"
URL = f"http://{HOST}:9/news/1.html"
DELAY = 0.3


def _sent_at(settings: Settings, db: Engine, stall: float = 0.0) -> float:
    """One worker's request: its turn, a stall of `stall` seconds, then its send."""
    with paced(settings, make_sessionmaker(writer(db))):
        before_request(URL)  # the fetcher, before it builds the request
        time.sleep(stall)  # the GIL elsewhere, a page being extracted beside it
        before_send(HOST)  # the socket, as the bytes leave
        return time.monotonic()


def test_a_request_sent_late_after_its_turn_takes_a_new_turn(db: Engine, settings: Settings):
    slow = settings.model_copy(update={"feed_host_delay": DELAY, "feed_host_overrides": ""})
    first = _sent_at(slow, db, stall=DELAY * 0.6)
    second = _sent_at(slow, db)
    # Sent as it was, the stalled request would have left 0.6 delay after its turn, and the
    # next one a single delay after that turn: 0.4 delay apart.
    assert second - first >= DELAY * 0.9


def test_a_request_sent_a_little_late_takes_a_new_turn_too(db: Engine, settings: Settings):
    """Late by a sixth of a 0.3 s delay (more than 20 ms): sent as it was, the next request
    would land 0.25 s after it, a sixth short of the host's delay."""
    slow = settings.model_copy(update={"feed_host_delay": DELAY, "feed_host_overrides": ""})
    first = _sent_at(slow, db, stall=DELAY / 6)
    second = _sent_at(slow, db)
    assert second - first >= DELAY * 0.9


def test_a_request_sent_on_time_keeps_its_turn(db: Engine, settings: Settings) -> None:
    slow = settings.model_copy(update={"feed_host_delay": DELAY, "feed_host_overrides": ""})
    first = _sent_at(slow, db)
    second = _sent_at(slow, db)
    third = _sent_at(slow, db)
    # one delay between each, not two: a fresh turn is not given up
    assert DELAY * 0.9 <= second - first < DELAY * 1.6
    assert DELAY * 0.9 <= third - second < DELAY * 1.6


def test_every_spelling_of_a_host_shares_one_politeness_budget() -> None:
    """A feed (or the fetcher's connection) may spell one host in any case, with a trailing
    dot, in Unicode or in its IDNA form: one key, so no spelling gets turns of its own."""
    spellings = ["пример.рф", "ПРИМЕР.РФ", "xn--e1afmkfd.xn--p1ai", "XN--E1AFMKFD.xn--p1ai."]
    assert {host_key(name) for name in spellings} == {"xn--e1afmkfd.xn--p1ai"}
    assert host_key("News.Example.COM.") == host_key("news.example.com") == "news.example.com"
    assert host_key("other.example.com") != host_key("news.example.com")
