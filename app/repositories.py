"""Queries, one named method each. In: plain values or ORM objects; out: ORM objects or ids."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import Article, RelatedLinkRow, Source


@dataclass(frozen=True)
class Page:
    items: Sequence[Article]
    has_more: bool


def source_key(name: str) -> str:
    return name.casefold()


class ArticleRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, article_id: int) -> Article | None:
        return self.session.get(Article, article_id)

    def list_page(self, *, limit: int, before_id: int | None, source: str | None) -> Page:
        """Newest first (by id), keyset-paginated: rows with id below `before_id`."""
        query = select(Article).order_by(Article.id.desc()).limit(limit + 1)
        if before_id is not None:
            query = query.where(Article.id < before_id)
        if source is not None:
            query = query.join(Article.source_ref).where(Source.key == source_key(source))
        rows = self.session.scalars(query).all()
        return Page(items=rows[:limit], has_more=len(rows) > limit)

    def find_existing(
        self, hashes: Iterable[str], canonical_urls: Iterable[str]
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Stored article ids by content hash and by canonical URL, for the values given."""
        hashes, canonical_urls = list(hashes), list(canonical_urls)
        if not hashes and not canonical_urls:
            return {}, {}
        query = select(Article.id, Article.content_hash, Article.canonical_url).where(
            or_(Article.content_hash.in_(hashes), Article.canonical_url.in_(canonical_urls))
        )
        by_hash: dict[str, int] = {}
        by_url: dict[str, int] = {}
        for article_id, digest, canonical in self.session.execute(query):
            by_hash[digest] = article_id
            if canonical is not None:
                by_url[canonical] = article_id
        return by_hash, by_url

    def ensure_sources(self, names: Iterable[str]) -> dict[str, int]:
        """Ids of the sources named (case-insensitively), creating the missing ones."""
        wanted = {source_key(n): n for n in names}
        if not wanted:
            return {}
        found = self._source_ids(wanted)
        missing = [{"key": k, "name": n} for k, n in wanted.items() if k not in found]
        if missing:
            dialect = postgresql if self.session.bind.dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(Source).on_conflict_do_nothing(index_elements=["key"])
            self.session.execute(stmt, missing)
            found = self._source_ids(wanted)
        return {name: found[key] for key, name in wanted.items()}

    def _source_ids(self, by_key: dict[str, str]) -> dict[str, int]:
        query = select(Source.key, Source.id).where(Source.key.in_(list(by_key)))
        return {key: source_id for key, source_id in self.session.execute(query)}

    def insert_articles(self, rows: list[dict[str, Any]]) -> list[int]:
        """Insert article rows; ids come back in the order of `rows`.

        A plain executemany plus one lookup by the unique content hash is several times
        faster than INSERT ... RETURNING with ordered results on SQLite.
        """
        self.session.execute(insert(Article.__table__), rows)
        hashes = [row["content_hash"] for row in rows]
        query = select(Article.content_hash, Article.id).where(Article.content_hash.in_(hashes))
        ids = {digest: article_id for digest, article_id in self.session.execute(query)}
        return [ids[digest] for digest in hashes]

    def insert_links(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(RelatedLinkRow.__table__), rows)

    def delete(self, article_id: int) -> bool:
        result = self.session.execute(delete(Article).where(Article.id == article_id))
        return bool(result.rowcount)
