"""robots.txt verdicts, cached per origin and shared between threads."""

import threading
import time
from collections.abc import Callable
from urllib.robotparser import RobotFileParser

import httpx

from app.errors import RobotsDisallowed

# Loads an origin's robots.txt text; None means "no rules", i.e. allow everything.
RobotsLoader = Callable[[str], str | None]


class RobotsCache:
    """Answers "may we fetch this URL?" from each origin's robots.txt, cached with a TTL."""

    def __init__(
        self, user_agent: str, load: RobotsLoader, *, ttl: float = 3600.0, max_entries: int = 1024
    ) -> None:
        self._agent = user_agent
        self._load = load
        self._ttl = ttl
        self._max_entries = max_entries  # strangers choose the hosts: keep memory bounded
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, RobotFileParser | None]] = {}

    def check(self, url: str) -> None:
        """Raise RobotsDisallowed when the site's robots.txt forbids `url` to us."""
        rules = self._rules(url)
        if rules is not None and not rules.can_fetch(self._agent, url):
            raise RobotsDisallowed(f"robots.txt of the site disallows {url}")

    def _rules(self, url: str) -> RobotFileParser | None:
        robots_url = str(httpx.URL(url).copy_with(path="/robots.txt", query=None, fragment=None))
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(robots_url)
        if cached is not None and cached[0] > now:
            return cached[1]
        # Loaded outside the lock: one slow site must not stall every other fetch. Two
        # threads may load the same file at once; both get the same answer.
        rules = _parse(self._load(robots_url))
        with self._lock:
            self._entries.pop(robots_url, None)
            self._entries[robots_url] = (now + self._ttl, rules)
            while len(self._entries) > self._max_entries:
                del self._entries[next(iter(self._entries))]  # oldest first
        return rules


def _parse(text: str | None) -> RobotFileParser | None:
    if text is None:
        return None
    rules = RobotFileParser()
    rules.parse(text.splitlines())
    return rules
