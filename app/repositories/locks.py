"""Writers that touch the same article or identity key take turns (Postgres).

SQLite needs none of this: write transactions begin IMMEDIATE, one at a time. Postgres runs
writers side by side at READ COMMITTED, so `store` first locks the identity keys it is about
to look up (content hashes, normalized URLs), then the rows of the articles it will revise.
Every writer that can add what a lookup of a key finds (a new article, a new revision, a
new URL alias, a lifted tombstone) holds that key's lock until it commits, so what a lookup
made under the lock finds stays found; deletes take the article's row lock instead, and a
writer that meets a deleted article starts again (app.db.retried)."""

import hashlib
from collections.abc import Iterable

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.models import Article
from app.repositories.bulk import in_many

# Keys map to a fixed number of lock stripes instead of a lock each: advisory locks live in
# the server's shared lock table (~12,000 entries with the default max_locks_per_transaction
# = 64 and max_connections = 100, for every database on the server), and one lock per key
# would take ~1,500 entries for an import chunk of 500 articles. 128 stripes bound a
# transaction to 128 locks; two requests that share no key share a stripe now and then and
# wait for each other a moment, which is harmless.
STRIPES = 128
# The two-integer form of the advisory lock functions: its key space does not overlap the
# one-bigint form used for the change feed (changes.py).
_SPACE = 7_305_442


def stripe(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % STRIPES


def lock_keys(session: Session, keys: Iterable[str]) -> None:
    """Postgres: lock the stripes of these identity keys until the transaction ends, in one
    statement and in ascending order, so that two writers cannot deadlock on them (unnest
    yields the array in order). SQLite: nothing to do."""
    if session.get_bind().dialect.name != "postgresql":
        return
    stripes = sorted({stripe(k) for k in keys})
    if stripes:
        session.execute(
            text(
                "SELECT count(pg_advisory_xact_lock(:space, s)) "
                "FROM unnest(CAST(:stripes AS integer[])) AS s"
            ),
            {"space": _SPACE, "stripes": stripes},
        )


def lock_articles(session: Session, ids: Iterable[int]) -> set[int]:
    """Lock these articles' rows until the transaction ends, in id order (so two writers
    cannot deadlock on them); returns the ids that still exist. FOR NO KEY UPDATE: rows
    that only reference an article (its links, aliases, revisions) may still be inserted by
    others meanwhile, while a delete or another writer of the article waits."""
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    dialect = session.get_bind().dialect.name
    query = (
        select(Article.id)
        .where(in_many(Article.id, wanted, dialect))
        .order_by(Article.id)
        .with_for_update(key_share=True)
    )
    return set(session.scalars(query))


def lock_article_for_delete(session: Session, article_id: int) -> Article | None:
    """The article, its row locked FOR UPDATE and read afresh: of two concurrent deletes, the
    second waits for the first and then finds nothing."""
    query = (
        select(Article)
        .where(Article.id == article_id)
        .with_for_update(of=Article)  # not the source, which is joined in (nullable side)
        .execution_options(populate_existing=True)
    )
    return session.scalars(query).first()
