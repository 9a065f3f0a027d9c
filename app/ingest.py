"""Ingest orchestration: parse input into normalized articles and store them, deduplicated.

Never commits: the route or CLI that calls it owns the transaction.
"""

from collections.abc import Sequence
from dataclasses import dataclass
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
    # Fields given beside `text` (url, authors, ...) override what the text said.
    given = {k: v for k, v in metadata_fields(item).items() if k in item.model_fields_set}
    return parse_seed_text(item.text).model_copy(update=given)


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


def _identity(article: NormalizedArticle) -> list[str]:
    keys = [f"hash:{article.content_hash}"]
    if article.canonical_url:
        keys.append(f"url:{article.canonical_url}")
    return keys


def store_articles(
    session: Session, articles: Sequence[NormalizedArticle | AppError]
) -> list[Outcome]:
    """Store a batch: errors pass through; duplicates, stored or earlier in the batch, link up."""
    repo = ArticleRepository(session)
    valid = [a for a in articles if isinstance(a, NormalizedArticle)]
    by_hash, by_url = repo.find_existing(
        (a.content_hash for a in valid), (a.canonical_url for a in valid if a.canonical_url)
    )
    stored = {f"hash:{k}": v for k, v in by_hash.items()} | {
        f"url:{k}": v for k, v in by_url.items()
    }
    plan: list[Outcome | tuple[bool, int]] = []  # (is first occurrence, index into `new`)
    new: list[NormalizedArticle] = []
    slots: dict[str, int] = {}
    for article in articles:
        if isinstance(article, AppError):
            plan.append(Outcome("error", error=article.detail))
            continue
        keys = _identity(article)
        if (found := next((stored[k] for k in keys if k in stored), None)) is not None:
            plan.append(Outcome("duplicate", article_id=found))
        elif (earlier := next((slots[k] for k in keys if k in slots), None)) is not None:
            plan.append((False, earlier))
        else:
            slots.update(dict.fromkeys(keys, len(new)))
            plan.append((True, len(new)))
            new.append(article)
    inserted = _insert_new(session, repo, new)
    return [step if isinstance(step, Outcome) else _outcome(step, inserted) for step in plan]


def _outcome(step: tuple[bool, int], inserted: list[tuple[Status, int]]) -> Outcome:
    first, index = step
    status, article_id = inserted[index]
    return Outcome(status if first else "duplicate", article_id=article_id)


def _insert_new(
    session: Session, repo: ArticleRepository, articles: list[NormalizedArticle]
) -> list[tuple[Status, int]]:
    """Insert in one statement; if a concurrent writer got there first, go one by one."""
    if not articles:
        return []
    try:
        with session.begin_nested():
            ids = _insert_rows(repo, articles)
        return [("created", i) for i in ids]
    except IntegrityError:
        return [_insert_or_get(session, repo, a) for a in articles]


def _insert_or_get(
    session: Session, repo: ArticleRepository, article: NormalizedArticle
) -> tuple[Status, int]:
    try:
        with session.begin_nested():
            return "created", _insert_rows(repo, [article])[0]
    except IntegrityError:
        by_hash, by_url = repo.find_existing([article.content_hash], [article.canonical_url or ""])
        existing = by_hash.get(article.content_hash) or by_url.get(article.canonical_url or "")
        if existing is None:
            raise
        return "duplicate", existing


def _insert_rows(repo: ArticleRepository, articles: list[NormalizedArticle]) -> list[int]:
    sources = repo.ensure_sources({a.source for a in articles if a.source})
    now = utcnow()
    ids = repo.insert_articles([_article_row(a, sources, now) for a in articles])
    repo.insert_links(
        [
            {"article_id": article_id, "position": pos, "title": link.title, "url": link.url}
            for article_id, article in zip(ids, articles, strict=True)
            for pos, link in enumerate(article.related_links)
        ]
    )
    return ids


def _article_row(article: NormalizedArticle, sources: dict[str, int], now: Any) -> dict[str, Any]:
    return {
        "headline": article.headline,
        "body": article.body,
        "source_id": sources.get(article.source) if article.source else None,
        "url": article.url,
        "canonical_url": article.canonical_url,
        "authors": article.authors,
        "published_at": article.published_at,
        "language": article.language,
        "content_hash": article.content_hash,
        "created_at": now,
        "updated_at": now,
    }
