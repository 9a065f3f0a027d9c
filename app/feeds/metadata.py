"""Feed metadata fills what a fetched page lacks. Pure: models in, a model out."""

from dataclasses import dataclass
from datetime import datetime

from app.schemas import Extraction, NormalizedArticle

FEED_RULE = "feed"


@dataclass(frozen=True)
class EntryMeta:
    """What a feed said about an entry."""

    title: str | None
    authors: tuple[str, ...]
    published_at: datetime | None
    summary: str | None


def fill_from_feed(article: NormalizedArticle, meta: EntryMeta) -> NormalizedArticle:
    """The article with its empty headline, authors, published date and description taken
    from the feed entry; each such field is recorded in `extraction` as rule `feed`."""
    update: dict[str, object] = {}
    if not article.headline.strip() and meta.title:
        update["headline"] = meta.title
    if not article.authors and meta.authors:
        update["authors"] = list(meta.authors)
    if article.published_at is None and meta.published_at is not None:
        update["published_at"] = meta.published_at
    if not article.description and meta.summary:
        update["description"] = meta.summary
    if not update:
        return article
    extraction = article.extraction or Extraction(extractor="feed")
    fields = {**extraction.fields, **dict.fromkeys(update, FEED_RULE)}
    update["extraction"] = extraction.model_copy(update={"fields": fields})
    return article.model_copy(update=update)
