"""When to poll a feed next. Pure: times and header values in, seconds out.

interval  = the feed's own rhythm: the median gap between its newest entries' dates
            (without dates: halved when a poll found new entries, else x1.5)
          | an operator's fixed interval
clamped   to [FEED_MIN_INTERVAL, FEED_MAX_INTERVAL], plus up to 10 % jitter
never sooner than the feed asks: <ttl> / sy:updatePeriod, Cache-Control max-age,
          Expires, Retry-After
failures  back off exponentially from FEED_MIN_INTERVAL, capped at FEED_MAX_INTERVAL
          (and never before a Retry-After); the feed keeps being polled
"""

import itertools
import re
import statistics
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

DATED_ENTRIES = 10  # the newest entries whose dates measure the feed's rhythm
FIRST_INTERVAL = 3600.0  # seconds, before anything is known of a feed without dates
JITTER = 0.1
_MAX_AGE = re.compile(r"(?:^|[,\s])(?:s-maxage|max-age)\s*=\s*\"?(\d{1,10})", re.IGNORECASE)


@dataclass(frozen=True)
class Limits:
    least: float  # FEED_MIN_INTERVAL
    most: float  # FEED_MAX_INTERVAL


def http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else None


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a Retry-After value asks us to wait (delta-seconds or an HTTP date)."""
    value = (value or "").strip()
    if value.isdigit():
        return float(value[:10])
    when = http_date(value)
    return max(0.0, (when - now).total_seconds()) if when else None


def freshness_floor(headers: dict[str, str], now: datetime, ttl: float | None) -> float:
    """The soonest, in seconds from now, that the feed wants to be asked again."""
    floors = [ttl or 0.0]
    if match := _MAX_AGE.search(headers.get("cache-control", "")):
        floors.append(float(match[1]))
    expires = http_date(headers.get("expires"))
    if expires is not None:
        origin = http_date(headers.get("date")) or now  # Expires is relative to the Date
        floors.append((expires - origin).total_seconds())
    floors.append(retry_after(headers.get("retry-after"), now) or 0.0)
    return max(floors)


def rhythm(dates: list[datetime], now: datetime) -> float | None:
    """The median gap in seconds between the newest dated entries (future dates ignored)."""
    newest = sorted({d for d in dates if d <= now}, reverse=True)[:DATED_ENTRIES]
    if len(newest) < 2:
        return None
    gaps = [(a - b).total_seconds() for a, b in itertools.pairwise(newest)]
    return float(statistics.median(gaps))


def next_interval(
    limits: Limits,
    *,
    previous: float | None,
    fixed: float | None,
    new_entries: int,
    dates: list[datetime],
    now: datetime,
    floor: float,
    jitter: float,
) -> float:
    """Seconds until the next poll after a successful one; `jitter` is a draw in [0, 1)."""
    if fixed is not None:
        interval = max(fixed, limits.least)
    else:
        measured = rhythm(dates, now)
        if measured is None:
            base = previous or FIRST_INTERVAL
            measured = base / 2 if new_entries else base * 1.5
        interval = min(max(measured, limits.least), limits.most)
    return max(interval * (1 + JITTER * jitter), floor)


def backoff(limits: Limits, errors: int, floor: float, jitter: float) -> float:
    """Seconds until the next poll after the `errors`-th failure in a row."""
    wait = min(limits.least * 2.0 ** max(0, min(errors - 1, 40)), limits.most)
    return max(wait * (1 + JITTER * jitter), floor)
