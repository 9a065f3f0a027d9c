"""Feeds, their entries and recent errors: one named query per method. Flush, never commit."""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.models import Feed, FeedEntry, FeedError

LOOKUP_CHUNK = 500  # keys per IN (...): far below SQLite's and Postgres's parameter limits


@dataclass(frozen=True)
class FeedFilters:
    """GET /v1/feeds filters; None means "any"."""

    state: str | None = None
    kind: str | None = None
    failing: bool | None = None  # error_count > 0
    parent_id: int | None = None
    top_level: bool = False  # only feeds that are not children of a sitemap index


@dataclass(frozen=True)
class FeedPage:
    items: Sequence[Feed]
    has_more: bool


def chunks(values: Sequence[str], size: int = LOOKUP_CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class FeedRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, feed_id: int) -> Feed | None:
        return self.session.get(Feed, feed_id)

    def require(self, feed_id: int) -> Feed:
        """The feed, or NotFound."""
        feed = self.get(feed_id)
        if feed is None:
            raise NotFound(f"no feed with id {feed_id}")
        return feed

    def current(self, feed_id: int) -> Feed | None:
        """The feed as the database has it now, its row locked for this transaction
        (Postgres; SQLite's writers take turns anyway)."""
        query = (
            select(Feed)
            .where(Feed.id == feed_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return self.session.scalars(query).first()

    def get_by_url_key(self, url_key: str) -> Feed | None:
        return self.session.scalars(select(Feed).where(Feed.url_key == url_key)).first()

    def add_or_get_existing(self, values: dict[str, Any]) -> tuple[Feed, bool]:
        """Insert a feed (in a savepoint); the stored one if its url_key is taken."""
        try:
            with self.session.begin_nested():
                feed = Feed(**values)
                self.session.add(feed)
                self.session.flush()
            return feed, True
        except IntegrityError:
            existing = self.get_by_url_key(values["url_key"])
            if existing is None:
                raise
            return existing, False

    def list_page(self, *, limit: int, after_id: int | None, filters: FeedFilters) -> FeedPage:
        """Oldest first (by id), keyset-paginated: feeds with id above `after_id`."""
        query = select(Feed)
        if filters.state is not None:
            query = query.where(Feed.state == filters.state)
        if filters.kind is not None:
            query = query.where(Feed.kind == filters.kind)
        if filters.failing is not None:
            failing = Feed.error_count > 0
            query = query.where(failing if filters.failing else ~failing)
        if filters.parent_id is not None:
            query = query.where(Feed.parent_id == filters.parent_id)
        if filters.top_level:
            query = query.where(Feed.parent_id.is_(None))
        if after_id is not None:
            query = query.where(Feed.id > after_id)
        rows = list(self.session.scalars(query.order_by(Feed.id).limit(limit + 1)))
        return FeedPage(items=rows[:limit], has_more=len(rows) > limit)

    def top_level(self) -> Iterator[Feed]:
        """Every subscription an operator made (children of sitemap indexes left out)."""
        query = select(Feed).where(Feed.parent_id.is_(None)).order_by(Feed.id)
        yield from self.session.scalars(query.execution_options(yield_per=500))

    def due(self, now: datetime, limit: int) -> list[int]:
        """Active feeds whose next poll time has come, the most overdue first."""
        query = (
            select(Feed.id)
            .where(Feed.state == "active", Feed.next_poll_at <= now)
            .order_by(Feed.next_poll_at)
            .limit(limit)
        )
        return list(self.session.scalars(query))

    def postpone(self, feed_ids: Sequence[int], until: datetime) -> None:
        """Move the next poll of these feeds to `until` (a poll job now holds them)."""
        if feed_ids:
            self.session.execute(
                update(Feed).where(Feed.id.in_(feed_ids)).values(next_poll_at=until)
            )

    def credit(self, feed_ids: Iterable[int], created: int = 1) -> None:
        """Count an article created from these feeds' entries."""
        ids = sorted(set(feed_ids))
        if ids:
            feed = Feed.__table__  # a Core statement: no ORM session to synchronize
            self.session.execute(
                update(feed)
                .where(feed.c.id.in_(ids))
                .values(articles_created=feed.c.articles_created + created)
            )

    def child_url_keys(self, parent_id: int) -> set[str]:
        return set(self.session.scalars(select(Feed.url_key).where(Feed.parent_id == parent_id)))

    def count_by_state(self) -> dict[str, int]:
        query = select(Feed.state, func.count()).group_by(Feed.state)
        return {state: count for state, count in self.session.execute(query).all()}

    def most_overdue(self, now: datetime) -> datetime | None:
        """The oldest next-poll time of an active feed that is due (the scheduler's lag)."""
        query = select(func.min(Feed.next_poll_at)).where(
            Feed.state == "active", Feed.next_poll_at <= now
        )
        return self.session.scalar(query)

    def poll_seconds_since(self, since: datetime) -> tuple[float, float] | None:
        """(mean, longest) time of the last poll of the feeds polled since `since`."""
        query = select(func.avg(Feed.last_poll_seconds), func.max(Feed.last_poll_seconds)).where(
            Feed.last_polled_at >= since, Feed.last_poll_seconds.is_not(None)
        )
        mean, longest = self.session.execute(query).one()
        return None if mean is None else (float(mean), float(longest))

    def delete(self, feed: Feed) -> None:
        self.session.delete(feed)
        self.session.flush()

    # -- recent errors ---------------------------------------------------------------

    def add_error(
        self, feed_id: int, at: datetime, status: int | None, error: str, keep: int
    ) -> None:
        """Record a failed poll, keeping the newest `keep` of the feed's errors."""
        self.session.execute(
            insert(FeedError).values(feed_id=feed_id, at=at, status=status, error=error)
        )
        newest = (
            select(FeedError.id)
            .where(FeedError.feed_id == feed_id)
            .order_by(FeedError.id.desc())
            .limit(keep)
        )
        self.session.execute(
            delete(FeedError).where(FeedError.feed_id == feed_id, FeedError.id.not_in(newest))
        )

    def recent_errors(self, feed_id: int, limit: int) -> list[FeedError]:
        query = (
            select(FeedError)
            .where(FeedError.feed_id == feed_id)
            .order_by(FeedError.id.desc())
            .limit(limit)
        )
        return list(self.session.scalars(query))


class FeedEntryRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def known_keys(self, feed_id: int, url_keys: Sequence[str]) -> set[str]:
        """Which of these entry keys the feed has listed before."""
        found: set[str] = set()
        for part in chunks(url_keys):
            query = select(FeedEntry.url_key).where(
                FeedEntry.feed_id == feed_id, FeedEntry.url_key.in_(part)
            )
            found.update(self.session.scalars(query))
        return found

    def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(FeedEntry), list(rows))

    def first_waiting(
        self, url_key: str
    ) -> tuple[str | None, list[str] | None, datetime | None, str | None] | None:
        """(title, authors, published_at, summary) of the first entry (of any feed) listing
        this URL whose article is not stored yet; None if none waits."""
        entry = FeedEntry.__table__.c
        query = (
            select(entry.title, entry.authors, entry.published_at, entry.summary)
            .where(entry.url_key == url_key, entry.status.in_(("pending", "failed")))
            .order_by(entry.id)
            .limit(1)
        )
        row = self.session.execute(query).first()
        return None if row is None else (row.title, row.authors, row.published_at, row.summary)

    def settle_waiting(
        self, url_key: str, status: str, article_id: int | None, error: str | None
    ) -> list[int]:
        """Settle every entry waiting for this URL's article (as `first_waiting` finds them), in
        one statement; the feed ids of the entries settled."""
        entry = FeedEntry.__table__  # a Core statement: no ORM session to synchronize
        query = (
            update(entry)
            .where(entry.c.url_key == url_key, entry.c.status.in_(("pending", "failed")))
            .values(status=status, article_id=article_id, error=error)
            .returning(entry.c.feed_id)
        )
        return list(self.session.scalars(query))

    def stranded(self, seen_after: datetime, seen_before: datetime, limit: int) -> list[str]:
        """URLs of entries still waiting for their article, first seen in this window."""
        query = (
            select(FeedEntry.url)
            .where(
                FeedEntry.status == "pending",
                FeedEntry.first_seen_at > seen_after,
                FeedEntry.first_seen_at < seen_before,
            )
            .order_by(FeedEntry.first_seen_at)
            .limit(limit)
        )
        return list(dict.fromkeys(self.session.scalars(query)))

    def count_seen_since(self, since: datetime, statuses: Sequence[str]) -> dict[str, int]:
        """Entries first seen since `since`, by status: one range of the (status,
        first_seen_at) index each, so the cost is the period's entries, not the table's."""
        return {
            status: self.session.scalar(
                select(func.count())
                .select_from(FeedEntry)
                .where(FeedEntry.status == status, FeedEntry.first_seen_at >= since)
            )
            or 0
            for status in statuses
        }

    def count_by_status(self, feed_id: int) -> dict[str, int]:
        query = (
            select(FeedEntry.status, func.count())
            .where(FeedEntry.feed_id == feed_id)
            .group_by(FeedEntry.status)
        )
        return {status: count for status, count in self.session.execute(query).all()}
