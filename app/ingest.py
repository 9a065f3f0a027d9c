"""Ingest orchestration: parse input into normalized articles and store them, deduplicated.

Never commits: the route or CLI that calls it owns the transaction.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.errors import AppError, Unprocessable
from app.models import utcnow
from app.parsing.seed_text import parse_seed_text
from app.parsing.structured import metadata_fields, parse_fields
from app.repositories import ArticleRepository
from app.schemas import ArticleIn, NormalizedArticle

Status = Literal["created", "duplicate"]


@dataclass(frozen=True)
class Outcome:
    status: Literal["created", "duplicate", "error"]
    article_id: int | None = None
    error: str | None = None


def parse_item(item: ArticleIn | str) -> NormalizedArticle:
    """One input (seed text or JSON fields) as a normalized article; raises AppError."""
    if isinstance(item, str):
        return parse_seed_text(item)
    if item.text is None:
        return parse_fields(item)
    article = parse_seed_text(item.text)
    if item.model_fields_set == {"text"}:
        return article
    # Fields given beside `text` (url, authors, ...) override what the text said.
    given = {k: v for k, v in metadata_fields(item).items() if k in item.model_fields_set}
    return article.model_copy(update=given)


def parse_raw(raw: Any) -> NormalizedArticle | AppError:
    """A decoded JSON item as an article, or the error saying why it cannot be one.

    Items already parsed (or already failed) upstream pass through unchanged.
    """
    if isinstance(raw, AppError | NormalizedArticle):
        return raw
    try:
        return parse_item(ArticleIn.model_validate(raw))
    except ValidationError as exc:
        return Unprocessable(describe(exc))
    except AppError as exc:
        return exc


def describe(exc: ValidationError) -> str:
    """The first validation error as one readable sentence."""
    first = exc.errors(include_url=False)[0]
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "model_type":
        message = "an item must be a JSON object"
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {message}" if where else message


def import_items(session: Session, raw_items: Sequence[Any]) -> list[Outcome]:
    """Store decoded JSON items; one bad item never sinks the others."""
    return store_articles(session, [parse_raw(raw) for raw in raw_items])


def ingest_one(session: Session, item: ArticleIn | str) -> Outcome:
    """Parse and store one article; raises AppError for input that cannot become one."""
    return store_articles(session, [parse_item(item)])[0]


@dataclass(frozen=True)
class _Keyed:
    """An article with its content hash, computed once."""

    article: NormalizedArticle
    digest: str

    @property
    def keys(self) -> list[str]:
        keys = [f"hash:{self.digest}"]
        if self.article.canonical_url:
            keys.append(f"url:{self.article.canonical_url}")
        return keys


def store_articles(
    session: Session, articles: Sequence[NormalizedArticle | AppError]
) -> list[Outcome]:
    """Store a batch: errors pass through; duplicates, stored or earlier in the batch, link up."""
    repo = ArticleRepository(session)
    items = [_Keyed(a, a.content_hash) if isinstance(a, NormalizedArticle) else a for a in articles]
    valid = [i for i in items if isinstance(i, _Keyed)]
    by_hash, by_url = repo.find_existing(
        (i.digest for i in valid),
        (i.article.canonical_url for i in valid if i.article.canonical_url),
    )
    stored = {f"hash:{k}": v for k, v in by_hash.items()}
    stored |= {f"url:{k}": v for k, v in by_url.items()}
    plan: list[Outcome | tuple[bool, int]] = []  # (is first occurrence, index into `new`)
    new: list[_Keyed] = []
    slots: dict[str, int] = {}
    for item in items:
        if isinstance(item, AppError):
            plan.append(Outcome("error", error=item.detail))
            continue
        keys = item.keys
        if (found := next((stored[k] for k in keys if k in stored), None)) is not None:
            plan.append(Outcome("duplicate", article_id=found))
        elif (earlier := next((slots[k] for k in keys if k in slots), None)) is not None:
            plan.append((False, earlier))
        else:
            slots.update(dict.fromkeys(keys, len(new)))
            plan.append((True, len(new)))
            new.append(item)
    inserted = _insert_new(session, repo, new)
    return [step if isinstance(step, Outcome) else _outcome(step, inserted) for step in plan]


def _outcome(step: tuple[bool, int], inserted: list[tuple[Status, int]]) -> Outcome:
    first, index = step
    status, article_id = inserted[index]
    return Outcome(status if first else "duplicate", article_id=article_id)


def _insert_new(
    session: Session, repo: ArticleRepository, items: list[_Keyed]
) -> list[tuple[Status, int]]:
    """Insert in one statement; if a concurrent writer got there first, go one by one."""
    if not items:
        return []
    try:
        with session.begin_nested():
            ids = _insert_rows(repo, items)
        return [("created", i) for i in ids]
    except IntegrityError:
        return [_insert_or_get(session, repo, item) for item in items]


def _insert_or_get(session: Session, repo: ArticleRepository, item: _Keyed) -> tuple[Status, int]:
    try:
        with session.begin_nested():
            return "created", _insert_rows(repo, [item])[0]
    except IntegrityError:
        canonical = item.article.canonical_url or ""
        by_hash, by_url = repo.find_existing([item.digest], [canonical])
        existing = by_hash.get(item.digest) or by_url.get(canonical)
        if existing is None:
            raise
        return "duplicate", existing


def _insert_rows(repo: ArticleRepository, items: list[_Keyed]) -> list[int]:
    sources = repo.ensure_sources({i.article.source for i in items if i.article.source})
    now = utcnow()
    ids = repo.insert_articles([_article_row(i, sources, now) for i in items])
    repo.insert_links(
        [
            {"article_id": article_id, "position": pos, "title": link.title, "url": link.url}
            for article_id, item in zip(ids, items, strict=True)
            for pos, link in enumerate(item.article.related_links)
        ]
    )
    return ids


def _article_row(item: _Keyed, sources: dict[str, int], now: datetime) -> dict[str, Any]:
    article = item.article
    return {
        "headline": article.headline,
        "body": article.body,
        "source_id": sources.get(article.source) if article.source else None,
        "url": article.url,
        "canonical_url": article.canonical_url,
        "authors": article.authors,
        "published_at": article.published_at,
        "language": article.language,
        "content_hash": item.digest,
        "created_at": now,
        "updated_at": now,
    }
