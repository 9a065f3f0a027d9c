"""Queries, one named method each. In: plain values or ORM objects; out: ORM objects or ids."""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Select,
    column,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.models import (
    Article,
    ArticleRevision,
    ArticleUrl,
    FeedEntry,
    PageSnapshot,
    RelatedLinkRow,
    Source,
)
from app.repositories.bulk import in_many, insert_rows
from app.repositories.locks import lock_articles, lock_keys

READ_COLUMNS = (
    "id", "content_hash", "headline", "body", "url", "canonical_url", "authors", "published_at",
    "modified_at", "language", "description", "top_image", "tags", "extraction", "revision",
    "created_at", "updated_at",
)  # fmt: skip
ArticleRow = dict[str, Any]  # READ_COLUMNS, "source" (its name) and "related_links"


@dataclass(frozen=True)
class Page:
    items: Sequence[ArticleRow]
    has_more: bool


def source_key(name: str) -> str:
    return name.casefold()


@dataclass(frozen=True)
class Filters:
    """Listing, search and export filters; None means "any"."""

    source: str | None = None
    language: str | None = None
    domain: str | None = None
    published_after: datetime | None = None
    published_before: datetime | None = None
    collapse_duplicates: bool = False
    feed_id: int | None = None  # only articles fetched for this feed's entries


def conditions(filters: Filters) -> list[ColumnElement[bool]]:
    """WHERE clauses on `article` for the filters that are set."""
    where: list[ColumnElement[bool]] = []
    if filters.source is not None:
        source_id = select(Source.id).where(Source.key == source_key(filters.source))
        where.append(Article.source_id == source_id.scalar_subquery())
    if filters.language is not None:
        where.append(Article.language == filters.language.lower())
    if filters.domain is not None:
        where.append(Article.domain == filters.domain)
    if filters.published_after is not None:
        where.append(Article.published_at >= filters.published_after)
    if filters.published_before is not None:
        where.append(Article.published_at < filters.published_before)
    if filters.feed_id is not None:
        from_feed = select(FeedEntry.article_id).where(FeedEntry.feed_id == filters.feed_id)
        where.append(Article.id.in_(from_feed))
    if filters.collapse_duplicates:
        where.append(or_(Article.cluster_id.is_(None), Article.cluster_id == Article.id))
    return where


class ArticleRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, article_id: int) -> Article | None:
        return self.session.get(Article, article_id)

    def current(self, article_id: int) -> Article | None:
        """The article read from the database now, even if the session holds it already."""
        return self.session.get(Article, article_id, populate_existing=True)

    def require(self, article_id: int) -> Article:
        """The article, or NotFound."""
        article = self.get(article_id)
        if article is None:
            raise NotFound(f"no article with id {article_id}")
        return article

    # Reads for the API come as plain rows (a dict per article with its source name and
    # related links), not ORM objects: loading and then validating ORM instances cost about
    # three times as much for a page of articles.

    def read(self, article_id: int) -> ArticleRow:
        """The article as a row, or NotFound."""
        rows = self._rows(self._read_query().where(Article.id == article_id))
        if not rows:
            raise NotFound(f"no article with id {article_id}")
        return rows[0]

    def list_page(self, *, limit: int, before_id: int | None, filters: Filters) -> Page:
        """Newest first (by id), keyset-paginated: rows with id below `before_id`."""
        query = self._read_query().where(*conditions(filters))
        if before_id is not None:
            query = query.where(Article.id < before_id)
        rows = self._rows(query.order_by(Article.id.desc()).limit(limit + 1))
        return Page(items=rows[:limit], has_more=len(rows) > limit)

    def get_many(self, ids: Sequence[int]) -> list[ArticleRow]:
        """The articles with these ids, in the order given (missing ones left out)."""
        found = {r["id"]: r for r in self._rows(self._read_query().where(Article.id.in_(ids)))}
        return [found[i] for i in ids if i in found]

    def get_by_url_key(self, url_key: str) -> ArticleRow | None:
        query = self._read_query().join(ArticleUrl).where(ArticleUrl.url_key == url_key)
        rows = self._rows(query.limit(1))
        return rows[0] if rows else None

    def export_rows(self, filters: Filters, chunk: int = 1000) -> Iterator[ArticleRow]:
        """Every matching article, oldest first, streamed `chunk` rows at a time with one
        query for the links of each chunk (flat memory whatever the archive's size)."""
        query = (
            self._read_query()
            .where(*conditions(filters))
            .order_by(Article.id)
            .execution_options(yield_per=chunk)
        )
        for rows in self.session.execute(query).mappings().partitions():
            yield from self._with_links(rows)

    def _read_query(self) -> Select[Any]:
        columns = [getattr(Article, name) for name in READ_COLUMNS]
        return select(*columns, Source.name.label("source")).outerjoin(
            Source, Source.id == Article.source_id
        )

    def _rows(self, query: Select[Any]) -> list[ArticleRow]:
        return self._with_links(self.session.execute(query).mappings().all())

    def _with_links(self, rows: Sequence[RowMapping]) -> list[ArticleRow]:
        links = self._links_of([row["id"] for row in rows]) if rows else {}
        return [{**row, "related_links": links.get(row["id"], [])} for row in rows]

    def _links_of(self, ids: list[int]) -> dict[int, list[dict[str, str | None]]]:
        query = (
            select(RelatedLinkRow.article_id, RelatedLinkRow.title, RelatedLinkRow.url)
            .where(RelatedLinkRow.article_id.in_(ids))
            .order_by(RelatedLinkRow.article_id, RelatedLinkRow.position)
        )
        links: dict[int, list[dict[str, str | None]]] = {}
        for article_id, title, url in self.session.execute(query):
            links.setdefault(article_id, []).append({"title": title, "url": url})
        return links

    def count(self, filters: Filters) -> int:
        query = select(func.count()).select_from(Article).where(*conditions(filters))
        return self.session.execute(query).scalar_one()

    def find_existing(
        self, hashes: Iterable[str], url_keys: Iterable[str]
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Stored article ids by content hash and by normalized URL, for the values given:
        one statement (a round trip per article stored counts on the workers' path)."""
        hashes, url_keys = list(hashes), list(url_keys)
        revision, article, alias = (
            ArticleRevision.__table__,
            Article.__table__,
            ArticleUrl.__table__,
        )
        parts: list[Select[Any]] = []
        if hashes:
            # Earlier versions count too: an old text arriving again is that same article.
            # Tagged 0; the current texts (1) come after them and win.
            parts.append(
                select(literal(0), revision.c.content_hash, revision.c.article_id).where(
                    revision.c.content_hash.in_(hashes)
                )
            )
            parts.append(
                select(literal(1), article.c.content_hash, article.c.id).where(
                    article.c.content_hash.in_(hashes)
                )
            )
        if url_keys:
            parts.append(
                select(literal(2), alias.c.url_key, alias.c.article_id).where(
                    alias.c.url_key.in_(url_keys)
                )
            )
        by_hash: dict[str, int] = {}
        by_url: dict[str, int] = {}
        if not parts:
            return by_hash, by_url
        rows = self.session.execute(union_all(*parts)).all()
        for tag, key, article_id in sorted(rows, key=lambda row: row[0]):
            (by_url if tag == 2 else by_hash)[key] = article_id
        return by_hash, by_url

    def find_existing_locked(
        self, keys: Iterable[str], hashes: Iterable[str], url_keys: Iterable[str]
    ) -> tuple[dict[str, int], dict[str, int]]:
        """`find_existing`, after locking the identity `keys` until the transaction ends: on
        Postgres no other writer can then add what the lookup would find (see `locks`); on
        SQLite writers run one at a time anyway."""
        lock_keys(self.session, keys)
        return self.find_existing(hashes, url_keys)

    def lock_for_update(self, ids: Iterable[int]) -> set[int]:
        """Lock these articles' rows until the transaction ends; the ids that still exist."""
        return lock_articles(self.session, ids)

    def url_keys(self, article_id: int) -> list[str]:
        query = select(ArticleUrl.url_key).where(ArticleUrl.article_id == article_id)
        return list(self.session.scalars(query))

    def fetch_validators(self, url_key: str, url: str) -> tuple[int, str | None, str | None] | None:
        """(article id, ETag, Last-Modified) of the article at `url_key` if its last fetch was
        of exactly `url`: validators go back only to the URL that sent them."""
        query = (
            select(PageSnapshot.article_id, PageSnapshot.etag, PageSnapshot.last_modified)
            .join(ArticleUrl, ArticleUrl.article_id == PageSnapshot.article_id)
            .where(ArticleUrl.url_key == url_key, PageSnapshot.url == url)
        )
        row = self.session.execute(query).first()
        return (row[0], row[1], row[2]) if row else None

    def ensure_sources(self, names: Iterable[str]) -> dict[str, int]:
        """Ids of the sources named (case-insensitively), creating the missing ones."""
        wanted = {source_key(n): n for n in names}
        if not wanted:
            return {}
        found = self._source_ids(wanted)
        # In key order: two writers adding the same new sources wait for each other in the
        # same order, never in a circle.
        missing = [{"key": k, "name": wanted[k]} for k in sorted(wanted) if k not in found]
        if missing:
            stmt = self._dialect_insert(Source).on_conflict_do_nothing(index_elements=["key"])
            self.session.execute(stmt, missing)
            found = self._source_ids(wanted)
        return {name: found[key] for key, name in wanted.items()}

    def _source_ids(self, by_key: dict[str, str]) -> dict[str, int]:
        source = Source.__table__  # Core: every store asks, and skips the ORM layer
        query = select(source.c.key, source.c.id).where(source.c.key.in_(list(by_key)))
        return {key: source_id for key, source_id in self.session.execute(query)}

    def insert_articles(self, rows: list[dict[str, Any]]) -> list[int]:
        """Insert article rows; ids come back in the order of `rows`.

        Postgres: one INSERT ... RETURNING, ids in the order of the rows. SQLite: a plain
        executemany plus one lookup by the unique content hash, several times faster than
        INSERT ... RETURNING with ordered results there.
        """
        articles = Article.__table__
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = insert(articles).returning(articles.c.id, sort_by_parameter_order=True)
            return list(self.session.scalars(stmt, rows))
        # index the batch in FTS5 at once, not a statement per row (migration 0006)
        self.session.execute(text("INSERT INTO article_fts_deferred DEFAULT VALUES"))
        try:
            self.session.execute(insert(articles), rows)
        finally:
            self.session.execute(text("DELETE FROM article_fts_deferred"))
        hashes = [row["content_hash"] for row in rows]
        query = select(articles.c.content_hash, articles.c.id).where(
            articles.c.content_hash.in_(hashes)
        )
        ids = {digest: article_id for digest, article_id in self.session.execute(query)}
        ordered = [ids[digest] for digest in hashes]
        new = in_many(articles.c.id, ordered, "sqlite")
        fts = table("article_fts", column("rowid"), column("headline"), column("body"))
        chosen = select(articles.c.id, articles.c.headline, articles.c.body).where(new)
        self.session.execute(insert(fts).from_select(["rowid", "headline", "body"], chosen))
        return ordered

    def insert_links(self, rows: list[dict[str, Any]]) -> None:
        columns = ("article_id", "position", "title", "url")
        values = [tuple(row[c] for c in columns) for row in rows]
        insert_rows(self.session, RelatedLinkRow.__table__, columns, values)

    def replace_links(self, article_id: int, rows: list[dict[str, Any]]) -> None:
        self.session.execute(delete(RelatedLinkRow).where(RelatedLinkRow.article_id == article_id))
        self.session.expire_all()
        self.insert_links(rows)

    def insert_aliases(self, rows: list[dict[str, Any]], *, skip_taken: bool = False) -> None:
        """URL aliases; with `skip_taken`, keys another article already owns are left alone."""
        if not rows:
            return
        if skip_taken:
            stmt = self._dialect_insert(ArticleUrl).on_conflict_do_nothing(
                index_elements=["url_key"]
            )
            self.session.execute(stmt, rows)
        else:
            self.session.execute(insert(ArticleUrl.__table__), rows)

    def insert_snapshots(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(PageSnapshot.__table__), rows)

    def replace_snapshot(self, row: dict[str, Any]) -> None:
        """Insert or overwrite the article's snapshot in one statement (no window between a
        delete and an insert for a concurrent writer to fall into)."""
        stmt = self._dialect_insert(PageSnapshot)
        columns = {name: stmt.excluded[name] for name in row if name != "article_id"}
        self.session.execute(
            stmt.on_conflict_do_update(index_elements=["article_id"], set_=columns), row
        )

    def snapshot(self, article_id: int) -> PageSnapshot | None:
        return self.session.get(PageSnapshot, article_id)

    def revisions(self, article_id: int) -> Sequence[ArticleRevision]:
        query = (
            select(ArticleRevision)
            .where(ArticleRevision.article_id == article_id)
            .order_by(ArticleRevision.number)
        )
        return self.session.scalars(query).all()

    def revision(self, article_id: int, number: int) -> ArticleRevision | None:
        query = select(ArticleRevision).where(
            ArticleRevision.article_id == article_id, ArticleRevision.number == number
        )
        return self.session.scalars(query).first()

    def add_revision(self, revision: ArticleRevision) -> None:
        self.session.add(revision)
        self.session.flush()

    def delete(self, article_id: int) -> bool:
        result = self.session.execute(delete(Article).where(Article.id == article_id))
        return bool(cast(CursorResult[Any], result).rowcount)  # what DML statements return

    def _dialect_insert(self, model: type[Any]) -> Any:
        dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        return dialect.insert(model)
