"""A token bucket per caller (API key id, or client address), held in this process.

In memory rather than in the database: a shared counter would cost a write per request, and
on SQLite every write takes the one database-wide write lock that imports also need. The
price: with several worker processes each one limits on its own, so a caller may get up to
workers x RATE_LIMIT_PER_MINUTE; divide the setting by the number of workers if that
matters. A restart forgets the buckets (everyone starts full).
"""

import math
import threading
import time
from collections.abc import Callable

MAX_BUCKETS = 10_000  # beyond this, buckets that are full again are forgotten


class RateLimiter:
    """`per_minute` requests a minute, in bursts of up to `per_minute`; 0 means no limit."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, at)
        self._lock = threading.Lock()

    def acquire(self, caller: str) -> int:
        """Take a token: 0 when the request may go ahead, else the seconds to wait (>= 1)."""
        if self.capacity <= 0:
            return 0
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(caller, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._buckets[caller] = (tokens - 1, now)
                if len(self._buckets) > MAX_BUCKETS:
                    self._forget_full(now)
                return 0
            self._buckets[caller] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self.rate))

    def _forget_full(self, now: float) -> None:
        refill = self.capacity / self.rate  # seconds for an empty bucket to fill up
        self._buckets = {c: b for c, b in self._buckets.items() if now - b[1] < refill}
