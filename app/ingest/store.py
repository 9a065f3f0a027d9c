"""Store prepared articles: new ones in bulk, known ones merged (aliases, snapshot, revision)."""

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from app.db import RetryTransaction, retried
from app.errors import AppError
from app.ingest import clusters
from app.ingest.aliases import on_known_sites
from app.ingest.prepare import Item, Prepared, Snapshot, Unchanged
from app.ingest.revise import revise
from app.models import utcnow
from app.neardup import encode
from app.parsing.urls import url_domain
from app.repositories import ArticleRepository, ChangeRepository, ClusterRepository
from app.repositories.locks import lock_articles, lock_keys

Status = Literal["created", "duplicate", "updated", "unchanged", "deleted", "error"]
STATUSES: tuple[Status, ...] = ("created", "duplicate", "updated", "unchanged", "deleted", "error")


@dataclass(frozen=True)
class Outcome:
    status: Status
    article_id: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class _Known:
    """An item that matches a stored article (by URL first, else by content)."""

    item: Prepared
    article_id: int
    by_url: bool


@dataclass(frozen=True)
class Buried:
    """An item naming a deleted article."""

    article_id: int


def _check_tombstones(
    changes: ChangeRepository, items: Sequence[Item], restore: bool
) -> list[Item | Buried]:
    keys = {k for i in items if isinstance(i, Prepared) for k in i.identity}
    buried = changes.tombstoned(keys)
    if not buried:
        return list(items)
    if restore:
        changes.unbury(sorted(buried))
        return list(items)
    return [_buried(i, buried) for i in items]


def _buried(item: Item, buried: dict[str, int]) -> Item | Buried:
    if isinstance(item, Prepared):
        hit = next((buried[k] for k in item.identity if k in buried), None)
        if hit is not None:
            return Buried(hit)
    return item


@dataclass(frozen=True)
class _Again:
    """An item naming an earlier new item of the same batch (by its text or a URL)."""

    index: int
    item: Prepared
    by_url: bool


def store(session: Session, items: Sequence[Item], *, restore: bool = False) -> list[Outcome]:
    """Store a batch; one result per item, in order. Never commits, and must be the first
    thing its transaction does: when a concurrent writer gets in the way (a deadlock, an
    article deleted meanwhile), the transaction is rolled back and the batch stored again.

    Items matching a deleted article (its content or a URL) are not stored: their outcome is
    "deleted", unless `restore` is set, which lifts the tombstones and stores them again.
    """
    return retried(session, lambda: _store(session, items, restore))


def _store(session: Session, items: Sequence[Item], restore: bool) -> list[Outcome]:
    repo = ArticleRepository(session)
    ready = [i for i in items if isinstance(i, Prepared)]
    # Lock first, then look up: see app/repositories/locks.py.
    lock_keys(session, (k for i in ready for k in i.identity))
    by_hash, by_url = repo.find_existing(
        (i.digest for i in ready), (k for i in ready for k in i.url_keys)
    )
    checked = _check_tombstones(ChangeRepository(session), items, restore)
    plan, new = _plan(checked, by_hash, by_url)
    # Lock the rows of the articles that get a new revision, so that their revision numbers
    # stay current until commit. The others only gain rows that reference them (an alias,
    # a snapshot): a delete that commits meanwhile fails those with a foreign-key violation,
    # and the new attempt finds the tombstones.
    revising = {s.article_id for s in plan if isinstance(s, _Known) and _new_text(s, by_hash)}
    if gone := revising - lock_articles(session, revising):
        raise RetryTransaction(f"articles {sorted(gone)} were deleted meanwhile")
    ids = _insert_rows(repo, new) if new else []
    by_hash.update(zip((i.digest for i in new), ids, strict=True))
    return [_resolve(repo, step, ids, by_hash) for step in plan]


Step = Outcome | _Known | _Again | int  # int: index of a new item


def _plan(
    items: Sequence[Item | Buried], by_hash: dict[str, int], by_url: dict[str, int]
) -> tuple[list[Step], list[Prepared]]:
    """What to do with each item, and the items that are new articles."""
    plan: list[Step] = []
    new: list[Prepared] = []
    slots: dict[str, int] = {}
    for item in items:
        if isinstance(item, AppError):
            plan.append(Outcome("error", error=item.detail))
        elif isinstance(item, Unchanged):
            plan.append(Outcome("unchanged", item.article_id))
        elif isinstance(item, Buried):
            plan.append(Outcome("deleted", item.article_id))
        elif (url_hit := next((by_url[k] for k in item.url_keys if k in by_url), None)) is not None:
            plan.append(_Known(item, url_hit, by_url=True))
        elif item.digest in by_hash:
            plan.append(_Known(item, by_hash[item.digest], by_url=False))
        elif (earlier := _earlier(item, slots)) is not None:
            plan.append(_Again(earlier, item, by_url=f"hash:{item.digest}" not in slots))
        else:
            slots.update(dict.fromkeys(item.identity, len(new)))
            plan.append(len(new))
            new.append(item)
    return plan, new


def _new_text(known: _Known, by_hash: dict[str, int]) -> bool:
    """Whether merging the item may revise the article: a known URL, a text stored nowhere."""
    return known.by_url and known.item.digest not in by_hash


def _earlier(item: Prepared, slots: dict[str, int]) -> int | None:
    return next((slots[k] for k in item.identity if k in slots), None)


def _resolve(
    repo: ArticleRepository, step: Step, ids: list[int], by_hash: dict[str, int]
) -> Outcome:
    if isinstance(step, Outcome):
        return step
    if isinstance(step, int):
        return Outcome("created", ids[step])
    if isinstance(step, _Again):  # merged like a stored article: the same text, or a new one
        step = _Known(step.item, ids[step.index], step.by_url)
    return _merge(repo, step, by_hash)


def _merge(repo: ArticleRepository, known: _Known, by_hash: dict[str, int]) -> Outcome:
    """A stored article seen again: remember new URLs and bytes; revise if its text changed.

    An article to revise has its row locked (`_store`), so its revision number is current
    and no other writer adds a revision before this transaction ends. `by_hash` learns each
    new text, so a later item of the batch with the same text is a duplicate, not a second
    revision.
    """
    item, article_id = known.item, known.article_id
    owner = by_hash.get(item.digest)
    if owner is not None and owner != article_id:
        return Outcome("duplicate", owner)  # this text is stored already, as another article
    aliases = _alias_rows(article_id, item)
    if not known.by_url:  # found by its text alone: a copy on another site changes nothing
        aliases = on_known_sites(aliases, repo.url_keys(article_id))
        if item.url_keys and not aliases:
            return Outcome("duplicate", article_id)
    repo.insert_aliases(aliases, skip_taken=True)
    if item.snapshot is not None:
        repo.replace_snapshot(_snapshot_row(article_id, item.snapshot))
    if not _new_text(known, by_hash):
        return Outcome("duplicate", article_id)
    article = repo.current(article_id)
    if article is None:  # cannot happen under the row lock; a new attempt would see why
        raise RetryTransaction(f"article {article_id} was deleted meanwhile")
    revise(repo, article, item.article, item.digest, _recorded_at(item))
    by_hash[item.digest] = article_id
    return Outcome("updated", article_id)


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
        "raw_zlib": zlib.compress(snapshot.raw, 6),
    }
