"""SQLAlchemy models: articles, the sources they credit, and their related links."""

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite drops offsets)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Every model here maps one Table (no joined or custom selectables): say so for mypy,
    # which otherwise sees the declarative default, any FromClause.
    __table__: ClassVar[Table]


class Source(Base):
    __tablename__ = "source"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    # Case-folded name: "REUTERS" and "Reuters" are one source; the first spelling seen is kept.
    key: Mapped[str] = mapped_column(String(300), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Article(Base):
    __tablename__ = "article"
    # AUTOINCREMENT: SQLite must never hand a deleted article's id to a new one.
    __table_args__ = (
        Index("ix_article_source_id_id", "source_id", "id"),
        Index("ix_article_domain_id", "domain", "id"),
        Index("ix_article_cluster_id", "cluster_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    headline: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("source.id", ondelete="SET NULL"))
    url: Mapped[str | None] = mapped_column(String(2048))
    # Not unique: URL identity lives in article_url, normalized (see app.parsing.urls).
    canonical_url: Mapped[str | None] = mapped_column(String(2048))
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    language: Mapped[str | None] = mapped_column(String(35))
    description: Mapped[str | None] = mapped_column(Text)
    top_image: Mapped[str | None] = mapped_column(String(2048))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    extraction: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Host of the article's URL without www. (the `domain=` filter).
    domain: Mapped[str | None] = mapped_column(String(255))
    # Near duplicates share a cluster: the id of the first article of the story.
    cluster_id: Mapped[int | None] = mapped_column(Integer)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    source_ref: Mapped[Source | None] = relationship(lazy="joined")
    related_link_rows: Mapped[list["RelatedLinkRow"]] = relationship(
        order_by="RelatedLinkRow.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
    )

    @property
    def source(self) -> str | None:
        return self.source_ref.name if self.source_ref else None

    @property
    def related_links(self) -> list["RelatedLinkRow"]:
        return self.related_link_rows


class RelatedLinkRow(Base):
    __tablename__ = "related_link"
    __table_args__ = (Index("ix_related_link_article_id_position", "article_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(2048))


class ArticleUrl(Base):
    """Every URL an article is known by (given, final after redirects, canonical, og:url)."""

    __tablename__ = "article_url"
    __table_args__ = (Index("ix_article_url_article_id", "article_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"))
    url_key: Mapped[str] = mapped_column(String(2048), unique=True)
    url: Mapped[str] = mapped_column(String(2048))


class ArticleRevision(Base):
    """One version of an article's content. Written only once an article has changed: an
    article that never changed has no rows and counts as its own single version."""

    __tablename__ = "article_revision"
    __table_args__ = (UniqueConstraint("article_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("article.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    content_hash: Mapped[str] = mapped_column(String(64))
    headline: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    extraction: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    headline_changed: Mapped[bool] = mapped_column(Boolean, default=False)
    paragraphs_added: Mapped[int] = mapped_column(Integer, default=0)
    paragraphs_removed: Mapped[int] = mapped_column(Integer, default=0)
    paragraphs_changed: Mapped[int] = mapped_column(Integer, default=0)


class PageSnapshot(Base):
    """The bytes last fetched (or posted) for an article, compressed, for re-extraction and
    conditional GETs."""

    __tablename__ = "page_snapshot"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str | None] = mapped_column(String(2048))
    final_url: Mapped[str | None] = mapped_column(String(2048))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    content_type: Mapped[str | None] = mapped_column(String(255))
    charset: Mapped[str | None] = mapped_column(String(64))
    etag: Mapped[str | None] = mapped_column(String(1024))
    last_modified: Mapped[str | None] = mapped_column(String(255))
    raw_size: Mapped[int] = mapped_column(Integer)
    raw_zlib: Mapped[bytes] = mapped_column(LargeBinary)


class ArticleBand(Base):
    """LSH band keys of an article's near-duplicate signature (see app.neardup)."""

    __tablename__ = "article_band"
    __table_args__ = (Index("ix_article_band_article_id", "article_id"),)

    band_key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), primary_key=True
    )


class Change(Base):
    """The change feed: every article created, updated (new revision) or deleted, in order."""

    __tablename__ = "change"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(Integer)  # no foreign key: outlives deletion
    kind: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Tombstone(Base):
    """What a deleted article was known by (content hash, URLs), so it does not come back."""

    __tablename__ = "tombstone"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(2100), unique=True)
    article_id: Mapped[int] = mapped_column(Integer)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    """An API key: only the sha256 of the key is stored; `prefix` helps people tell keys apart."""

    __tablename__ = "api_key"
    # AUTOINCREMENT: `keys revoke <id>` must never hit a newer key that reused an old id.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    scope: Mapped[str] = mapped_column(String(10))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IdempotencyRecord(Base):
    """A POST sent with an Idempotency-Key, and its first response. `status` is null while the
    first request is still running (the row then only claims the key). `article_id` names
    the article whose text the response shows: deleting it withdraws the response (status
    410, no headers or body kept), and the foreign key deletes a row that would still
    show a deleted article, so this table never keeps text the archive has taken down."""

    __tablename__ = "idempotency_key"
    __table_args__ = (
        UniqueConstraint("owner", "key"),
        Index("ix_idempotency_key_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(40))  # "key:<api key id>" or "anonymous"
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2048))  # with the query string
    request_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[list[list[str]] | None] = mapped_column(JSON)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    article_id: Mapped[int | None] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), index=True
    )


class Feed(Base):
    """A subscription: an RSS/Atom/JSON feed or a sitemap, polled on its own schedule.
    Child sitemaps of a sitemap index are feeds too (`parent_id`), deleted with it."""

    __tablename__ = "feed"
    __table_args__ = (
        Index("ix_feed_state_next_poll_at", "state", "next_poll_at"),
        Index("ix_feed_parent_id", "parent_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    url_key: Mapped[str] = mapped_column(String(2048), unique=True)
    kind: Mapped[str | None] = mapped_column(String(20))  # learnt at the first poll
    title: Mapped[str | None] = mapped_column(String(1000))
    site_url: Mapped[str | None] = mapped_column(String(2048))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("feed.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(10), default="active")  # active | paused
    fixed_interval: Mapped[int | None] = mapped_column(Integer)  # seconds, set by an operator
    interval: Mapped[int | None] = mapped_column(Integer)  # seconds, the adaptive schedule's
    ttl: Mapped[int | None] = mapped_column(Integer)  # seconds: <ttl> or sy:updatePeriod
    etag: Mapped[str | None] = mapped_column(String(1024))
    last_modified: Mapped[str | None] = mapped_column(String(255))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_poll_seconds: Mapped[float | None] = mapped_column(Float)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    entries_seen: Mapped[int] = mapped_column(Integer, default=0)
    articles_created: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class FeedError(Base):
    """A failed poll, kept for the feed's recent-errors list (the newest few per feed)."""

    __tablename__ = "feed_error"
    __table_args__ = (Index("ix_feed_error_feed_id_id", "feed_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feed.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text)


class FeedEntry(Base):
    """An entry (item, sitemap URL) a feed listed: provenance of the article fetched for it,
    and the feed's metadata that fills fields the page lacks."""

    __tablename__ = "feed_entry"
    __table_args__ = (
        UniqueConstraint("feed_id", "url_key"),
        Index("ix_feed_entry_feed_id_article_id", "feed_id", "article_id"),
        Index("ix_feed_entry_url_key", "url_key"),
        Index("ix_feed_entry_article_id", "article_id"),
        Index("ix_feed_entry_status_first_seen_at", "status", "first_seen_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feed.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    url_key: Mapped[str] = mapped_column(String(2048))
    title: Mapped[str | None] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    summary: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # pending (a fetch job waits) | stored | known (the archive had it) | failed
    status: Mapped[str] = mapped_column(String(10), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    article_id: Mapped[int | None] = mapped_column(ForeignKey("article.id", ondelete="SET NULL"))


class FetchHost(Base):
    """Per-host politeness shared by every worker: when the next request may start, and
    the operator's limits for this host (null: FEED_HOST_CONCURRENCY / FEED_HOST_DELAY)."""

    __tablename__ = "fetch_host"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    next_allowed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_concurrency: Mapped[int | None] = mapped_column(Integer)
    min_delay: Mapped[float | None] = mapped_column(Float)


class QueueRank(Base):
    """Fair queueing of one task's jobs by group (article fetches by host): the rank the
    group's next job takes (app/jobs/fairness.py). Ranks order the queue, lowest first, so
    a group with a long backlog (one host's thousands of entries) takes turns with the
    others instead of holding every worker while their work waits."""

    __tablename__ = "job_queue_rank"
    __table_args__ = (Index("ix_job_queue_rank_task_rank", "task", "rank"),)

    task: Mapped[str] = mapped_column(String(128), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    rank: Mapped[int] = mapped_column(BigInteger)


class HostLease(Base):
    """A request to a host in progress; it expires by itself if its worker dies."""

    __tablename__ = "host_lease"
    __table_args__ = (Index("ix_host_lease_host_expires_at", "host", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ImportJob(Base):
    """An import run in the background (`POST /v1/imports` with `Prefer: respond-async`).
    `status`: receiving (its body is still being read: not shown, removed if the upload
    fails) -> queued -> running -> done | failed | cancelled. `owner` is the creating
    caller ("key:<api key id>" or "anonymous")."""

    __tablename__ = "import_job"
    __table_args__ = (
        Index("ix_import_job_owner_id", "owner", "id"),
        Index("ix_import_job_status_id", "status", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10), default="receiving")
    restore: Mapped[bool] = mapped_column(Boolean, default=False)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImportChunk(Base):
    """A run of consecutive items of an import job, stored by one task of the job queue
    (`queue_job_id`), with the counts of its items' results so far."""

    __tablename__ = "import_chunk"
    __table_args__ = (Index("ix_import_chunk_job_id_first_position", "job_id", "first_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("import_job.id", ondelete="CASCADE"))
    first_position: Mapped[int] = mapped_column(Integer)
    item_count: Mapped[int] = mapped_column(Integer)
    # queued | running | done | failed (its last attempt failed) | cancelled
    status: Mapped[str] = mapped_column(String(10), default="queued")
    queue_job_id: Mapped[int | None] = mapped_column(BigInteger)
    created: Mapped[int] = mapped_column(Integer, default=0)
    duplicate: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImportItem(Base):
    """One item of an import job: its raw bytes (a JSON value) until it is stored, then
    only its result, written in the transaction that stored it. No article text is kept
    once an item has a result, so a takedown leaves nothing here to show."""

    __tablename__ = "import_item"

    job_id: Mapped[int] = mapped_column(
        ForeignKey("import_job.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str | None] = mapped_column(String(10))
    article_id: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


# Search index objects live only in the migrations (FTS5 table and triggers on SQLite, a
# generated tsvector column and GIN index on Postgres): autogenerate must not drop them.
SEARCH_OBJECTS = {"article_fts", "search_vector", "ix_article_search_vector"}
# The job queue's tables (procrastinate's schema, migration 0007) are not ORM models either.
JOB_QUEUE_PREFIX = "procrastinate_"


def include_in_autogenerate(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    return not (name or "").startswith((*SEARCH_OBJECTS, JOB_QUEUE_PREFIX))
