"""The change feed and the tombstones that keep deleted articles from coming back."""

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import Change, Tombstone, utcnow

# Postgres: writers that record changes take this transaction-level lock first, so change
# ids commit in order and a reader never skips an id that commits late. (SQLite writers
# are serialized by the database lock already.)
_CHANGE_LOCK = 7_305_441


class ChangeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"

    def record(self, events: Iterable[tuple[int, str]]) -> None:
        """Append (article id, kind) events: created, updated or deleted."""
        rows = [{"article_id": a, "kind": k, "at": utcnow()} for a, k in events]
        if not rows:
            return
        if self.postgres:
            self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHANGE_LOCK})
        self.session.execute(insert(Change.__table__), rows)

    def since(self, after: int, limit: int) -> Sequence[Change]:
        query = select(Change).where(Change.id > after).order_by(Change.id).limit(limit)
        return self.session.scalars(query).all()

    def tombstoned(self, keys: Iterable[str]) -> dict[str, int]:
        """Deleted article ids by identity key (hash:… or url:…), for the keys given."""
        keys = list(keys)
        if not keys:
            return {}
        tombstone = Tombstone.__table__  # Core: every store asks, and skips the ORM layer
        query = select(tombstone.c.key, tombstone.c.article_id).where(tombstone.c.key.in_(keys))
        return {key: article_id for key, article_id in self.session.execute(query)}

    def bury(self, article_id: int, keys: Iterable[str]) -> None:
        rows = [{"key": k, "article_id": article_id, "deleted_at": utcnow()} for k in set(keys)]
        if rows:
            dialect = postgresql if self.postgres else sqlite
            stmt = dialect.insert(Tombstone).on_conflict_do_nothing(index_elements=["key"])
            self.session.execute(stmt, rows)

    def unbury(self, keys: Sequence[str]) -> None:
        if keys:
            self.session.execute(delete(Tombstone).where(Tombstone.key.in_(keys)))
