"""Store prepared articles: look up what their keys name, plan (`app.ingest.plan`), then
apply the plan: new articles in bulk, known ones merged (aliases, snapshot, revision)."""

import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.db import RetryTransaction, retried
from app.errors import Gone
from app.ingest import clusters
from app.ingest.aliases import on_known_sites
from app.ingest.plan import Create, Duplicate, Merge, New, Outcome, Step, Stored, plan_batch
from app.ingest.prepare import Item, Prepared, Snapshot, Unchanged
from app.ingest.revise import revise
from app.models import utcnow
from app.neardup import encode
from app.parsing.urls import url_domain
from app.repositories import ArticleRepository, ChangeRepository, ClusterRepository

# Pages kept for re-extraction are compressed fast: level 1 is several times quicker than the
# default 6 for a few per cent more bytes, and every stored fetch pays it.
SNAPSHOT_ZLIB_LEVEL = 1


def store(session: Session, items: Sequence[Item], *, restore: bool = False) -> list[Outcome]:
    """Store a batch; one result per item, in order. Never commits, and must be the first
    thing its transaction does: when a concurrent writer gets in the way (a deadlock, an
    article deleted meanwhile), the transaction is rolled back and the batch stored again.

    Items matching a deleted article (its content or a URL) are not stored: their outcome is
    "deleted", unless `restore` is set, which lifts the tombstones and stores them again.
    """
    return retried(session, lambda: _store(session, items, restore))


def store_one(session: Session, item: Prepared | Unchanged, *, restore: bool = False) -> Outcome:
    """Store one prepared item, as `store` does; raises Gone when it names a deleted article
    (unless `restore`)."""
    outcome = store(session, [item], restore=restore)[0]
    if outcome.status == "deleted":
        raise Gone(
            f"this article was deleted (it was article {outcome.article_id}); "
            "send it again with ?restore=true to store it anyway"
        )
    return outcome


def _store(session: Session, items: Sequence[Item], restore: bool) -> list[Outcome]:
    repo = ArticleRepository(session)
    ready = [i for i in items if isinstance(i, Prepared)]
    keys = [k for i in ready for k in i.identity]
    by_hash, by_url = repo.find_existing_locked(
        keys, (i.digest for i in ready), (k for i in ready for k in i.url_keys)
    )
    changes = ChangeRepository(session)
    plan = plan_batch(items, Stored(by_hash, by_url, changes.tombstoned(keys)), restore=restore)
    if plan.unbury:
        changes.unbury(plan.unbury)
    # Lock the rows of the articles that get a new revision, so that their revision numbers
    # stay current until commit. The others only gain rows that reference them (an alias,
    # a snapshot): a delete that commits meanwhile fails those with a foreign-key violation,
    # and the new attempt finds the tombstones.
    if gone := plan.revising - repo.lock_for_update(plan.revising):
        raise RetryTransaction(f"articles {sorted(gone)} were deleted meanwhile")
    ids = _insert_rows(repo, plan.new) if plan.new else []
    return [_apply(repo, step, ids) for step in plan.steps]


def _apply(repo: ArticleRepository, step: Step, ids: list[int]) -> Outcome:
    if isinstance(step, Outcome):
        return step
    if isinstance(step, Create):
        return Outcome("created", ids[step.index])
    target = ids[step.target.index] if isinstance(step.target, New) else step.target
    if isinstance(step, Duplicate):
        return Outcome("duplicate", target)
    _merge(repo, step, target)
    return Outcome(step.status, target)


def _merge(repo: ArticleRepository, step: Merge, article_id: int) -> None:
    """A known article seen again: remember new URLs and bytes; revise if the plan says so.

    An article to revise has its row locked (`_store`), so its revision number is current
    and no other writer adds a revision before this transaction ends.
    """
    item = step.item
    aliases = _alias_rows(article_id, item)
    if not step.by_url:  # found by its text alone: a copy on another site changes nothing
        aliases = on_known_sites(aliases, repo.url_keys(article_id))
        if item.url_keys and not aliases:
            return
    repo.insert_aliases(aliases, skip_taken=True)
    if item.snapshot is not None:
        repo.replace_snapshot(_snapshot_row(article_id, item.snapshot))
    if not step.revise:
        return
    article = repo.current(article_id)
    if article is None:  # cannot happen under the row lock; a new attempt would see why
        raise RetryTransaction(f"article {article_id} was deleted meanwhile")
    revise(repo, article, item.article, item.digest, _recorded_at(item))


def _recorded_at(item: Prepared) -> datetime:
    return item.snapshot.fetched_at if item.snapshot else utcnow()


def _insert_rows(repo: ArticleRepository, items: list[Prepared]) -> list[int]:
    sources = repo.ensure_sources({i.article.source for i in items if i.article.source})
    now = utcnow()
    ids = repo.insert_articles([article_row(i, sources, now) for i in items])
    pairs = list(zip(ids, items, strict=True))
    clusters.assign(ClusterRepository(repo.session), [(a, i.signature) for a, i in pairs])
    ChangeRepository(repo.session).record((a, "created") for a in ids)
    repo.insert_links([row for article_id, i in pairs for row in link_rows(article_id, i)])
    repo.insert_aliases([row for article_id, i in pairs for row in _alias_rows(article_id, i)])
    repo.insert_snapshots(
        [_snapshot_row(article_id, i.snapshot) for article_id, i in pairs if i.snapshot]
    )
    return ids


def article_row(item: Prepared, sources: dict[str, int], now: datetime) -> dict[str, Any]:
    article = item.article
    return {
        "headline": article.headline,
        "body": article.body,
        "source_id": sources.get(article.source) if article.source else None,
        "url": article.url,
        "canonical_url": article.canonical_url,
        "authors": article.authors,
        "published_at": article.published_at,
        "modified_at": article.modified_at,
        "language": article.language,
        "description": article.description,
        "top_image": article.top_image,
        "tags": article.tags,
        "extraction": article.extraction.model_dump() if article.extraction else None,
        "content_hash": item.digest,
        "revision": 1,
        "domain": url_domain(article.url or article.canonical_url),
        "signature": encode(item.signature),
        "created_at": now,
        "updated_at": now,
    }


def link_rows(article_id: int, item: Prepared) -> list[dict[str, Any]]:
    return [
        {"article_id": article_id, "position": pos, "title": link.title, "url": link.url}
        for pos, link in enumerate(item.article.related_links)
    ]


def _alias_rows(article_id: int, item: Prepared) -> list[dict[str, Any]]:
    return [{"article_id": article_id, "url_key": k, "url": u} for k, u in item.url_keys.items()]


def _snapshot_row(article_id: int, snapshot: Snapshot) -> dict[str, Any]:
    return {
        "article_id": article_id,
        "url": snapshot.url,
        "final_url": snapshot.final_url,
        "fetched_at": snapshot.fetched_at,
        "content_type": snapshot.content_type,
        "charset": snapshot.charset,
        "etag": snapshot.etag,
        "last_modified": snapshot.last_modified,
        "raw_size": len(snapshot.raw),
        "raw_zlib": zlib.compress(snapshot.raw, SNAPSHOT_ZLIB_LEVEL),
    }
